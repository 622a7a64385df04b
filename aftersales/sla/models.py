"""Business calendars: when the clock of a service level runs.

A calendar says, in one time zone, which hours of each weekday are worked and which dates
differ (holidays, make-up workdays, half days). It may follow a holiday set, a table of public
holidays and make-up workdays that admins maintain year by year; a calendar that follows a set
is only *covered* for the years the set knows, and arithmetic refuses to reach past them.
Policies and timers (#5, after the rule engine of #4) will point at calendars.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from aftersales.accounts.models import BusinessLine, Team

MINUTES_PER_DAY = 24 * 60


class DayKind(models.TextChoices):
    HOLIDAY = "holiday", _("Holiday")
    WORKDAY = "workday", _("Make-up workday")
    OVERRIDE = "override", _("Special hours")


class HolidaySet(models.Model):
    """Public holidays and make-up workdays of one country or region, maintained yearly.

    Invariant: ``first_year``..``last_year`` is the range of years whose schedule has been
    loaded (a year with no rows inside it still counts as published); arithmetic on a calendar
    following this set refuses any date outside it.
    """

    key = models.SlugField(_("key"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=120)
    first_year = models.PositiveSmallIntegerField(_("first year covered"))
    last_year = models.PositiveSmallIntegerField(_("last year covered"))
    source = models.CharField(_("source"), max_length=200, blank=True)
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]
        verbose_name = _("holiday set")
        verbose_name_plural = _("holiday sets")
        constraints = [
            models.CheckConstraint(
                condition=Q(last_year__gte=F("first_year")), name="holiday_set_years_ordered"
            )
        ]

    def __str__(self) -> str:
        return self.name


class HolidaySetDay(models.Model):
    """One dated entry of a holiday set: a day off, or a weekend day that is worked (调休)."""

    Kind = DayKind

    holiday_set = models.ForeignKey(
        HolidaySet, on_delete=models.CASCADE, related_name="days", verbose_name=_("holiday set")
    )
    date = models.DateField(_("date"))
    kind = models.CharField(_("kind"), max_length=10, choices=DayKind.choices)
    name = models.CharField(_("name"), max_length=120, blank=True)

    class Meta:
        ordering = ["holiday_set_id", "date"]
        verbose_name = _("holiday set day")
        verbose_name_plural = _("holiday set days")
        constraints = [
            models.UniqueConstraint(fields=["holiday_set", "date"], name="holiday_set_day_once"),
            models.CheckConstraint(
                condition=Q(kind__in=["holiday", "workday"]), name="holiday_set_day_kind"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.kind}"


class Calendar(models.Model):
    """Working time of a business line or team, in one time zone.

    Invariants: the time zone is a zoneinfo name; a 24x7 calendar has no weekly intervals and
    no holiday set (every minute counts, except dated exceptions); ``version`` grows with each
    change so stale edits are refused and recomputations can tell which calendar they used.
    """

    name = models.CharField(_("name"), max_length=120)
    time_zone = models.CharField(_("time zone"), max_length=64, default="Asia/Shanghai")
    business_line = models.ForeignKey(
        BusinessLine,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="calendars",
        verbose_name=_("business line"),
    )
    team = models.ForeignKey(
        Team,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="calendars",
        verbose_name=_("team"),
    )
    is_24x7 = models.BooleanField(_("24x7"), default=False)
    holiday_set = models.ForeignKey(
        HolidaySet,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="calendars",
        verbose_name=_("holiday set"),
    )
    is_active = models.BooleanField(_("active"), default=True)
    version = models.PositiveIntegerField(default=1, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("calendar")
        verbose_name_plural = _("calendars")

    def __str__(self) -> str:
        return self.name

    @property
    def owner_name(self) -> str:
        """The team or business line the calendar belongs to, or "" for an ownerless one."""
        owner = self.team or self.business_line
        return owner.name if owner is not None else ""


class WorkingInterval(models.Model):
    """Hours worked on one weekday, e.g. Monday 09:00-12:00; a day may have several.

    Minutes from local midnight, end exclusive, so 24:00 (1440) can be said. Invariant:
    intervals of one weekday do not overlap (checked by the services).
    """

    calendar = models.ForeignKey(
        Calendar, on_delete=models.CASCADE, related_name="intervals", verbose_name=_("calendar")
    )
    weekday = models.PositiveSmallIntegerField(
        _("weekday"), validators=[MaxValueValidator(6)], help_text=_("0 is Monday.")
    )
    start_minute = models.PositiveSmallIntegerField(_("start"))
    end_minute = models.PositiveSmallIntegerField(_("end"))

    class Meta:
        ordering = ["calendar_id", "weekday", "start_minute"]
        verbose_name = _("working interval")
        verbose_name_plural = _("working intervals")
        constraints = [
            models.CheckConstraint(
                condition=Q(weekday__lte=6)
                & Q(start_minute__lt=F("end_minute"))
                & Q(end_minute__lte=MINUTES_PER_DAY),
                name="working_interval_valid",
            )
        ]

    def __str__(self) -> str:
        return f"{self.weekday} {self.start_minute}-{self.end_minute}"


class CalendarDay(models.Model):
    """A dated exception of one calendar: a company or regional holiday, a make-up workday, or
    special hours (a half day). ``intervals`` (pairs of minutes) replace that date's weekly
    hours; a holiday has none. Wins over the holiday set's entry for the same date."""

    Kind = DayKind

    calendar = models.ForeignKey(
        Calendar, on_delete=models.CASCADE, related_name="days", verbose_name=_("calendar")
    )
    date = models.DateField(_("date"))
    kind = models.CharField(_("kind"), max_length=10, choices=DayKind.choices)
    name = models.CharField(_("name"), max_length=120, blank=True)
    intervals = models.JSONField(_("hours"), default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["calendar_id", "date"]
        verbose_name = _("calendar day")
        verbose_name_plural = _("calendar days")
        constraints = [
            models.UniqueConstraint(fields=["calendar", "date"], name="calendar_day_once")
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.kind}"


# --- Policies and timers -------------------------------------------------------------------


class Metric(models.TextChoices):
    FIRST_RESPONSE = "first_response", _("First response")
    NEXT_RESPONSE = "next_response", _("Next response")
    RESOLUTION = "resolution", _("Resolution")


class Policy(models.Model):
    """An SLA policy: which tickets it covers (a condition of the shared condition language,
    limited to some business lines) and, per priority, how long each target may take.

    Policies are tried in ``position`` order; the first active one whose lines include the
    ticket's and whose condition holds is the one in force for that ticket. ``calendar`` empty
    means the ticket's line's calendar, else the default calendar, else every minute counts.
    """

    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    business_lines = models.ManyToManyField(
        BusinessLine, blank=True, related_name="sla_policies", verbose_name=_("business lines")
    )
    position = models.PositiveIntegerField(_("position"), default=0)
    condition = models.JSONField(_("condition"), null=True, blank=True)
    condition_cel = models.TextField(default="true", editable=False)
    calendar = models.ForeignKey(
        Calendar,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="policies",
        verbose_name=_("calendar"),
    )
    pause_on_pending = models.BooleanField(_("pause while waiting for the customer"), default=True)
    is_active = models.BooleanField(_("active"), default=True)
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "pk"]
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")

    def __str__(self) -> str:
        return self.name


