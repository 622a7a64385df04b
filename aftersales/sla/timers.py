"""SLA timers: choosing the policy of a ticket, starting, pausing, resuming and meeting its
targets, and the sweep that fires warnings and breaches.

Everything here runs as a reaction to ticket events (see :func:`on_ticket_event`, an eager
outbox subscriber) or from the periodic sweep; it writes only the sla app's own rows and
emits ``sla.warning`` / ``sla.breached``, which the rule engine turns into escalations.

Time is always the event's time (``event.created_at``), so a reaction delivered late by a
worker computes the same due times as one run at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from aftersales.outbox import services as outbox
from aftersales.sla.businesstime import (
    CalendarNotCovered,
    CalendarSpec,
    Explanation,
    Step,
    add_business_minutes,
    business_minutes_between,
    explain_deadline,
    format_duration,
)
from aftersales.sla.models import (
    Calendar,
    Metric,
    Policy,
    PolicyTarget,
    TicketSla,
    TicketSlaChange,
    TicketSlaTarget,
)

logger = logging.getLogger(__name__)

State = TicketSlaTarget.State
OPEN = (State.ACTIVE, State.PAUSED)
PENDING_CUSTOMER = "pending_customer"
DONE_CATEGORIES = ("solved", "closed")
STARTED_AT_CREATION = (Metric.FIRST_RESPONSE, Metric.RESOLUTION)
# Ticket fields whose change may choose another policy or other targets.
WATCHED = frozenset(
    {
        "priority",
        "ticket_type",
        "business_line",
        "channel",
        "requester",
        "organisation",
        "team",
        "assignee",
        "custom_fields",
        "tags",
        "subject",
        "description",
    }
)


# --- Calendars --------------------------------------------------------------------------------

_specs: dict[tuple[int, int], tuple[float, CalendarSpec]] = {}
SPEC_SECONDS = 300.0


def spec_of(calendar: Calendar) -> CalendarSpec:
    """The loaded calendar, cached per process by (id, version)."""
    from aftersales.sla.selectors import load_calendar

    key = (calendar.pk, calendar.version)
    cached = _specs.get(key)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    # The spec keeps the holiday set's coverage: a deadline that needs a year whose schedule
    # is not loaded raises CalendarNotCovered and the clock waits without a due time (see
    # _compute). Loading a year bumps the version of every calendar following the set.
    spec = load_calendar(calendar)
    _specs[key] = (time.monotonic() + SPEC_SECONDS, spec)
    return spec


def forget_specs() -> None:
    _specs.clear()


def calendar_for(policy: Policy | None, line_id: int | None) -> Calendar | None:
    """The policy's calendar, else the line's (no team), else the default (no owner)."""
    if policy is not None and policy.calendar_id is not None:
        return Calendar.objects.select_related("holiday_set").get(pk=policy.calendar_id)
    owners = Q(business_line__isnull=True)
    if line_id:
        owners |= Q(business_line_id=line_id)
    return (
        Calendar.objects.filter(owners, is_active=True, team__isnull=True)
        .select_related("holiday_set")
        .order_by(F("business_line_id").asc(nulls_last=True), "pk")
        .first()
    )


# --- Arithmetic -------------------------------------------------------------------------------


def _floor(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def _spec(target: TicketSlaTarget) -> CalendarSpec | None:
    if not target.is_business_time or target.calendar_id is None:
        return None
    calendar = target.calendar or Calendar.objects.get(pk=target.calendar_id)
    return spec_of(calendar)


def _add(spec: CalendarSpec | None, start: datetime, minutes: int) -> datetime:
    if spec is None:
        return _floor(start) + timedelta(minutes=minutes)
    return add_business_minutes(spec, start, minutes)


def _between(spec: CalendarSpec | None, start: datetime, end: datetime) -> int:
    if spec is None:
        return max(0, int((_floor(end) - _floor(start)).total_seconds() // 60))
    return max(0, business_minutes_between(spec, start, end))


def _compute(target: TicketSlaTarget) -> None:
    """Set due, warning and next-check times and the explanation from the target's fields.

    A deadline (or a pause) that needs a year whose holiday schedule is not loaded is not
    guessed: the clock keeps no due time and waits for that year (``waiting_for_year``), the
    admins are told once per calendar and year, and loading the year recomputes it.
    """
    spec = _spec(target)
    try:
        _settle_pauses(target, spec)
        total = target.minutes + target.paused_minutes
        if spec is not None:
            data = explain_deadline(spec, target.started_at, total).as_dict()
            due_at = add_business_minutes(spec, target.started_at, total)
        else:
            due_at = _add(None, target.started_at, total)
            data = {
                "calendar": "",
                "time_zone": "UTC",
                "start": _floor(target.started_at).isoformat(),
                "minutes": total,
                "deadline": due_at.isoformat(),
                "steps": [],
            }
        warn_at = None
        if target.warn_before_minutes and target.warn_before_minutes < target.minutes:
            # The warning comes the lead time before the due time, counted like the target.
            warn_at = _add(spec, target.started_at, total - target.warn_before_minutes)
    except CalendarNotCovered as missing:
        _wait_for_schedule(target, spec, missing)
        return
    target.due_at = due_at
    target.warn_at = warn_at
    target.waiting_for_year = None
    data["target_minutes"] = target.minutes
    data["business_time"] = spec is not None
    data["pauses"] = target.pauses
    target.explanation = data
    _schedule(target)


def _settle_pauses(target: TicketSlaTarget, spec: CalendarSpec | None) -> None:
    """Count the pauses whose length could not be counted when they ended (they reached a
    year whose holiday schedule was not loaded); raises CalendarNotCovered while it still is."""
    if not any(pause.get("minutes") is None for pause in target.pauses):
        return
    pauses, added = [], 0
    for pause in target.pauses:
        if pause.get("minutes") is None:
            minutes = _between(
                spec, datetime.fromisoformat(pause["from"]), datetime.fromisoformat(pause["to"])
            )
            pause = {**pause, "minutes": minutes}
            added += minutes
        pauses.append(pause)
    # Only once every pause could be counted, so a failure leaves the clock as it was.
    target.pauses = pauses
    target.paused_minutes += added


def _wait_for_schedule(
    target: TicketSlaTarget, spec: CalendarSpec | None, missing: CalendarNotCovered
) -> None:
    """Leave the clock without a due time until the year ``missing`` names is loaded."""
    from aftersales.sla import schedules

    year = int(str(missing.params["year"]))
    target.due_at = None
    target.warn_at = None
    target.next_check_at = None
    target.waiting_for_year = year
    target.explanation = {
        "calendar": spec.name if spec is not None else "",
        "time_zone": spec.time_zone if spec is not None else "UTC",
        "start": _floor(target.started_at).isoformat(),
        "target_minutes": target.minutes,
        "business_time": spec is not None,
        "no_deadline": {
            "year": year,
            "date": missing.params["date"],
            "covered_until": missing.params["last"],
        },
        "pauses": target.pauses,
    }
    if target.calendar_id is not None:
        schedules.note_missing(calendar_id=target.calendar_id, year=year)


def _schedule(target: TicketSlaTarget) -> None:
    if target.state != State.ACTIVE or target.breached_at is not None or target.due_at is None:
        target.next_check_at = None
    elif target.warned_at is None and target.warn_at is not None:
        target.next_check_at = min(target.warn_at, target.due_at)
    else:
        target.next_check_at = target.due_at


def explanation_text(target: TicketSlaTarget, language: str | None = None) -> str:
    """The due time's computation in plain words, pauses included."""
    if language is not None:
        with translation.override(language):
            return explanation_text(target)
    data = target.explanation or {}
    if not data:
        return ""
    pauses = data.get("pauses") or []
    if data.get("no_deadline"):
        text = no_deadline_text(data["no_deadline"]["year"])
        if data.get("calendar"):
            text += "; " + _("calendar %(name)s") % {"name": data["calendar"]}
        text += "; " + _("%(duration)s from %(start)s") % {
            "duration": format_duration(data["target_minutes"]),
            "start": datetime.fromisoformat(data["start"])
            .astimezone(_zone(data))
            .strftime("%Y-%m-%d %H:%M"),
        }
    elif data.get("business_time"):
        explanation = Explanation(
            calendar=data["calendar"],
            time_zone=data["time_zone"],
            start=datetime.fromisoformat(data["start"]),
            minutes=data["target_minutes"],
            deadline=datetime.fromisoformat(data["deadline"]),
            steps=tuple(
                Step(
                    kind=s["kind"],
                    first=datetime.fromisoformat(s["first"]).date(),
                    last=datetime.fromisoformat(s["last"]).date(),
                    name=s["name"],
                    minutes=s["minutes"],
                    start=s["start"],
                    end=s["end"],
                )
                for s in data["steps"]
            ),
        )
        text = explanation.render()
        if data.get("calendar"):
            text += "; " + _("calendar %(name)s") % {"name": data["calendar"]}
    else:
        deadline = datetime.fromisoformat(data["deadline"])
        start = datetime.fromisoformat(data["start"])
        text = _("due %(deadline)s: %(duration)s from %(start)s in calendar time (UTC)") % {
            "deadline": deadline.strftime("%Y-%m-%d %H:%M"),
            "duration": format_duration(data["target_minutes"]),
            "start": start.strftime("%Y-%m-%d %H:%M"),
        }
    for pause in pauses:
        if pause.get("minutes") is None:
            text += "; " + _(
                "paused waiting for the customer (%(start)s-%(end)s), counted once the "
                "holiday schedule is loaded"
            ) % {"start": pause["start"], "end": pause["end"]}
            continue
        text += "; " + _("paused %(duration)s waiting for the customer (%(start)s-%(end)s)") % {
            "duration": format_duration(pause["minutes"]),
            "start": pause["start"],
            "end": pause["end"],
        }
    return text


