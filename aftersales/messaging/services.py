"""Use cases of the messaging platforms.

* Administrators configure :class:`PlatformAccount` rows (``messaging.manage_accounts``), check
  their connection and send a test message.
* A callback stores what arrived with :func:`receive` in the request's transaction and answers
  at once; :func:`process_inbound` (an outbox subscriber, after the commit) turns the stored
  message into a ticket or a customer reply, exactly once by the row's state.
* An agent's public reply on a ticket that came from a platform is queued as an
  :class:`OutboundMessage` by :func:`queue_reply` and sent by :func:`send_outbound`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from aftersales.accounts import authz
from aftersales.accounts.models import BusinessLine, Team
from aftersales.audit import services as audit
from aftersales.audit.models import AuditEntry
from aftersales.core import richtext
from aftersales.core.errors import Conflict, DomainError, NotFound
from aftersales.customers import services as customer_services
from aftersales.customers.identities import normalise
from aftersales.customers.models import Customer, CustomerIdentity
from aftersales.customers.selectors import find_customer_by_identity
from aftersales.messaging import platform_api
from aftersales.messaging.models import (
    Conversation,
    InboundMessage,
    OutboundMessage,
    PlatformAccount,
)
from aftersales.messaging.protocols import Incoming
from aftersales.outbox import services as outbox
from aftersales.outbox.models import OutboxEvent
from aftersales.tickets import services as ticket_services
from aftersales.tickets.models import Comment, Ticket, TicketStatus, TicketType

logger = logging.getLogger(__name__)

MANAGE = "messaging.manage_accounts"
Action = AuditEntry.Action
Kind = PlatformAccount.Kind
IdentityKind = CustomerIdentity.Kind
State = InboundMessage.State
Status = OutboundMessage.Status
MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=2)
SECRET_FIELDS = ("app_secret", "token", "encoding_aes_key")
ACCOUNT_FIELDS = (
    "key",
    "name",
    "kind",
    "app_id",
    "agent_id",
    "api_base_url",
    "business_line",
    "team",
    "ticket_type",
    "conversation_hours",
    "is_active",
)
_KEY = re.compile(r"^[A-Za-z0-9_-]{1,60}$")

CHANNEL_OF = {
    Kind.WECHAT_OFFICIAL: Ticket.Channel.WECHAT,
    Kind.WECHAT_MINIPROGRAM: Ticket.Channel.WECHAT,
    Kind.WECOM: Ticket.Channel.WECOM,
    Kind.DINGTALK: Ticket.Channel.DINGTALK,
}
# Who the sender is on each platform, as a customer identity.
SENDER_IDENTITY = {
    Kind.WECHAT_OFFICIAL: IdentityKind.WECHAT_OPENID,
    Kind.WECHAT_MINIPROGRAM: IdentityKind.WECHAT_OPENID,
    Kind.WECOM: IdentityKind.WECOM_EXTERNAL_ID,
    Kind.DINGTALK: IdentityKind.DINGTALK_ID,
}


# --- Accounts -------------------------------------------------------------------------------------


def _text(value: Any, field: str, max_length: int, *, required: bool = True) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if required and not text:
        raise DomainError("required", field=field, message=_("This field is required."))
    if len(text) > max_length:
        raise DomainError(
            "too_long",
            field=field,
            message=_("Enter at most %(max_length)s characters."),
            params={"max_length": max_length},
        )
    return text


def _clean_account(account: PlatformAccount) -> None:
    """Check the account as it stands in memory; raise on the first wrong field."""
    if not _KEY.match(account.key or ""):
        raise DomainError(
            "invalid",
            field="key",
            message=_("Use 1 to 60 letters, digits, - and _ only."),
        )
    account.name = _text(account.name, "name", 120)
    if account.kind not in Kind.values:
        raise DomainError("invalid_choice", field="kind", message=_("Choose a platform."))
    account.app_id = _text(account.app_id, "app_id", 128)
    account.agent_id = _text(account.agent_id, "agent_id", 64, required=False)
    if account.kind == Kind.WECOM and not account.agent_id.isdigit():
        raise DomainError(
            "required", field="agent_id", message=_("Enter the WeCom application's AgentId.")
        )
    account.api_base_url = _text(account.api_base_url, "api_base_url", 300, required=False)
    if account.api_base_url and not account.api_base_url.startswith(("https://", "http://")):
        raise DomainError(
            "invalid", field="api_base_url", message=_("Enter an http:// or https:// URL.")
        )
    if account.kind != Kind.DINGTALK and not account.token:
        raise DomainError("required", field="token", message=_("This field is required."))
    needs_aes = account.kind == Kind.WECOM
    if (account.encoding_aes_key or needs_aes) and not re.fullmatch(
        r"[A-Za-z0-9]{43}", account.encoding_aes_key
    ):
        raise DomainError(
            "invalid",
            field="encoding_aes_key",
            message=_("The EncodingAESKey is 43 letters and digits."),
        )
    if account.kind == Kind.DINGTALK and not account.app_secret:
        raise DomainError("required", field="app_secret", message=_("This field is required."))
    if (
        not isinstance(account.conversation_hours, int)
        or not 1 <= account.conversation_hours <= 720
    ):
        raise DomainError(
            "invalid",
            field="conversation_hours",
            message=_("Enter a number of hours from 1 to 720."),
        )
    line: BusinessLine = account.business_line
    if not line.is_active:
        raise DomainError(
            "inactive_reference",
            field="business_line",
            message=_("This business line is inactive."),
        )
    team: Team | None = account.team
    if team is not None and team.business_line_id != line.pk:
        raise DomainError(
            "invalid", field="team", message=_("Choose a team of the account's business line.")
        )
    ticket_type: TicketType = account.ticket_type
    if ticket_type.business_line_id != line.pk or not ticket_type.is_active:
        raise DomainError(
            "invalid",
            field="ticket_type",
            message=_("Choose an active ticket type of the account's business line."),
        )
    if PlatformAccount.objects.filter(key=account.key).exclude(pk=account.pk).exists():
        raise DomainError("taken", field="key", message=_("Another account already uses this key."))


def _require_line(actor: Any, account: PlatformAccount) -> None:
    scope = authz.scope_for(actor, MANAGE)
    if scope == authz.Scope.ALL:
        return
    if account.business_line_id not in authz.business_line_ids(actor):
        raise DomainError(
            "outside_scope",
            field="business_line",
            message=_("Choose a business line you belong to."),
        )


def _audited(account: PlatformAccount) -> dict[str, Any]:
    state = audit.snapshot(account, fields=[*ACCOUNT_FIELDS])
    for name in SECRET_FIELDS:
        state[f"has_{name}"] = bool(getattr(account, name))
    return state


@transaction.atomic
def create_account(*, actor: Any, **values: Any) -> PlatformAccount:
    """Connect a platform account. Secrets are stored and never shown back."""
    authz.require_permission(actor, MANAGE)
    account = PlatformAccount(
        **{k: v for k, v in values.items() if k in ACCOUNT_FIELDS or k in SECRET_FIELDS}
    )
    for name in SECRET_FIELDS:
        setattr(account, name, (getattr(account, name) or "").strip())
    _clean_account(account)
    _require_line(actor, account)
    try:
        with transaction.atomic():
            account.save(force_insert=True)
    except IntegrityError:
        raise DomainError(
            "taken", field="key", message=_("Another account already uses this key.")
        ) from None
    audit.record(actor=actor, action=Action.CREATED, obj=account, after=_audited(account))
    outbox.emit("messaging.account_created", account, actor=actor, payload={"kind": account.kind})
    return account


@transaction.atomic
def update_account(
    *,
    actor: Any,
    account: PlatformAccount,
    changes: dict[str, Any],
    expected_version: int | None = None,
) -> PlatformAccount:
    """Change an account. A secret left empty keeps its stored value."""
    authz.require_permission(actor, MANAGE, account)
    account = PlatformAccount.objects.select_for_update().get(pk=account.pk)
    if expected_version is not None and account.version != expected_version:
        raise Conflict(
            "version_conflict",
            message=_("Someone else changed this account meanwhile. Reload and try again."),
        )
    before = _audited(account)
    for name, value in changes.items():
        if name in SECRET_FIELDS:
            if isinstance(value, str) and value.strip():
                setattr(account, name, value.strip())
            continue
        if name not in ACCOUNT_FIELDS:
            raise DomainError("not_allowed", field=name, message=_("This field is not allowed."))
        setattr(account, name, value)
    _clean_account(account)
    _require_line(actor, account)
    if any(name in changes for name in ("app_id", "app_secret", "api_base_url", "kind")):
        account.access_token = ""
        account.access_token_expires_at = None
    account.version += 1
    account.updated_at = timezone.now()
    account.save()
    after = _audited(account)
    changed_before, changed_after = audit.diff(before, after)
    audit.record(
        actor=actor, action=Action.UPDATED, obj=account, before=changed_before, after=changed_after
    )
    outbox.emit("messaging.account_updated", account, actor=actor, payload={"kind": account.kind})
    return account


def _set_health(account: PlatformAccount, health: str, detail: str) -> None:
    account.health = health
    account.health_detail = detail[:500]
    account.health_checked_at = timezone.now()
    # Health is an observation, not a configuration change: no audit entry, no version bump.
    PlatformAccount.objects.filter(pk=account.pk).update(
        health=health,
        health_detail=account.health_detail,
        health_checked_at=account.health_checked_at,
    )


def check_connection(*, actor: Any, account: PlatformAccount) -> bool:
    """Fetch a fresh access token; record whether it worked as the account's health."""
    authz.require_permission(actor, MANAGE, account)
    try:
        platform_api.access_token(account, refresh=True)
    except platform_api.PlatformError as error:
        _set_health(account, PlatformAccount.Health.FAILING, str(error))
        return False
    _set_health(account, PlatformAccount.Health.OK, "")
    return True


