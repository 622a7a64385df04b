"""The sweep's database filter lets through every ticket the condition could hold for, and
(for the leaves that map onto columns) little else."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aftersales.automation.prefilter import prefilter
from aftersales.conditions import compiler
from aftersales.conditions.activation import ticket_activation
from aftersales.conditions.catalog import ticket_catalog
from aftersales.customfields import services as customfields
from aftersales.tickets.models import Ticket, form_key_of
from tests.automation.conftest import all_of, leaf

pytestmark = pytest.mark.django_db


@pytest.fixture
def spread(desk: dict[str, Any], make_ticket: Callable[..., Ticket]) -> list[Ticket]:
    customfields.create_definition(
        actor=desk["admin"],
        target="tickets.ticket",
        subtarget=form_key_of(desk["repair"].pk),
        key="region",
        field_type="single_choice",
        label_zh="地区",
        label_en="Region",
        config={"options": [{"key": k, "label_zh": k, "label_en": k} for k in ("east", "north")]},
    )
    made = []
    for priority in (Ticket.Priority.NORMAL, Ticket.Priority.URGENT):
        for region in ("east", "north", None):
            values = {} if region is None else {"region": region}
            made.append(make_ticket(priority=priority, custom_fields=values, subject=f"{region}"))
    made.append(make_ticket(team=None, subject="no team"))
    return made


TREES = [
    all_of(leaf("ticket.priority", "is", "urgent")),
    all_of(leaf("ticket.priority", "is", "urgent"), leaf("ticket.cf.region", "is", "east")),
    all_of(leaf("ticket.cf.region", "in", ["east", "north"])),
    {"any": [leaf("ticket.priority", "is", "urgent"), leaf("ticket.cf.region", "is", "north")]},
    {
        "any": [
            leaf("ticket.priority", "is", "urgent"),
            leaf("ticket.text", "contains_any_words", ["east"]),
        ]
    },
    all_of(leaf("ticket.priority", "is_not", "urgent"), leaf("ticket.cf.region", "is_empty")),
    all_of(
        leaf("customer.tier", "is", "normal"), leaf("ticket.priority", "in", ["urgent", "high"])
    ),
]


@pytest.mark.parametrize("tree", TREES)
def test_every_ticket_the_condition_holds_for_passes_the_filter(
    desk: dict[str, Any], spread: list[Ticket], tree: dict[str, Any]
) -> None:
    catalog = ticket_catalog()
    compiled = compiler.compile_condition(tree, catalog)
    holds = {
        t.pk
        for t in Ticket.objects.select_related("requester__tier")
        if compiler.evaluate(compiled.program, ticket_activation(t))
    }
    narrowing = prefilter(compiled.tree, catalog)
    passes = set(
        (
            Ticket.objects.filter(narrowing) if narrowing is not None else Ticket.objects.all()
        ).values_list("pk", flat=True)
    )

    assert holds <= passes


def test_columns_and_choice_fields_narrow_the_tickets_read(
    desk: dict[str, Any], spread: list[Ticket]
) -> None:
    catalog = ticket_catalog()
    tree = compiler.compile_condition(TREES[1], catalog).tree

    narrowing = prefilter(tree, catalog)

    assert narrowing is not None
    assert list(Ticket.objects.filter(narrowing).values_list("subject", flat=True)) == ["east"]


def test_a_group_with_an_untranslatable_part_does_not_narrow(desk: dict[str, Any]) -> None:
    catalog = ticket_catalog()
    tree = compiler.compile_condition(TREES[4], catalog).tree

    assert prefilter(tree, catalog) is None
