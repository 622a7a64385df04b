"""Satisfaction surveys: how a business line asks, and one survey per solved ticket.

:class:`SurveySettings` is configuration (one row per business line, and one default row with
no line). :class:`Survey` is the customer's side of one ticket: scheduled when the ticket is
solved, sent once after the delay, answered (and re-answered within the edit window) through a
signed link that names only this survey.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from aftersales.accounts.models import BusinessLine

MAX_DELAY_MINUTES = 30 * 24 * 60
MAX_DAYS = 365
MAX_REASONS = 20
MAX_COMMENT = 2000


class Kind(models.TextChoices):
    CSAT = "csat", _("Satisfaction (1-5 stars)")
    NPS = "nps", _("Net Promoter Score (0-10)")


SCALES: dict[str, tuple[int, int]] = {Kind.CSAT: (1, 5), Kind.NPS: (0, 10)}


SEND_CHANNELS = ("email", "sms")


def default_channels() -> list[str]:
    return ["email"]


class SurveySettings(models.Model):
    """How (and whether) the customers of one business line are asked about solved tickets.

    The row without a business line is the default for lines without their own. ``reasons``
    is a list of ``{"key", "label_zh", "label_en"}`` the customer may tick; ``channels`` the
    customer's channels the link goes by (``email``, ``sms``); ``template`` the customer
    notification that carries it (the default ``survey`` template when empty). Invariants: at
    most one row per line and one default row; ``version`` grows with every change so stale
    edits are refused.
    """

    business_line = models.OneToOneField(
        BusinessLine,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="survey_settings",
        verbose_name=_("business line"),
    )
    is_enabled = models.BooleanField(_("send surveys"), default=True)
    delay_minutes = models.PositiveIntegerField(
        _("delay after solving (minutes)"),
        default=60,
        validators=[MaxValueValidator(MAX_DELAY_MINUTES)],
        help_text=_("The survey goes out this long after the ticket is solved."),
    )
    link_valid_days = models.PositiveSmallIntegerField(
        _("link valid for (days)"), default=14, validators=[MaxValueValidator(MAX_DAYS)]
    )
    editable_days = models.PositiveSmallIntegerField(
        _("answer can be changed for (days)"),
        default=7,
        validators=[MaxValueValidator(MAX_DAYS)],
        help_text=_("0: an answer is final."),
    )
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, default=Kind.CSAT)
    reasons = models.JSONField(_("reasons offered"), default=list, blank=True)
    asks_comment = models.BooleanField(_("ask for a comment"), default=True)
    channels = models.JSONField(_("send by"), default=default_channels, blank=True)
    template = models.ForeignKey(
        "notifications.NotificationTemplate",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("notification template"),
    )
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = [models.F("business_line_id").asc(nulls_first=True), "pk"]
        verbose_name = _("survey settings")
        verbose_name_plural = _("survey settings")
        constraints = [
            # NULLs are distinct in a unique index: the default row (no line) counts as line 0.
            models.UniqueConstraint(
                Coalesce("business_line", models.Value(0)), name="one_survey_settings_per_line"
            ),
        ]

    def __str__(self) -> str:
        return str(self.business_line) if self.business_line_id else str(_("Default"))

    @property
    def scale(self) -> tuple[int, int]:
        return SCALES[self.kind]


class Survey(models.Model):
    """The satisfaction survey of one ticket: one per ticket, one (editable) answer.

    States: ``scheduled`` (waiting for ``send_after``), ``sent`` (the link went out),
    ``answered``, ``cancelled`` (the ticket was reopened before sending). What the customer is
    asked (kind, reasons, comment, how long the link and the answer stay open) is copied from
    the line's settings when the survey is scheduled, so a later settings change never alters
    a question already asked. ``nonce`` is the random part the signed link is bound to.
    """

    class State(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        SENT = "sent", _("Sent")
        ANSWERED = "answered", _("Answered")
        CANCELLED = "cancelled", _("Cancelled")

    ticket = models.OneToOneField(
        "tickets.Ticket", on_delete=models.CASCADE, related_name="survey", verbose_name=_("ticket")
    )
    business_line = models.ForeignKey(
        BusinessLine, on_delete=models.PROTECT, related_name="+", verbose_name=_("business line")
    )
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.PROTECT,
        related_name="surveys",
        verbose_name=_("customer"),
    )
    state = models.CharField(
        _("state"), max_length=12, choices=State.choices, default=State.SCHEDULED
    )
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, default=Kind.CSAT)
    reasons_offered = models.JSONField(default=list, blank=True, editable=False)
    asks_comment = models.BooleanField(default=True, editable=False)
    link_valid_days = models.PositiveSmallIntegerField(default=14, editable=False)
    editable_days = models.PositiveSmallIntegerField(default=7, editable=False)
    language = models.CharField(max_length=10, blank=True, editable=False)
    nonce = models.CharField(max_length=32, editable=False)
    send_after = models.DateTimeField(_("send after"))
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(_("link expires"))
    rating = models.PositiveSmallIntegerField(_("rating"), null=True, blank=True)
    comment = models.TextField(_("comment"), blank=True)
    reasons = models.JSONField(_("reasons"), default=list, blank=True)
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True, editable=False)
    answer_updated_at = models.DateTimeField(null=True, blank=True, editable=False)
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("satisfaction survey")
        verbose_name_plural = _("satisfaction surveys")
        indexes = [
            # The sender's sweep: scheduled surveys by due time.
            models.Index(
                fields=["send_after"],
                condition=Q(state="scheduled"),
                name="survey_due_idx",
            ),
            # Reports: answers of a line over a period.
            models.Index(fields=["business_line", "answered_at"], name="survey_line_answer_idx"),
            models.Index(fields=["customer", "-created_at"], name="survey_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"survey of ticket {self.ticket_id}"

    @property
    def scale(self) -> tuple[int, int]:
        return SCALES[self.kind]

    @property
    def editable_until(self) -> datetime | None:
        """Until when the customer may change the answer (None before the first answer)."""
        if self.answered_at is None:
            return None
        return self.answered_at + timedelta(days=self.editable_days)
