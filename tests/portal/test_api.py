"""The portal API: a customer's app signs in with a one-time code, gets a short-lived token and
sees only the customer's own requests through every endpoint."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile

from aftersales.accounts import services as accounts
from aftersales.accounts.models import ApiToken
from aftersales.customers import services as customer_services
from aftersales.portal import services as portal
from aftersales.tickets import services as ticket_services
from aftersales.tickets.models import TicketStatus
from tests.conftest import JsonClient

pytestmark = pytest.mark.django_db
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _token_for_alice(desk: dict[str, Any]) -> str:
    customer_services.add_identity(
        actor=desk["admin"], customer=desk["alice"], kind="email", value="alice@example.com"
    )
    client = JsonClient(HTTP_ACCEPT_LANGUAGE="en")
    sent = client.post_json("/api/v1/portal/sign-in/code", {"address": "alice@example.com"})
    assert sent.status_code == 202
    code = re.search(r"\b(\d{6})\b", mail.outbox[-1].body).group(1)  # type: ignore[union-attr]
    issued = client.post_json(
        "/api/v1/portal/sign-in/token", {"address": "alice@example.com", "code": code}
    )
    assert issued.status_code == 201
    return str(issued.json()["token"])


def test_a_customer_token_sees_only_the_customers_requests(
    desk: dict[str, Any], make_ticket: Any
) -> None:
    mine = make_ticket(subject="My washer")
    theirs = make_ticket(requester=desk["bob"], subject="Bob's fridge")
    [photo] = ticket_services.add_attachments(
        actor=desk["admin"], ticket=theirs, is_public=True,
        files=[SimpleUploadedFile("bob.png", PNG, content_type="image/png")],
    )  # fmt: skip
    app = JsonClient(HTTP_AUTHORIZATION=f"Bearer {_token_for_alice(desk)}")

    listed = app.get("/api/v1/tickets").json()
    subjects = [row["subject"] for row in listed["items"]]

    assert subjects == ["My washer"]
    assert app.get(f"/api/v1/tickets/{mine.pk}").status_code == 200
    assert app.get(f"/api/v1/tickets/{theirs.pk}").status_code == 404
    assert app.get(f"/api/v1/tickets/{theirs.pk}/comments").status_code == 404
    assert app.get(f"/api/v1/attachments/{photo.pk}/content").status_code == 404
    assert app.post_json(f"/api/v1/portal/requests/{theirs.pk}/close").status_code == 404
    assert app.post_json(f"/api/v1/portal/requests/{theirs.pk}/reopen").status_code == 404
    reply = app.post_json(f"/api/v1/tickets/{theirs.pk}/comments", {"body": "hello"})
    assert reply.status_code == 404
    assert theirs.comments.count() == 0
    assert app.get("/api/v1/portal/me").json()["name"] == "Alice"


def test_close_and_reopen_through_the_api(desk: dict[str, Any], make_ticket: Any) -> None:
    ticket = make_ticket()
    app = JsonClient(HTTP_AUTHORIZATION=f"Bearer {_token_for_alice(desk)}")

    closed = app.post_json(f"/api/v1/portal/requests/{ticket.pk}/close")
    again = app.post_json(f"/api/v1/portal/requests/{ticket.pk}/close", HTTP_ACCEPT_LANGUAGE="en")
    reopened = app.post_json(f"/api/v1/portal/requests/{ticket.pk}/reopen")

    assert closed.json()["status_category"] == TicketStatus.Category.SOLVED
    assert again.status_code == 422
    assert again.json()["errors"][0]["field"] == "status"
    assert reopened.json()["status_category"] == TicketStatus.Category.OPEN


def test_the_token_is_the_customers_own_and_expires(desk: dict[str, Any]) -> None:
    _token_for_alice(desk)
    token = ApiToken.objects.get()
    assert token.user == desk["contact_a"]
    assert token.expires_at is not None


def test_a_wrong_code_is_a_field_error_and_issues_nothing(desk: dict[str, Any]) -> None:
    customer_services.add_identity(
        actor=desk["admin"], customer=desk["alice"], kind="email", value="alice@example.com"
    )
    portal.request_sign_in_code(address="alice@example.com")
    code = re.search(r"\b(\d{6})\b", mail.outbox[0].body).group(1)  # type: ignore[union-attr]
    wrong = "000000" if code != "000000" else "111111"
    client = JsonClient(HTTP_ACCEPT_LANGUAGE="en")
    answer = client.post_json(
        "/api/v1/portal/sign-in/token", {"address": "alice@example.com", "code": wrong}
    )
    assert answer.status_code == 422
    assert answer["Content-Type"] == "application/problem+json"
    assert answer.json()["errors"][0]["field"] == "code"
    assert ApiToken.objects.count() == 0


def test_too_many_codes_for_one_address_are_refused_with_429(desk: dict[str, Any]) -> None:
    customer_services.add_identity(
        actor=desk["admin"], customer=desk["alice"], kind="email", value="alice@example.com"
    )
    client = JsonClient(HTTP_ACCEPT_LANGUAGE="en")
    answers = [
        client.post_json("/api/v1/portal/sign-in/code", {"address": "alice@example.com"})
        for _ in range(portal.CODES_PER_HOUR + 1)
    ]
    assert [a.status_code for a in answers] == [202] * portal.CODES_PER_HOUR + [429]
    assert len(mail.outbox) == portal.CODES_PER_HOUR


def test_nobody_else_issues_long_lived_customer_tokens(desk: dict[str, Any]) -> None:
    with pytest.raises(portal.DomainError):
        accounts.create_token(actor=desk["contact_a"], user=desk["contact_a"], name="forever")
    assert ApiToken.objects.count() == 0
