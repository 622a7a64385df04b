"""Ticket types and their configurable lifecycles: statuses and the transitions between them.

A ticket type is configuration of one business line. Its statuses are named by the business
(``Waiting for spare part``) but each belongs to one fixed category that SLA clocks and reports
understand; its transitions say which moves are allowed, what must be filled in on arrival and
under which condition (a CEL guard).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from aftersales.accounts.models import BusinessLine, User

MAX_DAYS = 365

number_prefix_validator = RegexValidator(
    r"^[A-Z][A-Z0-9]{0,9}$",
    _("Use 1 to 10 uppercase letters or digits, starting with a letter."),
    code="invalid_prefix",
)
colour_validator = RegexValidator(
    r"^#[0-9a-fA-F]{6}$", _("Enter a colour as #RRGGBB."), code="invalid_colour"
)


class BilingualName(models.Model):
    """Names kept in both product languages; ``name`` reads the one of the current request."""

    name_zh = models.CharField(_("name (Chinese)"), max_length=120)
    name_en = models.CharField(_("name (English)"), max_length=120)

    class Meta:
        abstract = True

    @property
    def name(self) -> str:
        language = (get_language() or "").lower()
        if language.startswith("zh"):
            return self.name_zh or self.name_en
        return self.name_en or self.name_zh


class TicketType(BilingualName):
    """A kind of request a business line handles (repair, consultation, complaint, return).

    Invariants: ``key`` is unique within the business line; every type has exactly one initial
    status (seeded with the default lifecycle on creation); ``version`` grows with each change
    so stale edits are refused.
    """

    business_line = models.ForeignKey(
        BusinessLine,
        on_delete=models.PROTECT,
        related_name="ticket_types",
        verbose_name=_("business line"),
    )
    key = models.SlugField(_("key"), max_length=60)
    description = models.TextField(_("description"), blank=True)
    number_prefix = models.CharField(
        _("number prefix"),
        max_length=10,
        blank=True,
        validators=[number_prefix_validator],
        help_text=_("Starts ticket numbers, e.g. REP-202611-0001. Empty: the line's code."),
    )
    icon = models.CharField(_("icon"), max_length=40, blank=True)
    colour = models.CharField(_("colour"), max_length=7, blank=True, validators=[colour_validator])
    reopen_within_days = models.PositiveSmallIntegerField(
        _("reopen on reply within (days)"),
        default=7,
        validators=[MaxValueValidator(MAX_DAYS)],
        help_text=_("A customer reply this many days after solving reopens the ticket. 0: never."),
    )
    auto_close_after_days = models.PositiveSmallIntegerField(
        _("close solved tickets after (days)"),
        default=7,
        validators=[MaxValueValidator(MAX_DAYS)],
        help_text=_("Solved tickets are closed after this many days. 0: never."),
    )
    on_portal = models.BooleanField(
        _("offered on the portal"),
        default=True,
        help_text=_("Customers may choose this type when they submit a request themselves."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    position = models.PositiveIntegerField(_("position"), default=0)
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["business_line_id", "position", "pk"]
        verbose_name = _("ticket type")
        verbose_name_plural = _("ticket types")
        constraints = [
            models.UniqueConstraint(
                fields=["business_line", "key"], name="ticket_type_key_per_line"
            )
        ]

    def __str__(self) -> str:
        return self.name


class TicketStatus(BilingualName):
    """A status a ticket of one type can be in, inside one fixed category.

    Categories are fixed because SLA clocks, reports and automation reason about them
    (a pending-customer status pauses the clock whatever it is called). Invariant: exactly one
    active initial status per ticket type (at most one by a database constraint; the services
    never leave a type without one).
    """

    class Category(models.TextChoices):
        NEW = "new", _("New")
        OPEN = "open", _("Open")
        PENDING_CUSTOMER = "pending_customer", _("Waiting for customer")
        PENDING_INTERNAL = "pending_internal", _("Waiting internally")
        SOLVED = "solved", _("Solved")
        CLOSED = "closed", _("Closed")

    ticket_type = models.ForeignKey(
        TicketType, on_delete=models.CASCADE, related_name="statuses", verbose_name=_("ticket type")
    )
    key = models.SlugField(_("key"), max_length=60)
    category = models.CharField(_("category"), max_length=20, choices=Category.choices)
    is_initial = models.BooleanField(_("initial"), default=False)
    position = models.PositiveIntegerField(_("position"), default=0)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["ticket_type_id", "position", "pk"]
        verbose_name = _("ticket status")
        verbose_name_plural = _("ticket statuses")
        constraints = [
            models.UniqueConstraint(fields=["ticket_type", "key"], name="status_key_per_type"),
            models.UniqueConstraint(
                fields=["ticket_type"],
                condition=Q(is_initial=True),
                name="one_initial_status_per_type",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class StatusTransition(models.Model):
    """An allowed move from one status to another of the same ticket type.

    ``required_fields`` are field keys (custom-field keys or built-in ticket fields such as
    ``resolution_code``) that must have a value on entering the target; ``guard`` is a CEL
    expression over ``ticket`` that must be true; ``permission`` is a codename the actor must
    hold. Invariant: at most one transition per (from, to) pair; the guard always compiles.
    """

    ticket_type = models.ForeignKey(
        TicketType,
        on_delete=models.CASCADE,
        related_name="transitions",
        verbose_name=_("ticket type"),
    )
    from_status = models.ForeignKey(
        TicketStatus,
        on_delete=models.CASCADE,
        related_name="transitions_out",
        verbose_name=_("from"),
    )
    to_status = models.ForeignKey(
        TicketStatus,
        on_delete=models.CASCADE,
        related_name="transitions_in",
        verbose_name=_("to"),
    )
    name_zh = models.CharField(_("button label (Chinese)"), max_length=120, blank=True)
    name_en = models.CharField(_("button label (English)"), max_length=120, blank=True)
    required_fields = models.JSONField(_("required fields"), default=list, blank=True)
    guard = models.TextField(_("condition (CEL)"), blank=True)
    permission = models.CharField(_("permission"), max_length=100, blank=True)
    position = models.PositiveIntegerField(_("position"), default=0)
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["ticket_type_id", "position", "pk"]
        verbose_name = _("status transition")
        verbose_name_plural = _("status transitions")
        constraints = [
            models.UniqueConstraint(
                fields=["ticket_type", "from_status", "to_status"],
                name="one_transition_per_pair",
            ),
            models.CheckConstraint(
                condition=~Q(from_status=models.F("to_status")),
                name="transition_changes_status",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.from_status_id} → {self.to_status_id}"

    @property
    def label(self) -> str:
        """The button label in the current language; the target status's name if none set."""
        language = (get_language() or "").lower()
        own = (self.name_zh or self.name_en) if language.startswith("zh") else self.name_en
        return own or self.name_zh or self.to_status.name


