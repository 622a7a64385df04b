"""The accounts API: sessions and tokens, errors, translations and optimistic concurrency."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone, translation

from aftersales.accounts import services as accounts
from aftersales.accounts.models import ApiToken, BusinessLine, Team, User
from aftersales.outbox.models import OutboxEvent
from tests.api.support import assert_problem, body_of, fast_hashing, world_state
from tests.conftest import PASSWORD, JsonClient

pytestmark = pytest.mark.usefixtures("fast_hashing")
__all__ = ["fast_hashing"]


# --- Deactivation, sessions and tokens ------------------------------------------------------


def test_deactivation_ends_the_session_and_token_on_the_next_request(
    admin_user: User,
    make_user: Callable[..., User],
    login_client: Callable[[User], JsonClient],
    token_client: Callable[..., JsonClient],
) -> None:
    # given
    agent = make_user("agent", role="agent", scope="all")
    session = login_client(agent)
    token = token_client(agent)
    assert session.get("/api/v1/me").status_code == 200
    assert token.get("/api/v1/me").status_code == 200
    # when
    response = login_client(admin_user).post_json(f"/api/v1/users/{agent.pk}/deactivate")
    # then
    assert response.status_code == 200
    assert body_of(response)["is_active"] is False
    assert_problem(session.get("/api/v1/me"), 401)
    assert_problem(token.get("/api/v1/me"), 401)
    assert list(
        OutboxEvent.objects.filter(topic="user.deactivated").values_list("object_id", flat=True)
    ) == [str(agent.pk)]


def test_nobody_can_deactivate_themself(
    admin_user: User,
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    before = world_state()
    # when
    response = login_client(admin_user).post_json(f"/api/v1/users/{admin_user.pk}/deactivate")
    # then
    body = assert_problem(response, 422)
    assert body["errors"][0]["field"] == "is_active"
    assert world_state() == before


def test_revoked_token_is_refused(
    make_user: Callable[..., User],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    agent = make_user("agent", role="agent", scope="all")
    issued = accounts.create_token(actor=agent, user=agent, name="laptop")
    client = JsonClient(token=issued.secret)
    assert client.get("/api/v1/me").status_code == 200
    # when
    revoked = login_client(agent).delete(f"/api/v1/tokens/{issued.token.pk}")
    # then
    assert revoked.status_code == 204
    assert_problem(client.get("/api/v1/me"), 401)


def test_expired_token_is_refused(make_user: Callable[..., User]) -> None:
    # given
    agent = make_user("agent", role="agent", scope="all")
    issued = accounts.create_token(
        actor=agent, user=agent, name="short", expires_at=timezone.now() + timedelta(hours=1)
    )
    client = JsonClient(token=issued.secret)
    # when
    with time_machine.travel(timezone.now() + timedelta(hours=1, seconds=1)):
        response = client.get("/api/v1/me")
    # then
    assert_problem(response, 401)


def test_unknown_token_is_refused_with_www_authenticate(db: None) -> None:
    # given
    client = JsonClient(token="as_not-a-real-token")
    # when
    response = client.get("/api/v1/users")
    # then
    assert_problem(response, 401)
    assert response["WWW-Authenticate"] == 'Bearer realm="aftersales"'


def test_token_use_records_when_and_from_where(make_user: Callable[..., User]) -> None:
    # given
    agent = make_user("agent", role="agent", scope="all")
    issued = accounts.create_token(actor=agent, user=agent, name="laptop")
    client = JsonClient(token=issued.secret, REMOTE_ADDR="192.0.2.7")
    moment = timezone.now().replace(microsecond=0)
    # when
    with time_machine.travel(moment, tick=False):
        client.get("/api/v1/me")
    # then
    token = ApiToken.objects.get(pk=issued.token.pk)
    assert token.last_used_at == moment
    assert token.last_used_ip == "192.0.2.7"


def test_token_is_stored_only_as_a_hash(make_user: Callable[..., User]) -> None:
    # given
    agent = make_user("agent", role="agent", scope="all")
    # when
    issued = accounts.create_token(actor=agent, user=agent, name="laptop")
    # then
    row = ApiToken.objects.filter(pk=issued.token.pk).values()[0]
    secret_body = issued.secret.removeprefix("as_")
    assert all(secret_body not in str(value) for value in row.values())
    assert row["key_hash"] == accounts.hash_secret(issued.secret)
    assert row["prefix"] == issued.secret[:10]


def test_token_secret_is_returned_once_by_the_api(
    make_user: Callable[..., User],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    agent = make_user("agent", role="agent", scope="all")
    client = login_client(agent)
    # when
    created = client.post_json("/api/v1/tokens", {"name": "laptop", "scopes": ["accounts.*"]})
    listed = client.get("/api/v1/tokens")
    # then
    assert created.status_code == 201
    secret = body_of(created)["token"]
    assert JsonClient(token=secret).get("/api/v1/me").status_code == 200
    assert [item["name"] for item in body_of(listed)["items"]] == ["laptop"]
    assert "token" not in body_of(listed)["items"][0]
    assert secret not in listed.content.decode()


def test_changing_the_password_ends_other_sessions(
    make_user: Callable[..., User],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    agent = make_user("agent", role="agent", scope="all")
    other_session = login_client(agent)
    assert other_session.get("/api/v1/me").status_code == 200
    # when
    accounts.change_password(
        actor=agent, user=agent, new_password="another-long-phrase-42", current_password=PASSWORD
    )
    # then
    assert_problem(other_session.get("/api/v1/me"), 401)
    assert login_client(User.objects.get(pk=agent.pk)).get("/api/v1/me").status_code == 200


# --- Errors -----------------------------------------------------------------------------------


def test_anonymous_request_gets_a_401_problem(db: None, api_client: JsonClient) -> None:
    # when
    response = api_client.get("/api/v1/users", HTTP_ACCEPT_LANGUAGE="en")
    # then
    body = assert_problem(response, 401)
    assert body["type"] == "urn:aftersales:problem:not_authenticated"
    assert body["title"] == "Authentication required"
    assert body["detail"] == "Sign in, or send a valid API token as 'Authorization: Bearer …'."
    assert body["instance"] == "/api/v1/users"


@pytest.mark.parametrize(
    ("_case", "path", "payload", "field", "code"),
    [
        ("missing_username", "/api/v1/users", {"email": "a@example.com"}, "username", "missing"),
        (
            "too_long_name",
            "/api/v1/users",
            {"username": "x", "display_name": "n" * 151},
            "display_name",
            "string_too_long",
        ),
        ("bad_kind", "/api/v1/users", {"username": "x", "kind": "robot"}, "kind", "enum"),
        (
            "bad_line_type",
            "/api/v1/teams",
            {"name": "T", "business_line_id": "north"},
            "business_line_id",
            "int_parsing",
        ),
    ],
)
def test_bad_payload_names_the_field(
    _case: str,
    path: str,
    payload: dict[str, Any],
    field: str,
    code: str,
    admin_user: User,
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    before = world_state()
    # when
    response = login_client(admin_user).post_json(path, payload, HTTP_ACCEPT_LANGUAGE="en")
    # then
    body = assert_problem(response, 422)
    assert body["code"] == "validation_error"
    assert [(e["field"], e["code"]) for e in body["errors"]] == [(field, code)]
    assert world_state() == before


def test_bad_scope_in_a_grant_names_the_scope_field(
    admin_user: User,
    make_user: Callable[..., User],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    target = make_user("target")
    before = world_state()
    # when
    response = login_client(admin_user).post_json(
        f"/api/v1/users/{target.pk}/roles",
        {"role_id": 1, "scope": "galaxy"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    # then
    body = assert_problem(response, 422)
    assert body["errors"] == [
        {
            "field": "scope",
            "code": "enum",
            "detail": "Choose one of: 'own', 'teams', 'business_lines' or 'all'.",
        }
    ]
    assert world_state() == before


def test_too_long_value_message_names_the_limit(
    admin_user: User,
    login_client: Callable[[User], JsonClient],
) -> None:
    # when
    response = login_client(admin_user).post_json(
        "/api/v1/users", {"username": "x", "display_name": "n" * 151}, HTTP_ACCEPT_LANGUAGE="en"
    )
    # then
    assert body_of(response)["errors"][0]["detail"] == "Enter at most 150 characters."


def test_field_errors_are_english_with_accept_language_en(
    admin_user: User,
    login_client: Callable[[User], JsonClient],
) -> None:
    # when
    response = login_client(admin_user).post_json("/api/v1/users", {}, HTTP_ACCEPT_LANGUAGE="en")
    # then
    assert body_of(response)["errors"][0] == {
        "field": "username",
        "code": "missing",
        "detail": "This field is required.",
    }
    assert body_of(response)["title"] == "Invalid request"


def test_field_errors_are_chinese_with_accept_language_zh_hans(
    admin_user: User,
    login_client: Callable[[User], JsonClient],
) -> None:
    """The message is one Django ships in zh-Hans; the project catalogue may word it anew."""
    # given
    with translation.override("zh-hans"):
        expected = translation.gettext("This field is required.")
    # when
    response = login_client(admin_user).post_json(
        "/api/v1/users", {}, HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    # then
    assert expected in {"这个字段是必填项。", "此字段为必填项。"}
    assert body_of(response)["errors"][0] == {
        "field": "username",
        "code": "missing",
        "detail": expected,
    }


def test_session_write_without_csrf_token_is_refused(
    admin_user: User,
) -> None:
    # given
    client = JsonClient(enforce_csrf_checks=True)
    client.force_login(admin_user)
    before = world_state()
    # when
    response = client.post_json("/api/v1/users", {"username": "forged"})
    # then
    assert_problem(response, 403)
    assert world_state() == before


def test_token_write_needs_no_csrf_token(admin_user: User) -> None:
    # given
    issued = accounts.create_token(actor=admin_user, user=admin_user, name="ci")
    client = JsonClient(token=issued.secret, enforce_csrf_checks=True)
    # when
    response = client.post_json("/api/v1/users", {"username": "scripted"})
    # then
    assert response.status_code == 201


def test_domain_error_names_the_field(
    admin_user: User,
    make_user: Callable[..., User],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    make_user("taken")
    before = world_state()
    # when
    response = login_client(admin_user).post_json(
        "/api/v1/users", {"username": "TAKEN"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    # then
    body = assert_problem(response, 422)
    assert body["errors"] == [
        {"field": "username", "code": "username_taken", "detail": "This username is already taken."}
    ]
    assert world_state() == before


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/users/999999",
        "/api/v1/teams/999999",
        "/api/v1/business-lines/999999",
        "/api/v1/roles/999999",
    ],
)
def test_unknown_object_is_a_404_problem(
    path: str,
    admin_user: User,
    login_client: Callable[[User], JsonClient],
) -> None:
    # when
    response = login_client(admin_user).get(path)
    # then
    body = assert_problem(response, 404)
    assert body["code"] == "not_found"


@pytest.mark.parametrize(
    ("_case", "path", "payload", "field"),
    [
        ("user_email", "/api/v1/users/{user}", {"email": None}, "email"),
        ("team_name", "/api/v1/teams/{team}", {"name": None}, "name"),
        ("team_active", "/api/v1/teams/{team}", {"is_active": None}, "is_active"),
        ("line_name", "/api/v1/business-lines/{line}", {"name": None}, "name"),
        ("role_name", "/api/v1/roles/{role}", {"name": None}, "name"),
    ],
)
def test_null_for_a_required_field_is_refused_not_a_server_error(
    _case: str,
    path: str,
    payload: dict[str, Any],
    field: str,
    admin_user: User,
    make_user: Callable[..., User],
    make_team: Callable[..., Team],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    team = make_team()
    role = accounts.create_role(actor=admin_user, key="helpers", name="Helpers")
    ids = {
        "user": make_user("target").pk,
        "team": team.pk,
        "line": team.business_line_id,
        "role": role.pk,
    }
    before = world_state()
    # when
    response = login_client(admin_user).patch_json(path.format(**ids), payload)
    # then
    body = assert_problem(response, 422)
    assert body["errors"][0]["field"] == field
    assert world_state() == before


def test_team_patch_without_a_change_records_nothing(
    admin_user: User,
    make_team: Callable[..., Team],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    team = make_team(name="Printers")
    before = world_state()
    # when
    response = login_client(admin_user).patch_json(f"/api/v1/teams/{team.pk}", {"name": "Printers"})
    # then
    assert response.status_code == 200
    assert world_state() == before


def test_unknown_business_line_in_a_new_user_is_refused(
    admin_user: User,
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    before = world_state()
    # when
    response = login_client(admin_user).post_json(
        "/api/v1/users", {"username": "newbie", "business_lines": [999999]}
    )
    # then
    body = assert_problem(response, 422)
    assert body["errors"][0]["field"] == "business_lines"
    assert world_state() == before


# --- Optimistic concurrency -------------------------------------------------------------------


def test_stale_if_match_is_refused_and_leaves_the_user_unchanged(
    admin_user: User,
    make_user: Callable[..., User],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    target = make_user("target", display_name="Old")
    client = login_client(admin_user)
    etag = client.get(f"/api/v1/users/{target.pk}")["ETag"]
    client.patch_json(f"/api/v1/users/{target.pk}", {"phone": "123"})
    before = world_state()
    # when
    response = client.patch_json(
        f"/api/v1/users/{target.pk}", {"display_name": "New"}, HTTP_IF_MATCH=etag
    )
    # then
    body = assert_problem(response, 412)
    assert body["errors"][0]["field"] == "If-Match"
    assert User.objects.get(pk=target.pk).display_name == "Old"
    assert world_state() == before


def test_matching_if_match_updates_and_returns_a_new_etag(
    admin_user: User,
    make_user: Callable[..., User],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    target = make_user("target", display_name="Old")
    client = login_client(admin_user)
    etag = client.get(f"/api/v1/users/{target.pk}")["ETag"]
    # when
    response = client.patch_json(
        f"/api/v1/users/{target.pk}", {"display_name": "New"}, HTTP_IF_MATCH=etag
    )
    # then
    assert response.status_code == 200
    assert etag == 'W/"1"'
    assert response["ETag"] == 'W/"2"'
    assert body_of(response)["display_name"] == "New"
    assert body_of(response)["version"] == 2


def test_patch_without_a_change_bumps_nothing_and_announces_nothing(
    admin_user: User,
    make_user: Callable[..., User],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    target = make_user("target", display_name="Same")
    before = world_state()
    # when
    response = login_client(admin_user).patch_json(
        f"/api/v1/users/{target.pk}", {"display_name": "Same"}
    )
    # then
    assert response.status_code == 200
    assert world_state() == before


# --- Teams, lines and members through the API -------------------------------------------------


def test_admin_creates_a_team_with_members_and_a_lead(
    admin_user: User,
    make_line: Callable[..., BusinessLine],
    make_user: Callable[..., User],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    line = make_line()
    lead, member = make_user("lead"), make_user("member")
    # when
    response = login_client(admin_user).post_json(
        "/api/v1/teams",
        {
            "name": "Printers",
            "business_line_id": line.pk,
            "lead_id": lead.pk,
            "members": [member.pk],
        },
    )
    # then
    assert response.status_code == 201
    team = Team.objects.get(name="Printers")
    assert body_of(response) == {
        "id": team.pk,
        "name": "Printers",
        "business_line_id": line.pk,
        "description": "",
        "lead_id": lead.pk,
        "is_active": True,
        "members": sorted([lead.pk, member.pk]),
    }


def test_me_patch_changes_only_the_language(
    make_user: Callable[..., User],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    agent = make_user("agent", role="agent", scope="all")
    # when
    response = login_client(agent).patch_json("/api/v1/me", {"language": "en"})
    # then
    assert response.status_code == 200
    assert body_of(response)["language"] == "en"
    assert User.objects.get(pk=agent.pk).language == "en"


def test_token_expiry_without_offset_is_read_in_the_installation_time_zone(
    admin_user: User,
    login_client: Callable[[User], JsonClient],
    settings: Any,
) -> None:
    # given
    settings.TIME_ZONE = "Asia/Shanghai"
    # when
    response = login_client(admin_user).post_json(
        "/api/v1/tokens", {"name": "ci", "expires_at": "2030-01-01T08:00:00"}
    )
    # then
    assert response.status_code == 201
    token = ApiToken.objects.get(name="ci")
    assert token.expires_at.isoformat() == "2030-01-01T00:00:00+00:00"
