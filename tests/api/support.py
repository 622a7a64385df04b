"""Helpers shared by the API, accounts and audit tests: state snapshots and problem checks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from aftersales.accounts.models import (
    ApiToken,
    BusinessLine,
    Role,
    RoleGrant,
    Team,
    TeamMembership,
    User,
)
from aftersales.audit.models import AuditEntry
from aftersales.outbox.models import OutboxEvent

PROBLEM = "application/problem+json"


@pytest.fixture
def fast_hashing(settings: Any) -> None:
    """Password hashing at production strength makes fixtures slow; tests need no strength."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def world_state() -> dict[str, Any]:
    """Everything a denied request must leave as it was: rows, versions, events, audit."""
    return {
        "users": list(
            User.objects.order_by("pk").values_list(
                "pk",
                "username",
                "email",
                "display_name",
                "language",
                "is_active",
                "version",
                "session_version",
            )
        ),
        "teams": list(
            Team.objects.order_by("pk").values_list(
                "pk", "name", "description", "lead_id", "is_active", "business_line_id"
            )
        ),
        "memberships": list(
            TeamMembership.objects.order_by("pk").values_list("team_id", "user_id")
        ),
        "lines": list(
            BusinessLine.objects.order_by("pk").values_list(
                "pk", "code", "name", "description", "is_active"
            )
        ),
        "roles": list(
            Role.objects.order_by("pk").values_list("pk", "key", "name", "permissions", "version")
        ),
        "grants": list(
            RoleGrant.objects.order_by("pk").values_list("pk", "user_id", "role_id", "scope")
        ),
        "tokens": list(
            ApiToken.objects.order_by("pk").values_list("pk", "user_id", "scopes", "revoked_at")
        ),
        "outbox": list(OutboxEvent.objects.order_by("created_at").values_list("topic", flat=True)),
        "audit": AuditEntry.objects.count(),
    }


def body_of(response: Any) -> Any:
    return json.loads(response.content.decode())


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with ``status``; returns its body."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = body_of(response)
    assert body["status"] == status
    assert body["type"].startswith("urn:aftersales:problem:")
    assert isinstance(body["title"], str)
    assert body["title"] != ""
    assert isinstance(body["detail"], str)
    assert body["detail"] != ""
    return body
