"""People and organisation: staff users, business lines, teams, roles and API tokens."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class BusinessLine(models.Model):
    """A line of business (业务线) with its own ticket types, processes, SLA and teams.

    Data scopes use it: a grant at "my business lines" reaches every object of the lines the
    user belongs to, directly or through a team.
    """

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("business line")
        verbose_name_plural = _("business lines")

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """Anyone who logs in: staff (agents, engineers…), customer contacts, or an integration.

    Staff act through roles; a customer contact sees only their own (or their organisation's)
    data through the portal and holds no role; an integration user exists to own API tokens.
    ``session_version`` is part of the session hash, so bumping it ends every session at once.
    """

    class Kind(models.TextChoices):
        STAFF = "staff", _("Staff")
        CUSTOMER = "customer", _("Customer contact")
        INTEGRATION = "integration", _("Integration")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.STAFF)
    display_name = models.CharField(_("display name"), max_length=150, blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    language = models.CharField(
        _("language"),
        max_length=10,
        blank=True,
        choices=settings.LANGUAGES,
        help_text=_("Empty: follow the browser."),
    )
    business_lines = models.ManyToManyField(
        BusinessLine, blank=True, related_name="members", verbose_name=_("business lines")
    )
    can_see_organisation = models.BooleanField(
        _("sees organisation's tickets"),
        default=False,
        help_text=_("Customer contacts only: also see the tickets of their organisation."),
    )
    session_version = models.PositiveIntegerField(default=1, editable=False)
    totp_secret = models.CharField(max_length=64, blank=True, editable=False)
    totp_confirmed_at = models.DateTimeField(null=True, blank=True, editable=False)
    totp_last_counter = models.BigIntegerField(default=0, editable=False)
    version = models.PositiveIntegerField(default=1, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserManager()  # type: ignore[misc]

    # Set on the in-memory user for one API request by token authentication; never stored.
    _token_scopes: list[str] | None
    _api_token_id: int | None

    class Meta:
        ordering = ["username"]
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.display_name or self.get_full_name() or self.username

    @property
    def is_staff_member(self) -> bool:
        return self.kind == self.Kind.STAFF

    @property
    def has_two_factor(self) -> bool:
        return self.totp_confirmed_at is not None

    def get_session_auth_hash(self) -> str:
        # Adding session_version means deactivation or "sign out everywhere" ends sessions too.
        from django.utils.crypto import salted_hmac

        key_salt = "aftersales.accounts.User.get_session_auth_hash"
        return salted_hmac(
            key_salt,
            f"{self.password}:{self.session_version}:{self.is_active}",
            algorithm="sha256",
        ).hexdigest()


class Team(models.Model):
    """A group of staff (一线、二线、现场…) inside one business line, with an optional lead."""

    name = models.CharField(_("name"), max_length=120)
    business_line = models.ForeignKey(
        BusinessLine,
        on_delete=models.PROTECT,
        related_name="teams",
        verbose_name=_("business line"),
    )
    description = models.TextField(_("description"), blank=True)
    lead = models.ForeignKey(
        User,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="led_teams",
        verbose_name=_("team lead"),
    )
    members: models.ManyToManyField[User, TeamMembership] = models.ManyToManyField(
        User, through="TeamMembership", related_name="teams", verbose_name=_("members")
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        constraints = [
            models.UniqueConstraint(fields=["business_line", "name"], name="team_name_per_line")
        ]

    def __str__(self) -> str:
        return self.name


class TeamMembership(models.Model):
    """A user belongs to a team; a user may be in several."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="team_memberships")
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="one_membership_per_team")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} ∈ {self.team_id}"


class Role(models.Model):
    """A named set of permission codenames. Predefined roles are read-only and can be copied.

    A role carries no data scope itself: the scope comes with each grant of it to a user.
    """

    key = models.SlugField(_("key"), max_length=60, unique=True)
    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    permissions = models.JSONField(_("permissions"), default=list, blank=True)
    is_system = models.BooleanField(_("predefined"), default=False, editable=False)
    requires_two_factor = models.BooleanField(_("requires two-factor login"), default=False)
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-is_system", "name", "pk"]
        verbose_name = _("role")
        verbose_name_plural = _("roles")

    def __str__(self) -> str:
        return str(self.label)

    @property
    def label(self) -> str:
        if self.is_system:
            from aftersales.accounts.catalog import PREDEFINED_ROLES

            predefined = PREDEFINED_ROLES.get(self.key)
            if predefined is not None:
                return str(predefined.label)
        return self.name


class RoleGrant(models.Model):
    """A role given to a user with a data scope: own / my teams / my business lines / all."""

    class Scope(models.TextChoices):
        OWN = "own", _("Own")
        TEAMS = "teams", _("My teams")
        BUSINESS_LINES = "business_lines", _("My business lines")
        ALL = "all", _("All")

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="role_grants")
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="grants")
    scope = models.CharField(_("data scope"), max_length=20, choices=Scope.choices)
    granted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]
        verbose_name = _("role grant")
        verbose_name_plural = _("role grants")
        constraints = [models.UniqueConstraint(fields=["user", "role"], name="one_grant_per_role")]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.role_id} ({self.scope})"


class ApiToken(models.Model):
    """A bearer token for the API, stored only as a SHA-256 hash of the secret part.

    ``scopes`` narrows what the token can do to a subset of its user's permissions
    (codename patterns such as ``accounts.view_*``; ``*`` keeps them all).
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=120)
    prefix = models.CharField(max_length=12, db_index=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(_("scopes"), default=list)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_usable(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()
