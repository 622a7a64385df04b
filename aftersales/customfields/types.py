"""The built-in custom-field types. Each is registered in ``CustomFieldsConfig.ready``.

Values are stored as plain JSON, normalised so that equal meanings are equal JSON (and so sort
and compare correctly in a JSON index): decimals as canonical strings, dates as ``YYYY-MM-DD``,
date-times as UTC ISO 8601, phones in E.164, multiple choices in option order.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Literal

from django import forms
from django.apps import apps
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.utils import timezone, translation
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from pydantic import Field, field_validator

from aftersales.customfields.errors import InvalidValue
from aftersales.customfields.registry import (
    PRESENCE_OPERATORS,
    ConfigError,
    FieldConfig,
    FieldType,
)

KEY_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"


def _config_error(field: str, code: str, detail: str) -> ConfigError:
    return ConfigError([{"field": field, "code": code, "detail": detail}])


def _check_range(low: Any, high: Any, low_name: str, high_name: str) -> None:
    if low is not None and high is not None and low > high:
        raise _config_error(high_name, "range_inverted", f"{high_name} must be ≥ {low_name}.")


def _label(item: Any, language: str) -> str:
    if language.startswith("zh"):
        return str(item.label_zh or item.label_en or item.key)
    return str(item.label_en or item.label_zh or item.key)


def _require_text(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidValue("invalid_type", _("Enter text."))
    return value.strip()


def _require_whole_number(value: Any) -> int:
    if isinstance(value, bool):
        raise InvalidValue("invalid_number", _("Enter a whole number."))
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d{1,18}\s*", value):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise InvalidValue("invalid_number", _("Enter a whole number."))


def _require_id(value: Any) -> int:
    number = _require_whole_number(value)
    if number < 1:
        raise InvalidValue("invalid_reference", _("Enter a valid identifier."))
    return number


# A date as people and spreadsheets write it: 2024-03-05, 2024/3/5, 2024.3.5, 2024年3月5日.
_WRITTEN_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")


def _iso_date_text(raw: str) -> str:
    """``raw`` with its leading written date in ISO form (2024/3/5 9:30 → 2024-03-05 9:30)."""
    text = raw.strip()
    match = _WRITTEN_DATE.match(text)
    if match is None:
        return text
    year, month, day = match.groups()
    day_text = f"{year}-{int(month):02d}-{int(day):02d}"
    rest = text[match.end() :].strip()
    if not rest:
        return day_text
    return f"{day_text}{'' if rest[:1] in ('T', 't') else ' '}{rest}"


# --- Text ------------------------------------------------------------------------------------


class TextConfig(FieldConfig):
    min_length: int | None = Field(None, ge=0, le=10_000)
    max_length: int = Field(255, ge=1, le=10_000)
    pattern: str | None = Field(None, max_length=500)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern:
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"Not a valid regular expression: {error}") from None
        return pattern or None


class TextType(FieldType):
    key = "text"
    label = _("Text")
    config_model: ClassVar[type[FieldConfig]] = TextConfig

    def check_config(self, config: Any) -> None:
        _check_range(config.min_length, config.max_length, "min_length", "max_length")

    def clean(self, value: Any, config: Any) -> Any:
        text = _require_text(value)
        if config.min_length is not None and len(text) < config.min_length:
            raise InvalidValue(
                "too_short",
                _("Enter at least %(min)s characters."),
                {"min": config.min_length},
            )
        if len(text) > config.max_length:
            raise InvalidValue(
                "too_long", _("Enter at most %(max)s characters."), {"max": config.max_length}
            )
        if getattr(config, "pattern", None) and not re.fullmatch(config.pattern, text):
            raise InvalidValue("pattern_mismatch", _("Enter a value in the expected format."))
        return text

    def value_from_text(self, raw: str) -> Any:
        return raw

    def form_field(self, config: Any, **kwargs: Any) -> forms.Field:
        return forms.CharField(max_length=config.max_length, **kwargs)


class LongTextConfig(FieldConfig):
    min_length: int | None = Field(None, ge=0, le=100_000)
    max_length: int = Field(10_000, ge=1, le=100_000)


class LongTextType(TextType):
    key = "long_text"
    label = _("Long text")
    config_model = LongTextConfig
    operators = PRESENCE_OPERATORS

    def clean(self, value: Any, config: Any) -> Any:
        # Keep inner line breaks; only the ends are trimmed.
        return super().clean(value, config)

    def form_field(self, config: Any, **kwargs: Any) -> forms.Field:
        return forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), **kwargs)


# --- Numbers ---------------------------------------------------------------------------------


class NumberConfig(FieldConfig):
    min_value: int | None = None
    max_value: int | None = None


class NumberType(FieldType):
    key = "number"
    label = _("Whole number")
    config_model = NumberConfig

    def check_config(self, config: Any) -> None:
        _check_range(config.min_value, config.max_value, "min_value", "max_value")

    def clean(self, value: Any, config: Any) -> Any:
        number = _require_whole_number(value)
        if config.min_value is not None and number < config.min_value:
            raise InvalidValue(
                "too_small", _("Enter a value of at least %(min)s."), {"min": config.min_value}
            )
        if config.max_value is not None and number > config.max_value:
            raise InvalidValue(
                "too_large", _("Enter a value of at most %(max)s."), {"max": config.max_value}
            )
        return number

    def text_help(self, config: Any) -> str:
        return str(_("A whole number."))

    def form_field(self, config: Any, **kwargs: Any) -> forms.Field:
        return forms.IntegerField(min_value=config.min_value, max_value=config.max_value, **kwargs)


class DecimalConfig(FieldConfig):
    min_value: Decimal | None = None
    max_value: Decimal | None = None
    decimal_places: int = Field(2, ge=0, le=10)
    max_digits: int = Field(18, ge=1, le=30)


class DecimalType(FieldType):
    key = "decimal"
    label = _("Decimal number")
    config_model = DecimalConfig

    def check_config(self, config: Any) -> None:
        _check_range(config.min_value, config.max_value, "min_value", "max_value")
        if config.decimal_places > config.max_digits:
            raise _config_error(
                "decimal_places", "too_many_places", "decimal_places must be ≤ max_digits."
            )

    def clean(self, value: Any, config: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
            raise InvalidValue("invalid_decimal", _("Enter a number."))
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise InvalidValue("invalid_decimal", _("Enter a number.")) from None
        if not number.is_finite():
            raise InvalidValue("invalid_decimal", _("Enter a number."))
        exponent = number.as_tuple().exponent
        places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        if places > config.decimal_places:
            raise InvalidValue(
                "too_many_decimal_places",
                _("Enter at most %(places)s digits after the decimal point."),
                {"places": config.decimal_places},
            )
        quantised = number.quantize(Decimal(1).scaleb(-config.decimal_places))
        if len(quantised.as_tuple().digits) > config.max_digits:
            raise InvalidValue(
                "too_many_digits",
                _("Enter at most %(digits)s digits in total."),
                {"digits": config.max_digits},
            )
        if config.min_value is not None and quantised < config.min_value:
            raise InvalidValue(
                "too_small", _("Enter a value of at least %(min)s."), {"min": config.min_value}
            )
        if config.max_value is not None and quantised > config.max_value:
            raise InvalidValue(
                "too_large", _("Enter a value of at most %(max)s."), {"max": config.max_value}
            )
        # A string keeps every digit exact in JSON; the scale is fixed, so equal means equal.
        return str(quantised)

    def value_from_text(self, raw: str) -> Any:
        return raw

    def text_help(self, config: Any) -> str:
        return str(
            _("A number with at most %(places)s digits after the decimal point.")
            % {"places": config.decimal_places}
        )

    def form_field(self, config: Any, **kwargs: Any) -> forms.Field:
        return forms.DecimalField(
            max_digits=config.max_digits, decimal_places=config.decimal_places, **kwargs
        )

    def from_form(self, value: Any, config: Any) -> Any:
        return str(value) if value is not None else None


# --- Dates -----------------------------------------------------------------------------------


class DateConfig(FieldConfig):
    min_value: dt.date | None = None
    max_value: dt.date | None = None


class DateType(FieldType):
    key = "date"
    label = _("Date")
    config_model = DateConfig

    def check_config(self, config: Any) -> None:
        _check_range(config.min_value, config.max_value, "min_value", "max_value")

    def clean(self, value: Any, config: Any) -> Any:
        if isinstance(value, dt.datetime):
            raise InvalidValue("invalid_date", _("Enter a date (YYYY-MM-DD)."))
        if isinstance(value, dt.date):
            day: dt.date | None = value
        elif isinstance(value, str):
            try:
                day = parse_date(value.strip())
            except ValueError:
                day = None
        else:
            day = None
        if day is None:
            raise InvalidValue("invalid_date", _("Enter a date (YYYY-MM-DD)."))
        if config.min_value is not None and day < config.min_value:
            raise InvalidValue(
                "too_early",
                _("Enter a date on or after %(min)s."),
                {"min": config.min_value.isoformat()},
            )
        if config.max_value is not None and day > config.max_value:
            raise InvalidValue(
                "too_late",
                _("Enter a date on or before %(max)s."),
                {"max": config.max_value.isoformat()},
            )
        return day.isoformat()

    def value_from_text(self, raw: str) -> Any:
        return _iso_date_text(raw)

    def text_help(self, config: Any) -> str:
        return str(_("A date: YYYY-MM-DD or YYYY/M/D, or a date cell."))

    def form_field(self, config: Any, **kwargs: Any) -> forms.Field:
        return forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), **kwargs)

    def from_form(self, value: Any, config: Any) -> Any:
        return value.isoformat() if value is not None else None


class DateTimeConfig(FieldConfig):
    min_value: dt.datetime | None = None
    max_value: dt.datetime | None = None

    @field_validator("min_value", "max_value")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and timezone.is_naive(value):
            raise ValueError("Give a time zone (e.g. +08:00 or Z).")
        return value


class DateTimeType(FieldType):
    key = "datetime"
    label = _("Date and time")
    config_model = DateTimeConfig

    def check_config(self, config: Any) -> None:
        _check_range(config.min_value, config.max_value, "min_value", "max_value")

    def clean(self, value: Any, config: Any) -> Any:
        moment: dt.datetime | None
        if isinstance(value, dt.datetime):
            moment = value
        elif isinstance(value, str):
            try:
                moment = parse_datetime(value.strip())
            except ValueError:
                moment = None
        else:
            moment = None
        if moment is None:
            raise InvalidValue("invalid_datetime", _("Enter a date and time (ISO 8601)."))
        if timezone.is_naive(moment):
            # A time without zone means the installation's local time, as people type it.
            moment = timezone.make_aware(moment)
        if config.min_value is not None and moment < config.min_value:
            raise InvalidValue(
                "too_early",
                _("Enter a time on or after %(min)s."),
                {"min": config.min_value.isoformat()},
            )
        if config.max_value is not None and moment > config.max_value:
            raise InvalidValue(
                "too_late",
                _("Enter a time on or before %(max)s."),
                {"max": config.max_value.isoformat()},
            )
        # UTC with a fixed shape, so string order is time order in a JSON index.
        return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def display(self, value: Any, config: Any, language: str) -> str:
        moment = parse_datetime(str(value))
        if moment is None:
            return str(value)
        return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")

    def value_from_text(self, raw: str) -> Any:
        return _iso_date_text(raw)

    def text_help(self, config: Any) -> str:
        return str(_("A date and time: YYYY-MM-DD HH:MM (local time unless a zone is given)."))

    def form_field(self, config: Any, **kwargs: Any) -> forms.Field:
        return forms.DateTimeField(
            widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
            input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
            **kwargs,
        )

    def to_form(self, value: Any, config: Any) -> Any:
        moment = parse_datetime(str(value)) if value else None
        return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M") if moment else value

    def from_form(self, value: Any, config: Any) -> Any:
        return value.isoformat() if value is not None else None


# --- Choices ---------------------------------------------------------------------------------


class Option(FieldConfig):
    key: str = Field(..., pattern=KEY_PATTERN)
    label_zh: str = Field("", max_length=200)
    label_en: str = Field("", max_length=200)
    is_active: bool = True


_LISTED_OPTIONS = 30


def _option_list(options: list[Any]) -> str:
    """``gold (Gold), basic (Basic)``: the keys a sheet may use, with what they mean."""
    language = translation.get_language() or "en"
    items = []
    for option in options[:_LISTED_OPTIONS]:
        label = _label(option, language)
        items.append(option.key if label == option.key else f"{option.key} ({label})")
    if len(options) > _LISTED_OPTIONS:
        items.append("…")
    return ", ".join(items)


def _unique_keys(options: list[Any], where: str) -> None:
    seen: set[str] = set()
    for option in options:
        if option.key in seen:
            raise _config_error(where, "duplicate_key", f"Option key {option.key!r} is repeated.")
        seen.add(option.key)


class SingleChoiceConfig(FieldConfig):
    options: list[Option] = Field(..., min_length=1, max_length=500)


class SingleChoiceType(FieldType):
    key = "single_choice"
    label = _("Single choice")
    config_model: ClassVar[type[FieldConfig]] = SingleChoiceConfig

    def check_config(self, config: Any) -> None:
        _unique_keys(config.options, "options")

    def _option(self, value: Any, config: Any, *, for_condition: bool = False) -> Any:
        if not isinstance(value, str):
            raise InvalidValue("invalid_choice", _("Choose one of the options."))
        for option in config.options:
            if option.key == value and (option.is_active or for_condition):
                return option
        raise InvalidValue(
            "invalid_choice", _("%(value)s is not one of the options."), {"value": value[:50]}
        )

    def clean(self, value: Any, config: Any) -> Any:
        return self._option(value, config).key

    def condition_operand(self, value: Any, config: Any) -> Any:
        return self._option(value, config, for_condition=True).key

    def display(self, value: Any, config: Any, language: str) -> str:
        for option in config.options:
            if option.key == value:
                return _label(option, language)
        return str(value)

    def value_from_text(self, raw: str) -> Any:
        return raw

    def text_help(self, config: Any) -> str:
        active = [o for o in config.options if o.is_active]
        return str(_("One option key: %(options)s.") % {"options": _option_list(active)})

    def choices(self, config: Any) -> list[tuple[str, str]]:
        language = translation.get_language() or "en"
        return [(o.key, _label(o, language)) for o in config.options if o.is_active]

    def form_field(self, config: Any, **kwargs: Any) -> forms.Field:
        return forms.ChoiceField(choices=[("", "—"), *self.choices(config)], **kwargs)


# Between the options of a list: ASCII and full-width commas and semicolons, and 、.
_LIST_SEPARATORS = re.compile("[,;\u3001\uff0c\uff1b]")


class MultiChoiceConfig(FieldConfig):
    options: list[Option] = Field(..., min_length=1, max_length=500)
    min_selections: int | None = Field(None, ge=1)
    max_selections: int | None = Field(None, ge=1)


class MultiChoiceType(SingleChoiceType):
    key = "multi_choice"
    label = _("Multiple choice")
    config_model = MultiChoiceConfig
    is_multiple = True

    def check_config(self, config: Any) -> None:
        super().check_config(config)
        _check_range(
            config.min_selections, config.max_selections, "min_selections", "max_selections"
        )

    def clean(self, value: Any, config: Any) -> Any:
        if not isinstance(value, list):
            raise InvalidValue("invalid_type", _("Choose a list of options."))
        chosen = {self._option(item, config).key for item in value}
        if config.min_selections is not None and len(chosen) < config.min_selections:
            raise InvalidValue(
                "too_few_choices",
                _("Choose at least %(min)s options."),
                {"min": config.min_selections},
            )
        if config.max_selections is not None and len(chosen) > config.max_selections:
            raise InvalidValue(
                "too_many_choices",
                _("Choose at most %(max)s options."),
                {"max": config.max_selections},
            )
        return [o.key for o in config.options if o.key in chosen]

    def display(self, value: Any, config: Any, language: str) -> str:
        labels = {o.key: _label(o, language) for o in config.options}
        return ", ".join(labels.get(key, str(key)) for key in value or [])

    def value_from_text(self, raw: str) -> Any:
        return [part.strip() for part in _LIST_SEPARATORS.split(raw) if part.strip()]

    def value_to_text(self, value: Any) -> str:
        return ", ".join(str(key) for key in value) if isinstance(value, list) else str(value)

    def text_help(self, config: Any) -> str:
        active = [o for o in config.options if o.is_active]
        return str(
            _("Option keys separated by ; or , or 、: %(options)s.")
            % {"options": _option_list(active)}
        )

    def form_field(self, config: Any, **kwargs: Any) -> forms.Field:
        return forms.MultipleChoiceField(
            choices=self.choices(config), widget=forms.CheckboxSelectMultiple, **kwargs
        )

    def from_form(self, value: Any, config: Any) -> Any:
        return list(value or [])


class CascadeNode(FieldConfig):
    key: str = Field(..., pattern=KEY_PATTERN)
    label_zh: str = Field("", max_length=200)
    label_en: str = Field("", max_length=200)
    children: list[CascadeNode] = Field(default_factory=list, max_length=2000)


class CascadeConfig(FieldConfig):
    options: list[CascadeNode] = Field(..., min_length=1, max_length=2000)
    require_leaf: bool = True
    max_depth: int = Field(4, ge=1, le=6)


def _walk(nodes: list[CascadeNode], depth: int = 1) -> list[tuple[CascadeNode, int]]:
    result: list[tuple[CascadeNode, int]] = []
    for node in nodes:
        result.append((node, depth))
        result.extend(_walk(node.children, depth + 1))
    return result


class CascadeType(FieldType):
    """A path through a tree of options: province → city, product line → model → fault."""

    key = "cascade"
    label = _("Cascading choice")
    config_model = CascadeConfig
    is_multiple = True

    SEPARATOR = " / "

    def check_config(self, config: Any) -> None:
        for node, depth in _walk(config.options):
            if depth > config.max_depth:
                raise _config_error(
                    "options", "too_deep", f"Option {node.key!r} is deeper than max_depth."
                )
            _unique_keys(node.children, f"options.{node.key}")
        _unique_keys(config.options, "options")

    def _path(self, value: Any, config: Any) -> list[CascadeNode]:
        if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
            raise InvalidValue("invalid_type", _("Choose a path of options."))
        level = config.options
        path: list[CascadeNode] = []
        for key in value:
            node = next((n for n in level if n.key == key), None)
            if node is None:
                raise InvalidValue(
                    "invalid_path",
                    _("%(value)s is not an option at level %(level)s."),
                    {"value": key[:50], "level": len(path) + 1},
                )
            path.append(node)
            level = node.children
        return path

    def clean(self, value: Any, config: Any) -> Any:
        path = self._path(value, config)
        if config.require_leaf and path[-1].children:
            raise InvalidValue("incomplete_path", _("Choose down to the last level."))
        return [node.key for node in path]

    def condition_operand(self, value: Any, config: Any) -> Any:
        if not isinstance(value, str) or value not in {n.key for n, _ in _walk(config.options)}:
            raise InvalidValue(
                "invalid_choice", _("%(value)s is not one of the options."), {"value": value}
            )
        return value

    def display(self, value: Any, config: Any, language: str) -> str:
        labels: list[str] = []
        level = config.options
        for key in value or []:
            node = next((n for n in level if n.key == key), None)
            if node is None:
                labels.append(str(key))
                level = []
                continue
            labels.append(_label(node, language))
            level = node.children
        return self.SEPARATOR.join(labels)

    def value_from_text(self, raw: str) -> Any:
        return [part.strip() for part in raw.split("/") if part.strip()]

    def value_to_text(self, value: Any) -> str:
        return "/".join(str(key) for key in value) if isinstance(value, list) else str(value)

    def text_help(self, config: Any) -> str:
        example: list[str] = []
        level = config.options
        while level:
            example.append(level[0].key)
            level = level[0].children
        return str(
            _("Option keys along the path, separated by /, e.g. %(example)s.")
            % {"example": "/".join(example)}
        )

    def choices(self, config: Any) -> list[tuple[str, str]]:
        """Every path as one choice ("Guangdong / Shenzhen"), for a plain select."""
        language = translation.get_language() or "en"
        result: list[tuple[str, str]] = []

        def visit(nodes: list[CascadeNode], keys: list[str], labels: list[str]) -> None:
            for node in nodes:
                path_keys = [*keys, node.key]
                path_labels = [*labels, _label(node, language)]
                if not node.children or not config.require_leaf:
                    result.append(("/".join(path_keys), self.SEPARATOR.join(path_labels)))
                visit(node.children, path_keys, path_labels)

        visit(config.options, [], [])
        return result

    def form_field(self, config: Any, **kwargs: Any) -> forms.Field:
        return forms.ChoiceField(choices=[("", "—"), *self.choices(config)], **kwargs)

    def to_form(self, value: Any, config: Any) -> Any:
        return "/".join(value) if isinstance(value, list) else value

    def from_form(self, value: Any, config: Any) -> Any:
        return value.split("/") if value else None


# --- References ------------------------------------------------------------------------------


class UserType(FieldType):
    key = "user"
    label = _("User")

    def clean(self, value: Any, config: Any) -> Any:
        from aftersales.accounts.models import User

        pk = _require_id(value)
        if not User.objects.filter(pk=pk, is_active=True, kind=User.Kind.STAFF).exists():
            raise InvalidValue("unknown_user", _("Choose an active staff member."))
        return pk

    def display(self, value: Any, config: Any, language: str) -> str:
        from aftersales.accounts.models import User

        user = User.objects.filter(pk=value).first()
        return str(user) if user is not None else f"#{value}"

    def text_help(self, config: Any) -> str:
        return str(_("The user's id (a number)."))

    def form_field(self, config: Any, **kwargs: Any) -> forms.Field:
        from aftersales.accounts.models import User

        users = User.objects.filter(is_active=True, kind=User.Kind.STAFF).order_by("username")
        return forms.TypedChoiceField(
            choices=[("", "—"), *((u.pk, str(u)) for u in users)], coerce=int, **kwargs
        )


class TeamType(FieldType):
    key = "team"
    label = _("Team")

    def clean(self, value: Any, config: Any) -> Any:
        from aftersales.accounts.models import Team

        pk = _require_id(value)
        if not Team.objects.filter(pk=pk, is_active=True).exists():
            raise InvalidValue("unknown_team", _("Choose an active team."))
        return pk

    def display(self, value: Any, config: Any, language: str) -> str:
        from aftersales.accounts.models import Team

        team = Team.objects.filter(pk=value).first()
        return team.name if team is not None else f"#{value}"

    def text_help(self, config: Any) -> str:
        return str(_("The team's id (a number)."))

    def form_field(self, config: Any, **kwargs: Any) -> forms.Field:
        from aftersales.accounts.models import Team

        teams = Team.objects.filter(is_active=True).order_by("name")
        return forms.TypedChoiceField(
            choices=[("", "—"), *((t.pk, t.name) for t in teams)], coerce=int, **kwargs
        )


def _customer_model() -> Any:
    try:
        return apps.get_model("customers", "Customer")
    except LookupError:
        return None


class CustomerType(FieldType):
    """A customer's id. Checked against ``customers.Customer`` once that model exists."""

    key = "customer"
    label = _("Customer")

    def clean(self, value: Any, config: Any) -> Any:
        pk = _require_id(value)
        model = _customer_model()
        if model is not None and not model._default_manager.filter(pk=pk).exists():
            raise InvalidValue("unknown_customer", _("Choose an existing customer."))
        return pk

    def display(self, value: Any, config: Any, language: str) -> str:
        model = _customer_model()
        customer = model._default_manager.filter(pk=value).first() if model else None
        return str(customer) if customer is not None else f"#{value}"

    def text_help(self, config: Any) -> str:
        return str(_("The customer's number."))

    def form_field(self, config: Any, **kwargs: Any) -> forms.Field:
        return forms.IntegerField(min_value=1, **kwargs)


