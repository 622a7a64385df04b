"""Administrators' use cases of the e-mail channel: mailboxes, their checks, the quarantine.

All need ``channels.manage_mailboxes``. Passwords are written but never returned: a value of
None (or "" from a form) keeps the stored one.
"""

from __future__ import annotations

import contextlib
import imaplib
import smtplib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from aftersales.accounts import authz
from aftersales.accounts.models import BusinessLine, Team
from aftersales.audit import services as audit
from aftersales.audit.models import AuditEntry
from aftersales.channels import fetching, intake, outgoing, threads
from aftersales.channels.models import InboundMessage, Mailbox
from aftersales.channels.permissions import MANAGE_MAILBOXES
from aftersales.core.errors import DomainError, PreconditionFailed
from aftersales.outbox import services as outbox
from aftersales.tickets.models import TicketType

Action = AuditEntry.Action
State = InboundMessage.State
SECRETS = ("imap_password", "smtp_password")
FIELDS = (
    "address",
    "display_name",
    "business_line",
    "team",
    "ticket_type",
    "imap_host",
    "imap_port",
    "imap_security",
    "imap_user",
    "imap_password",
    "folders",
    "after_fetch",
    "move_to_folder",
    "smtp_host",
    "smtp_port",
    "smtp_security",
    "smtp_user",
    "smtp_password",
    "is_active",
    "poll_interval_seconds",
    "auto_answer_limit",
)


def _state(mailbox: Mailbox) -> dict[str, Any]:
    state = audit.snapshot(mailbox, fields=[f for f in FIELDS if f not in SECRETS])
    for name in SECRETS:
        state[name] = "set" if getattr(mailbox, name) else ""
    return state


def _invalid(field: str, message: Any, code: str = "invalid") -> DomainError:
    return DomainError(code, field=field, message=message)


