"""Use cases of the accounts domain. Every write to users, teams, roles and tokens is here."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyotp
from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from aftersales.accounts import authz, catalog
from aftersales.accounts.models import (
    ApiToken,
    BusinessLine,
    Role,
    RoleGrant,
    Team,
    TeamMembership,
    User,
)
from aftersales.audit import services as audit
from aftersales.audit.models import AuditEntry
from aftersales.core.errors import Conflict, DomainError, PermissionDenied
from aftersales.outbox import services as outbox

TOKEN_PREFIX = "as_"  # noqa: S105  (marks our tokens in logs and scanners; not a secret)


# --- Predefined roles ------------------------------------------------------------------------


def sync_predefined_roles() -> None:
    """Create or refresh the read-only predefined roles from the catalogue's patterns."""
    for predefined in catalog.PREDEFINED_ROLES.values():
        permissions = catalog.expand(predefined.patterns)
        role, created = Role.objects.get_or_create(
            key=predefined.key,
            defaults={
                "name": str(predefined.label),
                "description": str(predefined.description),
                "permissions": permissions,
                "is_system": True,
                "requires_two_factor": predefined.requires_two_factor,
            },
        )
        if not created and (role.permissions != permissions or not role.is_system):
            role.permissions = permissions
            role.is_system = True
            role.version = F("version") + 1
            role.save(update_fields=["permissions", "is_system", "version", "updated_at"])


# --- Users -------------------------------------------------------------------------------------


def _validate_password(password: str, user: User | None, field: str = "password") -> None:
    try:
        password_validation.validate_password(password, user)
    except ValidationError as error:
        raise DomainError(
            "password_invalid", field=field, message=" ".join(error.messages)
        ) from None


def _refuse_acting_above(actor: Any, user: User) -> None:
    """Refuse to take over someone who holds more than the actor (see authz.reaches_beyond)."""
    if getattr(actor, "pk", None) == user.pk:
        return
    if authz.reaches_beyond(actor, user):
        raise PermissionDenied(
            "target_outranks_actor",
            field="user",
            message=_(
                "%(user)s holds permissions you do not hold yourself, so you cannot do "
                "this for them."
            ),
            params={"user": user.username},
        )


def _refuse_widening_own_reach(actor: Any, added_user_ids: Iterable[int], field: str) -> None:
    """Teams and business lines decide how far every scoped grant reaches, so nobody may add
    themselves to one: that would widen their own reach. Someone with scope "all" on
    everything they hold gains nothing from memberships and may."""
    if getattr(actor, "pk", None) not in set(added_user_ids):
        return
    if any(scope != RoleGrant.Scope.ALL for scope in authz.held_scopes(actor).values()):
        raise PermissionDenied(
            "cannot_widen_own_reach",
            field=field,
            message=_("Someone else must add you to a team or business line."),
        )


def _check_version(obj: Any, expected: int | None) -> None:
    if expected is not None and obj.version != expected:
        raise Conflict("version_mismatch", field="version")


@transaction.atomic
def create_user(
    *,
    actor: Any,
    username: str,
    password: str | None = None,
    email: str = "",
    display_name: str = "",
    phone: str = "",
    kind: str = User.Kind.STAFF,
    language: str = "",
    business_lines: Iterable[BusinessLine] = (),
) -> User:
    """Add a person (or integration) who can log in. Without a password they cannot, until a
    password is set through the reset e-mail."""
    authz.require_permission(actor, "accounts.add_user")
    username = username.strip()
    if not username:
        raise DomainError("required", field="username", message=_("This field is required."))
    if kind not in User.Kind.values:
        raise DomainError("invalid_choice", field="kind", message=_("Not a valid choice."))
    if User.objects.filter(username__iexact=username).exists():
        raise DomainError(
            "username_taken", field="username", message=_("This username is already taken.")
        )
    if email and User.objects.filter(email__iexact=email).exists():
        raise DomainError("email_taken", field="email", message=_("This e-mail is already used."))
    user = User(
        username=username,
        email=email,
        display_name=display_name,
        phone=phone,
        kind=kind,
        language=language,
    )
    if password:
        _validate_password(password, user)
        user.set_password(password)
    else:
        user.set_unusable_password()
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        # Another request created the same name between the check above and this insert.
        raise DomainError(
            "username_taken", field="username", message=_("This username is already taken.")
        ) from None
    lines = list(business_lines)
    if lines:
        user.business_lines.set(lines)
    audit.record(
        actor=actor, action=AuditEntry.Action.CREATED, obj=user, after=audit.snapshot(user)
    )
    outbox.emit("user.created", user, actor=actor, payload={"username": user.username})
    return user


