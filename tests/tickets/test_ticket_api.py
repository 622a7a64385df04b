"""The ticket API: who may call what, which tickets each caller sees, and what they get back."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation

from aftersales.accounts.models import User
from aftersales.audit.models import AuditEntry
from aftersales.customers import services as customer_services
from aftersales.customers.models import Customer
from aftersales.tickets import services
from aftersales.tickets.models import (
    Attachment,
    Comment,
    SavedView,
    Ticket,
    TicketFollower,
    TicketLink,
    TicketTag,
    TicketType,
)
from tests.api.support import assert_problem, body_of
from tests.conftest import JsonClient
from tests.tickets.conftest import status, ticket_state

MakeTicket = Callable[..., Ticket]
Desk = dict[str, Any]
CALLERS = ("anonymous", "other_contact", "outsider", "owner", "insider", "manager", "admin")


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    """Uploaded files land in the test's own directory."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }


@pytest.fixture
def login_client() -> Callable[[User], JsonClient]:
    """A signed-in client whose browser asks for English."""

    def make(user: User) -> JsonClient:
        client = JsonClient(HTTP_ACCEPT_LANGUAGE="en")
        client.force_login(user)
        return client

    return make


PEOPLE = {
    "other_contact": "contact_b",
    "outsider": "outsider",
    "owner": "contact_a",
    "insider": "insider",
    "manager": "manager",
    "admin": "admin",
}


@pytest.fixture
def callers(desk: Desk, login_client: Callable[[User], JsonClient]) -> Callable[[str], JsonClient]:
    """callers(kind) → a client for each kind of caller of a ticket of Alice's in team A:
    anonymous, other_contact (Bob's login), outsider (team B), owner (Alice's login), insider
    (team A), manager (all lines), admin."""

    def make(kind: str) -> JsonClient:
        if kind == "anonymous":
            return JsonClient(HTTP_ACCEPT_LANGUAGE="en")
        return login_client(desk[PEOPLE[kind]])

    return make


@pytest.fixture
def west_type(desk: Desk, make_type: Callable[..., TicketType]) -> TicketType:
    return make_type(line=desk["line_b"], key="install", number_prefix="INS")


def api_state() -> dict[str, Any]:
    """ticket_state() plus files, links, tags, followers and the audit log."""
    return {
        **ticket_state(),
        "attachments": list(
            Attachment.objects.order_by("pk").values_list("pk", "ticket_id", "is_public")
        ),
        "links": list(
            TicketLink.objects.order_by("pk").values_list("source_id", "target_id", "kind")
        ),
        "tags": list(TicketTag.objects.order_by("pk").values_list("ticket_id", "name")),
        "followers": list(
            TicketFollower.objects.order_by("pk").values_list("ticket_id", "user_id")
        ),
        "audit": AuditEntry.objects.count(),
    }


def ids_of(response: Any) -> list[int]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in body_of(response)["items"]]


def upload(name: str = "photo.jpg", content: bytes = b"\xff\xd8 jpeg bytes") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


def streamed(response: Any) -> bytes:
    try:
        return b"".join(response.streaming_content)
    finally:
        response.close()


def if_match(ticket: Ticket) -> dict[str, str]:
    ticket.refresh_from_db(fields=["version"])
    return {"HTTP_IF_MATCH": f'W/"{ticket.version}"'}


# --- Permission matrix ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    data: Any = None
    multipart: bool = False
    headers: dict[str, str] = field(default_factory=dict)


def send(client: JsonClient, call: Call) -> Any:
    if call.method == "get":
        return client.get(call.path, **call.headers)
    if call.method == "delete":
        return client.delete(call.path, **call.headers)
    if call.method == "patch":
        return client.patch_json(call.path, call.data, **call.headers)
    if call.multipart:
        return client.post(call.path, call.data, **call.headers)
    return client.post_json(call.path, call.data, **call.headers)


def _read(desk: Desk, make_ticket: MakeTicket) -> Call:
    return Call("get", f"/api/v1/tickets/{make_ticket().pk}")


def _patch(desk: Desk, make_ticket: MakeTicket) -> Call:
    ticket = make_ticket()
    return Call(
        "patch", f"/api/v1/tickets/{ticket.pk}", {"priority": "high"}, headers=if_match(ticket)
    )


def _take(desk: Desk, make_ticket: MakeTicket) -> Call:
    return Call("post", f"/api/v1/tickets/{make_ticket().pk}/take")


def _read_comments(desk: Desk, make_ticket: MakeTicket) -> Call:
    ticket = make_ticket()
    services.add_comment(actor=desk["admin"], ticket=ticket, body="We are on it.")
    return Call("get", f"/api/v1/tickets/{ticket.pk}/comments")


def _reply(desk: Desk, make_ticket: MakeTicket) -> Call:
    return Call("post", f"/api/v1/tickets/{make_ticket().pk}/comments", {"body": "Any news?"})


def _note(desk: Desk, make_ticket: MakeTicket) -> Call:
    return Call(
        "post",
        f"/api/v1/tickets/{make_ticket().pk}/comments",
        {"body": "Check the pump first.", "is_public": False},
    )


def _read_files(desk: Desk, make_ticket: MakeTicket) -> Call:
    return Call("get", f"/api/v1/tickets/{make_ticket().pk}/attachments")


def _attach(desk: Desk, make_ticket: MakeTicket) -> Call:
    return Call(
        "post",
        f"/api/v1/tickets/{make_ticket().pk}/attachments",
        {"files": [upload()]},
        multipart=True,
    )


def _file(is_public: bool) -> Callable[[Desk, MakeTicket], Call]:
    def build(desk: Desk, make_ticket: MakeTicket) -> Call:
        comment = services.add_comment(
            actor=desk["admin"],
            ticket=make_ticket(),
            body="The photo.",
            is_public=is_public,
            files=[upload()],
        )
        return Call("get", f"/api/v1/attachments/{comment.attachments.get().pk}/content")

    return build


def _events(desk: Desk, make_ticket: MakeTicket) -> Call:
    return Call("get", f"/api/v1/tickets/{make_ticket().pk}/events")


def _links(desk: Desk, make_ticket: MakeTicket) -> Call:
    return Call("get", f"/api/v1/tickets/{make_ticket().pk}/links")


def _link(desk: Desk, make_ticket: MakeTicket) -> Call:
    ticket, other = make_ticket(), make_ticket()
    return Call("post", f"/api/v1/tickets/{ticket.pk}/links", {"target_id": other.pk})


def _unlink(desk: Desk, make_ticket: MakeTicket) -> Call:
    ticket, other = make_ticket(), make_ticket()
    link = services.link_tickets(actor=desk["admin"], source=ticket, target=other, kind="related")
    return Call("delete", f"/api/v1/tickets/{ticket.pk}/links/{link.pk}")


def _merge(desk: Desk, make_ticket: MakeTicket) -> Call:
    ticket, other = make_ticket(), make_ticket()
    return Call("post", f"/api/v1/tickets/{ticket.pk}/merge", {"merged_ids": [other.pk]})


def _split(desk: Desk, make_ticket: MakeTicket) -> Call:
    comment = services.add_comment(
        actor=desk["admin"], ticket=make_ticket(), body="Also, the dryer squeaks."
    )
    return Call("post", f"/api/v1/comments/{comment.pk}/split", {"subject": "Dryer squeaks"})