def no_deadline_text(year: int) -> str:
    return _("no deadline: holiday schedule for %(year)s not loaded") % {"year": year}


def _zone(data: dict[str, Any]) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(data.get("time_zone") or "UTC")


# --- Choosing the policy ----------------------------------------------------------------------


def active_policies() -> list[Policy]:
    """The active policies in the order they are tried, with their lines and targets."""
    return list(
        Policy.objects.filter(is_active=True)
        .prefetch_related("business_lines", "targets")
        .order_by("position", "pk")
    )


def choose_policy(ticket: Any, *, policies: Iterable[Policy] | None = None) -> Policy | None:
    """The first active policy (by position) whose lines include the ticket's and whose
    condition holds for the ticket."""
    from aftersales.conditions.activation import ticket_activation
    from aftersales.conditions.compiler import evaluate, program_for

    activation = None
    for policy in policies if policies is not None else active_policies():
        lines = {line.pk for line in policy.business_lines.all()}
        if lines and ticket.business_line_id not in lines:
            continue
        if policy.condition_cel.strip() in ("", "true"):
            return policy
        if activation is None:
            activation = ticket_activation(ticket)
        if evaluate(program_for(policy.condition_cel), activation):
            return policy
    return None


def target_for(policy: Policy, metric: str, priority: int) -> PolicyTarget | None:
    """The policy's target for a metric at a priority (a row for the priority wins over the
    row for any priority)."""
    fallback = None
    for row in policy.targets.all():
        if row.metric != metric:
            continue
        if row.priority == priority:
            return row
        if row.priority is None:
            fallback = row
    return fallback