# --- Simple values ---------------------------------------------------------------------------


# How a sheet writes yes or no; anything else is passed on for ``clean`` to refuse.
_YES_NO_WORDS = {
    "是": True,
    "否": False,
    "yes": True,
    "no": False,
    "true": True,
    "false": False,
    "1": True,
    "0": False,
}


class YesNoSelect(forms.Select):
    """Yes / no / not answered. A stored ``True`` must show as the "true" option again, or
    saving the form unchanged would quietly clear the answer."""

    _shown = {True: "true", False: "false", "true": "true", "false": "false"}

    def format_value(self, value: Any) -> list[str]:  # type: ignore[override]
        if isinstance(value, str):
            value = value.strip().casefold()
        return [self._shown.get(value, "")]


class YesNoType(FieldType):
    key = "yes_no"
    label = _("Yes/no")
    operators = frozenset({"equals", "not_equals", "empty", "not_empty"})

    def clean(self, value: Any, config: Any) -> Any:
        if isinstance(value, bool):
            return value
        raise InvalidValue("invalid_boolean", _("Enter true or false."))

    def display(self, value: Any, config: Any, language: str) -> str:
        with translation.override(language):
            return gettext("Yes") if value else gettext("No")

    def value_from_text(self, raw: str) -> Any:
        return _YES_NO_WORDS.get(raw.strip().casefold(), raw)

    def text_help(self, config: Any) -> str:
        return str(_("是 or 否, yes or no, true or false, 1 or 0."))

    def form_field(self, config: Any, **kwargs: Any) -> forms.Field:
        kwargs.pop("required", None)
        # A select, not a checkbox: "not answered" must stay different from "no".
        return forms.NullBooleanField(
            widget=YesNoSelect(choices=[("", "—"), ("true", _("Yes")), ("false", _("No"))]),
            required=False,
            **kwargs,
        )