# --- Tickets ------------------------------------------------------------------------------------


class TicketNumberSequence(models.Model):
    """The last number handed out for one prefix in one month (``REP`` + ``202611`` → 17).

    Numbers are drawn with a row lock, so two tickets created at once never share a number;
    a rolled-back creation gives its number back.
    """

    prefix = models.CharField(max_length=10)
    period = models.CharField(max_length=6)
    last_value = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["prefix", "period"], name="one_sequence_per_period")
        ]

    def __str__(self) -> str:
        return f"{self.prefix}-{self.period}: {self.last_value}"


class Ticket(models.Model):
    """A customer's request, worked from first contact to closing.

    Invariants: ``number`` is unique and never reused; ``status`` belongs to ``ticket_type``
    and ``status_category`` mirrors its category (kept together by the services, so reports and
    the inbox filter on one indexed column); ``business_line`` is the type's; ``version`` grows
    with every change and is the ETag that refuses stale writes. ``custom_fields`` holds values
    validated by the form engine; ``custom_field_versions`` the definition version each value
    was written under, so an old ticket renders with the labels and options it was filed with.
    """

    class Channel(models.TextChoices):
        WEB = "web", _("Agent workspace")
        PORTAL = "portal", _("Customer portal")
        WEB_FORM = "web_form", _("Web form")
        EMAIL = "email", _("E-mail")
        PHONE = "phone", _("Phone")
        WECHAT = "wechat", _("WeChat")
        WECOM = "wecom", _("WeCom")
        DINGTALK = "dingtalk", _("DingTalk")
        API = "api", _("API")
        APP = "app", _("App")

    class Priority(models.IntegerChoices):
        LOW = 1, _("Low")
        NORMAL = 2, _("Normal")
        HIGH = 3, _("High")
        URGENT = 4, _("Urgent")

    number = models.CharField(_("number"), max_length=32, unique=True, editable=False)
    subject = models.CharField(_("subject"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    channel = models.CharField(
        _("channel"), max_length=16, choices=Channel.choices, default=Channel.WEB
    )
    requester = models.ForeignKey(
        "customers.Customer",
        on_delete=models.PROTECT,
        related_name="tickets",
        verbose_name=_("requester"),
    )
    organisation = models.ForeignKey(
        "customers.Organisation",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="tickets",
        verbose_name=_("organisation"),
    )
    business_line = models.ForeignKey(
        BusinessLine,
        on_delete=models.PROTECT,
        related_name="tickets",
        verbose_name=_("business line"),
    )
    ticket_type = models.ForeignKey(
        TicketType, on_delete=models.PROTECT, related_name="tickets", verbose_name=_("type")
    )
    status = models.ForeignKey(
        TicketStatus, on_delete=models.PROTECT, related_name="tickets", verbose_name=_("status")
    )
    status_category = models.CharField(
        _("status category"), max_length=20, choices=TicketStatus.Category.choices
    )
    priority = models.PositiveSmallIntegerField(
        _("priority"), choices=Priority.choices, default=Priority.NORMAL
    )
    team = models.ForeignKey(
        "accounts.Team",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="tickets",
        verbose_name=_("team"),
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="assigned_tickets",
        verbose_name=_("assignee"),
    )
    followers: models.ManyToManyField[User, TicketFollower] = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        through="TicketFollower",
        related_name="followed_tickets",
        blank=True,
        verbose_name=_("followers"),
    )
    custom_fields = models.JSONField(_("custom fields"), default=dict, blank=True)
    custom_field_versions = models.JSONField(default=dict, blank=True, editable=False)
    due_at = models.DateTimeField(_("due"), null=True, blank=True)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        verbose_name=_("parent ticket"),
    )
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_tickets",
        verbose_name=_("merged into"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="created_tickets",
        verbose_name=_("created by"),
    )
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now, editable=False)
    status_changed_at = models.DateTimeField(default=timezone.now, editable=False)
    first_response_at = models.DateTimeField(_("first response"), null=True, blank=True)
    last_customer_reply_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_agent_reply_at = models.DateTimeField(null=True, blank=True, editable=False)
    solved_at = models.DateTimeField(_("solved"), null=True, blank=True, editable=False)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True, editable=False)
    # The customer's latest satisfaction rating (CSAT 1-5 or NPS 0-10, per the line's survey
    # kind), written by the surveys app when a survey is answered; conditions and reports read it.
    satisfaction = models.PositiveSmallIntegerField(
        _("satisfaction"), null=True, blank=True, editable=False
    )
    satisfaction_at = models.DateTimeField(_("rated"), null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-updated_at", "-pk"]
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")
        indexes = [
            # The inbox views: one column that narrows (who / which team / which line), the
            # status category, then the keyset order, so a page is an index range scan.
            models.Index(
                fields=["assignee", "status_category", "-updated_at", "-id"],
                name="ticket_assignee_inbox_idx",
            ),
            models.Index(
                fields=["team", "status_category", "-updated_at", "-id"],
                name="ticket_team_inbox_idx",
            ),
            # "My teams' open tickets": one team's unsolved tickets in keyset order, so a page
            # is a walk of a few entries even when a custom-field filter drops most of them
            # (measured in docs/adr/0003-custom-field-storage.md).
            models.Index(
                fields=["team", "-updated_at", "-id"],
                condition=Q(
                    status_category__in=[
                        TicketStatus.Category.NEW,
                        TicketStatus.Category.OPEN,
                        TicketStatus.Category.PENDING_CUSTOMER,
                        TicketStatus.Category.PENDING_INTERNAL,
                    ]
                ),
                name="ticket_team_open_idx",
            ),
            models.Index(
                fields=["business_line", "status_category", "-updated_at", "-id"],
                name="ticket_line_inbox_idx",
            ),
            models.Index(fields=["status_category", "-updated_at", "-id"], name="ticket_inbox_idx"),
            models.Index(fields=["-updated_at", "-id"], name="ticket_updated_idx"),
            models.Index(fields=["-created_at", "-id"], name="ticket_created_idx"),
            models.Index(fields=["status_category", "solved_at"], name="ticket_solved_idx"),
            # Time-based automations find tickets whose clock crossed a threshold by range.
            models.Index(fields=["status_changed_at"], name="ticket_status_changed_idx"),
            models.Index(fields=["due_at"], name="ticket_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.subject}"

    @property
    def etag(self) -> str:
        """The HTTP validator of this ticket, as the API sends it (see ``api.common.etag_of``)."""
        return f'W/"{self.version}"'

    @property
    def form_key(self) -> str:
        return form_key_of(self.ticket_type_id)


def form_key_of(ticket_type_id: int) -> str:
    """The custom-field subtarget of a ticket type's form (type keys repeat across lines)."""
    return f"type-{ticket_type_id}"


class TicketFollower(models.Model):
    """A staff member who gets told about changes to a ticket they do not own."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="follower_rows")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="follower_rows"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ticket", "user"], name="one_follow_per_user")
        ]
        indexes = [models.Index(fields=["user", "ticket"], name="follower_user_idx")]

    def __str__(self) -> str:
        return f"{self.user_id} follows {self.ticket_id}"


class TicketTag(models.Model):
    """One tag on one ticket; a row per tag keeps "tickets tagged X" an index lookup."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="tag_rows")
    name = models.CharField(_("tag"), max_length=60)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["ticket", "name"], name="one_tag_per_ticket")
        ]
        indexes = [models.Index(fields=["name", "ticket"], name="tag_lookup_idx")]

    def __str__(self) -> str:
        return self.name


class TicketLink(models.Model):
    """A relation between two tickets other than parent/child (which is ``Ticket.parent``).

    ``related`` is symmetric in meaning but stored once; ``duplicate_of`` points from the
    duplicate to the original.
    """

    class Kind(models.TextChoices):
        RELATED = "related", _("Related to")
        DUPLICATE_OF = "duplicate_of", _("Duplicate of")

    source = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="links_out")
    target = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="links_in")
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "target", "kind"], name="one_link_per_kind"),
            models.CheckConstraint(condition=~Q(source=models.F("target")), name="link_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.source_id} {self.kind} {self.target_id}"


class Comment(models.Model):
    """One message in a ticket's conversation: a public reply or an internal note.

    Written by staff (``author``), by a customer contact through the portal (``author`` is
    their login), or by a customer on a channel without a login (``author_customer``). The
    body is sanitised HTML; ``body_text`` its plain text for search, previews and e-mail.
    Comments are never edited in place; a merge moves them to the surviving ticket and keeps
    ``original_ticket``.
    """

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="comments")
    original_ticket = models.ForeignKey(
        Ticket, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ticket_comments",
    )
    author_customer = models.ForeignKey(
        "customers.Customer",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ticket_comments",
    )
    is_public = models.BooleanField(_("public"), default=True)
    body = models.TextField(_("message"))
    body_text = models.TextField(blank=True)
    channel = models.CharField(
        _("channel"), max_length=16, choices=Ticket.Channel.choices, default=Ticket.Channel.WEB
    )
    mentions = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("comment")
        verbose_name_plural = _("comments")
        indexes = [models.Index(fields=["ticket", "created_at"], name="comment_ticket_idx")]

    def __str__(self) -> str:
        return self.body_text[:60]

    @property
    def is_from_customer(self) -> bool:
        return self.author_customer_id is not None or (
            self.author is not None and self.author.kind == "customer"
        )