# --- Starting, re-choosing --------------------------------------------------------------------


def _new_target(
    ticket: Any, policy: Policy, row: PolicyTarget, calendar: Calendar | None, at: datetime
) -> TicketSlaTarget:
    target = TicketSlaTarget(
        ticket_id=ticket.pk,
        policy=policy,
        metric=row.metric,
        minutes=row.minutes,
        is_business_time=row.is_business_time and calendar is not None,
        warn_before_minutes=row.warn_before_minutes,
        calendar=calendar,
        state=State.ACTIVE,
        started_at=at,
    )
    _compute(target)
    return target


def _load(ticket_id: int) -> Any:
    from aftersales.tickets.models import Ticket

    return Ticket.objects.select_related("requester__tier").filter(pk=ticket_id).first()


@transaction.atomic
def start_ticket(
    ticket: Any,
    *,
    at: datetime,
    event_id: str = "",
    reason: str = "created",
    clocks_from: datetime | None = None,
) -> TicketSla:
    """Choose the policy of a new ticket and start its first-response and resolution clocks
    (the ticket is pending on the customer already: they start paused). A backfill passes
    ``clocks_from`` (the creation) and its own ``reason``; the choice is recorded at ``at``."""
    existing = TicketSla.objects.filter(ticket_id=ticket.pk).first()
    if existing is not None:
        return existing
    policy = choose_policy(ticket)
    sla = TicketSla.objects.create(
        ticket_id=ticket.pk,
        policy=policy,
        policy_version=policy.version if policy else 0,
        priority=ticket.priority,
        chosen_at=at,
    )
    TicketSlaChange.objects.create(
        ticket_id=ticket.pk,
        at=at,
        new_policy=policy,
        new_name=policy.name if policy else "",
        reason=reason,
        event_id=event_id,
    )
    if policy is None:
        return sla
    calendar = calendar_for(policy, ticket.business_line_id)
    for metric in STARTED_AT_CREATION:
        row = target_for(policy, metric, ticket.priority)
        if row is not None:
            target = _new_target(ticket, policy, row, calendar, clocks_from or at)
            target.save()
    if ticket.status_category == PENDING_CUSTOMER and policy.pause_on_pending:
        pause_ticket(ticket.pk, at=at)
    return sla


