"""Policies created or changed after tickets exist give the open tickets their clocks: in the
worker after the save, and from ``aftersales sla_backfill``, in resumable batches."""

from __future__ import annotations

from collections.abc import Callable
from io import StringIO
from typing import Any, TypeVar

import pytest
import time_machine
from django.core.management import call_command
from django.test import TestCase

from aftersales.outbox import services as outbox
from aftersales.outbox.models import OutboxEvent
from aftersales.sla import backfill, policies, timers
from aftersales.sla.models import BackfillRun, Calendar, TicketSla, TicketSlaChange
from aftersales.tickets.models import Ticket
from tests.sla.test_timers import _move
from tests.sla.timer_support import local, make_policy, target
from tests.tickets.conftest import _media_in_tmp, desk, make_ticket, make_type, status  # noqa: F401

T = TypeVar("T")
pytestmark = pytest.mark.django_db


@pytest.fixture
def settle() -> Callable[[Callable[[], T]], T]:
    def run(change: Callable[[], T]) -> T:
        with TestCase.captureOnCommitCallbacks(execute=True):
            return change()

    return run


@pytest.fixture
def calendar(make_calendar: Callable[..., Calendar], desk: dict[str, Any]) -> Calendar:
    timers.forget_specs()
    return make_calendar(name="East office", business_line=desk["line_a"])


def deliver(topic: str) -> None:
    for event_id in OutboxEvent.objects.filter(topic=topic).values_list("pk", flat=True):
        outbox.deliver_event(str(event_id))


def test_a_new_policy_gives_open_tickets_their_clocks_from_their_creation(
    desk: dict[str, Any], calendar: Calendar, make_ticket: Callable[..., Ticket], settle: Any
) -> None:
    # given three tickets filed before any policy existed: one old, one recent, one solved
    with time_machine.travel(local("2026-11-23 10:00"), tick=False):
        old = settle(lambda: make_ticket(subject="Old"))
        solved = settle(lambda: make_ticket(subject="Done"))
        solved = _move(settle, desk, solved, "open")
        _move(settle, desk, solved, "solved", custom_fields={"resolution_code": "fixed"})
    with time_machine.travel(local("2026-11-24 09:30"), tick=False):
        recent = settle(lambda: make_ticket(subject="Recent"))
    assert not target_exists(old)
    # when the admin creates a policy and a worker delivers its event
    with time_machine.travel(local("2026-11-24 10:00"), tick=False):
        settle(lambda: make_policy(desk["admin"]))
        deliver("sla_policy.created")
    # then the recent ticket runs from its creation: first response 10:30, resolution 13:30
    assert target(recent, "first_response").due_at == local("2026-11-24 10:30")
    assert target(recent, "resolution").due_at == local("2026-11-24 13:30")
    assert target(recent, "resolution").next_check_at == local("2026-11-24 12:30")
    # the old one was late before the policy existed: breached, without an escalation storm
    late = target(old, "resolution")
    assert (late.due_at, late.breached_at, late.next_check_at) == (
        local("2026-11-23 14:00"),
        local("2026-11-23 14:00"),
        None,
    )
    assert late.condition_at(local("2026-11-24 10:00")) == "breached"
    assert OutboxEvent.objects.filter(topic="sla.breached").count() == 0
    with time_machine.travel(local("2026-11-24 10:01"), tick=False):
        assert timers.sweep(local("2026-11-24 10:01")).breached == 0
    # the solved ticket is left alone, and the history says why the clocks appeared
    assert not target_exists(solved)
    change = TicketSlaChange.objects.filter(ticket=recent).latest("at", "pk")
    assert (change.reason, change.new_name) == ("backfilled", "Standard")


def target_exists(ticket: Ticket) -> bool:
    return ticket.sla_targets.exists()


def test_a_ticket_answered_before_the_policy_has_its_first_response_met(
    desk: dict[str, Any], calendar: Calendar, make_ticket: Callable[..., Ticket], settle: Any
) -> None:
    with time_machine.travel(local("2026-11-24 09:00"), tick=False):
        ticket = settle(lambda: make_ticket())
    Ticket.objects.filter(pk=ticket.pk).update(first_response_at=local("2026-11-24 09:20"))
    TicketSla.objects.filter(ticket=ticket).delete()  # as if filed before SLAs existed
    with time_machine.travel(local("2026-11-24 10:00"), tick=False):
        settle(lambda: make_policy(desk["admin"]))
        deliver("sla_policy.created")
    first = target(ticket, "first_response")
    assert (first.state, first.met_at, first.breached_at) == (
        "met",
        local("2026-11-24 09:20"),
        None,
    )
    assert target(ticket, "resolution").state == "active"


def test_a_changed_policy_that_now_comes_first_takes_over_open_tickets(
    desk: dict[str, Any], calendar: Calendar, make_ticket: Callable[..., Ticket], settle: Any
) -> None:
    # given a ticket under "Standard", and an inactive "Rush" policy placed before it
    with time_machine.travel(local("2026-11-24 09:00"), tick=False):
        make_policy(desk["admin"], position=10)
        rush = make_policy(
            desk["admin"],
            name="Rush",
            position=1,
            is_active=False,
            targets=[{"metric": "resolution", "minutes": 120}],
        )
        ticket = settle(lambda: make_ticket())
    assert TicketSla.objects.get(ticket=ticket).policy.name == "Standard"
    # when Rush is switched on
    with time_machine.travel(local("2026-11-24 09:30"), tick=False):
        settle(
            lambda: policies.update_policy(
                actor=desk["admin"], policy=rush, values={"is_active": True}
            )
        )
        deliver("sla_policy.changed")
    # then the ticket follows Rush from its own start
    assert TicketSla.objects.get(ticket=ticket).policy_id == rush.pk
    assert target(ticket, "resolution").due_at == local("2026-11-24 11:00")
    assert target(ticket, "first_response").state == "stopped"
    assert TicketSlaChange.objects.filter(ticket=ticket).latest("at", "pk").reason == "backfilled"


def test_an_interrupted_backfill_resumes_after_the_last_batch(
    desk: dict[str, Any], calendar: Calendar, make_ticket: Callable[..., Ticket], settle: Any
) -> None:
    with time_machine.travel(local("2026-11-24 09:00"), tick=False):
        tickets = [settle(lambda: make_ticket()) for _ in range(3)]
        make_policy(desk["admin"])  # no worker delivers its event here
    # when a run stops after one batch of two (a worker dying between batches)
    with time_machine.travel(local("2026-11-24 10:00"), tick=False):
        first = backfill.run(key="command", batch_size=2, max_batches=1)
    assert (first.tickets_seen, first.tickets_changed, first.finished) == (2, 2, False)
    assert BackfillRun.objects.get(key="command").last_ticket_id == tickets[1].pk
    assert not target_exists(tickets[2])
    # then the command goes on from there
    out = StringIO()
    with time_machine.travel(local("2026-11-24 10:05"), tick=False):
        call_command("sla_backfill", "--batch-size", "2", stdout=out)
    assert out.getvalue().splitlines() == [
        "sla backfill tickets seen: 3",
        "sla backfill tickets changed: 3",
        "sla backfill finished: yes",
    ]
    assert target(tickets[2], "resolution").due_at == local("2026-11-24 13:00")
    # and running it again walks anew but changes nothing
    again = StringIO()
    call_command("sla_backfill", stdout=again)
    assert "sla backfill tickets changed: 0" in again.getvalue()
    assert all(t.sla_targets.count() == 2 for t in tickets)
