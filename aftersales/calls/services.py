"""Logging phone calls, on a ticket or as the start of a new one.

A call on a ticket is also written into its conversation as an internal note, so the ticket
reads as one history; a telephony system that posts the same call twice (its ``external_id``)
gets the first row back. Staff need the right to write internal notes on the ticket (or, for a
call that opens a ticket, to create tickets); the customer must be within their scope.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from aftersales.accounts import authz
from aftersales.audit import services as audit
from aftersales.audit.models import AuditEntry
from aftersales.calls.models import Call
from aftersales.core.errors import DomainError, NotFound
from aftersales.customers import identities
from aftersales.customers import selectors as customer_selectors
from aftersales.customers import services as customer_services
from aftersales.customers.models import Customer, CustomerIdentity
from aftersales.outbox import services as outbox
from aftersales.tickets.models import Ticket, TicketType
from aftersales.tickets.permissions import ADD_NOTE, ADD_TICKET
from aftersales.tickets.services import conversation
from aftersales.tickets.services import tickets as ticket_services

MAX_DURATION_SECONDS = 24 * 3600


def click_to_call_url(phone: str) -> str:
    """The PBX's click-to-call link for ``phone`` (setting ``AFTERSALES_CLICK_TO_CALL_URL``,
    with ``{phone}``), or a ``tel:`` link when no PBX is configured."""
    template = getattr(settings, "AFTERSALES_CLICK_TO_CALL_URL", None) or os.environ.get(
        "AFTERSALES_CLICK_TO_CALL_URL", ""
    )
    if template and "{phone}" in template:
        return template.replace("{phone}", quote(phone, safe="+"))
    return f"tel:{phone}"


def _phone(value: Any) -> str:
    text = str(value or "").strip()
    if not text:
        raise DomainError(
            "required", field="phone", message=gettext_lazy("Enter the phone number.")
        )
    try:
        return identities.normalise(CustomerIdentity.Kind.PHONE, text)
    except DomainError:
        raise DomainError(
            "invalid_phone", field="phone", message=gettext_lazy("Enter a valid phone number.")
        ) from None


def _choice(value: Any, choices: Any, field: str) -> str:
    if value not in choices.values:
        raise DomainError("invalid_choice", field=field, message=gettext_lazy("Choose one."))
    return str(value)


def _duration(value: Any) -> int:
    try:
        seconds = int(value or 0)
    except (TypeError, ValueError):
        seconds = -1
    if not 0 <= seconds <= MAX_DURATION_SECONDS:
        raise DomainError(
            "invalid_duration",
            field="duration_seconds",
            message=gettext_lazy("Enter a duration between 0 and 24 hours."),
        )
    return seconds


def _recording(value: Any) -> str:
    url = str(value or "").strip()
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 1000:
        raise DomainError(
            "invalid_url",
            field="recording_url",
            message=gettext_lazy("Enter an http(s) link to the recording."),
        )
    return url


def _started(value: Any) -> datetime:
    if value is None or value == "":
        return timezone.now()
    if not isinstance(value, datetime):
        raise DomainError(
            "invalid", field="started_at", message=gettext_lazy("Enter a date and time.")
        )
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    if value > timezone.now() + timedelta(minutes=5):
        raise DomainError(
            "in_future",
            field="started_at",
            message=gettext_lazy("A logged call cannot start in the future."),
        )
    return value


def _duration_text(seconds: int) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{minutes}:{rest:02d}"


def _note_text(call: Call) -> str:
    lines = [
        _("%(direction)s call with %(phone)s — %(outcome)s, %(duration)s")
        % {
            "direction": call.get_direction_display(),
            "phone": call.phone,
            "outcome": call.get_outcome_display(),
            "duration": _duration_text(call.duration_seconds),
        }
    ]
    if call.notes:
        lines += ["", call.notes]
    if call.recording_url:
        lines += ["", _("Recording: %(url)s") % {"url": call.recording_url}]
    return "\n".join(lines)


@dataclass(frozen=True)
class CallDetails:
    direction: str
    phone: str
    outcome: str = Call.Outcome.ANSWERED
    duration_seconds: Any = 0
    notes: str = ""
    recording_url: str = ""
    started_at: Any = None
    external_id: str | None = None

    def cleaned(self) -> dict[str, Any]:
        external = (self.external_id or "").strip()[:120] or None
        return {
            "direction": _choice(self.direction, Call.Direction, "direction"),
            "outcome": _choice(self.outcome, Call.Outcome, "outcome"),
            "phone": _phone(self.phone),
            "duration_seconds": _duration(self.duration_seconds),
            "notes": str(self.notes or "").strip()[:20000],
            "recording_url": _recording(self.recording_url),
            "started_at": _started(self.started_at),
            "external_id": external,
        }


def _already_logged(external_id: str | None) -> Call | None:
    if external_id is None:
        return None
    return Call.objects.filter(external_id=external_id).first()


@transaction.atomic
def log_call(
    *,
    actor: Any,
    details: CallDetails,
    ticket: Ticket | None = None,
    customer: Customer | None = None,
) -> Call:
    """Record a call on ``ticket`` (its requester is the customer) or with ``customer``."""
    values = details.cleaned()
    existing = _already_logged(values["external_id"])
    if existing is not None:
        return existing
    if ticket is not None:
        authz.require_permission(actor, ADD_NOTE, ticket)
        customer = ticket.requester
    elif customer is not None:
        authz.require_permission(actor, ADD_NOTE)
        if not customer_selectors.customers_visible_to(actor).filter(pk=customer.pk).exists():
            raise NotFound("not_found", field="customer")
    else:
        raise DomainError(
            "required", field="customer", message=gettext_lazy("Choose the customer or ticket.")
        )
    agent = actor if getattr(actor, "is_authenticated", False) else None
    call = Call(ticket=ticket, customer=customer, agent=agent, **values)
    try:
        with transaction.atomic():
            call.save(force_insert=True)
    except IntegrityError:
        # The same external call posted twice at once: the first one stands.
        winner = _already_logged(values["external_id"])
        if winner is None:
            raise
        return winner
    if ticket is not None:
        call.note = conversation.add_comment(
            actor=actor,
            ticket=ticket,
            body=_note_text(call),
            is_public=False,
            channel=Ticket.Channel.PHONE,
        )
        call.save(update_fields=["note"])
    audit.record(
        actor=actor,
        action=AuditEntry.Action.CREATED,
        obj=call,
        after={k: str(v) for k, v in values.items() if v not in (None, "")},
    )
    outbox.emit(
        "call.logged",
        call,
        actor=actor,
        payload={
            "call_id": call.pk,
            "ticket_id": ticket.pk if ticket is not None else None,
            "customer_id": customer.pk,
            "direction": call.direction,
            "outcome": call.outcome,
        },
    )
    return call


def _own_team(actor: Any, ticket_type: TicketType) -> Any:
    """The agent's own team in the type's line: the call came to them, so does the ticket."""
    teams = getattr(actor, "teams", None)
    if teams is None:
        return None
    return (
        teams.filter(business_line_id=ticket_type.business_line_id, is_active=True)
        .order_by("pk")
        .first()
    )


@transaction.atomic
def open_ticket_from_call(
    *,
    actor: Any,
    details: CallDetails,
    ticket_type: TicketType,
    subject: Any,
    customer: Customer | None = None,
    caller_name: str = "",
) -> Call:
    """A call that starts a request: the caller is found by their number (or ``customer``),
    or recorded as a new customer of the type's line; the ticket's channel is phone."""
    values = details.cleaned()
    existing = _already_logged(values["external_id"])
    if existing is not None:
        return existing
    authz.require_permission(actor, ADD_TICKET)
    if customer is None:
        customer = customer_services.customer_for_channel(
            kind=CustomerIdentity.Kind.PHONE,
            value=values["phone"],
            name=caller_name,
            business_line=ticket_type.business_line,
            channel=Ticket.Channel.PHONE,
        )
    ticket = ticket_services.create_ticket(
        actor=actor,
        ticket_type=ticket_type,
        requester=customer,
        subject=subject,
        description=values["notes"],
        channel=Ticket.Channel.PHONE,
        team=_own_team(actor, ticket_type),
    )
    return log_call(actor=actor, details=details, ticket=ticket)
