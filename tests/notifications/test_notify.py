"""notify_ticket / notify_users: recipients, languages, channels, dry runs, e-mail delivery."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from aftersales.accounts.models import User
from aftersales.core.errors import DomainError
from aftersales.customers import services as customer_services
from aftersales.notifications import delivery, services
from aftersales.notifications.models import (
    Delivery,
    DeliveryAttempt,
    Notification,
    NotificationTemplate,
)
from aftersales.outbox import services as outbox
from aftersales.outbox.models import OutboxEvent
from aftersales.tickets.models import Ticket
from tests.notifications.conftest import SmtpHandler, header

pytestmark = pytest.mark.django_db


def _requester_with_email(desk: dict[str, Any], address: str = "alice@example.com") -> None:
    customer_services.add_identity(
        actor=desk["admin"], customer=desk["alice"], kind="email", value=address
    )


def test_assignee_gets_in_app_and_email_in_their_language(
    desk: dict[str, Any], make_ticket: Callable[..., Ticket], templates: dict[str, Any]
) -> None:
    """The assignment template reaches the assignee under the bell and by e-mail, in English
    for an English speaker; nothing is sent before the commit."""
    # given
    insider: User = desk["insider"]
    User.objects.filter(pk=insider.pk).update(language="en", email="insider@example.com")
    insider.refresh_from_db()
    ticket = make_ticket(assignee=insider)
    # when
    notifications = services.notify_ticket(
        ticket=ticket,
        audiences=["assignee"],
        template=templates["ticket-assigned"],
        actor=desk["admin"],
    )
    # then
    assert len(notifications) == 1
    notification = notifications[0]
    assert isinstance(notification, Notification)
    assert (notification.recipient_user_id, notification.language, notification.is_in_app) == (
        insider.pk,
        "en",
        True,
    )
    assert notification.subject == f"Ticket {ticket.number} assigned to you"
    rows = list(
        Delivery.objects.filter(notification=notification)
        .order_by("channel")
        .values_list("channel", "address", "status", "subject")
    )
    assert rows == [
        ("email", "insider@example.com", "pending", f"[{ticket.number}] Assigned to you: "
         "Washing machine does not drain"),
        ("in_app", "", "sent", f"Ticket {ticket.number} assigned to you"),
    ]  # fmt: skip
    event = OutboxEvent.objects.get(topic="notification.created")
    assert event.payload["notification_id"] == notification.pk
    assert event.payload["channels"] == ["in_app", "email"]


def test_chinese_speaker_gets_chinese_text(
    desk: dict[str, Any], make_ticket: Callable[..., Ticket], templates: dict[str, Any]
) -> None:
    """Without a language of their own, staff read the site's language (Simplified Chinese)."""
    ticket = make_ticket(assignee=desk["insider"])
    [notification] = services.notify_ticket(
        ticket=ticket, audiences=["assignee"], template=templates["ticket-assigned"]
    )
    assert isinstance(notification, Notification)
    assert notification.language == "zh-hans"
    assert notification.subject == f"工单 {ticket.number} 已分配给您"


def test_dry_run_writes_nothing_and_shows_what_would_be_sent(
    desk: dict[str, Any], make_ticket: Callable[..., Ticket], templates: dict[str, Any]
) -> None:
    """The rule engine's "test on a ticket": the rendered messages, and no rows, no event."""
    # given
    _requester_with_email(desk)
    ticket = make_ticket()
    before = (Notification.objects.count(), Delivery.objects.count(), OutboxEvent.objects.count())
    # when
    planned = services.notify_ticket(
        ticket=ticket,
        audiences=["requester"],
        template=templates["status-changed"],
        dry_run=True,
    )
    # then
    assert [(p.recipient, p.channel, p.address, p.language) for p in planned] == [
        ("Alice", "email", "alice@example.com", "zh-hans")
    ]
    assert planned[0].subject == f"[{ticket.number}] 工单状态：新建"
    assert (
        Notification.objects.count(),
        Delivery.objects.count(),
        OutboxEvent.objects.count(),
    ) == before


