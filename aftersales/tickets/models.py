"""Ticket types and their configurable lifecycles: statuses and the transitions between them.

A ticket type is configuration of one business line. Its statuses are named by the business
(``Waiting for spare part``) but each belongs to one fixed category that SLA clocks and reports
understand; its transitions say which moves are allowed, what must be filled in on arrival and
under which condition (a CEL guard).
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from aftersales.accounts.models import BusinessLine

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
