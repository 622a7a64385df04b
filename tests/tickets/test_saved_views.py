"""Saved views: filters checked by the ticket allowlist and kept as written, personal and shared
views, who edits them, and the API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aftersales.accounts.models import User
from aftersales.audit.models import AuditEntry
from aftersales.core.errors import DomainError, NotFound, PermissionDenied, PreconditionFailed
from aftersales.outbox.models import OutboxEvent
from aftersales.tickets import selectors
from aftersales.tickets.models import SavedView
from aftersales.tickets.services import saved_views
from tests.api.support import assert_problem, body_of
from tests.conftest import JsonClient

FILTER = "invalid_filter"


def view_state() -> dict[str, Any]:
    """Everything a refused saved-view request must leave as it was."""
    return {
        "views": list(
            SavedView.objects.order_by("pk").values_list(
                "pk", "name", "owner_id", "is_shared", "filters", "sort", "position", "version"
            )
        ),
        "outbox": list(OutboxEvent.objects.order_by("created_at").values_list("topic", flat=True)),
        "audit": AuditEntry.objects.filter(object_type="tickets.savedview").count(),
    }


def _topics() -> list[str]:
    return list(
        OutboxEvent.objects.filter(topic__startswith="saved_view.")
        .order_by("created_at")
        .values_list("topic", flat=True)
    )


@pytest.fixture
def make_view(desk: dict[str, Any]) -> Callable[..., SavedView]:
    def make(actor: User | None = None, **fields: Any) -> SavedView:
        values: dict[str, Any] = {"name": "Urgent ones", "filters": {"priority": "urgent"}}
        return saved_views.create_saved_view(actor=actor or desk["insider"], **{**values, **fields})

    return make


# --- Services -----------------------------------------------------------------------------------


def test_agent_keeps_a_view_with_filters_as_written(desk: dict[str, Any]) -> None:
    """Values become lists of text; a relative date stays relative; creation is announced."""
    # when
    view = saved_views.create_saved_view(
        actor=desk["insider"],
        name=" My  urgent ",
        filters={
            "status_category": ["new", "open"],
            "priority": "urgent",
            "updated_after": "-P7D",
            "assignee": ["me"],
            "team": "",
        },
        sort="-priority",
    )
    # then
    view.refresh_from_db()
    assert (view.name, view.owner_id, view.is_shared, view.sort, view.version) == (
        "My urgent",
        desk["insider"].pk,
        False,
        "-priority",
        1,
    )
    assert view.filters == {
        "assignee": ["me"],
        "priority": ["urgent"],
        "status_category": ["new", "open"],
        "updated_after": ["-P7D"],
    }
    assert _topics() == ["saved_view.created"]
    assert AuditEntry.objects.filter(object_type="tickets.savedview", verb="created").count() == 1


@pytest.mark.parametrize(
    ("_case", "fields", "field", "code"),
    [
        ("unknown filter", {"filters": {"colour": "red"}}, "filters.colour", FILTER),
        ("bad priority", {"filters": {"priority": "asap"}}, "filters.priority", FILTER),
        ("bad date", {"filters": {"created_after": "soon"}}, "filters.created_after", FILTER),
        ("nested value", {"filters": {"team": [[1]]}}, "filters.team", FILTER),
        ("not an object", {"filters": ["priority"]}, "filters", "invalid"),
        ("unknown custom field", {"filters": {"cf.nothing": "x"}}, "filters.cf.nothing", FILTER),
        ("bad sort", {"sort": "subject"}, "sort", FILTER),
        ("no name", {"name": "  "}, "name", "required"),
        ("bad position", {"position": -1}, "position", "invalid"),
    ],
)  # fmt: skip
def test_a_bad_view_is_refused_by_field_and_nothing_is_kept(
    desk: dict[str, Any], _case: str, fields: dict[str, Any], field: str, code: str
) -> None:
    # given
    before = view_state()
    values: dict[str, Any] = {"name": "View", "filters": {}, **fields}
    # when
    with pytest.raises(DomainError) as refused:
        saved_views.create_saved_view(actor=desk["insider"], **values)
    # then
    assert (refused.value.field, refused.value.code) == (field, code)
    assert view_state() == before


def test_sharing_a_view_takes_the_share_right(desk: dict[str, Any]) -> None:
    # given
    before = view_state()
    # when
    with pytest.raises(PermissionDenied) as refused:
        saved_views.create_saved_view(actor=desk["insider"], name="For all", is_shared=True)
    refused_state = view_state()
    shared = saved_views.create_saved_view(actor=desk["manager"], name="For all", is_shared=True)
    # then
    assert (refused.value.code, refused.value.field) == ("permission_denied", "is_shared")
    assert refused_state == before
    assert shared.is_shared is True
    assert list(selectors.saved_views_of(desk["outsider"])) == [shared]


def test_a_contact_keeps_no_views(desk: dict[str, Any]) -> None:
    # given
    before = view_state()
    # when
    with pytest.raises(PermissionDenied):
        saved_views.create_saved_view(actor=desk["contact_a"], name="Mine")
    # then
    assert view_state() == before


def test_owner_edits_a_personal_view_others_cannot_find_it(
    desk: dict[str, Any], make_view: Callable[..., SavedView]
) -> None:
    # given
    view = make_view()
    # when
    with pytest.raises(NotFound):
        saved_views.update_saved_view(actor=desk["manager"], view=view, changes={"name": "X"})
    with pytest.raises(NotFound):
        saved_views.delete_saved_view(actor=desk["colleague"], view=view)
    refused_state = view_state()
    updated = saved_views.update_saved_view(
        actor=desk["insider"],
        view=view,
        changes={"filters": {"priority": ["high", "urgent"]}, "position": 3},
        expected_version=1,
    )
    # then
    assert refused_state["views"] == [
        (view.pk, "Urgent ones", desk["insider"].pk, False, {"priority": ["urgent"]},
         "-updated_at", 0, 1)
    ]  # fmt: skip
    assert (updated.filters, updated.position, updated.version) == (
        {"priority": ["high", "urgent"]},
        3,
        2,
    )
    assert _topics() == ["saved_view.created", "saved_view.updated"]
    entry = AuditEntry.objects.get(object_type="tickets.savedview", verb="updated")
    assert (entry.before, entry.after) == (
        {"filters": {"priority": ["urgent"]}, "position": 0},
        {"filters": {"priority": ["high", "urgent"]}, "position": 3},
    )


def test_a_shared_view_is_edited_by_a_sharer_only(
    desk: dict[str, Any], make_view: Callable[..., SavedView], make_user: Callable[..., User]
) -> None:
    # given
    view = make_view(actor=desk["manager"], is_shared=True)
    other_manager = make_user("other-manager", role="service-manager", scope="all")
    before = view_state()
    # when
    with pytest.raises(PermissionDenied):
        saved_views.update_saved_view(actor=desk["insider"], view=view, changes={"name": "X"})
    with pytest.raises(PermissionDenied):
        saved_views.delete_saved_view(actor=desk["insider"], view=view)
    refused_state = view_state()
    renamed = saved_views.update_saved_view(
        actor=other_manager, view=view, changes={"name": "Everyone's urgent"}
    )
    # then
    assert refused_state == before
    assert (renamed.name, renamed.owner_id) == ("Everyone's urgent", desk["manager"].pk)


def test_an_agent_cannot_share_their_view_later(
    desk: dict[str, Any], make_view: Callable[..., SavedView]
) -> None:
    # given
    view = make_view()
    before = view_state()
    # when
    with pytest.raises(PermissionDenied) as refused:
        saved_views.update_saved_view(actor=desk["insider"], view=view, changes={"is_shared": True})
    # then
    assert refused.value.field == "is_shared"
    assert view_state() == before


def test_a_stale_view_edit_is_refused(
    desk: dict[str, Any], make_view: Callable[..., SavedView]
) -> None:
    # given
    view = make_view()
    saved_views.update_saved_view(actor=desk["insider"], view=view, changes={"name": "Two"})
    before = view_state()
    # when
    with pytest.raises(PreconditionFailed):
        saved_views.update_saved_view(
            actor=desk["insider"], view=view, changes={"name": "Three"}, expected_version=1
        )
    # then
    assert view_state() == before


def test_owner_deletes_their_view(
    desk: dict[str, Any], make_view: Callable[..., SavedView]
) -> None:
    # given
    view = make_view()
    # when
    saved_views.delete_saved_view(actor=desk["insider"], view=view)
    # then
    assert SavedView.objects.count() == 0
    assert _topics() == ["saved_view.created", "saved_view.deleted"]
    entry = AuditEntry.objects.get(object_type="tickets.savedview", verb="deleted")
    assert entry.before is not None
    assert entry.before["name"] == "Urgent ones"


# --- API ----------------------------------------------------------------------------------------

API = "/api/v1/saved-views"


def test_api_permission_matrix_for_saved_views(
    desk: dict[str, Any],
    api_client: JsonClient,
    login_client: Callable[[User], JsonClient],
) -> None:
    """Anonymous 401; a contact lists nothing and keeps nothing; an agent keeps a personal view
    but cannot share one; a sharer shares."""
    # given
    personal = {"name": "Mine", "filters": {"assignee": "me"}}
    before = view_state()
    # when
    anonymous = api_client.post_json(API, personal)
    contact = login_client(desk["contact_a"])
    contact_list, contact_create = contact.get(API), contact.post_json(API, personal)
    agent = login_client(desk["insider"])
    agent_share = agent.post_json(API, {**personal, "is_shared": True})
    refused_state = view_state()
    agent_keep = agent.post_json(API, personal)
    sharer = login_client(desk["manager"]).post_json(API, {"name": "All", "is_shared": True})
    # then
    assert assert_problem(anonymous, 401)["code"] == "not_authenticated"
    assert (contact_list.status_code, body_of(contact_list)) == (200, [])
    assert assert_problem(contact_create, 403)["code"] == "permission_denied"
    assert assert_problem(agent_share, 403)["errors"][0]["field"] == "is_shared"
    assert refused_state == before
    assert agent_keep.status_code == 201
    kept = body_of(agent_keep)
    assert {k: kept[k] for k in ("name", "filters", "sort", "is_shared", "may_edit")} == {
        "name": "Mine",
        "filters": {"assignee": ["me"]},
        "sort": "-updated_at",
        "is_shared": False,
        "may_edit": True,
    }
    assert sharer.status_code == 201
    listed = body_of(agent.get(API))
    assert [(v["name"], v["may_edit"]) for v in listed] == [("All", False), ("Mine", True)]


def test_api_names_the_bad_filter(
    desk: dict[str, Any], login_client: Callable[[User], JsonClient]
) -> None:
    # given
    client = login_client(desk["insider"])
    before = view_state()
    # when
    response = client.post_json(
        API, {"name": "Bad", "filters": {"priority": "asap"}}, HTTP_ACCEPT_LANGUAGE="en"
    )
    sort = client.post_json(API, {"name": "Bad", "sort": "subject"})
    extra = client.post_json(API, {"name": "Bad", "colour": "red"})
    # then
    assert assert_problem(response, 422)["errors"] == [
        {
            "field": "filters.priority",
            "code": "invalid_filter",
            "detail": "Choose one of: low, normal, high, urgent.",
        }
    ]
    assert assert_problem(sort, 422)["errors"][0]["field"] == "sort"
    assert assert_problem(extra, 422)["errors"][0]["field"] == "colour"
    assert view_state() == before


def test_api_hides_another_agents_personal_view(
    desk: dict[str, Any],
    make_view: Callable[..., SavedView],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    view = make_view()
    colleague = login_client(desk["colleague"])
    before = view_state()
    # when
    responses = [
        colleague.get(f"{API}/{view.pk}"),
        colleague.patch_json(f"{API}/{view.pk}", {"name": "Mine"}),
        colleague.delete(f"{API}/{view.pk}"),
    ]
    # then
    assert [assert_problem(r, 404)["code"] for r in responses] == ["not_found"] * 3
    assert body_of(colleague.get(API)) == []
    assert view_state() == before


def test_api_shared_view_is_edited_by_a_sharer_only(
    desk: dict[str, Any],
    make_view: Callable[..., SavedView],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    view = make_view(actor=desk["admin"], is_shared=True)
    before = view_state()
    # when
    refused = login_client(desk["insider"]).patch_json(f"{API}/{view.pk}", {"name": "Mine"})
    refused_state = view_state()
    edited = login_client(desk["manager"]).patch_json(
        f"{API}/{view.pk}", {"sort": "created_at"}, HTTP_IF_MATCH='W/"1"'
    )
    # then
    assert assert_problem(refused, 403)["code"] == "permission_denied"
    assert refused_state == before
    assert edited.status_code == 200
    assert (body_of(edited)["sort"], edited["ETag"]) == ("created_at", 'W/"2"')


def test_api_refuses_a_stale_view_edit_and_deletes(
    desk: dict[str, Any],
    make_view: Callable[..., SavedView],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    view = make_view()
    client = login_client(desk["insider"])
    etag = client.get(f"{API}/{view.pk}")["ETag"]
    client.patch_json(f"{API}/{view.pk}", {"name": "Two"}, HTTP_IF_MATCH=etag)
    before = view_state()
    # when
    stale = client.patch_json(f"{API}/{view.pk}", {"name": "Three"}, HTTP_IF_MATCH=etag)
    stale_state = view_state()
    null = client.patch_json(f"{API}/{view.pk}", {"name": None})
    deleted = client.delete(f"{API}/{view.pk}")
    # then
    assert assert_problem(stale, 412)["code"] == "version_mismatch"
    assert stale_state == before
    assert assert_problem(null, 422)["errors"][0]["field"] == "name"
    assert deleted.status_code == 204
    assert SavedView.objects.count() == 0


def test_api_saved_view_list_query_count_does_not_grow(
    desk: dict[str, Any],
    make_view: Callable[..., SavedView],
    login_client: Callable[[User], JsonClient],
    django_assert_num_queries: Any,
) -> None:
    # given
    client = login_client(desk["insider"])
    make_view()
    client.get(API)
    with django_assert_num_queries(4):
        assert len(body_of(client.get(API))) == 1
    # when
    for number in range(5):
        make_view(name=f"View {number}")
    # then
    with django_assert_num_queries(4):
        assert len(body_of(client.get(API))) == 6
