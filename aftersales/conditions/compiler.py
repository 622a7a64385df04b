"""From a condition tree (what the builder stores) to a compiled, type-checked CEL program.

A tree is a group ``{"all": [...]}`` or ``{"any": [...]}`` of leaves
``{"field": key, "op": operator, "value": value}`` and groups, nested at most
:data:`MAX_DEPTH` levels. :func:`compile_condition` checks every leaf against the catalog,
normalises the values, generates CEL (user values only as escaped literals, see
:mod:`aftersales.conditions.literals`) and compiles it; every problem is reported at once with
the path of the part at fault (``condition.all.2.value``). Nothing here evaluates Python.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from cel_expr_python import cel as celpy
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from aftersales.conditions import environment, literals
from aftersales.conditions import operators as ops
from aftersales.conditions.catalog import Catalog, Field
from aftersales.core.errors import DomainError

logger = logging.getLogger(__name__)

MAX_DEPTH = 5  # the root group is level 1
MAX_LEAVES = 100
MAX_TREE_CHARACTERS = 20_000
MAX_VALUES = 200  # per leaf
MAX_WORDS = 50
MAX_WORD_LENGTH = 100
MAX_TEXT_LENGTH = 500
MAX_HOURS = 24 * 366
GROUPS = ("all", "any")
LEAF_KEYS = frozenset({"field", "op", "value"})


# --- Errors -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One reason a tree is refused, at ``field`` (``condition.any.1.value``)."""

    field: str
    code: str
    message: str | Promise
    params: Mapping[str, object]

    def detail(self) -> str:
        text = str(self.message)
        return text % dict(self.params) if self.params else text


class ConditionInvalid(DomainError):
    """The condition cannot be saved; :meth:`errors` lists every part at fault."""

    default_message = _("The condition is not valid.")

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        first = self.problems[0]
        super().__init__(
            first.code, field=first.field, message=first.message, params=dict(first.params)
        )

    def errors(self) -> list[dict[str, str]]:
        return [
            {"field": problem.field, "code": problem.code, "detail": problem.detail()}
            for problem in self.problems
        ]


class _Refused(Exception):
    """A value does not fit its field or operator (becomes a :class:`Problem`)."""

    def __init__(self, code: str, message: str | Promise, **params: object) -> None:
        self.code = code
        self.message = message
        self.params = params
        super().__init__(code)


# --- The normalised tree --------------------------------------------------------------------


@dataclass(frozen=True)
class Leaf:
    path: str
    field: Field
    op: str
    value: Any


@dataclass(frozen=True)
class CompiledCondition:
    tree: dict[str, Any]
    cel: str
    program: Any


class _Checker:
    """Walks a tree once: normalises it, collects problems and the leaves."""

    def __init__(self, catalog: Catalog, root: str) -> None:
        self.catalog = catalog
        self.root = root
        self.problems: list[Problem] = []
        self.leaves: list[Leaf] = []
        self._options: dict[str, dict[Any, str]] = {}

    def refuse(self, path: str, code: str, message: str | Promise, **params: object) -> None:
        self.problems.append(Problem(path, code, message, params))

    def options(self, field: Field) -> dict[Any, str]:
        if field.key not in self._options:
            self._options[field.key] = field.option_values()
        return self._options[field.key]

    def group(self, node: Any, path: str, depth: int) -> dict[str, Any] | None:
        if not isinstance(node, dict) or len(node) != 1 or next(iter(node)) not in GROUPS:
            self.refuse(path, "not_a_group", _('A group is {"all": [...]} or {"any": [...]}.'))
            return None
        kind, children = next(iter(node.items()))
        if not isinstance(children, list):
            self.refuse(f"{path}.{kind}", "not_a_list", _("A group holds a list of conditions."))
            return None
        if depth > MAX_DEPTH:
            self.refuse(
                path, "too_deep", _("Nest groups at most %(max)s levels deep."), max=MAX_DEPTH
            )
            return None
        if not children and depth > 1:
            self.refuse(path, "empty_group", _("Add a condition to this group or remove it."))
            return None
        result = []
        for index, child in enumerate(children):
            child_path = f"{path}.{kind}.{index}"
            normalised = (
                self.group(child, child_path, depth + 1)
                if isinstance(child, dict) and not LEAF_KEYS & set(child)
                else self.leaf(child, child_path)
            )
            if normalised is not None:
                result.append(normalised)
        return {kind: result}

    def leaf(self, node: Any, path: str) -> dict[str, Any] | None:
        if not isinstance(node, dict):
            self.refuse(path, "not_a_condition", _("Expected a condition or a group."))
            return None
        unknown = set(node) - LEAF_KEYS
        if unknown:
            self.refuse(
                path,
                "unknown_keys",
                _("A condition has only field, op and value, not %(keys)s."),
                keys=", ".join(sorted(str(key) for key in unknown)),
            )
            return None
        key = node.get("field")
        field = self.catalog.get(key) if isinstance(key, str) else None
        if field is None:
            self.refuse(
                f"{path}.field",
                "unknown_field",
                _("%(field)s is not a field a condition can use here."),
                field=str(key)[:100],
            )
            return None
        op = node.get("op")
        if not isinstance(op, str) or op not in field.operators:
            self.refuse(
                f"{path}.op",
                "unknown_operator",
                _("Choose what to check of %(field)s: %(operators)s."),
                field=str(field.label),
                operators=", ".join(str(ops.OPERATORS[o].label) for o in field.operators),
            )
            return None
        try:
            value = clean_value(field, op, node.get("value"), self.options)
        except _Refused as refused:
            self.refuse(f"{path}.value", refused.code, refused.message, **refused.params)
            return None
        self.leaves.append(Leaf(path, field, op, value))
        return {"field": field.key, "op": op, "value": value}


