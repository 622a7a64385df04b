"""``/api/v1/webforms`` (staff configuration) and ``/api/v1/forms/{key}`` (public, CORS)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import time_machine

from aftersales.accounts import services as accounts
from aftersales.accounts.models import User
from aftersales.audit.models import AuditEntry
from aftersales.outbox.models import OutboxEvent
from aftersales.tickets.models import Ticket
from aftersales.webforms.models import WebForm
from tests.conftest import JsonClient
from tests.webforms.conftest import SITE

pytestmark = pytest.mark.django_db

ACTIONS = ("view", "add", "change", "delete")
BODY = {
    "name": "Wang Fang",
    "email": "wang.fang@example.com",
    "subject": "Washing machine does not drain",
    "description": "E3",
}


@pytest.fixture
def line_manager(desk: dict[str, Any], make_user: Callable[..., User]) -> Callable[..., User]:
    """line_manager(line) → someone holding every web-form permission for that line only."""

    def make(line: Any) -> User:
        role = accounts.create_role(
            actor=desk["admin"],
            key=f"forms-{line.code}",
            name=f"Web forms {line.code}",
            permissions=[f"webforms.{action}_webform" for action in ACTIONS],
        )
        user = make_user(lines=[line])
        accounts.grant_role(actor=desk["admin"], user=user, role=role, scope="business_lines")
        return User.objects.get(pk=user.pk)

    return make


def _create(client: JsonClient, desk: dict[str, Any], **extra: Any) -> Any:
    return client.post_json(
        "/api/v1/webforms",
        {
            "name": "Repair request",
            "ticket_type_id": desk["repair"].pk,
            "team_id": desk["team_a"].pk,
            "allowed_origins": ["https://Shop.Example.com/", "http://localhost:8000"],
            **extra,
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )


def test_admin_creates_a_form_with_clean_origins(
    desk: dict[str, Any], login_client: Callable[[User], JsonClient]
) -> None:
    response = _create(login_client(desk["admin"]), desk)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["allowed_origins"] == [SITE, "http://localhost:8000"]
    assert (body["business_line_id"], body["default_priority"], body["version"]) == (
        desk["line_a"].pk,
        "normal",
        1,
    )
    assert (body["per_minute_limit"], body["per_hour_limit"]) == (5, 30)
    assert body["form_url"] == f"http://testserver/forms/{body['key']}/"
    assert response["ETag"] == 'W/"1"'
    assert OutboxEvent.objects.filter(topic="webform.created").count() == 1
    assert AuditEntry.objects.filter(object_type="webforms.webform", action="created").count() == 1


@pytest.mark.parametrize(
    ("_case", "origin"),
    [
        ("path", "https://shop.example.com/contact"),
        ("scheme", "ftp://shop.example.com"),
        ("wildcard", "https://*.example.com"),
        ("no host", "https://"),
        ("query", "https://shop.example.com?x=1"),
    ],
)
def test_an_origin_that_is_not_one_is_refused_on_its_field(
    desk: dict[str, Any],
    login_client: Callable[[User], JsonClient],
    _case: str,
    origin: str,
) -> None:
    response = _create(login_client(desk["admin"]), desk, allowed_origins=[origin])
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "allowed_origins"
    assert WebForm.objects.count() == 0


def test_a_team_of_another_line_is_refused(
    desk: dict[str, Any], login_client: Callable[[User], JsonClient]
) -> None:
    response = _create(login_client(desk["admin"]), desk, team_id=desk["team_b"].pk)
    assert response.status_code == 422
    assert response.json()["errors"][0] == {
        "field": "team",
        "code": "team_of_other_line",
        "detail": "Choose a team of the ticket type's business line.",
    }
    assert WebForm.objects.count() == 0


def test_edits_need_the_current_version(
    desk: dict[str, Any], web_form: WebForm, login_client: Callable[[User], JsonClient]
) -> None:
    client = login_client(desk["admin"])
    url = f"/api/v1/webforms/{web_form.pk}"
    changed = client.patch_json(url, {"per_minute_limit": 10}, HTTP_IF_MATCH='W/"1"')
    assert changed.status_code == 200
    assert (changed.json()["per_minute_limit"], changed["ETag"]) == (10, 'W/"2"')
    stale = client.patch_json(url, {"name": "Lost update"}, HTTP_IF_MATCH='W/"1"')
    assert stale.status_code == 412
    assert stale.json()["code"] == "version_mismatch"
    web_form.refresh_from_db()
    assert (web_form.name, web_form.version) == ("Repair request", 2)


def test_a_manager_of_another_line_sees_nothing_and_changes_nothing(
    desk: dict[str, Any],
    web_form: WebForm,
    make_type: Callable[..., Any],
    line_manager: Callable[..., User],
    login_client: Callable[[User], JsonClient],
) -> None:
    client = login_client(line_manager(desk["line_b"]))
    url = f"/api/v1/webforms/{web_form.pk}"
    listed = client.get("/api/v1/webforms")
    assert (listed.status_code, listed.json()["items"]) == (200, [])
    assert client.get(url).status_code == 404
    assert client.patch_json(url, {"name": "Mine"}).status_code == 404
    assert client.delete(url).status_code == 404
    # nor may they build a form on a type or team of line A, which stay unnamed
    refused = _create(client, desk)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["code"] == "unknown_reference"
    own_type = make_type(line=desk["line_b"])
    own_type_foreign_team = client.post_json(
        "/api/v1/webforms",
        {"name": "X", "ticket_type_id": own_type.pk, "team_id": desk["team_a"].pk},
    )
    assert own_type_foreign_team.status_code == 422
    assert own_type_foreign_team.json()["errors"][0]["code"] == "unknown_reference"
    web_form.refresh_from_db()
    assert (web_form.name, web_form.version) == ("Repair request", 1)
    assert WebForm.objects.count() == 1
    assert OutboxEvent.objects.filter(topic__startswith="webform.").count() == 1


def test_a_manager_of_the_line_manages_its_forms(
    desk: dict[str, Any],
    web_form: WebForm,
    line_manager: Callable[..., User],
    login_client: Callable[[User], JsonClient],
) -> None:
    client = login_client(line_manager(desk["line_a"]))
    listed = client.get("/api/v1/webforms")
    assert [item["id"] for item in listed.json()["items"]] == [web_form.pk]
    assert client.patch_json(f"/api/v1/webforms/{web_form.pk}", {"name": "New"}).status_code == 200
    assert client.delete(f"/api/v1/webforms/{web_form.pk}").status_code == 204
    assert WebForm.objects.count() == 0


@pytest.mark.parametrize("_case", ["anonymous", "agent", "customer"])
def test_people_without_the_permission_are_refused(
    desk: dict[str, Any],
    web_form: WebForm,
    login_client: Callable[[User], JsonClient],
    api_client: JsonClient,
    _case: str,
) -> None:
    client = {
        "anonymous": api_client,
        "agent": login_client(desk["insider"]) if _case == "agent" else None,
        "customer": login_client(desk["contact_a"]) if _case == "customer" else None,
    }[_case]
    assert client is not None
    expected = 401 if _case == "anonymous" else 403
    assert client.get("/api/v1/webforms").status_code == expected
    assert _create(client, desk).status_code == expected
    assert client.get(f"/api/v1/webforms/{web_form.pk}").status_code in (401, 404)
    assert WebForm.objects.count() == 1


def test_list_query_count(
    desk: dict[str, Any],
    make_form: Callable[..., WebForm],
    login_client: Callable[[User], JsonClient],
    django_assert_num_queries: Any,
) -> None:
    for number in range(3):
        make_form(name=f"Form {number}")
    client = login_client(desk["admin"])
    client.get("/api/v1/webforms")
    with django_assert_num_queries(4):
        response = client.get("/api/v1/webforms")
    assert len(response.json()["items"]) == 3


# --- Public -------------------------------------------------------------------------------


def _schema(client: JsonClient, web_form: WebForm, **headers: str) -> Any:
    return client.get(f"/api/v1/forms/{web_form.key}", **headers)


def _post(client: JsonClient, web_form: WebForm, body: dict[str, Any], **headers: str) -> Any:
    with time_machine.travel(time.time() + 10, tick=True):
        return client.post(
            f"/api/v1/forms/{web_form.key}/submissions",
            data=json.dumps(body),
            content_type="application/json",
            **headers,
        )


def test_a_site_builds_its_own_form_and_posts_it(
    desk: dict[str, Any], web_form: WebForm, api_client: JsonClient
) -> None:
    schema = _schema(api_client, web_form, HTTP_ORIGIN=SITE)
    assert schema.status_code == 200
    assert schema["Access-Control-Allow-Origin"] == SITE
    data = schema.json()
    assert (data["min_fill_seconds"], data["honeypot"], data["fields"]) == (3, "website", [])
    response = _post(
        api_client, web_form, {**BODY, "token": data["token"], "language": "en"}, HTTP_ORIGIN=SITE
    )
    assert response.status_code == 201, response.content
    assert response["Access-Control-Allow-Origin"] == SITE
    ticket = Ticket.objects.get()
    assert response.json() == {"number": ticket.number, "message": "Thanks! We will call you back."}
    assert (ticket.channel, ticket.team_id) == ("web_form", desk["team_a"].pk)


def test_refused_entries_are_problem_json_with_every_field_and_cors(
    web_form: WebForm, api_client: JsonClient
) -> None:
    token = _schema(api_client, web_form).json()["token"]
    response = _post(
        api_client,
        web_form,
        {"token": token, "email": "nope", "subject": ""},
        HTTP_ORIGIN=SITE,
    )
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert response["Access-Control-Allow-Origin"] == SITE
    assert [error["field"] for error in response.json()["errors"]] == ["name", "email", "subject"]
    assert Ticket.objects.count() == 0


def test_unknown_json_keys_are_refused(web_form: WebForm, api_client: JsonClient) -> None:
    response = _post(api_client, web_form, {**BODY, "priority": "urgent"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "priority"


def test_a_post_without_a_valid_token_is_refused(web_form: WebForm, api_client: JsonClient) -> None:
    response = _post(api_client, web_form, {**BODY, "token": "forged"})
    assert (response.status_code, response.json()["code"]) == (422, "token_invalid")
    assert Ticket.objects.count() == 0


def test_a_post_from_a_foreign_origin_is_forbidden(
    web_form: WebForm, api_client: JsonClient
) -> None:
    token = _schema(api_client, web_form).json()["token"]
    response = _post(
        api_client, web_form, {**BODY, "token": token}, HTTP_ORIGIN="https://evil.example.net"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in response
    assert Ticket.objects.count() == 0


def test_the_honeypot_answers_like_a_success_without_a_ticket(
    web_form: WebForm, api_client: JsonClient
) -> None:
    token = _schema(api_client, web_form).json()["token"]
    response = _post(api_client, web_form, {**BODY, "token": token, "website": "x"})
    assert response.status_code == 201
    assert response.json()["number"] is None
    assert Ticket.objects.count() == 0


def test_preflight_answers_only_the_allowed_origins(
    web_form: WebForm, api_client: JsonClient
) -> None:
    url = f"/api/v1/forms/{web_form.key}/submissions"
    allowed = api_client.options(
        url,
        HTTP_ORIGIN=SITE,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type",
    )
    assert allowed.status_code == 204
    assert allowed["Access-Control-Allow-Origin"] == SITE
    assert allowed["Access-Control-Allow-Methods"] == "POST"
    assert "Content-Type" in allowed["Access-Control-Allow-Headers"]
    assert "Origin" in allowed["Vary"].split(", ")
    foreign = api_client.options(
        url,
        HTTP_ORIGIN="https://evil.example.net",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
    )
    assert foreign.status_code == 403
    assert "Access-Control-Allow-Origin" not in foreign


def test_the_api_shares_the_rate_limit_and_answers_429_problem_json(
    make_form: Callable[..., WebForm], api_client: JsonClient
) -> None:
    web_form = make_form(per_minute_limit=2)
    token = _schema(api_client, web_form).json()["token"]
    with time_machine.travel(time.time() + 10, tick=False):
        codes = [
            api_client.post(
                f"/api/v1/forms/{web_form.key}/submissions",
                data=json.dumps({**BODY, "subject": f"Try {n}", "token": token}),
                content_type="application/json",
                HTTP_ORIGIN=SITE,
            )
            for n in range(4)
        ]
    assert [r.status_code for r in codes] == [201, 201, 429, 429]
    refused = codes[-1]
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["code"] == "rate_limited"
    assert int(refused["Retry-After"]) in range(1, 61)
    assert refused["Access-Control-Allow-Origin"] == SITE
    assert Ticket.objects.count() == 2


def test_an_unknown_key_is_not_found(api_client: JsonClient, desk: dict[str, Any]) -> None:
    assert api_client.get("/api/v1/forms/nope").status_code == 404
    assert api_client.post_json("/api/v1/forms/nope/submissions", BODY).status_code == 404


def test_the_endpoints_are_in_the_openapi_document(api_client: JsonClient) -> None:
    paths = api_client.get("/api/v1/openapi.json").json()["paths"]
    assert set(paths["/api/v1/forms/{key}/submissions"]) == {"post", "options"}
    body = paths["/api/v1/forms/{key}/submissions"]["post"]["requestBody"]
    assert "token" in body["content"]["application/json"]["schema"]["properties"]
    assert set(paths["/api/v1/webforms/{web_form_id}"]) == {"get", "patch", "delete"}