USER_EDITABLE = ("email", "display_name", "phone", "language", "first_name", "last_name")


@transaction.atomic
def update_user(
    *, actor: Any, user: User, changes: dict[str, Any], expected_version: int | None = None
) -> User:
    authz.require_permission(actor, "accounts.change_user", user)
    unknown = set(changes) - set(USER_EDITABLE) - {"business_lines"}
    if unknown:
        raise DomainError(
            "unknown_field",
            field=sorted(unknown)[0],
            message=_("This field cannot be changed here."),
        )
    user = User.objects.select_for_update().get(pk=user.pk)
    _check_version(user, expected_version)
    if "email" in changes and (changes["email"] or "") != user.email:
        # The e-mail receives password resets: changing it would take the account over.
        _refuse_acting_above(actor, user)
    if (
        "email" in changes
        and changes["email"]
        and User.objects.filter(email__iexact=changes["email"]).exclude(pk=user.pk).exists()
    ):
        raise DomainError("email_taken", field="email", message=_("This e-mail is already used."))
    if "language" in changes and changes["language"] not in ("", *dict(settings.LANGUAGES)):
        raise DomainError("invalid_choice", field="language", message=_("Not a valid choice."))
    for field in USER_EDITABLE:
        if field in changes and not isinstance(changes[field], str):
            raise DomainError("invalid", field=field, message=_("Enter text."))
    before = audit.snapshot(user)
    before["business_lines"] = sorted(user.business_lines.values_list("pk", flat=True))
    # Only real changes count: a form sent back unchanged must not bump the version (and so
    # break other people's If-Match) nor announce an update that did not happen.
    fields = [f for f in USER_EDITABLE if f in changes and changes[f] != getattr(user, f)]
    lines_changed = (
        "business_lines" in changes
        and sorted(getattr(line, "pk", line) for line in changes["business_lines"])
        != before["business_lines"]
    )
    if not fields and not lines_changed:
        return user
    if lines_changed and {getattr(line, "pk", line) for line in changes["business_lines"]} - set(
        before["business_lines"]
    ):
        _refuse_widening_own_reach(actor, [user.pk], "business_lines")
    for field in fields:
        setattr(user, field, changes[field])
    user.version = F("version") + 1
    user.save(update_fields=[*fields, "version", "updated_at"])
    if lines_changed:
        user.business_lines.set(changes["business_lines"])
    user.refresh_from_db()
    after = audit.snapshot(user)
    after["business_lines"] = sorted(user.business_lines.values_list("pk", flat=True))
    changed_before, changed_after = audit.diff(before, after)
    if changed_after:
        audit.record(
            actor=actor,
            action=AuditEntry.Action.UPDATED,
            obj=user,
            before=changed_before,
            after=changed_after,
        )
        outbox.emit("user.updated", user, actor=actor, payload={"fields": sorted(changed_after)})
    authz.forget(user)
    return user


@transaction.atomic
def update_own_profile(*, actor: User, display_name: str, language: str) -> User:
    """A person changes how they are shown and which language they read, without needing the
    permission to edit users (which would also reach other people)."""
    if language not in ("", *dict(settings.LANGUAGES)):
        raise DomainError("invalid_choice", field="language", message=_("Not a valid choice."))
    display_name = display_name.strip()
    if len(display_name) > 150:
        raise DomainError(
            "too_long",
            field="display_name",
            message=_("Enter at most %(max_length)s characters."),
            params={"max_length": 150},
        )
    user = User.objects.select_for_update().get(pk=actor.pk)
    before = audit.snapshot(user, fields=["display_name", "language"])
    if before == {"display_name": display_name, "language": language}:
        return user
    user.display_name = display_name
    user.language = language
    user.version = F("version") + 1
    user.save(update_fields=["display_name", "language", "version", "updated_at"])
    user.refresh_from_db()
    changed_before, changed_after = audit.diff(
        before, audit.snapshot(user, fields=["display_name", "language"])
    )
    audit.record(
        actor=actor,
        action=AuditEntry.Action.UPDATED,
        obj=user,
        verb="profile_updated",
        before=changed_before,
        after=changed_after,
    )
    outbox.emit("user.updated", user, actor=actor, payload={"fields": sorted(changed_after)})
    actor.display_name, actor.language, actor.version = user.display_name, language, user.version
    return user