def send_test(*, actor: Any, account: PlatformAccount, recipient: Any, text: Any) -> None:
    """Send a message to one openid/userid now, to prove the send API works."""
    authz.require_permission(actor, MANAGE, account)
    recipient = _text(recipient, "recipient", 128)
    text = _text(text, "text", 2000)
    try:
        platform_api.send_text(account, recipient=recipient, text=text)
    except platform_api.PlatformError as error:
        _set_health(account, PlatformAccount.Health.FAILING, str(error))
        raise DomainError(
            "platform_refused",
            field="recipient",
            message=_("The platform refused the message: %(reason)s"),
            params={"reason": str(error)},
        ) from None
    _set_health(account, PlatformAccount.Health.OK, "")
    audit.record(
        actor=actor,
        action=Action.UPDATED,
        obj=account,
        verb="test_sent",
        after={"recipient": recipient},
    )


# --- Receiving ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    message: InboundMessage
    is_new: bool


@transaction.atomic
def receive(*, account: PlatformAccount, incoming: Incoming) -> Received:
    """Store a signed, decrypted message before answering the platform; a retry of one already
    stored changes nothing. The work happens after the commit (``messaging.message_received``)."""
    existing = InboundMessage.objects.filter(
        account=account, platform_msg_id=incoming.platform_msg_id
    ).first()
    if existing is not None:
        return Received(existing, False)
    message = InboundMessage(
        account=account,
        platform_msg_id=incoming.platform_msg_id,
        sender_id=incoming.sender_id,
        msg_type=incoming.msg_type,
        content=incoming.content[:20_000],
        media_id=incoming.media_id[:256],
        raw={
            **incoming.raw,
            "_reply_webhook": incoming.reply_webhook,
            "_reply_webhook_expires_at": incoming.reply_webhook_expires_at.isoformat()
            if incoming.reply_webhook_expires_at
            else "",
        },
    )
    if not incoming.is_message:
        message.state = State.IGNORED
        message.detail = "Event"
    try:
        with transaction.atomic():
            message.save(force_insert=True)
    except IntegrityError:
        # Two retries raced: the other stored it first.
        return Received(
            InboundMessage.objects.get(account=account, platform_msg_id=incoming.platform_msg_id),
            False,
        )
    if message.state == State.RECEIVED:
        outbox.emit(
            "messaging.message_received",
            message,
            payload={"account_id": account.pk, "msg_type": message.msg_type},
        )
    return Received(message, True)


