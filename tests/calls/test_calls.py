"""Phone calls: logged on a ticket (and in its conversation as a note), opening a ticket for a
caller found by number, posted by a telephony system once, and kept within scope."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from aftersales.calls import services
from aftersales.calls.models import Call
from aftersales.customers import services as customer_services
from aftersales.customers.models import Customer
from aftersales.tickets.models import Ticket
from tests.conftest import JsonClient

pytestmark = pytest.mark.django_db
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def _as(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_call_logged_on_a_ticket_reads_in_its_conversation(
    desk: dict[str, Any], make_ticket: Any
) -> None:
    ticket = make_ticket()
    response = _as(desk["insider"]).post(
        f"/calls/ticket/{ticket.pk}/log/",
        {
            "direction": "outbound", "phone": "139 0013 9000", "outcome": "answered",
            "minutes": "4.5", "notes": "Customer will be home on Monday.",
            "recording_url": "https://pbx.example.com/rec/1.mp3",
        },
        HTTP_HX_REQUEST="true", **EN,
    )  # fmt: skip
    call = Call.objects.get()
    note = ticket.comments.get()
    assert response.status_code == 200
    assert "+8613900139000" in response.content.decode()
    assert (call.ticket, call.customer, call.duration_seconds) == (ticket, desk["alice"], 270)
    assert call.agent == desk["insider"]
    assert not note.is_public
    assert note.channel == Ticket.Channel.PHONE
    assert "Customer will be home on Monday." in note.body_text
    assert "https://pbx.example.com/rec/1.mp3" in note.body_text


def test_bad_input_is_shown_next_to_the_field_and_logs_nothing(
    desk: dict[str, Any], make_ticket: Any
) -> None:
    ticket = make_ticket()
    response = _as(desk["insider"]).post(
        f"/calls/ticket/{ticket.pk}/log/",
        {"direction": "inbound", "phone": "abc", "outcome": "answered", "minutes": "2"},
        HTTP_HX_REQUEST="true", **EN,
    )  # fmt: skip
    assert response.status_code == 422
    assert "Enter a valid phone number." in response.content.decode()
    assert Call.objects.count() == 0


def test_a_call_opens_a_ticket_for_the_caller_found_by_number(desk: dict[str, Any]) -> None:
    customer_services.add_identity(
        actor=desk["admin"], customer=desk["alice"], kind="phone", value="13900139000"
    )
    response = _as(desk["insider"]).post(
        "/calls/new/",
        {
            "phone": "139-0013-9000", "direction": "inbound", "outcome": "answered",
            "minutes": "3", "ticket_type": desk["repair"].pk, "subject": "Dryer is loud",
            "notes": "Rattles at high speed.",
        },
    )  # fmt: skip
    ticket = Ticket.objects.get(subject="Dryer is loud")
    assert response.status_code == 302
    assert ticket.requester == desk["alice"]
    assert ticket.channel == Ticket.Channel.PHONE
    assert ticket.team == desk["team_a"]
    assert Call.objects.get().ticket == ticket


def test_an_unknown_caller_becomes_a_customer(desk: dict[str, Any]) -> None:
    call = services.open_ticket_from_call(
        actor=desk["insider"],
        details=services.CallDetails(direction="inbound", phone="13700137000"),
        ticket_type=desk["repair"],
        subject="Oven does not heat",
        caller_name="Mr Zhao",
    )
    assert call.customer.name == "Mr Zhao"
    assert Customer.objects.filter(identities__value="+8613700137000").count() == 1


def test_a_telephony_system_posting_the_same_call_twice_logs_it_once(
    desk: dict[str, Any], make_ticket: Any, token_client: Any
) -> None:
    ticket = make_ticket()
    client: JsonClient = token_client(desk["manager"])
    body = {
        "direction": "inbound", "phone": "13900139000", "duration_seconds": 61,
        "ticket_id": ticket.pk, "external_id": "pbx-2026-11-25-0001",
    }  # fmt: skip
    first = client.post_json("/api/v1/calls", body)
    second = client.post_json("/api/v1/calls", body)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] == second.json()["id"]
    assert Call.objects.count() == 1
    assert ticket.comments.count() == 1


def test_calls_outside_the_scope_are_not_found_and_not_listed(
    desk: dict[str, Any], make_ticket: Any, token_client: Any
) -> None:
    ticket = make_ticket()
    services.log_call(
        actor=desk["insider"],
        details=services.CallDetails(direction="inbound", phone="13900139000"),
        ticket=ticket,
    )
    outsider = _as(desk["outsider"])
    assert outsider.get(f"/calls/ticket/{ticket.pk}/").status_code == 404
    assert (
        outsider.post(
            f"/calls/ticket/{ticket.pk}/log/",
            {"direction": "inbound", "phone": "13900139000", "outcome": "answered", "minutes": "1"},
        ).status_code
        == 404
    )
    assert "13900139000" not in outsider.get("/calls/").content.decode()
    api = token_client(desk["outsider"])
    assert api.get("/api/v1/calls").json() == []
    refused = api.post_json(
        "/api/v1/calls", {"direction": "inbound", "phone": "13900139000", "ticket_id": ticket.pk}
    )
    assert refused.status_code == 404
    assert Call.objects.count() == 1
    # Customers never see calls: they are internal records.
    assert "Phone calls" not in _as(desk["contact_a"]).get("/portal/", **EN).content.decode()


def test_click_to_call_uses_the_pbx_link_when_configured(settings: Any) -> None:
    settings.AFTERSALES_CLICK_TO_CALL_URL = "https://pbx.example.com/dial?to={phone}"
    assert services.click_to_call_url("+8613900139000") == (
        "https://pbx.example.com/dial?to=+8613900139000"
    )
    settings.AFTERSALES_CLICK_TO_CALL_URL = ""
    assert services.click_to_call_url("+8613900139000") == "tel:+8613900139000"
