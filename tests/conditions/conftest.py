"""Fixtures of the condition tests: the ticket desk of the ticket tests, with a form of every
custom-field type on the repair type and a VIP customer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from aftersales.conditions import activation as activation_module
from aftersales.conditions.catalog import Catalog, ticket_catalog
from aftersales.customers import services as customer_services
from aftersales.customers.models import CustomerTier
from aftersales.customfields import services as customfields
from aftersales.tickets.models import Ticket, form_key_of
from tests.api.support import fast_hashing
from tests.tickets.conftest import _fast_passwords, _media_in_tmp, desk, make_ticket, make_type

__all__ = ["_fast_passwords", "_media_in_tmp", "desk", "fast_hashing", "make_ticket", "make_type"]


def _options(*items: tuple[str, str, str]) -> list[dict[str, str]]:
    return [{"key": key, "label_zh": zh, "label_en": en} for key, zh, en in items]


FIELDS: list[dict[str, Any]] = [
    {
        "key": "fault",
        "field_type": "single_choice",
        "label_zh": "故障",
        "label_en": "Fault",
        "config": {
            "options": _options(
                ("payment_failed", "支付失败", "Payment failed"),
                ("no_power", "不通电", "No power"),
                ("other", "其他", "Other"),
            )
        },
    },
    {
        "key": "product",
        "field_type": "cascade",
        "label_zh": "产品",
        "label_en": "Product",
        "config": {
            "options": [
                {
                    "key": "washer",
                    "label_zh": "洗衣机",
                    "label_en": "Washer",
                    "children": _options(("e3", "E3 不排水", "E3"), ("noise", "噪音", "Noise")),
                },
                {
                    "key": "aircon",
                    "label_zh": "空调",
                    "label_en": "Air conditioner",
                    "children": _options(("cold", "不制冷", "Not cooling")),
                },
            ]
        },
    },
    {
        "key": "parts",
        "field_type": "multi_choice",
        "label_zh": "配件",
        "label_en": "Parts",
        "config": {
            "options": _options(
                ("pump", "水泵", "Pump"), ("belt", "皮带", "Belt"), ("board", "主板", "Board")
            )
        },
    },
    {"key": "amount", "field_type": "decimal", "label_zh": "金额", "label_en": "Amount"},
    {"key": "visits", "field_type": "number", "label_zh": "上门次数", "label_en": "Visits"},
    {"key": "visit_at", "field_type": "datetime", "label_zh": "上门时间", "label_en": "Visit"},
    {"key": "bought_on", "field_type": "date", "label_zh": "购买日期", "label_en": "Bought on"},
    {"key": "remark", "field_type": "text", "label_zh": "备注", "label_en": "Remark"},
    {
        "key": "under_warranty",
        "field_type": "yes_no",
        "label_zh": "在保",
        "label_en": "Under warranty",
    },
]


@pytest.fixture(autouse=True)
def _fresh_calendars() -> Iterator[None]:
    """Calendars are cached per process; every test starts from its own database."""
    activation_module.forget_calendars()
    yield
    activation_module.forget_calendars()


@pytest.fixture
def helpdesk(desk: dict[str, Any]) -> dict[str, Any]:
    """The desk of the ticket tests plus every custom-field type on the repair form and
    ``carol``, a VIP customer of line A."""
    for definition in FIELDS:
        customfields.create_definition(
            actor=desk["admin"],
            target="tickets.ticket",
            subtarget=form_key_of(desk["repair"].pk),
            **definition,
        )
    carol = customer_services.create_customer(
        actor=desk["admin"],
        name="Carol",
        business_line=desk["line_a"],
        tier=CustomerTier.objects.get(key="vip"),
        tags=["key-account"],
    )
    return {**desk, "carol": carol}


@pytest.fixture
def catalog(helpdesk: dict[str, Any]) -> Catalog:
    return ticket_catalog(business_line_ids=[helpdesk["line_a"].pk])


@pytest.fixture
def fetch() -> Callable[[Ticket], Ticket]:
    """The ticket as the rule engine loads it: with its requester and tier."""

    def load(ticket: Ticket) -> Ticket:
        return Ticket.objects.select_related("requester__tier").get(pk=ticket.pk)

    return load
