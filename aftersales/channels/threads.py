"""Which ticket a mail belongs to, and the headers that keep a ticket's mail in one thread.

A reply is matched by the Message-IDs it answers (``In-Reply-To``, then ``References``, both
ours and the customer's), and failing that by the signed ticket token in its subject, e.g.
``[#REP-202611-0001·a1b2c3]``: an HMAC of the ticket number under the site's secret key, so a
stranger cannot forge one for someone else's ticket. Either way the sender must also be a
participant of the ticket (see :func:`is_participant`), or the mail opens a new ticket.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from dataclasses import dataclass, field
from email.utils import formataddr, parseaddr
from typing import Any

from django.conf import settings

from aftersales.channels.models import InboundMessage, Mailbox, OutboundMessage, Participant
from aftersales.customers.models import CustomerIdentity
from aftersales.tickets.models import Ticket

TOKEN_LENGTH = 6
_TOKEN = re.compile(r"\[#([A-Za-z0-9][A-Za-z0-9\-]{2,40})[·:]([0-9a-f]{6})\]")
MAX_REFERENCES = 20


def ticket_token(number: str) -> str:
    """The signature of a ticket number, as shown in subjects."""
    key = settings.SECRET_KEY.encode()
    digest = hmac.new(key, f"aftersales.channels.ticket:{number}".encode(), hashlib.sha256)
    return digest.hexdigest()[:TOKEN_LENGTH]


def subject_tag(ticket: Ticket) -> str:
    return f"[#{ticket.number}·{ticket_token(ticket.number)}]"


def tagged_subject(subject: str, ticket: Ticket) -> str:
    """The subject with the ticket's token, added once."""
    tag = subject_tag(ticket)
    subject = subject.replace("\n", " ").strip()
    return subject if tag in subject else f"{subject} {tag}".strip()


def ticket_by_token(subject: str) -> Ticket | None:
    """The ticket a subject's token names, when its signature is right."""
    for number, token in _TOKEN.findall(subject):
        if hmac.compare_digest(token, ticket_token(number)):
            ticket = Ticket.objects.filter(number=number).first()
            if ticket is not None:
                return ticket
    return None


def ticket_by_ids(thread_ids: list[str]) -> Ticket | None:
    """The ticket of the most recent known Message-ID among ``thread_ids``."""
    if not thread_ids:
        return None
    known: dict[str, int] = dict(
        InboundMessage.objects.filter(message_id__in=thread_ids, ticket__isnull=False).values_list(
            "message_id", "ticket_id"
        )
    )
    known.update(
        OutboundMessage.objects.filter(message_id__in=thread_ids).values_list(
            "message_id", "ticket_id"
        )
    )
    for message_id in thread_ids:
        if message_id in known:
            return Ticket.objects.filter(pk=known[message_id]).first()
    return None


def is_participant(ticket: Ticket, address: str) -> bool:
    """Whether ``address`` may reply on the ticket: an e-mail identity of its requester, or an
    address copied on its mail."""
    address = address.lower()
    if CustomerIdentity.objects.filter(
        customer_id=ticket.requester_id,
        kind=CustomerIdentity.Kind.EMAIL,
        value=address,
        is_active=True,
    ).exists():
        return True
    return Participant.objects.filter(ticket=ticket, address=address).exists()


# --- Outgoing ---------------------------------------------------------------------------------


def mailbox_of(ticket: Ticket) -> Mailbox | None:
    """The mailbox a ticket's mail goes out from: the one its first mail came to, else the
    first active mailbox of its business line."""
    first = (
        InboundMessage.objects.filter(ticket=ticket)
        .order_by("received_at", "pk")
        .select_related("mailbox")
        .first()
    )
    if first is not None and first.mailbox.is_active:
        return first.mailbox
    return (
        Mailbox.objects.filter(business_line_id=ticket.business_line_id, is_active=True)
        .order_by("pk")
        .first()
    )


def thread_of(ticket: Ticket) -> list[str]:
    """The Message-IDs of the ticket's mail so far, oldest first (at most the first and the
    last few, as mail clients do)."""
    received = InboundMessage.objects.filter(ticket=ticket).values_list("message_id", "received_at")
    sent = OutboundMessage.objects.filter(ticket=ticket).values_list("message_id", "created_at")
    ordered = [m for m, _at in sorted([*received, *sent], key=lambda pair: pair[1])]
    if len(ordered) > MAX_REFERENCES:
        ordered = [ordered[0], *ordered[-(MAX_REFERENCES - 1) :]]
    return ordered


def new_message_id(mailbox: Mailbox | None) -> str:
    domain = (mailbox.address if mailbox else parseaddr(settings.DEFAULT_FROM_EMAIL)[1]).rpartition(
        "@"
    )[2]
    return f"<{uuid.uuid4().hex}@{domain or 'localhost'}>"


@dataclass
class Envelope:
    """How one mail about a ticket goes out: sender, subject and threading headers."""

    from_email: str
    subject: str
    headers: dict[str, str] = field(default_factory=dict)
    mailbox: Mailbox | None = None
    blocked: str = ""  # why it must not be sent (loop protection), "" when it may
    connection: Any = None  # the SMTP connection to send it through (None: the site's)


def from_of(mailbox: Mailbox | None) -> str:
    if mailbox is None:
        return str(settings.DEFAULT_FROM_EMAIL)
    return (
        formataddr((mailbox.display_name, mailbox.address))
        if mailbox.display_name
        else (mailbox.address)
    )


def envelope_for(
    *, ticket: Ticket | None, subject: str, message_id: str, is_automatic: bool, to: str
) -> Envelope:
    """The sender (the ticket's mailbox), the subject with the signed token, and
    ``In-Reply-To``/``References`` naming the ticket's earlier mail; the Message-ID is recorded
    so the answer to this mail finds the ticket."""
    subject = subject.replace("\n", " ").strip()
    headers = {"Message-ID": message_id}
    if is_automatic:
        headers["Auto-Submitted"] = "auto-generated"
    mailbox = mailbox_of(ticket) if ticket is not None else None
    if ticket is None or mailbox is None:
        # No mailbox takes the answers in: nothing to thread, the site's sender as before.
        return Envelope(from_email=from_of(None), subject=subject, headers=headers)
    thread = [m for m in thread_of(ticket) if m != message_id]
    if thread:
        headers["In-Reply-To"] = thread[-1]
        headers["References"] = " ".join(thread)
    headers["Reply-To"] = mailbox.address
    OutboundMessage.objects.get_or_create(
        message_id=message_id,
        defaults={
            "ticket": ticket,
            "mailbox": mailbox,
            "address": to[:254],
            "is_automatic": is_automatic,
        },
    )
    return Envelope(
        from_email=from_of(mailbox),
        subject=tagged_subject(subject, ticket),
        headers=headers,
        mailbox=mailbox,
    )
