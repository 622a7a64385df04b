"""The whole conversation by e-mail against real servers: Dovecot (IMAP) and an SMTP server.

mail → ticket → the agent's reply goes out threaded from the mailbox → the customer's answer
lands on the same ticket.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable
from typing import Any

import pytest

from aftersales.channels import fetching, threads
from aftersales.channels.models import InboundMessage, Mailbox, OutboundMessage
from aftersales.tickets.models import Comment, Ticket
from aftersales.tickets.services import conversation
from tests.channels.conftest import Dovecot, SmtpHandler, deliver_events, header, mail

pytestmark = pytest.mark.django_db


def test_mail_becomes_ticket_agent_reply_is_threaded_and_customer_answer_lands_on_it(
    desk: dict[str, Any],
    imap: Dovecot,
    imap_mailbox: Mailbox,
    smtp: SmtpHandler,
    templates: None,
) -> None:
    """The customer's first mail opens a ticket; the agent's public reply reaches the customer
    from the mailbox's address, naming the customer's mail in In-Reply-To; the customer's
    answer to it becomes a customer reply on the same ticket, with the quote trimmed."""
    # given
    first = mail(message_id="<first@client.example.com>")
    imap.append("support", first)

    # when
    fetching.fetch_mailbox(imap_mailbox)
    deliver_events()

    # then: a ticket, and the "we received it" answer
    ticket = Ticket.objects.get()
    assert ticket.subject == "Printer broken"
    assert ticket.channel == "email"
    assert ticket.team_id == desk["team_a"].pk
    assert ticket.requester.identities.get().value == "carol@example.com"
    assert "My printer prints blank pages." in ticket.description
    [received] = smtp.messages
    assert header(received, "From") == "East Support <support@example.com>"
    assert header(received, "Auto-Submitted") == "auto-generated"
    assert header(received, "In-Reply-To") == "<first@client.example.com>"
    assert threads.subject_tag(ticket) in header(received, "Subject")
    assert imap.count("support", criteria="UNSEEN") == 0

    # when: the agent replies
    agent = desk["insider"]
    conversation.add_comment(actor=agent, ticket=ticket, body="Please try a new cartridge.")
    deliver_events()

    # then
    assert len(smtp.messages) == 2
    reply = smtp.messages[1]
    assert header(reply, "From") == "East Support <support@example.com>"
    assert header(reply, "To") == "carol@example.com"
    assert header(reply, "Auto-Submitted") == ""
    assert header(reply, "In-Reply-To") == header(received, "Message-ID")
    assert header(reply, "References").split() == [
        "<first@client.example.com>",
        header(received, "Message-ID"),
    ]
    assert "Please try a new cartridge." in reply.get_body().get_content()

    # when: the customer answers the reply, quoting it
    answer = mail(
        subject="Re: " + header(reply, "Subject"),
        body="It works now, thank you!\n\nOn Tue, 24 Nov 2026, East Support wrote:\n"
        "> Please try a new cartridge.\n",
        headers={
            "In-Reply-To": header(reply, "Message-ID"),
            "References": f"<first@client.example.com> {header(reply, 'Message-ID')}",
        },
    )
    imap.append("support", answer)
    fetching.fetch_mailbox(imap_mailbox)

    # then
    assert Ticket.objects.count() == 1
    comment = Comment.objects.filter(ticket=ticket, author_customer__isnull=False).get()
    assert comment.is_public is True
    assert comment.body_text.startswith("It works now, thank you!")
    assert "Please try a new cartridge." not in comment.body_text
    row = InboundMessage.objects.get(comment=comment)
    assert row.state == InboundMessage.State.REPLY_ADDED
    assert OutboundMessage.objects.filter(ticket=ticket).count() == 2
    original = email.message_from_bytes(answer, policy=email.policy.default)
    assert row.message_id == original["Message-ID"]


def test_same_message_fetched_twice_and_from_two_folders_makes_one_ticket(
    imap: Dovecot, make_mailbox: Callable[..., Mailbox]
) -> None:
    """A mail copied into two fetched folders (one with a Chinese name), and fetched again
    after the folder state was lost, is one ticket."""
    # given
    mailbox = make_mailbox(
        imap_host="127.0.0.1",
        imap_port=imap.port,
        imap_user="support",
        imap_password="secret-pass",
        folders=["INBOX", "售后"],
    )
    raw = mail(message_id="<twice@client.example.com>")
    imap.append("support", raw, "INBOX")
    imap.append("support", raw, "售后")

    # when
    first = fetching.fetch_mailbox(mailbox)
    mailbox.folder_states.all().delete()
    second = fetching.fetch_mailbox(mailbox)

    # then
    assert (first.fetched, first.recorded) == (2, 1)
    assert (second.fetched, second.recorded) == (2, 0)
    assert Ticket.objects.count() == 1
    assert InboundMessage.objects.get().state == InboundMessage.State.TICKET_CREATED


@pytest.mark.parametrize(
    ("_case", "after_fetch", "inbox", "processed"),
    [("move", "move", 0, 1), ("delete", "delete", 0, 0), ("keep", "mark_seen", 1, 0)],
)
def test_what_happens_to_fetched_mail_on_the_server(
    imap: Dovecot,
    make_mailbox: Callable[..., Mailbox],
    _case: str,
    after_fetch: str,
    inbox: int,
    processed: int,
) -> None:
    # given
    mailbox = make_mailbox(
        imap_host="127.0.0.1",
        imap_port=imap.port,
        imap_user="support",
        imap_password="secret-pass",
        after_fetch=after_fetch,
        move_to_folder="已处理" if after_fetch == "move" else "",
    )
    imap.append("support", mail(), "INBOX")
    imap.append("support", mail(subject="Noise"), "已处理")
    # when
    fetching.fetch_mailbox(mailbox)
    again = fetching.fetch_mailbox(mailbox)
    # then
    assert again.fetched == 0
    assert imap.count("support", "INBOX") == inbox
    assert imap.count("support", "已处理") == processed + 1
    assert Ticket.objects.count() == 1


def test_periodic_job_fetches_only_mailboxes_whose_interval_has_passed(
    imap: Dovecot, imap_mailbox: Mailbox
) -> None:
    """The worker's job (``channels.fetch_mail``) polls each mailbox at its own interval."""
    # given
    from datetime import timedelta

    from django.utils import timezone

    from aftersales.outbox.scheduler import jobs

    assert jobs()["channels.fetch_mail"].function is fetching.fetch_due
    imap.append("support", mail())
    Mailbox.objects.filter(pk=imap_mailbox.pk).update(last_checked_at=timezone.now())
    # when
    early = fetching.fetch_due()
    Mailbox.objects.filter(pk=imap_mailbox.pk).update(
        last_checked_at=timezone.now() - timedelta(seconds=11)
    )
    due = fetching.fetch_due()
    # then
    assert (early, due) == (0, 1)
    assert Ticket.objects.count() == 1
    imap_mailbox.refresh_from_db()
    assert imap_mailbox.health == Mailbox.Health.OK


def test_mailbox_that_stops_fetching_alerts_the_admins_once(
    imap: Dovecot, imap_mailbox: Mailbox, desk: dict[str, Any]
) -> None:
    # given
    from aftersales.notifications.models import Notification

    fetching.fetch_mailbox(imap_mailbox)
    Mailbox.objects.filter(pk=imap_mailbox.pk).update(imap_password="changed-by-it")
    imap_mailbox.refresh_from_db()
    # when
    for _attempt in range(2):
        with pytest.raises(fetching.FetchError):
            fetching.fetch_mailbox(imap_mailbox)
    # then
    alerts = Notification.objects.filter(template__key="mailbox-failing")
    assert list(alerts.values_list("recipient_user_id", flat=True)) == [desk["admin"].pk]
    assert "AUTHENTICATIONFAILED" in alerts.get().body
    imap_mailbox.refresh_from_db()
    assert imap_mailbox.health == Mailbox.Health.FAILING
    assert "AUTHENTICATIONFAILED" in imap_mailbox.last_error
