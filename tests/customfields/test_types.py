"""Every field type: good values are normalised, bad ones refused with an exact code."""

from __future__ import annotations

from typing import Any

import pytest

from aftersales.accounts import services as accounts
from aftersales.customfields import registry
from aftersales.customfields.errors import InvalidValue
from tests.customfields.conftest import CHOICES, TREE


def clean(field_type: str, value: Any, config: dict[str, Any] | None = None) -> Any:
    handler = registry.get(field_type)
    return handler.clean(value, handler.parse_config(config or {}))


def refusal(field_type: str, value: Any, config: dict[str, Any] | None = None) -> str:
    with pytest.raises(InvalidValue) as caught:
        clean(field_type, value, config)
    return caught.value.code


@pytest.mark.parametrize(
    ("_case", "field_type", "config", "value", "expected"),
    [
        ("text trimmed", "text", {}, "  hello  ", "hello"),
        ("text pattern", "text", {"pattern": r"SN-\d{4}"}, "SN-1234", "SN-1234"),
        ("long text keeps lines", "long_text", {}, "a\nb", "a\nb"),
        ("number", "number", {"min_value": 1, "max_value": 10}, 10, 10),
        ("number from text", "number", {}, "42", 42),
        ("decimal scaled", "decimal", {"decimal_places": 2}, "3.5", "3.50"),
        ("decimal from number", "decimal", {}, 12, "12.00"),
        ("date", "date", {}, "2026-03-01", "2026-03-01"),
        ("datetime to utc", "datetime", {}, "2026-03-01T10:00:00+08:00", "2026-03-01T02:00:00Z"),
        ("datetime naive is local", "datetime", {}, "2026-03-01T10:00", "2026-03-01T02:00:00Z"),
        ("single choice", "single_choice", CHOICES, "refund", "refund"),
        (
            "multi choice in option order",
            "multi_choice",
            CHOICES,
            ["other", "repair"],
            ["repair", "other"],
        ),
        ("multi choice no repeats", "multi_choice", CHOICES, ["other", "other"], ["other"]),
        ("cascade leaf", "cascade", TREE, ["gd", "sz"], ["gd", "sz"]),
        ("cascade prefix allowed", "cascade", {**TREE, "require_leaf": False}, ["zj"], ["zj"]),
        ("yes", "yes_no", {}, True, True),
        ("no", "yes_no", {}, False, False),
        ("url", "url", {}, "https://example.com/a?b=1", "https://example.com/a?b=1"),
        ("email domain lowered", "email", {}, "Mei@Example.COM", "Mei@example.com"),
        ("cn mobile", "phone", {}, "138 1234 5678", "+8613812345678"),
        (
            "cn mobile with prefix",
            "phone",
            {"kind": "cn_mobile"},
            "+86-13812345678",
            "+8613812345678",
        ),
        ("e164", "phone", {}, "+44 20 7946 0958", "+442079460958"),
        ("e164 from 00", "phone", {}, "0044 20 7946 0958", "+442079460958"),
        (
            "location",
            "location",
            {},
            {"lat": 22.5431, "lng": 114.0579, "address": " 深圳 "},
            {"lat": 22.5431, "lng": 114.0579, "address": "深圳"},
        ),
        (
            "location without address",
            "location",
            {},
            {"lat": 0, "lng": 0},
            {"lat": 0.0, "lng": 0.0},
        ),
        (
            "attachments",
            "attachment",
            {},
            [3, "0F8FAD5B-D9CB-469F-A165-70867728950E", 3],
            [3, "0f8fad5b-d9cb-469f-a165-70867728950e"],
        ),
        ("customer id", "customer", {}, 7, 7),
    ],
)
def test_clean_accepts_and_normalises(_case, field_type, config, value, expected, monkeypatch):
    # given: no customers app model yet, so a customer id is only shape-checked
    monkeypatch.setattr("aftersales.customfields.types._customer_model", lambda: None)
    # when / then
    assert clean(field_type, value, config) == expected


