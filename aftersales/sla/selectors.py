"""Reads of calendars and holiday sets, narrowed to what the viewer may see, and the loader that
turns a calendar into the in-memory structure business-time arithmetic walks."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import F, QuerySet

from aftersales.accounts import authz
from aftersales.sla.businesstime import CalendarSpec, DayRule, Interval
from aftersales.sla.models import (
    Calendar,
    CalendarDay,
    HolidaySet,
    HolidaySetDay,
    Policy,
    TicketSlaChange,
    TicketSlaTarget,
    WorkingInterval,
)

VIEW_CALENDAR = "sla.view_calendar"
VIEW_HOLIDAY_SET = "sla.view_holidayset"
# Admins are warned this many days before a calendar's holiday set runs out.
COVERAGE_WARNING_DAYS = 90


def calendars_visible_to(viewer: Any, codename: str | None = None) -> QuerySet[Calendar]:
    return authz.restrict(
        Calendar.objects.select_related("business_line", "team", "holiday_set"), viewer, codename
    )


def holiday_sets_visible_to(viewer: Any) -> QuerySet[HolidaySet]:
    """Holiday sets are shared configuration: whoever holds the view codename at any scope
    reads them all (calendars of every scope refer to them)."""
    if authz.scope_for(viewer, VIEW_HOLIDAY_SET) is None:
        return HolidaySet.objects.none()
    return HolidaySet.objects.all()


def intervals_of(calendar: Calendar) -> QuerySet[WorkingInterval]:
    return WorkingInterval.objects.filter(calendar=calendar).order_by("weekday", "start_minute")


def days_of(calendar: Calendar) -> QuerySet[CalendarDay]:
    return CalendarDay.objects.filter(calendar=calendar).order_by("date")


def holiday_days_of(holiday_set: HolidaySet, year: int | None = None) -> QuerySet[HolidaySetDay]:
    days = HolidaySetDay.objects.filter(holiday_set=holiday_set)
    if year is not None:
        days = days.filter(date__year=year)
    return days.order_by("date")


def coverage_end(calendar: Calendar) -> date | None:
    """The last date a calendar's arithmetic may reach; ``None``: not limited."""
    if calendar.holiday_set_id is None or calendar.is_24x7:
        return None
    assert calendar.holiday_set is not None  # noqa: S101 - narrowed by the id check above
    return date(calendar.holiday_set.last_year, 12, 31)


def calendars_near_coverage_end(
    viewer: Any, today: date, within_days: int = COVERAGE_WARNING_DAYS
) -> list[tuple[Calendar, date]]:
    """Active calendars the viewer sees whose holiday set ends within ``within_days``."""
    horizon = today + timedelta(days=within_days)
    near = []
    for calendar in calendars_visible_to(viewer).filter(is_active=True, is_24x7=False):
        end = coverage_end(calendar)
        if end is not None and end <= horizon:
            near.append((calendar, end))
    return near


def weekly_intervals(calendar: Calendar) -> tuple[tuple[Interval, ...], ...]:
    weekly: list[list[Interval]] = [[] for _ in range(7)]
    for interval in intervals_of(calendar):
        weekly[interval.weekday].append((interval.start_minute, interval.end_minute))
    return tuple(tuple(day) for day in weekly)


def load_calendar(calendar: Calendar, since: datetime | date | None = None) -> CalendarSpec:
    """Read ``calendar`` once (at most four queries) into a :class:`CalendarSpec`.

    Dated exceptions before ``since`` (less a day, for time zones) are left out: a
    computation never walks backwards.
    """
    first = None
    if since is not None:
        first = (since.date() if isinstance(since, datetime) else since) - timedelta(days=1)
    if calendar.is_24x7:
        weekly: tuple[tuple[Interval, ...], ...] = tuple(((0, 24 * 60),) for _ in range(7))
    else:
        weekly = weekly_intervals(calendar)
    # A make-up workday of the holiday set is worked with the hours of a normal workday: the
    # first weekday that has hours (Monday on an ordinary calendar).
    standard = next((day for day in weekly[:5] if day), ())
    days: dict[date, DayRule] = {}
    covered = None
    if calendar.holiday_set_id is not None and not calendar.is_24x7:
        holiday_set = calendar.holiday_set
        assert holiday_set is not None  # noqa: S101 - narrowed by the id check above
        covered = (date(holiday_set.first_year, 1, 1), date(holiday_set.last_year, 12, 31))
        set_days = HolidaySetDay.objects.filter(holiday_set_id=holiday_set.pk)
        if first is not None:
            set_days = set_days.filter(date__gte=first)
        for kind, day, name in set_days.values_list("kind", "date", "name"):
            days[day] = DayRule(kind, name, standard if kind == "workday" else ())
    own = CalendarDay.objects.filter(calendar_id=calendar.pk)
    if first is not None:
        own = own.filter(date__gte=first)
    for kind, day, name, intervals in own.values_list("kind", "date", "name", "intervals"):
        hours: tuple[Interval, ...] = ()
        if kind != "holiday":
            hours = tuple((int(a), int(b)) for a, b in intervals) if intervals else standard
        days[day] = DayRule(kind, name, hours)
    return CalendarSpec(
        name=calendar.name,
        time_zone=calendar.time_zone,
        weekly=weekly,
        days=days,
        covered=covered,
    )


# --- Policies and clocks ----------------------------------------------------------------------


def policies_visible_to(viewer: Any, codename: str | None = None) -> QuerySet[Policy]:
    """Policies of the viewer's business lines (a policy of every line needs scope "all")."""
    return authz.restrict(
        Policy.objects.select_related("calendar").prefetch_related("business_lines", "targets"),
        viewer,
        codename or "sla.view_policy",
    )


def targets_of_ticket(ticket_id: int) -> list[TicketSlaTarget]:
    return list(
        TicketSlaTarget.objects.filter(ticket_id=ticket_id)
        .select_related("policy", "calendar")
        .order_by("started_at", "pk")
    )


def changes_of_ticket(ticket_id: int) -> list[TicketSlaChange]:
    return list(TicketSlaChange.objects.filter(ticket_id=ticket_id).order_by("at", "pk"))


def open_targets_of(ticket_ids: list[int]) -> dict[int, list[TicketSlaTarget]]:
    """The open clocks (and breached ones still open) of a page of tickets, in one query."""
    found: dict[int, list[TicketSlaTarget]] = {}
    rows = (
        TicketSlaTarget.objects.filter(ticket_id__in=ticket_ids, state__in=["active", "paused"])
        .select_related("calendar")
        .order_by(F("due_at").asc(nulls_last=True), "pk")
    )
    for row in rows:
        found.setdefault(row.ticket_id, []).append(row)
    return found


def at_risk_for(viewer: Any, *, limit: int = 100) -> QuerySet[TicketSlaTarget]:
    """Running clocks of the tickets the viewer may see, soonest due first."""
    from aftersales.tickets.selectors import tickets_visible_to

    visible = tickets_visible_to(viewer).values("pk")
    return (
        TicketSlaTarget.objects.filter(state="active", ticket_id__in=visible, due_at__isnull=False)
        .select_related("ticket", "policy", "calendar")
        .order_by("due_at", "pk")[:limit]
    )