# Statuses in the order of CALLERS:
# anonymous, other customer's contact, agent outside the scope, the requester's own contact,
# agent inside the scope, service manager, administrator.
MATRIX: dict[str, tuple[Callable[[Desk, MakeTicket], Call], tuple[int, ...]]] = {
    "read a ticket": (_read, (401, 404, 404, 200, 200, 200, 200)),
    "change a ticket": (_patch, (401, 404, 404, 404, 200, 200, 200)),
    "take a ticket": (_take, (401, 404, 404, 404, 200, 200, 200)),
    "read the conversation": (_read_comments, (401, 404, 404, 200, 200, 200, 200)),
    "reply": (_reply, (401, 404, 404, 201, 201, 201, 201)),
    "add an internal note": (_note, (401, 404, 404, 403, 201, 201, 201)),
    "list files": (_read_files, (401, 404, 404, 200, 200, 200, 200)),
    "attach files": (_attach, (401, 404, 404, 404, 201, 201, 201)),
    "download a public file": (_file(True), (401, 404, 404, 200, 200, 200, 200)),
    "download an internal file": (_file(False), (401, 404, 404, 404, 200, 200, 200)),
    "read the timeline": (_events, (401, 404, 404, 200, 200, 200, 200)),
    "list links": (_links, (401, 404, 404, 404, 200, 200, 200)),
    "link": (_link, (401, 404, 404, 404, 201, 201, 201)),
    "unlink": (_unlink, (401, 404, 404, 404, 204, 204, 204)),
    "merge": (_merge, (401, 404, 404, 404, 200, 200, 200)),
    "split a message": (_split, (401, 404, 404, 404, 201, 201, 201)),
}


@pytest.mark.parametrize(
    ("_case", "caller"), [(case, caller) for case in MATRIX for caller in CALLERS]
)
def test_each_caller_gets_what_the_matrix_says(
    desk: Desk,
    make_ticket: MakeTicket,
    callers: Callable[[str], JsonClient],
    _case: str,
    caller: str,
) -> None:
    """Anonymous 401. Another customer's contact and an agent outside the scope get 404, as if
    the ticket did not exist. The requester's contact reads and replies but works nothing else
    (404: staff objects are invisible to contacts). Agents in scope, managers and admins work
    it. Refusals change nothing."""
    # given
    build, statuses = MATRIX[_case]
    call = build(desk, make_ticket)
    expected = statuses[CALLERS.index(caller)]
    before = api_state()
    # when
    response = send(callers(caller), call)
    # then
    assert response.status_code == expected
    if expected >= 400:
        assert_problem(response, expected)
        assert api_state() == before
    elif getattr(response, "streaming", False):
        assert streamed(response) == b"\xff\xd8 jpeg bytes"


def test_anonymous_is_refused_every_collection_and_nothing_is_created(
    desk: Desk, callers: Callable[[str], JsonClient]
) -> None:
    # given
    client = callers("anonymous")
    before = api_state()
    # when
    responses = [
        client.get("/api/v1/tickets"),
        client.get("/api/v1/tickets/counts"),
        client.get("/api/v1/tickets/export"),
        client.post_json(
            "/api/v1/tickets",
            {"ticket_type_id": desk["repair"].pk, "subject": "x", "requester_id": desk["alice"].pk},
        ),
        client.post_json("/api/v1/tickets/bulk", {"ids": [1], "changes": {"priority": "high"}}),
    ]
    # then
    assert [assert_problem(r, 401)["code"] for r in responses] == ["not_authenticated"] * 5
    assert api_state() == before


# --- Lists, counts and exports follow the data scope ---------------------------------------------


def test_agent_outside_the_scope_sees_nothing_in_lists_counts_or_exports(
    desk: Desk,
    make_ticket: MakeTicket,
    make_user: Callable[..., User],
    login_client: Callable[[User], JsonClient],
) -> None:
    """Team B's agent and line B's manager see none of team A's tickets anywhere."""
    # given
    make_ticket(assignee=desk["insider"])
    make_ticket(priority="urgent")
    west_manager = make_user(role="service-manager", scope="business_lines", lines=[desk["line_b"]])
    outsider = login_client(desk["outsider"])
    # when
    listed = outsider.get("/api/v1/tickets")
    filtered = outsider.get(f"/api/v1/tickets?team={desk['team_a'].pk}&view=all")
    counts = outsider.get("/api/v1/tickets/counts")
    exported = login_client(west_manager).get("/api/v1/tickets/export")
    # then
    assert ids_of(listed) == []
    assert ids_of(filtered) == []
    assert {c["key"]: c["count"] for c in body_of(counts)} == {
        "mine": 0,
        "unassigned": 0,
        "my_teams": 0,
        "pending": 0,
        "following": 0,
        "recent": 0,
        "all": 0,
    }
    assert exported.status_code == 200
    assert list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig")))) == [
        [
            "id", "number", "subject", "status", "status_category", "ticket_type",
            "business_line", "priority", "channel", "team", "assignee", "requester",
            "organisation", "tags", "custom_fields", "due_at", "created_at", "updated_at",
            "solved_at", "closed_at",
        ]
    ]  # fmt: skip


def test_each_caller_lists_and_counts_only_the_tickets_in_their_reach(
    desk: Desk,
    make_ticket: MakeTicket,
    west_type: TicketType,
    callers: Callable[[str], JsonClient],
) -> None:
    # given
    alices = make_ticket()
    bobs = make_ticket(requester=desk["bob"])
    west = make_ticket(ticket_type=west_type, team=desk["team_b"], requester=desk["bob"])
    # when
    clients = {name: callers(name) for name in CALLERS[1:]}
    listed = {name: ids_of(client.get("/api/v1/tickets")) for name, client in clients.items()}
    totals = {
        name: next(c for c in body_of(client.get("/api/v1/tickets/counts")) if c["key"] == "all")[
            "count"
        ]
        for name, client in clients.items()
    }
    # then
    assert listed == {
        "other_contact": [west.pk, bobs.pk],
        "outsider": [west.pk],
        "owner": [alices.pk],
        "insider": [bobs.pk, alices.pk],
        "manager": [west.pk, bobs.pk, alices.pk],
        "admin": [west.pk, bobs.pk, alices.pk],
    }
    assert totals == {
        "other_contact": 2,
        "outsider": 1,
        "owner": 1,
        "insider": 2,
        "manager": 3,
        "admin": 3,
    }


def test_contacts_get_the_customer_shape_without_internal_fields(
    desk: Desk, make_ticket: MakeTicket, callers: Callable[[str], JsonClient]
) -> None:
    """No team, tags, priority, due date, followers, SLA timestamps or internal custom fields;
    the assignee only as a display name."""
    # given
    desk["insider"].display_name = "Li Wei"
    desk["insider"].save(update_fields=["display_name"])
    ticket = make_ticket(
        assignee=desk["insider"],
        tags=["vip"],
        priority="urgent",
        custom_fields={"resolution_code": "fixed"},
        due_at=datetime(2026, 12, 1, tzinfo=UTC),
    )
    # when
    client = callers("owner")
    listed = body_of(client.get("/api/v1/tickets"))["items"]
    detail = body_of(client.get(f"/api/v1/tickets/{ticket.pk}"))
    # then
    assert set(listed[0]) == {
        "audience", "id", "number", "subject", "status", "ticket_type", "requester",
        "created_at", "updated_at",
    }  # fmt: skip
    assert set(detail) == set(listed[0]) | {
        "description",
        "assignee_name",
        "custom_fields",
        "solved_at",
        "closed_at",
    }
    assert (detail["audience"], detail["assignee_name"], detail["custom_fields"]) == (
        "customer",
        "Li Wei",
        {},
    )
    assert detail["requester"] == {"id": desk["alice"].pk, "name": "Alice"}