@pytest.mark.parametrize(
    ("_case", "field_type", "config", "value", "code"),
    [
        ("text not text", "text", {}, 5, "invalid_type"),
        ("text too long", "text", {"max_length": 3}, "abcd", "too_long"),
        ("text too short", "text", {"min_length": 3}, "ab", "too_short"),
        ("text pattern", "text", {"pattern": r"SN-\d{4}"}, "SN-12", "pattern_mismatch"),
        ("number fraction", "number", {}, 1.5, "invalid_number"),
        ("number bool", "number", {}, True, "invalid_number"),
        ("number below", "number", {"min_value": 1}, 0, "too_small"),
        ("number above", "number", {"max_value": 10}, 11, "too_large"),
        ("decimal text", "decimal", {}, "abc", "invalid_decimal"),
        ("decimal nan", "decimal", {}, "NaN", "invalid_decimal"),
        ("decimal places", "decimal", {"decimal_places": 1}, "1.25", "too_many_decimal_places"),
        (
            "decimal digits",
            "decimal",
            {"max_digits": 4, "decimal_places": 2},
            "123.4",
            "too_many_digits",
        ),
        ("decimal range", "decimal", {"max_value": "9.99"}, "10", "too_large"),
        ("date format", "date", {}, "01/03/2026", "invalid_date"),
        ("date impossible", "date", {}, "2026-02-30", "invalid_date"),
        ("date early", "date", {"min_value": "2026-01-01"}, "2025-12-31", "too_early"),
        ("datetime format", "datetime", {}, "tomorrow", "invalid_datetime"),
        ("choice unknown", "single_choice", CHOICES, "exchange", "invalid_choice"),
        ("choice not text", "single_choice", CHOICES, 1, "invalid_choice"),
        ("multi not list", "multi_choice", CHOICES, "repair", "invalid_type"),
        ("multi unknown", "multi_choice", CHOICES, ["repair", "x"], "invalid_choice"),
        (
            "multi too many",
            "multi_choice",
            {**CHOICES, "max_selections": 1},
            ["repair", "other"],
            "too_many_choices",
        ),
        (
            "multi too few",
            "multi_choice",
            {**CHOICES, "min_selections": 2},
            ["repair"],
            "too_few_choices",
        ),
        ("yes_no text", "yes_no", {}, "yes", "invalid_boolean"),
        ("url scheme", "url", {}, "ftp://example.com/", "invalid_url"),
        ("url junk", "url", {}, "not a url", "invalid_url"),
        ("email", "email", {}, "mei@", "invalid_email"),
        ("phone cn only", "phone", {"kind": "cn_mobile"}, "+442079460958", "invalid_phone"),
        ("phone junk", "phone", {}, "12345", "invalid_phone"),
        ("location shape", "location", {}, [22.5, 114.0], "invalid_location"),
        ("location range", "location", {}, {"lat": 91, "lng": 0}, "invalid_coordinates"),
        ("location extra key", "location", {}, {"lat": 1, "lng": 1, "alt": 3}, "invalid_location"),
        (
            "location address needed",
            "location",
            {"require_address": True},
            {"lat": 1, "lng": 1},
            "address_required",
        ),
        ("attachment shape", "attachment", {}, [0], "invalid_attachment"),
        ("attachment not list", "attachment", {}, 5, "invalid_attachment"),
        ("attachment count", "attachment", {"max_files": 1}, [1, 2], "too_many_files"),
        ("customer id", "customer", {}, "abc", "invalid_number"),
        ("customer id zero", "customer", {}, 0, "invalid_reference"),
    ],
)
def test_clean_refuses_with_code(_case, field_type, config, value, code):
    assert refusal(field_type, value, config) == code


@pytest.mark.parametrize(
    ("_case", "value", "code"),
    [
        ("unknown first level", ["sh"], "invalid_path"),
        ("child of another parent", ["zj", "sz"], "invalid_path"),
        ("deeper than the tree", ["gd", "sz", "x"], "invalid_path"),
        ("stops before a leaf", ["gd"], "incomplete_path"),
        ("not a list", "gd/sz", "invalid_type"),
        ("keys not text", ["gd", 1], "invalid_type"),
    ],
)
def test_cascade_path_must_follow_the_tree(_case, value, code):
    assert refusal("cascade", value, TREE) == code


