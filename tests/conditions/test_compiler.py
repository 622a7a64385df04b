"""Compiling condition trees: every refused value names its path; user text stays a literal."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import translation

from aftersales.conditions import literals
from aftersales.conditions.catalog import Catalog
from aftersales.conditions.compiler import (
    MAX_DEPTH,
    ConditionInvalid,
    compile_condition,
    evaluate,
    program_for,
)
from aftersales.conditions.environment import environment
from aftersales.core.errors import DomainError


def _errors(tree: Any, catalog: Catalog) -> list[tuple[str, str]]:
    with pytest.raises(ConditionInvalid) as caught:
        compile_condition(tree, catalog)
    return [(error["field"], error["code"]) for error in caught.value.errors()]


def _leaf(field: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"field": field, "op": op, "value": value}


@pytest.mark.parametrize("tree", [None, {}, {"all": []}, {"any": []}])
def test_an_empty_condition_is_always_true(catalog: Catalog, tree: Any) -> None:
    """No condition at all means the rule always applies."""
    compiled = compile_condition(tree, catalog)

    assert compiled.cel == "true"
    assert compiled.tree == ({"any": []} if tree == {"any": []} else {"all": []})
    assert evaluate(compiled.program, {}) is True


def test_a_bare_condition_is_wrapped_in_an_all_group(catalog: Catalog) -> None:
    compiled = compile_condition(_leaf("ticket.priority", "is", "high"), catalog)

    assert compiled.tree == {"all": [{"field": "ticket.priority", "op": "is", "value": "high"}]}
    assert compiled.cel == 'ticket.priority == "high"'


UNKNOWN_OPTION = "unknown_option"
NOT_WHOLE = "invalid_whole_number"


@pytest.mark.parametrize(
    ("_case", "leaf", "path", "code"),
    [
        ("unknown field", _leaf("ticket.prioritty", "is", "high"), "field", "unknown_field"),
        ("unknown custom field", _leaf("ticket.cf.nope", "is", "x"), "field", "unknown_field"),
        (
            "operator of another type",
            _leaf("ticket.priority", "gt", "high"),
            "op",
            "unknown_operator",
        ),
        ("unknown option", _leaf("ticket.priority", "is", "highest"), "value", UNKNOWN_OPTION),
        (
            "unknown custom option",
            _leaf("ticket.cf.fault", "is", "burnt"),
            "value",
            "unknown_option",
        ),
        (
            "option of another level",
            _leaf("ticket.cf.product", "is", "e3"),
            "value",
            "unknown_option",
        ),
        ("empty list", _leaf("ticket.priority", "in", []), "value", "required"),
        ("id as text", _leaf("ticket.team", "is", "team a"), "value", NOT_WHOLE),
        ("unknown team", _leaf("ticket.team", "is", 999999), "value", UNKNOWN_OPTION),
        ("number as words", _leaf("ticket.cf.amount", "gt", "lots"), "value", "invalid_number"),
        ("not a date", _leaf("ticket.cf.bought_on", "lt", "2026-13-01"), "value", "invalid_date"),
        ("not a time", _leaf("ticket.created_at", "gt", "yesterday"), "value", "invalid_datetime"),
        ("inverted range", _leaf("ticket.cf.visits", "between", [5, 1]), "value", "inverted_range"),
        ("one bound", _leaf("ticket.cf.visits", "between", [5]), "value", "invalid_range"),
        ("no words", _leaf("ticket.subject", "contains_any_words", []), "value", "required"),
        ("blank word", _leaf("ticket.subject", "contains_any_words", ["  "]), "value", "required"),
        ("zero hours", _leaf("ticket.created_at", "older_than_hours", 0), "value", "invalid_hours"),
        ("hour 25", _leaf("now.hour", "hour_between", [9, 25]), "value", NOT_WHOLE),
        ("same hours", _leaf("now.hour", "hour_between", [9, 9]), "value", "empty_range"),
        ("weekday 8", _leaf("now.weekday", "weekday_in", [1, 8]), "value", NOT_WHOLE),
        (
            "unknown part",
            _leaf("ticket.cf.parts", "has_any", ["pump", "gear"]),
            "value",
            "unknown_option",
        ),
        ("tag not text", _leaf("ticket.tags", "has_any", [3]), "value", "required"),
        ("change of text", _leaf("ticket.subject", "changed_to", "x"), "op", "unknown_operator"),
        (
            "bool not bool",
            _leaf("ticket.cf.under_warranty", "changed_to", "yes"),
            "value",
            "invalid_boolean",
        ),
    ],
)
def test_a_refused_value_names_its_path(
    catalog: Catalog, _case: str, leaf: dict[str, Any], path: str, code: str
) -> None:
    """The error sits on the leaf's field, op or value, inside its group."""
    tree = {"all": [_leaf("ticket.priority", "is", "high"), {"any": [leaf]}]}

    assert _errors(tree, catalog) == [(f"condition.all.1.any.0.{path}", code)]


def test_every_problem_is_reported_at_once(catalog: Catalog) -> None:
    tree = {
        "any": [
            _leaf("ticket.priority", "is", "nope"),
            _leaf("ticket.color", "is", "red"),
            {"all": []},
        ]
    }

    assert _errors(tree, catalog) == [
        ("condition.any.0.value", "unknown_option"),
        ("condition.any.1.field", "unknown_field"),
        ("condition.any.2", "empty_group"),
    ]


def test_the_message_names_the_unknown_option_and_the_field(catalog: Catalog) -> None:
    with translation.override("en"):
        with pytest.raises(ConditionInvalid) as caught:
            compile_condition({"all": [_leaf("ticket.cf.fault", "is", "burnt")]}, catalog)

        assert caught.value.errors()[0]["detail"] == "burnt is not one of the options of Fault."


