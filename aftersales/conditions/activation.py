"""What a condition sees: a ticket, its customer, the event and the clock, as CEL variables.

:func:`ticket_activation` reads one ticket (with its requester and tier, which the caller
should have loaded with ``select_related("requester__tier")``), its tags (one query) and the
business calendar of its line (cached), and converts everything into CEL values once: the
rule engine then runs every rule's program on the same :class:`Activation`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from aftersales.conditions import environment
from aftersales.core.errors import DomainError

logger = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EVENT_TYPES = (
    "created",
    "updated",
    "customer_replied",
    "agent_replied",
    "status_changed",
    "field_changed",
    "assigned",
    "sla_warning",
    "sla_breached",
    "survey_answered",
    "time",
)
# A calendar change reaches conditions within this many seconds (per process).
CALENDAR_CACHE_SECONDS = 60.0


@dataclass(frozen=True)
class EventFacts:
    """What just happened to the ticket.

    ``changes`` maps a catalog key (``ticket.priority``, ``ticket.cf.region``) to
    ``(before, after)``, as the ticket stores them: model instances or ids, the priority as its
    number or key, custom-field values as JSON. ``actor_kind`` is agent, customer or system.
    """

    type: str = ""
    changes: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)
    actor_kind: str = ""


@dataclass(frozen=True)
class Activation:
    """The variables of one evaluation: ``data`` as Python values, ``native`` converted once
    into CEL values that every program of the environment can reuse."""

    data: Mapping[str, Any]
    native: Any
    environment: str = environment.TICKET


def activation_of(
    data: Mapping[str, Any], environment_name: str = environment.TICKET
) -> Activation:
    """Convert ``data`` (every declared variable of the environment) once."""
    native = environment.environment(environment_name).Activation(data=dict(data))
    return Activation(data=data, native=native, environment=environment_name)


# --- Values -------------------------------------------------------------------------------------


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _aware(value: datetime | None) -> datetime:
    if value is None:
        return EPOCH
    return timezone.make_aware(value) if timezone.is_naive(value) else value


def _plain(value: Any) -> Any:
    """A value CEL can take: ids for model instances, text for decimals, aware times."""
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return _aware(value)
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


def _change_value(key: str, value: Any) -> Any:
    from aftersales.tickets.services.tickets import PRIORITY_KEYS

    if key == "ticket.priority" and isinstance(value, int):
        return PRIORITY_KEYS.get(value, "")
    if isinstance(value, dict) and "id" in value and not key.startswith("ticket.cf."):
        # A timeline label of an object ({"id": 5, "name": "..."}), as events carry them.
        return value["id"]
    return _plain(value)


def changes_of(event: EventFacts) -> dict[str, dict[str, Any]]:
    """``event.changes``: key → {"from": …, "to": …}, an empty side left out."""
    result: dict[str, dict[str, Any]] = {}
    for key, (before, after) in event.changes.items():
        sides: dict[str, Any] = {}
        for side, value in (("from", before), ("to", after)):
            if not _is_empty(value):
                sides[side] = _change_value(key, value)
        result[str(key)] = sides
    return result


# --- Business calendars ---------------------------------------------------------------------

_calendars: dict[int, tuple[float, Any]] = {}


def forget_calendars() -> None:
    """Drop the cached calendars (tests; a calendar edit otherwise waits for the cache)."""
    _calendars.clear()


def calendar_for_line(line_id: int | None) -> Any:
    """The business calendar of a line as a ``CalendarSpec``, or ``None`` if there is none.

    A line's calendar is its active calendar that belongs to no team; without one, the
    active calendar that belongs to no line and no team (the default calendar). Cached per
    process for :data:`CALENDAR_CACHE_SECONDS`.
    """
    key = line_id or 0
    cached = _calendars.get(key)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    from aftersales.sla.models import Calendar
    from aftersales.sla.selectors import load_calendar

    owners = Q(business_line__isnull=True)
    if line_id:
        owners |= Q(business_line_id=line_id)
    calendar = (
        Calendar.objects.filter(owners, is_active=True, team__isnull=True)
        .select_related("holiday_set")
        .order_by(F("business_line_id").asc(nulls_last=True), "pk")
        .first()
    )
    spec = load_calendar(calendar) if calendar is not None else None
    _calendars[key] = (time.monotonic() + CALENDAR_CACHE_SECONDS, spec)
    return spec


def is_business_time(spec: Any, moment: datetime) -> bool:
    """Whether the minute of ``moment`` is working time of the calendar (no calendar: yes).

    A date the calendar's holiday set does not cover yet falls back to the weekly hours.
    """
    if spec is None:
        return True
    from aftersales.sla.businesstime import business_minutes_between

    start = moment.astimezone(UTC).replace(second=0, microsecond=0)
    try:
        return business_minutes_between(spec, start, start + timedelta(minutes=1)) == 1
    except DomainError as error:
        logger.warning("Business hours by weekly hours only: %s", error.detail())
    local = moment.astimezone(spec.zone)
    minute = local.hour * 60 + local.minute
    return any(begin <= minute < end for begin, end in spec.weekly[local.weekday()])


def now_facts(moment: datetime, line_id: int | None) -> dict[str, Any]:
    """``now.*``: the time, and hour and weekday (1 = Monday) in the calendar's zone."""
    spec = calendar_for_line(line_id)
    zone = spec.zone if spec is not None else timezone.get_default_timezone()
    local = moment.astimezone(zone)
    return {
        "now.time": moment,
        "now.hour": local.hour,
        "now.weekday": local.isoweekday(),
        "now.in_business_hours": is_business_time(spec, moment),
    }


