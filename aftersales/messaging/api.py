"""Messaging platforms: WeChat, WeCom and DingTalk accounts and the messages they received."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from ninja import Field, Router, Schema
from ninja.responses import Status
from pydantic import ConfigDict

from aftersales.accounts import authz
from aftersales.accounts.models import BusinessLine, Team
from aftersales.api.common import PageOut, etag_of, expected_version
from aftersales.api.pagination import paginate
from aftersales.core.errors import DomainError
from aftersales.messaging import selectors, services
from aftersales.messaging.models import InboundMessage, OutboundMessage, PlatformAccount
from aftersales.tickets.models import TicketType

router = Router(tags=["messaging"])


class AccountOut(Schema):
    id: int
    key: str
    name: str
    kind: str
    app_id: str
    agent_id: str
    api_base_url: str
    business_line_id: int
    team_id: int | None
    ticket_type_id: int
    conversation_hours: int
    is_active: bool
    has_app_secret: bool
    has_token: bool
    has_encoding_aes_key: bool
    health: str
    health_detail: str
    health_checked_at: datetime | None
    version: int


class AccountIn(Schema):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(..., max_length=60)
    name: str = Field(..., max_length=120)
    kind: PlatformAccount.Kind
    app_id: str = Field(..., max_length=128)
    agent_id: str = Field("", max_length=64)
    app_secret: str = Field("", max_length=256)
    token: str = Field("", max_length=128)
    encoding_aes_key: str = Field("", max_length=64)
    api_base_url: str = Field("", max_length=300)
    business_line_id: int
    team_id: int | None = None
    ticket_type_id: int
    conversation_hours: int = 72
    is_active: bool = True


class AccountPatch(Schema):
    """Only the fields sent change; a secret left out (or empty) keeps the stored one."""

    model_config = ConfigDict(extra="forbid")

    key: str | None = Field(None, max_length=60)
    name: str | None = Field(None, max_length=120)
    app_id: str | None = Field(None, max_length=128)
    agent_id: str | None = Field(None, max_length=64)
    app_secret: str | None = Field(None, max_length=256)
    token: str | None = Field(None, max_length=128)
    encoding_aes_key: str | None = Field(None, max_length=64)
    api_base_url: str | None = Field(None, max_length=300)
    business_line_id: int | None = None
    team_id: int | None = None
    ticket_type_id: int | None = None
    conversation_hours: int | None = None
    is_active: bool | None = None


class CheckOut(Schema):
    ok: bool
    health: str
    detail: str


class InboundOut(Schema):
    id: int
    account_id: int
    platform_msg_id: str
    sender_id: str
    msg_type: str
    content: str
    state: str
    detail: str
    customer_id: int | None
    ticket_id: int | None
    received_at: datetime
    processed_at: datetime | None


class OutboundOut(Schema):
    id: int
    account_id: int
    ticket_id: int
    comment_id: int | None
    recipient: str
    body: str
    status: str
    attempts: int
    last_error: str
    next_attempt_at: datetime
    sent_at: datetime | None
    created_at: datetime


def _account_out(account: PlatformAccount) -> dict[str, Any]:
    return {
        **{
            name: getattr(account, name)
            for name in (
                "key",
                "name",
                "kind",
                "app_id",
                "agent_id",
                "api_base_url",
                "business_line_id",
                "team_id",
                "ticket_type_id",
                "conversation_hours",
                "is_active",
                "health",
                "health_detail",
                "health_checked_at",
                "version",
            )
        },
        "id": account.pk,
        "has_app_secret": bool(account.app_secret),
        "has_token": bool(account.token),
        "has_encoding_aes_key": bool(account.encoding_aes_key),
    }


def _reference(model: Any, pk: int | None, field: str) -> Any:
    if pk is None:
        return None
    found = model.objects.filter(pk=pk).first()
    if found is None:
        raise DomainError("not_found", field=field, message=_("Choose an existing one."))
    return found


def _references(changes: dict[str, Any]) -> dict[str, Any]:
    for field, model, name in (
        ("business_line_id", BusinessLine, "business_line"),
        ("team_id", Team, "team"),
        ("ticket_type_id", TicketType, "ticket_type"),
    ):
        if field in changes:
            changes[name] = _reference(model, changes.pop(field), field)
    return changes


@router.get("/messaging/accounts", response=list[AccountOut], summary="Platform accounts")
def list_accounts(request: HttpRequest) -> list[dict[str, Any]]:
    authz.require_permission(request.user, services.MANAGE)
    return [_account_out(a) for a in selectors.accounts_visible_to(request.user).order_by("pk")]


@router.post(
    "/messaging/accounts", response={201: AccountOut}, summary="Connect a platform account"
)
def create_account(request: HttpRequest, payload: AccountIn) -> Status[dict[str, Any]]:
    values = _references(payload.dict())
    account = services.create_account(actor=request.user, **values)
    return Status(201, _account_out(account))


@router.get("/messaging/accounts/{account_id}", response=AccountOut, summary="A platform account")
def get_account(request: HttpRequest, account_id: int, response: HttpResponse) -> dict[str, Any]:
    account = get_object_or_404(selectors.accounts_visible_to(request.user), pk=account_id)
    response["ETag"] = etag_of(account.version)
    return _account_out(account)


@router.patch(
    "/messaging/accounts/{account_id}",
    response=AccountOut,
    summary="Change a platform account (If-Match; a secret left out is kept)",
)
def update_account(
    request: HttpRequest, account_id: int, payload: AccountPatch, response: HttpResponse
) -> dict[str, Any]:
    account = get_object_or_404(selectors.accounts_visible_to(request.user), pk=account_id)
    changes = _references(payload.dict(exclude_unset=True))
    account = services.update_account(
        actor=request.user,
        account=account,
        changes=changes,
        expected_version=expected_version(request),
    )
    response["ETag"] = etag_of(account.version)
    return _account_out(account)


@router.post(
    "/messaging/accounts/{account_id}/check",
    response=CheckOut,
    summary="Check the connection (fetch an access token)",
)
def check_account(request: HttpRequest, account_id: int) -> dict[str, Any]:
    account = get_object_or_404(selectors.accounts_visible_to(request.user), pk=account_id)
    ok = services.check_connection(actor=request.user, account=account)
    return {"ok": ok, "health": account.health, "detail": account.health_detail}


@router.get(
    "/messaging/inbound-messages",
    response=PageOut[InboundOut],
    summary="Messages the platforms delivered, newest first",
)
def list_inbound(
    request: HttpRequest,
    state: InboundMessage.State | None = None,
    account_id: int | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    authz.require_permission(request.user, services.MANAGE)
    rows = selectors.inbound_visible_to(request.user)
    if state is not None:
        rows = rows.filter(state=state)
    if account_id is not None:
        rows = rows.filter(account_id=account_id)
    page = paginate(rows, cursor=cursor, limit=limit, descending=True)
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.post(
    "/messaging/inbound-messages/{message_id}/retry",
    response=InboundOut,
    summary="File a failed message again",
)
def retry_inbound(request: HttpRequest, message_id: int) -> InboundMessage:
    message = get_object_or_404(selectors.inbound_visible_to(request.user), pk=message_id)
    return services.retry_inbound(actor=request.user, message=message)


@router.get(
    "/messaging/outbound-messages",
    response=PageOut[OutboundOut],
    summary="Agents' replies sent (or being sent) back through the platforms, newest first",
)
def list_outbound(
    request: HttpRequest,
    status: OutboundMessage.Status | None = None,
    ticket_id: int | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    authz.require_permission(request.user, services.MANAGE)
    rows = selectors.outbound_visible_to(request.user)
    if status is not None:
        rows = rows.filter(status=status)
    if ticket_id is not None:
        rows = rows.filter(ticket_id=ticket_id)
    page = paginate(rows, cursor=cursor, limit=limit, descending=True)
    return {"items": page.items, "next_cursor": page.next_cursor}
