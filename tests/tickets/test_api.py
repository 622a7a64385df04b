"""The ticket-type API: CRUD, nested statuses and transitions, copy, check, scopes, ETags."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.utils import translation

from aftersales.accounts.models import BusinessLine, User
from aftersales.outbox.models import OutboxEvent
from aftersales.tickets.models import StatusTransition, TicketStatus, TicketType
from tests.api.support import assert_problem, body_of
from tests.conftest import JsonClient
from tests.tickets.conftest import config_state, status

NEW_TYPE = {"key": "repair", "name_zh": "维修", "name_en": "Repair", "number_prefix": "REP"}


@pytest.fixture(autouse=True)
def _english() -> Any:
    with translation.override("en"):
        yield


@pytest.fixture
def login_client() -> Callable[[User], JsonClient]:
    """A signed-in client whose browser asks for English."""

    def make(user: User) -> JsonClient:
        client = JsonClient(HTTP_ACCEPT_LANGUAGE="en")
        client.force_login(user)
        return client

    return make


# --- Permission matrix -------------------------------------------------------------------------


def test_anonymous_gets_a_401_problem_and_nothing_is_created(
    make_line: Callable[..., BusinessLine], api_client: JsonClient
) -> None:
    # given
    line = make_line()
    before = config_state()
    # when
    listed = api_client.get("/api/v1/ticket-types")
    created = api_client.post_json(
        "/api/v1/ticket-types", {**NEW_TYPE, "business_line_id": line.pk}
    )
    # then
    assert assert_problem(listed, 401)["code"] == "not_authenticated"
    assert assert_problem(created, 401)["code"] == "not_authenticated"
    assert config_state() == before


@pytest.mark.parametrize(
    ("_case", "role", "kind", "status_code"),
    [
        ("agent", "agent", "staff", 403),
        ("second line", "second-line", "staff", 403),
        ("customer contact", None, "customer", 403),
    ],
)
def test_people_without_configure_cannot_create_and_nothing_changes(
    make_user: Callable[..., User],
    make_line: Callable[..., BusinessLine],
    login_client: Callable[[User], JsonClient],
    _case: str,
    role: str | None,
    kind: str,
    status_code: int,
) -> None:
    # given
    line = make_line()
    person = make_user(role=role, scope="all", kind=kind)
    before = config_state()
    # when
    response = login_client(person).post_json(
        "/api/v1/ticket-types", {**NEW_TYPE, "business_line_id": line.pk}
    )
    # then
    assert_problem(response, status_code)
    assert config_state() == before


def test_agent_without_configure_cannot_change_the_lifecycle(
    make_user: Callable[..., User],
    make_type: Callable[..., TicketType],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    ticket_type = make_type()
    agent = make_user(role="agent", scope="all")
    client = login_client(agent)
    base = f"/api/v1/ticket-types/{ticket_type.pk}"
    before = config_state()
    # when
    responses = [
        client.patch_json(base, {"name_en": "Mine"}),
        client.post_json(
            f"{base}/statuses",
            {"key": "x", "name_zh": "x", "name_en": "x", "category": "open"},
        ),
        client.post_json(
            f"{base}/transitions",
            {
                "from_status_id": status(ticket_type, "new").pk,
                "to_status_id": status(ticket_type, "closed").pk,
            },
        ),
    ]
    # then
    assert [assert_problem(r, 403)["code"] for r in responses] == ["permission_denied"] * 3
    assert config_state() == before
    assert client.get(base).status_code == 200


def test_manager_of_line_a_neither_sees_nor_changes_line_b_types(
    make_user: Callable[..., User],
    make_line: Callable[..., BusinessLine],
    make_type: Callable[..., TicketType],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    line_a, line_b = make_line(), make_line()
    type_a, type_b = make_type(line=line_a), make_type(line=line_b)
    manager = make_user(role="service-manager", scope="business_lines", lines=[line_a])
    client = login_client(manager)
    before = config_state()
    # when
    listed = body_of(client.get("/api/v1/ticket-types"))
    filtered = body_of(client.get(f"/api/v1/ticket-types?business_line={line_b.pk}"))
    responses = [
        client.get(f"/api/v1/ticket-types/{type_b.pk}"),
        client.patch_json(f"/api/v1/ticket-types/{type_b.pk}", {"name_en": "Taken"}),
        client.get(f"/api/v1/ticket-types/{type_b.pk}/statuses"),
        client.post_json(
            f"/api/v1/ticket-types/{type_b.pk}/check-transition", {"from": "new", "to": "open"}
        ),
        client.post_json(
            f"/api/v1/ticket-types/{type_b.pk}/copy",
            {"business_line_id": line_a.pk, "key": "stolen"},
        ),
    ]
    created_in_b = client.post_json(
        "/api/v1/ticket-types", {**NEW_TYPE, "business_line_id": line_b.pk}
    )
    # then
    assert [item["id"] for item in listed["items"]] == [type_a.pk]
    assert filtered["items"] == []
    assert [r.status_code for r in responses] == [404] * 5
    assert assert_problem(created_in_b, 422)["errors"][0]["field"] == "business_line_id"
    assert config_state() == before


def test_manager_of_line_a_configures_line_a(
    make_user: Callable[..., User],
    make_line: Callable[..., BusinessLine],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    line_a = make_line()
    manager = make_user(role="service-manager", scope="business_lines", lines=[line_a])
    # when
    response = login_client(manager).post_json(
        "/api/v1/ticket-types", {**NEW_TYPE, "business_line_id": line_a.pk}
    )
    # then
    assert response.status_code == 201
    body = body_of(response)
    assert (body["business_line_id"], body["key"], body["name"], body["version"]) == (
        line_a.pk,
        "repair",
        "Repair",
        1,
    )
    assert TicketStatus.objects.filter(ticket_type_id=body["id"]).count() == 6


# --- Ticket types ---------------------------------------------------------------------------------


def test_list_filters_by_line_and_activity_and_pages_with_a_cursor(
    admin_user: User,
    make_line: Callable[..., BusinessLine],
    make_type: Callable[..., TicketType],
    login_client: Callable[[User], JsonClient],
    django_assert_num_queries: Any,
) -> None:
    # given
    line_a, line_b = make_line(), make_line()
    first, second, third = make_type(line=line_a), make_type(line=line_a), make_type(line=line_a)
    make_type(line=line_b)
    client = login_client(admin_user)
    client.post_json(f"/api/v1/ticket-types/{second.pk}/deactivate")
    # when
    url = f"/api/v1/ticket-types?business_line={line_a.pk}&is_active=true&limit=1"
    with django_assert_num_queries(4):  # session, user, role grants, the page itself
        page_one = body_of(client.get(url))
    page_two = body_of(client.get(f"{url}&cursor={page_one['next_cursor']}"))
    # then
    assert [i["id"] for i in page_one["items"]] == [first.pk]
    assert [i["id"] for i in page_two["items"]] == [third.pk]
    assert page_two["next_cursor"] is None


def test_patch_needs_the_current_etag(
    admin_user: User,
    make_type: Callable[..., TicketType],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    ticket_type = make_type()
    client = login_client(admin_user)
    url = f"/api/v1/ticket-types/{ticket_type.pk}"
    etag = client.get(url)["ETag"]
    # when
    first = client.patch_json(url, {"reopen_within_days": 14}, HTTP_IF_MATCH=etag)
    stale = client.patch_json(url, {"reopen_within_days": 30}, HTTP_IF_MATCH=etag)
    # then
    assert (etag, first.status_code, first["ETag"]) == ('W/"1"', 200, 'W/"2"')
    assert body_of(first)["reopen_within_days"] == 14
    assert assert_problem(stale, 412)["code"] == "version_mismatch"
    ticket_type.refresh_from_db()
    assert (ticket_type.reopen_within_days, ticket_type.version) == (14, 2)


@pytest.mark.parametrize(
    ("_case", "body", "field"),
    [
        ("lowercase prefix", {"number_prefix": "rep"}, "number_prefix"),
        ("bad key", {"key": "Repair Jobs"}, "key"),
        ("days out of range", {"auto_close_after_days": 400}, "auto_close_after_days"),
        ("missing name", {"name_en": None}, "name_en"),
    ],
)
def test_invalid_type_is_a_422_naming_the_field(
    admin_user: User,
    make_line: Callable[..., BusinessLine],
    login_client: Callable[[User], JsonClient],
    _case: str,
    body: dict[str, Any],
    field: str,
) -> None:
    # given
    line = make_line()
    payload = {**NEW_TYPE, "business_line_id": line.pk, **body}
    payload = {k: v for k, v in payload.items() if v is not None}
    before = config_state()
    # when
    response = login_client(admin_user).post_json("/api/v1/ticket-types", payload)
    # then
    assert assert_problem(response, 422)["errors"][0]["field"] == field
    assert config_state() == before


def test_copy_to_another_line_duplicates_the_lifecycle(
    admin_user: User,
    make_line: Callable[..., BusinessLine],
    make_type: Callable[..., TicketType],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    source = make_type()
    target = make_line()
    client = login_client(admin_user)
    # when
    response = client.post_json(
        f"/api/v1/ticket-types/{source.pk}/copy",
        {"business_line_id": target.pk, "key": "repair", "name_en": "Repair (copy)"},
    )
    # then
    assert response.status_code == 201
    copy = body_of(response)
    assert (copy["business_line_id"], copy["name_en"], copy["name_zh"]) == (
        target.pk,
        "Repair (copy)",
        source.name_zh,
    )
    statuses = body_of(client.get(f"/api/v1/ticket-types/{copy['id']}/statuses"))
    transitions = body_of(client.get(f"/api/v1/ticket-types/{copy['id']}/transitions"))
    assert [s["key"] for s in statuses] == [
        "new",
        "open",
        "pending_customer",
        "pending_internal",
        "solved",
        "closed",
    ]
    assert len(transitions) == 8
    assert {t["from_status_id"] for t in transitions} <= {s["id"] for s in statuses}


# --- Statuses and transitions ---------------------------------------------------------------------


def test_statuses_are_added_renamed_reordered_and_deactivated(
    admin_user: User,
    make_type: Callable[..., TicketType],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    ticket_type = make_type()
    client = login_client(admin_user)
    base = f"/api/v1/ticket-types/{ticket_type.pk}/statuses"
    # when
    added = client.post_json(
        base,
        {
            "key": "waiting_part",
            "name_zh": "等待备件",
            "name_en": "Waiting for part",
            "category": "pending_internal",
        },
    )
    renamed = client.patch_json(
        f"{base}/{body_of(added)['id']}", {"name_en": "Waiting for spare part"}
    )
    ids = [s["id"] for s in body_of(client.get(base))]
    reordered = client.put_json(f"{base}/order", {"order": list(reversed(ids))})
    deactivated = client.post_json(
        f"{base}/{status(ticket_type, 'pending_internal').pk}/deactivate"
    )
    refused = client.post_json(f"{base}/{status(ticket_type, 'new').pk}/deactivate")
    # then
    assert (added.status_code, body_of(added)["position"], body_of(added)["category"]) == (
        201,
        6,
        "pending_internal",
    )
    assert body_of(renamed)["name"] == "Waiting for spare part"
    assert [s["key"] for s in body_of(reordered)][:2] == ["waiting_part", "closed"]
    assert body_of(deactivated)["is_active"] is False
    assert assert_problem(refused, 422)["errors"][0] == {
        "field": "is_active",
        "code": "initial_status",
        "detail": "The initial status cannot be deactivated: make another status initial.",
    }


def test_a_guard_that_does_not_compile_is_a_422_on_guard_and_nothing_is_saved(
    admin_user: User,
    make_type: Callable[..., TicketType],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    ticket_type = make_type()
    before = config_state()
    # when
    response = login_client(admin_user).post_json(
        f"/api/v1/ticket-types/{ticket_type.pk}/transitions",
        {
            "from_status_id": status(ticket_type, "new").pk,
            "to_status_id": status(ticket_type, "closed").pk,
            "guard": "ticket.priority == 'high' &&",
        },
    )
    # then
    body = assert_problem(response, 422)
    assert (body["code"], body["errors"][0]["field"]) == ("guard_invalid", "guard")
    assert config_state() == before


def test_transitions_are_added_changed_and_deleted(
    admin_user: User,
    make_type: Callable[..., TicketType],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    ticket_type = make_type()
    client = login_client(admin_user)
    base = f"/api/v1/ticket-types/{ticket_type.pk}/transitions"
    # when
    added = client.post_json(
        base,
        {
            "from_status_id": status(ticket_type, "new").pk,
            "to_status_id": status(ticket_type, "closed").pk,
            "name_en": "Close as duplicate",
            "required_fields": ["duplicate_of"],
            "guard": "ticket.channel == 'email'",
        },
    )
    transition_id = body_of(added)["id"]
    changed = client.patch_json(f"{base}/{transition_id}", {"guard": ""})
    deleted = client.delete(f"{base}/{transition_id}")
    # then
    assert added.status_code == 201
    assert {k: body_of(added)[k] for k in ("from_key", "to_key", "label", "required_fields")} == {
        "from_key": "new",
        "to_key": "closed",
        "label": "Close as duplicate",
        "required_fields": ["duplicate_of"],
    }
    assert (body_of(changed)["guard"], body_of(changed)["version"]) == ("", 2)
    assert deleted.status_code == 204
    assert StatusTransition.objects.filter(pk=transition_id).exists() is False
    assert len(body_of(client.get(base))) == 8


def test_a_status_of_another_type_is_refused_as_a_field(
    admin_user: User,
    make_type: Callable[..., TicketType],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    ticket_type, other = make_type(), make_type()
    before = config_state()
    # when
    response = login_client(admin_user).post_json(
        f"/api/v1/ticket-types/{ticket_type.pk}/transitions",
        {
            "from_status_id": status(ticket_type, "new").pk,
            "to_status_id": status(other, "closed").pk,
        },
    )
    # then
    assert assert_problem(response, 422)["errors"][0]["field"] == "to_status_id"
    assert config_state() == before


# --- Check transition ---------------------------------------------------------------------------


def test_check_transition_answers_200_or_names_the_missing_field(
    make_user: Callable[..., User],
    make_type: Callable[..., TicketType],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    ticket_type = make_type()
    agent = make_user(role="agent", scope="all")
    client = login_client(agent)
    url = f"/api/v1/ticket-types/{ticket_type.pk}/check-transition"
    before = config_state()
    # when
    allowed = client.post_json(
        url, {"from": "open", "to": "solved", "values": {"resolution_code": "fixed"}}
    )
    missing = client.post_json(url, {"from": "open", "to": "solved", "values": {}})
    undefined = client.post_json(url, {"from": "new", "to": "closed"})
    unknown = client.post_json(url, {"from": "nowhere", "to": "closed"})
    bad_fact = client.post_json(url, {"from": "new", "to": "open", "facts": {"colour": "red"}})
    # then
    assert (allowed.status_code, body_of(allowed)["ok"], body_of(allowed)["label"]) == (
        200,
        True,
        "Solve",
    )
    body = assert_problem(missing, 422)
    assert (body["code"], body["errors"][0]["field"]) == (
        "required_field_missing",
        "resolution_code",
    )
    assert body["detail"] == "Fill in resolution_code before moving to Solved."
    assert assert_problem(undefined, 422)["code"] == "transition_not_allowed"
    assert assert_problem(unknown, 422)["errors"][0]["field"] == "from"
    assert assert_problem(bad_fact, 422)["errors"][0]["field"] == "facts.colour"
    assert config_state() == before


def test_check_transition_evaluates_the_guard_on_sample_facts(
    admin_user: User,
    make_type: Callable[..., TicketType],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    ticket_type = make_type()
    transition = StatusTransition.objects.get(
        ticket_type=ticket_type, from_status__key="new", to_status__key="open"
    )
    client = login_client(admin_user)
    client.patch_json(
        f"/api/v1/ticket-types/{ticket_type.pk}/transitions/{transition.pk}",
        {"guard": "ticket.assignee_set && ticket.custom_fields.model != 'X1'"},
    )
    url = f"/api/v1/ticket-types/{ticket_type.pk}/check-transition"
    # when
    yes = client.post_json(
        url,
        {
            "from": "new",
            "to": "open",
            "facts": {"assignee_set": True, "custom_fields": {"model": "P9"}},
        },
    )
    no = client.post_json(
        url,
        {
            "from": "new",
            "to": "open",
            "facts": {"assignee_set": True, "custom_fields": {"model": "X1"}},
        },
    )
    # then
    assert yes.status_code == 200
    assert assert_problem(no, 422)["code"] == "guard_refused"
    assert OutboxEvent.objects.filter(topic="statustransition.updated").count() == 1


def test_a_type_can_be_kept_off_the_portal(admin_user, make_line, login_client):
    client = login_client(admin_user)
    line = make_line()
    created = client.post_json(
        "/api/v1/ticket-types",
        {"business_line_id": line.pk, "key": "internal", "name_zh": "内部", "name_en": "Internal",
         "on_portal": False},
    )  # fmt: skip
    assert created.status_code == 201
    assert created.json()["on_portal"] is False
