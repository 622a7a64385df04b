"""Turning received mail into tickets and replies, exactly once.

Two steps, each its own transaction:

1. :func:`record_message` writes the raw mail as an :class:`InboundMessage` under its unique
   normalised Message-ID and commits. The same mail again (fetched twice, found in two folders,
   piped after a fetch, re-read after a crash before the server was told) finds the row and
   adds nothing.
2. :func:`process_message` locks a ``received`` row, decides what it is and writes the ticket
   or reply together with the row's new state. A worker killed inside rolls everything back;
   the row stays ``received`` and the next run (:func:`process_pending`) picks it up.

A mail that cannot be processed is quarantined with the error, never dropped: an administrator
sees it and sends it back through :func:`reprocess` once the cause is fixed.
"""

from __future__ import annotations

import hashlib
import logging
import zlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError, IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from aftersales.channels import parsing, threads
from aftersales.channels.models import InboundMessage, Mailbox, Participant
from aftersales.core import richtext
from aftersales.core.errors import DomainError
from aftersales.customers import services as customer_services
from aftersales.customers.models import Customer, CustomerIdentity
from aftersales.outbox import services as outbox
from aftersales.tickets.models import Comment, Ticket, TicketStatus
from aftersales.tickets.services import conversation
from aftersales.tickets.services import tickets as ticket_services

logger = logging.getLogger(__name__)
State = InboundMessage.State
RATE_WINDOW = timedelta(hours=1)
# Kinds that never get a ticket of their own: they land on the ticket they answer as an
# internal note (an agent should see "out of office" or "mailbox full"), else are ignored.
NOTE_ONLY = (parsing.BOUNCE, parsing.AUTO_REPLY, parsing.BULK)


def compress(raw: bytes) -> bytes:
    return zlib.compress(raw, 6)


def raw_of(message: InboundMessage) -> bytes:
    return zlib.decompress(bytes(message.raw))


# --- Step 1: record ---------------------------------------------------------------------------


def record_message(
    *,
    mailbox: Mailbox,
    raw: bytes,
    source: str = InboundMessage.Source.IMAP,
    folder: str = "",
    uid: int | None = None,
) -> tuple[InboundMessage, bool]:
    """The row of this mail, written and committed when new; (row, created).

    A mail whose Message-ID is already recorded *from another sender* is not the same mail
    (a broken client, or someone reusing a known id to have a mail swallowed): it is recorded
    under the hash of its bytes instead."""
    message_id = parsing.identity_of(raw)
    known = InboundMessage.objects.filter(message_id=message_id).defer("raw").first()
    try:
        headers = parsing.parse(raw)
        summary: dict[str, Any] = {
            "from_address": headers.from_address[:254],
            "from_name": headers.from_name[:200],
            "subject": headers.subject[:300],
            "headers": headers.headers,
        }
    except parsing.MailError:
        summary = {}
    if known is not None:
        if known.from_address == summary.get("from_address", ""):
            return known, False
        message_id = parsing.hash_id(raw)
        known = InboundMessage.objects.filter(message_id=message_id).defer("raw").first()
        if known is not None:
            return known, False
    try:
        with transaction.atomic():
            row = InboundMessage.objects.create(
                mailbox=mailbox,
                message_id=message_id,
                source=source,
                folder=folder[:200],
                uid=uid,
                raw=compress(raw),
                size=len(raw),
                sha256=hashlib.sha256(raw).hexdigest(),
                **summary,
            )
    except IntegrityError:
        # Another worker recorded the same Message-ID a moment ago.
        return InboundMessage.objects.get(message_id=message_id), False
    return row, True


# --- Step 2: process --------------------------------------------------------------------------


@dataclass
class _Outcome:
    state: str
    reason: str = ""
    ticket: Ticket | None = None
    comment: Comment | None = None


def own_addresses() -> set[str]:
    return {a.lower() for a in Mailbox.objects.values_list("address", flat=True)}


