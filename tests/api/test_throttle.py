"""Per-caller rate limits."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from django.core.cache import cache

from aftersales.accounts.models import User
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
