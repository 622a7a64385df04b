"""Processing received mail: who gets a reply, what opens a ticket, what is kept aside.

Mail is piped in (:func:`intake.ingest`, as ``aftersales ingest_mail`` does); outgoing mail
goes to a real SMTP server.
"""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import pytest
from django.utils import translation

from aftersales.audit.models import AuditEntry
from aftersales.channels import intake, services, threads
from aftersales.channels.models import InboundMessage, Mailbox, Participant
from aftersales.customers.models import Customer
from aftersales.notifications.models import Delivery, Notification
from aftersales.tickets.models import Attachment, Comment, Ticket
from aftersales.tickets.services import tickets as ticket_services
from tests.channels.conftest import SmtpHandler, deliver_events, header, mail

pytestmark = pytest.mark.django_db
State = InboundMessage.State


@pytest.fixture
def mailbox(make_mailbox: Callable[..., Mailbox]) -> Mailbox:
    return make_mailbox()


def ingest(mailbox: Mailbox, raw: bytes) -> InboundMessage:
    return intake.ingest(mailbox=mailbox, raw=raw)


def test_same_message_piped_twice_makes_one_ticket(mailbox: Mailbox) -> None:
    """The second copy finds the first row; nothing new is written."""
    # given
    raw = mail(message_id="<dup@client.example.com>")
    # when
    first = ingest(mailbox, raw)
    second = ingest(mailbox, raw)
    # then
    assert first.pk == second.pk
    assert Ticket.objects.count() == 1
    assert InboundMessage.objects.count() == 1


def test_mail_without_message_id_is_recognised_by_its_bytes(mailbox: Mailbox) -> None:
    # given
    message = EmailMessage()
    message["From"] = "carol@example.com"
    message["To"] = "support@example.com"
    message["Subject"] = "No id"
    message.set_content("Hello")
    raw = bytes(message)
    # when
    first = ingest(mailbox, raw)
    ingest(mailbox, raw)
    # then
    assert first.message_id.endswith("@sha256.invalid>")
    assert Ticket.objects.count() == 1


def test_new_sender_becomes_a_customer_of_the_mailbox_line(
    mailbox: Mailbox, desk: dict[str, Any]
) -> None:
    # when
    row = ingest(mailbox, mail(sender="=?utf-8?b?5byg5LiJ?= <ZHANG@Example.com>"))
    # then
    assert row.state == State.TICKET_CREATED
    customer = Customer.objects.get(identities__value="zhang@example.com")
    assert customer.name == "张三"
    assert customer.business_line_id == desk["line_a"].pk
    assert row.ticket is not None
    assert row.ticket.requester_id == customer.pk


def test_known_customer_is_matched_by_identity(mailbox: Mailbox, desk: dict[str, Any]) -> None:
    # given
    from aftersales.customers import services as customer_services

    customer_services.add_identity(
        actor=desk["admin"], customer=desk["alice"], kind="email", value="alice@example.com"
    )
    # when
    row = ingest(mailbox, mail(sender="Alice <alice@example.com>"))
    # then
    assert row.ticket is not None
    assert row.ticket.requester_id == desk["alice"].pk
    assert Customer.objects.filter(identities__value="alice@example.com").count() == 1


def _reply_to(ticket: Ticket, *, sender: str, body: str = "More details") -> bytes:
    """A reply that names the ticket only by the signed token in the subject."""
    return mail(
        sender=sender, subject=f"Re: Printer broken {threads.subject_tag(ticket)}", body=body
    )


def test_participant_reply_by_token_lands_on_the_ticket(mailbox: Mailbox) -> None:
    # given
    ticket = ingest(mailbox, mail()).ticket
    assert ticket is not None
    # when
    row = ingest(mailbox, _reply_to(ticket, sender="carol@example.com"))
    # then
    assert row.state == State.REPLY_ADDED
    assert row.ticket_id == ticket.pk
    assert Comment.objects.get(ticket=ticket).author_customer is not None