def test_actor_and_inactive_people_are_left_out_and_nobody_twice(
    desk: dict[str, Any],
    make_ticket: Callable[..., Ticket],
    make_template: Callable[..., NotificationTemplate],
) -> None:
    """Team + assignee + followers name the same people: each gets one notification; the
    person who acted gets none."""
    ticket = make_ticket(assignee=desk["insider"], followers=[desk["colleague"]])
    template = make_template()
    notifications = services.notify_ticket(
        ticket=ticket,
        audiences=["assignee", "team", "followers"],
        template=template,
        actor=desk["colleague"],
    )
    assert [n.recipient_user_id for n in notifications] == [desk["insider"].pk]


def test_staff_template_is_refused_for_the_requester(
    desk: dict[str, Any],
    make_ticket: Callable[..., Ticket],
    make_template: Callable[..., NotificationTemplate],
) -> None:
    _requester_with_email(desk)
    ticket = make_ticket()
    with pytest.raises(DomainError) as refused:
        services.notify_ticket(ticket=ticket, audiences=["requester"], template=make_template())
    assert (refused.value.code, refused.value.field) == ("template_not_for_customers", "template")
    assert Notification.objects.count() == 0


def test_unknown_audience_is_refused(
    desk: dict[str, Any], make_ticket: Callable[..., Ticket], templates: dict[str, Any]
) -> None:
    ticket = make_ticket()
    with pytest.raises(DomainError) as refused:
        services.notify_ticket(
            ticket=ticket, audiences=["everyone"], template=templates["ticket-assigned"]
        )
    assert (refused.value.code, refused.value.field) == ("unknown_audience", "audiences")


def test_customer_text_is_never_compiled_as_a_template(
    desk: dict[str, Any], make_ticket: Callable[..., Ticket], templates: dict[str, Any]
) -> None:
    """A subject written like a placeholder or template tag stays text."""
    User.objects.filter(pk=desk["insider"].pk).update(language="en")
    ticket = make_ticket(
        assignee=desk["insider"], subject="{{ agent.email }} {% debug %} {{ settings.SECRET_KEY }}"
    )
    [notification] = services.notify_ticket(
        ticket=ticket, audiences=["assignee"], template=templates["ticket-assigned"]
    )
    assert isinstance(notification, Notification)
    assert "{{ agent.email }} {% debug %} {{ settings.SECRET_KEY }}" in notification.body


def test_email_reaches_the_smtp_server_after_commit(
    desk: dict[str, Any],
    make_ticket: Callable[..., Ticket],
    templates: dict[str, Any],
    smtp: SmtpHandler,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """The requester's e-mail goes out through the outbox once the transaction commits."""
    # given
    _requester_with_email(desk)
    ticket = make_ticket()
    # when
    with django_capture_on_commit_callbacks(execute=True):
        [notification] = services.notify_ticket(
            ticket=ticket, audiences=["requester"], template=templates["ticket-received"]
        )
    event = OutboxEvent.objects.get(topic="notification.created")
    outbox.deliver_event(str(event.pk))
    # then
    assert len(smtp.messages) == 1
    message = smtp.messages[0]
    assert message["X-Envelope-To"] == "alice@example.com"
    assert message["To"] == "alice@example.com"
    assert header(message, "Subject") == (
        f"[{ticket.number}] 我们已收到您的请求：Washing machine does not drain"
    )
    assert "Alice，您好" in message.get_content()
    row = Delivery.objects.get(notification=notification, channel="email")
    assert (row.status, row.attempts, row.message_id) == ("sent", 1, header(message, "Message-ID"))
    assert list(DeliveryAttempt.objects.filter(delivery=row).values_list("outcome", flat=True)) == [
        "sent"
    ]


def test_refused_email_is_retried_with_backoff_and_the_same_message_id(
    desk: dict[str, Any],
    make_ticket: Callable[..., Ticket],
    templates: dict[str, Any],
    smtp: SmtpHandler,
) -> None:
    """A 451 leaves the delivery pending for 30 s; the retry sends the same Message-ID, and the
    log shows both attempts."""
    # given
    User.objects.filter(pk=desk["insider"].pk).update(email="insider@example.com")
    ticket = make_ticket(assignee=User.objects.get(pk=desk["insider"].pk))
    [notification] = services.notify_ticket(
        ticket=ticket, audiences=["assignee"], template=templates["ticket-assigned"]
    )
    smtp.refuse_data = 1
    # when
    delivery.send_notification(notification.pk)
    row = Delivery.objects.get(notification=notification, channel="email")
    early = delivery.send_due()
    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        late = delivery.send_due()
    # then
    assert (early, late) == (0, 1)
    assert len(smtp.refused) == 1
    assert len(smtp.messages) == 1
    assert header(smtp.refused[0], "Message-ID") == row.message_id
    assert header(smtp.messages[0], "Message-ID") == row.message_id
    assert smtp.messages[0].get_content() == smtp.refused[0].get_content()
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, "")
    log = list(
        DeliveryAttempt.objects.filter(delivery=row)
        .order_by("number")
        .values_list("number", "outcome", "response_code")
    )
    assert log[0][:2] == (1, "failed")
    assert log[1] == (2, "sent", 250)
    assert "451" in DeliveryAttempt.objects.get(delivery=row, number=1).detail