@transaction.atomic
def set_language(*, actor: User, language: str) -> User:
    """A person chooses their own interface language (remembered across devices)."""
    if language not in ("", *dict(settings.LANGUAGES)):
        raise DomainError("invalid_choice", field="language", message=_("Not a valid choice."))
    User.objects.filter(pk=actor.pk).update(language=language)
    actor.language = language
    return actor


@transaction.atomic
def set_user_active(*, actor: Any, user: User, is_active: bool) -> User:
    """Deactivate (or reactivate) a user. Deactivation ends their sessions and tokens at once."""
    authz.require_permission(actor, "accounts.deactivate_user", user)
    if user.pk == getattr(actor, "pk", None) and not is_active:
        raise DomainError(
            "cannot_deactivate_self",
            field="is_active",
            message=_("You cannot deactivate yourself."),
        )
    _refuse_acting_above(actor, user)
    before = user.is_active
    User.objects.filter(pk=user.pk).update(
        is_active=is_active, session_version=F("session_version") + 1, version=F("version") + 1
    )
    user.refresh_from_db()
    if before != is_active:
        audit.record(
            actor=actor,
            action=AuditEntry.Action.UPDATED,
            obj=user,
            verb="activated" if is_active else "deactivated",
            before={"is_active": before},
            after={"is_active": is_active},
        )
        outbox.emit("user.activated" if is_active else "user.deactivated", user, actor=actor)
    return user


@transaction.atomic
def change_password(
    *, actor: User, user: User, new_password: str, current_password: str | None = None
) -> User:
    """Set a new password: one's own (knowing the current one, unless there is none yet — a
    customer who signed in with a one-time code sets a first one) or, as an admin, someone
    else's. Every other session of the user ends."""
    if actor.pk == user.pk:
        first = not user.has_usable_password()
        if not first and (current_password is None or not user.check_password(current_password)):
            raise DomainError(
                "wrong_password",
                field="current_password",
                message=_("The current password is not correct."),
            )
    else:
        authz.require_permission(actor, "accounts.manage_security", user)
        _refuse_acting_above(actor, user)
    _validate_password(new_password, user, field="new_password")
    user.set_password(new_password)
    user.session_version = F("session_version") + 1
    user.save(update_fields=["password", "session_version", "updated_at"])
    user.refresh_from_db()
    audit.record(actor=actor, action=AuditEntry.Action.SECURITY, obj=user, verb="password_changed")
    return user


@transaction.atomic
def reset_password(*, user: User, new_password: str) -> User:
    """Finish a password reset proven by the e-mailed link (the link is the authority)."""
    _validate_password(new_password, user, field="new_password1")
    user.set_password(new_password)
    user.session_version = F("session_version") + 1
    user.save(update_fields=["password", "session_version", "updated_at"])
    user.refresh_from_db()
    audit.record(actor=user, action=AuditEntry.Action.SECURITY, obj=user, verb="password_reset")
    return user


def record_password_reset_requested(*, email: str) -> None:
    audit.record(
        actor=None,
        action=AuditEntry.Action.SECURITY,
        verb="password_reset_requested",
        object_type="accounts.user",
        object_repr=email.strip().lower()[:200],
    )


@transaction.atomic
def end_all_sessions(*, actor: User, user: User) -> User:
    if actor.pk != user.pk:
        authz.require_permission(actor, "accounts.manage_security", user)
        _refuse_acting_above(actor, user)
    User.objects.filter(pk=user.pk).update(session_version=F("session_version") + 1)
    user.refresh_from_db()
    audit.record(actor=actor, action=AuditEntry.Action.SECURITY, obj=user, verb="sessions_ended")
    return user


