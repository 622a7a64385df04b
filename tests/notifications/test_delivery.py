"""Claims are exclusive, outcomes are fenced by the claimed attempt, dead workers are taken over."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from aftersales.accounts.models import User
from aftersales.notifications import channel_settings, delivery, services
from aftersales.notifications.models import Delivery, DeliveryAttempt, Notification
from aftersales.tickets.models import Ticket
from tests.notifications.conftest import SmtpHandler, header

pytestmark = pytest.mark.django_db


@pytest.fixture
def email_delivery(
    desk: dict[str, Any], make_ticket: Callable[..., Ticket], templates: dict[str, Any]
) -> Delivery:
    User.objects.filter(pk=desk["insider"].pk).update(email="insider@example.com")
    ticket = make_ticket(assignee=User.objects.get(pk=desk["insider"].pk))
    [notification] = services.notify_ticket(
        ticket=ticket, audiences=["assignee"], template=templates["ticket-assigned"]
    )
    assert isinstance(notification, Notification)
    return Delivery.objects.get(notification=notification, channel="email")


def test_a_claimed_delivery_cannot_be_claimed_again_while_its_lease_runs(
    email_delivery: Delivery,
) -> None:
    first = delivery.claim(email_delivery.pk)
    second = delivery.claim(email_delivery.pk)
    assert first is not None
    assert second is None
    email_delivery.refresh_from_db()
    assert (email_delivery.status, email_delivery.attempts) == ("running", 1)


def test_in_app_deliveries_are_never_claimed(email_delivery: Delivery) -> None:
    in_app = Delivery.objects.get(notification=email_delivery.notification, channel="in_app")
    assert delivery.claim(in_app.pk) is None
    in_app.refresh_from_db()
    assert (in_app.status, in_app.attempts) == ("sent", 0)


def test_a_worker_whose_lease_was_taken_over_cannot_mark_the_outcome(
    email_delivery: Delivery, smtp: SmtpHandler
) -> None:
    """The slow first worker finishes after a second one took over: its result is logged but
    the delivery stays the second worker's; only that one's outcome counts."""
    # given: worker 1 claims, its lease runs out, worker 2 claims
    stale = delivery.claim(email_delivery.pk)
    assert stale is not None
    with time_machine.travel(timezone.now() + timedelta(seconds=121)):
        fresh = delivery.claim(email_delivery.pk)
    assert fresh is not None
    # when: worker 1 finishes
    status = delivery.send(*stale)
    # then
    assert status == "running"
    email_delivery.refresh_from_db()
    assert (email_delivery.status, email_delivery.attempts) == ("running", 2)
    assert delivery.send(*fresh) == "sent"
    email_delivery.refresh_from_db()
    assert (email_delivery.status, email_delivery.attempts) == ("sent", 2)
    log = list(
        DeliveryAttempt.objects.filter(delivery=email_delivery)
        .order_by("number")
        .values_list("number", "outcome")
    )
    assert log == [(1, "sent"), (2, "sent")]
    assert len(smtp.messages) == 2
    assert header(smtp.messages[0], "Message-ID") == header(smtp.messages[1], "Message-ID")


def test_a_removed_robot_fails_at_once_without_retries(
    desk: dict[str, Any], make_ticket: Callable[..., Ticket], templates: dict[str, Any]
) -> None:
    robot = channel_settings.create_robot(
        actor=desk["admin"],
        name="Group",
        kind="wecom",
        webhook_url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc",
        team=desk["team_a"],
    )
    ticket = make_ticket()
    [notification] = services.notify_ticket(
        ticket=ticket, audiences=["team"], template=templates["sla-warning"], channels=["wecom"]
    )
    assert isinstance(notification, Notification)
    channel_settings.delete_robot(actor=desk["admin"], robot=robot)
    delivery.send_notification(notification.pk)
    row = Delivery.objects.get(notification=notification)
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.last_error == "ChannelError: The group robot was removed or deactivated."


def test_old_notifications_are_pruned_unless_still_being_delivered(
    email_delivery: Delivery, desk: dict[str, Any], templates: dict[str, Any]
) -> None:
    """After 180 days a finished notification goes with its log; one still pending stays."""
    finished = email_delivery.notification
    Delivery.objects.filter(pk=email_delivery.pk).update(status="sent")
    [pending] = services.notify_ticket(
        ticket=finished.ticket, audiences=["assignee"], template=templates["mentioned"]
    )
    with time_machine.travel(timezone.now() + timedelta(days=181)):
        [recent] = services.notify_ticket(
            ticket=finished.ticket, audiences=["assignee"], template=templates["sla-warning"]
        )
        assert delivery.prune_notifications() == 1
    remaining = set(Notification.objects.values_list("pk", flat=True))
    assert remaining == {pending.pk, recent.pk}
    assert Delivery.objects.filter(notification_id=finished.pk).exists() is False
