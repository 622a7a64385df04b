"""Fixtures of the customers tests: two business lines, agents on either side, factories."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from aftersales.accounts.models import User
from aftersales.audit.models import AuditEntry
from aftersales.customers import services
from aftersales.customers.models import Customer, CustomerIdentity, CustomerNote, Organisation
from aftersales.outbox.models import OutboxEvent
from tests.api.support import fast_hashing  # noqa: F401  (fixture)

_numbers = itertools.count(1)


@pytest.fixture(autouse=True)
def _fast(fast_hashing: None) -> None:
    """Fast password hashing for every customers test."""


@pytest.fixture
def world(
    admin_user: User,
    make_line: Callable[..., Any],
    make_team: Callable[..., Any],
    make_user: Callable[..., User],
) -> dict[str, Any]:
    """Line A with team A (insider, an agent at "my teams"), line B with team B (outsider);
    ``liner`` is an agent at "my business lines" of line A; ``contact`` a customer login."""
    line_a = make_line(code="line-a", name="Line A")
    line_b = make_line(code="line-b", name="Line B")
    team_a = make_team(name="Team A", line=line_a)
    team_b = make_team(name="Team B", line=line_b)
    return {
        "admin": admin_user,
        "line_a": line_a,
        "line_b": line_b,
        "team_a": team_a,
        "team_b": team_b,
        "insider": make_user("insider", role="agent", scope="teams", teams=[team_a]),
        "outsider": make_user("outsider", role="agent", scope="teams", teams=[team_b]),
        "liner": make_user("liner", role="agent", scope="business_lines", lines=[line_a]),
        "contact": make_user("contact", kind=User.Kind.CUSTOMER),
    }


@pytest.fixture
def make_organisation(admin_user: User, make_line: Callable[..., Any]) -> Callable[..., Any]:
    def make(**fields: Any) -> Organisation:
        number = next(_numbers)
        fields.setdefault("name", f"Org {number}")
        fields.setdefault("code", f"org-{number}")
        if "business_line" not in fields:
            fields["business_line"] = make_line()
        return services.create_organisation(actor=admin_user, **fields)

    return make


@pytest.fixture
def make_customer(admin_user: User, make_line: Callable[..., Any]) -> Callable[..., Any]:
    """make_customer(name=..., business_line=..., team=..., identities=[("phone", "...")])."""

    def make(**fields: Any) -> Customer:
        fields.setdefault("name", f"Customer {next(_numbers)}")
        if "business_line" not in fields:
            team = fields.get("team")
            fields["business_line"] = team.business_line if team is not None else make_line()
        return services.create_customer(actor=admin_user, **fields)

    return make


def customer_state() -> dict[str, Any]:
    """Everything a refused customers request must leave as it was."""
    return {
        "customers": list(
            Customer.objects.order_by("pk").values_list(
                "pk", "name", "tags", "is_active", "merged_into_id", "version", "team_id"
            )
        ),
        "organisations": list(
            Organisation.objects.order_by("pk").values_list("pk", "name", "code", "version")
        ),
        "identities": list(
            CustomerIdentity.objects.order_by("pk").values_list(
                "pk", "customer_id", "kind", "value", "is_active"
            )
        ),
        "notes": list(CustomerNote.objects.order_by("pk").values_list("pk", "customer_id")),
        "outbox": list(OutboxEvent.objects.order_by("created_at").values_list("topic", flat=True)),
        "audit": AuditEntry.objects.count(),
    }
