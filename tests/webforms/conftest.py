"""Fixtures for web-form tests: the service desk of the ticket tests, a published form on
line A's repair type, and a visitor who posts it the way a browser would."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest
import time_machine
from django.test import Client

from aftersales.accounts.models import User
from aftersales.customers import services as customer_services
from aftersales.customers.models import CustomerTier
from aftersales.webforms import services
from aftersales.webforms.models import WebForm
from tests.api.support import fast_hashing  # noqa: F401
from tests.tickets.conftest import (  # noqa: F401
    _fast_passwords,
    _media_in_tmp,
    desk,
    make_type,
)

SITE = "https://shop.example.com"
TOKEN = re.compile(r'name="token" value="([^"]+)"')


@pytest.fixture(autouse=True)
def _default_tier(admin_user: User) -> None:
    """New customers need a default tier; a transactional test may have flushed the seeded one."""
    if not CustomerTier.objects.filter(is_default=True).exists():
        customer_services.create_tier(
            actor=admin_user, key="normal", name_zh="普通", name_en="Normal", is_default=True
        )


@pytest.fixture
def make_form(desk: dict[str, Any]) -> Callable[..., WebForm]:
    """make_form(**values) → a web form on line A's repair type, for team A, open to SITE."""

    def make(**values: Any) -> WebForm:
        defaults: dict[str, Any] = {
            "name": "Repair request",
            "ticket_type": desk["repair"],
            "team": desk["team_a"],
            "allowed_origins": [SITE],
            "success_message_en": "Thanks! We will call you back.",
            "success_message_zh": "谢谢！我们会尽快联系您。",
        }
        return services.create_web_form(actor=desk["admin"], values={**defaults, **values})

    return make


@pytest.fixture
def web_form(make_form: Callable[..., WebForm]) -> WebForm:
    return make_form()


def token_of(html: str) -> str:
    found = TOKEN.search(html)
    assert found is not None, "the page holds no form token"
    return found.group(1)


class Visitor:
    """A browser on another site: loads the form, waits like a person, posts it."""

    def __init__(self, address: str = "203.0.113.7") -> None:
        self.client = Client(REMOTE_ADDR=address, HTTP_ACCEPT_LANGUAGE="en")

    def open(self, web_form: WebForm, **query: str) -> Any:
        return self.client.get(f"/forms/{web_form.key}/", query)

    def token(self, web_form: WebForm) -> str:
        return token_of(self.open(web_form).content.decode())

    def post(
        self,
        web_form: WebForm,
        data: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        origin: str | None = None,
        wait: float = 10,
    ) -> Any:
        fields = {
            "name": "Wang Fang",
            "email": "wang.fang@example.com",
            "phone": "",
            "subject": "Washing machine does not drain",
            "description": "E3 on the display.\nWater stays in the drum.",
            **(data or {}),
        }
        if "token" not in fields:
            fields["token"] = token if token is not None else self.token(web_form)
        headers = {"HTTP_ORIGIN": origin} if origin else {}
        with later(wait):
            return self.client.post(f"/forms/{web_form.key}/", fields, follow=True, **headers)


class later:
    """Shift the clock forward by ``seconds`` while posting (a person takes time to type)."""

    def __init__(self, seconds: float) -> None:
        self.traveller = time_machine.travel(time.time() + seconds, tick=True)

    def __enter__(self) -> None:
        self.traveller.start()

    def __exit__(self, *exc: object) -> None:
        self.traveller.stop()


@pytest.fixture
def visitor() -> Visitor:
    return Visitor()
