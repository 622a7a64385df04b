"""Two real worker processes sweep the same automation: every ticket is acted on once.

The workers share this test's database (``transaction=True``). Sweeps are made to run every
second and to take several seconds each, so the two workers' sweeps overlap and race for the
same tickets; the firing row's unique key decides each race.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from aftersales.accounts.models import User
from aftersales.automation.models import Automation, AutomationFiring, Execution
from aftersales.customers import services as customer_services
from aftersales.customers.models import CustomerTier
from aftersales.outbox.models import OutboxEvent, PeriodicRun
from aftersales.tickets.models import Ticket, TicketTag
from tests.support import processes

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TICKETS = 400


@pytest.fixture(autouse=True)
def _default_tier(admin_user: User) -> None:
    """The flush ending each transactional test empties the tiers the migrations seed."""
    if not CustomerTier.objects.filter(is_default=True).exists():
        customer_services.create_tier(
            actor=admin_user, key="normal", name_zh="普通客户", name_en="Normal", is_default=True
        )


def test_two_workers_fire_a_time_based_automation_exactly_once_per_ticket(
    make_automation: Callable[..., Automation], make_ticket: Callable[..., Ticket]
) -> None:
    with time_machine.travel(timezone.now() - timedelta(hours=3), tick=False):
        automation = make_automation(
            "Remind when not accepted", actions=[{"type": "add_tags", "tags": ["reminded"]}]
        )
        made = [make_ticket(subject=f"Ticket {n}") for n in range(TICKETS)]
    env = processes.process_env(SCHEDULER_TICK_SECONDS="1", AUTOMATION_SWEEP_SECONDS="1")
    first = processes.start(["worker", "--interval", "0.2", "--id", "first"], env)
    second = processes.start(["worker", "--interval", "0.2", "--id", "second"], env)
    try:
        try:
            processes.wait_for(
                lambda: AutomationFiring.objects.filter(automation=automation).count() >= TICKETS,
                timeout=60,
                interval=0.5,
                what="every ticket to be reminded",
            )
        except AssertionError as error:
            raise AssertionError(f"{error}\n{first.output()}\n{second.output()}") from None
        # Let both go on sweeping for a while: nothing may fire twice.
        try:
            processes.wait_for(
                lambda: len(_sweeps()) >= 4, timeout=20, interval=0.5, what="more sweeps"
            )
        except AssertionError as error:
            runs = list(PeriodicRun.objects.values_list("job", "slot", "fired_by"))
            tasks = list(DBTaskResult.objects.values_list("task_path", "args_kwargs", "status"))
            raise AssertionError(f"{error} {runs} {tasks}") from None
        timeout_output = ""
    finally:
        timeout_output = processes.stop(first) + processes.stop(second)

    fired = list(
        AutomationFiring.objects.filter(automation=automation).values_list("ticket_id", flat=True)
    )
    assert sorted(fired) == sorted(t.pk for t in made), timeout_output
    assert Execution.objects.filter(automation=automation).count() == TICKETS
    assert TicketTag.objects.filter(name="reminded").count() == TICKETS
    tag_events: dict[str, Any] = {}
    for event in OutboxEvent.objects.filter(
        topic="ticket.updated", cause__automation=automation.pk
    ):
        tag_events[event.object_id] = tag_events.get(event.object_id, 0) + 1
    assert set(tag_events.values()) == {1}
    # Both workers ran the scheduler; the periodic sweep went to whichever was free.
    assert len(_sweeps()) >= 4


def _sweeps() -> list[list[str]]:
    return [
        result.worker_ids
        for result in DBTaskResult.objects.filter(task_path__endswith="run_periodic")
        if result.args_kwargs.get("args") == ["automation.sweep"]
    ]


def test_two_sweeps_racing_over_the_same_tickets_act_on_each_once(
    make_automation: Callable[..., Automation], make_ticket: Callable[..., Ticket]
) -> None:
    with time_machine.travel(timezone.now() - timedelta(hours=3), tick=False):
        automation = make_automation(
            "Remind when not accepted", actions=[{"type": "add_tags", "tags": ["reminded"]}]
        )
        made = [make_ticket(subject=f"Ticket {n}") for n in range(TICKETS)]
    env = processes.process_env()
    # Two processes start the same sweep at once: both see all tickets as candidates.
    first = processes.start(["sweep_automations"], env)
    second = processes.start(["sweep_automations"], env)
    first.wait(timeout=120)
    second.wait(timeout=120)
    output = processes.stop(first) + processes.stop(second)

    counts = [
        int(line.rsplit(":", 1)[1])
        for line in output.splitlines()
        if line.startswith("automation ")
    ]
    assert sum(counts) == TICKETS, output
    assert TicketTag.objects.filter(name="reminded").count() == TICKETS
    assert AutomationFiring.objects.filter(automation=automation).count() == len(made)