Scheme = Literal["http", "https"]


def _web_schemes() -> list[Scheme]:
    return ["http", "https"]


class UrlConfig(FieldConfig):
    max_length: int = Field(2000, ge=10, le=8000)
    schemes: list[Scheme] = Field(default_factory=_web_schemes)


class UrlType(FieldType):
    key = "url"
    label = _("URL")
    config_model = UrlConfig

    def clean(self, value: Any, config: Any) -> Any:
        text = _require_text(value)
        if len(text) > config.max_length:
            raise InvalidValue(
                "too_long", _("Enter at most %(max)s characters."), {"max": config.max_length}
            )
        try:
            URLValidator(schemes=list(config.schemes))(text)
        except ValidationError:
            raise InvalidValue("invalid_url", _("Enter a valid URL.")) from None
        return text

    def value_from_text(self, raw: str) -> Any:
        return raw

    def form_field(self, config: Any, **kwargs: Any) -> forms.Field:
        return forms.CharField(widget=forms.URLInput, **kwargs)


class EmailType(FieldType):
    key = "email"
    label = _("E-mail")

    def clean(self, value: Any, config: Any) -> Any:
        text = _require_text(value)
        try:
            validate_email(text)
        except ValidationError:
            raise InvalidValue("invalid_email", _("Enter a valid e-mail address.")) from None
        local, _at, domain = text.rpartition("@")
        return f"{local}@{domain.lower()}"

    def value_from_text(self, raw: str) -> Any:
        return raw

    def form_field(self, config: Any, **kwargs: Any) -> forms.Field:
        return forms.CharField(widget=forms.EmailInput, **kwargs)


