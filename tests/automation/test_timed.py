"""Time-based automations: found by indexed range queries, fired once per ticket, with the
business clock when asked."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

from aftersales.automation import timed
from aftersales.automation.models import Automation, AutomationFiring, Execution
from aftersales.sla import services as sla
from aftersales.tickets import services as tickets
from aftersales.tickets.models import Ticket
from tests.automation.conftest import all_of, leaf

pytestmark = pytest.mark.django_db

# Tuesday 24 November 2026, 09:00 in Shanghai.
MORNING = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


def at(moment: datetime) -> Any:
    return time_machine.travel(moment, tick=False)


def reminded(ticket: Ticket) -> bool:
    return "reminded" in tickets.tags_of(ticket)


def remind(make_automation: Callable[..., Automation], **values: Any) -> Automation:
    return make_automation(
        "Remind when not accepted",
        actions=[{"type": "add_tags", "tags": ["reminded"]}],
        **values,
    )


def test_a_ticket_is_acted_on_once_when_its_clock_passes_the_threshold(
    make_automation: Callable[..., Automation], make_ticket: Callable[..., Ticket]
) -> None:
    with at(MORNING):
        automation = remind(make_automation)
        ticket = make_ticket()
    with at(MORNING + timedelta(hours=1, minutes=59)):
        assert timed.sweep(Automation.objects.get(pk=automation.pk)) == 0
    assert not reminded(ticket)

    with at(MORNING + timedelta(hours=2, minutes=1)):
        assert timed.sweep(Automation.objects.get(pk=automation.pk)) == 1
    with at(MORNING + timedelta(hours=5)):
        assert timed.sweep(Automation.objects.get(pk=automation.pk)) == 0

    assert reminded(ticket)
    assert AutomationFiring.objects.filter(automation=automation, ticket=ticket).count() == 1
    entry = Execution.objects.get(ticket=ticket)
    assert (entry.automation_id, entry.trigger, entry.outcome) == (automation.pk, "time", "applied")


def test_a_ticket_that_left_the_status_categories_is_left_alone(
    desk: dict[str, Any],
    make_automation: Callable[..., Automation],
    make_ticket: Callable[..., Ticket],
) -> None:
    with at(MORNING):
        automation = remind(make_automation)
        ticket = make_ticket()
    with at(MORNING + timedelta(minutes=30)):
        accepted = tickets.status_of_category(desk["repair"], "open")
        tickets.update_ticket(actor=desk["admin"], ticket=ticket, changes={"status": accepted})
    with at(MORNING + timedelta(hours=3)):
        assert timed.sweep(Automation.objects.get(pk=automation.pk)) == 0
    assert not reminded(ticket)


def test_conditions_narrow_the_tickets_and_a_later_change_is_still_seen(
    desk: dict[str, Any],
    make_automation: Callable[..., Automation],
    make_ticket: Callable[..., Ticket],
) -> None:
    with at(MORNING):
        automation = remind(
            make_automation, condition=all_of(leaf("ticket.priority", "is", "urgent"))
        )
        ticket = make_ticket()
    with at(MORNING + timedelta(hours=3)):
        assert timed.sweep(Automation.objects.get(pk=automation.pk)) == 0
    # Long past the threshold, the ticket becomes urgent: the next sweep sees the change.
    with at(MORNING + timedelta(hours=4)):
        tickets.update_ticket(
            actor=desk["admin"], ticket=ticket, changes={"priority": Ticket.Priority.URGENT}
        )
    with at(MORNING + timedelta(hours=4, minutes=1)):
        assert timed.sweep(Automation.objects.get(pk=automation.pk)) == 1
    assert reminded(ticket)


def test_business_hours_skip_the_night(
    desk: dict[str, Any],
    make_automation: Callable[..., Automation],
    make_ticket: Callable[..., Ticket],
) -> None:
    calendar = sla.create_calendar(
        actor=desk["admin"],
        name="Office",
        hours={str(day): [{"start": "09:00", "end": "18:00"}] for day in range(5)},
    )
    evening = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # 17:00 in Shanghai
    with at(evening):
        automation = remind(make_automation, business_hours=True, calendar=calendar.pk)
        ticket = make_ticket()
    # 22:00 local: five calendar hours later but only one business hour.
    with at(evening + timedelta(hours=5)):
        assert timed.sweep(Automation.objects.get(pk=automation.pk)) == 0
    # 10:01 local next day: two business hours have passed.
    with at(evening + timedelta(hours=17, minutes=1)):
        assert timed.sweep(Automation.objects.get(pk=automation.pk)) == 1
    assert reminded(ticket)


def test_the_sweep_asks_only_for_the_window_not_every_ticket(
    make_automation: Callable[..., Automation],
    make_ticket: Callable[..., Ticket],
    django_assert_max_num_queries: Any,
) -> None:
    with at(MORNING):
        automation = remind(make_automation)
        for _ in range(5):
            make_ticket()
    with at(MORNING + timedelta(hours=3)):
        assert timed.sweep(Automation.objects.get(pk=automation.pk)) == 5
    with at(MORNING + timedelta(hours=4)), django_assert_max_num_queries(6):
        # Nothing crossed the threshold since the last sweep: a couple of small queries.
        assert timed.sweep(Automation.objects.get(pk=automation.pk)) == 0


def test_a_new_automation_pages_through_every_waiting_ticket(
    monkeypatch: pytest.MonkeyPatch,
    make_automation: Callable[..., Automation],
    make_ticket: Callable[..., Ticket],
) -> None:
    monkeypatch.setattr(timed, "BATCH", 2)
    with at(MORNING):
        made = [make_ticket() for _ in range(5)]
        automation = remind(make_automation)

    with at(MORNING + timedelta(hours=3)):
        assert timed.sweep(Automation.objects.get(pk=automation.pk)) == 5

    assert all(reminded(ticket) for ticket in made)


def test_a_sweep_cut_short_resumes_where_it_stopped(
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
    make_automation: Callable[..., Automation],
    make_ticket: Callable[..., Ticket],
) -> None:
    monkeypatch.setattr(timed, "BATCH", 2)
    settings.AUTOMATION_SWEEP_BUDGET_SECONDS = 0.000001  # one page per sweep
    with at(MORNING):
        made = [make_ticket() for _ in range(5)]  # created in the same instant
        automation = remind(make_automation)

    counts = []
    for minute in range(1, 6):
        with at(MORNING + timedelta(hours=3, minutes=minute)):
            counts.append(timed.sweep(Automation.objects.get(pk=automation.pk)))

    assert sum(counts) == 5
    assert counts[0] == 2
    assert all(reminded(ticket) for ticket in made)