def _too_large(tree: Any) -> bool:
    try:
        return len(json.dumps(tree, ensure_ascii=False, default=str)) > MAX_TREE_CHARACTERS
    except (TypeError, ValueError):
        return True


def check_tree(
    tree: dict[str, Any] | None, catalog: Catalog, *, field: str = "condition"
) -> tuple[dict[str, Any], list[Leaf]]:
    """The normalised tree and its leaves; :class:`ConditionInvalid` listing every problem."""
    if tree is None or tree == {}:
        return {"all": []}, []
    if _too_large(tree):
        raise ConditionInvalid(
            [
                Problem(
                    field,
                    "too_large",
                    _("The condition is too large: keep it under %(max)s characters."),
                    {"max": MAX_TREE_CHARACTERS},
                )
            ]
        )
    if isinstance(tree, dict) and LEAF_KEYS & set(tree):
        tree = {"all": [tree]}
    checker = _Checker(catalog, field)
    normalised = checker.group(tree, field, 1)
    if len(checker.leaves) > MAX_LEAVES:
        checker.refuse(
            field, "too_many_conditions", _("Use at most %(max)s conditions."), max=MAX_LEAVES
        )
    if checker.problems or normalised is None:
        raise ConditionInvalid(checker.problems)
    return normalised, checker.leaves


# --- Values ---------------------------------------------------------------------------------

OptionsOf = Callable[[Field], dict[Any, str]]


def _text(value: Any, max_length: int = MAX_TEXT_LENGTH) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Refused("required", _("Enter a value."))
    value = value.strip()
    if len(value) > max_length:
        raise _Refused("too_long", _("Enter at most %(max)s characters."), max=max_length)
    # A NUL never reaches CEL from a ticket (the binding ends strings there); a lone
    # surrogate is no text at all.
    if "\x00" in value or any(0xD800 <= ord(character) <= 0xDFFF for character in value):
        raise _Refused("invalid_text", _("The text contains an invalid character."))
    return value


