"""The one registry of custom-field types, and of the objects that can carry custom fields.

Field types are registered in ``CustomFieldsConfig.ready``; each is a :class:`FieldType` with a
pydantic config model, ``clean`` (validate and normalise one value) and ``display``. See
``docs/customfields.md`` for how to add one.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from django import forms
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError

from aftersales.customfields.errors import InvalidValue

# Operators a visibility condition may apply to a field (see conditions.py).
EQUALITY_OPERATORS = frozenset({"equals", "not_equals", "in"})
PRESENCE_OPERATORS = frozenset({"empty", "not_empty"})
ALL_OPERATORS = EQUALITY_OPERATORS | PRESENCE_OPERATORS


class FieldConfig(BaseModel):
    """Base of every type's configuration: unknown keys are refused, so typos surface."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ConfigError(Exception):
    """A definition's stored or submitted config does not fit its type's config model."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        super().__init__(json.dumps(errors, default=str, ensure_ascii=False))


class FieldType(abc.ABC):
    """A kind of custom field. Subclasses set the class attributes and override ``clean``."""

    key: ClassVar[str]
    label: ClassVar[str | Promise]
    config_model: ClassVar[type[FieldConfig]] = FieldConfig
    operators: ClassVar[frozenset[str]] = ALL_OPERATORS
    is_multiple: ClassVar[bool] = False  # the value is a list

    # --- Configuration -------------------------------------------------------------------

    def parse_config(self, raw: Any) -> FieldConfig:
        try:
            config = self.config_model.model_validate(raw or {})
        except PydanticValidationError as error:
            raise ConfigError(
                [
                    {
                        "field": ".".join(str(part) for part in item["loc"]) or "config",
                        "code": item["type"],
                        "detail": item["msg"],
                    }
                    for item in error.errors()
                ]
            ) from None
        self.check_config(config)
        return config

    def check_config(self, config: Any) -> None:
        """Rules across config fields (min ≤ max…); raise ConfigError. None by default."""
        return

    def config_schema(self) -> dict[str, Any]:
        return self.config_model.model_json_schema()

    # --- Values --------------------------------------------------------------------------

    @abc.abstractmethod
    def clean(self, value: Any, config: Any) -> Any:
        """Validate one non-empty value and return its normalised JSON form."""

    def display(self, value: Any, config: Any, language: str) -> str:
        return str(value)

    def condition_operand(self, value: Any, config: Any) -> Any:
        """Normalise one operand of ``equals``/``in`` the way values of this field are."""
        return self.clean(value, config)

    def matches(self, stored: Any, operand: Any) -> bool:
        """``equals``: the stored value is the operand (list types: contains it)."""
        if self.is_multiple and isinstance(stored, list):
            return operand in stored
        return bool(stored == operand)

    def value_from_text(self, raw: str) -> Any:
        """A value written as text, to pass to :meth:`clean`: typed into a single input (the
        default on the settings page) or read from a spreadsheet cell (customer import)."""
        try:
            return json.loads(raw)
        except ValueError:
            return raw

    def value_to_text(self, value: Any) -> str:
        """A stored value as the text :meth:`value_from_text` reads back (spreadsheet export)."""
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)

    def text_help(self, config: Any) -> str:
        """How to write a value as text, for the help of an import; empty when plain text is
        all it takes."""
        return ""

    # --- Forms ---------------------------------------------------------------------------

    def form_field(self, config: Any, **kwargs: Any) -> forms.Field:
        return forms.CharField(**kwargs)

    def to_form(self, value: Any, config: Any) -> Any:
        """A stored value as the initial data of :meth:`form_field`."""
        return value

    def from_form(self, value: Any, config: Any) -> Any:
        """The form field's cleaned data as input to :meth:`clean`."""
        return value


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


@dataclass(frozen=True)
class Target:
    """An object type that carries custom fields in its ``custom_fields`` JSON column."""

    key: str
    label: str | Promise


_TYPES: dict[str, FieldType] = {}
_TARGETS: dict[str, Target] = {}


def register(field_type: FieldType) -> None:
    if field_type.key in _TYPES:
        raise ValueError(f"Custom-field type {field_type.key!r} is already registered.")
    _TYPES[field_type.key] = field_type


def get(key: str) -> FieldType:
    try:
        return _TYPES[key]
    except KeyError:
        raise InvalidValue(
            "unknown_type", _("Unknown field type %(type)s."), {"type": key}
        ) from None


def field_types() -> dict[str, FieldType]:
    return dict(_TYPES)


def register_target(key: str, label: str | Promise) -> None:
    """Let definitions apply to ``key`` (a model label such as ``tickets.ticket``)."""
    _TARGETS[key] = Target(key=key, label=label)


_SUBTARGET_LABELS: dict[str, Callable[[str], str]] = {}


def register_subtarget_labels(target: str, describe: Callable[[str], str]) -> None:
    """Name the sub-kinds of ``target`` for people (``type-7`` → "Repair"); the app that owns
    the sub-kinds registers this, the form engine stays unaware of them."""
    _SUBTARGET_LABELS[target] = describe


def subtarget_label(target: str, subtarget: str) -> str:
    """How a form's sub-kind reads on the pages; the raw key when nobody named it."""
    describe = _SUBTARGET_LABELS.get(target)
    if describe is None or not subtarget:
        return subtarget
    try:
        return describe(subtarget) or subtarget
    except Exception:  # a label is decoration: never break the page over it
        return subtarget


def targets() -> dict[str, Target]:
    return dict(_TARGETS)
