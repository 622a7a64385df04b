"""Fixtures for the e-mail channel: a real Dovecot IMAP server, a real SMTP server, a desk.

Dovecot runs unprivileged from a generated configuration in a temporary directory (plain
text on 127.0.0.1, a static passwd-file, Maildir under the same directory). Tests that need
it skip when Debian's ``dovecot-imapd`` is missing, except under ``CI=true``, where they fail
(``.ci/run`` installs it).
"""

from __future__ import annotations

import imaplib
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from aftersales.accounts.models import User
from aftersales.channels import services
from aftersales.channels.fetching import imap_utf7
from aftersales.channels.models import Mailbox
from aftersales.customers import services as customer_services
from aftersales.customers.models import CustomerTier
from aftersales.notifications.defaults import sync_default_templates
from aftersales.outbox import services as outbox
from aftersales.outbox.models import EventDelivery
from tests.api.support import fast_hashing  # noqa: F401
from tests.notifications.conftest import SmtpHandler, header, smtp, smtp_server  # noqa: F401
from tests.support import processes
from tests.tickets.conftest import (  # noqa: F401
    _fast_passwords,
    _media_in_tmp,
    desk,
    make_type,
)

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
PASSWORD = "secret-pass"


@pytest.fixture(autouse=True)
def _default_tier(admin_user: User) -> None:
    """Customers need a default tier; a transactional test may have flushed the seeded one."""
    if not CustomerTier.objects.filter(is_default=True).exists():
        customer_services.create_tier(
            actor=admin_user, key="normal", name_zh="普通", name_en="Normal", is_default=True
        )


@dataclass
class Dovecot:
    """A running throwaway Dovecot: IMAP on 127.0.0.1:``port``; users log in with PASSWORD."""

    port: int
    root: Path

    def login(self, user: str) -> imaplib.IMAP4:
        connection = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        connection.login(user, PASSWORD)
        return connection

    def append(self, user: str, raw: bytes, folder: str = "INBOX") -> None:
        """Deliver a message into the user's folder (IMAP APPEND, as an MTA would)."""
        connection = self.login(user)
        try:
            name = f'"{imap_utf7(folder)}"'
            connection.create(name)  # NO when it exists; harmless
            status, data = connection.append(name, "", None, raw)
            assert status == "OK", data
        finally:
            connection.logout()

    def count(self, user: str, folder: str = "INBOX", criteria: str = "ALL") -> int:
        connection = self.login(user)
        try:
            connection.select(f'"{imap_utf7(folder)}"', readonly=True)
            _status, data = connection.search(None, criteria)
            return len((data[0] or b"").split())
        finally:
            connection.logout()

    def clear(self, user: str) -> None:
        connection = self.login(user)
        try:
            _status, folders = connection.list()
            for line in folders or []:
                found = re.match(r'\(.*?\) (?:"[^"]*"|NIL) (.*)$', line.decode())  # type: ignore[union-attr]
                name = found.group(1).strip('"') if found else ""
                if not name:
                    continue
                _status, counts = connection.select(f'"{name}"')
                if counts and counts[0] not in (b"0", None):
                    connection.store("1:*", "+FLAGS.SILENT", r"(\Deleted)")
                    connection.expunge()
        finally:
            connection.logout()


_USERS = ("support", "sales", "customer")


def _accounts(root: Path) -> tuple[str, str, int, int]:
    """Login user, internal user, mail uid and gid. Dovecot refuses to run its login and
    mail processes as root: under root (CI containers) they use Debian's ``dovenull`` and
    ``dovecot`` accounts and the directory is handed to ``dovecot``; otherwise everything
    runs as the current user."""
    if os.getuid() != 0:
        name = pwd.getpwuid(os.getuid()).pw_name
        return name, name, os.getuid(), os.getgid()
    owner = pwd.getpwnam("dovecot")
    for path in [root, *root.rglob("*")]:
        os.chown(path, owner.pw_uid, owner.pw_gid)
    return "dovenull", "dovecot", owner.pw_uid, owner.pw_gid


