"""Fixtures of the custom-field tests: definitions made through the service, as an admin."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from aftersales.accounts.models import User
from aftersales.customfields import services
from aftersales.customfields.models import FieldDefinition

_counter = itertools.count(1)

TICKET = "tickets.ticket"


@pytest.fixture(autouse=True)
def english(settings):  # type: ignore[no-untyped-def]
    """Assertions read the English source strings."""
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def make_definition(admin_user: User) -> Callable[..., FieldDefinition]:
    """make_definition("model", "text", config={...}, target=..., subtarget=..., ...)."""

    def make(key: str | None = None, field_type: str = "text", **fields: Any) -> FieldDefinition:
        number = next(_counter)
        fields.setdefault("target", TICKET)
        fields.setdefault("label_en", f"Field {number}")
        fields.setdefault("label_zh", f"字段 {number}")
        return services.create_definition(
            actor=admin_user, key=key or f"field_{number}", field_type=field_type, **fields
        )

    return make


CHOICES = {
    "options": [
        {"key": "repair", "label_zh": "维修", "label_en": "Repair"},
        {"key": "refund", "label_zh": "退款", "label_en": "Refund"},
        {"key": "other", "label_zh": "其他", "label_en": "Other"},
    ]
}

TREE = {
    "options": [
        {
            "key": "gd",
            "label_zh": "广东",
            "label_en": "Guangdong",
            "children": [
                {"key": "sz", "label_zh": "深圳", "label_en": "Shenzhen"},
                {"key": "gz", "label_zh": "广州", "label_en": "Guangzhou"},
            ],
        },
        {
            "key": "zj",
            "label_zh": "浙江",
            "label_en": "Zhejiang",
            "children": [{"key": "hz", "label_zh": "杭州", "label_en": "Hangzhou"}],
        },
    ]
}
