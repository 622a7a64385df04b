"""Messaging platforms: the accounts we receive on, the raw messages, conversations, replies."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from aftersales.accounts.models import BusinessLine, Team


class PlatformAccount(models.Model):
    """One WeChat Official Account, mini-program, WeCom app or DingTalk app we serve customers on.

    The platform calls ``/messaging/<kind>/<key>/callback``; what arrives there is checked with
    ``token`` (and decrypted with ``encoding_aes_key``) before anything is stored. New
    conversations become tickets of ``ticket_type`` in ``business_line`` for ``team``. The app
    secret, token and AES key are write-only: pages and the API show only whether they are set.
    ``api_base_url`` is empty for the platform's own API (a local fake in tests).
    """

    class Kind(models.TextChoices):
        WECHAT_OFFICIAL = "wechat_official", _("WeChat Official Account")
        WECHAT_MINIPROGRAM = "wechat_miniprogram", _("WeChat mini-program")
        WECOM = "wecom", _("WeCom")
        DINGTALK = "dingtalk", _("DingTalk")

    class Health(models.TextChoices):
        UNKNOWN = "unknown", _("Not checked yet")
        OK = "ok", _("Working")
        FAILING = "failing", _("Failing")

    key = models.SlugField(
        _("key"),
        max_length=60,
        unique=True,
        help_text=_("Part of the callback URL; letters, digits, - and _ only."),
    )
    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("platform"), max_length=24, choices=Kind.choices)
    app_id = models.CharField(
        _("app id"),
        max_length=128,
        help_text=_("WeChat AppID, WeCom corp id or DingTalk AppKey."),
    )
    agent_id = models.CharField(
        _("agent id"),
        max_length=64,
        blank=True,
        help_text=_("WeCom application AgentId or DingTalk robot code."),
    )
    app_secret = models.CharField(_("app secret"), max_length=256, blank=True)
    token = models.CharField(_("token"), max_length=128, blank=True)
    encoding_aes_key = models.CharField(_("EncodingAESKey"), max_length=64, blank=True)
    api_base_url = models.CharField(
        _("API base URL"),
        max_length=300,
        blank=True,
        help_text=_("Leave empty for the platform's own API."),
    )
    business_line = models.ForeignKey(
        BusinessLine,
        on_delete=models.PROTECT,
        related_name="platform_accounts",
        verbose_name=_("business line"),
    )
    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="platform_accounts",
        verbose_name=_("team"),
    )
    ticket_type = models.ForeignKey(
        "tickets.TicketType",
        on_delete=models.PROTECT,
        related_name="platform_accounts",
        verbose_name=_("ticket type for new conversations"),
    )
    conversation_hours = models.PositiveIntegerField(
        _("conversation window (hours)"),
        default=72,
        help_text=_("A message within this many hours of the last one continues the open ticket."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    health = models.CharField(
        _("health"), max_length=16, choices=Health.choices, default=Health.UNKNOWN, editable=False
    )
    health_detail = models.CharField(max_length=500, blank=True, editable=False)
    health_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    access_token = models.CharField(max_length=600, blank=True, editable=False)
    access_token_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("platform account")
        verbose_name_plural = _("platform accounts")

    def __str__(self) -> str:
        return self.name

    @property
    def is_wechat(self) -> bool:
        return self.kind in (self.Kind.WECHAT_OFFICIAL, self.Kind.WECHAT_MINIPROGRAM)


class InboundMessage(models.Model):
    """A message or event exactly as a platform delivered it, stored before we answer.

    Unique on (account, ``platform_msg_id``): the platform's MsgId, or for events without one
    the sender and creation time. A retry of the same message finds the row and changes
    nothing, so three retries make one ticket. ``state`` says whether it was turned into a
    ticket or reply yet; the work happens after the answer, from the outbox.
    """

    class State(models.TextChoices):
        RECEIVED = "received", _("Received")
        PROCESSED = "processed", _("Processed")
        IGNORED = "ignored", _("Ignored")
        FAILED = "failed", _("Failed")

    account = models.ForeignKey(
        PlatformAccount,
        on_delete=models.CASCADE,
        related_name="inbound_messages",
        verbose_name=_("account"),
    )
    platform_msg_id = models.CharField(_("message id"), max_length=160)
    sender_id = models.CharField(_("sender"), max_length=128)
    msg_type = models.CharField(_("type"), max_length=32)
    content = models.TextField(_("content"), blank=True)
    media_id = models.CharField(max_length=256, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    state = models.CharField(
        _("state"), max_length=16, choices=State.choices, default=State.RECEIVED
    )
    detail = models.TextField(_("detail"), blank=True)
    attempts = models.PositiveIntegerField(default=0)
    customer = models.ForeignKey(
        "customers.Customer",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("customer"),
    )
    ticket = models.ForeignKey(
        "tickets.Ticket",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("ticket"),
    )
    comment = models.ForeignKey(
        "tickets.Comment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    received_at = models.DateTimeField(_("received"), default=timezone.now, editable=False)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-pk"]
        verbose_name = _("inbound message")
        verbose_name_plural = _("inbound messages")
        constraints = [
            models.UniqueConstraint(
                fields=["account", "platform_msg_id"], name="one_inbound_per_platform_msg"
            )
        ]
        indexes = [models.Index(fields=["state", "received_at"], name="inbound_state_idx")]

    def __str__(self) -> str:
        return f"{self.account_id}:{self.platform_msg_id}"


class Conversation(models.Model):
    """A ticket opened from a platform account, and who on that platform to answer.

    ``sender_id`` is the openid (WeChat), userid (WeCom) or staff/user id (DingTalk) of the
    customer; agents' public replies on ``ticket`` go back to them through the account's
    send API. ``reply_webhook`` is DingTalk's session webhook, good until it expires.
    """

    account = models.ForeignKey(
        PlatformAccount, on_delete=models.CASCADE, related_name="conversations"
    )
    ticket = models.OneToOneField(
        "tickets.Ticket", on_delete=models.CASCADE, related_name="platform_conversation"
    )
    sender_id = models.CharField(max_length=128)
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="+")
    last_inbound_at = models.DateTimeField(default=timezone.now)
    reply_webhook = models.CharField(max_length=500, blank=True)
    reply_webhook_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-last_inbound_at", "-pk"]
        verbose_name = _("platform conversation")
        verbose_name_plural = _("platform conversations")
        indexes = [
            models.Index(
                fields=["account", "sender_id", "last_inbound_at"], name="conversation_sender_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.account_id}:{self.sender_id}"


class OutboundMessage(models.Model):
    """An agent's public reply on its way back to the customer through the platform's API.

    One per comment (unique), written in the transaction that handles ``ticket.commented``;
    sent after the commit under a lease (``claimed_until``) whose ``attempts`` count fences
    every later write, and retried with backoff until ``MAX_ATTEMPTS``.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    account = models.ForeignKey(
        PlatformAccount, on_delete=models.CASCADE, related_name="outbound_messages"
    )
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="+")
    comment = models.OneToOneField(
        "tickets.Comment",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="platform_delivery",
    )
    recipient = models.CharField(_("recipient"), max_length=128)
    body = models.TextField(_("message"))
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    response = models.CharField(max_length=500, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("outbound message")
        verbose_name_plural = _("outbound messages")
        indexes = [
            models.Index(
                fields=["status", "next_attempt_at"],
                condition=Q(status__in=["pending", "running"]),
                name="outbound_due_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.account_id}→{self.recipient}"
