"""Idempotency-Key: a retried POST never repeats its effect, even when sent in parallel."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from aftersales.accounts import services as accounts
from aftersales.accounts.models import User
from aftersales.api.models import IdempotencyRecord
from aftersales.outbox.models import OutboxEvent
from tests.api.support import assert_problem, body_of, world_state
from tests.conftest import JsonClient

pytestmark = pytest.mark.usefixtures("fast_hashing")


def test_retry_with_the_same_key_and_body_replays_the_first_response(
    admin_user: User,
    token_client: Callable[..., JsonClient],
) -> None:
    # given
    client = token_client(admin_user)
    first = client.post_json("/api/v1/users", {"username": "once"}, HTTP_IDEMPOTENCY_KEY="k-1")
    # when
    second = client.post_json("/api/v1/users", {"username": "once"}, HTTP_IDEMPOTENCY_KEY="k-1")
    # then
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first
    assert second.status_code == 201
    assert second["Idempotent-Replayed"] == "true"
    assert second.content == first.content
    assert User.objects.filter(username="once").count() == 1
    assert OutboxEvent.objects.filter(topic="user.created", payload__username="once").count() == 1


def test_same_key_with_another_body_is_refused_and_creates_nothing(
    admin_user: User,
    token_client: Callable[..., JsonClient],
) -> None:
    # given
    client = token_client(admin_user)
    client.post_json("/api/v1/users", {"username": "first"}, HTTP_IDEMPOTENCY_KEY="k-1")
    before = world_state()
    # when
    response = client.post_json("/api/v1/users", {"username": "second"}, HTTP_IDEMPOTENCY_KEY="k-1")
    # then
    body = assert_problem(response, 422)
    assert body["code"] == "idempotency_key_reused"
    assert body["errors"][0]["field"] == "Idempotency-Key"
    assert User.objects.filter(username="second").exists() is False
    assert world_state() == before


def test_same_key_on_another_path_is_refused(
    admin_user: User,
    token_client: Callable[..., JsonClient],
) -> None:
    # given
    client = token_client(admin_user)
    client.post_json(
        "/api/v1/business-lines", {"code": "x", "name": "X"}, HTTP_IDEMPOTENCY_KEY="k-1"
    )
    before = world_state()
    # when
    response = client.post_json(
        "/api/v1/roles", {"code": "x", "name": "X"}, HTTP_IDEMPOTENCY_KEY="k-1"
    )
    # then
    assert_problem(response, 422)
    assert world_state() == before


def test_keys_belong_to_their_caller(
    admin_user: User,
    make_user: Callable[..., User],
    token_client: Callable[..., JsonClient],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    other_admin = make_user("other-admin", role="admin", scope="all")
    token_client(admin_user).post_json(
        "/api/v1/users", {"username": "alpha"}, HTTP_IDEMPOTENCY_KEY="shared"
    )
    # when
    response = login_client(other_admin).post_json(
        "/api/v1/users", {"username": "beta"}, HTTP_IDEMPOTENCY_KEY="shared"
    )
    # then
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert body_of(response)["username"] == "beta"
    assert User.objects.filter(username__in=["alpha", "beta"]).count() == 2


def test_refused_request_is_not_stored_so_a_retry_runs_again(
    admin_user: User,
    make_user: Callable[..., User],
    token_client: Callable[..., JsonClient],
) -> None:
    """A 401 says "try again": the key is released, not spent on the failure."""
    # given
    issued = accounts.create_token(actor=admin_user, user=admin_user, name="soon revoked")
    accounts.revoke_token(actor=admin_user, token=issued.token)
    JsonClient(token=issued.secret).post_json(
        "/api/v1/users", {"username": "x"}, HTTP_IDEMPOTENCY_KEY="k-1"
    )
    # when
    records = IdempotencyRecord.objects.count()
    # then
    assert records == 0


def test_overlong_key_is_refused(
    admin_user: User,
    token_client: Callable[..., JsonClient],
) -> None:
    # given
    client = token_client(admin_user)
    before = world_state()
    # when
    response = client.post_json("/api/v1/users", {"username": "x"}, HTTP_IDEMPOTENCY_KEY="k" * 256)
    # then
    body = assert_problem(response, 422)
    assert body["errors"][0]["field"] == "Idempotency-Key"
    assert world_state() == before


@pytest.mark.django_db(transaction=True)
def test_parallel_duplicates_have_exactly_one_effect(
    admin_user: User,
    token_client: Callable[..., JsonClient],
) -> None:
    # given
    issued = accounts.create_token(actor=admin_user, user=admin_user, name="parallel")
    threads_count = 6
    barrier = threading.Barrier(threads_count)
    responses: list[Any] = []
    errors: list[BaseException] = []

    def post() -> None:
        try:
            client = JsonClient(token=issued.secret)
            barrier.wait(timeout=10)
            responses.append(
                client.post_json(
                    "/api/v1/users", {"username": "racer"}, HTTP_IDEMPOTENCY_KEY="race-1"
                )
            )
        except BaseException as error:  # reported by the main thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(threads_count)]
    # when
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # then
    assert errors == []
    statuses = sorted(r.status_code for r in responses)
    assert len(statuses) == threads_count
    assert set(statuses) <= {201, 409}
    assert User.objects.filter(username="racer").count() == 1
    created = [r for r in responses if r.status_code == 201]
    originals = [r for r in created if "Idempotent-Replayed" not in r]
    assert len(originals) == 1
    assert {r.content for r in created} == {originals[0].content}
    assert OutboxEvent.objects.filter(topic="user.created", payload__username="racer").count() == 1
