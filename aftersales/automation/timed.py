"""Time-based automations: the periodic sweep that finds tickets whose clock passed a threshold.

The sweep never loads all tickets. For each automation it asks the database, with indexed
range queries, for two small sets:

* tickets whose clock crossed the threshold since the last sweep (the window between the
  previous and the current cut-off), and
* tickets changed since the last sweep whose clock is already past the threshold (a change may
  have made the other conditions true).

Only these are evaluated against the automation's conditions. A condition that reads the time
of day (``now``) can turn true without the ticket changing, so such an automation looks at
every ticket past the threshold that it has not fired on yet, a batch per sweep.

Each automation acts on a ticket once: the :class:`AutomationFiring` row is inserted in the
same transaction as the actions, and its unique key turns a second worker's attempt into a
no-op.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from aftersales.automation import actions as action_kinds
from aftersales.automation.models import Automation, AutomationFiring, Execution
from aftersales.automation.prefilter import prefilter
from aftersales.conditions import compiler
from aftersales.conditions.activation import (
    EventFacts,
    activation_of,
    ticket_activation,
    ticket_data,
)
from aftersales.conditions.catalog import ticket_catalog
from aftersales.outbox import services as outbox

logger = logging.getLogger(__name__)

BATCH = 500
TRIGGER = "time"


def sweep_seconds() -> int:
    """How often the sweep runs (``AUTOMATION_SWEEP_SECONDS`` setting or variable; 60)."""
    value = getattr(settings, "AUTOMATION_SWEEP_SECONDS", None)
    return int(value or os.environ.get("AUTOMATION_SWEEP_SECONDS") or 60)


def _minutes(hours: Decimal) -> int:
    return int(hours * 60)


def _business_cutoff(calendar: Any, now: datetime, minutes: int) -> datetime:
    """The latest instant with at least ``minutes`` business minutes between it and ``now``."""
    from aftersales.sla.businesstime import business_minutes_between

    low, high = now - timedelta(days=400), now
    while (high - low) > timedelta(minutes=1):
        middle = low + (high - low) / 2
        if business_minutes_between(calendar, middle, now) >= minutes:
            low = middle
        else:
            high = middle
    return low.replace(second=0, microsecond=0)


def _calendar(automation: Automation) -> Any:
    if automation.calendar_id is not None:
        return automation.calendar
    from aftersales.sla.models import Calendar

    return Calendar.objects.filter(is_active=True).order_by("pk").first()


def cutoff_for(automation: Automation, now: datetime) -> datetime:
    """Tickets whose clock is at or before the cut-off have passed the threshold."""
    minutes = _minutes(automation.hours)
    if automation.clock == Automation.Clock.DUE:
        if automation.business_hours:
            from aftersales.sla.businesstime import add_business_minutes

            return add_business_minutes(_calendar(automation), now, minutes)
        return now + timedelta(minutes=minutes)
    if automation.business_hours:
        return _business_cutoff(_calendar(automation), now, minutes)
    return now - timedelta(minutes=minutes)


def reads_the_clock(automation: Automation) -> bool:
    return "now." in automation.condition_cel


def _base(automation: Automation) -> QuerySet[Any]:
    from aftersales.tickets.models import Ticket

    tickets = Ticket.objects.filter(
        status_category__in=automation.status_categories, merged_into__isnull=True
    )
    line_ids = [line.pk for line in automation.business_lines.all()]
    if line_ids:
        tickets = tickets.filter(business_line_id__in=line_ids)
    return tickets


def _after(clock: str, at: datetime, pk: int | None) -> Q:
    """Rows after the cursor (clock value, id) in (clock, id) order."""
    if pk is None:
        return Q(**{f"{clock}__gt": at})
    return Q(**{f"{clock}__gt": at}) | Q(**{clock: at, "pk__gt": pk})


def _narrowed(automation: Automation) -> QuerySet[Any]:
    """The tickets in the automation's lines and categories that could meet its condition."""
    tickets = _base(automation)
    line_ids = [line.pk for line in automation.business_lines.all()]
    # The catalog (a few queries) is only needed to know the type of a custom field.
    uses_custom_fields = '"ticket.cf.' in json.dumps(automation.condition)
    catalog = ticket_catalog(business_line_ids=line_ids or None) if uses_custom_fields else None
    narrowing = prefilter(automation.condition, catalog)
    return tickets if narrowing is None else tickets.filter(narrowing)


def _query(automation: Automation, cutoff: datetime) -> QuerySet[Any]:
    """The tickets this sweep looks at (before paging and before dropping the fired ones)."""
    clock = automation.clock
    past = _narrowed(automation).filter(**{f"{clock}__lte": cutoff})
    if automation.swept_until is None:
        return past  # the first sweep (or a new round of a clock-reading one): all of them
    window = _after(clock, automation.swept_until, automation.swept_after_id)
    if not reads_the_clock(automation) and automation.swept_at is not None:
        window |= Q(updated_at__gt=automation.swept_at - timedelta(seconds=5))
    return past.filter(window)


