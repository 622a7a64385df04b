"""Tickets from the company's own app or back end, filed for its users by app user id."""

from __future__ import annotations

from typing import Any

import pytest

from aftersales.accounts.models import User
from aftersales.customers.models import Customer, CustomerIdentity
from aftersales.tickets.models import Ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def app_client(desk: dict[str, Any], make_user: Any, token_client: Any) -> Any:
    backend = make_user("app-backend", role="agent", scope="all", kind=User.Kind.INTEGRATION)
    return token_client(backend)


def ticket_body(desk: dict[str, Any], user_id: str, subject: str, **extra: Any) -> dict[str, Any]:
    return {
        "ticket_type_id": desk["support"].pk,
        "requester": {"kind": "app_user_id", "value": user_id, "name": "App user Mei"},
        "subject": subject,
        "channel": "app",
        "team_id": desk["team"].pk,
        **extra,
    }


def test_new_app_user_becomes_a_customer_and_a_retry_with_the_key_makes_nothing_more(
    desk: dict[str, Any], app_client: Any
) -> None:
    body = ticket_body(desk, "U-1001", "Order 88 never arrived")
    first = app_client.post_json("/api/v1/tickets", body, HTTP_IDEMPOTENCY_KEY="app-req-1")
    again = app_client.post_json("/api/v1/tickets", body, HTTP_IDEMPOTENCY_KEY="app-req-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    ticket = Ticket.objects.get()
    assert (ticket.channel, ticket.requester.name) == ("app", "App user Mei")
    assert list(ticket.requester.identities.values_list("kind", "value")) == [
        ("app_user_id", "U-1001")
    ]
    assert ticket.requester.business_line == desk["east"]


def test_known_app_user_files_under_the_same_customer(
    desk: dict[str, Any], app_client: Any
) -> None:
    app_client.post_json("/api/v1/tickets", ticket_body(desk, "U-2002", "First"))
    app_client.post_json("/api/v1/tickets", ticket_body(desk, "U-2002", "Second"))
    assert Ticket.objects.count() == 2
    assert Customer.objects.count() == 1
    assert Ticket.objects.values("requester").distinct().count() == 1


def test_refused_ticket_leaves_no_customer_behind(desk: dict[str, Any], app_client: Any) -> None:
    response = app_client.post_json(
        "/api/v1/tickets",
        ticket_body(desk, "U-3003", "Bad team", team_id=desk["west_team"].pk),
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "team"
    assert Customer.objects.count() == 0
    assert CustomerIdentity.objects.count() == 0


def test_unknown_email_is_still_refused_not_created(desk: dict[str, Any], app_client: Any) -> None:
    body = ticket_body(desk, "x", "By e-mail identity")
    body["requester"] = {"kind": "email", "value": "nobody@example.com"}
    response = app_client.post_json("/api/v1/tickets", body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "requester"
    assert Customer.objects.count() == 0