# --- Login tracking and throttling ---------------------------------------------------------


def login_is_locked(username: str) -> bool:
    """Too many failed logins for this name within the window: refuse without checking."""
    since = timezone.now() - timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)
    failures = AuditEntry.objects.filter(
        action=AuditEntry.Action.LOGIN_FAILED,
        object_repr=username.strip().lower()[:200],
        at__gte=since,
    ).count()
    return failures >= settings.LOGIN_FAILURE_LIMIT


def record_login(*, user: User, method: str = "password") -> None:
    audit.record(
        actor=user,
        action=AuditEntry.Action.LOGIN,
        obj=user,
        verb=f"login_{method}",
        object_repr=user.username.lower(),
    )


def record_failed_login(*, username: str, reason: str) -> None:
    audit.record(
        actor=None,
        action=AuditEntry.Action.LOGIN_FAILED,
        verb=reason,
        object_type="accounts.user",
        object_repr=username.strip().lower()[:200],
    )


def record_logout(*, user: Any) -> None:
    if user is not None and user.is_authenticated:
        audit.record(actor=user, action=AuditEntry.Action.LOGOUT, obj=user)


# --- Two-factor (TOTP) -------------------------------------------------------------------


def requires_two_factor(user: User) -> bool:
    return (
        user.kind == User.Kind.STAFF
        and RoleGrant.objects.filter(user=user, role__requires_two_factor=True).exists()
    )


@transaction.atomic
def begin_totp_enrolment(*, actor: User) -> str:
    """Create a fresh, unconfirmed secret for the actor; returns the otpauth:// URI."""
    if actor.has_two_factor:
        raise DomainError("already_enrolled", message=_("Two-factor login is already on."))
    secret = pyotp.random_base32()
    User.objects.filter(pk=actor.pk).update(totp_secret=secret)
    actor.totp_secret = secret
    return pyotp.TOTP(secret).provisioning_uri(name=actor.username, issuer_name="Aftersales")


def _accept_code(user: User, code: str) -> bool:
    code = code.strip().replace(" ", "")
    if not user.totp_secret or not code.isdigit():
        return False
    totp = pyotp.TOTP(user.totp_secret)
    now = timezone.now()
    for offset in (0, -1, 1):
        at = now + timedelta(seconds=30 * offset)
        counter = totp.timecode(at)
        if counter > user.totp_last_counter and totp.verify(code, for_time=at):
            # A code is good once: remembering its counter stops replay within the window.
            updated = User.objects.filter(pk=user.pk, totp_last_counter__lt=counter).update(
                totp_last_counter=counter
            )
            if updated:
                user.totp_last_counter = counter
                return True
    return False


@transaction.atomic
def confirm_totp_enrolment(*, actor: User, code: str) -> User:
    if not _accept_code(actor, code):
        raise DomainError(
            "invalid_code",
            field="code",
            message=_("The code is not correct. Check the time on your phone."),
        )
    actor.totp_confirmed_at = timezone.now()
    actor.save(update_fields=["totp_confirmed_at", "updated_at"])
    audit.record(actor=actor, action=AuditEntry.Action.SECURITY, obj=actor, verb="two_factor_on")
    return actor


def verify_second_factor(*, user: User, code: str) -> bool:
    ok = user.has_two_factor and _accept_code(user, code)
    if not ok:
        record_failed_login(username=user.username, reason="two_factor_failed")
    return ok


@transaction.atomic
def disable_totp(*, actor: User, user: User) -> User:
    if actor.pk != user.pk:
        authz.require_permission(actor, "accounts.manage_security", user)
        _refuse_acting_above(actor, user)
    elif requires_two_factor(user):
        raise DomainError("two_factor_required", message=_("Your role requires two-factor login."))
    User.objects.filter(pk=user.pk).update(
        totp_secret="", totp_confirmed_at=None, totp_last_counter=0
    )
    user.refresh_from_db()
    audit.record(actor=actor, action=AuditEntry.Action.SECURITY, obj=user, verb="two_factor_off")
    return user