# --- Tickets ------------------------------------------------------------------------------------


def ticket_facts(ticket: Any, tags: list[str]) -> dict[str, Any]:
    """``ticket.*`` of one ticket."""
    from aftersales.core.richtext import to_plain_text
    from aftersales.tickets.services.tickets import PRIORITY_KEYS

    # The description is sanitised HTML; conditions read its words.
    subject, description = ticket.subject or "", to_plain_text(ticket.description or "")
    custom = {
        str(key): _plain(value)
        for key, value in (ticket.custom_fields or {}).items()
        if not _is_empty(value)
    }
    words = {
        "subject": subject.lower(),
        "description": description.lower(),
        "text": f"{subject}\n{description}".lower(),
    }
    words.update({f"cf.{k}": v.lower() for k, v in custom.items() if isinstance(v, str)})
    return {
        "ticket.id": ticket.pk or 0,
        "ticket.number": ticket.number or "",
        "ticket.subject": subject,
        "ticket.description": description,
        "ticket.text": words["text"],
        "ticket.words": words,
        "ticket.priority": PRIORITY_KEYS.get(ticket.priority, ""),
        "ticket.status": ticket.status_id or 0,
        "ticket.status_category": ticket.status_category or "",
        "ticket.type": ticket.ticket_type_id or 0,
        "ticket.business_line": ticket.business_line_id or 0,
        "ticket.channel": ticket.channel or "",
        "ticket.team": ticket.team_id or 0,
        "ticket.assignee": ticket.assignee_id or 0,
        "ticket.requester": ticket.requester_id or 0,
        "ticket.organisation": ticket.organisation_id or 0,
        "ticket.tags": list(tags),
        "ticket.cf": custom,
        "ticket.created_at": _aware(ticket.created_at),
        "ticket.updated_at": _aware(ticket.updated_at),
        "ticket.due_at": _aware(ticket.due_at),
        "ticket.has_due_at": ticket.due_at is not None,
        "ticket.satisfaction": getattr(ticket, "satisfaction", None) or 0,
        "ticket.has_satisfaction": getattr(ticket, "satisfaction", None) is not None,
    }


def customer_facts(customer: Any) -> dict[str, Any]:
    """``customer.*`` of the ticket's requester (zeros and blanks without one)."""
    if customer is None:
        return {
            "customer.id": 0,
            "customer.tier": "",
            "customer.tags": [],
            "customer.organisation": 0,
        }
    tags = customer.tags if isinstance(customer.tags, list) else []
    return {
        "customer.id": customer.pk,
        "customer.tier": customer.tier.key if customer.tier_id else "",
        "customer.tags": [str(tag) for tag in tags],
        "customer.organisation": customer.organisation_id or 0,
    }


def event_facts(event: EventFacts | None) -> dict[str, Any]:
    event = event or EventFacts()
    return {
        "event.type": event.type,
        "event.changes": changes_of(event),
        "event.actor_kind": event.actor_kind,
    }


def ticket_data(
    ticket: Any, *, tags: list[str], event: EventFacts | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """Every variable of the ticket environment, as Python values."""
    moment = _aware(now) if now is not None else timezone.now()
    return {
        **ticket_facts(ticket, tags),
        **customer_facts(ticket.requester if ticket.requester_id else None),
        **event_facts(event),
        **now_facts(moment, ticket.business_line_id),
    }


def ticket_activation(
    ticket: Any, *, event: EventFacts | None = None, now: datetime | None = None
) -> Activation:
    """The activation of ``ticket`` for one event: one query for its tags, none more when
    its requester and tier were loaded with it and its line's calendar is cached."""
    from aftersales.tickets.models import TicketTag

    tags: list[str] = []
    if ticket.pk:
        rows = TicketTag.objects.filter(ticket_id=ticket.pk).order_by("name")
        tags = list(rows.values_list("name", flat=True))
    return activation_of(ticket_data(ticket, tags=tags, event=event, now=now))
