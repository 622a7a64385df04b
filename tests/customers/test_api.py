"""The customers API: who may call what, which rows each caller sees, concurrency headers."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from typing import Any

import pytest

from aftersales.accounts import services as accounts
from aftersales.accounts.models import User
from aftersales.customers import services
from aftersales.customers.models import Customer, CustomerNote
from aftersales.outbox.models import OutboxEvent
from tests.api.support import assert_problem, body_of
from tests.conftest import JsonClient
from tests.customers.conftest import customer_state

ANONYMOUS, CONTACT, OUTSIDER, INSIDER, ADMIN = (
    "anonymous",
    "contact",
    "outsider",
    "insider",
    "admin",
)
ACTORS = (ANONYMOUS, CONTACT, OUTSIDER, INSIDER, ADMIN)


def expect(contact: int, outsider: int, insider: int, admin: int) -> dict[str, int]:
    return {ANONYMOUS: 401, CONTACT: contact, OUTSIDER: outsider, INSIDER: insider, ADMIN: admin}


@pytest.fixture
def targets(
    world: dict[str, Any],
    make_customer: Callable[..., Any],
    make_organisation: Callable[..., Any],
) -> dict[str, Any]:
    """Li Wei and his duplicate in team A (line A); Acme, owned by insider, in line A."""
    acme = make_organisation(
        name="Acme", code="acme", business_line=world["line_a"], owner=world["insider"]
    )
    li = make_customer(
        name="Li Wei",
        team=world["team_a"],
        organisation=acme,
        identities=[("phone", "13812345678")],
        portal_user=world["contact"],
    )
    twin = make_customer(name="Wei Li", team=world["team_a"], identities=[("email", "w@ex.com")])
    services.add_note(actor=world["admin"], customer=li, body="First call")
    identity = li.identities.get()
    return {
        "li": li.pk,
        "twin": twin.pk,
        "acme": acme.pk,
        "identity": identity.pk,
        "line_a": world["line_a"].pk,
        "team_a": world["team_a"].pk,
    }


def _client(actor: str, world: dict[str, Any], login_client: Callable[[User], JsonClient]) -> Any:
    return JsonClient() if actor == ANONYMOUS else login_client(world[actor])


def _resolve(value: Any, ids: dict[str, Any]) -> Any:
    if isinstance(value, str):
        match = re.fullmatch(r"\{(\w+)\}", value)
        return ids[match.group(1)] if match else value.format(**ids)
    if isinstance(value, dict):
        return {key: _resolve(item, ids) for key, item in value.items()}
    return value


ENDPOINTS = [
    ("customers_list", "get", "/api/v1/customers", None, expect(200, 200, 200, 200)),
    ("customer_get", "get", "/api/v1/customers/{li}", None, expect(404, 404, 200, 200)),
    (
        "customer_create",
        "post",
        "/api/v1/customers",
        {"name": "New", "business_line_id": "{line_a}", "team_id": "{team_a}"},
        expect(403, 403, 201, 201),
    ),
    (
        "customer_patch",
        "patch",
        "/api/v1/customers/{li}",
        {"tags": ["vip"]},
        expect(404, 404, 200, 200),
    ),
    (
        "identity_add",
        "post",
        "/api/v1/customers/{li}/identities",
        {"kind": "email", "value": "li@example.com"},
        expect(404, 404, 201, 201),
    ),
    (
        "identity_remove",
        "delete",
        "/api/v1/customers/{li}/identities/{identity}",
        None,
        expect(404, 404, 204, 204),
    ),
    ("notes_list", "get", "/api/v1/customers/{li}/notes", None, expect(404, 404, 200, 200)),
    (
        "note_add",
        "post",
        "/api/v1/customers/{li}/notes",
        {"body": "Called back"},
        expect(404, 404, 201, 201),
    ),
    (
        "merge",
        "post",
        "/api/v1/customers/{li}/merge",
        {"merged_id": "{twin}"},
        expect(404, 404, 403, 200),
    ),
    ("export", "get", "/api/v1/customers/export", None, expect(403, 403, 403, 200)),
    ("organisations_list", "get", "/api/v1/organisations", None, expect(200, 200, 200, 200)),
    ("organisation_get", "get", "/api/v1/organisations/{acme}", None, expect(404, 404, 200, 200)),
    (
        "organisation_create",
        "post",
        "/api/v1/organisations",
        {"name": "Globex", "code": "globex", "business_line_id": "{line_a}"},
        expect(403, 403, 403, 201),
    ),
    (
        "organisation_patch",
        "patch",
        "/api/v1/organisations/{acme}",
        {"notes": "Key account"},
        expect(404, 404, 200, 200),
    ),
    ("tiers_list", "get", "/api/v1/customer-tiers", None, expect(200, 200, 200, 200)),
    (
        "tier_create",
        "post",
        "/api/v1/customer-tiers",
        {"key": "gold", "name_zh": "金牌", "name_en": "Gold"},
        expect(403, 403, 403, 201),
    ),
]


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize(
    ("label", "method", "path", "body", "expected"),
    ENDPOINTS,
    ids=[e[0] for e in ENDPOINTS],
)
def test_endpoint_answers_each_kind_of_caller_as_the_matrix_says(
    world: dict[str, Any],
    targets: dict[str, Any],
    login_client: Callable[[User], JsonClient],
    actor: str,
    label: str,
    method: str,
    path: str,
    body: Any,
    expected: dict[str, int],
) -> None:
    """Anonymous 401; contact 403/404; outsider 404 on rows of team A; insider and admin act."""
    # given
    client = _client(actor, world, login_client)
    path = _resolve(path, targets)
    body = _resolve(body, targets)
    before = customer_state()
    # when
    if method == "get":
        response = client.get(path)
    elif method == "delete":
        response = client.delete(path)
    else:
        response = {"post": client.post_json, "patch": client.patch_json}[method](path, body)
    # then
    assert response.status_code == expected[actor], response.content
    if response.status_code >= 400:
        assert_problem(response, expected[actor])
        assert customer_state() == before


@pytest.mark.parametrize(
    ("actor", "names"),
    [
        pytest.param(CONTACT, [], id="_case_contact"),
        pytest.param(OUTSIDER, [], id="_case_outsider"),
        pytest.param(INSIDER, ["Li Wei", "Wei Li"], id="_case_insider"),
        pytest.param("liner", ["Li Wei", "Wei Li"], id="_case_line_scope"),
        pytest.param(ADMIN, ["Li Wei", "Wei Li"], id="_case_admin"),
    ],
)
def test_customer_list_holds_only_rows_in_scope(
    world: dict[str, Any],
    targets: dict[str, Any],
    login_client: Callable[[User], JsonClient],
    actor: str,
    names: list[str],
) -> None:
    # given
    client = login_client(world[actor])
    # when
    response = client.get("/api/v1/customers")
    # then
    assert response.status_code == 200
    assert [item["name"] for item in body_of(response)["items"]] == names


def test_organisation_list_follows_owner_and_line_scopes(
    world: dict[str, Any],
    targets: dict[str, Any],
    make_organisation: Callable[..., Any],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given: Acme is owned by insider; Initech sits in line A without owner; Globex in line B
    make_organisation(name="Initech", code="initech", business_line=world["line_a"])
    make_organisation(name="Globex", code="globex", business_line=world["line_b"])

    def names(actor: str) -> list[str]:
        response = login_client(world[actor]).get("/api/v1/organisations")
        return [item["name"] for item in body_of(response)["items"]]

    # when / then
    assert names(INSIDER) == ["Acme"]
    assert names("liner") == ["Acme", "Initech"]
    assert names(OUTSIDER) == []
    assert names(CONTACT) == []
    assert names(ADMIN) == ["Acme", "Initech", "Globex"]


def test_customer_list_filters_by_allowlist(
    world: dict[str, Any],
    targets: dict[str, Any],
    make_customer: Callable[..., Any],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    make_customer(name="Zhang San", team=world["team_a"], tags=["vip", "beijing"])
    client = login_client(world["admin"])

    def names(query: str) -> list[str]:
        response = client.get(f"/api/v1/customers?{query}")
        assert response.status_code == 200
        return [item["name"] for item in body_of(response)["items"]]

    # when / then
    assert names("q=zhang") == ["Zhang San"]
    assert names("q=13812345678") == ["Li Wei"]
    assert names("tag=vip") == ["Zhang San"]
    assert names("tag=vi") == []
    assert names(f"organisation={targets['acme']}") == ["Li Wei"]
    assert names("tier=normal") == ["Li Wei", "Wei Li", "Zhang San"]
    assert names("tier=vip") == []
    assert names(f"business_line={world['line_b'].pk}") == []
    assert names("is_active=false") == []
    assert names("limit=2") == ["Li Wei", "Wei Li"]


def test_customer_list_pages_with_a_cursor(
    world: dict[str, Any], targets: dict[str, Any], login_client: Callable[[User], JsonClient]
) -> None:
    # given
    client = login_client(world["admin"])
    # when
    first = body_of(client.get("/api/v1/customers?limit=1"))
    second = body_of(client.get(f"/api/v1/customers?limit=1&cursor={first['next_cursor']}"))
    # then
    assert [i["name"] for i in first["items"]] == ["Li Wei"]
    assert [i["name"] for i in second["items"]] == ["Wei Li"]
    assert second["next_cursor"] is None


def test_customer_list_query_count_does_not_grow_with_rows(
    world: dict[str, Any],
    make_customer: Callable[..., Any],
    token_client: Callable[..., JsonClient],
    django_assert_num_queries: Any,
) -> None:
    """Token, grants, the page and the prefetched identities: the same for 3 and 30 rows."""
    # given
    client = token_client(world["admin"])
    client.get("/api/v1/me")

    def grow_to(count: int) -> None:
        while Customer.objects.count() < count:
            make_customer(
                team=world["team_a"], identities=[("app_user_id", f"u{Customer.objects.count()}")]
            )

    grow_to(3)
    with django_assert_num_queries(4):
        assert client.get("/api/v1/customers?limit=200").status_code == 200
    # when
    grow_to(30)
    # then
    with django_assert_num_queries(4):
        response = client.get("/api/v1/customers?limit=200")
    assert len(body_of(response)["items"]) == 30


def test_created_customer_comes_back_normalised_with_an_etag(
    world: dict[str, Any], login_client: Callable[[User], JsonClient]
) -> None:
    # given
    client = login_client(world["insider"])
    # when
    response = client.post_json(
        "/api/v1/customers",
        {
            "name": "Li Wei",
            "business_line_id": world["line_a"].pk,
            "team_id": world["team_a"].pk,
            "tags": ["vip", " vip ", "beijing"],
            "identities": [{"kind": "phone", "value": "138-1234-5678"}],
        },
    )
    # then
    assert response.status_code == 201
    body = body_of(response)
    assert body["tier"] == "normal"
    assert body["tags"] == ["vip", "beijing"]
    assert [(i["kind"], i["value"]) for i in body["identities"]] == [("phone", "+8613812345678")]
    detail = client.get(f"/api/v1/customers/{body['id']}")
    assert detail["ETag"] == 'W/"1"'


def test_stale_if_match_is_refused_with_412_and_nothing_changes(
    world: dict[str, Any], targets: dict[str, Any], login_client: Callable[[User], JsonClient]
) -> None:
    # given
    client = login_client(world["insider"])
    path = f"/api/v1/customers/{targets['li']}"
    etag = client.get(path)["ETag"]
    assert (
        client.patch_json(path, {"name": "Li Wei (Beijing)"}, HTTP_IF_MATCH=etag).status_code == 200
    )
    before = customer_state()
    # when
    response = client.patch_json(path, {"name": "Li Wei (Shanghai)"}, HTTP_IF_MATCH=etag)
    # then
    body = assert_problem(response, 412)
    assert body["code"] == "version_mismatch"
    assert customer_state() == before
    assert Customer.objects.get(pk=targets["li"]).name == "Li Wei (Beijing)"


def test_stale_if_match_on_an_organisation_is_refused_with_412(
    world: dict[str, Any], targets: dict[str, Any], login_client: Callable[[User], JsonClient]
) -> None:
    # given
    client = login_client(world["admin"])
    path = f"/api/v1/organisations/{targets['acme']}"
    before = customer_state()
    # when
    response = client.patch_json(path, {"name": "Acme Ltd"}, HTTP_IF_MATCH='W/"7"')
    # then
    assert assert_problem(response, 412)["code"] == "version_mismatch"
    assert customer_state() == before


def test_duplicate_phone_through_the_api_names_the_holder(
    world: dict[str, Any], targets: dict[str, Any], login_client: Callable[[User], JsonClient]
) -> None:
    # given
    client = login_client(world["insider"])
    client.cookies["django_language"] = "en"
    before = customer_state()
    # when
    response = client.post_json(
        f"/api/v1/customers/{targets['twin']}/identities",
        {"kind": "phone", "value": "+86 138 1234 5678"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    # then
    body = assert_problem(response, 422)
    assert body["code"] == "identity_taken"
    assert body["errors"] == [
        {
            "field": "value",
            "code": "identity_taken",
            "detail": (
                f"Phone +8613812345678 already belongs to customer Li Wei (#{targets['li']})."
            ),
        }
    ]
    assert customer_state() == before


def test_merge_through_the_api_moves_identities_and_notes(
    world: dict[str, Any], targets: dict[str, Any], login_client: Callable[[User], JsonClient]
) -> None:
    # given
    client = login_client(world["admin"])
    # when
    response = client.post_json(
        f"/api/v1/customers/{targets['twin']}/merge", {"merged_id": targets["li"]}
    )
    # then
    assert response.status_code == 200
    body = body_of(response)
    assert body["identities_moved"] == ["phone:+8613812345678"]
    assert body["notes_moved"] == 1
    assert sorted(i["value"] for i in body["survivor"]["identities"]) == [
        "+8613812345678",
        "w@ex.com",
    ]
    assert body["survivor"]["portal_user_id"] == world["contact"].pk
    assert CustomerNote.objects.get().customer_id == targets["twin"]
    merged = Customer.objects.get(pk=targets["li"])
    assert (merged.is_active, merged.merged_into_id, merged.portal_user_id) == (
        False,
        targets["twin"],
        None,
    )
    event = OutboxEvent.objects.get(topic="customer.merged")
    assert event.payload == {"survivor_id": targets["twin"], "merged_id": targets["li"]}


def test_merge_into_itself_is_refused(
    world: dict[str, Any], targets: dict[str, Any], login_client: Callable[[User], JsonClient]
) -> None:
    # given
    client = login_client(world["admin"])
    before = customer_state()
    # when
    response = client.post_json(
        f"/api/v1/customers/{targets['li']}/merge", {"merged_id": targets["li"]}
    )
    # then
    assert assert_problem(response, 422)["code"] == "merge_into_itself"
    assert customer_state() == before


def _csv_rows(response: Any) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_export_with_team_scope_holds_only_rows_of_the_team(
    world: dict[str, Any],
    admin_user: User,
    targets: dict[str, Any],
    make_customer: Callable[..., Any],
    make_user: Callable[..., Any],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given: an exporter at "my teams" in team A; one more customer in team B
    make_customer(name="Far Away", team=world["team_b"])
    role = accounts.create_role(
        actor=admin_user,
        key="exporter",
        name="Exporter",
        permissions=["customers.view_customer", "customers.export_customer"],
    )
    exporter = make_user("exporter", teams=[world["team_a"]])
    accounts.grant_role(actor=admin_user, user=exporter, role=role, scope="teams")
    # when
    response = login_client(exporter).get("/api/v1/customers/export?format=csv")
    # then
    assert response.status_code == 200
    rows = _csv_rows(response)
    assert rows[0] == [
        "id",
        "name",
        "organisation_code",
        "tier_key",
        "phone",
        "email",
        "wechat_openid",
        "tags",
        "notes",
        "business_line_code",
        "is_active",
    ]
    assert [r[1] for r in rows[1:]] == ["Li Wei", "Wei Li"]
    # A leading + would make a spreadsheet compute the cell; the import strips the quote again.
    assert rows[1][2:6] == ["acme", "normal", "'+8613812345678", ""]


def test_export_neutralises_a_name_starting_with_equals(
    world: dict[str, Any],
    make_customer: Callable[..., Any],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    make_customer(name='=HYPERLINK("http://evil.example","x")', team=world["team_a"])
    make_customer(name="+1 caller", team=world["team_a"])
    client = login_client(world["admin"])
    # when
    csv_response = client.get("/api/v1/customers/export?format=csv")
    xlsx_response = client.get("/api/v1/customers/export?format=xlsx")
    # then
    names = sorted(r[1] for r in _csv_rows(csv_response)[1:])
    assert names == ["'+1 caller", '\'=HYPERLINK("http://evil.example","x")']
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(xlsx_response.content), read_only=True).worksheets[0]
    cells = sorted(row[1] for row in sheet.iter_rows(min_row=2, values_only=True))
    assert cells == names
    assert xlsx_response["Content-Disposition"] == 'attachment; filename="customers.xlsx"'


def test_retried_create_with_the_same_idempotency_key_creates_one_customer(
    world: dict[str, Any], login_client: Callable[[User], JsonClient]
) -> None:
    # given
    client = login_client(world["insider"])
    body = {"name": "Once", "business_line_id": world["line_a"].pk, "team_id": world["team_a"].pk}
    # when
    first = client.post_json("/api/v1/customers", body, HTTP_IDEMPOTENCY_KEY="create-once-1")
    second = client.post_json("/api/v1/customers", body, HTTP_IDEMPOTENCY_KEY="create-once-1")
    # then
    assert (first.status_code, second.status_code) == (201, 201)
    assert body_of(first)["id"] == body_of(second)["id"]
    assert Customer.objects.filter(name="Once").count() == 1
    assert OutboxEvent.objects.filter(topic="customer.created").count() == 1


def test_tiers_are_configured_through_the_api(
    world: dict[str, Any], targets: dict[str, Any], login_client: Callable[[User], JsonClient]
) -> None:
    # given
    client = login_client(world["admin"])
    gold = body_of(
        client.post_json(
            "/api/v1/customer-tiers", {"key": "gold", "name_zh": "金牌", "name_en": "Gold"}
        )
    )
    # when
    patched = client.patch_json(
        f"/api/v1/customer-tiers/{gold['id']}", {"rank": 50, "is_default": True}
    )
    normal = client.get("/api/v1/customer-tiers")
    refused = client.delete(f"/api/v1/customer-tiers/{gold['id']}")
    # then
    assert body_of(patched)["rank"] == 50
    assert [(t["key"], t["is_default"]) for t in body_of(normal)] == [
        ("vip", False),
        ("gold", True),
        ("normal", False),
    ]
    assert assert_problem(refused, 422)["code"] == "default_required"
    vip = next(t for t in body_of(normal) if t["key"] == "vip")
    assert client.delete(f"/api/v1/customer-tiers/{vip['id']}").status_code == 204
    normal_id = next(t for t in body_of(normal) if t["key"] == "normal")["id"]
    assert assert_problem(client.delete(f"/api/v1/customer-tiers/{normal_id}"), 422)["code"] == (
        "tier_in_use"
    )
