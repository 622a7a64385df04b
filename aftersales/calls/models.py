"""A phone call with a customer, as the agent or the telephony system logged it."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Call(models.Model):
    """One call. On a ticket it also appears in the conversation as an internal note (``note``),
    so the ticket's history reads in one place. ``external_id`` is the telephony system's call
    id: the same call posted twice is one row."""

    class Direction(models.TextChoices):
        INBOUND = "inbound", _("Inbound")
        OUTBOUND = "outbound", _("Outbound")

    class Outcome(models.TextChoices):
        ANSWERED = "answered", _("Answered")
        MISSED = "missed", _("Missed")
        VOICEMAIL = "voicemail", _("Voicemail")
        BUSY = "busy", _("Busy / no answer")

    ticket = models.ForeignKey(
        "tickets.Ticket", null=True, blank=True, on_delete=models.CASCADE, related_name="calls"
    )
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="calls"
    )
    direction = models.CharField(_("direction"), max_length=8, choices=Direction.choices)
    outcome = models.CharField(
        _("outcome"), max_length=10, choices=Outcome.choices, default=Outcome.ANSWERED
    )
    phone = models.CharField(_("phone number"), max_length=32)
    started_at = models.DateTimeField(_("started"))
    duration_seconds = models.PositiveIntegerField(_("duration (seconds)"), default=0)
    notes = models.TextField(_("notes"), blank=True)
    recording_url = models.URLField(_("recording link"), max_length=1000, blank=True)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("agent"),
    )
    note = models.ForeignKey(
        "tickets.Comment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    external_id = models.CharField(max_length=120, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        verbose_name = _("phone call")
        verbose_name_plural = _("phone calls")
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"],
                condition=Q(external_id__isnull=False),
                name="call_external_id_once",
            )
        ]
        indexes = [
            models.Index(fields=["ticket", "-started_at"], name="call_ticket_idx"),
            models.Index(fields=["customer", "-started_at"], name="call_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.phone} @ {self.started_at:%Y-%m-%d %H:%M}"
