"""Notification templates, the notifications they produce, and each channel's delivery.

A :class:`Notification` is one message to one recipient about one thing that happened. It is
rendered once, when it is created, in the recipient's language; every channel it goes out on
gets a :class:`Delivery` row holding the text sent there, so a retry sends exactly what the first
attempt tried. Each attempt leaves a :class:`DeliveryAttempt` row: the delivery log.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from aftersales.notifications.choices import Channel, Event


class NotificationTemplate(models.Model):
    """What to say about one event, per channel and language.

    ``content`` maps channel → language → ``{"subject", "body"}``; bodies use allowlisted
    ``{{ placeholder }}`` names only, checked on save. A template for customers (``audience``)
    may only use placeholders customers may see. ``version`` grows with every change and is
    the ETag that refuses stale writes.
    """

    class Audience(models.TextChoices):
        STAFF = "staff", _("Staff")
        CUSTOMER = "customer", _("Customers")

    key = models.SlugField(_("key"), max_length=80, unique=True)
    name = models.CharField(_("name"), max_length=200)
    event = models.CharField(_("event"), max_length=32, choices=Event.choices)
    audience = models.CharField(
        _("audience"), max_length=16, choices=Audience.choices, default=Audience.STAFF
    )
    content = models.JSONField(_("content"), default=dict, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    is_default = models.BooleanField(default=False, editable=False)
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["event", "key"]
        verbose_name = _("notification template")
        verbose_name_plural = _("notification templates")

    def __str__(self) -> str:
        return self.name or self.key


class Notification(models.Model):
    """One message to one recipient (a staff member or a customer) about one occurrence.

    At most one of ``recipient_user`` and ``recipient_customer`` is set; neither for a post to
    a team's group chat (its delivery names the robot). ``subject``/``body`` are the in-app
    rendering; ``is_in_app`` puts it under the recipient's bell until read.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    template = models.ForeignKey(
        NotificationTemplate,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="notifications",
    )
    template_version = models.PositiveIntegerField(default=0)
    event = models.CharField(_("event"), max_length=32, choices=Event.choices)
    recipient_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    recipient_customer = models.ForeignKey(
        "customers.Customer",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    recipient_label = models.CharField(max_length=200, blank=True)
    language = models.CharField(max_length=10)
    ticket = models.ForeignKey(
        "tickets.Ticket",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reason = models.CharField(max_length=200, blank=True)
    subject = models.CharField(_("subject"), max_length=300, blank=True)
    body = models.TextField(_("message"), blank=True)
    is_in_app = models.BooleanField(default=False)
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        indexes = [
            models.Index(
                fields=["recipient_user", "is_in_app", "-created_at", "-id"],
                name="notification_inbox_idx",
            ),
            models.Index(
                fields=["recipient_user", "is_in_app", "read_at"], name="notification_unread_idx"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(recipient_user__isnull=True)
                | models.Q(recipient_customer__isnull=True),
                name="notification_one_recipient",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.recipient_label}"


class Delivery(models.Model):
    """One channel's copy of a notification, sent at most once per successful attempt.

    A worker claims a pending delivery for a lease (``claimed_until``) by a conditional update
    that also bumps ``attempts``; that count is the fencing token every later write checks, so
    a worker whose lease was taken over cannot mark the delivery sent or failed. A delivery
    whose worker died is taken over once the lease runs out. ``message_id`` is fixed when the
    row is written, so every retry of an e-mail carries the same Message-ID.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="deliveries"
    )
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    address = models.CharField(_("address"), max_length=300, blank=True)
    robot = models.ForeignKey(
        "notifications.ChatRobot",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deliveries",
    )
    subject = models.CharField(max_length=300, blank=True)
    body = models.TextField(blank=True)
    message_id = models.CharField(max_length=200, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=64, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["pk"]
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="notification_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} → {self.address} ({self.status})"


class DeliveryAttempt(models.Model):
    """One try at sending a delivery: the delivery log administrators read.

    An attempt still ``running`` when the delivery is claimed again was cut short (its worker
    died); the new claim closes it as ``abandoned``.
    """

    class Outcome(models.TextChoices):
        RUNNING = "running", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        ABANDONED = "abandoned", _("Abandoned (worker stopped)")

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="log")
    number = models.PositiveIntegerField()
    worker = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.RUNNING)
    detail = models.TextField(blank=True)
    response_code = models.IntegerField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["delivery", "number", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="one_attempt_per_number")
        ]

    def __str__(self) -> str:
        return f"#{self.number} {self.outcome}"


class Preference(models.Model):
    """A staff member's choice to get (or not) one event's notifications on one channel.

    Without a row, :func:`aftersales.notifications.preferences.default_for` decides.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    event = models.CharField(max_length=32, choices=Event.choices)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    is_enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "event", "channel"], name="one_preference_per_channel"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.event}/{self.channel}={self.is_enabled}"


class ChatRobot(models.Model):
    """A WeCom or DingTalk group robot: a webhook that posts into one group chat.

    A robot bound to a team receives that team's notifications sent on its channel. The
    ``secret`` (DingTalk's signing secret) is write-only: pages and the API show its last
    characters only.
    """

    class Kind(models.TextChoices):
        WECOM = "wecom", _("WeCom group robot")
        DINGTALK = "dingtalk", _("DingTalk group robot")

    class MessageType(models.TextChoices):
        TEXT = "text", _("Text")
        MARKDOWN = "markdown", _("Markdown (subject in bold)")

    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    message_type = models.CharField(
        _("message type"), max_length=16, choices=MessageType.choices, default=MessageType.TEXT
    )
    webhook_url = models.CharField(_("webhook URL"), max_length=500)
    secret = models.CharField(_("signing secret"), max_length=200, blank=True)
    team = models.ForeignKey(
        "accounts.Team",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="chat_robots",
        verbose_name=_("team"),
    )
    is_active = models.BooleanField(_("active"), default=True)
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("group robot")
        verbose_name_plural = _("group robots")

    def __str__(self) -> str:
        return self.name


class SmsProvider(models.Model):
    """The HTTP SMS gateway: where and how to send a text message, and how to sign it.

    ``url_template`` and ``body_template`` use ``{{ phone }}``, ``{{ message }}``,
    ``{{ timestamp }}`` and ``{{ nonce }}``; the request body is signed with HMAC-SHA256 under
    ``secret`` and the hex digest sent in ``signature_header``. The secret is write-only.
    """

    class Method(models.TextChoices):
        POST = "POST", "POST"
        GET = "GET", "GET"

    name = models.CharField(_("name"), max_length=120)
    url_template = models.CharField(_("URL template"), max_length=500)
    method = models.CharField(
        _("method"), max_length=8, choices=Method.choices, default=Method.POST
    )
    body_template = models.TextField(_("body template"), blank=True)
    content_type = models.CharField(_("content type"), max_length=100, default="application/json")
    secret = models.CharField(_("signing secret"), max_length=200, blank=True)
    signature_header = models.CharField(
        _("signature header"), max_length=100, default="X-Signature"
    )
    is_active = models.BooleanField(_("active"), default=True)
    version = models.PositiveIntegerField(default=1, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("SMS provider")
        verbose_name_plural = _("SMS providers")

    def __str__(self) -> str:
        return self.name


class Reaction(models.Model):
    """A default reaction to a domain event (ticket created → tell the requester…), which the
    administrator switches on or off and points at a template."""

    class Trigger(models.TextChoices):
        TICKET_CREATED = "ticket_created", _("Ticket created → requester")
        PUBLIC_REPLY = "public_reply", _("Public agent reply → requester")
        ASSIGNED = "assigned", _("Ticket assigned → assignee")
        MENTIONED = "mentioned", _("Mentioned in a comment → mentioned staff")

    trigger = models.CharField(max_length=32, choices=Trigger.choices, unique=True)
    template = models.ForeignKey(
        NotificationTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_enabled = models.BooleanField(_("enabled"), default=True)
    version = models.PositiveIntegerField(default=1, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["trigger"]

    def __str__(self) -> str:
        return self.trigger