class PolicyTarget(models.Model):
    """How long one metric may take for one priority (``priority`` empty: any priority not
    given its own row). ``metric`` is a built-in one or a key later modules use
    (``onsite_arrival``)."""

    policy = models.ForeignKey(
        Policy, on_delete=models.CASCADE, related_name="targets", verbose_name=_("policy")
    )
    metric = models.SlugField(_("metric"), max_length=40)
    priority = models.PositiveSmallIntegerField(_("priority"), null=True, blank=True)
    minutes = models.PositiveIntegerField(_("minutes"))
    is_business_time = models.BooleanField(_("business time"), default=True)
    warn_before_minutes = models.PositiveIntegerField(_("warn before (minutes)"), default=0)

    class Meta:
        ordering = ["policy_id", "metric", "priority"]
        verbose_name = _("SLA target")
        verbose_name_plural = _("SLA targets")
        constraints = [
            models.UniqueConstraint(
                fields=["policy", "metric", "priority"],
                name="policy_target_once",
                nulls_distinct=False,
            ),
            models.CheckConstraint(condition=Q(minutes__gt=0), name="policy_target_minutes"),
        ]

    def __str__(self) -> str:
        return f"{self.metric} {self.priority}: {self.minutes}"


class TicketSla(models.Model):
    """The policy in force on one ticket (none matched: ``policy`` empty)."""

    ticket = models.OneToOneField(
        "tickets.Ticket", on_delete=models.CASCADE, primary_key=True, related_name="sla"
    )
    policy = models.ForeignKey(
        Policy, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    policy_version = models.PositiveIntegerField(default=0)
    priority = models.PositiveSmallIntegerField(null=True)
    chosen_at = models.DateTimeField()

    class Meta:
        verbose_name = _("ticket SLA")
        verbose_name_plural = _("ticket SLAs")

    def __str__(self) -> str:
        return f"{self.ticket_id}: {self.policy_id}"


class TicketSlaChange(models.Model):
    """Why the policy (or its targets) of a ticket changed: created, attributes changed."""

    ticket = models.ForeignKey(
        "tickets.Ticket", on_delete=models.CASCADE, related_name="sla_changes"
    )
    at = models.DateTimeField()
    old_policy = models.ForeignKey(
        Policy, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    new_policy = models.ForeignKey(
        Policy, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    old_name = models.CharField(max_length=120, blank=True)
    new_name = models.CharField(max_length=120, blank=True)
    reason = models.CharField(max_length=40)
    changed_fields = models.JSONField(default=list, blank=True)
    event_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["ticket_id", "at", "pk"]
        indexes = [models.Index(fields=["ticket", "at"], name="sla_change_ticket_at")]

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.reason}: {self.old_name} → {self.new_name}"


class TicketSlaTarget(models.Model):
    """One running or finished clock of a ticket: a metric with its due time.

    ``due_at`` = ``started_at`` + ``minutes`` + ``paused_minutes`` (business or calendar
    minutes); ``next_check_at`` is when the sweep must look at it next (the warning time,
    then the due time; empty once breached, paused or finished), so the sweep is one indexed
    range query. ``warned_at``/``breached_at`` are set once, by a conditional update.
    """

    class State(models.TextChoices):
        ACTIVE = "active", _("Running")
        PAUSED = "paused", _("Paused")
        MET = "met", _("Met")
        STOPPED = "stopped", _("Stopped")

    ticket = models.ForeignKey(
        "tickets.Ticket", on_delete=models.CASCADE, related_name="sla_targets"
    )
    policy = models.ForeignKey(
        Policy, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    metric = models.SlugField(max_length=40)
    minutes = models.PositiveIntegerField()
    is_business_time = models.BooleanField(default=True)
    warn_before_minutes = models.PositiveIntegerField(default=0)
    calendar = models.ForeignKey(
        Calendar, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.ACTIVE)
    started_at = models.DateTimeField()
    # Empty while the deadline needs a year whose holiday schedule is not loaded
    # (``waiting_for_year``): it is refused, never guessed, until an admin loads that year.
    due_at = models.DateTimeField(null=True, blank=True)
    waiting_for_year = models.PositiveSmallIntegerField(null=True, blank=True)
    warn_at = models.DateTimeField(null=True, blank=True)
    next_check_at = models.DateTimeField(null=True, blank=True)
    paused_minutes = models.PositiveIntegerField(default=0)
    paused_since = models.DateTimeField(null=True, blank=True)
    pauses = models.JSONField(default=list, blank=True)
    warned_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)
    met_at = models.DateTimeField(null=True, blank=True)
    explanation = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["ticket_id", "started_at", "pk"]
        indexes = [
            models.Index(fields=["next_check_at"], name="sla_target_next_check"),
            models.Index(fields=["state", "due_at"], name="sla_target_state_due"),
            models.Index(fields=["ticket", "metric"], name="sla_target_ticket_metric"),
            models.Index(
                fields=["calendar", "waiting_for_year"],
                condition=Q(waiting_for_year__isnull=False),
                name="sla_target_waiting",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["ticket", "metric"],
                condition=Q(state__in=["active", "paused"]),
                name="sla_target_one_open_per_metric",
            )
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.metric} {self.due_at}"

    @property
    def is_open(self) -> bool:
        return self.state in (self.State.ACTIVE, self.State.PAUSED)

    def condition_at(self, now: Any) -> str:
        """``met``, ``met_late``, ``breached``, ``warning``, ``paused``, ``ok``, ``stopped`` or
        ``no_deadline`` (the holiday schedule the deadline needs is not loaded)."""
        if self.due_at is None and self.state != self.State.STOPPED:
            return "no_deadline"
        if self.state == self.State.MET:
            return "met_late" if self.breached_at else "met"
        if self.state == self.State.STOPPED:
            return "stopped"
        if self.breached_at is not None or (self.state == self.State.ACTIVE and self.due_at <= now):
            return "breached"
        if self.state == self.State.PAUSED:
            return "paused"
        if self.warned_at is not None or (self.warn_at is not None and self.warn_at <= now):
            return "warning"
        return "ok"


class MissingSchedule(models.Model):
    """A year a calendar's deadlines need whose holiday schedule is not loaded: clocks counting
    in the calendar wait without a due time until an admin loads it. One row per calendar and
    year, so the admins are told once; ``resolved_at`` is set when the year is loaded."""

    calendar = models.ForeignKey(
        Calendar, on_delete=models.CASCADE, related_name="missing_schedules"
    )
    year = models.PositiveSmallIntegerField(_("year"))
    first_seen_at = models.DateTimeField()
    notified_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["year", "calendar_id"]
        verbose_name = _("missing holiday schedule")
        verbose_name_plural = _("missing holiday schedules")
        constraints = [
            models.UniqueConstraint(fields=["calendar", "year"], name="missing_schedule_once")
        ]

    def __str__(self) -> str:
        return f"{self.calendar_id} {self.year}"


class BackfillRun(models.Model):
    """Progress of giving open tickets their SLA clocks after policies changed: tickets are
    walked by id in bounded batches and ``last_ticket_id`` is saved after each one, so a run
    that dies resumes where it stopped. ``key`` names the run (the event that asked for it,
    or ``command``)."""

    key = models.CharField(max_length=80, unique=True)
    last_ticket_id = models.BigIntegerField(default=0)
    tickets_seen = models.PositiveIntegerField(default=0)
    tickets_changed = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "pk"]

    def __str__(self) -> str:
        return f"{self.key} @{self.last_ticket_id}"