def attachment_path(instance: Attachment, filename: str) -> str:
    # The stored name never reuses what the uploader called the file.
    now = timezone.now()
    return f"tickets/{now:%Y/%m}/{uuid.uuid4().hex}"


class Attachment(models.Model):
    """A file on a ticket, served only through a permission check, never as a static file.

    ``is_public`` follows the comment it came with: files on internal notes are staff-only.
    """

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="attachments")
    comment = models.ForeignKey(
        Comment, null=True, blank=True, on_delete=models.SET_NULL, related_name="attachments"
    )
    file = models.FileField(upload_to=attachment_path, max_length=200)
    filename = models.CharField(_("file name"), max_length=255)
    content_type = models.CharField(max_length=120)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    is_public = models.BooleanField(default=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")

    def __str__(self) -> str:
        return self.filename

    @property
    def is_image(self) -> bool:
        return self.content_type in {"image/png", "image/jpeg", "image/gif", "image/webp"}


class TicketEvent(models.Model):
    """One entry of a ticket's timeline: who changed what, when, from what to what.

    ``changes`` maps a field to ``[old, new]`` (display values); ``kind`` says what happened.
    Events are append-only; they are what agents read, the audit log is what auditors read.
    """

    class Kind(models.TextChoices):
        CREATED = "created", _("Created")
        UPDATED = "updated", _("Changed")
        STATUS_CHANGED = "status_changed", _("Status changed")
        ASSIGNED = "assigned", _("Assigned")
        REPLIED = "replied", _("Replied")
        NOTED = "noted", _("Internal note")
        CUSTOMER_REPLIED = "customer_replied", _("Customer replied")
        ATTACHED = "attached", _("File attached")
        LINKED = "linked", _("Linked")
        UNLINKED = "unlinked", _("Link removed")
        MERGED = "merged", _("Merged")
        MERGED_IN = "merged_in", _("Ticket merged in")
        SPLIT = "split", _("Split")
        REOPENED = "reopened", _("Reopened")
        AUTO_CLOSED = "auto_closed", _("Closed automatically")
        MACRO_APPLIED = "macro_applied", _("Macro applied")
        SATISFACTION_RATED = "satisfaction_rated", _("Customer rated the service")

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    changes = models.JSONField(default=dict, blank=True)
    comment = models.ForeignKey(
        Comment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["ticket", "created_at"], name="event_ticket_idx")]

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.kind}"


