"""An LMTP listener (RFC 2033) so a company's mail server can deliver straight to the desk.

Postfix (``transport_maps``: ``support@example.com lmtp:inet:desk.internal:2424``), Exim or
Dovecot's LMTP proxy hand mail over with per-recipient answers. Each recipient must be an
active mailbox (else ``550``). A mail is answered ``250`` only once it is recorded and
committed, so the sending server keeps it until then; a database failure answers ``451`` and
the server retries later. The recorded mail is processed after the answer (in this thread,
and any left over by the periodic job). The envelope sender is kept as ``Return-Path`` when
the mail has none, so a bounce (``MAIL FROM:<>``) is recognised as one.

Plain TCP without authentication: bind it to a private address the mail server reaches.
"""

from __future__ import annotations

import logging
import re
import socket
import socketserver
from typing import Any

from django.db import DatabaseError, close_old_connections, connection

from aftersales.channels import intake
from aftersales.channels.models import InboundMessage, Mailbox

logger = logging.getLogger(__name__)
MAX_BYTES = 50 * 1024 * 1024
MAX_LINE = 8192
_PATH = re.compile(r"^(?:MAIL FROM|RCPT TO):\s*<([^>]*)>", re.IGNORECASE)


class _Session(socketserver.StreamRequestHandler):
    """One LMTP connection: commands in, numbered answers out."""

    def setup(self) -> None:
        super().setup()
        self.sender: str | None = None
        self.recipients: list[Mailbox] = []

    def _send(self, *lines: str) -> None:
        self.wfile.write("".join(f"{line}\r\n" for line in lines).encode())
        self.wfile.flush()

    def _reset(self) -> None:
        self.sender = None
        self.recipients = []

    def handle(self) -> None:
        hostname = socket.getfqdn()
        self._send(f"220 {hostname} Aftersales LMTP ready")
        try:
            while True:
                line = self.rfile.readline(MAX_LINE)
                if not line:
                    return
                command = line.decode("utf-8", errors="replace").rstrip("\r\n")
                verb = command.split(" ", 1)[0].upper()
                if verb == "QUIT":
                    self._send("221 2.0.0 Bye")
                    return
                self._command(verb, command, hostname)
        finally:
            close_old_connections()
            connection.close()

    def _command(self, verb: str, command: str, hostname: str) -> None:
        if verb == "LHLO":
            self._send(
                f"250-{hostname}", "250-PIPELINING", "250-8BITMIME", "250-ENHANCEDSTATUSCODES",
                f"250 SIZE {MAX_BYTES}",
            )  # fmt: skip
        elif verb in ("HELO", "EHLO"):
            self._send("500 5.5.1 This is LMTP: say LHLO")
        elif verb == "MAIL":
            found = _PATH.match(command)
            if found is None:
                self._send("501 5.5.4 Syntax: MAIL FROM:<address>")
                return
            self._reset()
            self.sender = found.group(1)
            self._send("250 2.1.0 OK")
        elif verb == "RCPT":
            self._recipient(command)
        elif verb == "DATA":
            self._data()
        elif verb == "RSET":
            self._reset()
            self._send("250 2.0.0 OK")
        elif verb == "NOOP":
            self._send("250 2.0.0 OK")
        elif verb == "VRFY":
            self._send("252 2.5.0 Send some mail, I'll try my best")
        else:
            self._send("500 5.5.2 Command not recognised")

    def _recipient(self, command: str) -> None:
        found = _PATH.match(command)
        if self.sender is None:
            self._send("503 5.5.1 MAIL first")
            return
        if found is None:
            self._send("501 5.5.4 Syntax: RCPT TO:<address>")
            return
        try:
            mailbox = Mailbox.objects.filter(
                address__iexact=found.group(1).strip(), is_active=True
            ).first()
        except DatabaseError:
            self._send("451 4.3.0 Temporary failure, try again later")
            return
        if mailbox is None:
            self._send("550 5.1.1 No such mailbox here")
            return
        self.recipients.append(mailbox)
        self._send("250 2.1.5 OK")

    def _read_data(self) -> bytes | None:
        """The message up to the lone dot, dot-unstuffed; None when it was too large."""
        chunks: list[bytes] = []
        size = 0
        too_large = False
        while True:
            line = self.rfile.readline(MAX_LINE)
            if not line or line in (b".\r\n", b".\n"):
                break
            if line.startswith(b"."):
                line = line[1:]
            size += len(line)
            if size > MAX_BYTES:
                too_large = True
                continue
            chunks.append(line)
        return None if too_large else b"".join(chunks)

    def _data(self) -> None:
        if not self.recipients:
            self._send("503 5.5.1 RCPT first")
            return
        self._send("354 Start mail input; end with <CRLF>.<CRLF>")
        raw = self._read_data()
        recipients, sender = self.recipients, self.sender or ""
        self._reset()
        if raw is None:
            self._send(*["552 5.3.4 Message too big" for _ in recipients])
            return
        if not re.match(rb"(?i)return-path:", raw):
            raw = f"Return-Path: <{sender}>\r\n".encode() + raw
        answers: list[str] = []
        recorded: list[int] = []
        for mailbox in recipients:
            try:
                row, _created = intake.record_message(
                    mailbox=mailbox, raw=raw, source=InboundMessage.Source.LMTP
                )
            except DatabaseError:
                logger.exception("Recording LMTP mail for %s failed", mailbox.address)
                answers.append("451 4.3.0 Temporary failure, try again later")
                continue
            recorded.append(row.pk)
            answers.append(f"250 2.0.0 {row.message_id} accepted for {mailbox.address}")
        self._send(*answers)
        for pk in dict.fromkeys(recorded):
            try:
                intake.process_message(pk)
            except DatabaseError:
                logger.exception("Processing LMTP mail %s failed; the worker will retry", pk)


class LmtpServer(socketserver.ThreadingTCPServer):
    """One thread per connection; stops with :meth:`shutdown`."""

    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, address: tuple[str, int], **kwargs: Any) -> None:
        super().__init__(address, _Session, **kwargs)