def default_name(account: PlatformAccount, sender_id: str) -> str:
    """The name of a customer known only by a platform id ("WeChat Official Account user
    a1b2c3"), until an agent learns better."""
    return str(
        _("%(platform)s user %(id)s")
        % {"platform": PlatformAccount.Kind(account.kind).label, "id": sender_id[-6:]}
    )


def _sender_name(account: PlatformAccount, message: InboundMessage, info: dict[str, Any]) -> str:
    nickname = str(info.get("nickname") or message.raw.get("senderNick") or "").strip()
    if nickname:
        return nickname[:200]
    return default_name(account, message.sender_id)


def _attach_identity(customer: Customer, kind: str, value: str) -> None:
    """Give ``customer`` an identity the platform proved, unless someone already holds it."""
    try:
        normalised = normalise(kind, value)
    except DomainError:
        return
    if CustomerIdentity.objects.filter(kind=kind, value=normalised, is_active=True).exists():
        return
    customer_services.add_identity(actor=None, customer=customer, kind=kind, value=normalised)


def match_customer(
    *,
    account: PlatformAccount,
    sender_id: str,
    name: str,
    unionid: str = "",
    phone: str = "",
) -> Customer:
    """The customer behind a platform sender: by the sender id, then by WeChat unionid, then by
    a phone number the platform verified; otherwise a new customer of the account's line.
    Identities learnt on the way are added to the customer found."""
    sender_kind = SENDER_IDENTITY[PlatformAccount.Kind(account.kind)]
    customer = find_customer_by_identity(sender_kind, sender_id)
    if customer is None and unionid:
        customer = find_customer_by_identity(IdentityKind.WECHAT_UNIONID, unionid)
    if customer is None and phone:
        customer = find_customer_by_identity(IdentityKind.PHONE, phone)
    if customer is None:
        identities = [(sender_kind, sender_id)]
        if unionid:
            identities.append((IdentityKind.WECHAT_UNIONID, unionid))
        if phone:
            identities.append((IdentityKind.PHONE, phone))
        try:
            return customer_services.create_customer(
                actor=None,
                name=name,
                business_line=account.business_line,
                team=account.team,
                identities=identities,
            )
        except DomainError as error:
            # Another account's worker met the same person a moment earlier (the same unionid
            # or phone): theirs is the record.
            customer = (
                find_customer_by_identity(sender_kind, sender_id)
                or (unionid and find_customer_by_identity(IdentityKind.WECHAT_UNIONID, unionid))
                or (phone and find_customer_by_identity(IdentityKind.PHONE, phone))
                or None
            )
            if error.code != "identity_taken" or customer is None:
                raise
    while customer.merged_into_id is not None:
        customer = Customer.objects.get(pk=customer.merged_into_id)
    _attach_identity(customer, sender_kind, sender_id)
    if unionid:
        _attach_identity(customer, IdentityKind.WECHAT_UNIONID, unionid)
    if phone:
        _attach_identity(customer, IdentityKind.PHONE, phone)
    return customer


