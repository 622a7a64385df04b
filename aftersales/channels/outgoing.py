"""How the desk's mail goes out: from the ticket's mailbox, threaded, and never into a loop.

:func:`envelope_for_delivery` is what the notification sender asks before sending an e-mail.
Automatic mail (everything except an agent's reply relayed to the customer) carries
``Auto-Submitted: auto-generated`` and is held back (:attr:`Envelope.blocked`) when it would
feed a loop: to one of our own mailboxes, to a sender whose recent mail was an auto-reply,
bounce, list post or over the hourly limit, or past the hourly limit of automatic mail to one
address.
"""

from __future__ import annotations

from django.core.mail import get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone

from aftersales.channels import threads
from aftersales.channels.intake import RATE_WINDOW
from aftersales.channels.models import InboundMessage, Mailbox, OutboundMessage
from aftersales.notifications.models import Delivery

DEFAULT_AUTO_LIMIT = 10


def connection_for(mailbox: Mailbox | None, *, timeout: int = 15) -> BaseEmailBackend:
    """The mailbox's own SMTP server when it has one, else the site's."""
    if mailbox is None or not mailbox.smtp_host:
        return get_connection()
    return get_connection(
        "django.core.mail.backends.smtp.EmailBackend",
        host=mailbox.smtp_host,
        port=mailbox.smtp_port,
        username=mailbox.smtp_user or None,
        password=mailbox.smtp_password or None,
        use_tls=mailbox.smtp_security == Mailbox.Security.STARTTLS,
        use_ssl=mailbox.smtp_security == Mailbox.Security.TLS,
        timeout=timeout,
        fail_silently=False,
    )


def is_automatic(delivery: Delivery) -> bool:
    """Everything but a person's public reply passed on to the customer is automatic."""
    notification = delivery.notification
    return not (notification.reason == "ticket.commented" and notification.actor_id is not None)


def blocked_reason(address: str, *, is_automatic: bool, mailbox: Mailbox | None) -> str:
    """Why this mail must not go to ``address`` ("" when it may)."""
    address = address.strip().lower()
    if Mailbox.objects.filter(address__iexact=address).exists():
        return "own_address"
    if not is_automatic:
        return ""
    since = timezone.now() - RATE_WINDOW
    if InboundMessage.objects.filter(
        from_address=address, received_at__gte=since, is_auto_answer_allowed=False
    ).exists():
        return "loop_protection"
    limit = mailbox.auto_answer_limit if mailbox is not None else DEFAULT_AUTO_LIMIT
    sent = OutboundMessage.objects.filter(
        address=address, is_automatic=True, created_at__gte=since
    ).count()
    return "rate_limited" if sent >= limit else ""


def envelope_for_delivery(delivery: Delivery) -> threads.Envelope:
    """Sender, subject, headers and SMTP connection of a notification e-mail. Mail to a
    customer about a ticket goes out from the ticket's mailbox with its signed token and
    threading headers; mail to staff from the site's address."""
    notification = delivery.notification
    ticket = notification.ticket if notification.recipient_customer_id is not None else None
    automatic = is_automatic(delivery)
    mailbox = threads.mailbox_of(ticket) if ticket is not None else None
    reason = blocked_reason(delivery.address, is_automatic=automatic, mailbox=mailbox)
    if reason:
        return threads.Envelope(from_email="", subject=delivery.subject, blocked=reason)
    envelope = threads.envelope_for(
        ticket=ticket,
        subject=delivery.subject,
        message_id=delivery.message_id,
        is_automatic=automatic,
        to=delivery.address.lower(),
    )
    envelope.connection = connection_for(envelope.mailbox)
    return envelope
