"""Fixtures for notification tests: the ticket desk, a real SMTP server, templates."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from aftersales.accounts.models import User
from aftersales.customers import services as customer_services
from aftersales.customers.models import CustomerTier
from aftersales.notifications import services
from aftersales.notifications.defaults import sync_default_templates
from aftersales.notifications.models import NotificationTemplate
from tests.api.support import fast_hashing  # noqa: F401
from tests.support import processes
from tests.tickets.conftest import (  # noqa: F401
    _fast_passwords,
    _media_in_tmp,
    desk,
    make_ticket,
    make_type,
)


@pytest.fixture(autouse=True)
def _default_tier(admin_user: User) -> None:
    """Customers need a default tier; a transactional test before this one may have flushed
    the one the migrations seed."""
    if not CustomerTier.objects.filter(is_default=True).exists():
        customer_services.create_tier(
            actor=admin_user, key="normal", name_zh="普通", name_en="Normal", is_default=True
        )


def header(message: EmailMessage, name: str) -> str:
    """A header's value; Django folds long ones onto a continuation line, which the parser
    keeps as a leading space."""
    return str(message[name] or "").strip()


@dataclass
class SmtpHandler:
    """Collects accepted messages. ``refuse_data`` answers that many DATA commands with 451
    (after reading the message, as a busy server would); ``hold_rcpt`` makes the first RCPT
    wait until ``release`` is set, so a test can kill the sender mid-conversation."""

    messages: list[EmailMessage] = field(default_factory=list)
    refused: list[EmailMessage] = field(default_factory=list)
    refuse_data: int = 0
    hold_rcpt: bool = False
    holding: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if self.hold_rcpt:
            self.hold_rcpt = False
            self.holding.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        if self.refuse_data > 0:
            self.refuse_data -= 1
            self.refused.append(message)
            return "451 Try again later"
        self.messages.append(message)
        return "250 Message accepted"


@pytest.fixture
def smtp_server() -> Iterator[tuple[SmtpHandler, int]]:
    """A real SMTP server on 127.0.0.1 for the test; yields (handler, port)."""
    handler = SmtpHandler()
    port = processes.free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        handler.release.set()
        controller.stop()


@pytest.fixture
def smtp(smtp_server: tuple[SmtpHandler, int], settings: Any) -> SmtpHandler:
    """Django sends mail to the test's SMTP server."""
    handler, port = smtp_server
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    settings.DEFAULT_FROM_EMAIL = "service@example.com"
    return handler


@pytest.fixture
def templates(db: None) -> dict[str, NotificationTemplate]:
    """The default templates, by key."""
    sync_default_templates()
    return {t.key: t for t in NotificationTemplate.objects.all()}


def _texts(subject: str, body: str) -> dict[str, str]:
    return {"subject": subject, "body": body}


SIMPLE_CONTENT = {
    "email": {
        "en": _texts("Hi {{ recipient.name }}", "About {{ ticket.number }}"),
        "zh-hans": _texts("您好 {{ recipient.name }}", "关于 {{ ticket.number }}"),
    },
    "in_app": {
        "en": _texts("{{ ticket.number }}", "In-app {{ ticket.subject }}"),
        "zh-hans": _texts("{{ ticket.number }}", "站内 {{ ticket.subject }}"),
    },
}


@pytest.fixture
def make_template(admin_user: User) -> Callable[..., NotificationTemplate]:
    def make(
        key: str = "custom",
        *,
        event: str = "custom",
        audience: str = "staff",
        content: dict[str, Any] | None = None,
    ) -> NotificationTemplate:
        return services.create_template(
            actor=admin_user,
            key=key,
            name=key.title(),
            event=event,
            audience=audience,
            content=content
            or {
                "email": {
                    "en": {
                        "subject": "Hi {{ recipient.name }}",
                        "body": "About {{ ticket.number }}",
                    },
                    "zh-hans": {
                        "subject": "您好 {{ recipient.name }}",
                        "body": "关于 {{ ticket.number }}",
                    },
                },
                "in_app": {
                    "en": {"subject": "{{ ticket.number }}", "body": "In-app {{ ticket.subject }}"},
                    "zh-hans": {
                        "subject": "{{ ticket.number }}",
                        "body": "站内 {{ ticket.subject }}",
                    },
                },
            },
        )

    return make