def open_conversation(
    account: PlatformAccount, sender_id: str
) -> tuple[Conversation, Ticket] | None:
    """The sender's conversation on this account within its window, and the ticket it goes on:
    its own, or the one it was merged into. None when that ticket is closed."""
    since = timezone.now() - timedelta(hours=account.conversation_hours)
    conversation = (
        Conversation.objects.filter(
            account=account, sender_id=sender_id, last_inbound_at__gte=since
        )
        .select_related("ticket", "customer")
        .order_by("-last_inbound_at", "-pk")
        .first()
    )
    if conversation is None:
        return None
    ticket = conversation.ticket
    for _hop in range(10):  # a merged ticket's messages go on to the ticket that survived
        if ticket.merged_into_id is None:
            break
        ticket = Ticket.objects.get(pk=ticket.merged_into_id)
    if ticket.status_category == TicketStatus.Category.CLOSED:
        return None
    return conversation, ticket


def conversation_of(ticket_id: int) -> Conversation | None:
    """Whom to answer on a ticket: its own conversation, or that of a ticket merged into it."""
    return (
        Conversation.objects.filter(Q(ticket_id=ticket_id) | Q(ticket__merged_into_id=ticket_id))
        .select_related("account")
        .order_by("-last_inbound_at", "-pk")
        .first()
    )


