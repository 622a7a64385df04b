"""``/api/v1/calendars`` and ``/api/v1/holiday-sets``: business calendars, their dated
exceptions, deadline computation with its explanation, and the yearly holiday schedules."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from ninja import Field, Query, Router, Schema, Status

from aftersales.accounts import authz
from aftersales.accounts import selectors as accounts_selectors
from aftersales.api.common import PageOut, PreconditionFailed, etag_of, expected_version
from aftersales.api.pagination import paginate
from aftersales.core.errors import DomainError
from aftersales.sla import businesstime, policies, reports, selectors, services, timers
from aftersales.sla.models import Calendar, CalendarDay, DayKind, HolidaySet, Policy, TicketSla

router = Router(tags=["calendars"])

MAX_COMPUTE_MINUTES = 60 * 24 * 366


# --- Schemas ----------------------------------------------------------------------------------


class IntervalIO(Schema):
    start: str = Field(..., examples=["09:00"])
    end: str = Field(..., examples=["12:00"])


class CalendarOut(Schema):
    id: int
    name: str
    time_zone: str
    business_line_id: int | None
    team_id: int | None
    is_24x7: bool
    holiday_set_id: int | None
    is_active: bool
    hours: dict[str, list[IntervalIO]]
    covered_until: date | None
    version: int
    created_at: datetime
    updated_at: datetime


class CalendarIn(Schema):
    name: str = Field(..., max_length=120)
    time_zone: str = "Asia/Shanghai"
    business_line_id: int | None = None
    team_id: int | None = None
    is_24x7: bool = False
    holiday_set_id: int | None = None
    is_active: bool = True
    hours: dict[str, list[IntervalIO]] = Field(
        default_factory=dict, description="Weekday (0 is Monday) to intervals."
    )


class CalendarPatch(Schema):
    name: str | None = Field(None, max_length=120)
    time_zone: str | None = None
    business_line_id: int | None = None
    team_id: int | None = None
    is_24x7: bool | None = None
    holiday_set_id: int | None = None
    is_active: bool | None = None
    hours: dict[str, list[IntervalIO]] | None = None


class CalendarQuery(Schema):
    business_line: int | None = None
    team: int | None = None
    is_active: bool | None = None
    cursor: str | None = None
    limit: int | None = None


class DayOut(Schema):
    id: int
    date: date
    kind: str
    name: str
    intervals: list[IntervalIO]


class DayIn(Schema):
    date: date
    kind: DayKind
    name: str = Field("", max_length=120)
    intervals: list[IntervalIO] = Field(default_factory=list)


class ComputeQuery(Schema):
    start: datetime = Field(..., description="An aware instant, e.g. 2026-09-30T17:30:00+08:00.")
    minutes: int = Field(..., ge=0, le=MAX_COMPUTE_MINUTES)


class StepOut(Schema):
    kind: str
    first: date
    last: date
    name: str
    minutes: int
    start: str
    end: str


class ComputeOut(Schema):
    calendar_id: int
    start: datetime
    minutes: int
    deadline: datetime
    deadline_local: datetime
    explanation: str
    explanations: dict[str, str]
    steps: list[StepOut]


class HolidaySetOut(Schema):
    id: int
    key: str
    name: str
    first_year: int
    last_year: int
    source: str
    version: int


class HolidaySetIn(Schema):
    key: str = Field(..., max_length=40)
    name: str = Field(..., max_length=120)
    first_year: int
    last_year: int | None = None


class HolidayDayIO(Schema):
    date: date
    kind: str = Field(..., description="holiday or workday (a make-up workday, 调休).")
    name: str = Field("", max_length=120)


class YearIn(Schema):
    year: int
    days: list[HolidayDayIO]
    source: str = Field("", max_length=200)


class YearOut(Schema):
    year: int
    days: list[HolidayDayIO]


# --- Helpers ----------------------------------------------------------------------------------


def calendar_out(calendar: Calendar) -> dict[str, Any]:
    return {
        "id": calendar.pk,
        "name": calendar.name,
        "time_zone": calendar.time_zone,
        "business_line_id": calendar.business_line_id,
        "team_id": calendar.team_id,
        "is_24x7": calendar.is_24x7,
        "holiday_set_id": calendar.holiday_set_id,
        "is_active": calendar.is_active,
        "hours": services.hours_of(calendar),
        "covered_until": selectors.coverage_end(calendar),
        "version": calendar.version,
        "created_at": calendar.created_at,
        "updated_at": calendar.updated_at,
    }


def day_out(day: CalendarDay) -> dict[str, Any]:
    return {
        "id": day.pk,
        "date": day.date,
        "kind": day.kind,
        "name": day.name,
        "intervals": [
            {"start": services.format_time(a), "end": services.format_time(b)}
            for a, b in day.intervals
        ],
    }


def _calendar(request: HttpRequest, calendar_id: int) -> Calendar:
    return get_object_or_404(selectors.calendars_visible_to(request.user), pk=calendar_id)


def _unknown(field: str) -> DomainError:
    return DomainError(
        "unknown_reference",
        field=field,
        message=_("One or more of the referenced objects do not exist."),
    )


def _owner(request: HttpRequest, line_id: int | None, team_id: int | None) -> dict[str, Any]:
    owner: dict[str, Any] = {"business_line": None, "team": None}
    if line_id is not None:
        line = accounts_selectors.business_lines_visible_to(request.user).filter(pk=line_id)
        owner["business_line"] = line.first() or _raise(_unknown("business_line_id"))
    if team_id is not None:
        team = accounts_selectors.teams_visible_to(request.user).filter(pk=team_id)
        owner["team"] = team.first() or _raise(_unknown("team_id"))
    return owner


def _holiday_set(request: HttpRequest, set_id: int | None) -> HolidaySet | None:
    if set_id is None:
        return None
    found = selectors.holiday_sets_visible_to(request.user).filter(pk=set_id).first()
    return found or _raise(_unknown("holiday_set_id"))


def _raise(error: Exception) -> Any:
    raise error


def _hours(hours: dict[str, list[IntervalIO]]) -> dict[str, list[dict[str, str]]]:
    return {day: [interval.dict() for interval in items] for day, items in hours.items()}


# --- Calendars --------------------------------------------------------------------------------


@router.get("/calendars", response=PageOut[CalendarOut])
def list_calendars(request: HttpRequest, filters: Query[CalendarQuery]) -> dict[str, Any]:
    calendars = selectors.calendars_visible_to(request.user)
    if filters.business_line is not None:
        calendars = calendars.filter(business_line_id=filters.business_line)
    if filters.team is not None:
        calendars = calendars.filter(team_id=filters.team)
    if filters.is_active is not None:
        calendars = calendars.filter(is_active=filters.is_active)
    page = paginate(
        calendars.prefetch_related("intervals"), cursor=filters.cursor, limit=filters.limit
    )
    return {"items": [calendar_out(c) for c in page.items], "next_cursor": page.next_cursor}


@router.post("/calendars", response={201: CalendarOut})
def create_calendar(request: HttpRequest, payload: CalendarIn) -> Status[dict[str, Any]]:
    # Refuse people who may add no calendar before telling them which lines and teams exist.
    authz.require_permission(request.user, services.ADD_CALENDAR)
    owner = _owner(request, payload.business_line_id, payload.team_id)
    calendar = services.create_calendar(
        actor=request.user,
        name=payload.name,
        time_zone=payload.time_zone,
        is_24x7=payload.is_24x7,
        holiday_set=_holiday_set(request, payload.holiday_set_id),
        hours=_hours(payload.hours),
        is_active=payload.is_active,
        **owner,
    )
    return Status(201, calendar_out(calendar))


@router.get("/calendars/{calendar_id}", response=CalendarOut)
def get_calendar(request: HttpRequest, calendar_id: int, response: HttpResponse) -> dict[str, Any]:
    calendar = _calendar(request, calendar_id)
    response["ETag"] = etag_of(calendar.version)
    return calendar_out(calendar)


@router.patch(
    "/calendars/{calendar_id}",
    response=CalendarOut,
    summary="Change a calendar (send If-Match to refuse stale edits)",
)
def update_calendar(
    request: HttpRequest, calendar_id: int, payload: CalendarPatch, response: HttpResponse
) -> dict[str, Any]:
    calendar = _calendar(request, calendar_id)
    version = expected_version(request)
    if version is not None and version != calendar.version:
        raise PreconditionFailed("version_mismatch", field="If-Match")
    sent = payload.dict(exclude_unset=True)
    changes: dict[str, Any] = {}
    for field in ("name", "time_zone", "is_24x7", "is_active"):
        if field in sent:
            if sent[field] is None:
                raise DomainError(
                    "null_not_allowed", field=field, message=_("This field cannot be null.")
                )
            changes[field] = sent[field]
    if "business_line_id" in sent or "team_id" in sent:
        owner = _owner(request, sent.get("business_line_id"), sent.get("team_id"))
        changes.update(owner)
    if "holiday_set_id" in sent:
        changes["holiday_set"] = _holiday_set(request, sent["holiday_set_id"])
    if "hours" in sent and payload.hours is not None:
        changes["hours"] = _hours(payload.hours)
    calendar = services.update_calendar(actor=request.user, calendar=calendar, changes=changes)
    response["ETag"] = etag_of(calendar.version)
    return calendar_out(calendar)


@router.delete("/calendars/{calendar_id}", response={204: None})
def delete_calendar(request: HttpRequest, calendar_id: int) -> Status[None]:
    services.delete_calendar(actor=request.user, calendar=_calendar(request, calendar_id))
    return Status(204, None)


@router.get("/calendars/{calendar_id}/days", response=list[DayOut])
def list_days(request: HttpRequest, calendar_id: int) -> list[dict[str, Any]]:
    calendar = _calendar(request, calendar_id)
    return [day_out(day) for day in selectors.days_of(calendar)]


@router.put("/calendars/{calendar_id}/days", response=DayOut)
def set_day(request: HttpRequest, calendar_id: int, payload: DayIn) -> dict[str, Any]:
    """Add or replace the dated exception of ``date`` (one per date)."""
    calendar = _calendar(request, calendar_id)
    day = services.set_calendar_day(
        actor=request.user,
        calendar=calendar,
        day=payload.date,
        kind=payload.kind,
        name=payload.name,
        intervals=[interval.dict() for interval in payload.intervals],
    )
    return day_out(day)


@router.delete("/calendars/{calendar_id}/days/{day}", response={204: None})
def delete_day(request: HttpRequest, calendar_id: int, day: date) -> Status[None]:
    calendar = _calendar(request, calendar_id)
    found = selectors.days_of(calendar).filter(date=day).first()
    if found is None:
        raise Http404
    services.delete_calendar_day(actor=request.user, calendar=calendar, day=found)
    return Status(204, None)


@router.get("/calendars/{calendar_id}/compute", response=ComputeOut)
def compute(request: HttpRequest, calendar_id: int, query: Query[ComputeQuery]) -> dict[str, Any]:
    """The deadline ``minutes`` business minutes after ``start``, with its explanation."""
    calendar = _calendar(request, calendar_id)
    if query.start.tzinfo is None:
        raise DomainError(
            "naive_datetime",
            field="start",
            message=_("Give the start with its UTC offset, e.g. 2026-09-30T17:30:00+08:00."),
        )
    explanation = businesstime.explain_deadline(calendar, query.start, query.minutes)
    return {
        "calendar_id": calendar.pk,
        "start": explanation.start,
        "minutes": query.minutes,
        "deadline": explanation.deadline.astimezone(UTC),
        "deadline_local": explanation.deadline,
        "explanation": explanation.render(),
        "explanations": {code: explanation.render(code) for code in ("en", "zh-hans")},
        "steps": [step.as_dict() for step in explanation.steps],
    }


# --- Holiday sets -----------------------------------------------------------------------------


@router.get("/holiday-sets", response=list[HolidaySetOut])
def list_holiday_sets(request: HttpRequest) -> list[HolidaySet]:
    authz.require_permission(request.user, selectors.VIEW_HOLIDAY_SET)
    return list(selectors.holiday_sets_visible_to(request.user))


@router.post("/holiday-sets", response={201: HolidaySetOut})
def create_holiday_set(request: HttpRequest, payload: HolidaySetIn) -> Status[HolidaySet]:
    holiday_set = services.create_holiday_set(actor=request.user, **payload.dict())
    return Status(201, holiday_set)


def _set(request: HttpRequest, set_id: int) -> HolidaySet:
    return get_object_or_404(selectors.holiday_sets_visible_to(request.user), pk=set_id)


@router.get("/holiday-sets/{set_id}", response=HolidaySetOut)
def get_holiday_set(request: HttpRequest, set_id: int) -> HolidaySet:
    return _set(request, set_id)


@router.get("/holiday-sets/{set_id}/years/{year}", response=YearOut)
def get_holiday_year(request: HttpRequest, set_id: int, year: int) -> dict[str, Any]:
    holiday_set = _set(request, set_id)
    days = selectors.holiday_days_of(holiday_set, year)
    return {"year": year, "days": list(days.values("date", "kind", "name"))}


@router.put("/holiday-sets/{set_id}/years/{year}", response=HolidaySetOut)
def publish_holiday_year(
    request: HttpRequest, set_id: int, year: int, payload: YearIn
) -> HolidaySet:
    """Load or correct one year's schedule, e.g. next year's once the State Council publishes
    it. The body's ``year`` must match the path."""
    holiday_set = _set(request, set_id)
    if payload.year != year:
        raise DomainError(
            "year_mismatch", field="year", message=_("The year differs from the URL.")
        )
    return services.publish_holiday_year(
        actor=request.user,
        holiday_set=holiday_set,
        year=year,
        days=[day.dict() for day in payload.days],
        source=payload.source,
    )


