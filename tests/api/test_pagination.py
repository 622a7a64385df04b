"""Cursor pagination: stable under inserts, strict about what it accepts."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pytest

from aftersales.accounts.models import User
from aftersales.api.pagination import paginate
from tests.api.support import assert_problem, body_of
from tests.conftest import JsonClient

pytestmark = pytest.mark.usefixtures("fast_hashing")


def _cursor(values: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def test_walking_pages_of_two_sees_every_user_once_even_with_an_insert_between_pages(
    admin_user: User,
    make_user: Callable[..., User],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    for number in range(6):
        make_user(f"user-{number}")
    expected = list(User.objects.order_by("pk").values_list("username", flat=True))
    client = login_client(admin_user)
    seen: list[str] = []
    cursor = None
    pages = 0
    # when
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = body_of(client.get("/api/v1/users" + query))
        seen += [item["username"] for item in page["items"]]
        pages += 1
        if pages == 1:
            make_user("late-comer")
        cursor = page["next_cursor"]
        if cursor is None:
            break
    # then
    assert len(expected) == 7
    assert seen == [*expected, "late-comer"]
    assert pages == 4


def test_last_full_page_has_no_next_cursor(
    admin_user: User,
    make_user: Callable[..., User],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    make_user("second")
    client = login_client(admin_user)
    # when
    page = body_of(client.get("/api/v1/users?limit=2"))
    # then
    assert [item["username"] for item in page["items"]] == ["root-admin", "second"]
    assert page["next_cursor"] is None


def test_newest_first_lists_walk_backwards(
    admin_user: User,
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    client = login_client(admin_user)
    for number in range(5):
        client.post_json("/api/v1/tokens", {"name": f"token-{number}"})
    # when
    first = body_of(client.get("/api/v1/tokens?limit=3"))
    second = body_of(client.get(f"/api/v1/tokens?limit=3&cursor={first['next_cursor']}"))
    # then
    names = [item["name"] for item in first["items"] + second["items"]]
    assert names == ["token-4", "token-3", "token-2", "token-1", "token-0"]
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    ("_case", "cursor"),
    [
        ("not_base64", "!!!"),
        ("not_json", base64.urlsafe_b64encode(b"\xff\xfe").decode()),
        ("object", _cursor({"pk": 1})),
        ("one_value", _cursor([1])),
        ("text_pk", _cursor(["x", "y"])),
        ("float_pk", _cursor([1.5, 1.5])),
        ("bool_pk", _cursor([True, True])),
    ],
)
def test_invalid_cursor_is_a_422_naming_the_cursor(
    _case: str,
    cursor: str,
    admin_user: User,
    login_client: Callable[[User], JsonClient],
) -> None:
    # when
    response = login_client(admin_user).get(f"/api/v1/users?cursor={cursor}")
    # then
    body = assert_problem(response, 422)
    assert body["errors"][0]["field"] == "cursor"


@pytest.mark.parametrize("limit", ["0", "-1", "201", "many"])
def test_out_of_range_limit_is_a_422_naming_the_limit(
    limit: str,
    admin_user: User,
    login_client: Callable[[User], JsonClient],
) -> None:
    # when
    response = login_client(admin_user).get(f"/api/v1/users?limit={limit}")
    # then
    body = assert_problem(response, 422)
    assert [error["field"] for error in body["errors"]] == ["limit"]


@pytest.mark.parametrize("descending", [False, True])
def test_pages_by_a_field_with_ties_see_every_row_once_in_order(
    admin_user: User, make_user: Callable[..., User], descending: bool
) -> None:
    """Rows sharing the sort value are told apart by primary key, in both directions."""
    # given
    for number in range(7):
        make_user(f"tied-{number}", display_name="Same" if number % 3 else "Other")
    people = User.objects.filter(username__startswith="tied-")
    sign = "-" if descending else ""
    expected = list(
        people.order_by(f"{sign}display_name", f"{sign}pk").values_list("pk", flat=True)
    )
    seen: list[int] = []
    cursor = None
    # when
    while True:
        page = paginate(
            people, cursor=cursor, limit=2, order_field="display_name", descending=descending
        )
        seen += [person.pk for person in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    # then
    assert len(expected) == 7
    assert seen == expected