@transaction.atomic
def rechoose(
    ticket: Any,
    *,
    at: datetime,
    changed: list[str],
    event_id: str = "",
    reason: str | None = None,
    policies: list[Policy] | None = None,
) -> TicketSla | None:
    """Choose the policy again after the ticket's attributes changed; when the policy or the
    priority differ, recompute the open clocks (their start and pauses kept) and record why."""
    sla = TicketSla.objects.select_for_update().filter(ticket_id=ticket.pk).first()
    if sla is None:
        return start_ticket(ticket, at=at, event_id=event_id)
    policy = choose_policy(ticket, policies=policies)
    same = (
        (policy.pk if policy else None) == sla.policy_id
        and sla.priority == ticket.priority
        and (policy.version if policy else 0) == sla.policy_version
    )
    if same:
        return sla
    old = Policy.objects.filter(pk=sla.policy_id).first() if sla.policy_id else None
    TicketSlaChange.objects.create(
        ticket_id=ticket.pk,
        at=at,
        old_policy=old,
        new_policy=policy,
        old_name=old.name if old else "",
        new_name=policy.name if policy else "",
        reason=reason or _why(sla, policy, ticket),
        changed_fields=sorted(changed),
        event_id=event_id,
    )
    sla.policy = policy
    sla.policy_version = policy.version if policy else 0
    sla.priority = ticket.priority
    sla.chosen_at = at
    sla.save()
    calendar = calendar_for(policy, ticket.business_line_id) if policy else None
    open_targets = list(
        TicketSlaTarget.objects.select_for_update().filter(ticket_id=ticket.pk, state__in=OPEN)
    )
    for target in open_targets:
        row = target_for(policy, target.metric, ticket.priority) if policy else None
        if row is None:
            target.state = State.STOPPED
            target.next_check_at = None
            target.save(update_fields=["state", "next_check_at"])
            continue
        target.policy = policy
        target.minutes = row.minutes
        target.warn_before_minutes = row.warn_before_minutes
        target.calendar = calendar
        target.is_business_time = row.is_business_time and calendar is not None
        _compute(target)
        target.save()
    if policy is not None and not TicketSlaTarget.objects.filter(ticket_id=ticket.pk).exists():
        # A ticket that had no policy gets its clocks from its creation.
        for metric in STARTED_AT_CREATION:
            row = target_for(policy, metric, ticket.priority)
            if row is not None:
                _new_target(ticket, policy, row, calendar, ticket.created_at).save()
    return sla


def _why(sla: TicketSla, policy: Policy | None, ticket: Any) -> str:
    if sla.policy_id != (policy.pk if policy else None):
        return "attributes_changed"
    return "priority_changed" if sla.priority != ticket.priority else "policy_edited"


