"""E-mail channel data: mailboxes, the messages they received, and what the desk sent out.

A :class:`Mailbox` is an address customers write to, mapped to a business line (and a team and
ticket type for new mail). Every message that arrives, by IMAP or piped in, becomes exactly one
:class:`InboundMessage` (its normalised Message-ID is unique), recorded and committed before it
is processed, so a crash at any point resumes without losing or duplicating anything.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Mailbox(models.Model):
    """A support address. Invariants: ``address`` is unique and lower-case; ``ticket_type``
    belongs to ``business_line``; the passwords are stored but never shown back (the forms and
    the API leave them empty or masked, and an empty value keeps the stored one)."""

    class Security(models.TextChoices):
        NONE = "none", _("None (plain text)")
        STARTTLS = "starttls", _("STARTTLS")
        TLS = "tls", _("TLS (implicit)")

    class AfterFetch(models.TextChoices):
        MARK_SEEN = "mark_seen", _("Mark as read and keep it")
        MOVE = "move", _("Move it to another folder")
        DELETE = "delete", _("Delete it from the server")

    class Health(models.TextChoices):
        UNKNOWN = "unknown", _("Not checked yet")
        OK = "ok", _("Working")
        FAILING = "failing", _("Failing")

    address = models.EmailField(_("address"), max_length=254, unique=True)
    display_name = models.CharField(_("display name"), max_length=120, blank=True)
    business_line = models.ForeignKey(
        "accounts.BusinessLine",
        on_delete=models.PROTECT,
        related_name="mailboxes",
        verbose_name=_("business line"),
    )
    team = models.ForeignKey(
        "accounts.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="mailboxes",
        verbose_name=_("team"),
    )
    ticket_type = models.ForeignKey(
        "tickets.TicketType",
        on_delete=models.PROTECT,
        related_name="mailboxes",
        verbose_name=_("ticket type for new mail"),
    )
    imap_host = models.CharField(_("IMAP server"), max_length=253, blank=True)
    imap_port = models.PositiveIntegerField(_("IMAP port"), default=993)
    imap_security = models.CharField(
        _("IMAP security"), max_length=10, choices=Security.choices, default=Security.TLS
    )
    imap_user = models.CharField(_("IMAP user"), max_length=254, blank=True)
    imap_password = models.CharField(_("IMAP password"), max_length=500, blank=True)
    folders = models.JSONField(_("folders to fetch"), default=list, blank=True)
    after_fetch = models.CharField(
        _("after fetching"), max_length=12, choices=AfterFetch.choices, default=AfterFetch.MARK_SEEN
    )
    move_to_folder = models.CharField(_("move to folder"), max_length=200, blank=True)
    smtp_host = models.CharField(
        _("SMTP server"),
        max_length=253,
        blank=True,
        help_text=_("Leave empty to send through the server configured for the whole site."),
    )
    smtp_port = models.PositiveIntegerField(_("SMTP port"), default=587)
    smtp_security = models.CharField(
        _("SMTP security"), max_length=10, choices=Security.choices, default=Security.STARTTLS
    )
    smtp_user = models.CharField(_("SMTP user"), max_length=254, blank=True)
    smtp_password = models.CharField(_("SMTP password"), max_length=500, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    poll_interval_seconds = models.PositiveIntegerField(_("polling interval (seconds)"), default=60)
    auto_answer_limit = models.PositiveIntegerField(
        _("automatic answers per sender and hour"),
        default=10,
        help_text=_(
            "A sender who writes more often gets no more automatic answers for the hour, "
            "and administrators are alerted of a possible mail loop."
        ),
    )
    health = models.CharField(
        _("health"), max_length=10, choices=Health.choices, default=Health.UNKNOWN
    )
    last_checked_at = models.DateTimeField(_("last fetch"), null=True, blank=True)
    last_success_at = models.DateTimeField(_("last successful fetch"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["address"]
        verbose_name = _("mailbox")
        verbose_name_plural = _("mailboxes")

    def __str__(self) -> str:
        return self.address

    @property
    def fetch_folders(self) -> list[str]:
        return [str(folder) for folder in self.folders] or ["INBOX"]

    @property
    def has_imap(self) -> bool:
        return bool(self.imap_host and self.imap_user)


class FolderState(models.Model):
    """How far a mailbox's folder has been read: the highest UID recorded under the folder's
    UIDVALIDITY (a new UIDVALIDITY starts again from 0; the unique Message-ID keeps the re-read
    messages from counting twice)."""

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="folder_states")
    folder = models.CharField(max_length=200)
    uid_validity = models.BigIntegerField(default=0)
    last_uid = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["mailbox", "folder"], name="channels_folder_state_once")
        ]

    def __str__(self) -> str:
        return f"{self.mailbox_id}:{self.folder}@{self.uid_validity}/{self.last_uid}"


class InboundMessage(models.Model):
    """One received e-mail, kept whole (``raw``, zlib-compressed) whatever became of it.

    Invariants: ``message_id`` is the normalised Message-ID (or a hash of the raw bytes when
    the mail has none) and unique, so the same mail fetched twice, from two folders or piped
    after a fetch is one row; ``state`` moves from ``received`` exactly once (processing holds
    the row with ``select_for_update``), except that an administrator may send a quarantined or
    ignored message back to ``received`` to process it again.
    """

    class State(models.TextChoices):
        RECEIVED = "received", _("Received")
        TICKET_CREATED = "ticket_created", _("Ticket created")
        REPLY_ADDED = "reply_added", _("Added to a ticket")
        IGNORED = "ignored", _("Ignored")
        QUARANTINED = "quarantined", _("Quarantined")

    class Source(models.TextChoices):
        IMAP = "imap", _("IMAP")
        PIPE = "pipe", _("Piped in")
        LMTP = "lmtp", _("LMTP")

    mailbox = models.ForeignKey(Mailbox, on_delete=models.PROTECT, related_name="messages")
    message_id = models.CharField(_("Message-ID"), max_length=255, unique=True)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.IMAP)
    folder = models.CharField(max_length=200, blank=True)
    uid = models.BigIntegerField(null=True, blank=True)
    raw = models.BinaryField()
    size = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    from_address = models.CharField(_("from"), max_length=254, blank=True, db_index=True)
    from_name = models.CharField(max_length=200, blank=True)
    subject = models.CharField(_("subject"), max_length=300, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    state = models.CharField(
        _("state"), max_length=16, choices=State.choices, default=State.RECEIVED
    )
    reason = models.CharField(_("reason"), max_length=40, blank=True)
    error = models.TextField(_("error"), blank=True)
    is_auto_answer_allowed = models.BooleanField(default=True)
    ticket = models.ForeignKey(
        "tickets.Ticket",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="inbound_emails",
    )
    comment = models.ForeignKey(
        "tickets.Comment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    attempts = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-pk"]
        verbose_name = _("received e-mail")
        verbose_name_plural = _("received e-mails")
        indexes = [
            models.Index(fields=["state", "received_at"], name="channels_inbound_state_idx"),
            models.Index(fields=["from_address", "received_at"], name="channels_inbound_from_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} ({self.state})"


class OutboundMessage(models.Model):
    """A Message-ID the desk sent about a ticket, so a reply naming it in ``In-Reply-To`` or
    ``References`` lands on that ticket."""

    message_id = models.CharField(max_length=255, unique=True)
    ticket = models.ForeignKey(
        "tickets.Ticket", on_delete=models.CASCADE, related_name="outbound_emails"
    )
    mailbox = models.ForeignKey(
        Mailbox, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    address = models.CharField(max_length=254, blank=True)
    is_automatic = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.message_id


class Participant(models.Model):
    """An address that may reply to a ticket by e-mail besides the requester's own: people the
    customer copied (``Cc``/``To``) on the mail that opened or answered the ticket."""

    ticket = models.ForeignKey(
        "tickets.Ticket", on_delete=models.CASCADE, related_name="email_participants"
    )
    address = models.CharField(max_length=254)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ticket", "address"], name="channels_participant_once")
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id}:{self.address}"
