"""API authentication: bearer tokens and sessions."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from aftersales.accounts.models import User
from tests.api.support import assert_problem, body_of
from tests.conftest import JsonClient

pytestmark = pytest.mark.usefixtures("fast_hashing")


def test_token_user_language_wins_over_the_default(
    make_user: Callable[..., User],
    token_client: Callable[..., JsonClient],
) -> None:
    """A person who chose English gets English errors by token too, as in the browser."""
    # given
    user = make_user("anglophone", role="admin", scope="all", language="en")
    client = token_client(user)
    # when
    response = client.post_json("/api/v1/users", {})
    # then
    body = assert_problem(response, 422)
    assert body["errors"][0]["detail"] == "This field is required."
    assert response["Content-Language"] == "en"


def test_session_user_language_wins_over_the_default(
    make_user: Callable[..., User],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    user = make_user("anglophone", role="admin", scope="all", language="en")
    # when
    response = login_client(user).post_json("/api/v1/users", {})
    # then
    assert body_of(response)["errors"][0]["detail"] == "This field is required."


def test_malformed_authorization_header_is_a_401(db: None) -> None:
    # given
    client = JsonClient(HTTP_AUTHORIZATION="Token abc")
    # when
    response = client.get("/api/v1/me")
    # then
    assert_problem(response, 401)
