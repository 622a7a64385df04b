"""The activation: cheap to build, and the clock read in the business line's calendar."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from aftersales.conditions import activation as activation_module
from aftersales.conditions.activation import EventFacts, ticket_activation
from aftersales.conditions.catalog import Catalog
from aftersales.conditions.compiler import compile_condition, evaluate
from aftersales.sla import services as sla
from aftersales.tickets.models import Ticket

SHANGHAI = ZoneInfo("Asia/Shanghai")
WEDNESDAY_10 = datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI)
WEDNESDAY_20 = datetime(2026, 11, 25, 20, 0, tzinfo=SHANGHAI)
SATURDAY_10 = datetime(2026, 11, 28, 10, 0, tzinfo=SHANGHAI)
OFFICE = {str(day): [{"start": "09:00", "end": "18:00"}] for day in range(5)}


def _holds(catalog: Catalog, leaf: dict[str, Any], ticket: Ticket) -> bool:
    program = compile_condition({"all": [leaf]}, catalog).program
    return evaluate(program, ticket_activation(ticket))


IN_HOURS = {"field": "now.in_business_hours", "op": "is_true", "value": None}
OUT_OF_HOURS = {"field": "now.in_business_hours", "op": "is_false", "value": None}


@pytest.mark.parametrize(
    ("moment", "inside"),
    [(WEDNESDAY_10, True), (WEDNESDAY_20, False), (SATURDAY_10, False)],
)
def test_business_hours_follow_the_lines_calendar(
    helpdesk: dict[str, Any],
    catalog: Catalog,
    make_ticket: Callable[..., Ticket],
    fetch: Callable[[Ticket], Ticket],
    moment: datetime,
    inside: bool,
) -> None:
    sla.create_calendar(
        actor=helpdesk["admin"], name="East office", business_line=helpdesk["line_a"], hours=OFFICE
    )
    ticket = fetch(make_ticket())

    with time_machine.travel(moment, tick=False):
        assert _holds(catalog, IN_HOURS, ticket) is inside
        assert _holds(catalog, OUT_OF_HOURS, ticket) is not inside


def test_a_holiday_is_outside_business_hours(
    helpdesk: dict[str, Any],
    catalog: Catalog,
    make_ticket: Callable[..., Ticket],
    fetch: Callable[[Ticket], Ticket],
) -> None:
    calendar = sla.create_calendar(
        actor=helpdesk["admin"], name="East office", business_line=helpdesk["line_a"], hours=OFFICE
    )
    sla.set_calendar_day(
        actor=helpdesk["admin"], calendar=calendar, day=date(2026, 11, 25), kind="holiday"
    )
    ticket = fetch(make_ticket())

    with time_machine.travel(WEDNESDAY_10, tick=False):
        assert _holds(catalog, IN_HOURS, ticket) is False


def test_without_a_line_calendar_the_default_calendar_counts(
    helpdesk: dict[str, Any],
    catalog: Catalog,
    make_ticket: Callable[..., Ticket],
    fetch: Callable[[Ticket], Ticket],
) -> None:
    """The default calendar is the active one that belongs to no line and no team."""
    sla.create_calendar(actor=helpdesk["admin"], name="Company", hours=OFFICE)
    sla.create_calendar(
        actor=helpdesk["admin"],
        name="West office (other line)",
        business_line=helpdesk["line_b"],
        is_24x7=True,
    )
    ticket = fetch(make_ticket())

    with time_machine.travel(WEDNESDAY_20, tick=False):
        assert _holds(catalog, IN_HOURS, ticket) is False


def test_without_any_calendar_every_hour_is_a_business_hour(
    catalog: Catalog, make_ticket: Callable[..., Ticket], fetch: Callable[[Ticket], Ticket]
) -> None:
    ticket = fetch(make_ticket())

    with time_machine.travel(SATURDAY_10, tick=False):
        assert _holds(catalog, IN_HOURS, ticket) is True


@pytest.mark.parametrize(
    ("leaf", "at_10", "at_20"),
    [
        ({"field": "now.hour", "op": "hour_between", "value": [9, 18]}, True, False),
        ({"field": "now.hour", "op": "hour_between", "value": [18, 9]}, False, True),
        ({"field": "now.hour", "op": "hour_between", "value": [20, 21]}, False, True),
        ({"field": "now.weekday", "op": "weekday_in", "value": [3]}, True, True),
        ({"field": "now.weekday", "op": "weekday_in", "value": [6, 7]}, False, False),
    ],
)
def test_hour_and_weekday_are_read_in_the_calendars_zone(
    helpdesk: dict[str, Any],
    catalog: Catalog,
    make_ticket: Callable[..., Ticket],
    fetch: Callable[[Ticket], Ticket],
    leaf: dict[str, Any],
    at_10: bool,
    at_20: bool,
) -> None:
    """Wednesday 10:00 and 20:00 in Shanghai (02:00 and 12:00 UTC)."""
    sla.create_calendar(
        actor=helpdesk["admin"], name="East office", business_line=helpdesk["line_a"], hours=OFFICE
    )
    ticket = fetch(make_ticket())

    with time_machine.travel(WEDNESDAY_10, tick=False):
        assert _holds(catalog, leaf, ticket) is at_10
    with time_machine.travel(WEDNESDAY_20, tick=False):
        assert _holds(catalog, leaf, ticket) is at_20


def test_weekday_on_saturday(
    catalog: Catalog, make_ticket: Callable[..., Ticket], fetch: Callable[[Ticket], Ticket]
) -> None:
    ticket = fetch(make_ticket())
    weekend = {"field": "now.weekday", "op": "weekday_in", "value": [6, 7]}

    with time_machine.travel(SATURDAY_10, tick=False):
        assert _holds(catalog, weekend, ticket) is True


def test_building_an_activation_reads_the_tags_only(
    helpdesk: dict[str, Any],
    make_ticket: Callable[..., Ticket],
    fetch: Callable[[Ticket], Ticket],
    django_assert_num_queries: Any,
) -> None:
    """With the requester and tier loaded and the calendar cached: one query, for the tags."""
    ticket = fetch(make_ticket(requester=helpdesk["carol"], tags=["b", "a"]))
    activation_module.calendar_for_line(ticket.business_line_id)

    with django_assert_num_queries(1):
        activation = ticket_activation(ticket, event=EventFacts(type="created"))

    assert activation.data["ticket.tags"] == ["a", "b"]
    assert activation.data["customer.tier"] == "vip"
    assert activation.data["customer.tags"] == ["key-account"]


def test_the_calendar_is_read_once_per_cache_period(
    helpdesk: dict[str, Any],
    make_ticket: Callable[..., Ticket],
    fetch: Callable[[Ticket], Ticket],
    django_assert_num_queries: Any,
) -> None:
    sla.create_calendar(
        actor=helpdesk["admin"], name="East office", business_line=helpdesk["line_a"], hours=OFFICE
    )
    ticket = fetch(make_ticket())
    ticket_activation(ticket)

    with django_assert_num_queries(1):
        ticket_activation(ticket)


def test_the_activation_holds_the_tickets_facts(
    helpdesk: dict[str, Any], make_ticket: Callable[..., Ticket], fetch: Callable[[Ticket], Ticket]
) -> None:
    ticket = fetch(
        make_ticket(
            subject="Ärger mit PAYMENT",
            description="扫码付款",
            priority=Ticket.Priority.URGENT,
            custom_fields={"remark": "Call ME", "fault": "other"},
        )
    )

    data = ticket_activation(ticket).data

    assert data["ticket.priority"] == "urgent"
    assert data["ticket.text"] == "ärger mit payment\n扫码付款"
    assert data["ticket.words"]["cf.remark"] == "call me"
    assert data["ticket.cf"] == {"remark": "Call ME", "fault": "other"}
    assert data["ticket.team"] == helpdesk["team_a"].pk
    assert data["ticket.assignee"] == 0
    assert data["ticket.has_due_at"] is False
    assert data["customer.tier"] == "normal"
