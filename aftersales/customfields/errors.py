"""Errors of the custom-field engine.

A field type's ``clean`` raises :class:`InvalidValue` for one value; the engine collects every
field's problem and raises one :class:`FieldErrors`, so a form or an API client sees all of them
at once, each next to its field (``custom_fields.<key>``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from aftersales.core.errors import DomainError

FIELD_PREFIX = "custom_fields"


class InvalidValue(Exception):
    """One value does not fit its field type or configuration."""

    def __init__(
        self, code: str, message: str | Promise, params: dict[str, Any] | None = None
    ) -> None:
        self.code = code
        self.message = message
        self.params = params or {}
        super().__init__(f"{code}: {message}")

    def detail(self) -> str:
        text = str(self.message)
        return text % self.params if self.params else text


@dataclass(frozen=True)
class FieldError:
    """One field's reason for refusal: ``field`` is the input path, e.g. ``custom_fields.model``."""

    field: str
    code: str
    message: str

    @property
    def key(self) -> str:
        return self.field.removeprefix(f"{FIELD_PREFIX}.")


class FieldErrors(DomainError):
    """Some custom-field values were refused; :meth:`errors` lists every one of them."""

    default_message = _("Some custom fields are not valid.")

    def __init__(self, field_errors: list[FieldError]) -> None:
        self.field_errors = list(field_errors)
        first = self.field_errors[0] if self.field_errors else None
        super().__init__(
            "invalid_custom_fields",
            field=first.field if first is not None else None,
        )

    def errors(self) -> list[dict[str, str]]:
        """One problem+json ``errors`` entry per field."""
        return [
            {"field": error.field, "code": error.code, "detail": str(error.message)}
            for error in self.field_errors
        ]

    def by_key(self) -> dict[str, list[FieldError]]:
        result: dict[str, list[FieldError]] = {}
        for error in self.field_errors:
            result.setdefault(error.key, []).append(error)
        return result


def field_path(key: str) -> str:
    return f"{FIELD_PREFIX}.{key}"
