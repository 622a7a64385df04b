"""Default notifications on ticket events, and the administrator's switch for each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aftersales.accounts.models import User
from aftersales.customers import services as customer_services
from aftersales.notifications import channel_settings
from aftersales.notifications.models import Delivery, Notification, Reaction
from aftersales.outbox import services as outbox
from aftersales.outbox.models import OutboxEvent
from aftersales.tickets import services as ticket_services
from aftersales.tickets.models import Ticket

pytestmark = pytest.mark.django_db


def deliver(topic: str) -> None:
    """Run the outbox deliveries of every event on ``topic``, as a worker would."""
    for event in OutboxEvent.objects.filter(topic=topic).order_by("created_at"):
        outbox.deliver_event(str(event.pk))


def _notifications() -> list[tuple[Any, Any, str]]:
    return list(
        Notification.objects.order_by("pk").values_list(
            "recipient_user_id", "recipient_customer_id", "event"
        )
    )


def test_new_ticket_tells_the_requester_by_email(
    desk: dict[str, Any], make_ticket: Callable[..., Ticket], templates: dict[str, Any]
) -> None:
    customer_services.add_identity(
        actor=desk["admin"], customer=desk["alice"], kind="email", value="alice@example.com"
    )
    ticket = make_ticket()
    deliver("ticket.created")
    [notification] = Notification.objects.all()
    assert (notification.recipient_customer_id, notification.event) == (
        desk["alice"].pk,
        "ticket_received",
    )
    assert list(notification.deliveries.values_list("channel", "address")) == [
        ("email", "alice@example.com")
    ]
    assert notification.ticket_id == ticket.pk


def test_requester_without_email_gets_nothing(
    desk: dict[str, Any], make_ticket: Callable[..., Ticket], templates: dict[str, Any]
) -> None:
    make_ticket()
    deliver("ticket.created")
    assert Notification.objects.count() == 0


def test_switched_off_reaction_sends_nothing(
    desk: dict[str, Any], make_ticket: Callable[..., Ticket], templates: dict[str, Any]
) -> None:
    customer_services.add_identity(
        actor=desk["admin"], customer=desk["alice"], kind="email", value="alice@example.com"
    )
    channel_settings.update_reaction(
        actor=desk["admin"],
        reaction=Reaction.objects.get(trigger="ticket_created"),
        changes={"is_enabled": False},
    )
    make_ticket()
    deliver("ticket.created")
    assert Notification.objects.count() == 0


def test_assignment_tells_the_assignee_but_not_someone_who_took_it(
    desk: dict[str, Any], make_ticket: Callable[..., Ticket], templates: dict[str, Any]
) -> None:
    insider: User = desk["insider"]
    make_ticket(assignee=insider)
    taken = make_ticket()
    ticket_services.take_ticket(actor=desk["colleague"], ticket=taken)
    deliver("ticket.assigned")
    assert _notifications() == [(insider.pk, None, "ticket_assigned")]


def test_public_reply_reaches_the_requester_and_notes_do_not(
    desk: dict[str, Any], make_ticket: Callable[..., Ticket], templates: dict[str, Any]
) -> None:
    customer_services.add_identity(
        actor=desk["admin"], customer=desk["alice"], kind="email", value="alice@example.com"
    )
    ticket = make_ticket()
    ticket_services.add_comment(
        actor=desk["insider"], ticket=ticket, body="Internal: check stock", is_public=False
    )
    ticket_services.add_comment(actor=desk["insider"], ticket=ticket, body="We replace the pump.")
    deliver("ticket.commented")
    [notification] = Notification.objects.filter(event="ticket_replied")
    assert notification.recipient_customer_id == desk["alice"].pk
    assert "We replace the pump." in notification.deliveries.get().body
    assert "check stock" not in notification.deliveries.get().body


def test_mention_tells_the_mentioned_colleague(
    desk: dict[str, Any], make_ticket: Callable[..., Ticket], templates: dict[str, Any]
) -> None:
    ticket = make_ticket()
    ticket_services.add_comment(
        actor=desk["insider"], ticket=ticket, body="@colleague please look", is_public=False
    )
    deliver("ticket.mentioned")
    [notification] = Notification.objects.filter(event="mentioned")
    assert notification.recipient_user_id == desk["colleague"].pk
    assert notification.subject == f"insider 在 {ticket.number} 中提到了您"
    assert notification.body == "@colleague please look"


def test_a_long_public_reply_reaches_the_customer_whole(
    desk: dict[str, Any], make_ticket: Callable[..., Ticket], templates: dict[str, Any]
) -> None:
    customer_services.add_identity(
        actor=desk["admin"], customer=desk["alice"], kind="email", value="alice@example.com"
    )
    ticket = make_ticket()
    steps = "\n".join(f"Step {n}: check the drain pump filter and hose." for n in range(1, 40))
    ticket_services.add_comment(actor=desk["insider"], ticket=ticket, body=steps, is_public=True)
    deliver("ticket.commented")
    [delivery] = Delivery.objects.filter(channel="email", notification__event="ticket_replied")
    assert len(steps) > 1000
    assert "Step 39: check the drain pump filter and hose." in delivery.body