def start_target(ticket: Any, metric: str, *, at: datetime) -> TicketSlaTarget | None:
    """Start the clock of ``metric`` (e.g. ``next_response`` after a customer's reply, or a
    named target such as ``onsite_arrival`` from a later module) if the policy in force has a
    target for it and none of that metric is running."""
    sla = TicketSla.objects.select_related("policy").filter(ticket_id=ticket.pk).first()
    if sla is None or sla.policy is None:
        return None
    if TicketSlaTarget.objects.filter(ticket_id=ticket.pk, metric=metric, state__in=OPEN).exists():
        return None
    row = target_for(sla.policy, metric, ticket.priority)
    if row is None:
        return None
    calendar = calendar_for(sla.policy, ticket.business_line_id)
    target = _new_target(ticket, sla.policy, row, calendar, at)
    target.save()
    if ticket.status_category == PENDING_CUSTOMER and sla.policy.pause_on_pending:
        pause_ticket(ticket.pk, at=at)
    return target


def meet_targets(ticket_id: int, metrics: Iterable[str], *, at: datetime) -> int:
    """Mark the open clocks of ``metrics`` met at ``at`` (a paused one is met as it stands)."""
    count = 0
    for target in TicketSlaTarget.objects.select_for_update().filter(
        ticket_id=ticket_id, metric__in=list(metrics), state__in=OPEN
    ):
        _close_pause(target, at)
        target.state = State.MET
        target.met_at = at
        target.next_check_at = None
        target.save()
        count += 1
    return count


def stop_targets(ticket_id: int, metrics: Iterable[str], *, at: datetime) -> int:
    return TicketSlaTarget.objects.filter(
        ticket_id=ticket_id, metric__in=list(metrics), state__in=OPEN
    ).update(state=State.STOPPED, next_check_at=None)


# --- Pauses -----------------------------------------------------------------------------------


def _local(target: TicketSlaTarget, moment: datetime) -> str:
    zone = (target.explanation or {}).get("time_zone") or "UTC"
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo(zone)).strftime("%m-%d %H:%M")


def _close_pause(target: TicketSlaTarget, at: datetime) -> None:
    """End a running pause at ``at``: add its business (or calendar) minutes to the clock."""
    if target.paused_since is None:
        return
    spec = _spec(target)
    minutes: int | None
    try:
        minutes = _between(spec, target.paused_since, at)
    except CalendarNotCovered:
        minutes = None  # counted by _compute once the year's schedule is loaded
    else:
        target.paused_minutes += minutes
    target.pauses = [
        *target.pauses,
        {
            "start": _local(target, target.paused_since),
            "end": _local(target, at),
            "minutes": minutes,
            "from": _floor(target.paused_since).isoformat(),
            "to": _floor(at).isoformat(),
        },
    ]
    target.paused_since = None


def pause_ticket(ticket_id: int, *, at: datetime) -> int:
    """Stop the running clocks of a ticket (it waits for the customer)."""
    count = 0
    for target in TicketSlaTarget.objects.select_for_update().filter(
        ticket_id=ticket_id, state=State.ACTIVE
    ):
        if target.breached_at is not None:
            continue  # already late: waiting does not take the breach back
        target.state = State.PAUSED
        target.paused_since = at
        target.next_check_at = None
        target.save(update_fields=["state", "paused_since", "next_check_at"])
        count += 1
    return count


def resume_ticket(ticket_id: int, *, at: datetime) -> int:
    """Restart paused clocks: the due time moves by exactly the business time paused."""
    count = 0
    for target in TicketSlaTarget.objects.select_for_update().filter(
        ticket_id=ticket_id, state=State.PAUSED
    ):
        _close_pause(target, at)
        target.state = State.ACTIVE
        _compute(target)
        target.save()
        count += 1
    return count