def _subject(message: InboundMessage, account: PlatformAccount) -> str:
    text = " ".join(message.content.split())
    if text:
        return text[:80] + ("…" if len(text) > 80 else "")
    return str(
        _("Picture from %(platform)s") % {"platform": PlatformAccount.Kind(account.kind).label}
    )


def _fetch_extras(
    account: PlatformAccount, message: InboundMessage
) -> tuple[dict[str, Any], platform_api.Media | None, str]:
    """What only the platform's API can tell (user info, the picture), fetched outside any
    transaction. Returns (user info, media, problem note)."""
    info: dict[str, Any] = {}
    note = ""
    sender_kind = SENDER_IDENTITY[PlatformAccount.Kind(account.kind)]
    if find_customer_by_identity(sender_kind, message.sender_id) is None:
        try:
            info = platform_api.user_info(account, openid=message.sender_id)
        except platform_api.PlatformError as error:
            note = f"user info: {error}"
    media = None
    # DingTalk's robot names a picture by a download code inside the message.
    content = message.raw.get("content")
    media_id = message.media_id or (
        str(content.get("downloadCode") or "") if isinstance(content, dict) else ""
    )
    if message.msg_type == "image" and media_id:
        try:
            media = platform_api.download_media(account, media_id=media_id)
        except platform_api.PlatformError as error:
            # Try again later unless it is hopeless or tried often enough already.
            if not error.is_permanent and message.attempts < 3:
                raise
            note = f"media: {error}"
    return info, media, note


def process_inbound(message_id: int) -> str:
    """Turn a stored message into a ticket or a reply on the sender's open ticket; returns the
    row's new state. Safe to run twice or concurrently: the row's state decides."""
    message = InboundMessage.objects.select_related("account").filter(pk=message_id).first()
    if message is None or message.state != State.RECEIVED:
        return message.state if message is not None else ""
    InboundMessage.objects.filter(pk=message.pk).update(attempts=F("attempts") + 1)
    message.attempts += 1
    account = message.account
    try:
        info, media, note = _fetch_extras(account, message)
    except platform_api.PlatformError as error:
        InboundMessage.objects.filter(pk=message.pk).update(detail=str(error)[:2000])
        raise
    try:
        with transaction.atomic():
            return _file_message(message.pk, info, media, note)
    except DomainError as error:
        # The ticket cannot be written as configured (a required field, an inactive type):
        # keep the message, say why, and let an administrator see it in the inbound list.
        detail = f"{error.code}: {error.message}"[:2000]
        InboundMessage.objects.filter(pk=message.pk, state=State.RECEIVED).update(
            state=State.FAILED, detail=detail, processed_at=timezone.now()
        )
        logger.warning("Inbound message %s could not be filed: %s", message.pk, detail)
        return State.FAILED


def _file_message(
    message_id: int, info: dict[str, Any], media: platform_api.Media | None, note: str
) -> str:
    message = (
        InboundMessage.objects.select_for_update(of=("self",))
        .select_related(
            "account", "account__business_line", "account__team", "account__ticket_type"
        )
        .get(pk=message_id)
    )
    if message.state != State.RECEIVED:
        return message.state
    account = message.account
    # One sender's messages filed by two workers at once must not open two tickets: filing
    # takes the account's row lock (milliseconds; the callbacks themselves never wait on it).
    PlatformAccount.objects.select_for_update().filter(pk=account.pk).values_list("pk").first()
    channel = CHANNEL_OF[PlatformAccount.Kind(account.kind)]
    customer = match_customer(
        account=account,
        sender_id=message.sender_id,
        name=_sender_name(account, message, info),
        unionid=str(info.get("unionid") or ""),
    )
    # Platform text is plain: escape it, so "<b>" typed by a customer stays text.
    body = richtext.from_plain_text(message.content)
    files = []
    if message.msg_type == "image":
        body = body or richtext.from_plain_text(str(_("[Picture]")))
        if media is not None:
            files.append(
                SimpleUploadedFile(media.filename, media.content, content_type=media.content_type)
            )
        else:
            body = richtext.from_plain_text(str(_("[Picture that could not be downloaded]")))
    received_at = message.received_at
    found = open_conversation(account, message.sender_id)
    comment: Comment | None = None
    if found is not None:
        conversation, ticket = found
        comment = ticket_services.add_comment(
            actor=None,
            ticket=ticket,
            body=body,
            channel=channel,
            files=files,
            author_customer=customer,
        )
        conversation.last_inbound_at = received_at
    else:
        ticket = ticket_services.create_ticket(
            actor=None,
            ticket_type=account.ticket_type,
            requester=customer,
            subject=_subject(message, account),
            description=richtext.from_plain_text(message.content),
            channel=channel,
            team=account.team,
        )
        if files:
            comment = ticket_services.add_comment(
                actor=None,
                ticket=ticket,
                body=body,
                channel=channel,
                files=files,
                author_customer=customer,
            )
        conversation = Conversation(
            account=account,
            ticket=ticket,
            sender_id=message.sender_id,
            customer=customer,
            last_inbound_at=received_at,
        )
    webhook = str(message.raw.get("_reply_webhook") or "")
    if webhook:
        conversation.reply_webhook = webhook
        expires = message.raw.get("_reply_webhook_expires_at") or ""
        conversation.reply_webhook_expires_at = datetime.fromisoformat(expires) if expires else None
    conversation.save()
    message.state = State.PROCESSED
    message.customer = customer
    message.ticket = ticket
    message.comment = comment
    message.detail = note
    message.processed_at = timezone.now()
    message.save(update_fields=["state", "customer", "ticket", "comment", "detail", "processed_at"])
    return State.PROCESSED


