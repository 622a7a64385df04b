"""Embeddable web forms: a ticket type's customer form published on the company's own site.

A :class:`WebForm` names the ticket type (and so the business line) its submissions become,
the sites allowed to embed or post it, its rate limits per client address and what it tells the
visitor afterwards. :class:`RateWindow` counts posts per form, address and time window in the
database, so the limit holds across every web process.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from aftersales.accounts.models import Team
from aftersales.tickets.models import Ticket, TicketType

KEY_BYTES = 16


def new_key() -> str:
    """A public form key: random, URL-safe, unguessable (it names the form in URLs)."""
    return secrets.token_urlsafe(KEY_BYTES)


class WebForm(models.Model):
    """One embeddable form. Submissions become tickets of ``ticket_type`` (on its business
    line), for ``team`` when set, at ``default_priority``.

    Invariants: ``key`` is unique and never changes meaning; ``allowed_origins`` holds only
    ``scheme://host[:port]`` strings (checked by the services); ``version`` grows by one on
    every change, so a stale edit is refused.
    """

    name = models.CharField(_("name"), max_length=200)
    key = models.CharField(_("public key"), max_length=64, unique=True, default=new_key)
    ticket_type = models.ForeignKey(
        TicketType,
        on_delete=models.PROTECT,
        related_name="web_forms",
        verbose_name=_("ticket type"),
    )
    team = models.ForeignKey(
        Team,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="web_forms",
        verbose_name=_("team"),
    )
    default_priority = models.PositiveSmallIntegerField(
        _("priority"), choices=Ticket.Priority.choices, default=Ticket.Priority.NORMAL
    )
    allowed_origins = models.JSONField(_("allowed origins"), default=list, blank=True)
    per_minute_limit = models.PositiveIntegerField(_("posts per minute"), default=5)
    per_hour_limit = models.PositiveIntegerField(_("posts per hour"), default=30)
    has_honeypot = models.BooleanField(_("honeypot"), default=True)
    is_contact_required = models.BooleanField(_("contact details required"), default=True)
    success_message_zh = models.TextField(_("success message (Chinese)"), blank=True)
    success_message_en = models.TextField(_("success message (English)"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name", "pk")
        verbose_name = _("web form")
        verbose_name_plural = _("web forms")

    def __str__(self) -> str:
        return self.name

    @property
    def business_line_id(self) -> int:
        line_id: int = self.ticket_type.business_line_id
        return line_id

    def success_message(self, language: str) -> str:
        """The text shown after a submission, in ``language``, falling back to the other."""
        chinese = language.lower().startswith("zh")
        first, second = (
            (self.success_message_zh, self.success_message_en)
            if chinese
            else (self.success_message_en, self.success_message_zh)
        )
        return (first or "").strip() or (second or "").strip()

    def limits(self) -> list[tuple[int, int]]:
        """(period in seconds, posts allowed in it); a limit of 0 is off."""
        pairs: list[tuple[int, int]] = [(60, self.per_minute_limit), (3600, self.per_hour_limit)]
        return [(period, limit) for period, limit in pairs if limit > 0]

    def snapshot(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ticket_type": self.ticket_type_id,
            "team": self.team_id,
            "default_priority": self.default_priority,
            "allowed_origins": list(self.allowed_origins),
            "per_minute_limit": self.per_minute_limit,
            "per_hour_limit": self.per_hour_limit,
            "has_honeypot": self.has_honeypot,
            "is_contact_required": self.is_contact_required,
            "success_message_zh": self.success_message_zh,
            "success_message_en": self.success_message_en,
            "is_active": self.is_active,
        }


class RateWindow(models.Model):
    """How many posts one client address sent to one form in one fixed time window.

    Counted with one atomic upsert per window (see ``services.count_post``), so concurrent
    posts in several processes never lose a hit. Rows of past windows are swept periodically.
    """

    form = models.ForeignKey(WebForm, on_delete=models.CASCADE, related_name="+")
    address = models.CharField(max_length=64)
    period = models.PositiveIntegerField()
    slot = models.BigIntegerField()
    hits = models.PositiveIntegerField(default=0)
    ends_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["form", "address", "period", "slot"], name="webforms_rate_window_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.address} {self.hits}/{self.period}s"
