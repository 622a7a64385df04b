"""``aftersales token``: issue, list and revoke API tokens from the console."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from aftersales.accounts import services as accounts
from aftersales.accounts.models import ApiToken, User
from tests.api.support import body_of, fast_hashing
from tests.conftest import JsonClient

pytestmark = pytest.mark.usefixtures("fast_hashing")
__all__ = ["fast_hashing"]


def test_create_prints_a_token_that_authenticates(make_user: Callable[..., User]) -> None:
    # given
    make_user("robot", kind=User.Kind.INTEGRATION, role="agent", scope="all")
    out = io.StringIO()
    # when
    call_command("token", "create", "robot", "--name", "sync", stdout=out)
    # then
    secret = out.getvalue().strip()
    response = JsonClient(token=secret).get("/api/v1/me")
    assert response.status_code == 200
    assert body_of(response)["username"] == "robot"
    assert list(ApiToken.objects.values_list("name", "scopes")) == [("sync", ["*"])]


def test_create_with_scopes_and_expiry(make_user: Callable[..., User]) -> None:
    # given
    make_user("robot", kind=User.Kind.INTEGRATION)
    # when
    call_command(
        "token",
        "create",
        "robot",
        "--scope",
        "accounts.view_*",
        "--days",
        "30",
        stdout=io.StringIO(),
    )
    # then
    token = ApiToken.objects.get()
    assert token.scopes == ["accounts.view_*"]
    assert token.expires_at is not None


def test_create_for_an_unknown_user_explains_itself(db: None) -> None:
    # when
    with pytest.raises(CommandError) as raised:
        call_command("token", "create", "nobody", stdout=io.StringIO())
    # then
    assert str(raised.value) == "There is no user named 'nobody'."
    assert ApiToken.objects.count() == 0


def test_create_for_a_deactivated_user_is_refused(
    admin_user: User,
    make_user: Callable[..., User],
) -> None:
    # given
    robot = make_user("robot", kind=User.Kind.INTEGRATION)
    accounts.set_user_active(actor=admin_user, user=robot, is_active=False)
    # when
    with pytest.raises(CommandError) as raised:
        call_command("token", "create", "robot", stdout=io.StringIO())
    # then
    assert str(raised.value) == "User 'robot' is deactivated."
    assert ApiToken.objects.count() == 0


def test_create_for_a_customer_contact_is_refused(make_user: Callable[..., User]) -> None:
    # given
    make_user("client", kind=User.Kind.CUSTOMER)
    # when
    with translation.override("en"), pytest.raises(CommandError) as raised:
        call_command("token", "create", "client", stdout=io.StringIO())
    # then
    assert str(raised.value) == "Customer contacts cannot hold API tokens."
    assert ApiToken.objects.count() == 0


def test_list_and_revoke(make_user: Callable[..., User]) -> None:
    # given
    robot = make_user("robot", kind=User.Kind.INTEGRATION)
    issued = accounts.create_token(actor=robot, user=robot, name="sync")
    # when
    call_command("token", "revoke", str(issued.token.pk), stdout=io.StringIO())
    listing = io.StringIO()
    call_command("token", "list", "robot", stdout=listing)
    # then
    assert listing.getvalue() == f"{issued.token.pk}\t{issued.token.prefix}…\tsync\trevoked\n"
    assert JsonClient(token=issued.secret).get("/api/v1/me").status_code == 401


def test_revoke_of_an_unknown_token_explains_itself(db: None) -> None:
    # when
    with pytest.raises(CommandError) as raised:
        call_command("token", "revoke", "424242", stdout=io.StringIO())
    # then
    assert str(raised.value) == "There is no token with id 424242."
