"""explain(): per leaf what it expects, what the ticket holds and whether it matched."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import translation

from aftersales.conditions.activation import EventFacts, ticket_activation
from aftersales.conditions.catalog import Catalog
from aftersales.conditions.compiler import ConditionInvalid, LeafResult, explain
from aftersales.tickets.models import Ticket

WORDS = ["支付", "付款"]
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture
def ticket(
    helpdesk: dict[str, Any],
    make_ticket: Callable[..., Ticket],
    fetch: Callable[[Ticket], Ticket],
) -> Ticket:
    return fetch(
        make_ticket(
            requester=helpdesk["carol"],
            subject="扫码付款失败",
            tags=["refund"],
            custom_fields={"fault": "other", "product": ["washer", "e3"], "amount": "12.50"},
        )
    )


def test_explain_shows_labels_expected_and_actual_values(catalog: Catalog, ticket: Ticket) -> None:
    tree = {
        "all": [
            {"field": "customer.tier", "op": "is", "value": "vip"},
            {
                "any": [
                    {"field": "ticket.cf.fault", "op": "is", "value": "payment_failed"},
                    {"field": "ticket.subject", "op": "contains_any_words", "value": WORDS},
                ]
            },
            {"field": "ticket.cf.product", "op": "in", "value": ["washer", "aircon/cold"]},
            {"field": "ticket.cf.amount", "op": "between", "value": [10, 20]},
            {"field": "ticket.tags", "op": "has_none", "value": ["refund"]},
            {"field": "ticket.assignee", "op": "is_empty"},
            {"field": "now.hour", "op": "hour_between", "value": [9, 18]},
        ]
    }
    activation = ticket_activation(ticket, now=NOW)

    with translation.override("en"):
        results = explain(tree, catalog, activation)

    assert results == [
        LeafResult("condition.all.0", "customer.tier", "Customer tier", "is", "is",
                   "VIP", "VIP", True),
        LeafResult("condition.all.1.any.0", "ticket.cf.fault", "Fault", "is", "is",
                   "Payment failed", "Other", False),
        LeafResult("condition.all.1.any.1", "ticket.subject", "Subject", "contains_any_words",
                   "contains any of the words", "支付, 付款", "扫码付款失败", True),
        LeafResult("condition.all.2", "ticket.cf.product", "Product", "in", "is any of",
                   "Washer, Air conditioner / Not cooling", "Washer / E3", True),
        LeafResult("condition.all.3", "ticket.cf.amount", "Amount", "between", "is between",
                   "10 \u2013 20", "12.50", True),
        LeafResult("condition.all.4", "ticket.tags", "Tags", "has_none", "has none of",
                   "refund", "refund", False),
        LeafResult("condition.all.5", "ticket.assignee", "Assignee", "is_empty", "is empty",
                   "", "\u2014", True),
        LeafResult("condition.all.6", "now.hour", "Time of day", "hour_between",
                   "is between the hours", "09:00 \u2013 18:00", "10", True),
    ]  # fmt: skip


def test_explain_shows_a_change_as_before_and_after(
    helpdesk: dict[str, Any], catalog: Catalog, ticket: Ticket
) -> None:
    facts = EventFacts(type="updated", changes={"ticket.priority": (2, 4)})
    tree = {"all": [{"field": "ticket.priority", "op": "changed_to", "value": "urgent"}]}

    with translation.override("en"):
        (result,) = explain(tree, catalog, ticket_activation(ticket, event=facts, now=NOW))

    assert (result.expected, result.actual, result.matched) == ("Urgent", "Normal → Urgent", True)


def test_explain_refuses_an_invalid_tree(catalog: Catalog, ticket: Ticket) -> None:
    tree = {"all": [{"field": "customer.tier", "op": "is", "value": "gold"}]}

    with pytest.raises(ConditionInvalid):
        explain(tree, catalog, ticket_activation(ticket, now=NOW))