# --- Business lines and teams ---------------------------------------------------------------


@transaction.atomic
def create_business_line(
    *, actor: Any, code: str, name: str, description: str = ""
) -> BusinessLine:
    authz.require_permission(actor, "accounts.add_businessline")
    if not name.strip():
        raise DomainError("required", field="name", message=_("This field is required."))
    if BusinessLine.objects.filter(code=code).exists():
        raise DomainError("code_taken", field="code", message=_("This code is already used."))
    line = BusinessLine.objects.create(code=code, name=name.strip(), description=description)
    audit.record(
        actor=actor, action=AuditEntry.Action.CREATED, obj=line, after=audit.snapshot(line)
    )
    outbox.emit("businessline.created", line, actor=actor)
    return line


@transaction.atomic
def update_business_line(
    *, actor: Any, line: BusinessLine, changes: dict[str, Any]
) -> BusinessLine:
    authz.require_permission(actor, "accounts.change_businessline", line)
    allowed = {"name", "description", "is_active"}
    before = audit.snapshot(line)
    fields = [f for f in changes if f in allowed]
    for field in fields:
        setattr(line, field, changes[field])
    if "name" in fields and not line.name.strip():
        raise DomainError("required", field="name", message=_("This field is required."))
    line.save(update_fields=[*fields, "updated_at"])
    if audit.record_change(actor=actor, obj=line, before=before):
        outbox.emit("businessline.updated", line, actor=actor)
    return line


@transaction.atomic
def create_team(
    *,
    actor: Any,
    name: str,
    business_line: BusinessLine,
    lead: User | None = None,
    description: str = "",
    members: Iterable[User] = (),
) -> Team:
    authz.require_permission(actor, "accounts.add_team")
    authz.require_permission(actor, "accounts.view_businessline", business_line)
    if not name.strip():
        raise DomainError("required", field="name", message=_("This field is required."))
    if Team.objects.filter(business_line=business_line, name=name.strip()).exists():
        raise DomainError(
            "name_taken",
            field="name",
            message=_("This business line already has a team of that name."),
        )
    member_list = list(members)
    if lead is not None and lead not in member_list:
        member_list.append(lead)
    _refuse_widening_own_reach(actor, [u.pk for u in member_list], "members")
    team = Team.objects.create(
        name=name.strip(), business_line=business_line, lead=lead, description=description
    )
    TeamMembership.objects.bulk_create([TeamMembership(team=team, user=u) for u in member_list])
    after = audit.snapshot(team)
    after["members"] = sorted(u.pk for u in member_list)
    audit.record(actor=actor, action=AuditEntry.Action.CREATED, obj=team, after=after)
    outbox.emit("team.created", team, actor=actor)
    return team


@transaction.atomic
def update_team(*, actor: Any, team: Team, changes: dict[str, Any]) -> Team:
    authz.require_permission(actor, "accounts.change_team", team)
    allowed = {"name", "description", "lead", "is_active"}
    before = audit.snapshot(team)
    fields = [f for f in changes if f in allowed]
    for field in fields:
        setattr(team, field, changes[field])
    if "name" in fields and not team.name.strip():
        raise DomainError("required", field="name", message=_("This field is required."))
    if team.lead_id and team.lead_id != before["lead"]:
        # The lead joins the team: the same rule as adding a member.
        _refuse_widening_own_reach(actor, [team.lead_id], "lead")
    try:
        with transaction.atomic():
            team.save(update_fields=[*fields, "updated_at"])
    except IntegrityError:
        raise DomainError(
            "name_taken",
            field="name",
            message=_("This business line already has a team of that name."),
        ) from None
    if team.lead_id:
        TeamMembership.objects.get_or_create(team=team, user_id=team.lead_id)
    if audit.record_change(actor=actor, obj=team, before=before):
        outbox.emit("team.updated", team, actor=actor)
    return team