def test_ticket_list_costs_the_same_number_of_queries_for_3_and_30_tickets(
    desk: Desk,
    make_ticket: MakeTicket,
    login_client: Callable[[User], JsonClient],
    django_assert_num_queries: Any,
) -> None:
    """Status, type, team, assignee and requester are joined; tags come in one prefetch."""
    # given
    client = login_client(desk["manager"])
    people = [desk["insider"], desk["colleague"], None]

    def add(count: int) -> None:
        for number in range(count):
            make_ticket(assignee=people[number % 3], tags=[f"tag-{number}", "common"])

    add(3)
    # when / then: session, user, grants, tickets, tags
    with django_assert_num_queries(5):
        small = client.get("/api/v1/tickets?limit=200")
    add(27)
    with django_assert_num_queries(5):
        large = client.get("/api/v1/tickets?limit=200")
    assert len(ids_of(small)) == 3
    assert len(ids_of(large)) == 30
    assert body_of(large)["items"][0]["tags"] == ["common", "tag-26"]


# --- Filters, sorts, views and pages ------------------------------------------------------------


def test_filters_are_repeatable_query_parameters_including_custom_fields(
    desk: Desk, make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    # given
    high = make_ticket(priority="high", tags=["vip"], custom_fields={"resolution_code": "fixed"})
    urgent = make_ticket(priority="urgent")
    low = make_ticket(priority="low", assignee=desk["insider"])
    client = login_client(desk["insider"])
    # when
    by_priority = client.get("/api/v1/tickets?priority=high&priority=urgent")
    by_tag = client.get("/api/v1/tickets?tag=vip")
    by_custom_field = client.get("/api/v1/tickets?cf.resolution_code=fixed")
    by_view = client.get("/api/v1/tickets?view=mine")
    view_and_filter = client.get("/api/v1/tickets?view=mine&priority=high")
    by_text = client.get(f"/api/v1/tickets?q={low.number}")
    # then
    assert ids_of(by_priority) == [urgent.pk, high.pk]
    assert ids_of(by_tag) == [high.pk]
    assert ids_of(by_custom_field) == [high.pk]
    assert ids_of(by_view) == [low.pk]
    assert ids_of(view_and_filter) == []
    assert ids_of(by_text) == [low.pk]


def test_pages_follow_the_sort_and_the_cursor(
    desk: Desk, make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    # given
    first, second, third = (
        make_ticket(priority="low"),
        make_ticket(),
        make_ticket(priority="urgent"),
    )
    client = login_client(desk["insider"])
    # when
    page_one = body_of(client.get("/api/v1/tickets?sort=created_at&limit=2"))
    page_two = body_of(
        client.get(f"/api/v1/tickets?sort=created_at&limit=2&cursor={page_one['next_cursor']}")
    )
    by_priority = client.get("/api/v1/tickets?sort=-priority")
    # then
    assert [t["id"] for t in page_one["items"]] == [first.pk, second.pk]
    assert ([t["id"] for t in page_two["items"]], page_two["next_cursor"]) == ([third.pk], None)
    assert ids_of(by_priority) == [third.pk, second.pk, first.pk]


@pytest.mark.parametrize(
    ("_case", "query", "field"),
    [
        ("unknown filter", "colour=red", "colour"),
        ("malformed id", "team=east", "team"),
        ("unknown custom field", "cf.colour=red", "cf.colour"),
        ("unknown sort", "sort=subject", "sort"),
        ("unknown view", "view=everything", "view"),
        ("view and saved view", "view=mine&saved_view=1", "saved_view"),
        ("unknown saved view", "saved_view=999999", "saved_view"),
    ],
)
def test_a_bad_list_parameter_is_refused_naming_it(
    desk: Desk,
    login_client: Callable[[User], JsonClient],
    _case: str,
    query: str,
    field: str,
) -> None:
    # when
    response = login_client(desk["insider"]).get(f"/api/v1/tickets?{query}")
    # then
    body = assert_problem(response, 422)
    assert body["errors"][0]["field"] == field


@pytest.mark.parametrize(
    ("_case", "query", "field"),
    [
        ("tags are internal", "tag=vip", "tag"),
        ("so is the assignee", "assignee=1", "assignee"),
        ("and custom fields", "cf.resolution_code=fixed", "cf.resolution_code"),
        ("priority is not shown", "sort=-priority", "sort"),
        ("an agent's view", "view=mine", "view"),
    ],
)
def test_a_contact_cannot_filter_by_what_they_cannot_see(
    desk: Desk,
    make_ticket: MakeTicket,
    login_client: Callable[[User], JsonClient],
    _case: str,
    query: str,
    field: str,
) -> None:
    """Filtering by an internal field would tell the customer its value."""
    # given
    make_ticket(tags=["vip"], custom_fields={"resolution_code": "fixed"})
    # when
    response = login_client(desk["contact_a"]).get(f"/api/v1/tickets?{query}")
    # then
    body = assert_problem(response, 422)
    assert (body["code"], body["errors"][0]["field"]) == ("invalid_filter", field)


def test_saved_views_of_others_apply_only_when_shared(
    desk: Desk, make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    # given
    urgent = make_ticket(priority="urgent")
    make_ticket(priority="low")
    own = SavedView.objects.create(
        owner=desk["insider"], name="Urgent", filters={"priority": ["urgent"]}
    )
    private = SavedView.objects.create(
        owner=desk["colleague"], name="Mine", filters={"priority": ["low"]}
    )
    shared = SavedView.objects.create(
        owner=desk["colleague"], name="Low", filters={"priority": ["low"]}, is_shared=True
    )
    client = login_client(desk["insider"])
    # when
    by_own = client.get(f"/api/v1/tickets?saved_view={own.pk}")
    by_private = client.get(f"/api/v1/tickets?saved_view={private.pk}")
    by_shared = client.get(f"/api/v1/tickets?saved_view={shared.pk}&priority=urgent")
    # then
    assert ids_of(by_own) == [urgent.pk]
    assert assert_problem(by_private, 422)["errors"][0] == {
        "field": "saved_view",
        "code": "unknown_reference",
        "detail": "The referenced object does not exist.",
    }
    assert ids_of(by_shared) == [urgent.pk]


def test_counts_are_per_built_in_view_for_the_caller(
    desk: Desk, make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    # given
    make_ticket(assignee=desk["insider"])
    make_ticket()
    followed = make_ticket(followers=[desk["insider"]])
    services.update_ticket(
        actor=desk["admin"],
        ticket=followed,
        changes={"status": status(desk["repair"], "open")},
    )
    services.update_ticket(
        actor=desk["admin"],
        ticket=followed,
        changes={"status": status(desk["repair"], "pending_customer")},
    )
    # when
    response = login_client(desk["insider"]).get("/api/v1/tickets/counts")
    # then
    assert body_of(response) == [
        {"key": "mine", "label": "My open tickets", "count": 1, "is_capped": False},
        {"key": "unassigned", "label": "My teams' unassigned", "count": 2, "is_capped": False},
        {"key": "my_teams", "label": "My teams' open tickets", "count": 3, "is_capped": False},
        {"key": "pending", "label": "Pending", "count": 1, "is_capped": False},
        {"key": "following", "label": "Following", "count": 1, "is_capped": False},
        {"key": "recent", "label": "Recently updated", "count": 3, "is_capped": False},
        {"key": "all", "label": "All I may see", "count": 3, "is_capped": False},
    ]


# --- Reading one ticket ----------------------------------------------------------------------


def test_a_ticket_answers_with_its_version_as_etag(
    desk: Desk, make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    # given
    ticket = make_ticket(
        assignee=desk["colleague"], tags=["漏水"], followers=[desk["insider"]], priority="high"
    )
    # when
    response = login_client(desk["insider"]).get(f"/api/v1/tickets/{ticket.pk}")
    # then
    assert response.status_code == 200
    assert response["ETag"] == 'W/"1"'
    body = body_of(response)
    assert {
        key: body[key]
        for key in ("audience", "number", "priority", "team", "assignee", "tags", "followers")
    } == {
        "audience": "staff",
        "number": ticket.number,
        "priority": "high",
        "team": {"id": desk["team_a"].pk, "name": "Repair East"},
        "assignee": {"id": desk["colleague"].pk, "name": "colleague"},
        "tags": ["漏水"],
        "followers": [{"id": desk["insider"].pk, "name": "insider"}],
    }
    assert body["status"] == {
        "id": status(desk["repair"], "new").pk,
        "key": "new",
        "name": "New",
        "category": "new",
    }


# --- Creating ---------------------------------------------------------------------------------


@pytest.fixture
def carol(desk: Desk) -> Customer:
    """A customer of team A, so that "my teams" agents reach her."""
    return customer_services.create_customer(
        actor=desk["admin"],
        name="Carol",
        business_line=desk["line_a"],
        team=desk["team_a"],
        identities=[("email", "carol@example.com")],
    )


def test_an_agent_opens_a_ticket_for_a_customer_they_can_see(
    desk: Desk, carol: Customer, login_client: Callable[[User], JsonClient]
) -> None:
    # given
    client = login_client(desk["insider"])
    # when
    response = client.post_json(
        "/api/v1/tickets",
        {
            "ticket_type_id": desk["repair"].pk,
            "requester_id": carol.pk,
            "subject": "Fridge  is   warm",
            "description": "Since Monday.",
            "team_id": desk["team_a"].pk,
            "assignee_id": desk["colleague"].pk,
            "priority": "urgent",
            "channel": "phone",
            "tags": ["vip", "cold chain"],
            "follower_ids": [desk["insider"].pk],
            "custom_fields": {"resolution_code": "replaced"},
            "due_at": "2026-12-01T10:00:00+08:00",
        },
    )
    # then
    assert response.status_code == 201
    ticket = Ticket.objects.get()
    assert response["ETag"] == 'W/"1"'
    assert response["Location"] == f"/api/v1/tickets/{ticket.pk}"
    body = body_of(response)
    assert (body["subject"], body["priority"], body["channel"], body["tags"]) == (
        "Fridge is warm",
        "urgent",
        "phone",
        ["cold chain", "vip"],
    )
    assert (ticket.requester_id, ticket.assignee_id, ticket.created_by_id) == (
        carol.pk,
        desk["colleague"].pk,
        desk["insider"].pk,
    )
    assert ticket.custom_fields == {"resolution_code": "replaced"}
    assert ticket.due_at == datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    assert list(ticket.followers.values_list("username", flat=True)) == ["insider"]


def test_the_requester_can_be_named_by_an_identity(
    desk: Desk, carol: Customer, login_client: Callable[[User], JsonClient]
) -> None:
    # when
    response = login_client(desk["insider"]).post_json(
        "/api/v1/tickets",
        {
            "ticket_type_id": desk["repair"].pk,
            "requester": {"kind": "email", "value": "Carol@Example.com"},
            "subject": "Noise",
            "team_id": desk["team_a"].pk,
        },
    )
    # then
    assert response.status_code == 201
    assert body_of(response)["requester"] == {"id": carol.pk, "name": "Carol"}


@pytest.mark.parametrize(
    ("_case", "changes", "field"),
    [
        ("customer out of scope", {"requester_id": "alice"}, "requester_id"),
        ("identity of a customer out of scope", {"requester": "bob"}, "requester"),
        ("team of another line", {"team_id": "team_b"}, "team_id"),
        ("assignee out of scope", {"assignee_id": "outsider"}, "assignee_id"),
        ("follower out of scope", {"follower_ids": ["outsider"]}, "follower_ids"),
        ("type of another line", {"ticket_type_id": "west"}, "ticket_type_id"),
    ],
)
def test_creating_with_a_reference_out_of_reach_is_refused_naming_it(
    desk: Desk,
    carol: Customer,
    west_type: TicketType,
    login_client: Callable[[User], JsonClient],
    _case: str,
    changes: dict[str, Any],
    field: str,
) -> None:
    # given
    customer_services.add_identity(
        actor=desk["admin"], customer=desk["bob"], kind="phone", value="13812345678"
    )
    values = {
        "alice": desk["alice"].pk,
        "team_b": desk["team_b"].pk,
        "outsider": desk["outsider"].pk,
        "west": west_type.pk,
        "bob": {"kind": "phone", "value": "13812345678"},
    }
    payload: dict[str, Any] = {
        "ticket_type_id": desk["repair"].pk,
        "requester_id": carol.pk,
        "subject": "Noise",
        "team_id": desk["team_a"].pk,
    }
    for key, value in changes.items():
        payload[key] = [values[v] for v in value] if isinstance(value, list) else values[value]
    if "requester" in payload:
        del payload["requester_id"]
    before = api_state()
    # when
    response = login_client(desk["insider"]).post_json("/api/v1/tickets", payload)
    # then
    body = assert_problem(response, 422)
    assert body["errors"][0]["field"] == field
    assert api_state() == before


def test_a_contact_opens_a_ticket_for_themselves_only(
    desk: Desk, login_client: Callable[[User], JsonClient]
) -> None:
    # given
    client = login_client(desk["contact_a"])
    # when
    created = client.post_json(
        "/api/v1/tickets",
        {"ticket_type_id": desk["repair"].pk, "subject": "Door seal leaks"},
    )
    before = api_state()
    for_bob = client.post_json(
        "/api/v1/tickets",
        {
            "ticket_type_id": desk["repair"].pk,
            "subject": "Door seal leaks",
            "requester_id": desk["bob"].pk,
        },
    )
    with_team = client.post_json(
        "/api/v1/tickets",
        {"ticket_type_id": desk["repair"].pk, "subject": "Urgent!", "priority": "urgent"},
    )
    # then
    assert created.status_code == 201
    assert body_of(created)["audience"] == "customer"
    ticket = Ticket.objects.get()
    assert (ticket.requester_id, ticket.channel, ticket.team_id, ticket.created_by_id) == (
        desk["alice"].pk,
        "portal",
        None,
        desk["contact_a"].pk,
    )
    assert assert_problem(for_bob, 422)["errors"][0]["field"] == "requester_id"
    assert assert_problem(with_team, 422)["errors"][0]["field"] == "priority"
    assert api_state() == before


def test_a_retried_creation_with_the_same_idempotency_key_opens_one_ticket(
    desk: Desk, carol: Customer, login_client: Callable[[User], JsonClient]
) -> None:
    # given
    client = login_client(desk["insider"])
    payload = {
        "ticket_type_id": desk["repair"].pk,
        "requester_id": carol.pk,
        "subject": "Fridge is warm",
        "team_id": desk["team_a"].pk,
    }
    # when
    first = client.post_json("/api/v1/tickets", payload, HTTP_IDEMPOTENCY_KEY="fridge-1")
    retried = client.post_json("/api/v1/tickets", payload, HTTP_IDEMPOTENCY_KEY="fridge-1")
    # then
    assert (first.status_code, retried.status_code) == (201, 201)
    assert retried["Idempotent-Replayed"] == "true"
    assert (retried.content, retried["ETag"], retried["Location"]) == (
        first.content,
        first["ETag"],
        first["Location"],
    )
    assert Ticket.objects.count() == 1


# --- Changing: If-Match and references ---------------------------------------------------------


def test_a_change_without_if_match_is_refused_with_428(
    desk: Desk, make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    # given
    ticket = make_ticket()
    client = login_client(desk["insider"])
    before = api_state()
    # when
    missing = client.patch_json(f"/api/v1/tickets/{ticket.pk}", {"priority": "high"})
    wildcard = client.patch_json(
        f"/api/v1/tickets/{ticket.pk}", {"priority": "high"}, HTTP_IF_MATCH="*"
    )
    # then
    for response in (missing, wildcard):
        body = assert_problem(response, 428)
        assert (body["title"], body["code"], body["detail"]) == (
            "Precondition required",
            "if_match_required",
            "Send the ETag you got when reading the ticket as If-Match, so that nobody's "
            "change is overwritten.",
        )
        assert body["errors"][0]["field"] == "If-Match"
    assert api_state() == before


@pytest.mark.parametrize(
    ("_case", "header", "code"),
    [("stale", 'W/"0"', "version_mismatch"), ("not an etag", "yesterday", "if_match_invalid")],
)
def test_a_change_with_a_stale_or_bad_if_match_is_refused_with_412(
    desk: Desk,
    make_ticket: MakeTicket,
    login_client: Callable[[User], JsonClient],
    _case: str,
    header: str,
    code: str,
) -> None:
    # given
    ticket = make_ticket()
    before = api_state()
    # when
    response = login_client(desk["insider"]).patch_json(
        f"/api/v1/tickets/{ticket.pk}", {"priority": "high"}, HTTP_IF_MATCH=header
    )
    # then
    assert assert_problem(response, 412)["code"] == code
    assert api_state() == before


def test_a_change_by_ids_answers_the_new_etag(
    desk: Desk, make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    # given
    ticket = make_ticket(tags=["old", "keep"])
    parent = make_ticket()
    client = login_client(desk["insider"])
    # when
    response = client.patch_json(
        f"/api/v1/tickets/{ticket.pk}",
        {
            "assignee_id": desk["colleague"].pk,
            "status_id": status(desk["repair"], "open").pk,
            "priority": "urgent",
            "add_tags": ["new"],
            "remove_tags": ["old"],
            "follower_ids": [desk["insider"].pk],
            "parent_id": parent.pk,
            "custom_fields": {"resolution_code": "fixed"},
            "due_at": "2026-12-24T18:00:00+08:00",
        },
        **if_match(ticket),
    )
    # then
    assert response.status_code == 200
    assert response["ETag"] == 'W/"2"'
    ticket.refresh_from_db()
    assert (
        ticket.assignee_id,
        ticket.status.key,
        ticket.priority,
        ticket.parent_id,
        ticket.custom_fields,
        ticket.due_at,
        ticket.version,
    ) == (
        desk["colleague"].pk,
        "open",
        Ticket.Priority.URGENT,
        parent.pk,
        {"resolution_code": "fixed"},
        datetime(2026, 12, 24, 10, 0, tzinfo=UTC),
        2,
    )
    assert body_of(response)["tags"] == ["keep", "new"]
    assert body_of(response)["followers"] == [{"id": desk["insider"].pk, "name": "insider"}]


@pytest.mark.parametrize(
    ("_case", "reference", "field"),
    [
        ("team of another line", "team_b", "team_id"),
        ("assignee outside the scope", "outsider", "assignee_id"),
        ("follower outside the scope", "outsider", "follower_ids"),
        ("parent outside the scope", "west_ticket", "parent_id"),
        ("status of another type", "west_status", "status_id"),
        ("type of another line", "west_type", "ticket_type_id"),
        ("customer outside the scope", "bob", "requester_id"),
        ("missing organisation", "nothing", "organisation_id"),
    ],
)
def test_a_change_naming_something_out_of_reach_is_refused_naming_the_field(
    desk: Desk,
    make_ticket: MakeTicket,
    west_type: TicketType,
    login_client: Callable[[User], JsonClient],
    _case: str,
    reference: str,
    field: str,
) -> None:
    """Missing and out of scope read the same, so nothing is learnt about other rows."""
    # given
    ticket = make_ticket()
    west_ticket = make_ticket(ticket_type=west_type, team=desk["team_b"])
    values = {
        "team_b": desk["team_b"].pk,
        "outsider": desk["outsider"].pk,
        "west_ticket": west_ticket.pk,
        "west_status": status(west_type, "open").pk,
        "west_type": west_type.pk,
        "bob": desk["bob"].pk,
        "nothing": 999_999,
    }
    value: Any = [values[reference]] if field == "follower_ids" else values[reference]
    before = api_state()
    # when
    response = login_client(desk["insider"]).patch_json(
        f"/api/v1/tickets/{ticket.pk}", {field: value}, **if_match(ticket)
    )
    # then
    body = assert_problem(response, 422)
    assert body["errors"] == [
        {
            "field": field,
            "code": "unknown_reference",
            "detail": "The referenced object does not exist.",
        }
    ]
    assert api_state() == before


@pytest.mark.parametrize(
    ("_case", "payload", "field", "code"),
    [
        ("null status", {"status_id": None}, "status_id", "null_not_allowed"),
        ("unknown field", {"number": "REP-1"}, "number", "extra_forbidden"),
        ("unknown priority", {"priority": "asap"}, "priority", "literal_error"),
        ("naive due date", {"due_at": "2026-12-24T18:00:00"}, "due_at", "invalid"),
        ("bad custom value", {"custom_fields": {"resolution_code": "burnt"}}, None, None),
    ],
)
def test_an_invalid_change_is_refused_naming_the_field(
    desk: Desk,
    make_ticket: MakeTicket,
    login_client: Callable[[User], JsonClient],
    _case: str,
    payload: dict[str, Any],
    field: str | None,
    code: str | None,
) -> None:
    # given
    ticket = make_ticket()
    before = api_state()
    # when
    response = login_client(desk["insider"]).patch_json(
        f"/api/v1/tickets/{ticket.pk}", payload, **if_match(ticket)
    )
    # then
    error = assert_problem(response, 422)["errors"][0]
    if field is None:
        assert error["field"] == "custom_fields.resolution_code"
    else:
        assert (error["field"], error["code"]) == (field, code)
    assert api_state() == before


def test_solving_asks_for_the_resolution_code_unless_sent_in_the_same_change(
    desk: Desk, make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    # given
    ticket = make_ticket()
    services.update_ticket(
        actor=desk["admin"], ticket=ticket, changes={"status": status(desk["repair"], "open")}
    )
    client = login_client(desk["insider"])
    solved = status(desk["repair"], "solved").pk
    before = api_state()
    # when
    refused = client.patch_json(
        f"/api/v1/tickets/{ticket.pk}", {"status_id": solved}, **if_match(ticket)
    )
    unchanged = api_state()
    accepted = client.patch_json(
        f"/api/v1/tickets/{ticket.pk}",
        {"status_id": solved, "custom_fields": {"resolution_code": "fixed"}},
        **if_match(ticket),
    )
    # then
    body = assert_problem(refused, 422)
    assert (body["code"], body["errors"][0]["field"]) == (
        "required_field_missing",
        "resolution_code",
    )
    assert unchanged == before
    assert accepted.status_code == 200
    assert body_of(accepted)["status"]["key"] == "solved"


# --- Taking ------------------------------------------------------------------------------------


def test_taking_a_taken_ticket_names_who_has_it(
    desk: Desk, make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    # given
    ticket = make_ticket()
    desk["insider"].display_name = "Li Wei"
    desk["insider"].save(update_fields=["display_name"])
    # when
    taken = login_client(desk["insider"]).post(f"/api/v1/tickets/{ticket.pk}/take")
    before = api_state()
    refused = login_client(desk["colleague"]).post(f"/api/v1/tickets/{ticket.pk}/take")
    # then
    assert taken.status_code == 200
    assert (taken["ETag"], body_of(taken)["assignee"]) == (
        'W/"2"',
        {"id": desk["insider"].pk, "name": "Li Wei"},
    )
    body = assert_problem(refused, 409)
    assert (body["code"], body["detail"]) == ("already_assigned", "Li Wei already has this ticket.")
    assert api_state() == before


# --- Conversation ----------------------------------------------------------------------------


def test_staff_write_notes_and_replies_with_files_as_json_or_multipart(
    desk: Desk, make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    # given
    ticket = make_ticket()
    client = login_client(desk["insider"])
    # when
    note = client.post_json(
        f"/api/v1/tickets/{ticket.pk}/comments",
        {"body": "Ask @colleague about the pump.", "is_public": False},
    )
    reply = client.post(
        f"/api/v1/tickets/{ticket.pk}/comments",
        {"body": "Here is the manual.", "files": [upload("manual.pdf", b"%PDF-1.7")]},
    )
    # then
    assert (note.status_code, reply.status_code) == (201, 201)
    note_body, reply_body = body_of(note), body_of(reply)
    assert (note_body["is_public"], note_body["channel"], note_body["mentions"]) == (
        False,
        "api",
        [desk["colleague"].pk],
    )
    assert reply_body["is_public"] is True
    assert [
        (f["filename"], f["content_type"], f["size"], f["is_public"])
        for f in reply_body["attachments"]
    ] == [("manual.pdf", "application/pdf", 8, True)]
    assert list(Comment.objects.filter(ticket=ticket).values_list("is_public", flat=True)) == [
        False,
        True,
    ]


def test_a_contact_replies_publicly_with_a_file_and_never_writes_a_note(
    desk: Desk, make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    # given
    ticket = make_ticket()
    client = login_client(desk["contact_a"])
    # when
    reply = client.post(
        f"/api/v1/tickets/{ticket.pk}/comments",
        {"body": "It leaks again.", "files": [upload()]},
    )
    before = api_state()
    note = client.post(
        f"/api/v1/tickets/{ticket.pk}/comments",
        {"body": "Hidden?", "is_public": "false"},
    )
    # then
    assert reply.status_code == 201
    assert {
        k: v for k, v in body_of(reply).items() if k not in {"id", "created_at", "attachments"}
    } == {
        "audience": "customer",
        "author_name": "contact-a",
        "is_from_customer": True,
        "body": "<p>It leaks again.</p>",
    }
    assert Attachment.objects.get().is_public is True
    assert assert_problem(note, 403)["errors"][0]["field"] == "is_public"
    assert api_state() == before


def test_a_comment_without_body_is_refused_naming_the_field(
    desk: Desk, make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    # given
    ticket = make_ticket()
    client = login_client(desk["insider"])
    before = api_state()
    # when
    as_json = client.post_json(f"/api/v1/tickets/{ticket.pk}/comments", {"is_public": True})
    as_form = client.post(f"/api/v1/tickets/{ticket.pk}/comments", {"files": [upload()]})
    blank = client.post_json(f"/api/v1/tickets/{ticket.pk}/comments", {"body": "   "})
    # then
    assert assert_problem(as_json, 422)["errors"] == [
        {"field": "body", "code": "missing", "detail": "This field is required."}
    ]
    assert assert_problem(as_form, 422)["errors"][0]["field"] == "body"
    assert assert_problem(blank, 422)["errors"][0]["field"] == "body"
    assert api_state() == before


# --- Files -------------------------------------------------------------------------------------


def test_files_download_with_their_name_and_headers_that_keep_them_inert(
    desk: Desk, make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    """Only raster images show inline; an HTML file is a download, never a page of ours."""
    # given
    ticket = make_ticket()
    client = login_client(desk["insider"])
    attached = client.post(
        f"/api/v1/tickets/{ticket.pk}/attachments",
        {
            "files": [
                upload('报告 "final".html', b"<script>alert(1)</script>"),
                upload("台.png", b"\x89PNG"),
            ]
        },
    )
    html, image = (f["url"] for f in body_of(attached))
    # when
    html_response = client.get(html)
    image_response = client.get(image)
    # then
    assert attached.status_code == 201
    assert html_response["Content-Type"] == "text/html"
    assert html_response["Content-Disposition"] == (
        'attachment; filename="__ _final_.html"; '
        "filename*=UTF-8''%E6%8A%A5%E5%91%8A%20%22final%22.html"
    )
    assert image_response["Content-Disposition"] == (
        "inline; filename=\"_.png\"; filename*=UTF-8''%E5%8F%B0.png"
    )
    for response in (html_response, image_response):
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Content-Security-Policy"] == (
            "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"
        )
    assert streamed(html_response) == b"<script>alert(1)</script>"
    assert streamed(image_response) == b"\x89PNG"


def test_files_attached_to_the_ticket_are_internal_unless_said_otherwise(
    desk: Desk, make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    # given
    ticket = make_ticket()
    client = login_client(desk["insider"])
    # when
    internal = client.post(f"/api/v1/tickets/{ticket.pk}/attachments", {"files": [upload("a.jpg")]})
    public = client.post(
        f"/api/v1/tickets/{ticket.pk}/attachments",
        {"files": [upload("b.jpg")], "is_public": "true"},
    )
    seen_by_staff = body_of(client.get(f"/api/v1/tickets/{ticket.pk}/attachments"))["items"]
    seen_by_contact = body_of(
        login_client(desk["contact_a"]).get(f"/api/v1/tickets/{ticket.pk}/attachments")
    )["items"]
    # then
    assert (internal.status_code, public.status_code) == (201, 201)
    assert [(f["filename"], f["is_public"]) for f in seen_by_staff] == [
        ("a.jpg", False),
        ("b.jpg", True),
    ]
    assert [(f["audience"], f["filename"]) for f in seen_by_contact] == [("customer", "b.jpg")]


def test_a_refused_file_is_named_and_nothing_is_stored(
    desk: Desk, make_ticket: MakeTicket, login_client: Callable[[User], JsonClient], tmp_path: Path
) -> None:
    # given
    ticket = make_ticket()
    before = api_state()
    # when
    response = login_client(desk["insider"]).post(
        f"/api/v1/tickets/{ticket.pk}/attachments", {"files": [upload("setup.exe", b"MZ")]}
    )
    # then
    body = assert_problem(response, 422)
    assert (body["code"], body["errors"][0]["field"]) == ("file_type_refused", "files")
    assert api_state() == before
    assert list((tmp_path / "media").rglob("*")) == []


# --- The customer boundary -----------------------------------------------------------------------


def test_contact_a_never_sees_bs_tickets_files_or_internal_notes(
    desk: Desk, make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    """Through lists, counts, details, conversations, timelines or a guessed attachment URL."""
    # given
    admin = desk["admin"]
    alices = make_ticket(subject="Alice's washer")
    bobs = make_ticket(requester=desk["bob"], subject="Bob's dryer")
    services.add_comment(
        actor=admin, ticket=alices, body="We will call you.", files=[upload("a.jpg", b"A-PUBLIC")]
    )
    note_on_alices = services.add_comment(
        actor=admin,
        ticket=alices,
        body="Customer is difficult.",
        is_public=False,
        files=[upload("n.jpg", b"A-INTERNAL")],
    )
    services.add_comment(
        actor=admin, ticket=bobs, body="Bob, see the photo.", files=[upload("b.jpg", b"B-PUBLIC")]
    )
    services.add_comment(
        actor=admin,
        ticket=bobs,
        body="Bob owes us.",
        is_public=False,
        files=[upload("m.jpg", b"B-INTERNAL")],
    )
    client = login_client(desk["contact_a"])
    # when
    listed = client.get("/api/v1/tickets")
    counts = body_of(client.get("/api/v1/tickets/counts"))
    details = [client.get(f"/api/v1/tickets/{t.pk}") for t in (alices, bobs)]
    comments = body_of(client.get(f"/api/v1/tickets/{alices.pk}/comments"))["items"]
    files = body_of(client.get(f"/api/v1/tickets/{alices.pk}/attachments"))["items"]
    events = body_of(client.get(f"/api/v1/tickets/{alices.pk}/events"))["items"]
    bobs_reads = [
        client.get(f"/api/v1/tickets/{bobs.pk}/{part}")
        for part in ("comments", "attachments", "events")
    ]
    downloads = {
        a.filename: client.get(f"/api/v1/attachments/{a.pk}/content")
        for a in Attachment.objects.order_by("pk")
    }
    # then
    assert ids_of(listed) == [alices.pk]
    assert {c["key"]: c["count"] for c in counts} == {"pending": 0, "recent": 1, "all": 1}
    assert details[0].status_code == 200
    assert_problem(details[1], 404)
    assert [c["body"] for c in comments] == ["<p>We will call you.</p>"]
    assert [f["filename"] for f in files] == ["a.jpg"]
    assert [e["kind"] for e in events] == ["created", "replied"]
    assert note_on_alices.pk not in {e.get("comment_id") for e in events}
    assert [r.status_code for r in bobs_reads] == [404, 404, 404]
    assert {name: r.status_code for name, r in downloads.items()} == {
        "a.jpg": 200,
        "n.jpg": 404,
        "b.jpg": 404,
        "m.jpg": 404,
    }
    assert streamed(downloads["a.jpg"]) == b"A-PUBLIC"
    everything = b"".join(
        [listed.content, *(d.content for d in details), *(r.content for r in bobs_reads)]
        + [r.content for name, r in downloads.items() if name != "a.jpg"]
    )
    for secret in (b"Bob", b"difficult", b"owes", b"INTERNAL", b"B-PUBLIC"):
        assert secret not in everything


# --- Timeline and links ------------------------------------------------------------------------


def test_staff_read_the_whole_timeline_and_contacts_the_public_part(
    desk: Desk, make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    # given
    ticket = make_ticket()
    services.add_comment(actor=desk["admin"], ticket=ticket, body="Internal.", is_public=False)
    services.update_ticket(
        actor=desk["admin"],
        ticket=ticket,
        changes={"status": status(desk["repair"], "open"), "priority": "high"},
    )
    services.take_ticket(actor=desk["insider"], ticket=ticket)
    # when
    staff = body_of(login_client(desk["insider"]).get(f"/api/v1/tickets/{ticket.pk}/events"))
    contact = body_of(login_client(desk["contact_a"]).get(f"/api/v1/tickets/{ticket.pk}/events"))
    # then
    assert [e["kind"] for e in staff["items"]] == ["created", "noted", "updated", "assigned"]
    assert staff["items"][2]["changes"]["priority"] == [2, 3]
    assert [(e["kind"], e["changes"]) for e in contact["items"]] == [
        (
            "created",
            {
                "status": [
                    None,
                    {"id": status(desk["repair"], "new").pk, "name_zh": "新建", "name_en": "New"},
                ]
            },
        ),
        (
            "status_changed",
            {
                "status": [
                    {"id": status(desk["repair"], "new").pk, "name_zh": "新建", "name_en": "New"},
                    {
                        "id": status(desk["repair"], "open").pk,
                        "name_zh": "处理中",
                        "name_en": "Open",
                    },
                ]
            },
        ),
    ]


def test_links_are_made_listed_and_removed(
    desk: Desk, make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    # given
    ticket, original = make_ticket(), make_ticket()
    client = login_client(desk["insider"])
    # when
    created = client.post_json(
        f"/api/v1/tickets/{ticket.pk}/links", {"target_id": original.pk, "kind": "duplicate_of"}
    )
    from_original = body_of(client.get(f"/api/v1/tickets/{original.pk}/links"))
    removed = client.delete(f"/api/v1/tickets/{original.pk}/links/{body_of(created)['id']}")
    # then
    assert created.status_code == 201
    assert {k: v for k, v in body_of(created).items() if k not in {"id", "created_at"}} == {
        "kind": "duplicate_of",
        "direction": "outgoing",
        "ticket": {"id": original.pk, "number": original.number, "subject": original.subject},
    }
    assert [(link["direction"], link["ticket"]["id"]) for link in from_original] == [
        ("incoming", ticket.pk)
    ]
    assert removed.status_code == 204
    assert TicketLink.objects.count() == 0


def test_linking_to_a_ticket_out_of_reach_is_refused_naming_the_target(
    desk: Desk,
    make_ticket: MakeTicket,
    west_type: TicketType,
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    ticket = make_ticket()
    west = make_ticket(ticket_type=west_type, team=desk["team_b"])
    before = api_state()
    # when
    response = login_client(desk["insider"]).post_json(
        f"/api/v1/tickets/{ticket.pk}/links", {"target_id": west.pk}
    )
    # then
    assert assert_problem(response, 422)["errors"][0]["field"] == "target_id"
    assert api_state() == before


# --- Merge, split, bulk ----------------------------------------------------------------------


def test_a_manager_merges_tickets_and_the_conversation_moves(
    desk: Desk, make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    # given
    survivor, duplicate = make_ticket(), make_ticket()
    services.add_comment(actor=desk["admin"], ticket=duplicate, body="Same washer.")
    # when
    response = login_client(desk["manager"]).post_json(
        f"/api/v1/tickets/{survivor.pk}/merge", {"merged_ids": [duplicate.pk]}
    )
    # then
    assert response.status_code == 200
    body = body_of(response)
    assert (body["merged_ids"], body["comments_moved"], body["survivor"]["id"]) == (
        [duplicate.pk],
        1,
        survivor.pk,
    )
    duplicate.refresh_from_db()
    assert (duplicate.merged_into_id, duplicate.status_category) == (survivor.pk, "closed")


def test_merging_needs_the_merge_permission_and_nothing_moves(
    desk: Desk,
    make_ticket: MakeTicket,
    make_user: Callable[..., User],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    engineer = make_user(role="field-engineer", scope="all")
    survivor, duplicate = make_ticket(), make_ticket()
    before = api_state()
    # when
    response = login_client(engineer).post_json(
        f"/api/v1/tickets/{survivor.pk}/merge", {"merged_ids": [duplicate.pk]}
    )
    # then
    assert assert_problem(response, 403)["code"] == "permission_denied"
    assert api_state() == before


def test_merging_a_ticket_out_of_reach_is_refused_and_nothing_moves(
    desk: Desk,
    make_ticket: MakeTicket,
    west_type: TicketType,
    make_user: Callable[..., User],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    east_manager = make_user(role="service-manager", scope="business_lines", lines=[desk["line_a"]])
    survivor = make_ticket()
    west = make_ticket(ticket_type=west_type, team=desk["team_b"])
    before = api_state()
    # when
    response = login_client(east_manager).post_json(
        f"/api/v1/tickets/{survivor.pk}/merge", {"merged_ids": [west.pk]}
    )
    # then
    assert assert_problem(response, 422)["errors"][0]["field"] == "merged_ids"
    assert api_state() == before


def test_merging_another_customers_ticket_is_refused_so_nothing_crosses_over(
    desk: Desk, make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    """Merging moves the conversation and files: Bob's would appear on Alice's ticket, readable
    by Alice's contact."""
    # given
    alices = make_ticket()
    bobs = make_ticket(requester=desk["bob"])
    services.add_comment(actor=desk["contact_b"], ticket=bobs, body="My address is 1 Elm St.")
    before = api_state()
    # when
    response = login_client(desk["manager"]).post_json(
        f"/api/v1/tickets/{alices.pk}/merge", {"merged_ids": [bobs.pk]}
    )
    # then
    body = assert_problem(response, 422)
    assert body["errors"] == [
        {
            "field": "merged_ids",
            "code": "merge_other_requester",
            "detail": f"{bobs.number} was raised by another customer; merge only tickets of "
            "the same customer.",
        }
    ]
    assert api_state() == before


def test_an_internal_note_cannot_be_split_into_a_customers_ticket(
    desk: Desk, make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    """The message becomes the new ticket's description, which the requester reads."""
    # given
    note = services.add_comment(
        actor=desk["admin"], ticket=make_ticket(), body="Customer is difficult.", is_public=False
    )
    before = api_state()
    # when
    response = login_client(desk["manager"]).post_json(
        f"/api/v1/comments/{note.pk}/split", {"subject": "Difficult"}
    )
    # then
    body = assert_problem(response, 422)
    assert (body["code"], body["errors"][0]["field"]) == ("split_internal_note", "comment")
    assert api_state() == before


def test_a_message_splits_into_a_new_linked_ticket(
    desk: Desk, make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    # given
    original = make_ticket()
    comment = services.add_comment(
        actor=desk["contact_a"], ticket=original, body="Also, the dryer squeaks."
    )
    # when
    response = login_client(desk["insider"]).post_json(
        f"/api/v1/comments/{comment.pk}/split", {"subject": "Dryer squeaks"}
    )
    # then
    assert response.status_code == 201
    new = Ticket.objects.get(pk=body_of(response)["id"])
    assert response["Location"] == f"/api/v1/tickets/{new.pk}"
    assert (new.subject, new.requester_id, new.team_id) == (
        "Dryer squeaks",
        desk["alice"].pk,
        desk["team_a"].pk,
    )
    assert list(TicketLink.objects.values_list("source_id", "target_id", "kind")) == [
        (new.pk, original.pk, "related")
    ]


def test_bulk_changes_report_each_ticket_that_failed(
    desk: Desk,
    make_ticket: MakeTicket,
    west_type: TicketType,
    login_client: Callable[[User], JsonClient],
) -> None:
    """A ticket out of reach reads as not found; one the lifecycle refuses keeps its state."""
    # given
    ready = make_ticket(custom_fields={"resolution_code": "fixed"})
    unready = make_ticket()
    for ticket in (ready, unready):
        services.update_ticket(
            actor=desk["admin"], ticket=ticket, changes={"status": status(desk["repair"], "open")}
        )
    west = make_ticket(ticket_type=west_type, team=desk["team_b"])
    # when
    response = login_client(desk["insider"]).post_json(
        "/api/v1/tickets/bulk",
        {
            "ids": [ready.pk, west.pk, unready.pk],
            "changes": {"status_id": status(desk["repair"], "solved").pk},
        },
    )
    # then
    assert response.status_code == 200
    assert body_of(response) == {
        "updated": [{"id": ready.pk, "version": 3}],
        "failed": [
            {"id": west.pk, "detail": "Not found."},
            {"id": unready.pk, "detail": "Fill in Resolution code before moving to Solved."},
        ],
    }
    assert list(Ticket.objects.order_by("pk").values_list("status_category", "version")) == [
        ("solved", 3),
        ("open", 2),
        ("new", 1),
    ]


def test_bulk_changes_need_the_change_permission(
    desk: Desk,
    make_ticket: MakeTicket,
    make_user: Callable[..., User],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    ticket = make_ticket()
    engineer = make_user(role="field-engineer", scope="all")
    before = api_state()
    # when
    responses = [
        login_client(person).post_json(
            "/api/v1/tickets/bulk", {"ids": [ticket.pk], "changes": {"priority": "high"}}
        )
        for person in (engineer, desk["contact_a"])
    ]
    # then
    assert [assert_problem(r, 403)["code"] for r in responses] == ["permission_denied"] * 2
    assert api_state() == before


# --- Export ------------------------------------------------------------------------------------


def test_export_uses_the_list_filters_and_neutralises_formulas(
    desk: Desk, make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    # given
    formula = make_ticket(subject='=HYPERLINK("http://evil")', priority="high", tags=["@vip"])
    make_ticket(priority="low")
    audit_before = AuditEntry.objects.filter(action="exported").count()
    # when
    response = login_client(desk["manager"]).get("/api/v1/tickets/export?priority=high")
    # then
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert (row["id"], row["subject"], row["tags"], row["priority"], row["team"]) == (
        str(formula.pk),
        '\'=HYPERLINK("http://evil")',
        "'@vip",
        "high",
        "Repair East",
    )
    assert AuditEntry.objects.filter(action="exported").count() == audit_before + 1


def test_export_needs_the_export_permission(
    desk: Desk, make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    # given
    make_ticket()
    before = api_state()
    # when
    responses = [
        login_client(person).get("/api/v1/tickets/export")
        for person in (desk["insider"], desk["contact_a"])
    ]
    # then
    assert [assert_problem(r, 403)["code"] for r in responses] == ["permission_denied"] * 2
    assert api_state() == before
