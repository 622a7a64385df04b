"""SLA clocks on real tickets: policy choice, due times, pauses, met, warnings and breaches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest
import time_machine
from django.test import TestCase

from aftersales.automation import services as automation_services
from aftersales.automation.models import Execution
from aftersales.outbox.models import OutboxEvent
from aftersales.sla import timers
from aftersales.sla.models import Calendar, TicketSla, TicketSlaChange, TicketSlaTarget
from aftersales.tickets import services as ticket_services
from aftersales.tickets.models import Ticket, TicketTag
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
    """9:00-18:00 Monday to Friday in Shanghai with the Chinese holidays, for line A."""
    timers.forget_specs()
    return make_calendar(name="East office", business_line=desk["line_a"])


def _move(settle: Any, desk: dict[str, Any], ticket: Ticket, key: str, **more: Any) -> Ticket:
    fresh = Ticket.objects.get(pk=ticket.pk)
    return settle(
        lambda: ticket_services.update_ticket(
            actor=desk["admin"],
            ticket=fresh,
            changes={"status": status(desk["repair"], key), **more},
        )
    )


def test_national_day_2026_deadline_is_what_a_person_computes_by_hand(
    desk: dict[str, Any], calendar: Calendar, make_ticket: Callable[..., Ticket], settle: Any
) -> None:
    # The 2026 notice: 10-01…10-07 off, 09-30 (Wed) is the last workday before it.
    # By hand: 30 min on 09-30 (17:30-18:00), nothing until 10-08 09:00, then 3 h 30 min more.
    make_policy(desk["admin"])
    with time_machine.travel(local("2026-09-30 17:30"), tick=False):
        ticket = settle(lambda: make_ticket())
    resolution = target(ticket, "resolution")
    assert resolution.due_at == local("2026-10-08 12:30")
    # The warning, an hour before, comes inside working hours: 10-08 11:30, not on a holiday.
    assert resolution.warn_at == local("2026-10-08 11:30")
    text = timers.explanation_text(resolution, "en")
    assert text.startswith("due 10-08 12:30: 4 h from 09-30 17:30 (Asia/Shanghai)")
    assert "10-01…10-07 holiday (National Day)" in text
    # Nothing fires during the holiday; the warning fires at 11:30 on the first workday.
    assert timers.sweep(local("2026-10-05 12:00")).warned == 0
    # 11:29: only the first response (1 h, due 10-08 09:30) is late by then.
    early = timers.sweep(local("2026-10-08 11:29"))
    assert (early.warned, early.breached) == (0, 1)
    with TestCase.captureOnCommitCallbacks(execute=True):
        result = timers.sweep(local("2026-10-08 11:30"))
    assert (result.warned, result.breached) == (1, 0)
    warning = OutboxEvent.objects.get(topic="sla.warning", payload__target="resolution")
    assert warning.payload["ticket_id"] == ticket.pk
    assert warning.payload["business_line_id"] == desk["line_a"].pk


def test_pausing_two_hours_waiting_for_the_customer_moves_the_deadline_by_two_hours(
    desk: dict[str, Any], calendar: Calendar, make_ticket: Callable[..., Ticket], settle: Any
) -> None:
    make_policy(desk["admin"])
    with time_machine.travel(local("2026-11-23 10:00"), tick=False):  # a Monday
        ticket = settle(lambda: make_ticket())
        ticket = _move(settle, desk, ticket, "open")
    assert target(ticket, "resolution").due_at == local("2026-11-23 14:00")
    with time_machine.travel(local("2026-11-23 11:00"), tick=False):
        _move(settle, desk, ticket, "pending_customer")
    paused = target(ticket, "resolution")
    assert paused.state == "paused"
    # While paused, the sweep passes the old due time without firing.
    assert timers.sweep(local("2026-11-23 14:30")).breached == 0
    with time_machine.travel(local("2026-11-23 13:00"), tick=False):
        _move(settle, desk, ticket, "open")
    resumed = target(ticket, "resolution")
    assert resumed.state == "active"
    assert resumed.paused_minutes == 120
    assert resumed.due_at == local("2026-11-23 16:00")
    assert "paused 2 h waiting for the customer (11-23 11:00-11-23 13:00)" in (
        timers.explanation_text(resumed, "en")
    )


def test_a_pause_over_the_evening_counts_only_business_time(
    desk: dict[str, Any], calendar: Calendar, make_ticket: Callable[..., Ticket], settle: Any
) -> None:
    make_policy(desk["admin"])
    with time_machine.travel(local("2026-11-23 16:00"), tick=False):
        ticket = settle(lambda: make_ticket())
        ticket = _move(settle, desk, ticket, "open")
    with time_machine.travel(local("2026-11-23 17:00"), tick=False):
        _move(settle, desk, ticket, "pending_customer")
    with time_machine.travel(local("2026-11-24 10:00"), tick=False):
        _move(settle, desk, ticket, "open")
    resumed = target(ticket, "resolution")
    # 17:00-18:00 and 09:00-10:00 were paused: 2 business hours; 4 h from 16:00 → 11-24 12:00.
    assert resumed.paused_minutes == 120
    assert resumed.due_at == local("2026-11-24 13:00")


def test_a_policy_that_does_not_pause_keeps_running_while_waiting(
    desk: dict[str, Any], calendar: Calendar, make_ticket: Callable[..., Ticket], settle: Any
) -> None:
    make_policy(desk["admin"], pause_on_pending=False)
    with time_machine.travel(local("2026-11-23 10:00"), tick=False):
        ticket = settle(lambda: make_ticket())
        ticket = _move(settle, desk, ticket, "open")
        _move(settle, desk, ticket, "pending_customer")
    assert target(ticket, "resolution").state == "active"


def test_the_first_matching_policy_wins_and_a_priority_change_rechooses_with_a_reason(
    desk: dict[str, Any], calendar: Calendar, make_ticket: Callable[..., Ticket], settle: Any
) -> None:
    urgent = make_policy(
        desk["admin"],
        name="Urgent",
        position=1,
        condition={"all": [{"field": "ticket.priority", "op": "is", "value": "urgent"}]},
        targets=[{"metric": "resolution", "minutes": 60}],
    )
    standard = make_policy(desk["admin"], name="Standard", position=2)
    with time_machine.travel(local("2026-11-23 10:00"), tick=False):
        ticket = settle(lambda: make_ticket())
    assert TicketSla.objects.get(ticket=ticket).policy == standard
    assert target(ticket, "resolution").due_at == local("2026-11-23 14:00")
    with time_machine.travel(local("2026-11-23 10:30"), tick=False):
        settle(
            lambda: ticket_services.update_ticket(
                actor=desk["admin"],
                ticket=Ticket.objects.get(pk=ticket.pk),
                changes={"priority": "urgent"},
            )
        )
    assert TicketSla.objects.get(ticket=ticket).policy == urgent
    # The clock keeps its start: one business hour from 10:00.
    assert target(ticket, "resolution").due_at == local("2026-11-23 11:00")
    # The urgent policy has no first-response target: that clock stops.
    assert target(ticket, "first_response").state == "stopped"
    change = TicketSlaChange.objects.filter(ticket=ticket).last()
    assert change is not None
    assert (change.old_name, change.new_name, change.reason) == (
        "Standard",
        "Urgent",
        "attributes_changed",
    )
    assert change.changed_fields == ["priority"]


def test_replies_meet_response_targets_and_solving_meets_resolution_reopen_resumes(
    desk: dict[str, Any], calendar: Calendar, make_ticket: Callable[..., Ticket], settle: Any
) -> None:
    from aftersales.tickets.services import conversation

    make_policy(
        desk["admin"],
        targets=[
            {"metric": "first_response", "minutes": 60},
            {"metric": "next_response", "minutes": 120},
            {"metric": "resolution", "minutes": 480},
        ],
    )
    with time_machine.travel(local("2026-11-23 09:00"), tick=False):
        ticket = settle(lambda: make_ticket())
    with time_machine.travel(local("2026-11-23 09:20"), tick=False):
        settle(lambda: conversation.add_comment(actor=desk["admin"], ticket=ticket, body="Hi"))
    first = target(ticket, "first_response")
    assert (first.state, first.met_at) == ("met", local("2026-11-23 09:20"))
    with time_machine.travel(local("2026-11-23 10:00"), tick=False):
        settle(
            lambda: conversation.add_comment(
                actor=desk["contact_a"], ticket=ticket, body="Still broken"
            )
        )
    following = target(ticket, "next_response")
    assert (following.state, following.due_at) == ("active", local("2026-11-23 12:00"))
    with time_machine.travel(local("2026-11-23 11:00"), tick=False):
        settle(lambda: conversation.add_comment(actor=desk["admin"], ticket=ticket, body="On it"))
    assert target(ticket, "next_response").state == "met"
    with time_machine.travel(local("2026-11-23 12:00"), tick=False):
        ticket = _move(settle, desk, ticket, "open")
        ticket = _move(settle, desk, ticket, "solved", custom_fields={"resolution_code": "fixed"})
    assert target(ticket, "resolution").state == "met"
    with time_machine.travel(local("2026-11-23 15:00"), tick=False):
        _move(settle, desk, ticket, "open")
    reopened = target(ticket, "resolution")
    # Solved 12:00-15:00 does not count: 8 h from 09:00 + 3 h = next day 11:00.
    assert (reopened.state, reopened.paused_minutes) == ("active", 180)
    assert reopened.due_at == local("2026-11-24 11:00")


def test_each_breach_fires_once_and_reaches_the_rule_engine(
    desk: dict[str, Any], calendar: Calendar, make_ticket: Callable[..., Ticket], settle: Any
) -> None:
    make_policy(desk["admin"], targets=[{"metric": "resolution", "minutes": 60}])
    rule = automation_services.create_rule(
        actor=desk["admin"],
        values={
            "name": "Escalate on breach",
            "triggers": ["sla_breached"],
            "condition": None,
            "actions": [{"type": "add_tags", "tags": ["escalated"]}],
        },
    )
    with time_machine.travel(local("2026-11-23 09:00"), tick=False):
        ticket = settle(lambda: make_ticket())
    with time_machine.travel(local("2026-11-23 10:05"), tick=False):
        for _ in range(3):
            settle(lambda: timers.sweep())
    assert OutboxEvent.objects.filter(topic="sla.breached").count() == 1
    assert Execution.objects.filter(rule=rule, ticket=ticket).count() == 1
    assert TicketTag.objects.filter(ticket=ticket, name="escalated").exists()
    breached = target(ticket, "resolution")
    assert breached.breached_at == local("2026-11-23 10:00")
    assert breached.condition_at(local("2026-11-23 10:05")) == "breached"


def test_a_ticket_no_policy_matches_has_no_clocks(
    desk: dict[str, Any], calendar: Calendar, make_ticket: Callable[..., Ticket], settle: Any
) -> None:
    make_policy(desk["admin"], business_lines=[desk["line_b"]])
    ticket = settle(lambda: make_ticket())
    assert TicketSla.objects.get(ticket=ticket).policy is None
    assert not TicketSlaTarget.objects.filter(ticket=ticket).exists()


def test_a_company_holiday_added_to_the_calendar_moves_open_deadlines(
    desk: dict[str, Any], calendar: Calendar, make_ticket: Callable[..., Ticket], settle: Any
) -> None:
    from datetime import date

    from aftersales.sla import services as calendar_services

    make_policy(desk["admin"])
    with time_machine.travel(local("2026-11-23 16:00"), tick=False):
        ticket = settle(lambda: make_ticket())
    assert target(ticket, "resolution").due_at == local("2026-11-24 11:00")
    calendar_services.set_calendar_day(
        actor=desk["admin"],
        calendar=calendar,
        day=date(2026, 11, 24),
        kind="holiday",
        name="Company day",
    )
    event = OutboxEvent.objects.filter(topic="calendar.changed").latest("created_at")
    timers.on_config_changed(event)
    moved = target(ticket, "resolution")
    assert moved.due_at == local("2026-11-25 11:00")
    assert "11-24 holiday (Company day)" in timers.explanation_text(moved, "en")


def test_an_edited_policy_reaches_the_open_tickets_under_it_with_a_reason(
    desk: dict[str, Any], calendar: Calendar, make_ticket: Callable[..., Ticket], settle: Any
) -> None:
    from aftersales.sla import policies

    policy = make_policy(desk["admin"])
    with time_machine.travel(local("2026-11-23 10:00"), tick=False):
        ticket = settle(lambda: make_ticket())
    with time_machine.travel(local("2026-11-23 10:30"), tick=False):
        policies.update_policy(
            actor=desk["admin"],
            policy=policy,
            values={"targets": [{"metric": "resolution", "minutes": 120}]},
        )
        event = OutboxEvent.objects.filter(topic="sla_policy.changed").latest("created_at")
        timers.on_config_changed(event)
    assert target(ticket, "resolution").due_at == local("2026-11-23 12:00")
    assert target(ticket, "first_response").state == "stopped"
    change = TicketSlaChange.objects.filter(ticket=ticket).last()
    assert change is not None
    assert change.reason == "policy_edited"