def _pages(query: QuerySet[Any], clock: str) -> Iterator[list[tuple[int, datetime]]]:
    """(id, clock) rows in clock order, a batch at a time (keyset paging, no OFFSET)."""
    after: tuple[int, datetime] | None = None
    while True:
        page = query
        if after is not None:
            page = page.filter(
                Q(**{f"{clock}__gt": after[1]}) | Q(**{clock: after[1], "pk__gt": after[0]})
            )
        rows = list(page.order_by(clock, "pk").values_list("pk", clock)[:BATCH])
        if rows:
            yield rows
        if len(rows) < BATCH:
            return
        after = rows[-1]


def budget_seconds() -> float:
    """How long one sweep may spend on one automation before leaving the rest to the next."""
    value = getattr(settings, "AUTOMATION_SWEEP_BUDGET_SECONDS", None)
    return float(value or os.environ.get("AUTOMATION_SWEEP_BUDGET_SECONDS") or 20)


def _holding(automation: Automation, ids: list[int], program: Any, now: datetime) -> list[int]:
    """Those of ``ids`` the condition holds for, read and evaluated a page at a time (no lock:
    :func:`fire` checks again under one before acting)."""
    from aftersales.tickets.models import TicketTag

    if not ids:
        return []
    tickets = _base(automation).select_related("requester__tier").in_bulk(ids)
    tags: dict[int, list[str]] = {}
    for ticket_id, name in (
        TicketTag.objects.filter(ticket_id__in=ids)
        .order_by("name")
        .values_list("ticket_id", "name")
    ):
        tags.setdefault(ticket_id, []).append(name)
    facts = EventFacts(type=TRIGGER)
    return [
        pk
        for pk in ids
        if pk in tickets
        and compiler.evaluate(
            program,
            activation_of(ticket_data(tickets[pk], tags=tags.get(pk, []), event=facts, now=now)),
        )
    ]


def fire(automation: Automation, ticket_id: int, cutoff: datetime, program: Any) -> bool:
    """Act on one ticket if it still qualifies and nobody did yet; True when it acted."""
    from aftersales.tickets.models import Ticket

    with transaction.atomic():
        ticket = (
            _base(automation)
            .select_for_update()
            .filter(pk=ticket_id, **{f"{automation.clock}__lte": cutoff})
            .first()
        )
        if ticket is None:
            return False
        if not compiler.evaluate(
            program, ticket_activation(ticket, event=EventFacts(type=TRIGGER))
        ):
            return False
        try:
            with transaction.atomic():
                AutomationFiring.objects.create(automation=automation, ticket_id=ticket.pk)
        except IntegrityError:
            return False  # another worker got there first
        chain = f"a{automation.pk}.t{ticket.pk}"
        with outbox.caused_by({"chain": chain, "depth": 1, "automation": automation.pk}):
            steps = action_kinds.apply_all(
                automation.actions, ticket=ticket, source=automation.name
            )
        failed = sum(1 for step in steps if not step["ok"])
        Execution.objects.create(
            ticket=Ticket(pk=ticket.pk),
            automation=automation,
            name=automation.name,
            version=automation.version,
            trigger=TRIGGER,
            chain=chain,
            outcome=(
                Execution.Outcome.APPLIED
                if not failed
                else Execution.Outcome.FAILED
                if failed == len(steps)
                else Execution.Outcome.PARTIAL
            ),
            steps=steps,
        )
    return True


def sweep(automation: Automation, now: datetime | None = None) -> int:
    """One pass of one automation; returns how many tickets it acted on."""
    now = now or timezone.now()
    try:
        cutoff = cutoff_for(automation, now)
    except Exception:
        logger.exception("Automation %s: cannot compute its threshold", automation.pk)
        return 0
    program = compiler.program_for(automation.condition_cel)
    deadline = time.monotonic() + budget_seconds()
    fired, last = 0, None  # last: the (id, clock) the sweep stopped after, if cut short
    for rows in _pages(_query(automation, cutoff), automation.clock):
        done = set(
            AutomationFiring.objects.filter(
                automation=automation, ticket_id__in=[pk for pk, _ in rows]
            ).values_list("ticket_id", flat=True)
        )
        waiting = [pk for pk, _ in rows if pk not in done]
        for pk in _holding(automation, waiting, program, now):
            fired += fire(automation, pk, cutoff, program)
        last = rows[-1]
        if time.monotonic() > deadline:
            break
    else:
        last = None
    _remember(automation, now, cutoff, stopped_at=last)
    return fired


def _remember(
    automation: Automation,
    now: datetime,
    cutoff: datetime,
    *,
    stopped_at: tuple[int, datetime] | None,
) -> None:
    """Keep where the sweep got to. Cut short, the next one resumes after the last ticket it
    reached; changes since the last complete sweep stay in view until one completes."""
    rows = Automation.objects.filter(pk=automation.pk)
    if stopped_at is not None:
        rows.update(swept_until=stopped_at[1], swept_after_id=stopped_at[0])
    elif reads_the_clock(automation):
        # The time of day may turn the condition true for any ticket: start over next time.
        rows.update(swept_until=None, swept_after_id=None, swept_at=now)
    else:
        rows.update(swept_until=cutoff, swept_after_id=None, swept_at=now)


def sweep_all() -> dict[str, int]:
    """The periodic job: every active automation, in order."""
    fired: dict[str, int] = {}
    for automation in Automation.objects.filter(is_active=True).prefetch_related("business_lines"):
        fired[str(automation.pk)] = sweep(automation)
    return fired