# --- Agents' tools --------------------------------------------------------------------------


class Macro(models.Model):
    """A canned response: a reply or note template plus field changes, applied in one click.

    Personal macros (``is_shared`` false) are seen and used by their owner only; shared ones by
    everyone who may work tickets of ``business_line`` (all lines when empty). ``body`` holds
    placeholders such as ``{{ ticket.number }}`` that are substituted from an allowlist, never
    compiled as a template. ``actions`` is a list of ``{"field": …, "value": …}`` changes.
    """

    class ReplyKind(models.TextChoices):
        PUBLIC = "public", _("Public reply")
        INTERNAL = "internal", _("Internal note")

    name = models.CharField(_("name"), max_length=120)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="macros",
        verbose_name=_("owner"),
    )
    is_shared = models.BooleanField(_("shared"), default=False)
    business_line = models.ForeignKey(
        BusinessLine,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="macros",
        verbose_name=_("business line"),
    )
    reply_kind = models.CharField(
        _("message"), max_length=10, choices=ReplyKind.choices, default=ReplyKind.PUBLIC
    )
    body = models.TextField(_("message template"), blank=True)
    actions = models.JSONField(_("field changes"), default=list, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    usage_count = models.PositiveIntegerField(default=0, editable=False)
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("macro")
        verbose_name_plural = _("macros")

    def __str__(self) -> str:
        return self.name


class SavedView(models.Model):
    """A named inbox filter and sort an agent keeps for themselves or shares with everyone.

    ``filters`` uses the same allowlisted keys as the ticket list API (see
    :mod:`aftersales.tickets.filtering`), so a view and an API query mean the same thing.
    """

    name = models.CharField(_("name"), max_length=120)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="saved_views",
        verbose_name=_("owner"),
    )
    is_shared = models.BooleanField(_("shared"), default=False)
    filters = models.JSONField(_("filters"), default=dict, blank=True)
    sort = models.CharField(_("sort"), max_length=40, default="-updated_at")
    position = models.PositiveIntegerField(_("position"), default=0)
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "name", "pk"]
        verbose_name = _("saved view")
        verbose_name_plural = _("saved views")

    def __str__(self) -> str:
        return self.name