def test_stranger_quoting_a_ticket_token_gets_a_new_ticket(mailbox: Mailbox) -> None:
    """Knowing a ticket's number and even its token does not let someone else write on it."""
    # given
    ticket = ingest(mailbox, mail()).ticket
    assert ticket is not None
    # when
    row = ingest(mailbox, _reply_to(ticket, sender="mallory@evil.example.com"))
    # then
    assert row.state == State.TICKET_CREATED
    assert row.ticket_id != ticket.pk
    assert Comment.objects.filter(ticket=ticket).count() == 0
    assert Ticket.objects.count() == 2


def test_forged_token_is_not_trusted(mailbox: Mailbox) -> None:
    # given
    ticket = ingest(mailbox, mail()).ticket
    assert ticket is not None
    forged = mail(sender="carol@example.com", subject=f"Re: x [#{ticket.number}·000000]")
    # when
    row = ingest(mailbox, forged)
    # then
    assert row.state == State.TICKET_CREATED
    assert Ticket.objects.count() == 2


def test_copied_person_may_reply_and_is_kept_as_participant(mailbox: Mailbox) -> None:
    # given
    first = mail(headers={"Cc": "Dave <dave@example.com>, support@example.com"})
    ticket = ingest(mailbox, first).ticket
    assert ticket is not None
    # when
    row = ingest(mailbox, _reply_to(ticket, sender="dave@example.com"))
    # then
    assert row.state == State.REPLY_ADDED
    assert sorted(Participant.objects.filter(ticket=ticket).values_list("address", flat=True)) == [
        "carol@example.com",
        "dave@example.com",
    ]


def test_reply_to_a_closed_ticket_opens_a_new_one(mailbox: Mailbox, desk: dict[str, Any]) -> None:
    # given
    ticket = ingest(mailbox, mail()).ticket
    assert ticket is not None
    closed = ticket_services.status_of_category(ticket.ticket_type, "closed")
    Ticket.objects.filter(pk=ticket.pk).update(status=closed, status_category="closed")
    # when
    row = ingest(mailbox, _reply_to(ticket, sender="carol@example.com"))
    # then
    assert row.state == State.TICKET_CREATED
    assert row.ticket_id != ticket.pk


def test_quotes_and_signature_are_trimmed_but_the_original_is_linked(mailbox: Mailbox) -> None:
    # given
    ticket = ingest(mailbox, mail()).ticket
    assert ticket is not None
    body = (
        "好的，谢谢！\n\n-- \n张三 | 13800000000\n\n"
        "在 2026年11月24日 周二 10:00，East Support <support@example.com> 写道：\n> 请更换墨盒。\n"
    )
    # when
    row = ingest(mailbox, _reply_to(ticket, sender="carol@example.com", body=body))
    # then
    comment = Comment.objects.get(pk=row.comment_id)
    assert comment.body_text.splitlines()[0] == "好的，谢谢！"
    assert "请更换墨盒" not in comment.body_text
    assert "13800000000" not in comment.body_text
    assert f"/settings/mailboxes/messages/{row.pk}/original/" in comment.body


def test_html_mail_is_sanitised(mailbox: Mailbox) -> None:
    # given
    message = EmailMessage()
    message["From"] = "carol@example.com"
    message["To"] = "support@example.com"
    message["Subject"] = "HTML"
    message["Message-ID"] = "<html@client.example.com>"
    message.set_content("plain")
    message.add_alternative(
        '<html><body><p onclick="steal()">Hello <b>there</b></p>'
        '<script>alert(1)</script><img src="https://tracker.example.com/p.gif"></body></html>',
        subtype="html",
    )
    # when
    row = ingest(mailbox, bytes(message))
    # then
    assert row.ticket is not None
    description = row.ticket.description
    assert "<b>there</b>" in description
    assert "script" not in description
    assert "onclick" not in description


