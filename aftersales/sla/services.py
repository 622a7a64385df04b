"""Use cases of business calendars and holiday sets: every write to them.

Each function checks the permission (within the actor's scope for calendars), validates,
writes, records an audit entry and emits an outbox event in one transaction. Every change that
can move a deadline emits ``calendar.changed`` for each calendar concerned; the SLA timers
(#5, after the rule engine) subscribe to it to recompute open deadlines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from functools import lru_cache
from itertools import pairwise
from typing import Any
from zoneinfo import available_timezones

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from aftersales.accounts import authz
from aftersales.accounts.models import BusinessLine, Team
from aftersales.audit import services as audit
from aftersales.audit.models import AuditEntry
from aftersales.core.errors import DomainError, PermissionDenied
from aftersales.outbox import services as outbox
from aftersales.sla.models import (
    Calendar,
    CalendarDay,
    DayKind,
    HolidaySet,
    HolidaySetDay,
    WorkingInterval,
)

Action = AuditEntry.Action

ADD_CALENDAR = "sla.add_calendar"
CHANGE_CALENDAR = "sla.change_calendar"
DELETE_CALENDAR = "sla.delete_calendar"
ADD_HOLIDAY_SET = "sla.add_holidayset"
CHANGE_HOLIDAY_SET = "sla.change_holidayset"

TIME_PATTERN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
MIN_YEAR, MAX_YEAR = 2000, 2100


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


# --- Validation -------------------------------------------------------------------------------


def _text(value: Any, field: str, *, max_length: int, required: bool = True) -> str:
    if not isinstance(value, str):
        raise DomainError("invalid", field=field, message=_("Enter text."))
    value = value.strip()
    if required and not value:
        raise DomainError("required", field=field, message=_("This field is required."))
    if len(value) > max_length:
        raise DomainError(
            "too_long",
            field=field,
            message=_("Enter at most %(max)s characters."),
            params={"max": max_length},
        )
    return value


def clean_time_zone(value: Any, field: str = "time_zone") -> str:
    if not isinstance(value, str) or value not in _zones():
        raise DomainError(
            "invalid_time_zone",
            field=field,
            message=_("Enter a time zone name such as Asia/Shanghai or Europe/Berlin."),
        )
    return value


def parse_time(value: Any, field: str) -> int:
    """``"09:30"`` as minutes from midnight; ``"24:00"`` is 1440."""
    if not isinstance(value, str) or not TIME_PATTERN.match(value):
        raise DomainError(
            "invalid_time", field=field, message=_("Enter a time as HH:MM, from 00:00 to 24:00.")
        )
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


def format_time(minute: int) -> str:
    return "%02d:%02d" % divmod(minute, 60)  # noqa: UP031


def clean_intervals(value: Any, field: str) -> list[tuple[int, int]]:
    """Pairs ``{"start": "09:00", "end": "12:00"}`` as sorted, non-overlapping minutes."""
    if not isinstance(value, list | tuple):
        raise DomainError("invalid", field=field, message=_("Enter a list of intervals."))
    intervals = []
    for index, item in enumerate(value):
        where = f"{field}[{index}]"
        if not isinstance(item, dict):
            raise DomainError("invalid", field=where, message=_("Enter a start and an end."))
        start = parse_time(item.get("start"), f"{where}.start")
        end = parse_time(item.get("end"), f"{where}.end")
        if end <= start:
            raise DomainError(
                "end_before_start", field=f"{where}.end", message=_("End after the start.")
            )
        intervals.append((start, end))
    intervals.sort()
    for (_start, previous_end), (start, _end) in pairwise(intervals):
        if start < previous_end:
            raise DomainError(
                "intervals_overlap", field=field, message=_("Intervals of one day overlap.")
            )
    return intervals


def clean_hours(value: Any) -> dict[int, list[tuple[int, int]]]:
    """Weekly hours: ``{"0": [{"start": "09:00", "end": "12:00"}, …], …}``, 0 is Monday."""
    if not isinstance(value, dict):
        raise DomainError(
            "invalid", field="hours", message=_("Enter the hours of each weekday, 0 is Monday.")
        )
    hours: dict[int, list[tuple[int, int]]] = {}
    for key, intervals in value.items():
        weekday = int(key) if str(key).isdigit() else -1
        if not 0 <= weekday <= 6:
            raise DomainError(
                "invalid_weekday", field="hours", message=_("Weekdays are 0 (Monday) to 6.")
            )
        hours[weekday] = clean_intervals(intervals, f"hours.{weekday}")
    return hours


def hours_of(calendar: Calendar) -> dict[str, list[dict[str, str]]]:
    """Weekly hours in the API shape, every weekday present."""
    hours: dict[str, list[dict[str, str]]] = {str(day): [] for day in range(7)}
    # Through the relation, so a list that prefetched ``intervals`` asks no query per row.
    ordered = sorted(calendar.intervals.all(), key=lambda i: (i.weekday, i.start_minute))
    for interval in ordered:
        hours[str(interval.weekday)].append(
            {"start": format_time(interval.start_minute), "end": format_time(interval.end_minute)}
        )
    return hours


def _year(value: Any, field: str = "year") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_YEAR <= value <= MAX_YEAR:
        raise DomainError(
            "invalid_year",
            field=field,
            message=_("Enter a year from %(min)s to %(max)s."),
            params={"min": MIN_YEAR, "max": MAX_YEAR},
        )
    return value


# --- Scope ------------------------------------------------------------------------------------


def _require_owner_in_scope(
    actor: Any, codename: str, business_line: BusinessLine | None, team: Team | None
) -> None:
    """Whether a calendar owned by ``business_line`` or ``team`` lies inside the actor's scope
    for ``codename`` (a calendar without owner needs a grant at "all")."""
    scope = authz.scope_for(actor, codename)
    if scope is None:
        raise PermissionDenied("permission_denied", params={"permission": codename})
    if scope == authz.Scope.ALL:
        return
    rank = authz.SCOPE_RANK[scope]
    lines = (
        authz.business_line_ids(actor)
        if rank >= authz.SCOPE_RANK[authz.Scope.BUSINESS_LINES]
        else []
    )
    if team is not None:
        if rank >= authz.SCOPE_RANK[authz.Scope.TEAMS] and team.pk in authz.team_ids(actor):
            return
        if team.business_line_id in lines:
            return
        field = "team"
    elif business_line is not None:
        if business_line.pk in lines:
            return
        field = "business_line"
    else:
        field = "business_line"
    raise PermissionDenied(
        "owner_out_of_scope",
        field=field,
        message=_("You may manage calendars only of your own teams or business lines."),
    )


def _require_all(actor: Any, codename: str) -> None:
    """Holiday sets are shared by every calendar: only a grant at "all" may change them."""
    if authz.scope_for(actor, codename) != authz.Scope.ALL:
        raise PermissionDenied("permission_denied", params={"permission": codename})


# --- Calendars --------------------------------------------------------------------------------


def _snapshot(calendar: Calendar) -> dict[str, Any]:
    return {
        "name": calendar.name,
        "time_zone": calendar.time_zone,
        "business_line": calendar.business_line_id,
        "team": calendar.team_id,
        "is_24x7": calendar.is_24x7,
        "holiday_set": calendar.holiday_set_id,
        "is_active": calendar.is_active,
        "hours": hours_of(calendar) if calendar.pk else {},
    }


def _check_calendar(calendar: Calendar, hours: dict[int, list[tuple[int, int]]] | None) -> None:
    if calendar.business_line_id is not None and calendar.team_id is not None:
        raise DomainError(
            "one_owner_only",
            field="team",
            message=_("A calendar belongs to a business line or to a team, not both."),
        )
    if calendar.is_24x7:
        if calendar.holiday_set_id is not None:
            raise DomainError(
                "holiday_set_on_24x7",
                field="holiday_set",
                message=_("A 24x7 calendar counts every day; it follows no holiday set."),
            )
        if hours and any(hours.values()):
            raise DomainError(
                "hours_on_24x7", field="hours", message=_("A 24x7 calendar has no weekly hours.")
            )


def _write_hours(calendar: Calendar, hours: dict[int, list[tuple[int, int]]]) -> None:
    WorkingInterval.objects.filter(calendar=calendar, weekday__in=list(hours)).delete()
    WorkingInterval.objects.bulk_create(
        [
            WorkingInterval(calendar=calendar, weekday=weekday, start_minute=a, end_minute=b)
            for weekday, intervals in sorted(hours.items())
            for a, b in intervals
        ]
    )


def _announce(calendar: Calendar, actor: Any, reason: str) -> None:
    outbox.emit(
        "calendar.changed",
        calendar,
        actor=actor,
        payload={"version": calendar.version, "reason": reason},
    )


@transaction.atomic
def create_calendar(
    *,
    actor: Any,
    name: str,
    time_zone: str = "Asia/Shanghai",
    business_line: BusinessLine | None = None,
    team: Team | None = None,
    is_24x7: bool = False,
    holiday_set: HolidaySet | None = None,
    hours: Any = None,
    is_active: bool = True,
) -> Calendar:
    """Create a calendar of a business line or team, with its weekly hours."""
    _require_owner_in_scope(actor, ADD_CALENDAR, business_line, team)
    calendar = Calendar(
        name=_text(name, "name", max_length=120),
        time_zone=clean_time_zone(time_zone),
        business_line=business_line,
        team=team,
        is_24x7=bool(is_24x7),
        holiday_set=holiday_set,
        is_active=bool(is_active),
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    weekly = clean_hours(hours) if hours is not None else {}
    _check_calendar(calendar, weekly)
    calendar.save()
    _write_hours(calendar, weekly)
    audit.record(actor=actor, action=Action.CREATED, obj=calendar, after=_snapshot(calendar))
    outbox.emit("calendar.created", calendar, actor=actor, payload={"version": calendar.version})
    return calendar


@transaction.atomic
def update_calendar(*, actor: Any, calendar: Calendar, changes: dict[str, Any]) -> Calendar:
    """Change fields and/or weekly hours; ``changes`` may hold ``name``, ``time_zone``,
    ``is_24x7``, ``is_active``, ``holiday_set`` (a HolidaySet or None), ``business_line`` and
    ``team`` (moving the calendar, checked against the scope) and ``hours``."""
    authz.require_permission(actor, CHANGE_CALENDAR, calendar)
    Calendar.objects.select_for_update().filter(pk=calendar.pk).values_list("pk").get()
    before = _snapshot(calendar)
    fields: list[str] = []
    for field, value in changes.items():
        if field == "name":
            calendar.name = _text(value, field, max_length=120)
        elif field == "time_zone":
            calendar.time_zone = clean_time_zone(value)
        elif field in ("is_24x7", "is_active"):
            if not isinstance(value, bool):
                raise DomainError("invalid", field=field, message=_("Enter true or false."))
            setattr(calendar, field, value)
        elif field in ("holiday_set", "business_line", "team"):
            setattr(calendar, field, value)
        elif field == "hours":
            continue
        else:
            raise DomainError(
                "unknown_field", field=field, message=_("This field cannot be changed here.")
            )
        fields.append(field)
    if "business_line" in changes or "team" in changes:
        _require_owner_in_scope(actor, CHANGE_CALENDAR, calendar.business_line, calendar.team)
    weekly = clean_hours(changes["hours"]) if "hours" in changes else None
    existing = None if weekly is not None else _existing_hours(calendar)
    _check_calendar(calendar, weekly if weekly is not None else existing)
    if weekly is not None:
        _write_hours(calendar, weekly)
    after = _snapshot(calendar)
    changed_before, changed_after = audit.diff(before, after)
    if not changed_after:
        return calendar
    calendar.version += 1
    calendar.save(update_fields=[*fields, "version", "updated_at"])
    audit.record(
        actor=actor, action=Action.UPDATED, obj=calendar, before=changed_before, after=changed_after
    )
    _announce(calendar, actor, "calendar")
    return calendar


def _existing_hours(calendar: Calendar) -> dict[int, list[tuple[int, int]]]:
    hours: dict[int, list[tuple[int, int]]] = {}
    for interval in WorkingInterval.objects.filter(calendar=calendar):
        hours.setdefault(interval.weekday, []).append((interval.start_minute, interval.end_minute))
    return hours


@transaction.atomic
def delete_calendar(*, actor: Any, calendar: Calendar) -> None:
    """Delete a calendar with its hours and dated exceptions; refused while an SLA policy
    names it (running clocks that counted in it keep their due times)."""
    authz.require_permission(actor, DELETE_CALENDAR, calendar)
    in_use = list(calendar.policies.order_by("name").values_list("name", flat=True)[:3])
    if in_use:
        raise DomainError(
            "calendar_in_use",
            field="calendar",
            message=_(
                "SLA policies use this calendar (%(names)s); choose another one there first."
            ),
            params={"names": ", ".join(in_use)},
        )
    before = _snapshot(calendar)
    pk = calendar.pk
    audit.record(
        actor=actor,
        action=Action.DELETED,
        object_type="sla.calendar",
        object_id=str(pk),
        object_repr=str(calendar),
        before=before,
    )
    outbox.emit("calendar.deleted", calendar, actor=actor)
    calendar.delete()


def _day_snapshot(day: CalendarDay) -> dict[str, Any]:
    return {
        "date": day.date.isoformat(),
        "kind": day.kind,
        "name": day.name,
        "intervals": day.intervals,
    }


def _clean_day(kind: Any, intervals: Any) -> tuple[str, list[list[int]]]:
    if kind not in DayKind.values:
        raise DomainError(
            "invalid_choice",
            field="kind",
            message=_("Choose one of: %(expected)s."),
            params={"expected": ", ".join(DayKind.values)},
        )
    cleaned = clean_intervals(intervals or [], "intervals")
    if kind == DayKind.HOLIDAY and cleaned:
        raise DomainError(
            "hours_on_holiday", field="intervals", message=_("A holiday has no working hours.")
        )
    if kind == DayKind.OVERRIDE and not cleaned:
        raise DomainError(
            "required",
            field="intervals",
            message=_("Special hours need at least one interval; use a holiday for a day off."),
        )
    return str(kind), [[a, b] for a, b in cleaned]


@transaction.atomic
def set_calendar_day(
    *,
    actor: Any,
    calendar: Calendar,
    day: date,
    kind: str,
    name: str = "",
    intervals: Any = None,
) -> CalendarDay:
    """Add or replace the dated exception of ``day``: a holiday, a make-up workday (empty
    intervals: the calendar's standard workday hours) or special hours."""
    authz.require_permission(actor, CHANGE_CALENDAR, calendar)
    Calendar.objects.select_for_update().filter(pk=calendar.pk).values_list("pk").get()
    kind, cleaned = _clean_day(kind, intervals)
    name = _text(name, "name", max_length=120, required=False)
    existing = CalendarDay.objects.filter(calendar=calendar, date=day).first()
    before = _day_snapshot(existing) if existing is not None else None
    if existing is None:
        existing = CalendarDay(calendar=calendar, date=day)
    existing.kind, existing.name, existing.intervals = kind, name, cleaned
    existing.save()
    calendar.version += 1
    calendar.save(update_fields=["version", "updated_at"])
    audit.record(
        actor=actor,
        action=Action.UPDATED,
        obj=calendar,
        verb="day_set",
        before={"day": before},
        after={"day": _day_snapshot(existing)},
    )
    _announce(calendar, actor, "day")
    return existing


@transaction.atomic
def delete_calendar_day(*, actor: Any, calendar: Calendar, day: CalendarDay) -> None:
    """Remove a dated exception; the date follows the weekly hours and holiday set again."""
    authz.require_permission(actor, CHANGE_CALENDAR, calendar)
    Calendar.objects.select_for_update().filter(pk=calendar.pk).values_list("pk").get()
    before = _day_snapshot(day)
    day.delete()
    calendar.version += 1
    calendar.save(update_fields=["version", "updated_at"])
    audit.record(
        actor=actor,
        action=Action.UPDATED,
        obj=calendar,
        verb="day_removed",
        before={"day": before},
        after={"day": None},
    )
    _announce(calendar, actor, "day")


# --- Holiday sets -----------------------------------------------------------------------------


@transaction.atomic
def create_holiday_set(
    *, actor: Any, key: str, name: str, first_year: int, last_year: int | None = None
) -> HolidaySet:
    """A new (regional or company-wide) holiday set, covering ``first_year``..``last_year``."""
    _require_all(actor, ADD_HOLIDAY_SET)
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise DomainError(
            "invalid_key",
            field="key",
            message=_("Use lowercase letters, digits, hyphens and underscores (at most 40)."),
        )
    if HolidaySet.objects.filter(key=key).exists():
        raise DomainError("duplicate_key", field="key", message=_("This key is already used."))
    first = _year(first_year, "first_year")
    last = _year(last_year if last_year is not None else first, "last_year")
    if last < first:
        raise DomainError(
            "years_reversed", field="last_year", message=_("The last year comes before the first.")
        )
    holiday_set = HolidaySet.objects.create(
        key=key, name=_text(name, "name", max_length=120), first_year=first, last_year=last
    )
    audit.record(
        actor=actor,
        action=Action.CREATED,
        obj=holiday_set,
        after={"key": key, "name": holiday_set.name, "first_year": first, "last_year": last},
    )
    outbox.emit("holiday_set.created", holiday_set, actor=actor)
    return holiday_set


def _clean_set_days(year: int, days: Any) -> list[tuple[date, str, str]]:
    if not isinstance(days, list | tuple):
        raise DomainError("invalid", field="days", message=_("Enter a list of days."))
    cleaned: dict[date, tuple[date, str, str]] = {}
    for index, item in enumerate(days):
        where = f"days[{index}]"
        if not isinstance(item, dict):
            raise DomainError("invalid", field=where, message=_("Enter a date and a kind."))
        value = item.get("date")
        try:
            day = value if isinstance(value, date) else date.fromisoformat(str(value))
        except ValueError:
            day = None
        if day is None:
            raise DomainError(
                "invalid_date", field=f"{where}.date", message=_("Enter a date as YYYY-MM-DD.")
            )
        if day.year != year:
            raise DomainError(
                "date_outside_year",
                field=f"{where}.date",
                message=_("This date is not in %(year)s."),
                params={"year": year},
            )
        kind = item.get("kind")
        if kind not in (DayKind.HOLIDAY, DayKind.WORKDAY):
            raise DomainError(
                "invalid_choice",
                field=f"{where}.kind",
                message=_("Choose one of: %(expected)s."),
                params={"expected": "holiday, workday"},
            )
        if day in cleaned:
            raise DomainError(
                "duplicate_date", field=f"{where}.date", message=_("This date is listed twice.")
            )
        name = _text(item.get("name", ""), f"{where}.name", max_length=120, required=False)
        cleaned[day] = (day, str(kind), name)
    return sorted(cleaned.values())


@transaction.atomic
def publish_holiday_year(
    *, actor: Any, holiday_set: HolidaySet, year: int, days: Any, source: str = ""
) -> HolidaySet:
    """Load (or correct) one year of a holiday set: its holidays and make-up workdays.

    The year must already be covered or be the next one (no gaps); afterwards the set covers
    it, and every calendar that follows the set is announced as changed.
    """
    _require_all(actor, CHANGE_HOLIDAY_SET)
    HolidaySet.objects.select_for_update().filter(pk=holiday_set.pk).values_list("pk").get()
    holiday_set.refresh_from_db()
    year = _year(year)
    if not holiday_set.first_year - 1 <= year <= holiday_set.last_year + 1:
        raise DomainError(
            "year_not_adjacent",
            field="year",
            message=_("Add years without gaps: %(first)s to %(last)s are possible."),
            params={"first": holiday_set.first_year - 1, "last": holiday_set.last_year + 1},
        )
    cleaned = _clean_set_days(year, days)
    previous = list(
        HolidaySetDay.objects.filter(holiday_set=holiday_set, date__year=year)
        .order_by("date")
        .values_list("date", "kind", "name")
    )
    HolidaySetDay.objects.filter(holiday_set=holiday_set, date__year=year).delete()
    HolidaySetDay.objects.bulk_create(
        [
            HolidaySetDay(holiday_set=holiday_set, date=day, kind=kind, name=name)
            for day, kind, name in cleaned
        ]
    )
    fields = ["version", "updated_at"]
    if year > holiday_set.last_year:
        holiday_set.last_year = year
        fields.append("last_year")
    if year < holiday_set.first_year:
        holiday_set.first_year = year
        fields.append("first_year")
    if source:
        holiday_set.source = _text(source, "source", max_length=200)
        fields.append("source")
    holiday_set.version += 1
    holiday_set.save(update_fields=fields)
    audit.record(
        actor=actor,
        action=Action.UPDATED,
        obj=holiday_set,
        verb="year_published",
        before={"year": year, "days": _plain_days(previous)},
        after={"year": year, "days": _plain_days(cleaned)},
    )
    outbox.emit("holiday_set.changed", holiday_set, actor=actor, payload={"year": year})
    for calendar in Calendar.objects.filter(holiday_set=holiday_set).order_by("pk"):
        # A new version: every process's cached copy of the calendar is stale now.
        calendar.version += 1
        calendar.save(update_fields=["version", "updated_at"])
        _announce(calendar, actor, "holiday_set")
    return holiday_set


def _plain_days(days: Iterable[tuple[date, str, str]]) -> list[list[str]]:
    return [[day.isoformat(), kind, name] for day, kind, name in days]


def package_years() -> dict[int, list[dict[str, Any]]]:
    """The schedule chinese-calendar knows, per year, in the shape publish_holiday_year takes."""
    import chinese_calendar

    years: dict[int, list[dict[str, Any]]] = {}
    for kind, table in (
        (DayKind.HOLIDAY, chinese_calendar.holidays),
        (DayKind.WORKDAY, chinese_calendar.workdays),
    ):
        for day, name in table.items():
            years.setdefault(day.year, []).append(
                {"date": day, "kind": str(kind), "name": str(name)}
            )
    return dict(sorted(years.items()))
