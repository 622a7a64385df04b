"""Visibility conditions: when a field is shown, written as a small JSON structure.

    {"field": "<other key>", "op": "equals" | "not_equals" | "in" | "not_empty" | "empty",
     "value": ...}
    {"all": [<condition>, ...]}        {"any": [<condition>, ...]}

A field whose condition is false is hidden: its value is dropped and it is never required. A
hidden field counts as empty for the conditions of other fields, so a chain of conditions
collapses the way a person reading the form expects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.utils.translation import gettext_lazy as _

from aftersales.core.errors import DomainError
from aftersales.customfields import registry
from aftersales.customfields.errors import InvalidValue

MAX_DEPTH = 5
OPERATORS = ("equals", "not_equals", "in", "not_empty", "empty")


def _invalid(code: str, message: Any, params: dict[str, Any] | None = None) -> DomainError:
    return DomainError(code, field="visible_when", message=message, params=params)


def referenced_keys(condition: Any) -> set[str]:
    """The field keys a condition reads."""
    if not condition:
        return set()
    if "field" in condition:
        return {str(condition["field"])}
    keys: set[str] = set()
    for part in condition.get("all") or condition.get("any") or []:
        keys |= referenced_keys(part)
    return keys


def normalise(condition: Any, fields: Mapping[str, Any], *, depth: int = 1) -> dict[str, Any]:
    """Check a condition against the definitions it may read; return it in canonical form.

    ``fields`` maps key → definition (anything with ``field_type`` and ``parsed_config``).
    Raises :class:`DomainError` on ``visible_when``.
    """
    if depth > MAX_DEPTH:
        raise _invalid("condition_too_deep", _("Conditions may nest at most 5 levels."))
    if not isinstance(condition, dict):
        raise _invalid("invalid_condition", _("A condition must be an object."))
    for group in ("all", "any"):
        if group in condition:
            parts = condition[group]
            if set(condition) != {group} or not isinstance(parts, list) or not parts:
                raise _invalid(
                    "invalid_condition",
                    _("'%(group)s' takes a non-empty list of conditions and nothing else."),
                    {"group": group},
                )
            return {group: [normalise(part, fields, depth=depth + 1) for part in parts]}
    if set(condition) - {"field", "op", "value"} or "field" not in condition:
        raise _invalid(
            "invalid_condition",
            _("A condition names a field, an operator and (for some operators) a value."),
        )
    key, op = condition.get("field"), condition.get("op")
    if op not in OPERATORS:
        raise _invalid(
            "invalid_operator",
            _("Unknown operator %(op)s."),
            {"op": str(op)[:30]},
        )
    definition = fields.get(str(key))
    if definition is None:
        raise _invalid(
            "unknown_condition_field",
            _("The condition refers to %(field)s, which is not a field of this form."),
            {"field": str(key)[:64]},
        )
    field_type = registry.get(definition.field_type)
    if op not in field_type.operators:
        raise _invalid(
            "operator_not_allowed",
            _("Operator %(op)s cannot be used with a field of type %(type)s."),
            {"op": op, "type": definition.field_type},
        )
    if op in registry.PRESENCE_OPERATORS:
        if condition.get("value") is not None:
            raise _invalid("unexpected_value", _("Operator %(op)s takes no value."), {"op": op})
        return {"field": key, "op": op}
    value = condition.get("value")
    if op == "in" and (not isinstance(value, list) or not value):
        raise _invalid("invalid_condition_value", _("Operator 'in' takes a non-empty list."))
    operands: list[Any] = value if isinstance(value, list) and op == "in" else [value]
    config = definition.parsed_config
    try:
        cleaned = [field_type.condition_operand(item, config) for item in operands]
    except InvalidValue as error:
        raise _invalid(
            "invalid_condition_value",
            _("The condition's value does not fit field %(field)s: %(reason)s"),
            {"field": key, "reason": error.detail()},
        ) from None
    return {"field": key, "op": op, "value": cleaned if op == "in" else cleaned[0]}


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A dependency cycle among field keys, as a path that returns to its start; or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for neighbour in graph.get(node, ()):
            if state.get(neighbour) == 1:
                return [*stack[stack.index(neighbour) :], neighbour]
            if neighbour not in state:
                found = visit(neighbour)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def evaluate(condition: Any, value_of: Callable[[str], Any], type_of: Callable[[str], Any]) -> bool:
    """Is the condition true, reading values through ``value_of`` (hidden fields → None)?"""
    if not condition:
        return True
    if "all" in condition:
        return all(evaluate(part, value_of, type_of) for part in condition["all"])
    if "any" in condition:
        return any(evaluate(part, value_of, type_of) for part in condition["any"])
    key, op = condition["field"], condition["op"]
    stored = value_of(key)
    if op == "empty":
        return registry.is_empty(stored)
    if op == "not_empty":
        return not registry.is_empty(stored)
    if registry.is_empty(stored):
        # An unanswered field equals nothing, so "not equals" holds for it.
        return op == "not_equals"
    field_type = type_of(key)
    if op == "in":
        return any(field_type.matches(stored, operand) for operand in condition["value"])
    matched = field_type.matches(stored, condition["value"])
    return matched if op == "equals" else not matched
