"""Outgoing mail through a real SMTP conversation with a server on the loopback interface."""

from __future__ import annotations

import email
import email.policy
import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.test import Client

from aftersales.accounts.models import User


class _Inbox:
    """An aiosmtpd handler keeping every message it receives, parsed."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.recipients: list[list[str]] = []

    # aiosmtpd calls the hook by this exact name.
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(parsed)
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp_inbox(settings: Any) -> Iterator[_Inbox]:
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    settings.DEFAULT_FROM_EMAIL = "service@example.com"
    try:
        yield inbox
    finally:
        controller.stop()


def test_password_reset_mail_travels_over_smtp_in_the_readers_language(
    client: Client, make_user: Any, smtp_inbox: _Inbox
) -> None:
    """The reset link reaches a real SMTP server, Chinese intact, and the link works."""
    # given
    user: User = make_user("mei", role="agent", email="mei@example.com")
    # when
    response = client.post(
        "/accounts/password/reset/",
        {"email": "mei@example.com"},
        HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9",
    )
    # then
    assert response.status_code == 302
    assert smtp_inbox.recipients == [["mei@example.com"]]
    message = smtp_inbox.messages[0]
    assert message["From"] == "service@example.com"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert re.search(r"[\u4e00-\u9fff]", str(message["Subject"])) is not None
    link = re.search(r"http://testserver(/accounts/password/reset/\S+/)", text)
    assert link is not None
    confirm = client.get(link.group(1), follow=True)
    assert confirm.status_code == 200
    assert 'name="new_password1"' in confirm.content.decode()
    user.refresh_from_db()
    assert user.check_password("correct-horse-battery-staple") is True
