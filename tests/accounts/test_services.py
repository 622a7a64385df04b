"""Use cases of the accounts domain, called directly."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import pytest
import time_machine
from django.utils import timezone, translation

from aftersales.accounts import catalog
from aftersales.accounts import services as accounts
from aftersales.accounts.models import ApiToken, BusinessLine, Role, RoleGrant, Team, User
from aftersales.core.errors import DomainError, PermissionDenied
from aftersales.outbox.models import OutboxEvent
from tests.api.support import fast_hashing, world_state

pytestmark = pytest.mark.usefixtures("fast_hashing")
__all__ = ["fast_hashing"]

MOMENT = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)


# --- Users --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("_case", "fields", "field", "code"),
    [
        ("blank_username", {"username": "  "}, "username", "required"),
        ("taken_username", {"username": "ROOT-ADMIN"}, "username", "username_taken"),
        (
            "taken_email",
            {"username": "x", "email": "Root-Admin@Example.com"},
            "email",
            "email_taken",
        ),
        ("bad_kind", {"username": "x", "kind": "robot"}, "kind", "invalid_choice"),
        ("weak_password", {"username": "x", "password": "12345"}, "password", "password_invalid"),
    ],
)
def test_create_user_refuses_bad_input_naming_the_field(
    _case: str,
    fields: dict[str, Any],
    field: str,
    code: str,
    admin_user: User,
) -> None:
    # given
    before = world_state()
    # when
    with pytest.raises(DomainError) as raised:
        accounts.create_user(actor=admin_user, **fields)
    # then
    assert (raised.value.field, raised.value.code) == (field, code)
    assert world_state() == before


def test_create_user_without_password_cannot_log_in_and_is_announced(admin_user: User) -> None:
    # when
    user = accounts.create_user(actor=admin_user, username=" invited ", email="i@example.com")
    # then
    assert user.username == "invited"
    assert user.has_usable_password() is False
    event = OutboxEvent.objects.get(topic="user.created", object_id=str(user.pk))
    assert (event.actor_id, event.payload) == (admin_user.pk, {"username": "invited"})


def test_create_user_needs_the_add_permission(make_user: Callable[..., User]) -> None:
    # given
    agent = make_user(role="agent", scope="all")
    before = world_state()
    # when
    with pytest.raises(PermissionDenied):
        accounts.create_user(actor=agent, username="newbie")
    # then
    assert world_state() == before


@pytest.mark.parametrize(
    ("_case", "changes", "field", "code"),
    [
        ("unknown_field", {"is_superuser": True}, "is_superuser", "unknown_field"),
        ("taken_email", {"email": "ROOT-ADMIN@example.com"}, "email", "email_taken"),
        ("bad_language", {"language": "fr"}, "language", "invalid_choice"),
    ],
)
def test_update_user_refuses_bad_input_naming_the_field(
    _case: str,
    changes: dict[str, Any],
    field: str,
    code: str,
    admin_user: User,
    make_user: Callable[..., User],
) -> None:
    # given
    user = make_user("target")
    before = world_state()
    # when
    with pytest.raises(DomainError) as raised:
        accounts.update_user(actor=admin_user, user=user, changes=changes)
    # then
    assert (raised.value.field, raised.value.code) == (field, code)
    assert world_state() == before


def test_update_user_with_a_stale_version_is_a_conflict(
    admin_user: User,
    make_user: Callable[..., User],
) -> None:
    # given
    user = make_user("target")
    accounts.update_user(actor=admin_user, user=user, changes={"phone": "1"})
    before = world_state()
    # when
    with pytest.raises(DomainError) as raised:
        accounts.update_user(
            actor=admin_user, user=user, changes={"phone": "2"}, expected_version=1
        )
    # then
    assert (raised.value.status, raised.value.code) == (409, "version_mismatch")
    assert world_state() == before


def test_update_user_announces_the_changed_fields(
    admin_user: User,
    make_user: Callable[..., User],
    make_line: Callable[..., BusinessLine],
) -> None:
    # given
    user = make_user("target")
    line = make_line()
    # when
    updated = accounts.update_user(
        actor=admin_user, user=user, changes={"display_name": "T", "business_lines": [line]}
    )
    # then
    assert updated.version == 2
    assert list(updated.business_lines.all()) == [line]
    event = OutboxEvent.objects.get(topic="user.updated")
    assert event.payload == {"fields": ["business_lines", "display_name"]}


# --- Teams --------------------------------------------------------------------------------


def test_team_name_is_unique_per_business_line(
    admin_user: User,
    make_line: Callable[..., BusinessLine],
    make_team: Callable[..., Team],
) -> None:
    # given
    north, south = make_line(), make_line()
    make_team(name="Front", line=north)
    before = world_state()
    # when
    with pytest.raises(DomainError) as raised:
        accounts.create_team(actor=admin_user, name="Front", business_line=north)
    # then
    assert (raised.value.field, raised.value.code) == ("name", "name_taken")
    assert world_state() == before
    assert accounts.create_team(actor=admin_user, name="Front", business_line=south).pk


def test_renaming_a_team_onto_a_taken_name_is_refused(
    admin_user: User,
    make_line: Callable[..., BusinessLine],
    make_team: Callable[..., Team],
) -> None:
    # given
    line = make_line()
    make_team(name="Front", line=line)
    back = make_team(name="Back", line=line)
    before = world_state()
    # when
    with pytest.raises(DomainError) as raised:
        accounts.update_team(actor=admin_user, team=back, changes={"name": "Front"})
    # then
    assert (raised.value.field, raised.value.code) == ("name", "name_taken")
    assert world_state() == before


def test_set_team_members_emits_one_event_with_the_difference(
    admin_user: User,
    make_user: Callable[..., User],
    make_team: Callable[..., Team],
) -> None:
    # given
    stays, leaves, joins = make_user("stays"), make_user("leaves"), make_user("joins")
    team = make_team(members=[stays, leaves])
    OutboxEvent.objects.all().delete()
    # when
    accounts.set_team_members(actor=admin_user, team=team, members=[stays, joins])
    # then
    events = list(OutboxEvent.objects.all())
    assert [(e.topic, e.payload) for e in events] == [
        ("team.members_changed", {"added": [joins.pk], "removed": [leaves.pk]}),
    ]
    assert sorted(team.memberships.values_list("user_id", flat=True)) == sorted(
        [stays.pk, joins.pk]
    )


def test_set_team_members_without_a_change_emits_nothing(
    admin_user: User,
    make_user: Callable[..., User],
    make_team: Callable[..., Team],
) -> None:
    # given
    member = make_user("member")
    team = make_team(members=[member])
    before = world_state()
    # when
    accounts.set_team_members(actor=admin_user, team=team, members=[member])
    # then
    assert world_state() == before


def test_team_lead_stays_a_member(
    admin_user: User,
    make_user: Callable[..., User],
    make_team: Callable[..., Team],
) -> None:
    # given
    lead, other = make_user("lead"), make_user("other")
    team = make_team(lead=lead, members=[other])
    # when
    accounts.set_team_members(actor=admin_user, team=team, members=[])
    # then
    assert list(team.memberships.values_list("user_id", flat=True)) == [lead.pk]


# --- Roles --------------------------------------------------------------------------------


def test_sync_predefined_roles_twice_changes_nothing(admin_user: User) -> None:
    # given
    before = list(Role.objects.order_by("pk").values_list("key", "permissions", "version"))
    # when
    accounts.sync_predefined_roles()
    # then
    after = list(Role.objects.order_by("pk").values_list("key", "permissions", "version"))
    assert after == before
    assert [key for key, _p, _v in after] == [
        "admin",
        "service-manager",
        "agent",
        "second-line",
        "field-engineer",
        "warehouse-keeper",
    ]


def test_sync_predefined_roles_picks_up_new_catalogue_permissions(
    admin_user: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given
    monkeypatch.setattr(catalog, "_PERMISSIONS", dict(catalog._PERMISSIONS))
    # An app added later (here a made-up "visit" of customers) joins the patterns' roles.
    catalog.register_object_type("customers", "visit", "Visits")
    # when
    accounts.sync_predefined_roles()
    # then
    agent = Role.objects.get(key="agent")
    assert {"customers.view_visit", "customers.add_visit", "customers.change_visit"} <= set(
        agent.permissions
    )
    assert "customers.delete_visit" not in agent.permissions
    assert agent.version == 2
    assert "customers.delete_visit" in Role.objects.get(key="admin").permissions


def test_delete_role_still_granted_is_refused(
    admin_user: User,
    make_user: Callable[..., User],
) -> None:
    # given
    role = accounts.create_role(
        actor=admin_user, key="reader", name="Reader", permissions=["accounts.view_user"]
    )
    accounts.grant_role(actor=admin_user, user=make_user(), role=role, scope="own")
    before = world_state()
    # when
    with pytest.raises(DomainError) as raised:
        accounts.delete_role(actor=admin_user, role=role)
    # then
    assert raised.value.code == "role_in_use"
    assert world_state() == before


def test_unknown_permission_in_a_role_is_refused(admin_user: User) -> None:
    # when
    with pytest.raises(DomainError) as raised:
        accounts.create_role(
            actor=admin_user, key="odd", name="Odd", permissions=["accounts.fly_user"]
        )
    # then
    assert raised.value.field == "permissions"
    with translation.override("en"):
        assert raised.value.detail() == "Unknown permission: accounts.fly_user"


def test_customer_contact_cannot_hold_a_role(
    admin_user: User,
    make_user: Callable[..., User],
) -> None:
    # given
    customer = make_user(kind=User.Kind.CUSTOMER)
    before = world_state()
    # when
    with pytest.raises(DomainError) as raised:
        accounts.grant_role(
            actor=admin_user, user=customer, role=Role.objects.get(key="agent"), scope="own"
        )
    # then
    assert raised.value.field == "user"
    assert world_state() == before


def test_regranting_at_another_scope_changes_the_one_grant(
    admin_user: User,
    make_user: Callable[..., User],
) -> None:
    # given
    user = make_user(role="agent", scope="own")
    # when
    accounts.grant_role(
        actor=admin_user, user=user, role=Role.objects.get(key="agent"), scope="all"
    )
    # then
    assert list(RoleGrant.objects.filter(user=user).values_list("role__key", "scope")) == [
        ("agent", "all"),
    ]


# --- Bootstrap ----------------------------------------------------------------------------


def test_bootstrap_admin_works_only_once(admin_user: User) -> None:
    # given
    before = world_state()
    # when
    with pytest.raises(DomainError) as raised:
        accounts.bootstrap_admin(username="second-admin", password="another-long-phrase-1")
    # then
    assert raised.value.code == "already_bootstrapped"
    assert world_state() == before


def test_bootstrap_admin_grants_admin_at_scope_all(admin_user: User) -> None:
    # when
    grants = list(RoleGrant.objects.filter(user=admin_user).values_list("role__key", "scope"))
    # then
    assert grants == [("admin", "all")]


# --- Two-factor ---------------------------------------------------------------------------


def test_totp_code_works_once(make_user: Callable[..., User]) -> None:
    # given
    user = make_user("agent")
    with time_machine.travel(MOMENT, tick=False):
        uri = accounts.begin_totp_enrolment(actor=user)
        code = pyotp.TOTP(user.totp_secret).at(MOMENT)
        accounts.confirm_totp_enrolment(actor=user, code=code)
        # when
        replayed = accounts.verify_second_factor(user=User.objects.get(pk=user.pk), code=code)
    later = MOMENT + timedelta(seconds=30)
    with time_machine.travel(later, tick=False):
        fresh = accounts.verify_second_factor(
            user=User.objects.get(pk=user.pk), code=pyotp.TOTP(user.totp_secret).at(later)
        )
    # then
    assert uri.startswith("otpauth://totp/Aftersales:agent?secret=")
    assert User.objects.get(pk=user.pk).has_two_factor is True
    assert replayed is False
    assert fresh is True


def test_wrong_totp_code_does_not_confirm_enrolment(make_user: Callable[..., User]) -> None:
    # given
    user = make_user("agent")
    accounts.begin_totp_enrolment(actor=user)
    # when
    with pytest.raises(DomainError) as raised:
        accounts.confirm_totp_enrolment(actor=user, code="abc123")
    # then
    assert raised.value.field == "code"
    assert User.objects.get(pk=user.pk).has_two_factor is False


# --- Login throttling ---------------------------------------------------------------------


def test_login_locks_after_the_failure_limit_within_the_window(
    db: None,
    settings: Any,
) -> None:
    # given
    settings.LOGIN_FAILURE_LIMIT = 5
    settings.LOGIN_FAILURE_WINDOW_SECONDS = 900
    with time_machine.travel(MOMENT, tick=False):
        for _ in range(4):
            accounts.record_failed_login(username="Agent", reason="bad_password")
        four = accounts.login_is_locked("agent")
        accounts.record_failed_login(username="AGENT ", reason="bad_password")
    # when
    with time_machine.travel(MOMENT + timedelta(seconds=899), tick=False):
        within = accounts.login_is_locked(" Agent")
    with time_machine.travel(MOMENT + timedelta(seconds=901), tick=False):
        after = accounts.login_is_locked("agent")
    # then
    assert (four, within, after) == (False, True, False)


def test_failures_of_another_name_do_not_lock(db: None, settings: Any) -> None:
    # given
    settings.LOGIN_FAILURE_LIMIT = 2
    accounts.record_failed_login(username="alice", reason="bad_password")
    accounts.record_failed_login(username="alice", reason="bad_password")
    # when
    locked = accounts.login_is_locked("bob")
    # then
    assert locked is False


# --- Tokens -------------------------------------------------------------------------------


def test_token_expiry_must_lie_in_the_future(make_user: Callable[..., User]) -> None:
    # given
    user = make_user("agent")
    before = world_state()
    # when
    with pytest.raises(DomainError) as raised:
        accounts.create_token(
            actor=user, user=user, name="old", expires_at=timezone.now() - timedelta(seconds=1)
        )
    # then
    assert raised.value.field == "expires_at"
    assert world_state() == before


def test_customer_contact_cannot_hold_a_token(make_user: Callable[..., User]) -> None:
    # given
    customer = make_user(kind=User.Kind.CUSTOMER)
    before = world_state()
    # when
    with pytest.raises(DomainError) as raised:
        accounts.create_token(actor=customer, user=customer, name="mine")
    # then
    assert raised.value.field == "user"
    assert world_state() == before


def test_token_use_is_written_at_most_once_a_minute(make_user: Callable[..., User]) -> None:
    # given
    user = make_user("agent")
    issued = accounts.create_token(actor=user, user=user, name="laptop")
    with time_machine.travel(MOMENT, tick=False):
        accounts.authenticate_token(issued.secret, ip_address="192.0.2.1")
    # when
    with time_machine.travel(MOMENT + timedelta(seconds=59), tick=False):
        accounts.authenticate_token(issued.secret, ip_address="192.0.2.2")
    with time_machine.travel(MOMENT + timedelta(seconds=61), tick=False):
        accounts.authenticate_token(issued.secret, ip_address="192.0.2.3")
    # then
    token = ApiToken.objects.get(pk=issued.token.pk)
    assert (token.last_used_at, token.last_used_ip) == (MOMENT + timedelta(seconds=61), "192.0.2.3")


def test_secret_of_another_shape_is_not_a_token(db: None) -> None:
    # when
    found = accounts.authenticate_token("Basic abc")
    # then
    assert found is None