@transaction.atomic
def set_team_members(*, actor: Any, team: Team, members: Iterable[User]) -> Team:
    authz.require_permission(actor, "accounts.change_team", team)
    wanted = {u.pk for u in members}
    if team.lead_id:
        wanted.add(team.lead_id)
    current = set(team.memberships.values_list("user_id", flat=True))
    if wanted == current:
        return team
    _refuse_widening_own_reach(actor, wanted - current, "members")
    TeamMembership.objects.filter(team=team, user_id__in=current - wanted).delete()
    TeamMembership.objects.bulk_create(
        [TeamMembership(team=team, user_id=pk) for pk in sorted(wanted - current)]
    )
    audit.record(
        actor=actor,
        action=AuditEntry.Action.UPDATED,
        obj=team,
        verb="members_changed",
        before={"members": sorted(current)},
        after={"members": sorted(wanted)},
    )
    outbox.emit(
        "team.members_changed",
        team,
        actor=actor,
        payload={"added": sorted(wanted - current), "removed": sorted(current - wanted)},
    )
    return team


# --- Roles and grants -------------------------------------------------------------------------


def _validate_permissions(permissions: Iterable[str]) -> list[str]:
    result: list[str] = []
    for codename in permissions:
        if not catalog.is_known(codename):
            raise DomainError(
                "unknown_permission",
                field="permissions",
                message=_("Unknown permission: %(permission)s"),
                params={"permission": codename},
            )
        if codename not in result:
            result.append(codename)
    return result


def _widest_grant(role: Role) -> str | None:
    scopes = set(role.grants.values_list("scope", flat=True))
    if not scopes:
        return None
    return max(scopes, key=lambda s: authz.SCOPE_RANK[s])


def _refuse_escalation(actor: Any, permissions: Iterable[str], scope: str) -> None:
    beyond = authz.may_grant(actor, permissions, scope)
    if beyond and all(authz.scope_for(actor, codename) for codename in beyond):
        # Every permission is held, only not that widely: the scope is what is at fault.
        raise PermissionDenied(
            "cannot_grant_wider_scope",
            field="scope",
            message=_("You hold these permissions at a narrower data scope only: %(permissions)s"),
            params={"permissions": ", ".join(beyond[:5])},
        )
    if beyond:
        raise PermissionDenied(
            "cannot_grant_unheld_permission",
            field="permissions",
            message=_("You cannot grant permissions you do not hold yourself: %(permissions)s"),
            params={"permissions": ", ".join(beyond[:5])},
        )


@transaction.atomic
def copy_role(*, actor: Any, role: Role, key: str, name: str) -> Role:
    """Start a new editable role from an existing (often predefined) one."""
    authz.require_permission(actor, "accounts.add_role")
    return create_role(
        actor=actor,
        key=key,
        name=name,
        description=role.description,
        permissions=role.permissions,
        requires_two_factor=role.requires_two_factor,
    )


@transaction.atomic
def create_role(
    *,
    actor: Any,
    key: str,
    name: str,
    description: str = "",
    permissions: Iterable[str] = (),
    requires_two_factor: bool = False,
) -> Role:
    authz.require_permission(actor, "accounts.add_role")
    permissions = _validate_permissions(permissions)
    _refuse_escalation(actor, permissions, RoleGrant.Scope.OWN)
    if not key.strip():
        raise DomainError("required", field="key", message=_("This field is required."))
    if not name.strip():
        raise DomainError("required", field="name", message=_("This field is required."))
    if Role.objects.filter(key=key).exists():
        raise DomainError("key_taken", field="key", message=_("This key is already used."))
    role = Role.objects.create(
        key=key,
        name=name.strip(),
        description=description,
        permissions=permissions,
        requires_two_factor=requires_two_factor,
    )
    audit.record(
        actor=actor,
        action=AuditEntry.Action.PERMISSION_CHANGED,
        obj=role,
        verb="role_created",
        after=audit.snapshot(role),
    )
    outbox.emit("role.created", role, actor=actor)
    return role


