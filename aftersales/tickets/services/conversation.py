"""Use cases of a ticket's conversation: public replies, internal notes, @mentions, files.

Staff reply with ``tickets.reply_ticket`` and write internal notes with ``tickets.add_note``;
a customer contact may reply publicly on tickets they can see. A customer's reply reopens a
ticket waiting on them (or solved within the type's window); a closed ticket takes no more
replies (a channel starts a follow-up ticket instead). Files are checked for size and type,
stored through Django's storage under a random name, and are public only on public replies.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import PurePath
from typing import Any, Protocol

from django.conf import settings
from django.core.files.base import File
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from aftersales.accounts import authz
from aftersales.accounts.models import User
from aftersales.audit import services as audit
from aftersales.audit.models import AuditEntry
from aftersales.core import richtext
from aftersales.core.errors import DomainError, NotFound, PermissionDenied
from aftersales.customers.models import Customer
from aftersales.outbox import services as outbox
from aftersales.tickets import selectors
from aftersales.tickets.models import Attachment, Comment, Ticket, TicketEvent, TicketStatus
from aftersales.tickets.permissions import ADD_NOTE, REPLY_TICKET, VIEW_TICKET
from aftersales.tickets.services import tickets as ticket_services

Action = AuditEntry.Action
Category = TicketStatus.Category
Kind = TicketEvent.Kind
MAX_BODY = 100_000
MAX_FILES_PER_MESSAGE = 20
_MENTION = re.compile(r"(?<![\w.@])@([A-Za-z0-9_.\-]{2,150})")


class Upload(Protocol):
    """What a file from a form, the API or a mail parser offers (Django's UploadedFile)."""

    name: str | None
    size: int | None

    def chunks(self, chunk_size: int | None = ...) -> Any: ...


def _clean_body(body: Any) -> tuple[str, str]:
    if not isinstance(body, str) or not body.strip():
        raise DomainError("required", field="body", message=_("Write a message."))
    if len(body) > MAX_BODY:
        raise DomainError(
            "too_long",
            field="body",
            message=_("Enter at most %(max_length)s characters."),
            params={"max_length": MAX_BODY},
        )
    markup = richtext.clean_input(body)
    text = richtext.to_plain_text(markup)
    if not text and "<img" not in markup:
        raise DomainError("required", field="body", message=_("Write a message."))
    return markup, text


def mentioned_users(ticket: Ticket, text: str, markup: str) -> list[User]:
    """Staff named with ``@username`` (or a mention chip) who may see the ticket."""
    names = set(_MENTION.findall(text))
    ids = {int(v) for v in re.findall(r'data-mention="(\d+)"', markup)}
    if not names and not ids:
        return []
    candidates = User.objects.filter(is_active=True, kind=User.Kind.STAFF).filter(
        username__in=names
    ) | User.objects.filter(is_active=True, kind=User.Kind.STAFF, pk__in=ids)
    return [
        person
        for person in candidates.distinct().order_by("pk")
        if authz.has_permission(person, VIEW_TICKET, ticket)
    ]


def _check_author(
    actor: Any, ticket: Ticket, is_public: bool, author_customer: Customer | None
) -> bool:
    """Whether the message comes from the customer side; raises if the actor may not write."""
    if actor is None and author_customer is None:
        return False  # the system writes (a rule's reply or note)
    if author_customer is not None:
        # A channel (mail, WeChat…) writes for a customer without a login: the system acts.
        if actor is not None and not authz.has_permission(actor, REPLY_TICKET, ticket):
            raise PermissionDenied("permission_denied", params={"permission": REPLY_TICKET})
        return True
    if selectors.is_contact(actor):
        if not selectors.tickets_visible_to(actor).filter(pk=ticket.pk).exists():
            raise NotFound("not_found")
        if not is_public:
            raise PermissionDenied("permission_denied", field="is_public")
        return True
    authz.require_permission(actor, REPLY_TICKET if is_public else ADD_NOTE, ticket)
    return False


@transaction.atomic
def add_comment(
    *,
    actor: Any,
    ticket: Ticket,
    body: Any,
    is_public: bool = True,
    channel: str = Ticket.Channel.WEB,
    files: Sequence[Upload] = (),
    author_customer: Customer | None = None,
    created_at: datetime | None = None,
) -> Comment:
    """Add a reply or note; attach ``files`` to it; tell the rule engine who wrote what.

    Events: ``ticket.commented`` always (payload says public/internal and customer/staff),
    ``ticket.mentioned`` when staff are @mentioned, and a status change when a customer's
    reply reopens the ticket.
    """
    ticket = Ticket.objects.select_for_update().select_related("ticket_type").get(pk=ticket.pk)
    from_customer = _check_author(actor, ticket, is_public, author_customer)
    if from_customer and ticket.status_category == Category.CLOSED:
        raise DomainError(
            "ticket_closed",
            field="body",
            message=_("This request is closed. Please submit a new request."),
        )
    if channel not in Ticket.Channel.values:
        raise DomainError("invalid_choice", field="channel", message=_("Choose a known channel."))
    if len(files) > MAX_FILES_PER_MESSAGE:
        raise DomainError(
            "too_many_files",
            field="files",
            message=_("Attach at most %(count)s files to one message."),
            params={"count": MAX_FILES_PER_MESSAGE},
        )
    for upload in files:
        check_upload(upload)
    markup, text = _clean_body(body)
    now = created_at or timezone.now()
    person = actor if actor is not None and actor.is_authenticated else None
    comment = Comment.objects.create(
        ticket=ticket,
        author=person if author_customer is None else None,
        author_customer=author_customer,
        is_public=is_public or from_customer,
        body=markup,
        body_text=text,
        channel=channel,
        created_at=now,
    )
    mentioned = [] if from_customer else mentioned_users(ticket, text, markup)
    if mentioned:
        comment.mentions = [p.pk for p in mentioned]
        comment.save(update_fields=["mentions"])
    for upload in files:
        store_file(ticket=ticket, comment=comment, upload=upload, actor=person)

    update = ["updated_at"]
    reopened = False
    if from_customer:
        ticket.last_customer_reply_at = now
        update.append("last_customer_reply_at")
        old_status = ticket.status_id
        reopened = ticket_services.reopen_for_customer(ticket, now)
        if reopened and ticket.status_id != old_status:
            update += ["status", "status_category", "status_changed_at", "solved_at", "closed_at"]
    elif comment.is_public and person is not None:  # a rule's auto-reply is no response
        ticket.last_agent_reply_at = now
        update.append("last_agent_reply_at")
        if ticket.first_response_at is None:
            ticket.first_response_at = now
            update.append("first_response_at")
    if reopened:
        ticket.version += 1
        update.append("version")
    ticket.updated_at = now
    ticket.save(update_fields=update)

    kind = Kind.CUSTOMER_REPLIED if from_customer else (Kind.REPLIED if is_public else Kind.NOTED)
    TicketEvent.objects.create(
        ticket=ticket, actor=person, kind=kind, comment=comment, created_at=now
    )
    audit.record(
        actor=actor,
        action=Action.CREATED,
        obj=comment,
        object_repr=f"{ticket.number} #{comment.pk}",
        after={"ticket": ticket.pk, "is_public": comment.is_public, "files": len(files)},
    )
    outbox.emit(
        "ticket.commented",
        ticket,
        actor=actor,
        payload=ticket_services.event_payload(
            ticket,
            comment_id=comment.pk,
            is_public=comment.is_public,
            from_customer=from_customer,
            first_response=not from_customer and ticket.first_response_at == now,
        ),
    )
    if mentioned:
        outbox.emit(
            "ticket.mentioned",
            ticket,
            actor=actor,
            payload=ticket_services.event_payload(
                ticket, comment_id=comment.pk, user_ids=[p.pk for p in mentioned]
            ),
        )
    return comment


# --- Files --------------------------------------------------------------------------------


def _extension(name: str) -> str:
    return PurePath(name).suffix.lower().lstrip(".")


def check_upload(upload: Upload) -> None:
    """Refuse a file that is too big, empty, or of a type that could run on someone's machine."""
    name = (upload.name or "").strip()
    if not name:
        raise DomainError("invalid_file", field="files", message=_("The file has no name."))
    size = upload.size or 0
    if size <= 0:
        raise DomainError(
            "empty_file",
            field="files",
            message=_("%(name)s is empty."),
            params={"name": name},
        )
    limit = settings.ATTACHMENT_MAX_BYTES
    if size > limit:
        raise DomainError(
            "file_too_large",
            field="files",
            message=_("%(name)s is larger than %(limit)s MB."),
            params={"name": name, "limit": limit // (1024 * 1024)},
        )
    if _extension(name) in settings.ATTACHMENT_BLOCKED_EXTENSIONS:
        raise DomainError(
            "file_type_refused",
            field="files",
            message=_("Files of type .%(extension)s are not accepted."),
            params={"extension": _extension(name)},
        )


def store_file(
    *, ticket: Ticket, comment: Comment | None, upload: Upload, actor: Any
) -> Attachment:
    """Store one checked upload on the ticket (on ``comment`` when given) under a random name."""
    hasher = hashlib.sha256()
    for chunk in upload.chunks():
        hasher.update(chunk)
    name = PurePath((upload.name or "file").replace("\\", "/")).name[:255]
    guessed = mimetypes.guess_type(name)[0] or "application/octet-stream"
    attachment = Attachment(
        ticket=ticket,
        comment=comment,
        filename=name,
        content_type=guessed,
        size=upload.size or 0,
        sha256=hasher.hexdigest(),
        is_public=comment.is_public if comment is not None else True,
        uploaded_by=actor,
    )
    if hasattr(upload, "seek"):
        upload.seek(0)
    # The stored name is random (see attachment_path); the person's file name stays in the row.
    content = upload if isinstance(upload, File) else File(upload)  # type: ignore[arg-type]
    attachment.file.save(name, content, save=False)
    attachment.save(force_insert=True)
    return attachment


@transaction.atomic
def add_attachments(
    *, actor: Any, ticket: Ticket, files: Sequence[Upload], is_public: bool = False
) -> list[Attachment]:
    """Attach files to the ticket itself (not to a message): staff with change rights only."""
    authz.require_permission(actor, "tickets.change_ticket", ticket)
    if not files:
        raise DomainError("required", field="files", message=_("Choose a file."))
    for upload in files:
        check_upload(upload)
    stored = [
        store_file(ticket=ticket, comment=None, upload=upload, actor=actor) for upload in files
    ]
    for attachment in stored:
        attachment.is_public = is_public
        attachment.save(update_fields=["is_public"])
    TicketEvent.objects.create(
        ticket=ticket,
        actor=actor,
        kind=Kind.ATTACHED,
        changes={"files": [None, [a.filename for a in stored]]},
    )
    audit.record(
        actor=actor,
        action=Action.CREATED,
        obj=ticket,
        verb="attached",
        after={"attachments": [a.pk for a in stored], "is_public": is_public},
    )
    Ticket.objects.filter(pk=ticket.pk).update(updated_at=timezone.now())
    outbox.emit(
        "ticket.attachment_added",
        ticket,
        actor=actor,
        payload=ticket_services.event_payload(ticket, attachment_ids=[a.pk for a in stored]),
    )
    return stored


def sweep_orphan_files(*, older_than: timedelta = timedelta(hours=6), months: int = 2) -> int:
    """Delete stored files that no attachment row names (the transaction that wrote them
    rolled back, or the process died between storing and committing). Only files older than
    ``older_than`` are touched, so an upload still in flight is safe; only the last ``months``
    folders are listed, so the job stays cheap on object storage."""
    storage = Attachment._meta.get_field("file").storage
    cutoff = timezone.now() - older_than
    removed = 0
    month = timezone.now().date().replace(day=1)
    for _month in range(months):
        folder = f"tickets/{month:%Y/%m}"
        try:
            _dirs, names = storage.listdir(folder)
        except FileNotFoundError:
            names = []
        paths = [f"{folder}/{name}" for name in names]
        known = set(Attachment.objects.filter(file__in=paths).values_list("file", flat=True))
        for path in paths:
            if path in known or storage.get_modified_time(path) > cutoff:
                continue
            storage.delete(path)
            removed += 1
        month = (month - timedelta(days=1)).replace(day=1)
    return removed