def reopen_resolution(ticket_id: int, *, at: datetime) -> bool:
    """A solved ticket is open again: its last met resolution clock runs on, the time it
    spent solved counted as a pause."""
    if TicketSlaTarget.objects.filter(
        ticket_id=ticket_id, metric=Metric.RESOLUTION, state__in=OPEN
    ).exists():
        return False
    target = (
        TicketSlaTarget.objects.select_for_update()
        .filter(ticket_id=ticket_id, metric=Metric.RESOLUTION, state=State.MET)
        .order_by("-met_at", "-pk")
        .first()
    )
    if target is None or target.met_at is None:
        return False
    target.paused_since = target.met_at
    _close_pause(target, at)
    target.met_at = None
    target.state = State.ACTIVE
    _compute(target)
    target.save()
    return True


# --- Reactions --------------------------------------------------------------------------------


def on_ticket_event(event: Any) -> None:
    """The outbox subscriber: keep a ticket's clocks in step with what happened to it."""
    payload = event.payload or {}
    ticket_id = payload.get("ticket_id")
    if ticket_id is None:
        return
    at = event.created_at
    topic = event.topic
    with transaction.atomic():
        if topic == "ticket.created":
            ticket = _load(ticket_id)
            if ticket is not None:
                start_ticket(ticket, at=at, event_id=str(event.pk))
            return
        if topic == "ticket.updated":
            changed = [
                name for name in (payload.get("changes") or {}) if name.split(".", 1)[0] in WATCHED
            ]
            if changed:
                ticket = _load(ticket_id)
                if ticket is not None:
                    rechoose(ticket, at=at, changed=changed, event_id=str(event.pk))
            return
        if topic == "ticket.commented":
            _on_comment(event, ticket_id, payload, at)
            return
        if topic == "ticket.status_changed":
            _on_status(ticket_id, payload, at)


def _on_comment(event: Any, ticket_id: int, payload: dict[str, Any], at: datetime) -> None:
    if payload.get("from_customer"):
        if payload.get("status_category") in DONE_CATEGORIES:
            return
        ticket = _load(ticket_id)
        if ticket is not None:
            start_target(ticket, Metric.NEXT_RESPONSE, at=at)
    elif payload.get("is_public") and event.actor_id is not None and not event.cause:
        meet_targets(ticket_id, (Metric.FIRST_RESPONSE, Metric.NEXT_RESPONSE), at=at)


def _pauses_on_pending(ticket_id: int) -> bool:
    sla = TicketSla.objects.select_related("policy").filter(ticket_id=ticket_id).first()
    return bool(sla and sla.policy and sla.policy.pause_on_pending)


def _on_status(ticket_id: int, payload: dict[str, Any], at: datetime) -> None:
    category = payload.get("status_category")
    if category in DONE_CATEGORIES:
        meet_targets(ticket_id, (Metric.RESOLUTION,), at=at)
        stop_targets(ticket_id, (Metric.FIRST_RESPONSE, Metric.NEXT_RESPONSE), at=at)
        # Named targets (on-site arrival, …) are the business of the modules that own them.
        return
    reopen_resolution(ticket_id, at=at)
    if category == PENDING_CUSTOMER:
        if _pauses_on_pending(ticket_id):
            pause_ticket(ticket_id, at=at)
    else:
        resume_ticket(ticket_id, at=at)


# --- The sweep --------------------------------------------------------------------------------


@dataclass
class SweepResult:
    warned: int = 0
    breached: int = 0
    looked_at: int = 0


BATCH = 500


def _announce(targets: list[TicketSlaTarget], topic: str) -> None:
    """Emit ``topic`` for each target, the tickets read in one query."""
    from aftersales.tickets.models import Ticket
    from aftersales.tickets.services.tickets import event_payload

    tickets = Ticket.objects.in_bulk({t.ticket_id for t in targets})
    for target in targets:
        ticket = tickets.get(target.ticket_id)
        if ticket is None:
            continue
        outbox.emit(
            topic,
            ticket,
            payload=event_payload(
                ticket,
                target=target.metric,
                due_at=target.due_at.isoformat() if target.due_at else "",
                sla_target_id=target.pk,
                sla_policy_id=target.policy_id,
            ),
        )