def test_email_gives_up_after_the_last_attempt(
    desk: dict[str, Any],
    make_ticket: Callable[..., Ticket],
    templates: dict[str, Any],
    smtp: SmtpHandler,
    settings: Any,
) -> None:
    settings.NOTIFICATIONS_MAX_ATTEMPTS = 2
    User.objects.filter(pk=desk["insider"].pk).update(email="insider@example.com")
    ticket = make_ticket(assignee=User.objects.get(pk=desk["insider"].pk))
    [notification] = services.notify_ticket(
        ticket=ticket, audiences=["assignee"], template=templates["ticket-assigned"]
    )
    smtp.refuse_data = 5
    delivery.send_notification(notification.pk)
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        delivery.send_due()
    with time_machine.travel(timezone.now() + timedelta(hours=5)):
        assert delivery.send_due() == 0
    row = Delivery.objects.get(notification=notification, channel="email")
    assert (row.status, row.attempts, len(smtp.refused), len(smtp.messages)) == (
        "failed",
        2,
        2,
        0,
    )


def test_check_notify_refuses_what_a_run_would_refuse(
    templates: dict[str, Any], make_template: Callable[..., NotificationTemplate]
) -> None:
    """The rule engine checks an action when it is saved, not when it first fires."""
    services.check_notify(audiences=["requester"], template=templates["status-changed"])
    services.check_notify(audiences=["assignee", "user:7"], template=make_template())
    cases = [
        (["requester"], templates["ticket-assigned"], "template_not_for_customers"),
        (["everyone"], templates["ticket-assigned"], "unknown_audience"),
    ]
    for audiences, template, code in cases:
        with pytest.raises(DomainError) as refused:
            services.check_notify(audiences=audiences, template=template)
        assert refused.value.code == code


def test_writing_costs_a_fixed_number_of_queries_plus_four_per_recipient(
    desk: dict[str, Any],
    make_ticket: Callable[..., Ticket],
    templates: dict[str, Any],
    django_assert_num_queries: Any,
) -> None:
    """Team (2 people): members, robots, preferences, one insert each for notifications and
    deliveries, the transaction; then the outbox event of each notification."""
    ticket = make_ticket()
    with django_assert_num_queries(7 + 4 * 2):
        notifications = services.notify_ticket(
            ticket=ticket, audiences=["team"], template=templates["sla-warning"]
        )
    assert len(notifications) == 2


def test_an_audience_named_twice_is_told_once(
    desk: dict[str, Any], make_ticket: Callable[..., Ticket], templates: dict[str, Any]
) -> None:
    _requester_with_email(desk)
    ticket = make_ticket()
    planned = services.notify_ticket(
        ticket=ticket,
        audiences=["requester", "requester"],
        template=templates["ticket-received"],
        dry_run=True,
    )
    assert [(p.recipient, p.channel) for p in planned] == [("Alice", "email")]
