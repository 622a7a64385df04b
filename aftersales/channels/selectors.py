"""Reads of the e-mail channel, scoped to the viewer.

Mailboxes and received mail are configuration and raw customer data: only people holding
``channels.manage_mailboxes`` see them (others get 403). The full original of one mail that
became part of a ticket is readable by whoever may see that ticket.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

from aftersales.accounts import authz
from aftersales.channels.models import InboundMessage, Mailbox
from aftersales.channels.permissions import MANAGE_MAILBOXES
from aftersales.core.errors import NotFound
from aftersales.tickets import selectors as ticket_selectors

State = InboundMessage.State


def mailboxes_visible_to(user: Any) -> QuerySet[Mailbox]:
    authz.require_permission(user, MANAGE_MAILBOXES)
    return Mailbox.objects.select_related("business_line", "team", "ticket_type")


def messages_visible_to(user: Any) -> QuerySet[InboundMessage]:
    authz.require_permission(user, MANAGE_MAILBOXES)
    return InboundMessage.objects.select_related("mailbox", "ticket").defer("raw")


def quarantine_visible_to(user: Any) -> QuerySet[InboundMessage]:
    return messages_visible_to(user).filter(state=State.QUARANTINED)


def original_for(user: Any, pk: int) -> InboundMessage:
    """One received mail for its full-original view: mailbox managers see any; others only
    one that became part of a ticket they can see (raises NotFound otherwise)."""
    message = InboundMessage.objects.select_related("mailbox").filter(pk=pk).first()
    if message is None:
        raise NotFound("not_found")
    if authz.has_permission(user, MANAGE_MAILBOXES):
        return message
    if message.ticket_id is None:
        raise NotFound("not_found")
    visible = ticket_selectors.tickets_visible_to(user).filter(pk=message.ticket_id)
    if not visible.exists():
        raise NotFound("not_found")
    if ticket_selectors.is_contact(user) and message.state != State.TICKET_CREATED:
        # A customer sees mail that became a public message, not what became internal notes.
        comment = message.comment
        if comment is None or not comment.is_public:
            raise NotFound("not_found")
    return message


def status_counts(user: Any) -> dict[int, dict[str, int]]:
    """Per mailbox: received mail by state (all time) for the status panel."""
    rows = (
        messages_visible_to(user)
        .order_by()
        .values("mailbox_id")
        .annotate(
            total=Count("pk"),
            tickets=Count("pk", filter=Q(state=State.TICKET_CREATED)),
            replies=Count("pk", filter=Q(state=State.REPLY_ADDED)),
            ignored=Count("pk", filter=Q(state=State.IGNORED)),
            quarantined=Count("pk", filter=Q(state=State.QUARANTINED)),
            waiting=Count("pk", filter=Q(state=State.RECEIVED)),
        )
    )
    return {row.pop("mailbox_id"): row for row in rows}