def _claim(
    ids: list[int], assignments: str, assigned: list[Any], condition: str, checked: list[Any]
) -> set[int]:
    """``UPDATE … SET assignments WHERE id IN ids AND condition RETURNING id``: the rows this
    caller changed.

    A row is changed by one statement only (PostgreSQL re-checks the condition on a row it
    waited for; SQLite runs one writer at a time), so the caller that gets an id back is the
    one that fires for it.
    """
    if not ids:
        return set()
    table = TicketSlaTarget._meta.db_table
    marks = ", ".join(["%s"] * len(ids))
    sql = (
        f"UPDATE {table} SET {assignments} WHERE id IN ({marks}) AND {condition}"  # noqa: S608
        " RETURNING id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*assigned, *ids, *checked])
        return {row[0] for row in cursor.fetchall()}


def _fire(batch: list[TicketSlaTarget], now: datetime, result: SweepResult) -> None:
    """Warn and breach the due targets of one batch in one transaction: a conditional UPDATE
    claims them, the events are emitted for the claimed ones before the commit."""
    # A clock with a next check has a due time (one waiting for a holiday schedule has neither).
    late = [t for t in batch if t.due_at is not None and t.due_at <= now]
    warn = [
        t
        for t in batch
        if t.due_at is not None
        and t.due_at > now
        and t.warn_at is not None
        and t.warn_at <= now
        and t.warned_at is None
    ]
    stale = [t for t in batch if t not in late and t not in warn]
    moment = connection.ops.adapt_datetimefield_value(now)
    with transaction.atomic():
        breached = _claim(
            [t.pk for t in late],
            "breached_at = due_at, next_check_at = NULL, warned_at = COALESCE(warned_at, %s)",
            [moment],
            "state = %s AND breached_at IS NULL AND due_at <= %s",
            [State.ACTIVE.value, moment],
        )
        warned = _claim(
            [t.pk for t in warn],
            "warned_at = %s, next_check_at = due_at",
            [moment],
            "state = %s AND warned_at IS NULL AND warn_at <= %s AND breached_at IS NULL",
            [State.ACTIVE.value, moment],
        )
        _announce([t for t in late if t.pk in breached], "sla.breached")
        _announce([t for t in warn if t.pk in warned], "sla.warning")
    result.breached += len(breached)
    result.warned += len(warned)
    for target in stale:
        # Recomputed since it was scheduled: put it where it belongs.
        TicketSlaTarget.objects.filter(pk=target.pk, next_check_at=target.next_check_at).update(
            next_check_at=target.due_at
            if target.warned_at or target.warn_at is None
            else target.warn_at
        )


def sweep(now: datetime | None = None, *, limit: int | None = None) -> SweepResult:
    """Fire the warnings and breaches that are due: one indexed range query on
    ``next_check_at`` a batch at a time, never a scan of all open tickets."""
    now = now or timezone.now()
    result = SweepResult()
    last: tuple[datetime, int] | None = None
    while True:
        rows = TicketSlaTarget.objects.filter(next_check_at__lte=now).order_by(
            "next_check_at", "pk"
        )
        if last is not None:
            rows = rows.filter(
                Q(next_check_at__gt=last[0]) | Q(next_check_at=last[0], pk__gt=last[1])
            )
        batch = list(
            rows.only(
                "pk",
                "ticket_id",
                "policy_id",
                "metric",
                "state",
                "due_at",
                "warn_at",
                "warned_at",
                "next_check_at",
            )[:BATCH]
        )
        if not batch:
            break
        result.looked_at += len(batch)
        _fire(batch, now, result)
        last = (batch[-1].next_check_at, batch[-1].pk)  # type: ignore[assignment]
        if limit is not None and result.looked_at >= limit:
            break
    return result


def sweep_now() -> dict[str, int]:
    result = sweep()
    return {"warned": result.warned, "breached": result.breached}


def sweep_seconds() -> int:
    """How often the sweep runs (``SLA_SWEEP_SECONDS`` setting or variable; 60)."""
    import os

    from django.conf import settings

    value = getattr(settings, "SLA_SWEEP_SECONDS", None)
    return int(value or os.environ.get("SLA_SWEEP_SECONDS") or 60)


def minutes_left(target: TicketSlaTarget, now: datetime) -> int | None:
    """Minutes until the due time (negative when late) in the target's own time (business or
    calendar); None when the clock is not running."""
    if target.due_at is None:
        return None  # no deadline until the holiday schedule is loaded
    try:
        if target.state == State.PAUSED:
            return target.minutes + target.paused_minutes - _elapsed(target, target.paused_since)
        if target.state != State.ACTIVE:
            return None
        spec = _spec(target)
        if spec is None:
            return int((target.due_at - _floor(now)).total_seconds() // 60)
        return business_minutes_between(spec, now, target.due_at)
    except CalendarNotCovered:
        return None  # "now" lies in a year whose schedule is not loaded: not guessed


def counting_minutes(target: TicketSlaTarget, now: datetime) -> int | None:
    """How many minutes from ``now`` the clock keeps counting without a break: to the end of
    the working interval ``now`` lies in (0 outside working time); ``None`` in calendar time
    (it never stops). The badge's live countdown ticks only that long."""
    if target.state != State.ACTIVE or target.due_at is None:
        return 0
    spec = _spec(target)
    if spec is None:
        return None
    moment = int(_floor(now).timestamp())
    try:
        spans = spec.day(spec.local_date(moment)).spans
    except CalendarNotCovered:
        return 0
    for start, end in spans:
        if start <= moment < end:
            return (end - moment) // 60
    return 0


def _elapsed(target: TicketSlaTarget, until: datetime | None) -> int:
    if until is None:
        return 0
    return _between(_spec(target), target.started_at, until)


# --- Configuration changes --------------------------------------------------------------------


def recompute_calendar(calendar_id: int) -> int:
    """Recompute the open clocks counting in a calendar (after its hours or days changed);
    warnings and breaches already fired stay fired."""
    from aftersales.sla import schedules

    forget_specs()
    count = 0
    rows = (
        TicketSlaTarget.objects.filter(
            Q(state__in=OPEN) | Q(waiting_for_year__isnull=False), calendar_id=calendar_id
        )
        .select_related("calendar")
        .order_by("pk")
    )
    for target in rows.iterator(chunk_size=500):
        with transaction.atomic():
            _compute(target)
            fields = [*COMPUTED_FIELDS]
            if not target.is_open:
                fields += _settle_finished(target)
            target.save(update_fields=fields)
        count += 1
    schedules.resolve_loaded(calendar_id=calendar_id)
    return count


COMPUTED_FIELDS = (
    "due_at",
    "warn_at",
    "next_check_at",
    "explanation",
    "waiting_for_year",
    "pauses",
    "paused_minutes",
)


def _settle_finished(target: TicketSlaTarget) -> list[str]:
    """A clock met while it had no deadline learns, once it has one, whether it was late
    (recorded as history; no breach event fires for a finished clock)."""
    if target.due_at is None or target.met_at is None or target.breached_at is not None:
        return []
    if target.met_at <= target.due_at:
        return []
    target.breached_at = target.due_at
    return ["breached_at"]


def recompute_policy(policy_id: int, *, at: datetime, event_id: str = "") -> int:
    """Apply an edited policy to the open tickets under it (recorded as ``policy_edited`` or,
    when the ticket now matches another policy, ``attributes_changed``)."""
    from aftersales.tickets.models import Ticket

    ticket_ids = (
        TicketSlaTarget.objects.filter(policy_id=policy_id, state__in=OPEN)
        .values_list("ticket_id", flat=True)
        .distinct()
    )
    count = 0
    for ticket in (
        Ticket.objects.select_related("requester__tier").filter(pk__in=ticket_ids).iterator()
    ):
        rechoose(ticket, at=at, changed=[], event_id=event_id)
        count += 1
    return count


def on_config_changed(event: Any) -> None:
    """The outbox subscriber of ``calendar.changed`` and ``sla_policy.changed``."""
    if not event.object_id:
        return
    if event.topic == "calendar.changed":
        recompute_calendar(int(event.object_id))
    elif event.topic == "sla_policy.changed":
        recompute_policy(int(event.object_id), at=event.created_at, event_id=str(event.pk))