def test_attachments_with_chinese_names_and_inline_images_are_kept(mailbox: Mailbox) -> None:
    """RFC 2231 file names decode; an inline cid image is kept as a file; a program is refused
    with a line saying so."""
    # given
    message = EmailMessage()
    message["From"] = "carol@example.com"
    message["To"] = "support@example.com"
    message["Subject"] = "=?gb2312?b?t6LGsQ==?="  # 发票 in GB2312
    message["Message-ID"] = "<files@client.example.com>"
    message.set_content("See attached")
    message.add_alternative('<p>Photo: <img src="cid:photo1@client"></p>', subtype="html")
    html_part = message.get_payload()[1]
    html_part.add_related(b"\x89PNG\r\n\x1a\nfake", "image", "png", cid="<photo1@client>")
    message.add_attachment(
        "发票内容".encode(),
        maintype="application",
        subtype="pdf",
        filename=("utf-8", "", "发票.pdf"),
    )
    message.add_attachment(b"MZ", maintype="application", subtype="octet-stream", filename="x.exe")
    # when
    row = ingest(mailbox, bytes(message))
    # then
    assert row.ticket is not None
    assert row.ticket.subject == "发票"
    names = sorted(Attachment.objects.filter(ticket=row.ticket).values_list("filename", flat=True))
    assert names == ["photo1.png", "发票.pdf"]
    assert ".exe" in row.ticket.description


def test_gbk_body_labelled_gb2312_and_raw_8bit_subject_decode(mailbox: Mailbox) -> None:
    # given: 镕 is in GBK but not in GB2312
    raw = (
        "From: carol@example.com\r\nTo: support@example.com\r\nSubject: 朱镕基\r\n"
        "Message-ID: <gbk@client.example.com>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=gb2312\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode() + "朱镕基的打印机".encode("gbk")
    # when
    row = ingest(mailbox, raw)
    # then
    assert row.ticket is not None
    assert row.ticket.subject == "朱镕基"
    assert "朱镕基的打印机" in row.ticket.description


# --- Loop protection --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("_case", "headers", "reason"),
    [
        ("rfc3834", {"Auto-Submitted": "auto-replied"}, "auto_reply"),
        ("x-autoreply", {"X-Autoreply": "yes"}, "auto_reply"),
        ("x-autorespond", {"X-Autorespond": "vacation"}, "auto_reply"),
        ("precedence-bulk", {"Precedence": "bulk"}, "bulk"),
        ("null-return-path", {"Return-Path": "<>"}, "bounce"),
    ],
)
def test_automatic_mail_opens_no_ticket_and_gets_no_answer(
    mailbox: Mailbox,
    smtp: SmtpHandler,
    templates: None,
    _case: str,
    headers: dict[str, str],
    reason: str,
) -> None:
    # when
    row = ingest(mailbox, mail(headers=headers))
    deliver_events()
    # then
    assert (row.state, row.reason) == (State.IGNORED, reason)
    assert Ticket.objects.count() == 0
    assert smtp.messages == []


def test_bounce_report_from_mailer_daemon_is_ignored(mailbox: Mailbox, smtp: SmtpHandler) -> None:
    # given
    raw = (
        b"From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\n"
        b"To: support@example.com\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        b"Message-ID: <bounce@mx.example.com>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
        b"--b\r\nContent-Type: message/delivery-status\r\n\r\nStatus: 5.1.1\r\n--b--\r\n"
    )
    # when
    row = ingest(mailbox, raw)
    # then
    assert (row.state, row.reason) == (State.IGNORED, "bounce")
    assert Ticket.objects.count() == 0


