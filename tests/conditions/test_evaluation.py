"""Every operator on real tickets: true on the ticket that fits, false on the one that does not."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from aftersales.conditions import operators as ops
from aftersales.conditions.activation import Activation, EventFacts, ticket_activation
from aftersales.conditions.catalog import Catalog
from aftersales.conditions.compiler import compile_condition, evaluate
from aftersales.tickets.models import Ticket

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A Wednesday morning in Shanghai.
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI)


@pytest.fixture
def pair(
    helpdesk: dict[str, Any],
    make_ticket: Callable[..., Ticket],
    fetch: Callable[[Ticket], Ticket],
) -> dict[str, Activation]:
    """``match``: Carol's (VIP) payment ticket, filed two days ago; ``other``: Alice's drain
    ticket filed now, with other or no values."""
    with time_machine.travel(NOW - timedelta(hours=48), tick=False):
        match = make_ticket(
            requester=helpdesk["carol"],
            subject="无法支付 Payment FAILED",
            description="扫码付款后没有反应",
            priority=Ticket.Priority.HIGH,
            channel=Ticket.Channel.PHONE,
            assignee=helpdesk["insider"],
            tags=["vip", "refund"],
            due_at=NOW + timedelta(hours=4),
            custom_fields={
                "fault": "payment_failed",
                "product": ["washer", "e3"],
                "parts": ["pump", "belt"],
                "amount": "12.50",
                "visits": 2,
                "visit_at": "2026-11-20T02:00:00Z",
                "bought_on": "2026-01-02",
                "remark": "Call after 6PM",
                "under_warranty": True,
            },
        )
    with time_machine.travel(NOW, tick=False):
        other = make_ticket(
            custom_fields={
                "fault": "other",
                "product": ["aircon", "cold"],
                "amount": "99",
                "visits": 7,
                "under_warranty": False,
            },
        )
    return {
        "match": ticket_activation(fetch(match), now=NOW),
        "other": ticket_activation(fetch(other), now=NOW),
    }


def _leaf(field: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"field": field, "op": op, "value": value}


CASES: list[tuple[str, dict[str, Any], bool, bool]] = [
    ("priority is", _leaf("ticket.priority", "is", "high"), True, False),
    ("priority is not", _leaf("ticket.priority", "is_not", "normal"), True, False),
    ("priority in", _leaf("ticket.priority", "in", ["high", "urgent"]), True, False),
    ("priority not in", _leaf("ticket.priority", "not_in", ["low", "normal"]), True, False),
    ("channel is", _leaf("ticket.channel", "is", "phone"), True, False),
    ("tier is", _leaf("customer.tier", "is", "vip"), True, False),
    ("tier not in", _leaf("customer.tier", "not_in", ["normal"]), True, False),
    ("customer tag", _leaf("customer.tags", "has_any", ["key-account"]), True, False),
    ("choice is", _leaf("ticket.cf.fault", "is", "payment_failed"), True, False),
    ("choice not in", _leaf("ticket.cf.fault", "not_in", ["other"]), True, False),
    ("cascade top level", _leaf("ticket.cf.product", "is", "washer"), True, False),
    ("cascade leaf", _leaf("ticket.cf.product", "is", "washer/e3"), True, False),
    ("cascade in", _leaf("ticket.cf.product", "in", ["washer/noise", "washer/e3"]), True, False),
    ("cascade is not", _leaf("ticket.cf.product", "is_not", "aircon"), True, False),
    ("chinese words", _leaf("ticket.subject", "contains_any_words", ["支付", "付款"]), True, False),
    ("words in description", _leaf("ticket.text", "contains_any_words", ["付款"]), True, False),
    ("any case", _leaf("ticket.subject", "contains_any_words", ["payment failed"]), True, False),
    ("no words", _leaf("ticket.subject", "contains_no_words", ["drain"]), True, False),
    ("custom text words", _leaf("ticket.cf.remark", "contains_any_words", ["6pm"]), True, False),
    ("text is", _leaf("ticket.subject", "is", "无法支付 Payment FAILED"), True, False),
    ("assignee set", _leaf("ticket.assignee", "is_not_empty"), True, False),
    ("remark empty", _leaf("ticket.cf.remark", "is_empty"), False, True),
    ("tags has all", _leaf("ticket.tags", "has_all", ["vip", "refund"]), True, False),
    ("tags has none", _leaf("ticket.tags", "has_none", ["refund"]), False, True),
    ("parts has any", _leaf("ticket.cf.parts", "has_any", ["belt", "board"]), True, False),
    ("parts has all", _leaf("ticket.cf.parts", "has_all", ["pump", "belt"]), True, False),
    ("decimal lt", _leaf("ticket.cf.amount", "lt", 50), True, False),
    ("decimal between", _leaf("ticket.cf.amount", "between", ["10", "20.5"]), True, False),
    ("number lte", _leaf("ticket.cf.visits", "lte", 2), True, False),
    ("number is", _leaf("ticket.cf.visits", "is", 2), True, False),
    ("number is not", _leaf("ticket.cf.visits", "is_not", 7), True, False),
    ("date gt", _leaf("ticket.cf.bought_on", "gt", "2026-01-01"), True, False),
    ("date gte", _leaf("ticket.cf.bought_on", "gte", "2026-01-02"), True, False),
    (
        "date between",
        _leaf("ticket.cf.bought_on", "between", ["2026-01-01", "2026-01-31"]),
        True,
        False,
    ),
    ("time older than", _leaf("ticket.cf.visit_at", "older_than_hours", 24), True, False),
    ("time within", _leaf("ticket.cf.visit_at", "within_last_hours", 200), True, False),
    ("created older than", _leaf("ticket.created_at", "older_than_hours", 24), True, False),
    ("created within", _leaf("ticket.created_at", "within_last_hours", 24), False, True),
    ("created before", _leaf("ticket.created_at", "lt", "2026-11-24"), True, False),
    ("created at or before", _leaf("ticket.created_at", "lte", "2026-11-23T10:00"), True, False),
    ("due set", _leaf("ticket.due_at", "is_not_empty"), True, False),
    ("yes", _leaf("ticket.cf.under_warranty", "is_true"), True, False),
    ("no", _leaf("ticket.cf.under_warranty", "is_false"), False, True),
]


@pytest.mark.parametrize(("_case", "leaf", "on_match", "on_other"), CASES)
def test_operator_on_real_tickets(
    catalog: Catalog,
    pair: dict[str, Activation],
    _case: str,
    leaf: dict[str, Any],
    on_match: bool,
    on_other: bool,
) -> None:
    program = compile_condition({"all": [leaf]}, catalog).program

    assert evaluate(program, pair["match"]) is on_match
    assert evaluate(program, pair["other"]) is on_other


def test_the_cases_cover_every_operator() -> None:
    """Each operator is proved both ways here or in the event and clock tests below."""
    elsewhere = {*ops.CHANGE_OPERATORS, "hour_between", "weekday_in"}
    covered = {leaf["op"] for _case, leaf, _match, _other in CASES} | elsewhere
    both_ways = {leaf["op"] for _case, leaf, match, other in CASES if match != other}

    assert covered == set(ops.OPERATORS)
    assert both_ways | elsewhere == set(ops.OPERATORS)


def test_groups_combine_leaves(catalog: Catalog, pair: dict[str, Activation]) -> None:
    """customer tier is VIP and (fault is payment failed or subject has 支付/付款)."""
    tree = {
        "all": [
            _leaf("customer.tier", "is", "vip"),
            {
                "any": [
                    _leaf("ticket.cf.fault", "is", "no_power"),
                    _leaf("ticket.subject", "contains_any_words", ["支付", "付款"]),
                ]
            },
        ]
    }
    program = compile_condition(tree, catalog).program

    assert evaluate(program, pair["match"]) is True
    assert evaluate(program, pair["other"]) is False


# --- Event facts ----------------------------------------------------------------------------


@pytest.fixture
def updated(
    helpdesk: dict[str, Any],
    make_ticket: Callable[..., Ticket],
    fetch: Callable[[Ticket], Ticket],
) -> Activation:
    """An update that raised the priority, assigned the ticket and changed two custom fields."""
    ticket = fetch(make_ticket(custom_fields={"fault": "payment_failed"}))
    facts = EventFacts(
        type="updated",
        actor_kind="agent",
        changes={
            "ticket.priority": (Ticket.Priority.NORMAL, Ticket.Priority.HIGH),
            "ticket.assignee": (None, helpdesk["insider"]),
            "ticket.team": ({"id": helpdesk["team_a"].pk, "name": "East"}, None),
            "ticket.cf.fault": ("other", "payment_failed"),
            "ticket.cf.product": (["aircon", "cold"], ["washer", "e3"]),
            "ticket.cf.amount": ("5.00", "12.50"),
        },
    )
    return ticket_activation(ticket, event=facts, now=NOW)


def _insider(helpdesk: dict[str, Any]) -> int:
    return int(helpdesk["insider"].pk)


CHANGE_CASES: list[tuple[str, Callable[[dict[str, Any]], dict[str, Any]], bool]] = [
    ("priority changed", lambda d: _leaf("ticket.priority", "changed"), True),
    ("status unchanged", lambda d: _leaf("ticket.status", "changed"), False),
    ("team from label", lambda d: _leaf("ticket.team", "changed_from", d["team_a"].pk), True),
    ("team to nobody", lambda d: _leaf("ticket.team", "changed_to", d["team_a"].pk), False),
    ("from normal", lambda d: _leaf("ticket.priority", "changed_from", "normal"), True),
    ("not from high", lambda d: _leaf("ticket.priority", "changed_from", "high"), False),
    ("to high", lambda d: _leaf("ticket.priority", "changed_to", "high"), True),
    ("not to urgent", lambda d: _leaf("ticket.priority", "changed_to", "urgent"), False),
    ("assigned to", lambda d: _leaf("ticket.assignee", "changed_to", _insider(d)), True),
    ("was unassigned", lambda d: _leaf("ticket.assignee", "changed_from", _insider(d)), False),
    ("custom to", lambda d: _leaf("ticket.cf.fault", "changed_to", "payment_failed"), True),
    ("custom from", lambda d: _leaf("ticket.cf.fault", "changed_from", "payment_failed"), False),
    ("cascade to", lambda d: _leaf("ticket.cf.product", "changed_to", "washer"), True),
    ("cascade from", lambda d: _leaf("ticket.cf.product", "changed_from", "washer"), False),
    ("decimal from", lambda d: _leaf("ticket.cf.amount", "changed_from", 5), True),
    ("decimal to", lambda d: _leaf("ticket.cf.amount", "changed_to", 5), False),
    ("event type", lambda d: _leaf("event.type", "is", "updated"), True),
    ("actor kind", lambda d: _leaf("event.actor_kind", "is", "customer"), False),
]


@pytest.mark.parametrize(("_case", "make_leaf", "expected"), CHANGE_CASES)
def test_change_operators_read_the_event(
    helpdesk: dict[str, Any],
    catalog: Catalog,
    updated: Activation,
    _case: str,
    make_leaf: Callable[[dict[str, Any]], dict[str, Any]],
    expected: bool,
) -> None:
    program = compile_condition({"all": [make_leaf(helpdesk)]}, catalog).program

    assert evaluate(program, updated) is expected


def test_without_an_event_nothing_changed(
    catalog: Catalog, make_ticket: Callable[..., Ticket], fetch: Callable[[Ticket], Ticket]
) -> None:
    activation = ticket_activation(fetch(make_ticket()), now=NOW)
    program = compile_condition({"all": [_leaf("ticket.priority", "changed")]}, catalog).program

    assert evaluate(program, activation) is False