def on_message_received(event: OutboxEvent) -> None:
    """Outbox subscriber (not transactional: it may call the platform's API)."""
    process_inbound(int(event.object_id))


# --- Mini-program sign-in with a verified phone ---------------------------------------------------


@transaction.atomic
def identify_miniprogram_user(
    *, account: PlatformAccount, openid: str, unionid: str, phone: str
) -> Customer:
    """Record who a mini-program user is, from WeChat's own answers (``jscode2session`` and
    ``getuserphonenumber``): the customer holding the verified phone or unionid gains the
    openid, so their customer-service messages land on the same customer."""
    phone_value = ""
    if phone:
        try:
            phone_value = normalise(IdentityKind.PHONE, phone)
        except DomainError:
            phone_value = ""
    return match_customer(
        account=account,
        sender_id=openid,
        name=default_name(account, openid),
        unionid=unionid,
        phone=phone_value,
    )


# --- Replying -------------------------------------------------------------------------------------


def queue_reply(event: OutboxEvent) -> None:
    """Outbox subscriber on ``ticket.commented`` (transactional): a public reply by staff (or a
    rule's auto-reply) on a ticket that came from a platform is queued for sending back, once
    per comment."""
    payload = event.payload
    if not payload.get("is_public") or payload.get("from_customer"):
        return
    comment = Comment.objects.filter(pk=payload.get("comment_id")).first()
    if comment is None or not comment.is_public or comment.author_customer_id is not None:
        return
    conversation = conversation_of(comment.ticket_id)
    if conversation is None or not conversation.account.is_active:
        return
    text = comment.body_text.strip()
    if not text:
        return
    outbound, created = OutboundMessage.objects.get_or_create(
        comment=comment,
        defaults={
            "account": conversation.account,
            "ticket_id": comment.ticket_id,
            "recipient": conversation.sender_id,
            "body": text[:2000],
        },
    )
    if created:
        outbox.emit("messaging.reply_queued", outbound, payload={"ticket_id": comment.ticket_id})


def _due(now: Any) -> Q:
    return Q(status=Status.PENDING, next_attempt_at__lte=now) | Q(
        status=Status.RUNNING, claimed_until__lt=now
    )