def process_pending(*, limit: int = 200) -> int:
    """Process the received rows (new ones, and those a killed worker left behind)."""
    pks = list(
        InboundMessage.objects.filter(state=State.RECEIVED)
        .order_by("received_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in pks:
        process_message(pk)
    return len(pks)


def process_message(pk: int, *, admit: bool = False) -> InboundMessage | None:
    """Process one received row; a row in any other state is left as it is (idempotent).

    ``admit`` (an administrator let an ignored mail in) treats an automatic mail like a
    person's, though still without automatic answers."""
    with transaction.atomic():
        row = (
            InboundMessage.objects.select_for_update()
            .select_related("mailbox", "mailbox__ticket_type", "mailbox__business_line")
            .filter(pk=pk, state=State.RECEIVED)
            .first()
        )
        if row is None:
            return None
        row.attempts += 1
        try:
            with transaction.atomic():
                outcome = _process(row, admit=admit)
        except DatabaseError:
            raise
        except DomainError as error:
            outcome = _Outcome(State.QUARANTINED, reason=error.code)
            row.error = str(error.detail())
        except parsing.MailError as error:
            outcome = _Outcome(State.QUARANTINED, reason="unparseable")
            row.error = str(error)
        except Exception as error:
            logger.exception("Processing mail %s failed", row.message_id)
            outcome = _Outcome(State.QUARANTINED, reason="error")
            row.error = f"{type(error).__name__}: {error}"
        row.state = outcome.state
        row.reason = outcome.reason
        row.ticket = outcome.ticket
        row.comment = outcome.comment
        row.processed_at = timezone.now()
        if outcome.state != State.QUARANTINED:
            row.error = ""
        row.save(
            update_fields=[
                "state",
                "reason",
                "error",
                "ticket",
                "comment",
                "processed_at",
                "attempts",
                "is_auto_answer_allowed",
            ]
        )
        outbox.emit(
            "inbound_email.processed",
            row,
            actor=None,
            payload={
                "mailbox_id": row.mailbox_id,
                "state": row.state,
                "reason": row.reason,
                "ticket_id": row.ticket_id,
            },
        )
        return row


def _process(row: InboundMessage, *, admit: bool) -> _Outcome:
    mail = parsing.parse(raw_of(row))
    kind = parsing.kind_of(mail, own_addresses())
    if admit and kind != parsing.PERSON:
        row.is_auto_answer_allowed = False
        kind = parsing.PERSON
    if kind == parsing.OWN_ADDRESS:
        row.is_auto_answer_allowed = False
        return _Outcome(State.IGNORED, reason=kind)
    ticket = threads.ticket_by_ids(mail.thread_ids) or threads.ticket_by_token(mail.subject)
    if kind in NOTE_ONLY:
        row.is_auto_answer_allowed = False
        if ticket is None:
            return _Outcome(State.IGNORED, reason=kind)
        comment = _add(row, mail, ticket, customer=None, note_kind=kind)
        return _Outcome(State.REPLY_ADDED, reason=kind, ticket=ticket, comment=comment)
    reason = ""
    if kind == parsing.MAILING_LIST:
        row.is_auto_answer_allowed = False
        reason = kind
    elif parsing.asks_for_no_auto_answer(mail):
        row.is_auto_answer_allowed = False
        reason = parsing.NO_AUTO_ANSWER
    if _over_rate_limit(row, mail.from_address):
        row.is_auto_answer_allowed = False
        reason = parsing.RATE_LIMITED
    customer = customer_services.customer_for_channel(
        kind=CustomerIdentity.Kind.EMAIL,
        value=mail.from_address,
        name=mail.from_name,
        business_line=row.mailbox.business_line,
        channel=Ticket.Channel.EMAIL,
    )
    if (
        ticket is not None
        and ticket.status_category != TicketStatus.Category.CLOSED
        and threads.is_participant(ticket, mail.from_address)
    ):
        comment = _add(row, mail, ticket, customer=customer, note_kind="")
        _remember_participants(ticket, mail)
        return _Outcome(State.REPLY_ADDED, reason=reason, ticket=ticket, comment=comment)
    ticket = _open(row, mail, customer)
    return _Outcome(State.TICKET_CREATED, reason=reason, ticket=ticket)


def _over_rate_limit(row: InboundMessage, address: str) -> bool:
    """Whether the sender wrote more than the mailbox's limit within the hour; alerts the
    administrators the first time it happens in that hour."""
    since = timezone.now() - RATE_WINDOW
    recent = (
        InboundMessage.objects.filter(from_address=address, received_at__gte=since)
        .exclude(pk=row.pk)
        .count()
    )
    limit = row.mailbox.auto_answer_limit
    if recent < limit:
        return False
    already = (
        InboundMessage.objects.filter(
            from_address=address, received_at__gte=since, reason=parsing.RATE_LIMITED
        )
        .exclude(pk=row.pk)
        .exists()
    )
    if not already:
        from aftersales.channels import alerts

        alerts.loop_suspected(mailbox=row.mailbox, address=address, count=recent + 1)
    return True


def _files(mail: parsing.ParsedMail) -> tuple[list[SimpleUploadedFile], list[str]]:
    """The mail's files the ticket may keep, and a line for each one refused."""
    kept: list[SimpleUploadedFile] = []
    refused: list[str] = []
    for item in mail.files:
        upload = SimpleUploadedFile(item.name, item.content, content_type=item.content_type)
        try:
            conversation.check_upload(upload)
        except DomainError as error:
            refused.append(str(error.detail()))
            continue
        if len(kept) >= conversation.MAX_FILES_PER_MESSAGE:
            refused.append(gettext("%(name)s: too many files.") % {"name": item.name})
            continue
        kept.append(upload)
    return kept, refused


def _body(
    row: InboundMessage,
    mail: parsing.ParsedMail,
    refused: list[str],
    note: str,
    *,
    is_trimmed: bool = True,
) -> str:
    """The message as shown: the new part of a reply (a first mail whole: what it forwards or
    quotes is usually the point), a note line, refused files, and the link to the original."""
    markup = parsing.display_markup(mail) if is_trimmed else parsing.full_markup(mail)
    if not richtext.to_plain_text(markup).strip() and "<img" not in markup:
        markup = richtext.from_plain_text(mail.subject or gettext("(no text)"))
    parts = [markup]
    if note:
        parts.insert(0, richtext.from_plain_text(note))
    if refused:
        parts.append(richtext.from_plain_text("\n".join(refused)))
    if markup != parsing.full_markup(mail):
        link = reverse("channels:message_original", args=[row.pk])
        parts.append(f'<p><a href="{link}">{gettext("Show the full e-mail")}</a></p>')
    return "".join(parts)


_NOTE_LABELS = {
    parsing.BOUNCE: _("Delivery report from %(sender)s (no answer was sent):"),
    parsing.AUTO_REPLY: _("Automatic reply from %(sender)s (no answer was sent):"),
    parsing.BULK: _("Bulk mail from %(sender)s (no answer was sent):"),
}


def _add(
    row: InboundMessage,
    mail: parsing.ParsedMail,
    ticket: Ticket,
    *,
    customer: Customer | None,
    note_kind: str,
) -> Comment:
    files, refused = _files(mail)
    note = ""
    if note_kind:
        note = str(_NOTE_LABELS[note_kind]) % {"sender": mail.from_address}
    return conversation.add_comment(
        actor=None,
        ticket=ticket,
        body=_body(row, mail, refused, note),
        is_public=customer is not None,
        channel=Ticket.Channel.EMAIL,
        files=files,
        author_customer=customer,
    )


def _open(row: InboundMessage, mail: parsing.ParsedMail, customer: Customer) -> Ticket:
    files, refused = _files(mail)
    subject = mail.subject.strip() or gettext("(no subject)")
    ticket = ticket_services.create_ticket(
        actor=None,
        ticket_type=row.mailbox.ticket_type,
        requester=customer,
        subject=subject[:200],
        description=_body(row, mail, refused, "", is_trimmed=False),
        channel=Ticket.Channel.EMAIL,
        team=row.mailbox.team,
    )
    for upload in files:
        conversation.store_file(ticket=ticket, comment=None, upload=upload, actor=None)
    _remember_participants(ticket, mail)
    return ticket


def _remember_participants(ticket: Ticket, mail: parsing.ParsedMail) -> None:
    """The people the customer copied may answer too (our own addresses excepted)."""
    ours = own_addresses()
    wanted = {a for a in [mail.from_address, *mail.to, *mail.cc] if a not in ours}
    known = set(Participant.objects.filter(ticket=ticket).values_list("address", flat=True))
    Participant.objects.bulk_create(
        [Participant(ticket=ticket, address=a[:254]) for a in sorted(wanted - known)],
        ignore_conflicts=True,
    )


def ingest(
    *, mailbox: Mailbox, raw: bytes, source: str = InboundMessage.Source.PIPE
) -> InboundMessage:
    """Record and process one piped-in mail; the same mail twice is processed once."""
    row, _created = record_message(mailbox=mailbox, raw=raw, source=source)
    processed = process_message(row.pk)
    return processed if processed is not None else InboundMessage.objects.get(pk=row.pk)
