"""The operators of the condition language: their labels and the kind of value they take.

What an operator means in CEL is in :mod:`aftersales.conditions.compiler`; which operators a
field offers follows from its value type (:data:`OPERATORS_BY_TYPE`).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

# What the builder shows for an operator's value.
NONE = "none"  # no value (is empty, changed)
ONE = "one"  # one value of the field (a select, a number, a date)
MANY = "many"  # a list of values of the field
RANGE = "range"  # [low, high]
WORDS = "words"  # a list of words
HOURS = "hours"  # a number of hours
HOUR_RANGE = "hour_range"  # [from hour, to hour]
WEEKDAYS = "weekdays"  # a list of 1..7
BOOLEAN = "boolean"  # true / false


@dataclass(frozen=True)
class Operator:
    key: str
    label: str | Promise
    value: str


OPERATORS: dict[str, Operator] = {
    op.key: op
    for op in (
        Operator("is", _("is"), ONE),
        Operator("is_not", _("is not"), ONE),
        Operator("in", _("is any of"), MANY),
        Operator("not_in", _("is none of"), MANY),
        Operator("contains_any_words", _("contains any of the words"), WORDS),
        Operator("contains_no_words", _("contains none of the words"), WORDS),
        Operator("is_empty", _("is empty"), NONE),
        Operator("is_not_empty", _("is not empty"), NONE),
        Operator("gt", _("is greater than"), ONE),
        Operator("gte", _("is at least"), ONE),
        Operator("lt", _("is less than"), ONE),
        Operator("lte", _("is at most"), ONE),
        Operator("between", _("is between"), RANGE),
        Operator("older_than_hours", _("is more than … hours ago"), HOURS),
        Operator("within_last_hours", _("is within the last … hours"), HOURS),
        Operator("has_any", _("has any of"), MANY),
        Operator("has_all", _("has all of"), MANY),
        Operator("has_none", _("has none of"), MANY),
        Operator("changed", _("changed"), NONE),
        Operator("changed_from", _("changed from"), ONE),
        Operator("changed_to", _("changed to"), ONE),
        Operator("hour_between", _("is between the hours"), HOUR_RANGE),
        Operator("weekday_in", _("is one of the weekdays"), WEEKDAYS),
        Operator("is_true", _("is true"), NONE),
        Operator("is_false", _("is false"), NONE),
    )
}

# Value types of fields (``Field.value_type``).
CHOICE = "choice"  # one option key (text)
REFERENCE = "reference"  # one id (a status, a team, a user…), with options when listable
MULTI_CHOICE = "multi_choice"  # a list of option keys
TAGS = "tags"  # a list of free words
CASCADE = "cascade"  # a path of option keys; a value matches at any level of the path
TEXT = "text"
NUMBER = "number"
DECIMAL = "decimal"
DATE = "date"
DATETIME = "datetime"
BOOL = "boolean"
HOUR = "hour"
WEEKDAY = "weekday"
PRESENCE = "presence"  # only whether it is filled in (a location, attachments)

_EMPTY = ("is_empty", "is_not_empty")
_COMPARE = ("gt", "gte", "lt", "lte", "between")

OPERATORS_BY_TYPE: dict[str, tuple[str, ...]] = {
    CHOICE: ("is", "is_not", "in", "not_in", *_EMPTY),
    REFERENCE: ("is", "is_not", "in", "not_in", *_EMPTY),
    CASCADE: ("is", "is_not", "in", "not_in", *_EMPTY),
    MULTI_CHOICE: ("has_any", "has_all", "has_none", *_EMPTY),
    TAGS: ("has_any", "has_all", "has_none", *_EMPTY),
    TEXT: ("contains_any_words", "contains_no_words", "is", "is_not", *_EMPTY),
    NUMBER: ("is", "is_not", *_COMPARE, *_EMPTY),
    DECIMAL: ("is", "is_not", *_COMPARE, *_EMPTY),
    DATE: ("is", *_COMPARE, *_EMPTY),
    DATETIME: (*_COMPARE, "older_than_hours", "within_last_hours", *_EMPTY),
    BOOL: ("is_true", "is_false"),
    HOUR: ("hour_between",),
    WEEKDAY: ("weekday_in",),
    PRESENCE: _EMPTY,
}

CHANGE_OPERATORS = ("changed", "changed_from", "changed_to")
# Value types whose changes can be compared with a value (the others only say "changed").
COMPARABLE_CHANGES = frozenset({CHOICE, REFERENCE, CASCADE, NUMBER, DECIMAL, BOOL, DATE})

WEEKDAY_LABELS: tuple[Promise, ...] = (
    _("Monday"),
    _("Tuesday"),
    _("Wednesday"),
    _("Thursday"),
    _("Friday"),
    _("Saturday"),
    _("Sunday"),
)


def operators_for(value_type: str, *, changeable: bool) -> tuple[str, ...]:
    own = OPERATORS_BY_TYPE[value_type]
    if not changeable:
        return own
    if value_type in COMPARABLE_CHANGES:
        return (*own, *CHANGE_OPERATORS)
    return (*own, "changed")
