"""Fixtures for the ticket-type tests: types made by the administrator, and a state snapshot."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from aftersales.accounts.models import BusinessLine, User
from aftersales.audit.models import AuditEntry
from aftersales.customers import services as customer_services
from aftersales.customfields import services as customfields
from aftersales.outbox.models import OutboxEvent
from aftersales.tickets import services
from aftersales.tickets.models import (
    Comment,
    StatusTransition,
    Ticket,
    TicketEvent,
    TicketStatus,
    TicketType,
    form_key_of,
)
from tests.api.support import fast_hashing

__all__ = ["fast_hashing"]
_counter = itertools.count(1)


@pytest.fixture(autouse=True)
def _fast_passwords(fast_hashing: None) -> None:
    """Every ticket test makes users; production-strength hashing would only slow them."""


@pytest.fixture(autouse=True)
def _media_in_tmp(settings: Any, tmp_path: Any) -> None:
    """Files stored by a test go to its own folder, never the shared data directory."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }


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


# --- Tickets ------------------------------------------------------------------------------------


@pytest.fixture
def desk(
    admin_user: User,
    make_line: Callable[..., BusinessLine],
    make_team: Callable[..., Any],
    make_user: Callable[..., User],
    make_type: Callable[..., TicketType],
) -> dict[str, Any]:
    """A service desk with two business lines.

    Line A: team A (``insider``: agent at "my teams"), the repair type (prefix REP) with a
    required single-choice ``resolution_code`` (asked for on solving), customers ``alice`` (portal
    login ``contact_a``) and ``bob`` (login ``contact_b``). Line B: team B with ``outsider``.
    ``manager`` holds the service-manager role over everything.
    """
    line_a = make_line(code="east", name="East")
    line_b = make_line(code="west", name="West")
    team_a = make_team(name="Repair East", line=line_a)
    team_b = make_team(name="Repair West", line=line_b)
    insider = make_user("insider", role="agent", scope="teams", teams=[team_a])
    colleague = make_user("colleague", role="agent", scope="teams", teams=[team_a])
    outsider = make_user("outsider", role="agent", scope="teams", teams=[team_b])
    manager = make_user("manager", role="service-manager", scope="all")
    repair = make_type(line=line_a, key="repair", number_prefix="REP")
    customfields.create_definition(
        actor=admin_user,
        target="tickets.ticket",
        subtarget=form_key_of(repair.pk),
        key="resolution_code",
        field_type="single_choice",
        label_zh="解决代码",
        label_en="Resolution code",
        config={
            "options": [
                {"key": "fixed", "label_zh": "已修复", "label_en": "Fixed"},
                {"key": "replaced", "label_zh": "已更换", "label_en": "Replaced"},
            ]
        },
    )
    contact_a = make_user("contact-a", kind=User.Kind.CUSTOMER)
    contact_b = make_user("contact-b", kind=User.Kind.CUSTOMER)
    alice = customer_services.create_customer(
        actor=admin_user, name="Alice", business_line=line_a, portal_user=contact_a
    )
    bob = customer_services.create_customer(
        actor=admin_user, name="Bob", business_line=line_a, portal_user=contact_b
    )
    return {
        "admin": admin_user,
        "line_a": line_a,
        "line_b": line_b,
        "team_a": team_a,
        "team_b": team_b,
        "insider": insider,
        "colleague": colleague,
        "outsider": outsider,
        "manager": manager,
        "repair": repair,
        "alice": alice,
        "bob": bob,
        "contact_a": contact_a,
        "contact_b": contact_b,
    }


@pytest.fixture
def make_ticket(desk: dict[str, Any]) -> Callable[..., Ticket]:
    """make_ticket(**fields) → a repair ticket of Alice for team A, created by the admin."""

    def make(**fields: Any) -> Ticket:
        values: dict[str, Any] = {
            "actor": desk["admin"],
            "ticket_type": desk["repair"],
            "requester": desk["alice"],
            "subject": "Washing machine does not drain",
            "team": desk["team_a"],
            **fields,
        }
        return services.create_ticket(**values)

    return make


def ticket_state() -> dict[str, Any]:
    """Everything a refused ticket request must leave as it was."""
    return {
        "tickets": list(
            Ticket.objects.order_by("pk").values_list(
                "pk",
                "status_id",
                "assignee_id",
                "team_id",
                "priority",
                "version",
                "subject",
                "custom_fields",
                "merged_into_id",
                "requester_id",
            )
        ),
        "comments": list(Comment.objects.order_by("pk").values_list("pk", "ticket_id")),
        "events": TicketEvent.objects.count(),
        "outbox": list(OutboxEvent.objects.order_by("created_at").values_list("topic", flat=True)),
    }