# --- SLA policies -----------------------------------------------------------------------------


class TargetIO(Schema):
    metric: str = Field(..., examples=["resolution"])
    priority: int | None = Field(None, description="1 low … 4 urgent; empty: any priority.")
    minutes: int
    business_time: bool = True
    warn_before_minutes: int = 0


class PolicyOut(Schema):
    id: int
    name: str
    description: str
    business_line_ids: list[int]
    position: int
    condition: dict[str, Any] | None
    condition_cel: str
    calendar_id: int | None
    pause_on_pending: bool
    is_active: bool
    targets: list[TargetIO]
    version: int
    created_at: datetime
    updated_at: datetime


class PolicyIn(Schema):
    name: str = Field(..., max_length=120)
    description: str = ""
    business_line_ids: list[int] = Field(default_factory=list)
    position: int | None = None
    condition: dict[str, Any] | None = None
    calendar_id: int | None = None
    pause_on_pending: bool = True
    is_active: bool = True
    targets: list[TargetIO] = Field(default_factory=list)


class PolicyPatch(Schema):
    name: str | None = Field(None, max_length=120)
    description: str | None = None
    business_line_ids: list[int] | None = None
    position: int | None = None
    condition: dict[str, Any] | None = None
    calendar_id: int | None = None
    pause_on_pending: bool | None = None
    is_active: bool | None = None
    targets: list[TargetIO] | None = None