class PhoneConfig(FieldConfig):
    kind: Literal["any", "cn_mobile"] = "any"


_CN_MOBILE = re.compile(r"(?:\+?86|0086)?(1[3-9]\d{9})")
_E164 = re.compile(r"\+[1-9]\d{6,14}")


class PhoneType(FieldType):
    """A Chinese mobile number (stored as +86…) or, unless restricted, any E.164 number."""

    key = "phone"
    label = _("Phone")
    config_model = PhoneConfig

    def clean(self, value: Any, config: Any) -> Any:
        text = re.sub(r"[\s\-().]", "", _require_text(value))
        mobile = _CN_MOBILE.fullmatch(text)
        if mobile:
            return f"+86{mobile.group(1)}"
        if config.kind == "cn_mobile":
            raise InvalidValue("invalid_phone", _("Enter a mainland China mobile number."))
        if text.startswith("00"):
            text = "+" + text[2:]
        if _E164.fullmatch(text):
            return text
        raise InvalidValue(
            "invalid_phone", _("Enter a phone number with its country code, e.g. +8613812345678.")
        )

    def value_from_text(self, raw: str) -> Any:
        return raw

    def form_field(self, config: Any, **kwargs: Any) -> forms.Field:
        return forms.CharField(widget=forms.TextInput(attrs={"type": "tel"}), **kwargs)