def send_outbound(outbound_id: int) -> str:
    """Send one queued reply if it is due and no other worker has it; record the outcome."""
    now = timezone.now()
    claimed = OutboundMessage.objects.filter(_due(now), pk=outbound_id).update(
        status=Status.RUNNING, claimed_until=now + LEASE, attempts=F("attempts") + 1
    )
    if claimed != 1:
        return ""
    outbound = OutboundMessage.objects.select_related("account").get(pk=outbound_id)
    owned = OutboundMessage.objects.filter(
        pk=outbound.pk, status=Status.RUNNING, attempts=outbound.attempts
    )
    webhook = ""
    conversation = conversation_of(outbound.ticket_id)
    if (
        conversation is not None
        and conversation.reply_webhook
        and conversation.reply_webhook_expires_at is not None
        and conversation.reply_webhook_expires_at > now
    ):
        webhook = conversation.reply_webhook
    try:
        answer = platform_api.send_text(
            outbound.account, recipient=outbound.recipient, text=outbound.body, webhook=webhook
        )
    except platform_api.PlatformError as error:
        final = error.is_permanent or outbound.attempts >= MAX_ATTEMPTS
        status = Status.FAILED if final else Status.PENDING
        delay = timedelta(seconds=min(30 * 2 ** (outbound.attempts - 1), 3600))
        updated = owned.update(
            status=status,
            claimed_until=None,
            last_error=str(error)[:2000],
            next_attempt_at=timezone.now() + delay,
        )
        logger.warning("Reply %s to %s failed: %s", outbound.pk, outbound.recipient, error)
        if status == Status.FAILED and updated == 1:
            _note_undelivered(outbound, str(error))
        return status
    owned.update(
        status=Status.SENT,
        claimed_until=None,
        sent_at=timezone.now(),
        last_error="",
        response=str(answer)[:500],
    )
    return Status.SENT


def _note_undelivered(outbound: OutboundMessage, reason: str) -> None:
    """Tell the agents, on the ticket, that their reply never reached the customer."""
    text = _("This reply could not be delivered on %(platform)s: %(reason)s") % {
        "platform": PlatformAccount.Kind(outbound.account.kind).label,
        "reason": reason[:300],
    }
    quoted = outbound.body[:200]
    try:
        with transaction.atomic():
            ticket_services.add_comment(
                actor=None,
                ticket=outbound.ticket,
                body=richtext.from_plain_text(f"{text}\n\n> {quoted}"),
                is_public=False,
            )
    except DomainError:
        logger.exception("Could not note the undelivered reply %s", outbound.pk)


def on_reply_queued(event: OutboxEvent) -> None:
    """Outbox subscriber (not transactional): send right after the commit."""
    send_outbound(int(event.object_id))


def send_due_replies(limit: int = 100) -> int:
    """Periodic job: send replies whose retry time has come or whose worker died."""
    ids = list(
        OutboundMessage.objects.filter(_due(timezone.now()))
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(1 for pk in ids if send_outbound(pk))


@transaction.atomic
def retry_inbound(*, actor: Any, message: InboundMessage) -> InboundMessage:
    """File a message again that failed (after the account or ticket type was fixed)."""
    authz.require_permission(actor, MANAGE)
    if not authz.restrict(InboundMessage.objects.filter(pk=message.pk), actor, MANAGE).exists():
        raise NotFound("not_found")
    locked = InboundMessage.objects.select_for_update().get(pk=message.pk)
    if locked.state != State.FAILED:
        raise DomainError(
            "not_failed", field="state", message=_("Only a failed message can be filed again.")
        )
    before = {"state": locked.state, "detail": locked.detail}
    locked.state = State.RECEIVED
    locked.detail = ""
    locked.attempts = 0
    locked.processed_at = None
    locked.save(update_fields=["state", "detail", "attempts", "processed_at"])
    audit.record(
        actor=actor,
        action=Action.UPDATED,
        obj=locked,
        verb="retried",
        before=before,
        after={"state": locked.state},
    )
    outbox.emit(
        "messaging.message_received",
        locked,
        actor=actor,
        payload={"account_id": locked.account_id, "msg_type": locked.msg_type, "retry": True},
    )
    return locked


def retry_stuck_inbound(limit: int = 100) -> int:
    """Periodic job: file messages still ``received`` a few minutes after they arrived (their
    outbox delivery gave up while the platform was down)."""
    cutoff = timezone.now() - timedelta(minutes=10)
    ids = list(
        InboundMessage.objects.filter(state=State.RECEIVED, received_at__lt=cutoff)
        .order_by("received_at")
        .values_list("pk", flat=True)[:limit]
    )
    done = 0
    for pk in ids:
        try:
            process_inbound(pk)
            done += 1
        except platform_api.PlatformError:
            logger.warning("Inbound message %s still cannot be filed", pk)
    return done