@transaction.atomic
def update_role(
    *, actor: Any, role: Role, changes: dict[str, Any], expected_version: int | None = None
) -> Role:
    authz.require_permission(actor, "accounts.change_role", role)
    role = Role.objects.select_for_update().get(pk=role.pk)
    if role.is_system:
        raise PermissionDenied(
            "role_read_only",
            field="is_system",
            message=_("Predefined roles cannot be edited; copy one."),
        )
    _check_version(role, expected_version)
    allowed = {"name", "description", "permissions", "requires_two_factor"}
    fields = [f for f in changes if f in allowed]
    if "permissions" in changes:
        new = _validate_permissions(changes["permissions"])
        added = [c for c in new if c not in role.permissions]
        _refuse_escalation(actor, added, _widest_grant(role) or RoleGrant.Scope.OWN)
        changes = {**changes, "permissions": new}
    if "name" in fields and not str(changes["name"]).strip():
        raise DomainError("required", field="name", message=_("This field is required."))
    before = audit.snapshot(role)
    for field in fields:
        setattr(role, field, changes[field])
    role.version = F("version") + 1
    role.save(update_fields=[*fields, "version", "updated_at"])
    role.refresh_from_db()
    if audit.record_change(actor=actor, obj=role, before=before, verb="role_changed"):
        outbox.emit("role.updated", role, actor=actor)
    return role


@transaction.atomic
def delete_role(*, actor: Any, role: Role) -> None:
    authz.require_permission(actor, "accounts.delete_role", role)
    if role.is_system:
        raise PermissionDenied(
            "role_read_only", field="is_system", message=_("Predefined roles cannot be deleted.")
        )
    if role.grants.exists():
        raise DomainError("role_in_use", message=_("The role is still granted to users."))
    audit.record(
        actor=actor,
        action=AuditEntry.Action.PERMISSION_CHANGED,
        obj=role,
        verb="role_deleted",
        before=audit.snapshot(role),
    )
    outbox.emit("role.deleted", role, actor=actor)
    role.delete()


@transaction.atomic
def grant_role(*, actor: Any, user: User, role: Role, scope: str) -> RoleGrant:
    """Give ``role`` to ``user`` at ``scope``; the actor must hold all of it at that scope."""
    authz.require_permission(actor, "accounts.assign_role", user)
    if scope not in RoleGrant.Scope.values:
        raise DomainError("invalid_choice", field="scope", message=_("Not a valid choice."))
    if user.kind == User.Kind.CUSTOMER:
        raise DomainError(
            "customer_cannot_hold_roles",
            field="user",
            message=_("Customer contacts cannot hold staff roles."),
        )
    _refuse_escalation(actor, role.permissions, scope)
    grant, created = RoleGrant.objects.get_or_create(
        user=user, role=role, defaults={"scope": scope, "granted_by": actor}
    )
    before_scope = None if created else grant.scope
    if not created and grant.scope != scope:
        grant.scope = scope
        grant.granted_by = actor
        grant.save(update_fields=["scope", "granted_by"])
    if created or before_scope != scope:
        audit.record(
            actor=actor,
            action=AuditEntry.Action.PERMISSION_CHANGED,
            obj=user,
            verb="role_granted",
            before={"role": role.key, "scope": before_scope} if before_scope else None,
            after={"role": role.key, "scope": scope},
        )
        outbox.emit(
            "user.role_granted", user, actor=actor, payload={"role": role.key, "scope": scope}
        )
    authz.forget(user)
    return grant


@transaction.atomic
def revoke_role(*, actor: Any, user: User, role: Role) -> None:
    authz.require_permission(actor, "accounts.assign_role", user)
    grant = RoleGrant.objects.filter(user=user, role=role).first()
    if grant is None:
        return
    _refuse_escalation(actor, role.permissions, grant.scope)
    grant.delete()
    audit.record(
        actor=actor,
        action=AuditEntry.Action.PERMISSION_CHANGED,
        obj=user,
        verb="role_revoked",
        before={"role": role.key, "scope": grant.scope},
    )
    outbox.emit("user.role_revoked", user, actor=actor, payload={"role": role.key})
    authz.forget(user)


