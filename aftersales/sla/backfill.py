"""Giving open tickets their SLA clocks after policies were created or changed.

A ticket's policy is chosen when it is created and again when a watched field changes; a
policy that appears (or starts to match) later would otherwise reach the tickets already open
only at their next change. The backfill walks the open tickets by id in bounded batches, each
batch in its own transaction, and saves its position (:class:`BackfillRun`) after each one: a
worker that dies resumes after the last committed batch. It runs in the worker after every
``sla_policy.created`` / ``sla_policy.changed`` (subscriber ``sla.backfill``) and from
``aftersales sla_backfill``.

Per open ticket:

* no clocks yet and a policy now matches: the policy is recorded (reason ``backfilled``) and
  the first-response and resolution clocks start at the ticket's creation (first response met
  at ``first_response_at`` when it was answered already; paused now when it waits for the
  customer);
* governed by another policy than the one that now comes first: chosen again, its open clocks
  recomputed from their own starts (reason ``backfilled``).

Clocks that were already late when the backfill reached them are recorded as breached (red
badges, counted in attainment) without an ``sla.breached`` event: a new policy must not set
off a storm of escalations about old tickets. Warnings and breaches still ahead fire normally.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from aftersales.sla import timers
from aftersales.sla.models import BackfillRun, Policy, TicketSla, TicketSlaTarget

BATCH = 200
REASON = "backfilled"


@dataclass
class Progress:
    key: str
    tickets_seen: int
    tickets_changed: int
    finished: bool


def _open_tickets() -> Any:
    from aftersales.tickets.models import Ticket

    return Ticket.objects.exclude(status_category__in=timers.DONE_CATEGORIES)


def _silence_past_breaches(ticket_id: int, at: datetime) -> None:
    """Clocks already late when the backfill started them: breached, without an event."""
    for target in TicketSlaTarget.objects.filter(
        ticket_id=ticket_id,
        state=TicketSlaTarget.State.ACTIVE,
        breached_at__isnull=True,
        due_at__lte=at,
    ):
        target.breached_at = target.due_at
        target.warned_at = target.warned_at or target.due_at
        target.next_check_at = None
        target.save(update_fields=["breached_at", "warned_at", "next_check_at"])
    # A first response given before the policy existed, but after its due time, was late.
    TicketSlaTarget.objects.filter(
        ticket_id=ticket_id,
        state=TicketSlaTarget.State.MET,
        breached_at__isnull=True,
        met_at__gt=F("due_at"),
    ).update(breached_at=F("due_at"), warned_at=Coalesce("warned_at", F("due_at")))


def _start_from_creation(ticket: Any, policy: Policy, *, at: datetime, event_id: str) -> None:
    timers.start_ticket(
        ticket, at=at, event_id=event_id, reason=REASON, clocks_from=ticket.created_at
    )
    _answered_already(ticket)


def _answered_already(ticket: Any) -> None:
    if ticket.first_response_at is not None:
        timers.meet_targets(ticket.pk, (timers.Metric.FIRST_RESPONSE,), at=ticket.first_response_at)


@transaction.atomic
def backfill_ticket(
    ticket: Any, *, at: datetime, policies: list[Policy], event_id: str = ""
) -> bool:
    """Give one open ticket the clocks of the policy that now comes first for it; whether
    anything changed."""
    from aftersales.tickets.models import Ticket

    # The ticket's row lock orders this with the ticket's own reactions and other runs.
    Ticket.objects.select_for_update().filter(pk=ticket.pk).values_list("pk").first()
    sla = TicketSla.objects.select_for_update().filter(ticket_id=ticket.pk).first()
    policy = timers.choose_policy(ticket, policies=policies)
    current = sla.policy_id if sla is not None else None
    if policy is None or (policy.pk == current and sla is not None):
        return False
    has_clocks = TicketSlaTarget.objects.filter(ticket_id=ticket.pk).exists()
    if sla is None:
        _start_from_creation(ticket, policy, at=at, event_id=event_id)
    else:
        timers.rechoose(
            ticket, at=at, changed=[], event_id=event_id, reason=REASON, policies=policies
        )
        if not has_clocks:
            _answered_already(ticket)
    _silence_past_breaches(ticket.pk, at)
    return True


def run(
    *,
    key: str,
    at: datetime | None = None,
    batch_size: int = BATCH,
    max_batches: int | None = None,
    restart: bool = False,
) -> Progress:
    """Walk the open tickets from where the run ``key`` stopped, ``batch_size`` at a time."""
    now = at or timezone.now()
    backfill, created = BackfillRun.objects.get_or_create(key=key, defaults={"started_at": now})
    if restart and not created:
        BackfillRun.objects.filter(pk=backfill.pk).update(
            last_ticket_id=0, tickets_seen=0, tickets_changed=0, started_at=now, finished_at=None
        )
    policies = timers.active_policies()
    batches = 0
    while max_batches is None or batches < max_batches:
        with transaction.atomic():
            # The row lock keeps two workers from walking the same run at once.
            backfill = BackfillRun.objects.select_for_update().get(pk=backfill.pk)
            if backfill.finished_at is not None:
                break
            tickets = list(
                _open_tickets()
                .select_related("requester__tier")
                .filter(pk__gt=backfill.last_ticket_id)
                .order_by("pk")[:batch_size]
            )
            if not tickets:
                backfill.finished_at = timezone.now()
                backfill.save(update_fields=["finished_at"])
                break
            changed = sum(
                backfill_ticket(ticket, at=now, policies=policies, event_id=key)
                for ticket in tickets
            )
            backfill.last_ticket_id = tickets[-1].pk
            backfill.tickets_seen += len(tickets)
            backfill.tickets_changed += changed
            backfill.save(update_fields=["last_ticket_id", "tickets_seen", "tickets_changed"])
        batches += 1
    return Progress(
        key=key,
        tickets_seen=backfill.tickets_seen,
        tickets_changed=backfill.tickets_changed,
        finished=backfill.finished_at is not None,
    )


def is_finished(key: str) -> bool:
    return BackfillRun.objects.filter(key=key, finished_at__isnull=False).exists()


def on_policy_saved(event: Any) -> None:
    """Outbox subscriber of ``sla_policy.created`` and ``sla_policy.changed`` (not
    transactional: each batch commits on its own, and a redelivery resumes the run)."""
    run(key=f"event:{event.pk}", at=event.created_at)
