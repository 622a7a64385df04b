"""E-mail channel API: mailboxes (with checks and health) and received mail (the quarantine).

Everything needs ``channels.manage_mailboxes``. Passwords are write-only: responses say only
whether one is set. Changes take If-Match and answer 412 when stale.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from ninja import Field, Query, Router, Schema
from ninja.responses import Status
from pydantic import ConfigDict

from aftersales.accounts.models import BusinessLine, Team
from aftersales.api.common import PreconditionFailed, etag_of, expected_version
from aftersales.channels import selectors, services
from aftersales.channels.models import InboundMessage, Mailbox
from aftersales.core.errors import DomainError
from aftersales.tickets.models import TicketType

router = Router(tags=["E-mail channels"])


class MailboxOut(Schema):
    id: int
    address: str
    display_name: str
    business_line_id: int
    team_id: int | None
    ticket_type_id: int
    imap_host: str
    imap_port: int
    imap_security: str
    imap_user: str
    has_imap_password: bool
    folders: list[str]
    after_fetch: str
    move_to_folder: str
    smtp_host: str
    smtp_port: int
    smtp_security: str
    smtp_user: str
    has_smtp_password: bool
    is_active: bool
    poll_interval_seconds: int
    auto_answer_limit: int
    health: str
    last_checked_at: datetime | None
    last_success_at: datetime | None
    last_error: str
    version: int


class _MailboxFields(Schema):
    model_config = ConfigDict(extra="forbid")

    display_name: str | None = Field(None, max_length=120)
    team_id: int | None = None
    imap_host: str | None = Field(None, max_length=253)
    imap_port: int | None = None
    imap_security: str | None = None
    imap_user: str | None = Field(None, max_length=254)
    imap_password: str | None = Field(None, max_length=500)
    folders: list[str] | None = None
    after_fetch: str | None = None
    move_to_folder: str | None = Field(None, max_length=200)
    smtp_host: str | None = Field(None, max_length=253)
    smtp_port: int | None = None
    smtp_security: str | None = None
    smtp_user: str | None = Field(None, max_length=254)
    smtp_password: str | None = Field(None, max_length=500)
    is_active: bool | None = None
    poll_interval_seconds: int | None = None
    auto_answer_limit: int | None = None


class MailboxIn(_MailboxFields):
    address: str = Field(..., max_length=254)
    business_line_id: int
    ticket_type_id: int


class MailboxPatch(_MailboxFields):
    address: str | None = Field(None, max_length=254)
    business_line_id: int | None = None
    ticket_type_id: int | None = None


class CheckOut(Schema):
    service: str
    is_ok: bool
    detail: str


class TestIn(Schema):
    model_config = ConfigDict(extra="forbid")

    to: str = Field(..., max_length=254)


class MessageOut(Schema):
    id: int
    mailbox_id: int
    message_id: str
    source: str
    from_address: str
    from_name: str
    subject: str
    state: str
    reason: str
    error: str
    ticket_id: int | None
    comment_id: int | None
    size: int
    received_at: datetime
    processed_at: datetime | None


class MessageQuery(Schema):
    state: str = InboundMessage.State.QUARANTINED
    mailbox_id: int | None = None
    limit: int = Field(100, ge=1, le=500)


def _mailbox_out(mailbox: Mailbox) -> dict[str, Any]:
    fields = {
        name: getattr(mailbox, name)
        for name in MailboxOut.model_fields
        if not name.startswith("has_") and name != "id"
    }
    return {
        **fields,
        "id": mailbox.pk,
        "folders": mailbox.fetch_folders,
        "has_imap_password": bool(mailbox.imap_password),
        "has_smtp_password": bool(mailbox.smtp_password),
    }


def _reference(model: Any, pk: int | None, field: str) -> Any:
    if pk is None:
        return None
    found = model.objects.filter(pk=pk).first()
    if found is None:
        raise DomainError(
            "unknown_reference", field=field, message=_("The referenced object does not exist.")
        )
    return found


def _changes(payload: dict[str, Any]) -> dict[str, Any]:
    # null means "leave as is" (a password, a field); only the team may be cleared with it.
    payload = {k: v for k, v in payload.items() if v is not None or k == "team_id"}
    for key, model in (
        ("business_line_id", BusinessLine),
        ("team_id", Team),
        ("ticket_type_id", TicketType),
    ):
        if key in payload:
            payload[key.removesuffix("_id")] = _reference(model, payload.pop(key), key)
    return payload


@router.get("/mailboxes", response=list[MailboxOut], summary="Mailboxes and their health")
def list_mailboxes(request: HttpRequest) -> list[dict[str, Any]]:
    return [_mailbox_out(m) for m in selectors.mailboxes_visible_to(request.user)]


@router.post("/mailboxes", response={201: MailboxOut}, summary="Add a mailbox")
def create_mailbox(request: HttpRequest, payload: MailboxIn) -> Status[dict[str, Any]]:
    fields = _changes(payload.dict(exclude_unset=True))
    mailbox = services.create_mailbox(actor=request.user, **fields)
    return Status(201, _mailbox_out(mailbox))


@router.get("/mailboxes/{mailbox_id}", response=MailboxOut, summary="One mailbox")
def get_mailbox(request: HttpRequest, mailbox_id: int, response: HttpResponse) -> dict[str, Any]:
    mailbox = get_object_or_404(selectors.mailboxes_visible_to(request.user), pk=mailbox_id)
    response["ETag"] = etag_of(mailbox.version)
    return _mailbox_out(mailbox)


@router.patch(
    "/mailboxes/{mailbox_id}",
    response=MailboxOut,
    summary="Change a mailbox (If-Match; a password left out is kept)",
)
def update_mailbox(
    request: HttpRequest, mailbox_id: int, payload: MailboxPatch, response: HttpResponse
) -> dict[str, Any]:
    mailbox = get_object_or_404(selectors.mailboxes_visible_to(request.user), pk=mailbox_id)
    expected = expected_version(request)
    if expected is not None and expected != mailbox.version:
        raise PreconditionFailed("version_mismatch", field="If-Match")
    mailbox = services.update_mailbox(
        actor=request.user,
        mailbox=mailbox,
        changes=_changes(payload.dict(exclude_unset=True)),
        expected_version=expected,
    )
    response["ETag"] = etag_of(mailbox.version)
    return _mailbox_out(mailbox)


@router.delete("/mailboxes/{mailbox_id}", response={204: None}, summary="Remove a mailbox")
def delete_mailbox(request: HttpRequest, mailbox_id: int) -> Status[None]:
    mailbox = get_object_or_404(selectors.mailboxes_visible_to(request.user), pk=mailbox_id)
    services.delete_mailbox(actor=request.user, mailbox=mailbox)
    return Status(204, None)


@router.post(
    "/mailboxes/{mailbox_id}/check",
    response=list[CheckOut],
    summary="Log in to the IMAP and SMTP servers and report their answers",
)
def check_mailbox(request: HttpRequest, mailbox_id: int) -> list[services.CheckResult]:
    mailbox = get_object_or_404(selectors.mailboxes_visible_to(request.user), pk=mailbox_id)
    return services.check_connection(actor=request.user, mailbox=mailbox)


@router.post(
    "/mailboxes/{mailbox_id}/test", response=CheckOut, summary="Send a test e-mail from it"
)
def send_test(request: HttpRequest, mailbox_id: int, payload: TestIn) -> services.CheckResult:
    mailbox = get_object_or_404(selectors.mailboxes_visible_to(request.user), pk=mailbox_id)
    return services.send_test(actor=request.user, mailbox=mailbox, to=payload.to)


def _message_out(message: InboundMessage) -> dict[str, Any]:
    return {name: getattr(message, name) for name in MessageOut.model_fields if name != "id"} | {
        "id": message.pk
    }


@router.get(
    "/inbound-emails",
    response=list[MessageOut],
    summary="Received mail by state (default: the quarantine)",
)
def list_messages(request: HttpRequest, filters: Query[MessageQuery]) -> list[dict[str, Any]]:
    if filters.state not in InboundMessage.State.values:
        raise DomainError("invalid_choice", field="state", message=_("Choose a known state."))
    rows = selectors.messages_visible_to(request.user).filter(state=filters.state)
    if filters.mailbox_id is not None:
        rows = rows.filter(mailbox_id=filters.mailbox_id)
    return [_message_out(m) for m in rows[: filters.limit]]


@router.post(
    "/inbound-emails/{message_id}/reprocess",
    response=MessageOut,
    summary="Process a quarantined or ignored mail again",
)
def reprocess(request: HttpRequest, message_id: int) -> dict[str, Any]:
    message = get_object_or_404(selectors.messages_visible_to(request.user), pk=message_id)
    return _message_out(services.reprocess_message(actor=request.user, message=message))