def _port(value: Any, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise _invalid(field, _("Enter a port between 1 and 65535."))
    return value


def _apply(mailbox: Mailbox, changes: Mapping[str, Any]) -> None:
    """Check and set the changed fields (unknown names are a programming error)."""
    for name, value in changes.items():
        if name not in FIELDS:
            raise _invalid(name, _("This field cannot be changed."), "unknown_field")
        if name in SECRETS and value is None:
            continue
        setattr(mailbox, name, value)
    try:
        validate_email(mailbox.address or "")
    except Exception:
        raise _invalid("address", _("Enter a valid e-mail address.")) from None
    mailbox.address = mailbox.address.strip().lower()
    if not isinstance(mailbox.business_line, BusinessLine) or not mailbox.business_line.is_active:
        raise _invalid("business_line", _("Choose an active business line."))
    if not isinstance(mailbox.ticket_type, TicketType) or (
        mailbox.ticket_type.business_line_id != mailbox.business_line.pk
        or not mailbox.ticket_type.is_active
    ):
        raise _invalid("ticket_type", _("Choose an active ticket type of the business line."))
    if mailbox.team is not None and (
        not isinstance(mailbox.team, Team)
        or mailbox.team.business_line_id != mailbox.business_line.pk
    ):
        raise _invalid("team", _("Choose a team of the business line."))
    for security in ("imap_security", "smtp_security"):
        if getattr(mailbox, security) not in Mailbox.Security.values:
            raise _invalid(security, _("Choose a known kind of security."))
    if mailbox.after_fetch not in Mailbox.AfterFetch.values:
        raise _invalid("after_fetch", _("Choose what happens to fetched mail."))
    if mailbox.after_fetch == Mailbox.AfterFetch.MOVE and not mailbox.move_to_folder.strip():
        raise _invalid("move_to_folder", _("Name the folder to move fetched mail to."))
    mailbox.imap_port = _port(mailbox.imap_port, "imap_port")
    mailbox.smtp_port = _port(mailbox.smtp_port, "smtp_port")
    if bool(mailbox.imap_host.strip()) != bool(mailbox.imap_user.strip()):
        field = "imap_user" if mailbox.imap_host.strip() else "imap_host"
        raise _invalid(field, _("Fill in both the IMAP server and the user, or neither."))
    folders = mailbox.folders
    if not isinstance(folders, list) or not all(
        isinstance(f, str) and f.strip() and len(f) <= 200 for f in folders
    ):
        raise _invalid("folders", _("List the folders by name, one per line."))
    mailbox.folders = list(dict.fromkeys(f.strip() for f in folders))
    if not 10 <= int(mailbox.poll_interval_seconds) <= 86400:
        raise _invalid("poll_interval_seconds", _("Poll every 10 seconds to once a day."))
    if not 1 <= int(mailbox.auto_answer_limit) <= 10000:
        raise _invalid("auto_answer_limit", _("Enter a limit between 1 and 10000."))


def _address_free(mailbox: Mailbox) -> None:
    if Mailbox.objects.filter(address=mailbox.address).exclude(pk=mailbox.pk).exists():
        raise _invalid("address", _("Another mailbox has this address."), "duplicate")


@transaction.atomic
def create_mailbox(*, actor: Any, **fields: Any) -> Mailbox:
    """Add a mailbox; its address must not belong to another one."""
    authz.require_permission(actor, MANAGE_MAILBOXES)
    mailbox = Mailbox()
    defaults: dict[str, Any] = {"folders": ["INBOX"], "team": None}
    _apply(mailbox, {**defaults, **fields})
    _address_free(mailbox)
    mailbox.save(force_insert=True)
    audit.record(actor=actor, action=Action.CREATED, obj=mailbox, after=_state(mailbox))
    outbox.emit("mailbox.created", mailbox, actor=actor, payload={"address": mailbox.address})
    return mailbox


@transaction.atomic
def update_mailbox(
    *,
    actor: Any,
    mailbox: Mailbox,
    changes: Mapping[str, Any],
    expected_version: int | None = None,
) -> Mailbox:
    """Change a mailbox; a stale ``expected_version`` is refused (another admin saved first)."""
    authz.require_permission(actor, MANAGE_MAILBOXES)
    locked = Mailbox.objects.select_for_update().get(pk=mailbox.pk)
    if expected_version is not None and expected_version != locked.version:
        raise PreconditionFailed("stale_version")
    before = _state(locked)
    secrets_before = [getattr(locked, s) for s in SECRETS]
    _apply(locked, changes)
    _address_free(locked)
    if _state(locked) == before and [getattr(locked, s) for s in SECRETS] == secrets_before:
        return locked
    locked.version = F("version") + 1
    locked.updated_at = timezone.now()
    locked.save()
    locked.refresh_from_db()
    audit.record(
        actor=actor, action=Action.UPDATED, obj=locked, before=before, after=_state(locked)
    )
    outbox.emit("mailbox.updated", locked, actor=actor, payload={"address": locked.address})
    return locked


@transaction.atomic
def delete_mailbox(*, actor: Any, mailbox: Mailbox) -> None:
    """Remove a mailbox that never received mail; one with mail is deactivated instead, so
    its messages keep their origin."""
    authz.require_permission(actor, MANAGE_MAILBOXES)
    if InboundMessage.objects.filter(mailbox=mailbox).exists():
        raise DomainError(
            "mailbox_in_use",
            field="is_active",
            message=_("This mailbox has received mail: deactivate it instead."),
        )
    audit.record(actor=actor, action=Action.DELETED, obj=mailbox, before=_state(mailbox))
    outbox.emit("mailbox.deleted", mailbox, actor=actor, payload={"address": mailbox.address})
    mailbox.delete()


# --- Checks -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    """One server's answer to a connection check."""

    service: str  # "imap" or "smtp"
    is_ok: bool
    detail: str


def _imap_check(mailbox: Mailbox) -> CheckResult:
    if not mailbox.has_imap:
        return CheckResult("imap", False, gettext("No IMAP server is configured."))
    try:
        connection = fetching.connect(mailbox, timeout=10)
    except fetching.FetchError as error:
        return CheckResult("imap", False, str(error))
    try:
        found = []
        for folder in mailbox.fetch_folders:
            status, data = connection.select(fetching._quote(folder), readonly=True)
            if status != "OK":
                detail = b" ".join(d for d in data if isinstance(d, bytes)).decode()
                return CheckResult("imap", False, f"SELECT {folder}: {status} {detail}")
            count = data[0].decode() if data and isinstance(data[0], bytes) else "?"
            found.append(f"{folder}: {count}")
        welcome = connection.welcome.decode(errors="replace")
        return CheckResult("imap", True, f"{welcome} — {', '.join(found)}")
    except (OSError, imaplib.IMAP4.error) as error:
        return CheckResult("imap", False, str(error))
    finally:
        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            connection.logout()


def _smtp_check(mailbox: Mailbox) -> CheckResult:
    connection = outgoing.connection_for(mailbox, timeout=10)
    host = getattr(connection, "host", None)
    if host is None:
        return CheckResult(
            "smtp",
            True,
            gettext("Mail is handed to %(backend)s.") % {"backend": type(connection).__module__},
        )
    try:
        connection.open()
        server = getattr(connection, "connection", None)
        answer = server.noop() if server is not None else (250, b"")
        greeting = getattr(server, "ehlo_resp", b"") or b""
        connection.close()
    except (OSError, smtplib.SMTPException) as error:
        port = getattr(connection, "port", "")
        return CheckResult("smtp", False, f"SMTP {host}:{port}: {error}")
    code, text = answer
    detail = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    if isinstance(greeting, bytes) and greeting:
        detail = greeting.decode(errors="replace").splitlines()[0] + " — " + detail
    return CheckResult("smtp", code == 250, f"SMTP {host}: {code} {detail}".strip())


def check_connection(*, actor: Any, mailbox: Mailbox) -> list[CheckResult]:
    """Log in to the mailbox's IMAP and SMTP servers and report what each answered."""
    authz.require_permission(actor, MANAGE_MAILBOXES)
    results = [_imap_check(mailbox), _smtp_check(mailbox)]
    if mailbox.has_imap:
        health = Mailbox.Health.OK if results[0].is_ok else Mailbox.Health.FAILING
        Mailbox.objects.filter(pk=mailbox.pk).update(
            health=health, last_error="" if results[0].is_ok else results[0].detail[:2000]
        )
    return results


def send_test(*, actor: Any, mailbox: Mailbox, to: str) -> CheckResult:
    """Send a test e-mail from the mailbox through its SMTP server to ``to``."""
    authz.require_permission(actor, MANAGE_MAILBOXES)
    try:
        validate_email(to or "")
    except Exception:
        raise _invalid("to", _("Enter a valid e-mail address.")) from None
    if to.strip().lower() == mailbox.address:
        raise _invalid("to", _("Send the test to another address than the mailbox's own."))
    message = EmailMessage(
        subject=gettext("Test message from %(address)s") % {"address": mailbox.address},
        body=gettext("This message checks that %(address)s can send mail. No answer is needed.")
        % {"address": mailbox.address},
        from_email=threads.from_of(mailbox),
        to=[to.strip()],
        headers={
            "Message-ID": threads.new_message_id(mailbox),
            "Auto-Submitted": "auto-generated",
        },
        connection=outgoing.connection_for(mailbox),
    )
    try:
        message.send(fail_silently=False)
    except (OSError, smtplib.SMTPException) as error:
        return CheckResult("smtp", False, str(error))
    audit.record(
        actor=actor, action=Action.UPDATED, obj=mailbox, verb="test_sent", after={"to": to}
    )
    return CheckResult("smtp", True, gettext("Sent to %(to)s.") % {"to": to})


def fetch_now(*, actor: Any, mailbox: Mailbox) -> fetching.FetchResult:
    """Fetch the mailbox at once (the button on its page)."""
    authz.require_permission(actor, MANAGE_MAILBOXES)
    try:
        return fetching.fetch_mailbox(mailbox)
    except fetching.FetchError as error:
        raise DomainError("fetch_failed", field="imap_host", message=str(error)) from None


# --- Quarantine -------------------------------------------------------------------------------


@transaction.atomic
def reprocess_message(*, actor: Any, message: InboundMessage) -> InboundMessage:
    """Send a quarantined or ignored mail through processing again (after the cause was
    fixed, or to let an ignored one through); returns the row in its new state."""
    authz.require_permission(actor, MANAGE_MAILBOXES)
    locked = InboundMessage.objects.select_for_update().get(pk=message.pk)
    if locked.state not in (State.QUARANTINED, State.IGNORED):
        raise DomainError(
            "not_reprocessable",
            field="state",
            message=_("Only quarantined or ignored mail can be processed again."),
        )
    before = {"state": locked.state, "reason": locked.reason, "error": locked.error}
    locked.state = State.RECEIVED
    locked.save(update_fields=["state"])
    audit.record(actor=actor, action=Action.UPDATED, obj=locked, verb="reprocessed", before=before)
    # An administrator letting an ignored mail in wants a ticket or reply from it.
    processed = intake.process_message(locked.pk, admit=before["state"] == State.IGNORED)
    return processed or locked
