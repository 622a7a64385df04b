"""Fixtures for calendar tests: calendars made by the administrator, and a state snapshot."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.utils import translation

from aftersales.accounts.models import User
from aftersales.audit.models import AuditEntry
from aftersales.outbox.models import OutboxEvent
from aftersales.sla import services
from aftersales.sla.models import Calendar, CalendarDay, HolidaySet, HolidaySetDay, WorkingInterval
from tests.api.support import fast_hashing
from tests.conftest import JsonClient

__all__ = ["fast_hashing"]

OFFICE_HOURS = {str(day): [{"start": "09:00", "end": "18:00"}] for day in range(5)}


@pytest.fixture(autouse=True)
def _fast_passwords(fast_hashing: None) -> None:
    """Every calendar test makes users; production-strength hashing would only slow them."""


@pytest.fixture(autouse=True)
def _english() -> Any:
    with translation.override("en"):
        yield


@pytest.fixture
def login_client() -> Callable[[User], JsonClient]:
    """A signed-in client whose browser asks for English."""

    def make(user: User) -> JsonClient:
        client = JsonClient(HTTP_ACCEPT_LANGUAGE="en")
        client.force_login(user)
        return client

    return make


@pytest.fixture
def china() -> HolidaySet:
    """The Chinese holiday set seeded by the migration from chinese-calendar."""
    return HolidaySet.objects.get(key="cn")


@pytest.fixture
def make_calendar(admin_user: User, china: HolidaySet) -> Callable[..., Calendar]:
    def make(**fields: Any) -> Calendar:
        fields.setdefault("name", "Beijing desk")
        fields.setdefault("hours", OFFICE_HOURS)
        fields.setdefault("holiday_set", china)
        return services.create_calendar(actor=admin_user, **fields)

    return make


def sla_state() -> dict[str, Any]:
    """Everything a calendar request could change: rows, audit entries, outbox events."""
    return {
        "calendars": list(Calendar.objects.order_by("pk").values()),
        "intervals": list(WorkingInterval.objects.order_by("pk").values()),
        "days": list(CalendarDay.objects.order_by("pk").values()),
        "sets": list(HolidaySet.objects.order_by("pk").values()),
        "set_days": HolidaySetDay.objects.count(),
        "audit": AuditEntry.objects.count(),
        "events": OutboxEvent.objects.count(),
    }
