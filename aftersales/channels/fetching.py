"""Fetching mail over IMAP (polling; IMAP IDLE is not used).

Each folder is read by UID under its UIDVALIDITY. Every message is recorded (and the folder's
last UID advanced) in one commit before the server is told anything; only then is it flagged
``\\Seen``, moved or deleted. A crash before that tells the server nothing, so the next run
sees the message again and the unique Message-ID makes the re-read a no-op. In the move and
delete modes the whole folder is read each time (whatever is still there was not handled);
in the keep mode only UIDs above the last one recorded.
"""

from __future__ import annotations

import base64
import contextlib
import imaplib
import re
import ssl
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from aftersales.channels import alerts, intake
from aftersales.channels.models import FolderState, InboundMessage, Mailbox

TIMEOUT = 20
BATCH = 200
_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")


class FetchError(Exception):
    """The server refused a step (the message says which and how)."""


@dataclass
class FetchResult:
    fetched: int = 0
    recorded: int = 0
    processed: int = 0
    folders: list[str] = field(default_factory=list)


def connect(mailbox: Mailbox, *, timeout: int = TIMEOUT) -> imaplib.IMAP4:
    """A logged-in IMAP connection; raises :class:`FetchError` with the server's answer."""
    if not mailbox.has_imap:
        raise FetchError("No IMAP server is configured.")
    try:
        connection: imaplib.IMAP4
        if mailbox.imap_security == Mailbox.Security.TLS:
            connection = imaplib.IMAP4_SSL(
                mailbox.imap_host,
                mailbox.imap_port,
                ssl_context=ssl.create_default_context(),
                timeout=timeout,
            )
        else:
            connection = imaplib.IMAP4(mailbox.imap_host, mailbox.imap_port, timeout=timeout)
            if mailbox.imap_security == Mailbox.Security.STARTTLS:
                connection.starttls(ssl_context=ssl.create_default_context())
        connection.login(mailbox.imap_user, mailbox.imap_password)
    except (OSError, imaplib.IMAP4.error) as error:
        raise FetchError(f"IMAP {mailbox.imap_host}:{mailbox.imap_port}: {error}") from None
    return connection


def imap_utf7(name: str) -> str:
    """A folder name in IMAP's modified UTF-7 (RFC 3501 5.1.3): "售后" → "&VK5UDg-"."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            encoded = base64.b64encode("".join(pending).encode("utf-16-be")).decode()
            out.append("&" + encoded.rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def _quote(folder: str) -> str:
    encoded = imap_utf7(folder)
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check(answer: tuple[str, list[Any]], what: str) -> list[Any]:
    status, data = answer
    if status != "OK":
        detail = b" ".join(d for d in data if isinstance(d, bytes)).decode(errors="replace")
        raise FetchError(f"{what}: {status} {detail}".strip())
    return data


def _uid_validity(connection: imaplib.IMAP4, folder: str) -> int:
    data = _check(connection.status(_quote(folder), "(UIDVALIDITY)"), f"STATUS {folder}")
    found = _UIDVALIDITY.search(data[0] if isinstance(data[0], bytes) else b"")
    return int(found.group(1)) if found else 0


def _raw_of(data: list[object]) -> bytes | None:
    for item in data:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
            return item[1]
    return None


def _after_fetch(connection: imaplib.IMAP4, mailbox: Mailbox, uid: str) -> None:
    if mailbox.after_fetch == Mailbox.AfterFetch.MOVE and mailbox.move_to_folder:
        _check(connection.uid("MOVE", uid, _quote(mailbox.move_to_folder)), "MOVE")
    elif mailbox.after_fetch == Mailbox.AfterFetch.DELETE:
        _check(connection.uid("STORE", uid, "+FLAGS.SILENT", r"(\Deleted)"), "STORE")
    else:
        _check(connection.uid("STORE", uid, "+FLAGS.SILENT", r"(\Seen)"), "STORE")


def _fetch_folder(
    connection: imaplib.IMAP4, mailbox: Mailbox, folder: str, result: FetchResult
) -> None:
    validity = _uid_validity(connection, folder)
    _check(connection.select(_quote(folder)), f"SELECT {folder}")
    state, _created = FolderState.objects.get_or_create(mailbox=mailbox, folder=folder)
    if state.uid_validity != validity:
        state.uid_validity, state.last_uid = validity, 0
        state.save(update_fields=["uid_validity", "last_uid"])
    keeps = mailbox.after_fetch == Mailbox.AfterFetch.MARK_SEEN
    criteria = f"UID {state.last_uid + 1}:*" if keeps else "UNDELETED"
    found = _check(connection.uid("SEARCH", criteria), "SEARCH")
    uids = sorted(int(u) for u in (found[0] or b"").split() if int(u) > 0)
    if keeps:
        uids = [u for u in uids if u > state.last_uid]
    for uid in uids[:BATCH]:
        data = _check(connection.uid("FETCH", str(uid), "(BODY.PEEK[])"), "FETCH")
        raw = _raw_of(data)
        if raw is None:
            continue
        result.fetched += 1
        with transaction.atomic():
            _row, created = intake.record_message(
                mailbox=mailbox,
                raw=raw,
                source=InboundMessage.Source.IMAP,
                folder=folder,
                uid=uid,
            )
            if uid > state.last_uid:
                state.last_uid = uid
                FolderState.objects.filter(pk=state.pk).update(
                    last_uid=uid, updated_at=timezone.now()
                )
        result.recorded += int(created)
        _after_fetch(connection, mailbox, str(uid))
    if mailbox.after_fetch != Mailbox.AfterFetch.MARK_SEEN:
        connection.expunge()
    result.folders.append(folder)


def fetch_mailbox(mailbox: Mailbox) -> FetchResult:
    """Record the new mail of every folder, then process what is waiting; the mailbox's
    health says how it went."""
    result = FetchResult()
    started = timezone.now()
    try:
        connection = connect(mailbox)
        try:
            for folder in mailbox.fetch_folders:
                _fetch_folder(connection, mailbox, folder, result)
        finally:
            with contextlib.suppress(OSError, imaplib.IMAP4.error):
                connection.logout()
    except (FetchError, OSError, imaplib.IMAP4.error) as error:
        # Only the fetch that turns a mailbox from working to failing alerts the admins.
        turned = Mailbox.objects.filter(pk=mailbox.pk).exclude(health=Mailbox.Health.FAILING)
        with transaction.atomic():
            if turned.update(health=Mailbox.Health.FAILING):
                alerts.mailbox_failing(mailbox=mailbox, error=str(error))
            Mailbox.objects.filter(pk=mailbox.pk).update(
                last_checked_at=started, last_error=str(error)[:2000]
            )
        raise FetchError(str(error)) from None
    Mailbox.objects.filter(pk=mailbox.pk).update(
        last_checked_at=started, last_success_at=started, health=Mailbox.Health.OK, last_error=""
    )
    result.processed = intake.process_pending()
    return result


def fetch_due() -> int:
    """The periodic job: fetch each active mailbox whose polling interval has passed, then
    process anything left ``received``. Returns how many mailboxes were fetched."""
    now = timezone.now()
    fetched = 0
    for mailbox in Mailbox.objects.filter(is_active=True).exclude(imap_host="").order_by("pk"):
        due = mailbox.last_checked_at is None or (
            (now - mailbox.last_checked_at).total_seconds() >= mailbox.poll_interval_seconds
        )
        if not due:
            continue
        fetched += 1
        try:
            fetch_mailbox(mailbox)
        except FetchError:
            continue  # recorded on the mailbox; its status page shows it
    intake.process_pending()
    return fetched
