"""Concurrent requests without an Idempotency-Key: the database decides, the API explains."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from aftersales.accounts import services as accounts
from aftersales.accounts.models import User
from tests.conftest import JsonClient

pytestmark = pytest.mark.usefixtures("fast_hashing")


@pytest.mark.django_db(transaction=True)
def test_parallel_creation_of_one_username_creates_it_once_and_refuses_the_rest(
    admin_user: User,
) -> None:
    """Without an Idempotency-Key the race is real; the loser gets 422, never 500."""
    # given
    issued = accounts.create_token(actor=admin_user, user=admin_user, name="parallel")
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def post() -> None:
        try:
            client = JsonClient(token=issued.secret)
            barrier.wait(timeout=10)
            statuses.append(client.post_json("/api/v1/users", {"username": "twin"}).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(4)]
    # when
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # then
    assert sorted(statuses) == [201, 422, 422, 422]
    assert User.objects.filter(username="twin").count() == 1
