"""Who gets a ticket: agents' skills, regions, availability and capacity, and each team's way of
handing out its tickets (manual, round-robin, least-loaded, optionally narrowed by skills and
region, optionally through a queue).

The decision itself lives in :mod:`aftersales.routing.services`; these rows are its inputs and
the little state it keeps (the round-robin pointer, when an agent last received a ticket).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from aftersales.accounts.models import Team


class _Bilingual(models.Model):
    name_zh = models.CharField(_("name (Chinese)"), max_length=120)
    name_en = models.CharField(_("name (English)"), max_length=120)

    class Meta:
        abstract = True

    @property
    def name(self) -> str:
        if (get_language() or "").lower().startswith("zh"):
            return self.name_zh or self.name_en
        return self.name_en or self.name_zh


class Skill(_Bilingual):
    """Something an agent can do (空调维修, English, 支付问题) that a ticket may require.

    Invariant: ``key`` is unique and never reused for another meaning; an inactive skill is no
    longer required nor offered, but stays on the agents and tickets that have it.
    """

    key = models.SlugField(_("key"), max_length=60, unique=True)
    is_active = models.BooleanField(_("active"), default=True)
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]
        verbose_name = _("skill")
        verbose_name_plural = _("skills")

    def __str__(self) -> str:
        return self.name


class Region(_Bilingual):
    """A place in a tree (华东 → 上海 → 浦东) that agents cover and tickets are located in.

    ``code`` matches the option keys of a choice or cascading custom field, so a ticket's
    location field names its region directly. An agent covering a region covers every region
    below it. Invariant: the parent chain never loops (checked by the services).
    """

    code = models.SlugField(_("code"), max_length=60, unique=True)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        verbose_name=_("parent region"),
    )
    position = models.PositiveIntegerField(_("position"), default=0)
    is_active = models.BooleanField(_("active"), default=True)
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "code"]
        verbose_name = _("region")
        verbose_name_plural = _("regions")

    def __str__(self) -> str:
        return self.name


class AgentProfile(models.Model):
    """How one staff member takes tickets: availability, capacity, working hours, skills, regions.

    A staff member without a profile counts as online, with the team's default capacity and no
    skills or regions. ``capacity`` empty means the team's default; ``calendar`` empty means the
    team's calendar. ``version`` grows with every change so stale edits are refused.
    """

    class Availability(models.TextChoices):
        ONLINE = "online", _("Online")
        AWAY = "away", _("Away")
        OFF_SHIFT = "off_shift", _("Off shift")
        ON_LEAVE = "on_leave", _("On leave")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="agent_profile",
        verbose_name=_("agent"),
    )
    availability = models.CharField(
        _("availability"), max_length=12, choices=Availability.choices, default=Availability.ONLINE
    )
    availability_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    capacity = models.PositiveIntegerField(
        _("capacity"),
        null=True,
        blank=True,
        help_text=_("Open tickets at most. Empty: the team's default."),
    )
    calendar = models.ForeignKey(
        "sla.Calendar",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("working hours"),
        help_text=_("Empty: the team's calendar."),
    )
    skills = models.ManyToManyField(
        Skill, blank=True, related_name="agents", verbose_name=_("skills")
    )
    regions = models.ManyToManyField(
        Region, blank=True, related_name="agents", verbose_name=_("regions")
    )
    last_assigned_at = models.DateTimeField(null=True, blank=True, editable=False)
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user_id"]
        verbose_name = _("agent profile")
        verbose_name_plural = _("agent profiles")

    def __str__(self) -> str:
        return str(self.user)


class TeamRouting(models.Model):
    """How a team hands out its tickets; a team without this row assigns manually.

    The row is also the lock of the team's routing: every decision that assigns one of the
    team's tickets holds it, so two tickets arriving at once never both go to the last free
    seat of an agent, and the round-robin pointer (``last_assignee``) never skips anyone.
    """

    class Strategy(models.TextChoices):
        MANUAL = "manual", _("Manual")
        ROUND_ROBIN = "round_robin", _("Round-robin")
        LEAST_LOADED = "least_loaded", _("Least loaded")

    team = models.OneToOneField(
        Team, on_delete=models.CASCADE, related_name="routing", verbose_name=_("team")
    )
    strategy = models.CharField(
        _("strategy"), max_length=20, choices=Strategy.choices, default=Strategy.MANUAL
    )
    use_skills = models.BooleanField(_("match skills"), default=False)
    use_region = models.BooleanField(_("match region"), default=False)
    region_field = models.CharField(
        _("location field"),
        max_length=64,
        blank=True,
        help_text=_("Key of the ticket's custom field that holds its location."),
    )
    default_capacity = models.PositiveIntegerField(
        _("default capacity"),
        null=True,
        blank=True,
        help_text=_("Open tickets per agent at most. Empty: no limit."),
    )
    queue_mode = models.BooleanField(
        _("queue"),
        default=False,
        help_text=_("Tickets nobody can take wait in a queue and go to the next agent free."),
    )
    respect_working_hours = models.BooleanField(_("respect working hours"), default=True)
    next_tier = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("escalate to team"),
    )
    last_assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["team_id"]
        verbose_name = _("team routing")
        verbose_name_plural = _("team routing")

    def __str__(self) -> str:
        return f"{self.team_id}: {self.strategy}"


class TicketSkillRequirement(models.Model):
    """A skill a ticket needs (set by a rule or an agent), on top of its type's defaults."""

    ticket = models.ForeignKey(
        "tickets.Ticket", on_delete=models.CASCADE, related_name="skill_requirements"
    )
    skill = models.ForeignKey(Skill, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ticket", "skill"], name="one_requirement_per_skill")
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id} needs {self.skill_id}"


class TicketTypeSkill(models.Model):
    """A skill every ticket of a type needs (an air-conditioner repair needs HVAC)."""

    ticket_type = models.ForeignKey(
        "tickets.TicketType", on_delete=models.CASCADE, related_name="skill_defaults"
    )
    skill = models.ForeignKey(Skill, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ticket_type", "skill"], name="one_type_skill")
        ]

    def __str__(self) -> str:
        return f"{self.ticket_type_id} needs {self.skill_id}"