class LocationConfig(FieldConfig):
    require_address: bool = False


class LocationType(FieldType):
    """A point (WGS-84 latitude/longitude) with an optional address line."""

    key = "location"
    label = _("Location")
    config_model = LocationConfig
    operators = PRESENCE_OPERATORS

    def clean(self, value: Any, config: Any) -> Any:
        if not isinstance(value, dict) or set(value) - {"lat", "lng", "address"}:
            raise InvalidValue(
                "invalid_location", _("Enter a latitude, a longitude and an optional address.")
            )
        result: dict[str, Any] = {}
        for name, limit in (("lat", 90), ("lng", 180)):
            number = value.get(name)
            if isinstance(number, bool) or not isinstance(number, int | float):
                raise InvalidValue(
                    "invalid_location",
                    _("Enter a latitude, a longitude and an optional address."),
                )
            if not -limit <= number <= limit:
                raise InvalidValue(
                    "invalid_coordinates",
                    _("Latitude must lie within ±90 and longitude within ±180."),
                )
            result[name] = round(float(number), 7)
        address = value.get("address") or ""
        if not isinstance(address, str) or len(address) > 500:
            raise InvalidValue("invalid_address", _("Enter an address of at most 500 characters."))
        if address.strip():
            result["address"] = address.strip()
        elif config.require_address:
            raise InvalidValue("address_required", _("Enter the address."))
        return result

    def display(self, value: Any, config: Any, language: str) -> str:
        point = f"{value.get('lat')}, {value.get('lng')}"
        return f"{value['address']} ({point})" if value.get("address") else point

    def form_field(self, config: Any, **kwargs: Any) -> forms.Field:
        help_text = kwargs.pop("help_text", "") or _("Latitude, longitude[, address]")
        return forms.CharField(help_text=help_text, **kwargs)

    def value_from_text(self, raw: str) -> Any:
        parts = [part.strip() for part in raw.split(",", 2)]
        try:
            point: dict[str, Any] = {"lat": float(parts[0]), "lng": float(parts[1])}
        except (ValueError, IndexError):
            return raw
        if len(parts) > 2:
            point["address"] = parts[2]
        return point

    def value_to_text(self, value: Any) -> str:
        if not isinstance(value, dict):
            return str(value)
        parts = [str(value.get("lat")), str(value.get("lng"))]
        if value.get("address"):
            parts.append(value["address"])
        return ", ".join(parts)

    def text_help(self, config: Any) -> str:
        return str(_("Latitude, longitude[, address]"))

    def to_form(self, value: Any, config: Any) -> Any:
        return self.value_to_text(value) if isinstance(value, dict) else value

    def from_form(self, value: Any, config: Any) -> Any:
        return self.value_from_text(value) if value else None


