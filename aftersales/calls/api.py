"""Calls in the API: telephony systems post their calls (idempotent by their call id) and
read them back; agents' tools list a ticket's or customer's calls."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Schema, Status

from aftersales.calls import selectors, services
from aftersales.calls.models import Call
from aftersales.customers import selectors as customer_selectors
from aftersales.tickets import selectors as ticket_selectors

router = Router(tags=["calls"])


class CallIn(Schema):
    direction: str
    phone: str
    outcome: str = Call.Outcome.ANSWERED
    started_at: datetime | None = None
    duration_seconds: int = 0
    notes: str = ""
    recording_url: str = ""
    external_id: str | None = None
    ticket_id: int | None = None
    customer_id: int | None = None
    open_ticket_type_id: int | None = None
    subject: str = ""
    caller_name: str = ""


class CallOut(Schema):
    id: int
    direction: str
    outcome: str
    phone: str
    started_at: datetime
    duration_seconds: int
    notes: str
    recording_url: str
    external_id: str | None
    ticket_id: int | None
    ticket_number: str | None
    customer_id: int
    agent_id: int | None


class CallFilter(Schema):
    ticket_id: int | None = None
    customer_id: int | None = None
    limit: int = 50


def call_out(call: Call) -> CallOut:
    return CallOut(
        id=call.pk,
        direction=call.direction,
        outcome=call.outcome,
        phone=call.phone,
        started_at=call.started_at,
        duration_seconds=call.duration_seconds,
        notes=call.notes,
        recording_url=call.recording_url,
        external_id=call.external_id,
        ticket_id=call.ticket_id,
        ticket_number=call.ticket.number if call.ticket_id and call.ticket else None,
        customer_id=call.customer_id,
        agent_id=call.agent_id,
    )


@router.get("/calls", response=list[CallOut], summary="List calls")
def list_calls(request: HttpRequest, filters: Query[CallFilter]) -> list[CallOut]:
    calls = selectors.calls_visible_to(request.user)
    if filters.ticket_id is not None:
        calls = calls.filter(ticket_id=filters.ticket_id)
    if filters.customer_id is not None:
        calls = calls.filter(customer_id=filters.customer_id)
    return [call_out(c) for c in calls[: max(1, min(filters.limit, 200))]]


@router.post("/calls", response={201: CallOut}, summary="Log a call")
def create_call(request: HttpRequest, payload: CallIn) -> Status[CallOut]:
    """On a ticket (``ticket_id``), with a customer (``customer_id``), or opening a ticket of
    ``open_ticket_type_id`` with ``subject`` for the caller (found by number or recorded). The
    same ``external_id`` twice returns the first call."""
    details = services.CallDetails(
        direction=payload.direction,
        phone=payload.phone,
        outcome=payload.outcome,
        duration_seconds=payload.duration_seconds,
        notes=payload.notes,
        recording_url=payload.recording_url,
        started_at=payload.started_at,
        external_id=payload.external_id,
    )
    if payload.open_ticket_type_id is not None:
        ticket_type = get_object_or_404(
            ticket_selectors.ticket_types_usable_by(request.user), pk=payload.open_ticket_type_id
        )
        call = services.open_ticket_from_call(
            actor=request.user,
            details=details,
            ticket_type=ticket_type,
            subject=payload.subject,
            caller_name=payload.caller_name,
        )
    else:
        ticket = (
            get_object_or_404(
                ticket_selectors.tickets_visible_to(request.user), pk=payload.ticket_id
            )
            if payload.ticket_id is not None
            else None
        )
        customer = (
            get_object_or_404(
                customer_selectors.customers_visible_to(request.user), pk=payload.customer_id
            )
            if payload.customer_id is not None and ticket is None
            else None
        )
        call = services.log_call(
            actor=request.user, details=details, ticket=ticket, customer=customer
        )
    return Status(201, call_out(call))
