"""Real worker processes sending notifications: a worker killed mid-send.

These start ``python -m aftersales worker`` subprocesses sharing this test's database and a
real SMTP server in this process, so they commit for real (``transaction=True``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from aftersales.accounts.models import User
from aftersales.notifications import services
from aftersales.notifications.models import Delivery, DeliveryAttempt, Notification, Reaction
from aftersales.tickets.models import Ticket
from tests.notifications.conftest import SmtpHandler, header
from tests.support import processes

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WORKER = ["worker", "--interval", "0.1"]


def test_email_of_a_worker_killed_mid_send_is_delivered_exactly_once(
    desk: dict[str, Any],
    make_ticket: Callable[..., Ticket],
    templates: dict[str, Any],
    smtp_server: tuple[SmtpHandler, int],
) -> None:
    """SIGKILL while the SMTP conversation is under way: after the lease runs out the next
    worker sends the e-mail, and the mailbox holds it once; the log shows the abandoned
    attempt and the one that succeeded."""
    # given
    smtp, port = smtp_server
    smtp.hold_rcpt = True
    # Only the notification under test may send mail: no default reaction to the new ticket.
    Reaction.objects.update(is_enabled=False)
    User.objects.filter(pk=desk["insider"].pk).update(email="insider@example.com", language="en")
    ticket = make_ticket(assignee=User.objects.get(pk=desk["insider"].pk))
    env = processes.process_env(
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(port),
        EMAIL_TIMEOUT="30",
        DEFAULT_FROM_EMAIL="service@example.com",
        NOTIFICATIONS_LEASE_SECONDS="2",
        NOTIFICATIONS_RETRY_SECONDS="1",
        OUTBOX_LEASE_SECONDS="2",
        OUTBOX_SWEEP_SECONDS="1",
        SCHEDULER_TICK_SECONDS="1",
    )
    [notification] = services.notify_ticket(
        ticket=ticket, audiences=["assignee"], template=templates["ticket-assigned"]
    )
    assert isinstance(notification, Notification)
    email = Delivery.objects.get(notification=notification, channel="email")
    first = processes.start([*WORKER, "--id", "first"], env)
    second = None
    try:
        assert smtp.holding.wait(timeout=30), processes.stop(first)
        # when
        first.kill()
        first.wait(timeout=10)
        smtp.release.set()
        second = processes.start([*WORKER, "--id", "second"], env)

        # then
        def sent() -> bool:
            email.refresh_from_db()
            return email.status == "sent"

        processes.wait_for(sent, timeout=40, interval=0.2, what="the e-mail to be sent")
        # Sweeps and retries keep running: none of them may send it again.
        time.sleep(3)
    finally:
        outputs = processes.stop(first)
        outputs += processes.stop(second) if second is not None else ""
    assert len(smtp.messages) == 1, outputs
    message = smtp.messages[0]
    assert header(message, "X-Envelope-To") == "insider@example.com"
    assert header(message, "Subject") == (
        f"[{ticket.number}] Assigned to you: Washing machine does not drain"
    )
    assert header(message, "Message-ID") == email.message_id
    email.refresh_from_db()
    assert (email.status, email.attempts, email.last_error) == ("sent", 2, "")
    log = list(
        DeliveryAttempt.objects.filter(delivery=email)
        .order_by("number")
        .values_list("number", "outcome")
    )
    assert log == [(1, "abandoned"), (2, "sent")]
