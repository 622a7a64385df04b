"""The audit log: every change, login and export is written down, and nothing can rewrite it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction

from aftersales.accounts import services as accounts
from aftersales.accounts.models import ApiToken, Role, User
from aftersales.audit.models import AuditEntry
from tests.api.support import body_of, fast_hashing
from tests.conftest import JsonClient

pytestmark = pytest.mark.usefixtures("fast_hashing")
__all__ = ["fast_hashing"]

ADDRESS = "198.51.100.4"


@pytest.fixture
def admin_client(admin_user: User) -> JsonClient:
    client = JsonClient(REMOTE_ADDR=ADDRESS)
    client.force_login(admin_user)
    return client


def _last(**filters: Any) -> AuditEntry:
    return AuditEntry.objects.filter(**filters).order_by("-pk")[0]


def test_creating_a_user_records_actor_address_and_masked_password(
    admin_user: User,
    admin_client: JsonClient,
) -> None:
    # when
    response = admin_client.post_json(
        "/api/v1/users",
        {
            "username": "newbie",
            "password": "a-long-enough-secret-77",
            "email": "n@example.com",
        },
    )
    # then
    user = User.objects.get(pk=body_of(response)["id"])
    entry = _last(object_type="accounts.user", object_id=str(user.pk))
    assert entry.action == "created"
    assert entry.actor_id == admin_user.pk
    assert entry.actor_label == "root-admin"
    assert entry.ip_address == ADDRESS
    assert entry.via == "api"
    assert entry.before is None
    assert entry.after["username"] == "newbie"
    assert entry.after["email"] == "n@example.com"
    assert entry.after["password"] == "***"
    assert "a-long-enough-secret-77" not in str(entry.after)


def test_updating_a_user_records_only_the_changed_fields(
    make_user: Callable[..., User],
    admin_client: JsonClient,
) -> None:
    # given
    user = make_user("target", display_name="Old", phone="1")
    # when
    admin_client.patch_json(f"/api/v1/users/{user.pk}", {"display_name": "New", "phone": "1"})
    # then
    entry = _last(object_type="accounts.user", object_id=str(user.pk))
    assert (entry.action, entry.verb) == ("updated", "updated")
    assert entry.before == {"display_name": "Old"}
    assert entry.after == {"display_name": "New"}
    assert entry.ip_address == ADDRESS


def test_deactivating_a_user_records_the_switch(
    make_user: Callable[..., User],
    admin_client: JsonClient,
) -> None:
    # given
    user = make_user("target")
    # when
    admin_client.post_json(f"/api/v1/users/{user.pk}/deactivate")
    # then
    entry = _last(object_type="accounts.user", object_id=str(user.pk))
    assert (entry.action, entry.verb) == ("updated", "deactivated")
    assert (entry.before, entry.after) == ({"is_active": True}, {"is_active": False})


def test_team_and_line_changes_are_recorded(
    make_user: Callable[..., User],
    admin_client: JsonClient,
) -> None:
    # given
    member = make_user("member")
    line_id = body_of(
        admin_client.post_json("/api/v1/business-lines", {"code": "print", "name": "Printing"})
    )["id"]
    team_id = body_of(
        admin_client.post_json("/api/v1/teams", {"name": "Front", "business_line_id": line_id})
    )["id"]
    # when
    admin_client.patch_json(f"/api/v1/business-lines/{line_id}", {"name": "Print"})
    admin_client.patch_json(f"/api/v1/teams/{team_id}", {"description": "First line"})
    admin_client.put_json(f"/api/v1/teams/{team_id}/members", {"members": [member.pk]})
    # then
    line_entries = AuditEntry.objects.filter(
        object_type="accounts.businessline", object_id=str(line_id)
    ).order_by("pk")
    assert [(e.action, e.before, e.after and e.after.get("name")) for e in line_entries] == [
        ("created", None, "Printing"),
        ("updated", {"name": "Printing"}, "Print"),
    ]
    team_entries = AuditEntry.objects.filter(
        object_type="accounts.team", object_id=str(team_id)
    ).order_by("pk")
    assert [(e.verb, e.before, e.after) for e in team_entries][1:] == [
        ("updated", {"description": ""}, {"description": "First line"}),
        ("members_changed", {"members": []}, {"members": [member.pk]}),
    ]
    assert {e.ip_address for e in [*line_entries, *team_entries]} == {ADDRESS}


def test_role_lifecycle_and_grants_are_recorded_as_permission_changes(
    make_user: Callable[..., User],
    admin_client: JsonClient,
) -> None:
    # given
    user = make_user("target")
    role_id = body_of(
        admin_client.post_json(
            "/api/v1/roles",
            {"key": "reader", "name": "Reader", "permissions": ["accounts.view_user"]},
        )
    )["id"]
    # when
    admin_client.patch_json(
        f"/api/v1/roles/{role_id}", {"permissions": ["accounts.view_user", "accounts.view_team"]}
    )
    admin_client.post_json(f"/api/v1/users/{user.pk}/roles", {"role_id": role_id, "scope": "teams"})
    admin_client.delete(f"/api/v1/users/{user.pk}/roles/{role_id}")
    admin_client.delete(f"/api/v1/roles/{role_id}")
    # then
    role_entries = AuditEntry.objects.filter(
        object_type="accounts.role", object_id=str(role_id)
    ).order_by("pk")
    assert [(e.action, e.verb) for e in role_entries] == [
        ("permission_changed", "role_created"),
        ("updated", "role_changed"),
        ("permission_changed", "role_deleted"),
    ]
    assert role_entries[1].before == {"permissions": ["accounts.view_user"]}
    assert role_entries[1].after == {"permissions": ["accounts.view_user", "accounts.view_team"]}
    assert role_entries[2].before["key"] == "reader"
    grant_entries = AuditEntry.objects.filter(
        object_type="accounts.user", object_id=str(user.pk), action="permission_changed"
    ).order_by("pk")
    assert [(e.verb, e.before, e.after) for e in grant_entries] == [
        ("role_granted", None, {"role": "reader", "scope": "teams"}),
        ("role_revoked", {"role": "reader", "scope": "teams"}, None),
    ]
    assert Role.objects.filter(pk=role_id).exists() is False


def test_token_creation_and_revocation_are_recorded_without_the_secret(
    admin_user: User,
    admin_client: JsonClient,
) -> None:
    # when
    created = body_of(
        admin_client.post_json("/api/v1/tokens", {"name": "ci", "scopes": ["accounts.view_*"]})
    )
    admin_client.delete(f"/api/v1/tokens/{created['id']}")
    # then
    entries = AuditEntry.objects.filter(
        object_type="accounts.apitoken", object_id=str(created["id"])
    ).order_by("pk")
    assert [(e.action, e.verb) for e in entries] == [
        ("security", "token_created"),
        ("security", "token_revoked"),
    ]
    assert entries[0].after == {
        "user": admin_user.pk,
        "scopes": ["accounts.view_*"],
        "expires_at": None,
    }
    secret_body = created["token"].removeprefix("as_")
    assert all(
        secret_body not in str(e.after) + str(e.before) + e.object_repr
        for e in AuditEntry.objects.all()
    )
    assert ApiToken.objects.get(pk=created["id"]).revoked_at is not None


def test_login_success_and_failure_are_recorded(make_user: Callable[..., User]) -> None:
    # given
    user = make_user("Agent.Smith")
    # when
    accounts.record_login(user=user)
    accounts.record_failed_login(username=" Agent.Smith ", reason="bad_password")
    # then
    success = _last(action="login")
    assert (success.actor_id, success.verb, success.object_repr) == (
        user.pk,
        "login_password",
        "agent.smith",
    )
    failure = _last(action="login_failed")
    assert (failure.actor_id, failure.verb, failure.object_repr, failure.object_type) == (
        None,
        "bad_password",
        "agent.smith",
        "accounts.user",
    )


def test_password_change_is_recorded_without_the_password(
    make_user: Callable[..., User],
) -> None:
    # given
    user = make_user("agent")
    # when
    accounts.change_password(
        actor=user,
        user=user,
        new_password="a-new-long-phrase-99",
        current_password="correct-horse-battery-staple",
    )
    # then
    entry = _last(action="security")
    assert (entry.verb, entry.before, entry.after) == ("password_changed", None, None)


@pytest.mark.parametrize(
    ("path", "object_type", "object_repr"),
    [
        ("/api/v1/users/export", "accounts.user", "users.csv"),
        ("/api/v1/audit/export", "audit.auditentry", "audit.csv"),
    ],
)
def test_exports_are_recorded(
    path: str,
    object_type: str,
    object_repr: str,
    admin_user: User,
    admin_client: JsonClient,
) -> None:
    # when
    response = admin_client.get(path)
    # then
    assert response.status_code == 200
    entry = _last(action="exported")
    assert (entry.actor_id, entry.object_type, entry.object_repr, entry.ip_address) == (
        admin_user.pk,
        object_type,
        object_repr,
        ADDRESS,
    )
    assert entry.after["rows"] == len(response.content.decode("utf-8-sig").splitlines()) - 1


# --- Nobody can edit it ---------------------------------------------------------------------


@pytest.fixture
def entry(admin_user: User) -> AuditEntry:
    return _last(action="created", object_type="accounts.user")


def test_saving_an_existing_entry_raises(entry: AuditEntry) -> None:
    # given
    entry.verb = "rewritten"
    # when / then
    with pytest.raises(PermissionError):
        entry.save()
    assert AuditEntry.objects.get(pk=entry.pk).verb == "bootstrapped"


def test_deleting_an_entry_raises(entry: AuditEntry) -> None:
    # when / then
    with pytest.raises(PermissionError):
        entry.delete()
    assert AuditEntry.objects.filter(pk=entry.pk).exists() is True


def test_queryset_update_is_refused_by_the_database(entry: AuditEntry) -> None:
    # when
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(verb="rewritten")
    # then
    assert AuditEntry.objects.get(pk=entry.pk).verb == "bootstrapped"


def test_queryset_delete_is_refused_by_the_database(entry: AuditEntry) -> None:
    # given
    count = AuditEntry.objects.count()
    # when
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()
    # then
    assert AuditEntry.objects.count() == count


def test_raw_sql_update_is_refused_by_the_database(entry: AuditEntry) -> None:
    # when
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditentry SET verb = 'rewritten' WHERE id = %s", [entry.pk])
    # then
    assert AuditEntry.objects.get(pk=entry.pk).verb == "bootstrapped"


def test_raw_sql_delete_is_refused_by_the_database(entry: AuditEntry) -> None:
    # given
    count = AuditEntry.objects.count()
    # when
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditentry")
    # then
    assert AuditEntry.objects.count() == count


def test_deleting_the_actor_keeps_their_entries(make_user: Callable[..., User]) -> None:
    """Entries outlive the people in them: the actor column is not a database constraint."""
    # given
    user = make_user("leaver")
    accounts.record_login(user=user)
    # when
    User.objects.filter(pk=user.pk).delete()
    # then
    entry = _last(action="login")
    assert (entry.actor_id, entry.actor_label) == (user.pk, "leaver")


def test_changes_pair_each_field_before_and_after(admin_user) -> None:
    """The audit page lists an update field by field, old value beside new."""
    # given
    line = accounts.create_business_line(actor=admin_user, code="hvac", name="暖通")
    # when
    accounts.update_business_line(actor=admin_user, line=line, changes={"name": "暖通空调"})
    entry = AuditEntry.objects.filter(action=AuditEntry.Action.UPDATED).get()
    # then
    assert entry.changes == [("name", "暖通", "暖通空调")]


def test_changes_are_empty_for_entries_without_field_maps(admin_user) -> None:
    # given
    accounts.record_failed_login(username="nobody", reason="bad_credentials")
    # when
    entry = AuditEntry.objects.get(action=AuditEntry.Action.LOGIN_FAILED)
    # then
    assert entry.changes == []