def policy_out(policy: Policy) -> dict[str, Any]:
    return {
        "id": policy.pk,
        "name": policy.name,
        "description": policy.description,
        "business_line_ids": sorted(line.pk for line in policy.business_lines.all()),
        "position": policy.position,
        "condition": policy.condition,
        "condition_cel": policy.condition_cel,
        "calendar_id": policy.calendar_id,
        "pause_on_pending": policy.pause_on_pending,
        "is_active": policy.is_active,
        "targets": policies.targets_of(policy),
        "version": policy.version,
        "created_at": policy.created_at,
        "updated_at": policy.updated_at,
    }


def _policy(request: HttpRequest, policy_id: int) -> Policy:
    return get_object_or_404(selectors.policies_visible_to(request.user), pk=policy_id)


def _policy_values(request: HttpRequest, sent: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field in ("name", "description", "position", "pause_on_pending", "is_active"):
        if field in sent:
            if sent[field] is None:
                raise DomainError(
                    "null_not_allowed", field=field, message=_("This field cannot be null.")
                )
            values[field] = sent[field]
    if "condition" in sent:
        values["condition"] = sent["condition"]
    if "targets" in sent:
        values["targets"] = sent["targets"] or []
    if "business_line_ids" in sent:
        ids = sent["business_line_ids"] or []
        lines = accounts_selectors.business_lines_visible_to(request.user).filter(pk__in=ids)
        if lines.count() != len(set(ids)):
            raise _unknown("business_line_ids")
        values["business_lines"] = list(lines)
    if "calendar_id" in sent:
        calendar_id = sent["calendar_id"]
        values["calendar"] = (
            None
            if calendar_id is None
            else selectors.calendars_visible_to(request.user).filter(pk=calendar_id).first()
            or _raise(_unknown("calendar_id"))
        )
    return values


@router.get("/sla-policies", response=list[PolicyOut], tags=["sla"])
def list_policies(request: HttpRequest) -> list[dict[str, Any]]:
    authz.require_permission(request.user, policies.VIEW_POLICY)
    return [policy_out(p) for p in selectors.policies_visible_to(request.user)]


@router.post("/sla-policies", response={201: PolicyOut}, tags=["sla"])
def create_policy(request: HttpRequest, payload: PolicyIn) -> Status[dict[str, Any]]:
    authz.require_permission(request.user, policies.ADD_POLICY)
    sent = payload.dict()
    if sent["position"] is None:
        del sent["position"]
    policy = policies.create_policy(actor=request.user, values=_policy_values(request, sent))
    return Status(201, policy_out(policy))


@router.get("/sla-policies/{policy_id}", response=PolicyOut, tags=["sla"])
def get_policy(request: HttpRequest, policy_id: int, response: HttpResponse) -> dict[str, Any]:
    policy = _policy(request, policy_id)
    response["ETag"] = etag_of(policy.version)
    return policy_out(policy)


@router.patch(
    "/sla-policies/{policy_id}",
    response=PolicyOut,
    tags=["sla"],
    summary="Change a policy (send If-Match to refuse stale edits)",
)
def update_policy(
    request: HttpRequest, policy_id: int, payload: PolicyPatch, response: HttpResponse
) -> dict[str, Any]:
    policy = _policy(request, policy_id)
    version = expected_version(request)
    if version is not None and version != policy.version:
        raise PreconditionFailed("version_mismatch", field="If-Match")
    values = _policy_values(request, payload.dict(exclude_unset=True))
    policy = policies.update_policy(actor=request.user, policy=policy, values=values)
    response["ETag"] = etag_of(policy.version)
    return policy_out(Policy.objects.prefetch_related("business_lines").get(pk=policy.pk))


@router.delete("/sla-policies/{policy_id}", response={204: None}, tags=["sla"])
def delete_policy(request: HttpRequest, policy_id: int) -> Status[None]:
    policies.delete_policy(actor=request.user, policy=_policy(request, policy_id))
    return Status(204, None)


# --- SLA state of a ticket --------------------------------------------------------------------


class SlaTargetOut(Schema):
    id: int
    metric: str
    state: str
    condition: str = Field(
        ...,
        description="ok, warning, breached, paused, met, met_late, stopped or no_deadline "
        "(the holiday schedule of waiting_for_year is not loaded: no due time until it is).",
    )
    started_at: datetime
    due_at: datetime | None
    waiting_for_year: int | None
    warn_at: datetime | None
    paused_minutes: int
    paused_since: datetime | None
    warned_at: datetime | None
    breached_at: datetime | None
    met_at: datetime | None
    business_minutes_left: int | None
    policy_id: int | None
    explanation: str
    computation: dict[str, Any]


class SlaChangeOut(Schema):
    at: datetime
    old_policy: str
    new_policy: str
    reason: str
    changed_fields: list[str]


class TicketSlaOut(Schema):
    ticket_id: int
    policy_id: int | None
    policy: str
    targets: list[SlaTargetOut]
    history: list[SlaChangeOut]


@router.get("/tickets/{ticket_id}/sla", response=TicketSlaOut, tags=["sla"])
def ticket_sla(request: HttpRequest, ticket_id: int) -> dict[str, Any]:
    from django.utils import timezone

    from aftersales.tickets.selectors import tickets_visible_to

    ticket = get_object_or_404(tickets_visible_to(request.user), pk=ticket_id)
    now = timezone.now()
    sla = TicketSla.objects.select_related("policy").filter(ticket_id=ticket.pk).first()
    return {
        "ticket_id": ticket.pk,
        "policy_id": sla.policy_id if sla else None,
        "policy": sla.policy.name if sla and sla.policy else "",
        "targets": [
            {
                "id": t.pk,
                "metric": t.metric,
                "state": t.state,
                "condition": t.condition_at(now),
                "started_at": t.started_at,
                "due_at": t.due_at,
                "waiting_for_year": t.waiting_for_year,
                "warn_at": t.warn_at,
                "paused_minutes": t.paused_minutes,
                "paused_since": t.paused_since,
                "warned_at": t.warned_at,
                "breached_at": t.breached_at,
                "met_at": t.met_at,
                "business_minutes_left": timers.minutes_left(t, now),
                "policy_id": t.policy_id,
                "explanation": timers.explanation_text(t),
                "computation": t.explanation,
            }
            for t in selectors.targets_of_ticket(ticket.pk)
        ],
        "history": [
            {
                "at": c.at,
                "old_policy": c.old_name,
                "new_policy": c.new_name,
                "reason": c.reason,
                "changed_fields": c.changed_fields,
            }
            for c in selectors.changes_of_ticket(ticket.pk)
        ],
    }


# --- Attainment -------------------------------------------------------------------------------


class AttainmentOut(Schema):
    month: date | None
    team: str
    policy: str
    priority: int | None
    metric: str
    total: int = Field(..., description="Clocks that ended (met, or breached).")
    in_time: int
    percent: float | None


class AttainmentExportQuery(Schema):
    format: str = Field("csv", description="csv or xlsx")


@router.get("/sla-attainment", response=list[AttainmentOut], tags=["sla"])
def sla_attainment(request: HttpRequest) -> list[dict[str, Any]]:
    """Clocks that ended per month started, team, policy, priority and metric (tickets you
    may see), newest month first."""
    authz.require_permission(request.user, reports.VIEW_POLICY)
    return [
        {**row, "month": row["month"].date() if row["month"] else None}
        for row in reports.attainment_for(request.user, limit=reports.MAX_ROWS)
    ]


@router.get(
    "/sla-attainment/export",
    response={200: None},
    tags=["sla"],
    summary="The SLA attainment table as CSV or Excel",
)
def export_sla_attainment(
    request: HttpRequest, query: Query[AttainmentExportQuery]
) -> HttpResponse:
    exported = reports.export_attainment(actor=request.user, format=query.format)
    response = HttpResponse(exported.content, content_type=exported.content_type)
    response["Content-Disposition"] = f'attachment; filename="{exported.filename}"'
    return response