def _config(root: Path, port: int) -> Path:
    users = "\n".join(f"{name}:{{PLAIN}}{PASSWORD}::::{root}/home/{name}::" for name in _USERS)
    (root / "passwd").write_text(users + "\n")
    login_user, internal_user, uid, gid = _accounts(root)
    conf = root / "dovecot.conf"
    conf.write_text(
        f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {login_user}
default_internal_user = {internal_user}
mail_location = maildir:~/Maildir
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = 1
first_valid_gid = 1
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0600
  }}
  unix_listener stats-writer {{
    mode = 0600
  }}
}}
passdb {{
  driver = passwd-file
  args = {root}/passwd
}}
userdb {{
  driver = passwd-file
  args = {root}/passwd
}}
"""
    )
    return conf


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    if not Path(DOVECOT).exists():
        reason = f"{DOVECOT} is missing: apt-get install -y dovecot-imapd dovecot-lmtpd"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    # Not under pytest's tmp dir: its parents are private to root, and under root Dovecot's
    # mail processes run as the ``dovecot`` account, which must reach the Maildirs.
    root = Path(tempfile.mkdtemp(prefix="as-dovecot-"))
    for sub in ("run", "state", "home"):
        (root / sub).mkdir()
    port = processes.free_port()
    conf = _config(root, port)
    process = subprocess.Popen(
        [DOVECOT, "-c", str(conf), "-F"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = Dovecot(port=port, root=root)
    deadline = time.monotonic() + 20
    while True:
        try:
            server.login("support").logout()
            break
        except (OSError, imaplib.IMAP4.error):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                output = process.stdout.read().decode() if process.stdout else ""
                log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
                pytest.fail(f"Dovecot did not start:\n{output}\n{log}")
            time.sleep(0.2)
    try:
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def imap(dovecot: Dovecot) -> Dovecot:
    """Dovecot with empty mailboxes for this test."""
    for user in _USERS:
        dovecot.clear(user)
    return dovecot


def mail(
    *,
    sender: str = "Carol <carol@example.com>",
    to: str = "support@example.com",
    subject: str = "Printer broken",
    body: str = "My printer prints blank pages.",
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    """A plain-text mail as a customer's client would send it."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = message_id or make_msgid(domain="client.example.com")
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    return bytes(message)


@pytest.fixture
def make_mailbox(desk: dict[str, Any]) -> Callable[..., Mailbox]:
    def make(**fields: Any) -> Mailbox:
        values: dict[str, Any] = {
            "address": "support@example.com",
            "display_name": "East Support",
            "business_line": desk["line_a"],
            "team": desk["team_a"],
            "ticket_type": desk["repair"],
            "imap_host": "",
            "imap_user": "",
            "imap_security": Mailbox.Security.NONE,
            "smtp_security": Mailbox.Security.NONE,
        }
        values.update(fields)
        return services.create_mailbox(actor=desk["admin"], **values)

    return make


@pytest.fixture
def imap_mailbox(make_mailbox: Callable[..., Mailbox], imap: Dovecot) -> Mailbox:
    return make_mailbox(
        imap_host="127.0.0.1",
        imap_port=imap.port,
        imap_user="support",
        imap_password=PASSWORD,
        poll_interval_seconds=10,
    )


@pytest.fixture
def templates(db: None) -> None:
    sync_default_templates()


def deliver_events() -> None:
    """Run every outbox subscriber that is due (what the worker would do after the commits)."""
    for _round in range(10):
        pending = list(
            EventDelivery.objects.filter(status="pending", next_attempt_at__lte=timezone.now())
            .values_list("event_id", flat=True)
            .distinct()
        )
        if not pending:
            return
        for event_id in pending:
            outbox.deliver_event(str(event_id))
