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

import logging
import os
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from aftersales.automation import actions as action_kinds
from aftersales.automation.models import Automation, AutomationFiring, Execution
from aftersales.conditions import compiler
from aftersales.conditions.activation import EventFacts, ticket_activation
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


def candidates(automation: Automation, cutoff: datetime) -> tuple[list[int], datetime]:
    """Ticket ids to evaluate, and the watermark to keep once they are done."""
    clock = automation.clock
    past = _base(automation).filter(**{f"{clock}__lte": cutoff})
    fired = AutomationFiring.objects.filter(automation=automation).values("ticket_id")
    if reads_the_clock(automation) or automation.swept_until is None:
        rows = list(
            past.exclude(pk__in=fired).order_by(clock, "pk").values_list("pk", clock)[:BATCH]
        )
        return [pk for pk, _ in rows], cutoff
    window = Q(**{f"{clock}__gt": automation.swept_until})
    if automation.swept_at is not None:
        window |= Q(updated_at__gt=automation.swept_at - timedelta(seconds=5))
    rows = list(past.filter(window).order_by(clock, "pk").values_list("pk", clock)[:BATCH])
    watermark = rows[-1][1] if len(rows) == BATCH else cutoff
    done = set(
        AutomationFiring.objects.filter(
            automation=automation, ticket_id__in=[pk for pk, _ in rows]
        ).values_list("ticket_id", flat=True)
    )
    return [pk for pk, _ in rows if pk not in done], watermark


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
    ids, watermark = candidates(automation, cutoff)
    program = compiler.program_for(automation.condition_cel)
    fired = sum(1 for pk in ids if fire(automation, pk, cutoff, program))
    update: dict[str, Any] = {"swept_until": watermark}
    if watermark == cutoff:
        # Every change up to now was looked at; a truncated batch looks at them again.
        update["swept_at"] = now
    Automation.objects.filter(pk=automation.pk).update(**update)
    return fired


def sweep_all() -> dict[str, int]:
    """The periodic job: every active automation, in order."""
    fired: dict[str, int] = {}
    for automation in Automation.objects.filter(is_active=True).prefetch_related("business_lines"):
        fired[str(automation.pk)] = sweep(automation)
    return fired