def test_cascade_refusal_names_the_level():
    # when
    with pytest.raises(InvalidValue) as caught:
        clean("cascade", ["zj", "sz"], TREE)
    # then
    assert caught.value.detail() == "sz is not an option at level 2."


@pytest.mark.django_db
def test_user_must_be_an_active_staff_member(make_user, admin_user):
    # given
    active = make_user("active-agent")
    gone = make_user("gone-agent")
    accounts.set_user_active(actor=admin_user, user=gone, is_active=False)
    contact = make_user("contact", kind="customer")
    # when / then
    assert clean("user", active.pk) == active.pk
    assert clean("user", str(active.pk)) == active.pk
    assert refusal("user", gone.pk) == "unknown_user"
    assert refusal("user", contact.pk) == "unknown_user"
    assert refusal("user", 999_999) == "unknown_user"


@pytest.mark.django_db
def test_team_must_be_an_active_team(make_team):
    # given
    team = make_team(name="Printers")
    # when / then
    assert clean("team", team.pk) == team.pk
    assert refusal("team", 999_999) == "unknown_team"


def test_display_uses_the_language_labels():
    # given
    cascade = registry.get("cascade")
    choice = registry.get("multi_choice")
    yes_no = registry.get("yes_no")
    # when / then
    assert cascade.display(["gd", "sz"], cascade.parse_config(TREE), "zh-hans") == "广东 / 深圳"
    assert cascade.display(["gd", "sz"], cascade.parse_config(TREE), "en") == "Guangdong / Shenzhen"
    assert (
        choice.display(["repair", "other"], choice.parse_config(CHOICES), "en") == "Repair, Other"
    )
    assert yes_no.display(True, None, "en") == "Yes"


@pytest.mark.parametrize(
    ("_case", "field_type", "config", "field"),
    [
        ("unknown key", "text", {"max_len": 3}, "max_len"),
        ("bad regex", "text", {"pattern": "("}, "pattern"),
        ("inverted range", "number", {"min_value": 5, "max_value": 1}, "max_value"),
        ("no options", "single_choice", {"options": []}, "options"),
        ("repeated option", "single_choice", {"options": [{"key": "a"}, {"key": "a"}]}, "options"),
        ("bad option key", "single_choice", {"options": [{"key": "A B"}]}, "options.0.key"),
        ("phone kind", "phone", {"kind": "landline"}, "kind"),
    ],
)
def test_config_is_validated_by_the_type_model(_case, field_type, config, field):
    # when
    with pytest.raises(registry.ConfigError) as caught:
        registry.get(field_type).parse_config(config)
    # then
    assert caught.value.errors[0]["field"] == field


def test_every_type_publishes_a_config_schema():
    # when
    schemas = {key: handler.config_schema() for key, handler in registry.field_types().items()}
    # then
    assert sorted(schemas) == [
        "attachment",
        "cascade",
        "customer",
        "date",
        "datetime",
        "decimal",
        "email",
        "location",
        "long_text",
        "multi_choice",
        "number",
        "phone",
        "single_choice",
        "team",
        "text",
        "url",
        "user",
        "yes_no",
    ]
    assert schemas["text"]["properties"]["max_length"]["default"] == 255


@pytest.mark.django_db
def test_customer_must_exist_once_the_customers_app_has_its_model():
    # given: the customers app defines customers.Customer and no customer exists
    # when / then
    assert refusal("customer", 999_999) == "unknown_customer"


def from_text(field_type: str, text: str, config: dict[str, Any] | None = None) -> Any:
    handler = registry.get(field_type)
    return handler.clean(handler.value_from_text(text), handler.parse_config(config or {}))


