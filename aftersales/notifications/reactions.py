"""Default notifications on ticket events (outbox subscribers), each switchable by the admin.

ticket created → the requester hears it was received; a public agent reply → the requester
gets it; an assignment → the assignee; an @mention → the people mentioned. Each reads its
:class:`~aftersales.notifications.models.Reaction` row: off, or without an active template,
nothing is sent. The subscribers only write rows (the sending follows from
``notification.created``), so they run transactionally and take effect exactly once.
"""

from __future__ import annotations

from typing import Any

from aftersales.accounts.models import User
from aftersales.notifications import services
from aftersales.notifications.models import NotificationTemplate, Reaction
from aftersales.outbox.models import OutboxEvent
from aftersales.tickets.models import Comment, Ticket

Trigger = Reaction.Trigger
EXCERPT = 500


def _template(trigger: str) -> NotificationTemplate | None:
    reaction = (
        Reaction.objects.filter(trigger=trigger, is_enabled=True).select_related("template").first()
    )
    if reaction is None or reaction.template is None or not reaction.template.is_active:
        return None
    return reaction.template


def _ticket(event: OutboxEvent) -> Ticket | None:
    ticket_id = event.payload.get("ticket_id")
    if ticket_id is None:
        return None
    return (
        Ticket.objects.select_related("requester", "assignee", "team", "status", "ticket_type")
        .filter(pk=ticket_id)
        .first()
    )


def _actor(event: OutboxEvent) -> Any:
    return User.objects.filter(pk=event.actor_id).first() if event.actor_id else None


def _comment_text(event: OutboxEvent) -> str:
    comment = Comment.objects.filter(pk=event.payload.get("comment_id")).first()
    return "" if comment is None else comment.body_text.strip()


def _excerpt(event: OutboxEvent) -> str:
    text = _comment_text(event)
    return text if len(text) <= EXCERPT else text[:EXCERPT] + "…"


def _comment_extra(event: OutboxEvent) -> dict[str, str]:
    text = _comment_text(event)
    excerpt = text if len(text) <= EXCERPT else text[:EXCERPT] + "…"
    return {"comment.excerpt": excerpt, "comment.text": text}


def on_ticket_created(event: OutboxEvent) -> None:
    template, ticket = _template(Trigger.TICKET_CREATED), _ticket(event)
    if template is None or ticket is None:
        return
    services.notify_ticket(
        ticket=ticket,
        audiences=["requester"],
        template=template,
        actor=_actor(event),
        channels=["email"],
        reason="ticket.created",
    )


def on_ticket_commented(event: OutboxEvent) -> None:
    """Only public replies written by staff reach the requester; notes and the customer's own
    messages do not."""
    if not event.payload.get("is_public") or event.payload.get("from_customer"):
        return
    template, ticket = _template(Trigger.PUBLIC_REPLY), _ticket(event)
    if template is None or ticket is None:
        return
    services.notify_ticket(
        ticket=ticket,
        audiences=["requester"],
        template=template,
        actor=_actor(event),
        channels=["email"],
        reason="ticket.commented",
        extra=_comment_extra(event),
    )


def on_ticket_assigned(event: OutboxEvent) -> None:
    template, ticket = _template(Trigger.ASSIGNED), _ticket(event)
    if template is None or ticket is None or ticket.assignee_id is None:
        return
    # The event may be old: tell whoever holds the ticket now, once.
    if ticket.assignee_id != event.payload.get("assignee_id"):
        return
    services.notify_ticket(
        ticket=ticket,
        audiences=["assignee"],
        template=template,
        actor=_actor(event),
        reason="ticket.assigned",
    )


def on_ticket_mentioned(event: OutboxEvent) -> None:
    template, ticket = _template(Trigger.MENTIONED), _ticket(event)
    user_ids = [int(pk) for pk in event.payload.get("user_ids", [])]
    if template is None or ticket is None or not user_ids:
        return
    services.notify_users(
        users=User.objects.filter(pk__in=user_ids).order_by("pk"),
        template=template,
        context_object=ticket,
        actor=_actor(event),
        reason="ticket.mentioned",
        extra={"comment.excerpt": _excerpt(event)},
    )