# --- API tokens -------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown once, never stored


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def create_token(
    *,
    actor: Any,
    user: User,
    name: str,
    scopes: Iterable[str] = ("*",),
    expires_at: datetime | None = None,
) -> IssuedToken:
    """Issue a bearer token for ``user`` (oneself, or an integration user one manages)."""
    if getattr(actor, "pk", None) != user.pk:
        authz.require_permission(actor, "accounts.add_apitoken")
        authz.require_permission(actor, "accounts.change_user", user)
        if user.kind != User.Kind.INTEGRATION:
            # A token for a colleague would let the actor act as that colleague.
            raise PermissionDenied(
                "token_for_integration_only",
                field="user",
                message=_("Tokens for someone else can only be issued to integration users."),
            )
        _refuse_acting_above(actor, user)
    if not name.strip():
        raise DomainError("required", field="name", message=_("This field is required."))
    if user.kind == User.Kind.CUSTOMER and not _self_issued_expiring(actor, user, expires_at):
        # A customer's app signs in through the portal API and gets a short-lived token of
        # its own; nobody issues long-lived customer tokens.
        raise DomainError(
            "customer_cannot_hold_tokens",
            field="user",
            message=_("Customer contacts cannot hold API tokens."),
        )
    scope_list = [s.strip() for s in scopes if s.strip()] or ["*"]
    if expires_at is not None and timezone.is_naive(expires_at):
        # A time without an offset means the installation's time zone, as on every form.
        expires_at = timezone.make_aware(expires_at)
    if expires_at is not None and expires_at <= timezone.now():
        raise DomainError(
            "expiry_in_past", field="expires_at", message=_("The expiry must be in the future.")
        )
    body = secrets.token_urlsafe(32)
    secret = f"{TOKEN_PREFIX}{body}"
    token = ApiToken.objects.create(
        user=user,
        name=name.strip(),
        prefix=secret[:10],
        key_hash=hash_secret(secret),
        scopes=scope_list,
        expires_at=expires_at,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    audit.record(
        actor=actor,
        action=AuditEntry.Action.SECURITY,
        obj=token,
        verb="token_created",
        after={
            "user": user.pk,
            "scopes": scope_list,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return IssuedToken(token=token, secret=secret)


CUSTOMER_TOKEN_MAX_DAYS = 90


def _self_issued_expiring(actor: Any, user: User, expires_at: datetime | None) -> bool:
    if getattr(actor, "pk", None) != user.pk or expires_at is None:
        return False
    return expires_at <= timezone.now() + timedelta(days=CUSTOMER_TOKEN_MAX_DAYS)


@transaction.atomic
def revoke_token(*, actor: Any, token: ApiToken) -> ApiToken:
    if getattr(actor, "pk", None) != token.user_id:
        authz.require_permission(actor, "accounts.delete_apitoken", token)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit.record(
            actor=actor, action=AuditEntry.Action.SECURITY, obj=token, verb="token_revoked"
        )
    return token


def authenticate_token(secret: str, *, ip_address: str | None = None) -> ApiToken | None:
    """The usable token for ``secret`` (its user active), recording when it was last used."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    token = ApiToken.objects.select_related("user").filter(key_hash=hash_secret(secret)).first()
    if token is None or not token.is_usable or not token.user.is_active:
        return None
    now = timezone.now()
    # Writing on every request would serialise API traffic on one row: once a minute is enough.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now, last_used_ip=ip_address)
        token.last_used_at = now
    return token


@transaction.atomic
def bootstrap_admin(
    *, username: str, password: str, email: str = "", display_name: str = ""
) -> User:
    """Create the first administrator of an empty installation (there is no actor yet)."""
    if RoleGrant.objects.filter(role__key="admin").exists():
        raise DomainError(
            "already_bootstrapped", field="username", message=_("An administrator already exists.")
        )
    sync_predefined_roles()
    user = User(username=username, email=email, display_name=display_name)
    _validate_password(password, user)
    user.set_password(password)
    user.save()
    RoleGrant.objects.create(
        user=user, role=Role.objects.get(key="admin"), scope=RoleGrant.Scope.ALL
    )
    audit.record(
        actor=None,
        action=AuditEntry.Action.CREATED,
        obj=user,
        verb="bootstrapped",
        after=audit.snapshot(user),
    )
    audit.record(
        actor=None,
        action=AuditEntry.Action.PERMISSION_CHANGED,
        obj=user,
        verb="role_granted",
        after={"role": "admin", "scope": RoleGrant.Scope.ALL},
    )
    outbox.emit("user.created", user, payload={"username": user.username})
    return user