def test_auto_reply_to_our_mail_becomes_an_internal_note_without_answer(
    mailbox: Mailbox, smtp: SmtpHandler, templates: None
) -> None:
    # given
    ticket = ingest(mailbox, mail()).ticket
    assert ticket is not None
    deliver_events()
    [received_notice] = smtp.messages
    # when: the customer's out-of-office answers our notice
    vacation = mail(
        subject="Automatic reply: " + header(received_notice, "Subject"),
        body="I am on holiday until Monday.",
        headers={
            "Auto-Submitted": "auto-replied",
            "In-Reply-To": header(received_notice, "Message-ID"),
        },
    )
    row = ingest(mailbox, vacation)
    deliver_events()
    # then
    assert (row.state, row.reason) == (State.REPLY_ADDED, "auto_reply")
    note = Comment.objects.get(ticket=ticket)
    assert note.is_public is False
    assert "I am on holiday until Monday." in note.body_text
    assert len(smtp.messages) == 1


def test_mail_from_our_own_address_is_ignored(
    mailbox: Mailbox, make_mailbox: Callable[..., Mailbox]
) -> None:
    # given
    make_mailbox(address="sales@example.com")
    # when
    row = ingest(mailbox, mail(sender="sales@example.com"))
    # then
    assert (row.state, row.reason) == (State.IGNORED, "own_address")
    assert Ticket.objects.count() == 0


def test_mailing_list_post_opens_a_ticket_but_gets_no_automatic_answer(
    mailbox: Mailbox, smtp: SmtpHandler, templates: None
) -> None:
    # when
    row = ingest(mailbox, mail(headers={"List-Id": "<users.lists.example.com>"}))
    deliver_events()
    # then
    assert (row.state, row.reason) == (State.TICKET_CREATED, "mailing_list")
    assert smtp.messages == []
    delivery = Delivery.objects.get(channel="email")
    assert delivery.status == Delivery.Status.FAILED
    assert "loop_protection" in delivery.last_error


def test_mail_asking_for_no_automatic_answer_gets_none(
    mailbox: Mailbox, smtp: SmtpHandler, templates: None
) -> None:
    # when
    row = ingest(mailbox, mail(headers={"X-Auto-Response-Suppress": "DR, AutoReply"}))
    deliver_events()
    # then
    assert (row.state, row.reason) == (State.TICKET_CREATED, "no_auto_answer")
    assert smtp.messages == []


def test_sender_over_the_hourly_limit_gets_no_more_answers_and_admins_are_alerted(
    make_mailbox: Callable[..., Mailbox], smtp: SmtpHandler, templates: None, desk: dict[str, Any]
) -> None:
    """A loop without any automatic headers: after the limit, the desk stops answering and
    tells the administrators once."""
    # given
    mailbox = make_mailbox(auto_answer_limit=3)
    # when
    rows = []
    for n in range(5):
        rows.append(ingest(mailbox, mail(subject=f"Ping {n}")))
        deliver_events()
    # then
    assert [r.reason for r in rows] == ["", "", "", "rate_limited", "rate_limited"]
    assert Ticket.objects.count() == 5
    answers = [m for m in smtp.messages if header(m, "To") == "carol@example.com"]
    assert len(answers) == 3
    alerts = Notification.objects.filter(template__key="mail-loop-suspected")
    assert list(alerts.values_list("recipient_user_id", flat=True)) == [desk["admin"].pk]
    assert "carol@example.com" in alerts.get().body


def test_no_automatic_mail_goes_to_our_own_mailbox(
    mailbox: Mailbox, smtp: SmtpHandler, templates: None, desk: dict[str, Any]
) -> None:
    """Even a ticket whose requester holds one of our addresses gets no mail there."""
    # given
    from aftersales.customers import services as customer_services

    customer_services.add_identity(
        actor=desk["admin"], customer=desk["alice"], kind="email", value="support@example.com"
    )
    # when
    ticket_services.create_ticket(
        actor=desk["admin"], ticket_type=desk["repair"], requester=desk["alice"], subject="x"
    )
    deliver_events()
    # then
    assert smtp.messages == []
    assert "own_address" in Delivery.objects.get(channel="email").last_error


# --- Quarantine -------------------------------------------------------------------------------