def _number(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise _Refused("invalid_number", _("Enter a number."))
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise _Refused("invalid_number", _("Enter a number.")) from None
    if not number.is_finite() or abs(number) > Decimal(2**53):
        raise _Refused("invalid_number", _("Enter a number."))
    return int(number) if number == number.to_integral_value() else float(number)


def _whole(value: Any, low: int, high: int) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _Refused(
            "invalid_whole_number",
            _("Enter a whole number from %(low)s to %(high)s."),
            low=low,
            high=high,
        )
    return value


def _date(value: Any) -> str:
    try:
        day = parse_date(value.strip()) if isinstance(value, str) else None
    except ValueError:
        day = None
    if day is None:
        raise _Refused("invalid_date", _("Enter a date (YYYY-MM-DD)."))
    return day.isoformat()


def _datetime(value: Any) -> str:
    """A date (local midnight) or a date and time (local unless a zone is given), as ISO."""
    if isinstance(value, str) and len(value.strip()) == 10:
        return _date(value)
    try:
        moment = parse_datetime(value.strip()) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None:
        raise _Refused("invalid_datetime", _("Enter a date (YYYY-MM-DD) or a date and time."))
    return moment.isoformat()


def moment_of(value: str) -> datetime:
    """The instant of a value cleaned by :func:`_datetime` (naive: the installation's zone)."""
    if len(value) == 10:
        day = date.fromisoformat(value)
        return datetime(day.year, day.month, day.day, tzinfo=timezone.get_default_timezone())
    moment = datetime.fromisoformat(value)
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


def _option(field: Field, value: Any, options_of: OptionsOf) -> Any:
    options = options_of(field)
    if field.value_type == ops.REFERENCE:
        value = _whole(value, 1, literals.INT64_MAX)
    elif not isinstance(value, str):
        raise _Refused("invalid_choice", _("Choose one of the options."))
    if field.options is not None and value not in options:
        raise _Refused(
            "unknown_option",
            _("%(value)s is not one of the options of %(field)s."),
            value=str(value)[:100],
            field=str(field.label),
        )
    return value


def _one(field: Field, value: Any, options_of: OptionsOf) -> Any:
    """One value of the field, normalised (an option key, an id, a number, a date…)."""
    kind = field.value_type
    if kind in {ops.CHOICE, ops.REFERENCE, ops.CASCADE, ops.MULTI_CHOICE}:
        return _option(field, value, options_of)
    if kind in {ops.TAGS, ops.TEXT}:
        return _text(value)
    if kind in {ops.NUMBER, ops.DECIMAL}:
        return _number(value)
    if kind == ops.DATE:
        return _date(value)
    if kind == ops.DATETIME:
        return _datetime(value)
    if kind == ops.BOOL:
        if not isinstance(value, bool):
            raise _Refused("invalid_boolean", _("Choose yes or no."))
        return value
    raise _Refused("invalid_value", _("This field takes no value here."))


def _list(value: Any, limit: int = MAX_VALUES) -> list[Any]:
    if isinstance(value, str | int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not value:
        raise _Refused("required", _("Choose at least one value."))
    if len(value) > limit:
        raise _Refused("too_many_values", _("Use at most %(max)s values."), max=limit)
    return value


def _unique(items: list[Any]) -> list[Any]:
    result: list[Any] = []
    for item in items:
        if item not in result:
            result.append(item)
    return result


_WORD_SEPARATORS = str.maketrans({",": "\n", "，": "\n", "、": "\n", ";": "\n", "；": "\n"})


def _words(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [part for part in value.translate(_WORD_SEPARATORS).split("\n") if part.strip()]
    words = _list(value, MAX_WORDS)
    if not all(isinstance(word, str) for word in words):
        raise _Refused("invalid_words", _("Enter words to look for."))
    return _unique([_text(word, MAX_WORD_LENGTH) for word in words])


def _hours(value: Any) -> int | float:
    number = _number(value)
    if not 0 < number <= MAX_HOURS:
        raise _Refused(
            "invalid_hours", _("Enter a number of hours from 1 to %(max)s."), max=MAX_HOURS
        )
    return number


def _range(field: Field, value: Any, options_of: OptionsOf) -> list[Any]:
    if not isinstance(value, list) or len(value) != 2:
        raise _Refused("invalid_range", _("Enter a lower and an upper bound."))
    low, high = (_one(field, item, options_of) for item in value)
    if _ordering(field, low) > _ordering(field, high):
        raise _Refused("inverted_range", _("The lower bound is above the upper bound."))
    return [low, high]


def _ordering(field: Field, value: Any) -> Any:
    return moment_of(value) if field.value_type == ops.DATETIME else value


def _hour_range(value: Any) -> list[int]:
    if not isinstance(value, list) or len(value) != 2:
        raise _Refused("invalid_range", _("Enter a start hour and an end hour."))
    start, end = _whole(value[0], 0, 23), _whole(value[1], 1, 24)
    if start == end:
        raise _Refused("empty_range", _("The start and end hour must differ."))
    return [start, end]


def clean_value(field: Field, op: str, value: Any, options_of: OptionsOf) -> Any:
    """The normalised value of one leaf; :class:`_Refused` when it does not fit."""
    kind = ops.OPERATORS[op].value
    if kind == ops.NONE:
        return None
    if kind == ops.ONE:
        return _one(field, value, options_of)
    if kind == ops.MANY:
        return _unique([_one(field, item, options_of) for item in _list(value)])
    if kind == ops.RANGE:
        return _range(field, value, options_of)
    if kind == ops.WORDS:
        return _words(value)
    if kind == ops.HOURS:
        return _hours(value)
    if kind == ops.HOUR_RANGE:
        return _hour_range(value)
    if kind == ops.WEEKDAYS:
        return sorted({_whole(item, 1, 7) for item in _list(value, 7)})
    raise _Refused("invalid_value", _("This operator takes no value."))  # pragma: no cover


# --- CEL generation -------------------------------------------------------------------------


def literal(field: Field, value: Any) -> str:
    """The CEL literal of one normalised value of ``field``."""
    kind = field.value_type
    if kind == ops.REFERENCE or kind in {ops.HOUR, ops.WEEKDAY}:
        return literals.integer(value)
    if kind in {ops.NUMBER, ops.DECIMAL}:
        return literals.double(value)
    if kind == ops.BOOL:
        return literals.boolean(value)
    if kind == ops.DATETIME:
        return literals.timestamp(moment_of(value))
    return literals.string(value)


def _equals(field: Field, expression: str, value: Any) -> str:
    if field.value_type == ops.CASCADE:
        # A node matches its whole subtree: the stored path starts with the node's path.
        parts = value.split("/")
        tests = [f"{expression}[{index}] == {literals.string(p)}" for index, p in enumerate(parts)]
        return "(" + " && ".join([f"size({expression}) >= {len(parts)}", *tests]) + ")"
    return f"{expression} == {literal(field, value)}"


def _any_of(field: Field, expression: str, values: list[Any]) -> str:
    if field.value_type == ops.CASCADE:
        return "(" + " || ".join(_equals(field, expression, value) for value in values) + ")"
    return f"{expression} in {literals.list_of(literal(field, value) for value in values)}"


def _guard(field: Field, expression: str) -> str:
    return f"({field.present} && {expression})" if field.present else expression


def _not(expression: str) -> str:
    return f"!({expression})"


def _change(field: Field, side: str, value: Any) -> str:
    key = literals.string(field.key)
    raw = f"event.changes[{key}][{literals.string(side)}]"
    expression = f"{field.conversion}({raw})" if field.conversion else raw
    return (
        f"({key} in event.changes && {literals.string(side)} in event.changes[{key}]"
        f" && {_equals(field, expression, value)})"
    )


def _words_match(field: Field, words: list[str]) -> str:
    source = field.words or field.cel
    tests = [f"{source}.contains({literals.string(word.lower())})" for word in words]
    return _guard(field, "(" + " || ".join(tests) + ")")


def _hour_between(value: list[int]) -> str:
    start, end = value
    joiner = "&&" if start < end else "||"
    return f"(now.hour >= {literals.integer(start)} {joiner} now.hour < {literals.integer(end)})"


def _compare(symbol: str) -> Callable[[Field, Any], str]:
    return lambda f, v: _guard(f, f"{f.cel} {symbol} {literal(f, v)}")


_GENERATORS: dict[str, Callable[[Field, Any], str]] = {
    "is": lambda f, v: _guard(f, _equals(f, f.cel, v)),
    "is_not": lambda f, v: _not(_guard(f, _equals(f, f.cel, v))),
    "in": lambda f, v: _guard(f, _any_of(f, f.cel, v)),
    "not_in": lambda f, v: _not(_guard(f, _any_of(f, f.cel, v))),
    "is_empty": lambda f, v: _not(f.present) if f.present else "false",
    "is_not_empty": lambda f, v: f"({f.present})" if f.present else "true",
    "contains_any_words": _words_match,
    "contains_no_words": lambda f, v: _not(_words_match(f, v)),
    "gt": _compare(">"),
    "gte": _compare(">="),
    "lt": _compare("<"),
    "lte": _compare("<="),
    "between": lambda f, v: _guard(
        f, f"({f.cel} >= {literal(f, v[0])} && {f.cel} <= {literal(f, v[1])})"
    ),
    "older_than_hours": lambda f, v: _guard(
        f, f"now.time - {f.cel} > {literals.seconds(math.ceil(v * 3600))}"
    ),
    "within_last_hours": lambda f, v: _guard(
        f,
        f"({f.cel} <= now.time && now.time - {f.cel} <= {literals.seconds(math.ceil(v * 3600))})",
    ),
    "has_any": lambda f, v: _guard(f, f"{f.cel}.exists(v, v in {_list_literal(f, v)})"),
    "has_all": lambda f, v: _guard(f, f"{_list_literal(f, v)}.all(v, v in {f.cel})"),
    "has_none": lambda f, v: _not(_guard(f, f"{f.cel}.exists(v, v in {_list_literal(f, v)})")),
    "changed": lambda f, v: f"{literals.string(f.key)} in event.changes",
    "changed_from": lambda f, v: _change(f, "from", v),
    "changed_to": lambda f, v: _change(f, "to", v),
    "hour_between": lambda f, v: _hour_between(v),
    "weekday_in": lambda f, v: f"{f.cel} in {literals.list_of(literals.integer(d) for d in v)}",
    "is_true": lambda f, v: _guard(f, f"{f.cel} == true"),
    "is_false": lambda f, v: _guard(f, f"{f.cel} == false"),
}


def _list_literal(field: Field, values: list[Any]) -> str:
    return literals.list_of(literals.string(value) for value in values)


def leaf_cel(leaf: Leaf) -> str:
    return _GENERATORS[leaf.op](leaf.field, leaf.value)


def _group_cel(node: dict[str, Any], leaves: Iterator[Leaf]) -> str:
    kind, children = next(iter(node.items()))
    if not children:
        return "true"
    parts = [
        leaf_cel(next(leaves)) if "field" in child else _group_cel(child, leaves)
        for child in children
    ]
    if len(parts) == 1:
        return parts[0]
    return "(" + (" && " if kind == "all" else " || ").join(parts) + ")"


def generate(tree: dict[str, Any], leaves: list[Leaf]) -> str:
    """The CEL of a normalised tree (leaves in the order :func:`check_tree` found them)."""
    return _group_cel(tree, iter(leaves))


# --- Compiling and running ------------------------------------------------------------------


def _clean_message(error: Exception) -> str:
    text = str(error).removeprefix("INVALID_ARGUMENT: ").removesuffix(" [INVALID_ARGUMENT]")
    return text.strip()


@lru_cache(maxsize=8192)
def _program(cel: str, environment_name: str) -> Any:
    return environment.environment(environment_name).compile(cel)


def program_for(cel: str, environment_name: str = environment.TICKET) -> Any:
    """The compiled program of stored CEL, cached per process (rules load from the database).

    :class:`DomainError` on ``condition`` if it does not compile or is not true/false.
    """
    try:
        program = _program(cel, environment_name)
    except RuntimeError as error:
        raise DomainError(
            "condition_invalid",
            field="condition",
            message=_("The condition is not valid: %(error)s"),
            params={"error": _clean_message(error)},
        ) from None
    result = program.return_type()
    if result != celpy.Type.BOOL and result != celpy.Type.DYN:
        raise DomainError(
            "condition_not_boolean",
            field="condition",
            message=_("The condition must be true or false, not a %(type)s."),
            params={"type": result.name().lower()},
        )
    return program


def compile_condition(
    tree: dict[str, Any] | None, catalog: Catalog, *, field: str = "condition"
) -> CompiledCondition:
    """Check, normalise and compile a tree; an empty tree is always true (``true``)."""
    normalised, leaves = check_tree(tree, catalog, field=field)
    cel = generate(normalised, leaves)
    try:
        program = program_for(cel, catalog.environment)
    except DomainError as error:
        # Generated CEL that does not compile is a bug of a catalog or of this module.
        logger.error("Generated CEL does not compile: %s (%s)", cel, error.detail())
        raise DomainError(
            error.code, field=field, message=error.message, params=error.params
        ) from None
    return CompiledCondition(tree=normalised, cel=cel, program=program)


def run(program: Any, activation: Any) -> Any:
    """The CEL value of ``program`` on an activation (or a plain mapping of variables)."""
    native = getattr(activation, "native", None)
    if native is not None:
        return program.eval(native)
    return program.eval(data=activation)


def evaluate(program: Any, activation: Any) -> bool:
    """Whether the condition holds; an evaluation error counts as "no" and is logged."""
    try:
        value = run(program, activation)
    except (RuntimeError, TypeError, ValueError) as error:
        logger.warning("Condition could not be evaluated: %s", _clean_message(error))
        return False
    if value.type() == celpy.Type.BOOL:
        return value.value() is True
    logger.warning("Condition gave no true/false: %s", value.value())
    return False


# --- Explaining -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LeafResult:
    """How one leaf fared on one activation (the "test on a ticket" of the builder)."""

    path: str
    field: str
    field_label: str
    operator: str
    operator_label: str
    expected: str
    actual: str
    matched: bool


EMPTY_DISPLAY = "\u2014"
RANGE_DASH = "\u2013"


def _display_one(field: Field, value: Any, options: Mapping[Any, str]) -> str:
    if isinstance(value, list) and field.value_type == ops.CASCADE:
        value = "/".join(str(part) for part in value)
    if value in options if not isinstance(value, list | dict) else False:
        return options[value]
    if isinstance(value, datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, bool):
        return str(_("yes") if value else _("no"))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if field.value_type == ops.DATETIME and isinstance(value, str):
        return timezone.localtime(moment_of(value)).strftime("%Y-%m-%d %H:%M")
    return str(value)


def display(field: Field, value: Any, options: Mapping[Any, str] | None = None) -> str:
    """A value of ``field`` as a person reads it: option labels, local times, lists joined."""
    options = field.option_values() if options is None else options
    if _empty(value):
        return EMPTY_DISPLAY
    if isinstance(value, list) and field.value_type != ops.CASCADE:
        return ", ".join(_display_one(field, item, options) for item in value)
    return _display_one(field, value, options)


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def expected_display(leaf: Leaf, options: Mapping[Any, str]) -> str:
    kind = ops.OPERATORS[leaf.op].value
    value = leaf.value
    if kind == ops.NONE:
        return ""
    if kind == ops.RANGE:
        low, high = (display(leaf.field, bound, options) for bound in value)
        return f"{low} {RANGE_DASH} {high}"
    if kind == ops.HOUR_RANGE:
        return f"{value[0]:02d}:00 {RANGE_DASH} {value[1]:02d}:00"
    if kind == ops.HOURS:
        return str(_("%(hours)s hours") % {"hours": _display_one(leaf.field, value, {})})
    if kind == ops.WORDS:
        return ", ".join(value)
    if kind in {ops.MANY, ops.WEEKDAYS}:
        return ", ".join(_display_one(leaf.field, item, options) for item in value)
    return display(leaf.field, value, options)


def _actual(leaf: Leaf, activation: Any) -> Any:
    """The value the leaf looked at: the field's, or the change for the change operators."""
    environment_name = getattr(activation, "environment", environment.TICKET)
    if leaf.op in ops.CHANGE_OPERATORS:
        data = getattr(activation, "data", activation)
        change = data.get("event.changes", {}).get(leaf.field.key)
        if change is None:
            return None
        return [change.get("from"), change.get("to")]
    if leaf.field.present and not evaluate(
        program_for(leaf.field.present, environment_name), activation
    ):
        return None
    try:
        value = run(_program(leaf.field.raw or leaf.field.cel, environment_name), activation)
    except (RuntimeError, TypeError, ValueError):
        return None
    return None if value.type() == celpy.Type.ERROR else value.plain_value()


def _actual_display(leaf: Leaf, value: Any, options: Mapping[Any, str]) -> str:
    if leaf.op in ops.CHANGE_OPERATORS and isinstance(value, list):
        before, after = (display(leaf.field, side, options) for side in value)
        return f"{before} → {after}"
    return display(leaf.field, value, options)


def explain(tree: dict[str, Any] | None, catalog: Catalog, activation: Any) -> list[LeafResult]:
    """Per leaf of ``tree``: what it expects, what the activation holds, whether it matched."""
    _, leaves = check_tree(tree, catalog)
    results = []
    for leaf in leaves:
        options = leaf.field.option_values()
        results.append(
            LeafResult(
                path=leaf.path,
                field=leaf.field.key,
                field_label=str(leaf.field.label),
                operator=leaf.op,
                operator_label=str(ops.OPERATORS[leaf.op].label),
                expected=expected_display(leaf, options),
                actual=_actual_display(leaf, _actual(leaf, activation), options),
                matched=evaluate(program_for(leaf_cel(leaf), catalog.environment), activation),
            )
        )
    return results
