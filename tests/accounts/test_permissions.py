"""Who may call which accounts and audit endpoint, and which rows each caller gets to see."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from typing import Any

import pytest

from aftersales.accounts import services as accounts
from aftersales.accounts.models import Role, User
from tests.api.support import assert_problem, body_of, world_state
from tests.conftest import JsonClient

pytestmark = pytest.mark.usefixtures("fast_hashing")

from tests.api.support import fast_hashing  # noqa: E402, F401  (fixture)

ANONYMOUS, CUSTOMER, OUTSIDER, INSIDER, ADMIN = (
    "anonymous",
    "customer",
    "outsider",
    "insider",
    "admin",
)
ACTORS = (ANONYMOUS, CUSTOMER, OUTSIDER, INSIDER, ADMIN)


@pytest.fixture
def world(
    admin_user: User,
    make_line: Callable[..., Any],
    make_team: Callable[..., Any],
    make_user: Callable[..., User],
) -> dict[str, Any]:
    """Two business lines with one team each; agents scoped to "my teams" in either team.

    ``dave`` and the integration user ``robot`` sit in team A, next to ``insider``; the
    ``outsider`` works in team B of the other line.
    """
    line_a = make_line(code="line-a", name="Line A")
    line_b = make_line(code="line-b", name="Line B")
    team_a = make_team(name="Team A", line=line_a)
    team_b = make_team(name="Team B", line=line_b)
    insider = make_user("insider", role="agent", scope="teams", teams=[team_a])
    outsider = make_user("outsider", role="agent", scope="teams", teams=[team_b])
    dave = make_user("dave", role="agent", scope="teams", teams=[team_a])
    robot = make_user("robot", kind=User.Kind.INTEGRATION, teams=[team_a])
    customer = make_user("customer", kind=User.Kind.CUSTOMER)
    reader = accounts.create_role(
        actor=admin_user, key="reader", name="Reader", permissions=["accounts.view_user"]
    )
    dave_token = accounts.create_token(actor=dave, user=dave, name="dave's laptop")
    return {
        "admin": admin_user,
        "line_a": line_a,
        "line_b": line_b,
        "team_a": team_a,
        "team_b": team_b,
        "insider": insider,
        "outsider": outsider,
        "dave": dave,
        "robot": robot,
        "customer": customer,
        "reader": reader,
        "agent_role": Role.objects.get(key="agent"),
        "dave_token": dave_token.token,
    }


def _client_for(
    actor: str, world: dict[str, Any], login_client: Callable[[User], JsonClient]
) -> JsonClient:
    if actor == ANONYMOUS:
        return JsonClient()
    return login_client(world[actor])


def _resolve(value: Any, ids: dict[str, int]) -> Any:
    if isinstance(value, str):
        match = re.fullmatch(r"\{(\w+)\}", value)
        return ids[match.group(1)] if match else value.format(**ids)
    if isinstance(value, list):
        return [_resolve(item, ids) for item in value]
    if isinstance(value, dict):
        return {key: _resolve(item, ids) for key, item in value.items()}
    return value


def _call(client: JsonClient, method: str, path: str, body: Any) -> Any:
    if method == "get":
        return client.get(path)
    if method == "delete":
        return client.delete(path)
    send = {"post": client.post_json, "patch": client.patch_json, "put": client.put_json}[method]
    return send(path, body)


def expect(customer: int, outsider: int, insider: int, admin: int) -> dict[str, int]:
    return {ANONYMOUS: 401, CUSTOMER: customer, OUTSIDER: outsider, INSIDER: insider, ADMIN: admin}


# (label, method, path, body, expected status per actor). Targets live in team A / line A.
ENDPOINTS = [
    ("me", "get", "/api/v1/me", None, expect(200, 200, 200, 200)),
    ("me_patch", "patch", "/api/v1/me", {"language": "en"}, expect(200, 200, 200, 200)),
    ("users_list", "get", "/api/v1/users", None, expect(200, 200, 200, 200)),
    ("users_export", "get", "/api/v1/users/export", None, expect(403, 403, 403, 200)),
    ("user_create", "post", "/api/v1/users", {"username": "newbie"}, expect(403, 403, 403, 201)),
    ("user_get", "get", "/api/v1/users/{dave}", None, expect(404, 404, 200, 200)),
    (
        "user_patch",
        "patch",
        "/api/v1/users/{dave}",
        {"display_name": "Dave D."},
        expect(404, 404, 403, 200),
    ),
    (
        "user_deactivate",
        "post",
        "/api/v1/users/{dave}/deactivate",
        None,
        expect(404, 404, 403, 200),
    ),
    ("user_activate", "post", "/api/v1/users/{dave}/activate", None, expect(404, 404, 403, 200)),
    (
        "user_grant",
        "post",
        "/api/v1/users/{dave}/roles",
        {"role_id": "{reader}", "scope": "teams"},
        expect(404, 404, 403, 201),
    ),
    (
        "user_revoke",
        "delete",
        "/api/v1/users/{dave}/roles/{agent_role}",
        None,
        expect(404, 404, 403, 204),
    ),
    ("teams_list", "get", "/api/v1/teams", None, expect(200, 200, 200, 200)),
    (
        "team_create",
        "post",
        "/api/v1/teams",
        {"name": "Team C", "business_line_id": "{line_a}"},
        expect(404, 404, 403, 201),
    ),
    ("team_get", "get", "/api/v1/teams/{team_a}", None, expect(404, 404, 200, 200)),
    (
        "team_patch",
        "patch",
        "/api/v1/teams/{team_a}",
        {"description": "Front desk"},
        expect(404, 404, 403, 200),
    ),
    (
        "team_members",
        "put",
        "/api/v1/teams/{team_a}/members",
        {"members": ["{insider}"]},
        expect(404, 404, 403, 200),
    ),
    ("lines_list", "get", "/api/v1/business-lines", None, expect(200, 200, 200, 200)),
    (
        "line_create",
        "post",
        "/api/v1/business-lines",
        {"code": "line-c", "name": "Line C"},
        expect(403, 403, 403, 201),
    ),
    ("line_get", "get", "/api/v1/business-lines/{line_a}", None, expect(404, 404, 200, 200)),
    (
        "line_patch",
        "patch",
        "/api/v1/business-lines/{line_a}",
        {"description": "Printers"},
        expect(404, 404, 403, 200),
    ),
    ("permissions", "get", "/api/v1/permissions", None, expect(403, 403, 403, 200)),
    ("roles_list", "get", "/api/v1/roles", None, expect(200, 200, 200, 200)),
    (
        "role_create",
        "post",
        "/api/v1/roles",
        {"key": "helper", "name": "Helper", "permissions": ["accounts.view_user"]},
        expect(403, 403, 403, 201),
    ),
    ("role_get", "get", "/api/v1/roles/{reader}", None, expect(404, 404, 404, 200)),
    (
        "role_patch",
        "patch",
        "/api/v1/roles/{reader}",
        {"name": "Readers"},
        expect(404, 404, 404, 200),
    ),
    ("role_delete", "delete", "/api/v1/roles/{reader}", None, expect(404, 404, 404, 204)),
    (
        "role_copy",
        "post",
        "/api/v1/roles/{agent_role}/copy",
        {"key": "agent-2", "name": "Agent 2"},
        expect(404, 404, 404, 201),
    ),
    ("tokens_list", "get", "/api/v1/tokens", None, expect(200, 200, 200, 200)),
    (
        "token_create",
        "post",
        "/api/v1/tokens",
        {"name": "ci", "user_id": "{robot}"},
        expect(404, 404, 403, 201),
    ),
    ("token_revoke", "delete", "/api/v1/tokens/{dave_token}", None, expect(404, 404, 404, 204)),
    ("audit_list", "get", "/api/v1/audit", None, expect(403, 403, 403, 200)),
    ("audit_export", "get", "/api/v1/audit/export", None, expect(403, 403, 403, 200)),
]


@pytest.mark.parametrize(
    ("_case", "method", "path", "body", "expected"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS]
)
@pytest.mark.parametrize("actor", ACTORS)
def test_endpoint_answers_each_kind_of_caller_as_the_matrix_says(
    _case: str,
    method: str,
    path: str,
    body: Any,
    expected: dict[str, int],
    actor: str,
    world: dict[str, Any],
    login_client: Callable[[User], JsonClient],
) -> None:
    """Anonymous → 401; customer and out-of-scope agent → 403/404; in-scope agent may read."""
    # given
    ids = {key: value.pk for key, value in world.items()}
    client = _client_for(actor, world, login_client)
    before = world_state()
    # when
    response = _call(client, method, _resolve(path, ids), _resolve(body, ids))
    # then
    status = expected[actor]
    if status >= 400:
        problem = assert_problem(response, status)
        assert world_state() == before
        if status == 401:
            assert response["WWW-Authenticate"] == 'Bearer realm="aftersales"'
            assert problem["code"] == "not_authenticated"
    else:
        assert response.status_code == status, response.content


# --- What each scope lets through -------------------------------------------------------------


def _walk(client: JsonClient, path: str, key: str = "username") -> list[Any]:
    """Every item of a list endpoint, following ``next_cursor`` two at a time."""
    seen: list[Any] = []
    cursor = None
    for _page in range(100):
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(path + query)
        assert response.status_code == 200, response.content
        page = body_of(response)
        seen += [item[key] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("pagination did not end")


def test_agent_scoped_to_teams_gets_404_for_user_of_another_team(
    world: dict[str, Any],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    client = login_client(world["insider"])
    # when
    response = client.get(f"/api/v1/users/{world['outsider'].pk}")
    # then
    assert_problem(response, 404)


def test_agent_scoped_to_teams_gets_404_for_another_team(
    world: dict[str, Any],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    client = login_client(world["insider"])
    # when
    response = client.get(f"/api/v1/teams/{world['team_b'].pk}")
    # then
    assert_problem(response, 404)


def test_agent_scoped_to_teams_lists_only_users_of_their_teams_on_every_page(
    world: dict[str, Any],
    login_client: Callable[[User], JsonClient],
    make_user: Callable[..., User],
) -> None:
    # given
    for number in range(4):
        make_user(f"b-extra-{number}", teams=[world["team_b"]])
    client = login_client(world["insider"])
    # when
    usernames = _walk(client, "/api/v1/users")
    # then
    assert usernames == ["insider", "dave", "robot"]


def test_agent_scoped_to_teams_lists_only_their_teams(
    world: dict[str, Any],
    login_client: Callable[[User], JsonClient],
    make_team: Callable[..., Any],
) -> None:
    # given
    for number in range(3):
        make_team(name=f"Team B{number}", line=world["line_b"])
    client = login_client(world["insider"])
    # when
    names = _walk(client, "/api/v1/teams", key="name")
    # then
    assert names == ["Team A"]


def test_export_with_team_scope_holds_only_users_of_the_team(
    world: dict[str, Any],
    admin_user: User,
    make_user: Callable[..., User],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    exporter_role = accounts.create_role(
        actor=admin_user,
        key="exporter",
        name="Exporter",
        permissions=["accounts.view_user", "accounts.export_user"],
    )
    exporter = make_user("exporter", teams=[world["team_a"]])
    accounts.grant_role(actor=admin_user, user=exporter, role=exporter_role, scope="teams")
    client = login_client(exporter)
    # when
    response = client.get("/api/v1/users/export")
    # then
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [row["username"] for row in rows] == ["insider", "dave", "robot", "exporter"]


def test_business_line_scope_reaches_other_teams_of_the_same_line(
    world: dict[str, Any],
    make_team: Callable[..., Any],
    make_user: Callable[..., User],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    team_a2 = make_team(name="Team A2", line=world["line_a"])
    colleague = make_user("colleague", teams=[team_a2])
    manager = make_user("manager", role="agent", scope="business_lines", teams=[world["team_a"]])
    client = login_client(manager)
    # when
    team_response = client.get(f"/api/v1/teams/{team_a2.pk}")
    other_line_response = client.get(f"/api/v1/teams/{world['team_b'].pk}")
    user_response = client.get(f"/api/v1/users/{colleague.pk}")
    # then
    assert team_response.status_code == 200
    assert body_of(team_response)["name"] == "Team A2"
    assert_problem(other_line_response, 404)
    assert user_response.status_code == 200
    assert _walk(client, "/api/v1/teams", key="name") == ["Team A", "Team A2"]
    assert sorted(_walk(client, "/api/v1/users")) == [
        "colleague",
        "dave",
        "insider",
        "manager",
        "robot",
    ]


def test_own_scope_sees_only_oneself(
    world: dict[str, Any],
    make_user: Callable[..., User],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    loner = make_user("loner", role="agent", scope="own", teams=[world["team_a"]])
    client = login_client(loner)
    # when
    usernames = _walk(client, "/api/v1/users")
    dave_response = client.get(f"/api/v1/users/{world['dave'].pk}")
    # then
    assert usernames == ["loner"]
    assert_problem(dave_response, 404)
    assert _walk(client, "/api/v1/teams", key="name") == []


@pytest.mark.parametrize(
    "path",
    ["/api/v1/users", "/api/v1/teams", "/api/v1/business-lines", "/api/v1/roles", "/api/v1/tokens"],
)
def test_customer_contact_sees_empty_lists(
    path: str,
    world: dict[str, Any],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    client = login_client(world["customer"])
    # when
    response = client.get(path)
    # then
    assert response.status_code == 200
    assert body_of(response) == {"items": [], "next_cursor": None}


def test_customer_contact_reads_themself_through_me(
    world: dict[str, Any],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    client = login_client(world["customer"])
    # when
    response = client.get("/api/v1/me")
    # then
    assert response.status_code == 200
    assert body_of(response)["username"] == "customer"
    assert body_of(response)["kind"] == "customer"
    assert body_of(response)["roles"] is None


def test_roles_field_is_hidden_without_view_role(
    world: dict[str, Any],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    client = login_client(world["insider"])
    # when
    response = client.get(f"/api/v1/users/{world['dave'].pk}")
    # then
    assert body_of(response)["roles"] is None


def test_admin_sees_roles_of_a_user(
    world: dict[str, Any],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    client = login_client(world["admin"])
    # when
    response = client.get(f"/api/v1/users/{world['dave'].pk}", HTTP_ACCEPT_LANGUAGE="en")
    # then
    assert body_of(response)["roles"] == [
        {"role_id": world["agent_role"].pk, "role_key": "agent", "role": "Agent", "scope": "teams"},
    ]


# --- Query counts do not grow with rows -------------------------------------------------------


def _queries_for(
    client: JsonClient, path: str, django_assert_num_queries: Any, expected: int
) -> None:
    with django_assert_num_queries(expected):
        response = client.get(path)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/v1/users", 7),
        ("/api/v1/teams", 4),
        ("/api/v1/business-lines", 3),
        ("/api/v1/roles", 3),
        ("/api/v1/tokens", 3),
        ("/api/v1/audit", 3),
    ],
)
def test_list_query_count_is_the_same_for_3_and_30_rows(
    path: str,
    expected: int,
    admin_user: User,
    make_user: Callable[..., User],
    make_team: Callable[..., Any],
    make_line: Callable[..., Any],
    token_client: Callable[..., JsonClient],
    django_assert_num_queries: Any,
) -> None:
    """Admin by token: token, grants, the page, and one query per prefetched relation."""
    # given
    client = token_client(admin_user)
    client.get("/api/v1/me")  # the first use records last_used_at; later ones within a minute not

    def grow_to(count: int) -> None:
        line = make_line()
        team = make_team(line=line)
        while User.objects.count() < count:
            user = make_user(role="agent", scope="teams", teams=[team], lines=[line])
            accounts.create_token(actor=user, user=user, name="t")
            make_team(line=line)
            make_line()
        while Role.objects.count() < count:
            accounts.create_role(
                actor=admin_user,
                key=f"role-{Role.objects.count()}",
                name="Role",
                permissions=["accounts.view_user"],
            )

    grow_to(3)
    _queries_for(client, path + "?limit=200", django_assert_num_queries, expected)
    # when
    grow_to(30)
    # then
    _queries_for(client, path + "?limit=200", django_assert_num_queries, expected)
