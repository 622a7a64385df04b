"""The portal for customers' own apps: sign in with a one-time code to get a short-lived token,
then use the tickets API (which gives customer tokens customer-shaped answers) and these
endpoints for what only customers do: close and reopen their requests.

Every endpoint scopes by the signed-in customer exactly like the portal pages: another
customer's request is a 404.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Router, Schema, Status

from aftersales.accounts import services as account_services
from aftersales.core.errors import NotFound
from aftersales.portal import services
from aftersales.tickets import selectors as ticket_selectors
from aftersales.tickets.models import Ticket, TicketStatus
from aftersales.tickets.services import tickets as ticket_services

router = Router(tags=["portal"])
TOKEN_DAYS = 30
Category = TicketStatus.Category


class CodeRequest(Schema):
    address: str


class CodeSent(Schema):
    detail: str


class TokenRequest(Schema):
    address: str
    code: str
    name: str = "Customer app"


class TokenOut(Schema):
    token: str
    expires_at: datetime
    customer_id: int
    customer_name: str


class MeOut(Schema):
    customer_id: int
    name: str
    organisation: str | None
    identities: list[dict[str, str]]


class RequestState(Schema):
    id: int
    number: str
    status_category: str
    version: int


@router.post(
    "/sign-in/code",
    auth=None,
    response={202: CodeSent},
    summary="Send a one-time sign-in code",
    openapi_extra={"responses": {429: {"description": "Too many codes for this address."}}},
)
def send_code(request: HttpRequest, payload: CodeRequest) -> Status[CodeSent]:
    """Sends a six-digit code to the e-mail address or phone when it belongs to a customer.
    The answer is the same either way, so the endpoint cannot tell who is a customer."""
    services.request_sign_in_code(address=payload.address)
    detail = _("If the address belongs to a customer, a code was sent to it.")
    return Status(202, CodeSent(detail=detail))


@router.post(
    "/sign-in/token",
    auth=None,
    response={201: TokenOut},
    summary="Exchange a sign-in code for a customer token",
)
def issue_token(request: HttpRequest, payload: TokenRequest) -> Status[TokenOut]:
    """A bearer token for the customer's own requests, valid for 30 days."""
    customer = services.verify_sign_in_code(address=payload.address, code=payload.code)
    user = services.ensure_portal_login(customer=customer)
    expires_at = timezone.now() + timedelta(days=TOKEN_DAYS)
    issued = account_services.create_token(
        actor=user,
        user=user,
        name=payload.name.strip()[:100] or "Customer app",
        expires_at=expires_at,
    )
    account_services.record_login(user=user, method="portal_code_api")
    return Status(
        201,
        TokenOut(
            token=issued.secret,
            expires_at=issued.token.expires_at or expires_at,
            customer_id=customer.pk,
            customer_name=customer.name,
        ),
    )


def _customer(request: HttpRequest) -> Any:
    customer = services.portal_customer(request.user)
    if customer is None:
        raise NotFound("not_found")
    return customer


@router.get("/me", response=MeOut, summary="The signed-in customer")
def me(request: HttpRequest) -> MeOut:
    customer = _customer(request)
    return MeOut(
        customer_id=customer.pk,
        name=customer.name,
        organisation=customer.organisation.name if customer.organisation else None,
        identities=[
            {"kind": identity.kind, "value": identity.value}
            for identity in customer.identities.filter(is_active=True).order_by("kind", "pk")
        ],
    )


def _own(request: HttpRequest, ticket_id: int) -> Ticket:
    _customer(request)
    return get_object_or_404(ticket_selectors.tickets_visible_to(request.user), pk=ticket_id)


def _state(ticket: Ticket) -> RequestState:
    return RequestState(
        id=ticket.pk,
        number=ticket.number,
        status_category=ticket.status_category,
        version=ticket.version,
    )


@router.post("/requests/{ticket_id}/close", response=RequestState, summary="Close my request")
def close_request(request: HttpRequest, ticket_id: int) -> RequestState:
    """The customer says the problem is solved: the request moves to solved."""
    ticket = ticket_services.close_by_customer(actor=request.user, ticket=_own(request, ticket_id))
    return _state(ticket)


@router.post("/requests/{ticket_id}/reopen", response=RequestState, summary="Reopen my request")
def reopen_request(request: HttpRequest, ticket_id: int) -> RequestState:
    """The problem is back: a solved request opens again (a closed one does not)."""
    ticket = ticket_services.reopen_by_customer(actor=request.user, ticket=_own(request, ticket_id))
    return _state(ticket)
