"""The condition language evaluated in Python, and cycle detection."""

from __future__ import annotations

from typing import Any

import pytest

from aftersales.customfields import conditions, registry


def evaluate(condition: dict[str, Any], values: dict[str, Any]) -> bool:
    types = {
        "kind": "single_choice",
        "tags": "multi_choice",
        "region": "cascade",
        "count": "number",
    }
    return conditions.evaluate(
        condition, value_of=values.get, type_of=lambda key: registry.get(types[key])
    )


@pytest.mark.parametrize(
    ("_case", "condition", "values", "expected"),
    [
        ("equals", {"field": "kind", "op": "equals", "value": "refund"}, {"kind": "refund"}, True),
        (
            "equals other",
            {"field": "kind", "op": "equals", "value": "refund"},
            {"kind": "repair"},
            False,
        ),
        ("equals unanswered", {"field": "kind", "op": "equals", "value": "refund"}, {}, False),
        (
            "not equals unanswered",
            {"field": "kind", "op": "not_equals", "value": "refund"},
            {},
            True,
        ),
        (
            "not equals same",
            {"field": "kind", "op": "not_equals", "value": "refund"},
            {"kind": "refund"},
            False,
        ),
        ("in", {"field": "count", "op": "in", "value": [1, 2]}, {"count": 2}, True),
        ("in miss", {"field": "count", "op": "in", "value": [1, 2]}, {"count": 3}, False),
        (
            "multi contains",
            {"field": "tags", "op": "equals", "value": "b"},
            {"tags": ["a", "b"]},
            True,
        ),
        (
            "multi in overlaps",
            {"field": "tags", "op": "in", "value": ["x", "a"]},
            {"tags": ["a"]},
            True,
        ),
        (
            "cascade any level",
            {"field": "region", "op": "equals", "value": "gd"},
            {"region": ["gd", "sz"]},
            True,
        ),
        ("empty", {"field": "kind", "op": "empty"}, {"kind": ""}, True),
        ("not empty list", {"field": "tags", "op": "not_empty"}, {"tags": []}, False),
        (
            "all",
            {
                "all": [
                    {"field": "kind", "op": "equals", "value": "refund"},
                    {"field": "count", "op": "not_empty"},
                ]
            },
            {"kind": "refund"},
            False,
        ),
        (
            "any",
            {
                "any": [
                    {"field": "kind", "op": "equals", "value": "refund"},
                    {"field": "count", "op": "not_empty"},
                ]
            },
            {"count": 1},
            True,
        ),
        ("no condition", {}, {}, True),
    ],
)
def test_evaluate(_case, condition, values, expected):
    assert evaluate(condition, values) is expected


@pytest.mark.parametrize(
    ("_case", "graph", "cycle"),
    [
        ("none", {"a": {"b"}, "b": set(), "c": {"b"}}, None),
        ("self", {"a": {"a"}}, ["a", "a"]),
        ("three", {"a": {"c"}, "b": {"a"}, "c": {"b"}}, ["a", "c", "b", "a"]),
        ("tail into cycle", {"x": {"a"}, "a": {"b"}, "b": {"a"}}, ["a", "b", "a"]),
    ],
)
def test_find_cycle(_case, graph, cycle):
    assert conditions.find_cycle(graph) == cycle