class AttachmentConfig(FieldConfig):
    max_files: int = Field(10, ge=1, le=100)


class AttachmentType(FieldType):
    """Ids of attachments (whole numbers or UUIDs). Storage and access checks live with the
    attachments themselves; here only the shape is checked."""

    key = "attachment"
    label = _("Attachments")
    config_model = AttachmentConfig
    operators = PRESENCE_OPERATORS
    is_multiple = True

    def _one(self, item: Any) -> Any:
        if isinstance(item, int) and not isinstance(item, bool) and item > 0:
            return item
        if isinstance(item, str):
            try:
                return str(uuid.UUID(item))
            except ValueError:
                pass
        raise InvalidValue("invalid_attachment", _("Enter attachment identifiers."))

    def clean(self, value: Any, config: Any) -> Any:
        if not isinstance(value, list):
            raise InvalidValue("invalid_attachment", _("Enter attachment identifiers."))
        if len(value) > config.max_files:
            raise InvalidValue(
                "too_many_files", _("Attach at most %(max)s files."), {"max": config.max_files}
            )
        result: list[Any] = []
        for item in value:
            cleaned = self._one(item)
            if cleaned not in result:
                result.append(cleaned)
        return result

    def display(self, value: Any, config: Any, language: str) -> str:
        count = len(value or [])
        with translation.override(language):
            return translation.ngettext("%(count)s file", "%(count)s files", count) % {
                "count": count
            }

    def form_field(self, config: Any, **kwargs: Any) -> forms.Field:
        help_text = kwargs.pop("help_text", "") or _("Attachment ids, separated by commas")
        return forms.CharField(help_text=help_text, **kwargs)

    def value_to_text(self, value: Any) -> str:
        return ", ".join(str(item) for item in value) if isinstance(value, list) else str(value)

    def text_help(self, config: Any) -> str:
        return str(_("Attachment ids, separated by commas"))

    def to_form(self, value: Any, config: Any) -> Any:
        return self.value_to_text(value) if isinstance(value, list) else value

    def from_form(self, value: Any, config: Any) -> Any:
        return self.value_from_text(value) if value else None

    def value_from_text(self, raw: str) -> Any:
        items: list[Any] = []
        for part in raw.split(","):
            part = part.strip()
            if part:
                items.append(int(part) if part.isdigit() else part)
        return items


BUILTIN_TYPES: tuple[FieldType, ...] = (
    TextType(),
    LongTextType(),
    NumberType(),
    DecimalType(),
    DateType(),
    DateTimeType(),
    SingleChoiceType(),
    MultiChoiceType(),
    CascadeType(),
    UserType(),
    TeamType(),
    CustomerType(),
    YesNoType(),
    UrlType(),
    EmailType(),
    PhoneType(),
    LocationType(),
    AttachmentType(),
)