@pytest.mark.parametrize(
    ("_case", "field_type", "config", "text", "expected"),
    [
        ("multi choice with ;", "multi_choice", CHOICES, "other; repair", ["repair", "other"]),
        ("multi choice with ,", "multi_choice", CHOICES, "repair,other", ["repair", "other"]),
        ("multi choice with 、", "multi_choice", CHOICES, "repair、refund", ["repair", "refund"]),
        (
            "multi choice full-width",
            "multi_choice",
            CHOICES,
            "repair\uff0crefund",
            ["repair", "refund"],
        ),
        ("yes in Chinese", "yes_no", {}, "是", True),
        ("no in Chinese", "yes_no", {}, "否", False),
        ("yes in capitals", "yes_no", {}, " YES ", True),
        ("false", "yes_no", {}, "false", False),
        ("1", "yes_no", {}, "1", True),
        ("0", "yes_no", {}, "0", False),
        ("iso date", "date", {}, "2026-03-01", "2026-03-01"),
        ("date with slashes", "date", {}, "2026/3/1", "2026-03-01"),
        ("date in Chinese", "date", {}, "2026年3月1日", "2026-03-01"),
        ("date and time with slashes", "datetime", {}, "2026/3/1 10:00", "2026-03-01T02:00:00Z"),
        ("stored date and time", "datetime", {}, "2026-03-01T02:00:00Z", "2026-03-01T02:00:00Z"),
        ("whole number", "number", {}, "42", 42),
        ("decimal", "decimal", {}, "3.5", "3.50"),
        ("cascade path", "cascade", TREE, "gd/sz", ["gd", "sz"]),
    ],
)
def test_text_from_a_sheet_is_read_as_the_typed_value(_case, field_type, config, text, expected):
    # when / then
    assert from_text(field_type, text, config) == expected


@pytest.mark.parametrize(
    ("_case", "field_type", "config", "text", "code"),
    [
        ("yes/no word not listed", "yes_no", {}, "maybe", "invalid_boolean"),
        ("date with a time", "date", {}, "2026/3/1 10:00", "invalid_date"),
        ("month 13", "date", {}, "2026/13/1", "invalid_date"),
        ("unknown option in a list", "multi_choice", CHOICES, "repair; gold", "invalid_choice"),
        ("number with words", "number", {}, "about 3", "invalid_number"),
    ],
)
def test_bad_text_from_a_sheet_is_refused_by_clean(_case, field_type, config, text, code):
    # when
    with pytest.raises(InvalidValue) as caught:
        from_text(field_type, text, config)
    # then
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("_case", "field_type", "config", "value", "text"),
    [
        ("text", "text", {}, "SN-1, SN-2", "SN-1, SN-2"),
        ("number", "number", {}, -3, "-3"),
        ("decimal", "decimal", {}, "12.50", "12.50"),
        ("date", "date", {}, "2026-03-01", "2026-03-01"),
        ("datetime", "datetime", {}, "2026-03-01T02:00:00Z", "2026-03-01T02:00:00Z"),
        ("single choice", "single_choice", CHOICES, "refund", "refund"),
        ("multi choice", "multi_choice", CHOICES, ["repair", "other"], "repair, other"),
        ("cascade", "cascade", TREE, ["gd", "sz"], "gd/sz"),
        ("yes", "yes_no", {}, True, "true"),
        ("no", "yes_no", {}, False, "false"),
        ("location", "location", {}, {"lat": 22.5, "lng": 114.1, "address": "A, B"}, None),
        ("attachments", "attachment", {}, [3, "0f8fad5b-d9cb-469f-a165-70867728950e"], None),
    ],
)
def test_a_value_written_as_text_reads_back_as_itself(_case, field_type, config, value, text):
    # given
    handler = registry.get(field_type)
    # when
    written = handler.value_to_text(value)
    # then
    assert text is None or written == text
    assert from_text(field_type, written, config) == value


def test_text_help_of_a_choice_names_the_active_keys_and_their_labels():
    # given
    config = {**CHOICES, "options": [*CHOICES["options"], {"key": "old", "is_active": False}]}
    handler = registry.get("multi_choice")
    # when
    help_text = handler.text_help(handler.parse_config(config))
    # then
    assert help_text == (
        "Option keys separated by ; or , or 、: repair (Repair), refund (Refund), other (Other)."
    )
