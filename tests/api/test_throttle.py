"""Per-caller rate limits."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.test import RequestFactory

from aftersales.accounts.models import User
from aftersales.api.throttle import CallerRateThrottle
from tests.api.support import assert_problem
from tests.conftest import JsonClient

pytestmark = pytest.mark.usefixtures("fast_hashing")

START_OF_A_MINUTE = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def five_per_minute(settings: Any) -> Iterator[None]:
    settings.API_RATE_LIMIT = "5/min"
    cache.clear()
    yield
    cache.clear()


def test_sixth_call_in_a_minute_is_refused_with_retry_after(
    admin_user: User,
    token_client: Callable[..., JsonClient],
) -> None:
    # given
    client = token_client(admin_user)
    with time_machine.travel(START_OF_A_MINUTE, tick=False):
        statuses = [client.get("/api/v1/me").status_code for _ in range(5)]
        # when
        with time_machine.travel(START_OF_A_MINUTE.replace(second=20), tick=False):
            response = client.get("/api/v1/me")
    # then
    assert statuses == [200, 200, 200, 200, 200]
    body = assert_problem(response, 429)
    assert body["code"] == "rate_limited"
    assert response["Retry-After"] == "40"


def test_another_token_keeps_its_own_budget(
    admin_user: User,
    token_client: Callable[..., JsonClient],
) -> None:
    # given
    busy, quiet = token_client(admin_user), token_client(admin_user)
    with time_machine.travel(START_OF_A_MINUTE, tick=False):
        for _ in range(6):
            busy.get("/api/v1/me")
        # when
        response = quiet.get("/api/v1/me")
        refused = busy.get("/api/v1/me")
    # then
    assert response.status_code == 200
    assert refused.status_code == 429


def test_budget_returns_in_the_next_window(
    admin_user: User,
    token_client: Callable[..., JsonClient],
) -> None:
    # given
    client = token_client(admin_user)
    with time_machine.travel(START_OF_A_MINUTE, tick=False):
        for _ in range(6):
            client.get("/api/v1/me")
    # when
    with time_machine.travel(START_OF_A_MINUTE.replace(minute=1), tick=False):
        response = client.get("/api/v1/me")
    # then
    assert response.status_code == 200


def test_each_thread_reads_the_wait_of_its_own_refusal(db: None) -> None:
    """One throttle object serves every thread of the server."""
    # given
    throttle = CallerRateThrottle("1/min")
    factory = RequestFactory()
    first, second = (
        factory.get("/", REMOTE_ADDR="192.0.2.1"),
        factory.get("/", REMOTE_ADDR="192.0.2.2"),
    )
    first.user = second.user = AnonymousUser()
    refused, read_now = threading.Event(), threading.Event()
    waits: dict[str, float | None] = {}

    def first_caller() -> None:
        throttle.allow_request(first)
        throttle.allow_request(first)
        refused.set()
        read_now.wait(timeout=10)
        waits["first"] = throttle.wait()

    with time_machine.travel(START_OF_A_MINUTE.replace(second=10), tick=False):
        thread = threading.Thread(target=first_caller)
        thread.start()
        refused.wait(timeout=10)
    # when
    with time_machine.travel(START_OF_A_MINUTE.replace(second=40), tick=False):
        throttle.allow_request(second)
        throttle.allow_request(second)
        waits["second"] = throttle.wait()
    read_now.set()
    thread.join(timeout=10)
    # then
    assert waits == {"first": 50.0, "second": 20.0}
