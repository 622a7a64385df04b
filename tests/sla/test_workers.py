"""Two real worker processes sweep the same SLA clocks: every breach fires once.

The workers share this test's database (``transaction=True``). The sweep runs every second in
both; each breach is claimed by a conditional UPDATE (``breached_at IS NULL``), so a rule on
"SLA breached" acts once per ticket however the sweeps overlap.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from aftersales.accounts.models import User
from aftersales.automation import services as automation_services
from aftersales.automation.models import Execution, Rule
from aftersales.customers import services as customer_services
from aftersales.customers.models import CustomerTier
from aftersales.outbox.models import OutboxEvent
from aftersales.sla.models import TicketSlaTarget
from aftersales.tickets.models import Ticket, TicketTag
from tests.sla.timer_support import make_policy
from tests.support import processes
from tests.tickets.conftest import _media_in_tmp, desk, make_ticket, make_type  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TICKETS = 200


@pytest.fixture(autouse=True)
def _default_tier(admin_user: User) -> None:
    """The flush ending each transactional test empties the tiers the migrations seed."""
    if not CustomerTier.objects.filter(is_default=True).exists():
        customer_services.create_tier(
            actor=admin_user, key="normal", name_zh="普通客户", name_en="Normal", is_default=True
        )


def _late_tickets(desk: dict[str, Any], make_ticket: Callable[..., Ticket]) -> tuple[Rule, list]:
    """A policy of one calendar hour to resolve, a rule tagging on breach, and tickets opened
    three hours ago (so every resolution clock is late)."""
    with time_machine.travel(timezone.now() - timedelta(hours=3), tick=False):
        make_policy(
            desk["admin"],
            targets=[{"metric": "resolution", "minutes": 60, "business_time": False}],
        )
        rule = automation_services.create_rule(
            actor=desk["admin"],
            values={
                "name": "Escalate on breach",
                "triggers": ["sla_breached"],
                "condition": None,
                "actions": [{"type": "add_tags", "tags": ["escalated"]}],
            },
        )
        made = [make_ticket(subject=f"Ticket {n}") for n in range(TICKETS)]
    assert TicketSlaTarget.objects.filter(breached_at__isnull=True).count() == TICKETS
    return rule, made


def _assert_each_fired_once(rule: Rule, made: list[Ticket], output: str) -> None:
    breaches = Counter(
        OutboxEvent.objects.filter(topic="sla.breached").values_list(
            "payload__ticket_id", flat=True
        )
    )
    assert sorted(breaches) == sorted(t.pk for t in made), output
    assert set(breaches.values()) == {1}, output
    runs = Counter(Execution.objects.filter(rule=rule).values_list("ticket_id", flat=True))
    assert sorted(runs) == sorted(t.pk for t in made), output
    assert set(runs.values()) == {1}, output
    assert TicketTag.objects.filter(name="escalated").count() == TICKETS


def test_two_workers_fire_each_breach_action_once(
    desk: dict[str, Any], make_ticket: Callable[..., Ticket]
) -> None:
    rule, made = _late_tickets(desk, make_ticket)
    env = processes.process_env(SCHEDULER_TICK_SECONDS="1", SLA_SWEEP_SECONDS="1")
    first = processes.start(["worker", "--interval", "0.2", "--id", "first"], env)
    second = processes.start(["worker", "--interval", "0.2", "--id", "second"], env)
    output = ""
    try:
        try:
            processes.wait_for(
                lambda: TicketTag.objects.filter(name="escalated").count() >= TICKETS,
                timeout=90,
                interval=0.5,
                what="every breach to be escalated",
            )
        except AssertionError as error:
            raise AssertionError(f"{error}\n{first.output()}\n{second.output()}") from None
        # Both keep sweeping a few more rounds: nothing may fire again.
        time.sleep(4)
    finally:
        output = processes.stop(first) + processes.stop(second)
    _assert_each_fired_once(rule, made, output)


def test_two_sweeps_started_together_breach_each_clock_once(
    desk: dict[str, Any], make_ticket: Callable[..., Ticket]
) -> None:
    rule, made = _late_tickets(desk, make_ticket)
    env = processes.process_env()
    first = processes.start(["sweep_sla"], env)
    second = processes.start(["sweep_sla"], env)
    first.wait(timeout=120)
    second.wait(timeout=120)
    output = processes.stop(first) + processes.stop(second)
    counts = [
        int(line.rsplit(":", 1)[1])
        for line in output.splitlines()
        if line.startswith("sla breached:")
    ]
    assert sum(counts) == TICKETS, output
    # The rule engine reacts to the events (eagerly in the sweeping process, else a worker).
    with processes.running(["worker", "--interval", "0.2", "--id", "late"], env) as worker:
        try:
            processes.wait_for(
                lambda: TicketTag.objects.filter(name="escalated").count() >= TICKETS,
                timeout=60,
                interval=0.5,
                what="every breach to be escalated",
            )
        except AssertionError as error:
            raise AssertionError(f"{error}\n{worker.output()}") from None
    _assert_each_fired_once(rule, made, output)
