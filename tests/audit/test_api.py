"""Reading the audit log through the API: who sees addresses, filters, CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import time_machine

from aftersales.accounts import services as accounts
from aftersales.accounts.models import User
from aftersales.audit.models import AuditEntry
from aftersales.core import context
from tests.api.support import assert_problem, body_of, fast_hashing, world_state
from tests.conftest import JsonClient

pytestmark = pytest.mark.usefixtures("fast_hashing")
__all__ = ["fast_hashing"]


@pytest.fixture
def auditor(admin_user: User, make_user: Callable[..., User]) -> User:
    """Reads and exports the audit log everywhere, without seeing IP addresses."""
    role = accounts.create_role(
        actor=admin_user,
        key="auditor",
        name="Auditor",
        permissions=["audit.view_auditentry", "audit.export_auditentry"],
    )
    user = make_user("auditor")
    accounts.grant_role(actor=admin_user, user=user, role=role, scope="all")
    return User.objects.get(pk=user.pk)


def _line_from(address: str, actor: User, code: str, name: str) -> None:
    with context.bound(context.RequestContext(ip_address=address, via="web")):
        accounts.create_business_line(actor=actor, code=code, name=name)


def _items(client: JsonClient, query: str) -> list[dict[str, object]]:
    response = client.get(f"/api/v1/audit?{query}")
    assert response.status_code == 200, response.content
    return body_of(response)["items"]


def test_ip_address_is_hidden_without_its_permission(
    admin_user: User,
    auditor: User,
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    _line_from("203.0.113.9", admin_user, "north", "North")
    query = "object_type=accounts.businessline"
    # when
    hidden = _items(login_client(auditor), query)
    shown = _items(login_client(admin_user), query)
    # then
    assert [item["ip_address"] for item in hidden] == [None]
    assert [item["ip_address"] for item in shown] == ["203.0.113.9"]


def test_export_leaves_the_ip_column_empty_without_its_permission(
    admin_user: User,
    auditor: User,
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    _line_from("203.0.113.9", admin_user, "north", "North")
    # when
    response = login_client(auditor).get("/api/v1/audit/export?object_type=accounts.businessline")
    # then
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [(row["object"], row["ip_address"]) for row in rows] == [("North", "")]


def test_filters_by_actor_action_and_object_type(
    admin_user: User,
    auditor: User,
    make_user: Callable[..., User],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    other_admin = make_user("other-admin", role="admin", scope="all")
    _line_from("203.0.113.1", admin_user, "north", "North")
    _line_from("203.0.113.2", other_admin, "south", "South")
    accounts.record_login(user=other_admin)
    client = login_client(auditor)
    # when
    by_actor = _items(client, f"actor={other_admin.pk}")
    by_action = _items(client, "action=login")
    by_type = _items(client, "object_type=accounts.businessline")
    combined = _items(client, f"actor={other_admin.pk}&object_type=accounts.businessline")
    # then
    assert [(item["action"], item["object"]) for item in by_actor] == [
        ("login", "other-admin"),
        ("created", "South"),
    ]
    assert [item["actor"] for item in by_action] == ["other-admin"]
    assert [item["object"] for item in by_type] == ["South", "North"]
    assert [item["object"] for item in combined] == ["South"]


def test_filters_by_time_window(
    admin_user: User,
    auditor: User,
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    for day, code in [(1, "first"), (2, "second"), (3, "third")]:
        with time_machine.travel(datetime(2026, 3, day, 12, 0, tzinfo=UTC), tick=False):
            _line_from("203.0.113.1", admin_user, code, code.title())
    client = login_client(auditor)
    # when
    window = _items(
        client,
        "object_type=accounts.businessline&since=2026-03-02T00:00:00Z&until=2026-03-03T12:00:00Z",
    )
    since = _items(client, "object_type=accounts.businessline&since=2026-03-02T12:00:00Z")
    # then
    assert [item["object"] for item in window] == ["Second"]
    assert [item["object"] for item in since] == ["Third", "Second"]


def test_free_text_search_matches_object_actor_and_verb(
    admin_user: User,
    auditor: User,
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    _line_from("203.0.113.1", admin_user, "printers", "Printers")
    _line_from("203.0.113.1", admin_user, "scanners", "Scanners")
    client = login_client(auditor)
    # when
    by_object = _items(client, "q=print")
    by_verb = _items(client, "q=bootstrap")
    # then
    assert [item["object"] for item in by_object] == ["Printers"]
    assert [item["verb"] for item in by_verb] == ["bootstrapped"]


def test_bad_filter_value_names_the_field(
    auditor: User,
    login_client: Callable[[User], JsonClient],
) -> None:
    # when
    response = login_client(auditor).get("/api/v1/audit?action=rewrote")
    # then
    body = assert_problem(response, 422)
    assert [error["field"] for error in body["errors"]] == ["action"]


def test_csv_export_neutralises_formulas(
    admin_user: User,
    auditor: User,
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    _line_from("203.0.113.1", admin_user, "evil", '=HYPERLINK("http://x","y")')
    # when
    response = login_client(auditor).get("/api/v1/audit/export?object_type=accounts.businessline")
    # then
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="audit.csv"'
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [row["object"] for row in rows] == ['\'=HYPERLINK("http://x","y")']


def test_user_export_neutralises_formulas(
    admin_user: User,
    make_user: Callable[..., User],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    make_user("spreadsheet", display_name="=1+2", phone="+86 10 1234")
    # when
    response = login_client(admin_user).get("/api/v1/users/export")
    # then
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    row = next(r for r in rows if r["username"] == "spreadsheet")
    assert (row["display_name"], row["phone"]) == ("'=1+2", "'+86 10 1234")


def test_nobody_can_write_to_the_audit_log_through_the_api(
    admin_user: User,
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    entry = AuditEntry.objects.order_by("pk")[0]
    client = login_client(admin_user)
    before = world_state()
    # when
    responses = [
        client.post_json("/api/v1/audit", {"verb": "forged"}),
        client.patch_json(f"/api/v1/audit/{entry.pk}", {"verb": "forged"}),
        client.delete(f"/api/v1/audit/{entry.pk}"),
    ]
    # then
    assert [r.status_code for r in responses] == [405, 404, 404]
    assert world_state() == before


def test_agent_scope_below_all_sees_no_audit_entries(
    admin_user: User,
    make_user: Callable[..., User],
    login_client: Callable[[User], JsonClient],
) -> None:
    """The audit log has no scope rule: only an "all" grant reaches its rows."""
    # given
    role = accounts.create_role(
        actor=admin_user,
        key="team-auditor",
        name="Team auditor",
        permissions=["audit.view_auditentry"],
    )
    user = make_user("team-auditor")
    accounts.grant_role(actor=admin_user, user=user, role=role, scope="teams")
    # when
    response = login_client(user).get("/api/v1/audit")
    # then
    assert body_of(response) == {"items": [], "next_cursor": None}