def test_the_prefix_of_the_paths_is_the_form_field(catalog: Catalog) -> None:
    with pytest.raises(ConditionInvalid) as caught:
        compile_condition({"all": [_leaf("x", "is", 1)]}, catalog, field="rule.condition")

    assert caught.value.field == "rule.condition.all.0.field"


def test_groups_nest_at_most_five_levels(catalog: Catalog) -> None:
    leaf = _leaf("ticket.priority", "is", "high")
    tree: dict[str, Any] = {"all": [leaf]}
    for _ in range(MAX_DEPTH - 1):
        tree = {"any": [tree]}
    assert compile_condition(tree, catalog).cel == 'ticket.priority == "high"'

    too_deep = {"all": [tree]}

    assert _errors(too_deep, catalog) == [("condition.all.0.any.0.any.0.any.0.any.0", "too_deep")]


def test_a_too_large_tree_is_refused(catalog: Catalog) -> None:
    words = [f"word-{index}-" + "x" * 90 for index in range(50)]
    tree = {"any": [_leaf("ticket.text", "contains_any_words", words) for _ in range(5)]}

    assert _errors(tree, catalog) == [("condition", "too_large")]


def test_more_than_a_hundred_conditions_are_refused(catalog: Catalog) -> None:
    tree = {"any": [_leaf("ticket.priority", "is", "high") for _ in range(101)]}

    assert _errors(tree, catalog) == [("condition", "too_many_conditions")]


@pytest.mark.parametrize(
    "text",
    [
        'a" || true || "',
        "a\\",
        '\\" || true || \\"',
        "in",
        "true",
        "null",
        "ticket.priority",
        "'single'",
        '""" triple',
        "line\nbreak\ttab\r",
        "\x07\x1b",
        "\u202e reversed",
        "支付\u3000失败",
        "emoji 🎉",
        "}) || true; ({",
    ],
)
def test_user_text_cannot_leave_its_literal(catalog: Catalog, text: str) -> None:
    """Whatever is typed compares as exactly that text (an injection would make it true)."""
    compiled = compile_condition({"all": [_leaf("ticket.subject", "is", text)]}, catalog)
    data = {"ticket.subject": "Washing machine"}

    assert evaluate(compiled.program, data) is False
    assert evaluate(compiled.program, {"ticket.subject": text.strip()}) is True


@pytest.mark.parametrize("word", ['a") || true || ("', "\\", "支付", "ÄÖ"])
def test_words_cannot_leave_their_literal(catalog: Catalog, word: str) -> None:
    compiled = compile_condition(
        {"all": [_leaf("ticket.text", "contains_any_words", [word])]}, catalog
    )

    assert evaluate(compiled.program, {"ticket.text": "nothing here"}) is False
    assert evaluate(compiled.program, {"ticket.text": f"x {word.lower()} y"}) is True


@pytest.mark.parametrize("text", ["a\ud800", "a\x00b"])
def test_a_lone_surrogate_or_nul_is_refused(catalog: Catalog, text: str) -> None:
    assert _errors({"all": [_leaf("ticket.subject", "is", text)]}, catalog) == [
        ("condition.all.0.value", "invalid_text")
    ]


def test_string_literals_escape_quotes_backslashes_and_controls() -> None:
    assert literals.string('a"b\\c\nd\x01') == '"a\\"b\\\\c\\nd\\u0001"'
    assert literals.string("中文") == '"中文"'


@pytest.mark.parametrize("number", [float("inf"), float("nan")])
def test_a_number_that_is_not_finite_has_no_literal(number: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        literals.double(number)


def test_stored_cel_with_a_typo_does_not_compile() -> None:
    with pytest.raises(DomainError) as caught:
        program_for('ticket.prioritty == "high"')

    assert caught.value.field == "condition"
    assert "ticket.prioritty" in caught.value.detail()


def test_stored_cel_that_compares_text_with_a_number_does_not_compile() -> None:
    with pytest.raises(DomainError):
        program_for("ticket.priority == 3")


def test_stored_cel_that_is_not_true_or_false_is_refused() -> None:
    with pytest.raises(DomainError) as caught:
        program_for("ticket.id + 1")

    assert caught.value.code == "condition_not_boolean"


def test_programs_of_the_same_cel_are_shared() -> None:
    assert program_for("ticket.team == 0") is program_for("ticket.team == 0")


def test_an_evaluation_error_is_false(caplog: pytest.LogCaptureFixture) -> None:
    program = environment().compile('ticket.cf["missing"] == "x"')

    assert evaluate(program, {"ticket.cf": {}}) is False
    assert "could not be evaluated" in caplog.text or "no true/false" in caplog.text


@pytest.mark.parametrize(
    ("tree", "path", "code"),
    [
        (["all"], "condition", "not_a_group"),
        ("ticket.priority == 'high'", "condition", "not_a_group"),
        ({"all": [], "any": []}, "condition", "not_a_group"),
        ({"all": "ticket.priority"}, "condition.all", "not_a_list"),
        ({"all": [3]}, "condition.all.0", "not_a_condition"),
        ({"all": [{"field": "ticket.priority", "op": "is", "value": "high", "x": 1}]},
         "condition.all.0", "unknown_keys"),
    ],
)  # fmt: skip
def test_a_tree_of_the_wrong_shape_is_refused(
    catalog: Catalog, tree: Any, path: str, code: str
) -> None:
    assert _errors(tree, catalog) == [(path, code)]
