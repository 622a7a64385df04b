"""Fixtures for the ticket-type tests: types made by the administrator, and a state snapshot."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from aftersales.accounts.models import BusinessLine, User
from aftersales.audit.models import AuditEntry
from aftersales.outbox.models import OutboxEvent
from aftersales.tickets import services
from aftersales.tickets.models import StatusTransition, TicketStatus, TicketType
from tests.api.support import fast_hashing

__all__ = ["fast_hashing"]
_counter = itertools.count(1)


@pytest.fixture(autouse=True)
def _fast_passwords(fast_hashing: None) -> None:
    """Every ticket test makes users; production-strength hashing would only slow them."""


@pytest.fixture
def make_type(
    admin_user: User, make_line: Callable[..., BusinessLine]
) -> Callable[..., TicketType]:
    """make_type(line=None, key=None, **fields) → a ticket type with the default lifecycle."""

    def make(line: BusinessLine | None = None, key: str | None = None, **fields: Any) -> TicketType:
        number = next(_counter)
        values = {"name_zh": f"维修{number}", "name_en": f"Repair {number}", **fields}
        return services.create_ticket_type(
            actor=admin_user,
            business_line=line or make_line(),
            key=key or f"repair-{number}",
            **values,
        )

    return make


def config_state() -> dict[str, Any]:
    """Everything a refused configuration change must leave as it was."""
    return {
        "types": list(
            TicketType.objects.order_by("pk").values_list(
                "pk", "business_line_id", "key", "name_en", "is_active", "version"
            )
        ),
        "statuses": list(
            TicketStatus.objects.order_by("pk").values_list(
                "pk", "key", "name_en", "category", "is_initial", "is_active", "position"
            )
        ),
        "transitions": list(
            StatusTransition.objects.order_by("pk").values_list(
                "pk", "from_status_id", "to_status_id", "required_fields", "guard", "version"
            )
        ),
        "outbox": list(OutboxEvent.objects.order_by("created_at").values_list("topic", flat=True)),
        "audit": AuditEntry.objects.count(),
    }


def status(ticket_type: TicketType, key: str) -> TicketStatus:
    return TicketStatus.objects.get(ticket_type=ticket_type, key=key)