def test_mail_without_sender_is_quarantined_not_dropped(mailbox: Mailbox) -> None:
    # when
    row = ingest(mailbox, b"Subject: nobody\r\nMessage-ID: <q@x>\r\n\r\nbody")
    # then
    assert (row.state, row.reason) == (State.QUARANTINED, "unparseable")
    assert "From" in row.error
    assert intake.raw_of(row).startswith(b"Subject: nobody")


def test_quarantined_mail_is_processed_again_once_the_cause_is_fixed(
    mailbox: Mailbox, desk: dict[str, Any]
) -> None:
    # given: the mailbox's ticket type was switched off
    type(desk["repair"]).objects.filter(pk=desk["repair"].pk).update(is_active=False)
    with translation.override("en"):
        row = ingest(mailbox, mail())
    assert row.state == State.QUARANTINED
    assert row.error == "This type is inactive."
    type(desk["repair"]).objects.filter(pk=desk["repair"].pk).update(is_active=True)
    # when
    again = services.reprocess_message(actor=desk["admin"], message=row)
    # then
    assert again.state == State.TICKET_CREATED
    assert again.error == ""
    assert Ticket.objects.count() == 1


def test_ignored_mail_let_in_by_an_admin_opens_a_ticket(
    mailbox: Mailbox, desk: dict[str, Any]
) -> None:
    # given
    row = ingest(mailbox, mail(headers={"Auto-Submitted": "auto-generated"}))
    # when
    again = services.reprocess_message(actor=desk["admin"], message=row)
    # then
    assert again.state == State.TICKET_CREATED
    assert again.is_auto_answer_allowed is False


def test_outsider_cannot_reprocess(mailbox: Mailbox, desk: dict[str, Any]) -> None:
    # given
    row = ingest(mailbox, b"Subject: nobody\r\n\r\nbody")
    # when / then
    from aftersales.core.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.reprocess_message(actor=desk["insider"], message=row)
    row.refresh_from_db()
    assert row.state == State.QUARANTINED


def test_reused_message_id_from_another_sender_is_not_swallowed(mailbox: Mailbox) -> None:
    """Someone sending a mail under a Message-ID already recorded (from someone else) still
    gets their mail in; the first one is untouched."""
    # given
    first = ingest(mailbox, mail(message_id="<known@client.example.com>"))
    # when
    second = ingest(
        mailbox,
        mail(sender="mallory@evil.example.com", message_id="<known@client.example.com>"),
    )
    # then
    assert second.pk != first.pk
    assert second.message_id.endswith("@sha256.invalid>")
    assert second.state == State.TICKET_CREATED
    assert Ticket.objects.count() == 2


def test_customer_for_channel_finds_or_creates_once(desk: dict[str, Any]) -> None:
    """The system step channels share: the same sender twice is one customer, created with an
    audit entry and a ``customer.created`` event naming the channel."""
    # given
    from aftersales.customers import services as customer_services
    from aftersales.outbox.models import OutboxEvent

    def find() -> Customer:
        return customer_services.customer_for_channel(
            kind="email",
            value=" Wang@Example.COM ",
            name="王五",
            business_line=desk["line_a"],
            channel="email",
        )

    # when
    first, second = find(), find()
    # then
    assert first.pk == second.pk
    assert first.name == "王五"
    assert list(first.identities.values_list("value", flat=True)) == ["wang@example.com"]
    entries = AuditEntry.objects.filter(object_type="customers.customer", object_id=str(first.pk))
    assert list(entries.values_list("action", "actor_id")) == [("created", None)]
    event = OutboxEvent.objects.get(topic="customer.created", object_id=str(first.pk))
    assert event.payload["channel"] == "email"


def test_first_mail_keeps_what_it_forwards(mailbox: Mailbox) -> None:
    """Trimming is for replies: a customer forwarding the shop's invoice keeps it visible."""
    # when
    body = "See below.\n\n---------- Forwarded message ----------\nInvoice 4711: washer WM-200\n"
    row = ingest(mailbox, mail(body=body))
    # then
    assert row.ticket is not None
    assert "Invoice 4711: washer WM-200" in row.ticket.description
