"""The authorization layer: scopes, 404 versus 403, token scopes, fields and no escalation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aftersales.accounts import authz
from aftersales.accounts import services as accounts
from aftersales.accounts.models import ApiToken, Role, RoleGrant, Team, User
from aftersales.core.errors import NotFound, PermissionDenied
from tests.api.support import assert_problem, body_of, fast_hashing, world_state
from tests.conftest import JsonClient

pytestmark = pytest.mark.usefixtures("fast_hashing")
__all__ = ["fast_hashing"]


@pytest.fixture
def team_a(make_team: Callable[..., Team]) -> Team:
    return make_team(name="Team A")


@pytest.fixture
def delegate(admin_user: User, make_user: Callable[..., User], team_a: Team) -> User:
    """Manages users and roles at scope "all", but holds only a handful of permissions."""
    role = accounts.create_role(
        actor=admin_user,
        key="user-manager",
        name="User manager",
        permissions=[
            "accounts.view_user",
            "accounts.assign_role",
            "accounts.view_role",
            "accounts.change_role",
            "accounts.add_role",
            "accounts.change_user",
            "accounts.add_apitoken",
            "accounts.manage_security",
            "accounts.deactivate_user",
        ],
    )
    user = make_user("delegate", teams=[team_a])
    accounts.grant_role(actor=admin_user, user=user, role=role, scope="all")
    return User.objects.get(pk=user.pk)


@pytest.fixture
def team_lead(admin_user: User, make_user: Callable[..., User], team_a: Team) -> User:
    """Grants roles inside their team only: their permissions are held at scope "teams"."""
    role = accounts.create_role(
        actor=admin_user,
        key="team-lead",
        name="Team lead",
        permissions=["accounts.view_user", "accounts.assign_role"],
    )
    user = make_user("lead", teams=[team_a])
    accounts.grant_role(actor=admin_user, user=user, role=role, scope="teams")
    return User.objects.get(pk=user.pk)


@pytest.fixture
def reader_role(admin_user: User) -> Role:
    return accounts.create_role(
        actor=admin_user, key="reader", name="Reader", permissions=["accounts.view_user"]
    )


# --- Held scopes, restrict and require_permission ---------------------------------------------


def test_widest_scope_among_grants_wins(
    admin_user: User,
    make_user: Callable[..., User],
    reader_role: Role,
) -> None:
    # given
    user = make_user(role="agent", scope="teams")
    accounts.grant_role(actor=admin_user, user=user, role=reader_role, scope="business_lines")
    # when
    scopes = authz.held_scopes(User.objects.get(pk=user.pk))
    # then
    assert scopes["accounts.view_user"] == "business_lines"
    assert scopes["accounts.view_team"] == "teams"
    assert "accounts.add_user" not in scopes


def test_customer_contact_holds_no_permission_even_with_a_grant_row(
    make_user: Callable[..., User],
    reader_role: Role,
) -> None:
    """A grant written behind the services' back still gives a customer nothing."""
    # given
    customer = make_user(kind=User.Kind.CUSTOMER)
    RoleGrant.objects.create(user=customer, role=reader_role, scope="all")
    # when
    scopes = authz.held_scopes(User.objects.get(pk=customer.pk))
    # then
    assert scopes == {}


def test_deactivated_user_holds_no_permission(
    admin_user: User,
    make_user: Callable[..., User],
) -> None:
    # given
    user = make_user(role="agent", scope="all")
    accounts.set_user_active(actor=admin_user, user=user, is_active=False)
    # when
    scopes = authz.held_scopes(User.objects.get(pk=user.pk))
    # then
    assert scopes == {}


def test_require_permission_hides_an_object_outside_the_scope_as_not_found(
    make_user: Callable[..., User],
    make_team: Callable[..., Team],
    team_a: Team,
) -> None:
    # given
    agent = make_user(role="agent", scope="teams", teams=[team_a])
    stranger = make_user(teams=[make_team()])
    # when
    with pytest.raises(NotFound) as raised:
        authz.require_permission(agent, "accounts.change_user", stranger)
    # then
    assert raised.value.status == 404


def test_require_permission_refuses_a_visible_object_as_forbidden(
    make_user: Callable[..., User],
    team_a: Team,
) -> None:
    # given
    agent = make_user(role="agent", scope="teams", teams=[team_a])
    colleague = make_user(teams=[team_a])
    # when
    with pytest.raises(PermissionDenied) as raised:
        authz.require_permission(agent, "accounts.change_user", colleague)
    # then
    assert raised.value.status == 403
    assert raised.value.params == {"permission": "accounts.change_user"}


def test_restrict_returns_each_row_once_across_many_valued_lookups(
    make_user: Callable[..., User],
    make_team: Callable[..., Team],
    make_line: Callable[..., Any],
) -> None:
    """A user in two of the viewer's teams and two of their lines is still one row."""
    # given
    line = make_line()
    first, second = make_team(line=line), make_team(line=line)
    viewer = make_user(role="agent", scope="business_lines", teams=[first, second], lines=[line])
    twice = make_user("twice", teams=[first, second], lines=[line])
    # when
    visible = list(authz.restrict(User.objects.filter(pk=twice.pk), viewer))
    # then
    assert visible == [twice]


def test_model_without_scope_rule_needs_an_all_grant(
    admin_user: User,
    make_user: Callable[..., User],
) -> None:
    # given
    role = accounts.create_role(
        actor=admin_user, key="role-reader", name="Role reader", permissions=["accounts.view_role"]
    )
    scoped = make_user()
    accounts.grant_role(actor=admin_user, user=scoped, role=role, scope="business_lines")
    everything = make_user()
    accounts.grant_role(actor=admin_user, user=everything, role=role, scope="all")
    # when
    scoped_count = authz.restrict(Role.objects.all(), User.objects.get(pk=scoped.pk)).count()
    all_count = authz.restrict(Role.objects.all(), User.objects.get(pk=everything.pk)).count()
    # then
    assert scoped_count == 0
    assert all_count == Role.objects.count()


def test_roles_field_rule_reads_with_view_role_and_writes_with_assign_role(
    admin_user: User,
    make_user: Callable[..., User],
) -> None:
    # given
    agent = make_user(role="agent", scope="all")
    # when / then
    assert authz.can_read_field(admin_user, "accounts.user", "roles") is True
    assert authz.can_read_field(agent, "accounts.user", "roles") is False
    assert authz.can_write_field(agent, "accounts.user", "roles") is False
    assert authz.can_read_field(agent, "accounts.user", "display_name") is True
    assert authz.can_read_field(agent, "audit.auditentry", "ip_address") is False


def test_require_writable_fields_names_the_field(make_user: Callable[..., User]) -> None:
    # given
    agent = make_user(role="agent", scope="all")
    # when
    with pytest.raises(PermissionDenied) as raised:
        authz.require_writable_fields(agent, "accounts.user", ["display_name", "is_active"])
    # then
    assert raised.value.field == "is_active"


# --- Token scopes -----------------------------------------------------------------------------


def test_token_scoped_to_view_permissions_reads_but_cannot_write(
    admin_user: User,
    token_client: Callable[..., JsonClient],
) -> None:
    # given
    client = token_client(admin_user, scopes=["accounts.view_*"])
    before = world_state()
    # when
    listed = client.get("/api/v1/users")
    created = client.post_json("/api/v1/users", {"username": "sneaky"})
    # then
    assert listed.status_code == 200
    assert [item["username"] for item in body_of(listed)["items"]] == ["root-admin"]
    body = assert_problem(created, 403)
    assert body["code"] == "permission_denied"
    assert world_state() == before


def test_token_scopes_do_not_leak_into_the_next_request_of_the_same_user(
    admin_user: User,
    token_client: Callable[..., JsonClient],
) -> None:
    # given
    narrow = token_client(admin_user, scopes=["accounts.view_user"])
    wide = token_client(admin_user)
    narrow.get("/api/v1/users")
    # when
    response = wide.post_json("/api/v1/users", {"username": "allowed"})
    # then
    assert response.status_code == 201
    assert User.objects.filter(username="allowed").count() == 1


# --- No escalation ----------------------------------------------------------------------------


def test_delegate_without_every_admin_permission_cannot_grant_admin(
    delegate: User,
    make_user: Callable[..., User],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    target = make_user("target")
    admin_role = Role.objects.get(key="admin")
    before = world_state()
    # when
    response = login_client(delegate).post_json(
        f"/api/v1/users/{target.pk}/roles", {"role_id": admin_role.pk, "scope": "all"}
    )
    # then
    body = assert_problem(response, 403)
    assert body["errors"][0]["field"] == "permissions"
    assert body["code"] == "cannot_grant_unheld_permission"
    assert RoleGrant.objects.filter(user=target).exists() is False
    assert world_state() == before


def test_delegate_cannot_grant_admin_to_themself(
    delegate: User,
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    admin_role = Role.objects.get(key="admin")
    before = world_state()
    # when
    response = login_client(delegate).post_json(
        f"/api/v1/users/{delegate.pk}/roles", {"role_id": admin_role.pk, "scope": "all"}
    )
    # then
    assert_problem(response, 403)
    assert world_state() == before


def test_team_lead_grants_a_role_they_hold_at_their_own_scope(
    team_lead: User,
    make_user: Callable[..., User],
    team_a: Team,
    reader_role: Role,
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    target = make_user("target", teams=[team_a])
    # when
    response = login_client(team_lead).post_json(
        f"/api/v1/users/{target.pk}/roles", {"role_id": reader_role.pk, "scope": "teams"}
    )
    # then
    assert response.status_code == 201
    assert list(RoleGrant.objects.filter(user=target).values_list("role__key", "scope")) == [
        ("reader", "teams"),
    ]


@pytest.mark.parametrize("scope", ["business_lines", "all"])
def test_team_lead_cannot_grant_a_role_wider_than_they_hold_it(
    scope: str,
    team_lead: User,
    make_user: Callable[..., User],
    team_a: Team,
    reader_role: Role,
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    target = make_user("target", teams=[team_a])
    before = world_state()
    # when
    response = login_client(team_lead).post_json(
        f"/api/v1/users/{target.pk}/roles", {"role_id": reader_role.pk, "scope": scope}
    )
    # then
    body = assert_problem(response, 403)
    assert body["errors"][0]["field"] == "scope"
    assert RoleGrant.objects.filter(user=target).exists() is False
    assert world_state() == before


def test_delegate_cannot_add_a_permission_they_lack_to_a_custom_role(
    admin_user: User,
    delegate: User,
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    role = accounts.create_role(
        actor=admin_user, key="helpers", name="Helpers", permissions=["accounts.view_user"]
    )
    before = world_state()
    # when
    response = login_client(delegate).patch_json(
        f"/api/v1/roles/{role.pk}",
        {"permissions": ["accounts.view_user", "accounts.delete_user"]},
    )
    # then
    body = assert_problem(response, 403)
    assert body["errors"][0]["field"] == "permissions"
    role.refresh_from_db()
    assert role.permissions == ["accounts.view_user"]
    assert role.version == 1
    assert world_state() == before


def test_delegate_cannot_create_a_role_with_a_permission_they_lack(
    delegate: User,
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    before = world_state()
    # when
    response = login_client(delegate).post_json(
        "/api/v1/roles",
        {"key": "mighty", "name": "Mighty", "permissions": ["audit.view_auditentry"]},
    )
    # then
    body = assert_problem(response, 403)
    assert body["errors"][0]["field"] == "permissions"
    assert world_state() == before


def test_delegate_cannot_copy_the_admin_role(
    delegate: User,
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    admin_role = Role.objects.get(key="admin")
    before = world_state()
    # when
    response = login_client(delegate).post_json(
        f"/api/v1/roles/{admin_role.pk}/copy", {"key": "admin-2", "name": "Admin 2"}
    )
    # then
    body = assert_problem(response, 403)
    assert body["errors"][0]["field"] == "permissions"
    assert world_state() == before


def test_predefined_role_cannot_be_edited(
    admin_user: User,
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    agent_role = Role.objects.get(key="agent")
    before = world_state()
    # when
    response = login_client(admin_user).patch_json(
        f"/api/v1/roles/{agent_role.pk}", {"name": "Helpdesk"}
    )
    # then
    body = assert_problem(response, 403)
    assert body["code"] == "role_read_only"
    assert body["errors"][0]["field"] == "is_system"
    assert world_state() == before


def test_predefined_role_cannot_be_deleted(
    admin_user: User,
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    agent_role = Role.objects.get(key="agent")
    before = world_state()
    # when
    response = login_client(admin_user).delete(f"/api/v1/roles/{agent_role.pk}")
    # then
    body = assert_problem(response, 403)
    assert body["errors"][0]["field"] == "is_system"
    assert Role.objects.filter(pk=agent_role.pk).exists() is True
    assert world_state() == before


def test_predefined_role_can_be_copied_into_an_editable_role(
    admin_user: User,
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    agent_role = Role.objects.get(key="agent")
    client = login_client(admin_user)
    # when
    response = client.post_json(
        f"/api/v1/roles/{agent_role.pk}/copy", {"key": "agent-plus", "name": "Agent plus"}
    )
    edited = client.patch_json(
        f"/api/v1/roles/{body_of(response)['id']}", {"name": "Agent with extras"}
    )
    # then
    assert response.status_code == 201
    copy = Role.objects.get(key="agent-plus")
    assert copy.is_system is False
    assert copy.permissions == agent_role.permissions
    assert edited.status_code == 200
    assert body_of(edited)["name"] == "Agent with extras"


def test_token_for_another_staff_user_is_refused(
    delegate: User,
    login_client: Callable[[User], JsonClient],
) -> None:
    """Minting a token for someone else would let the delegate act as them."""
    # given
    root = User.objects.get(username="root-admin")
    before = world_state()
    # when
    response = login_client(delegate).post_json(
        "/api/v1/tokens", {"name": "borrowed", "user_id": root.pk}
    )
    # then
    body = assert_problem(response, 403)
    assert body["errors"][0]["field"] == "user"
    assert ApiToken.objects.filter(user=root).exists() is False
    assert world_state() == before


def test_token_for_an_integration_user_holding_more_than_the_actor_is_refused(
    admin_user: User,
    delegate: User,
    make_user: Callable[..., User],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    robot = make_user("robot", kind=User.Kind.INTEGRATION, role="admin", scope="all")
    before = world_state()
    # when
    response = login_client(delegate).post_json(
        "/api/v1/tokens", {"name": "borrowed", "user_id": robot.pk}
    )
    # then
    body = assert_problem(response, 403)
    assert body["errors"][0]["field"] == "user"
    assert world_state() == before


def test_token_for_an_integration_user_within_the_actor_reach_is_issued(
    delegate: User,
    make_user: Callable[..., User],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    robot = make_user("robot", kind=User.Kind.INTEGRATION)
    # when
    response = login_client(delegate).post_json(
        "/api/v1/tokens", {"name": "sync", "user_id": robot.pk}
    )
    # then
    assert response.status_code == 201
    assert body_of(response)["user_id"] == robot.pk
    assert ApiToken.objects.filter(user=robot).count() == 1


def test_delegate_cannot_set_the_password_of_an_administrator(delegate: User) -> None:
    # given
    root = User.objects.get(username="root-admin")
    before = world_state()
    # when
    with pytest.raises(PermissionDenied) as raised:
        accounts.change_password(actor=delegate, user=root, new_password="a-brand-new-secret")
    # then
    assert raised.value.field == "user"
    root.refresh_from_db()
    assert root.check_password("a-brand-new-secret") is False
    assert world_state() == before


def test_delegate_cannot_change_the_email_of_an_administrator(
    delegate: User,
    login_client: Callable[[User], JsonClient],
) -> None:
    """The e-mail receives password resets: changing it would take the account over."""
    # given
    root = User.objects.get(username="root-admin")
    before = world_state()
    # when
    response = login_client(delegate).patch_json(
        f"/api/v1/users/{root.pk}", {"email": "mine@example.com"}
    )
    # then
    body = assert_problem(response, 403)
    assert body["errors"][0]["field"] == "user"
    assert world_state() == before


def test_delegate_cannot_deactivate_an_administrator(
    delegate: User,
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    root = User.objects.get(username="root-admin")
    before = world_state()
    # when
    response = login_client(delegate).post_json(f"/api/v1/users/{root.pk}/deactivate")
    # then
    assert_problem(response, 403)
    assert User.objects.get(pk=root.pk).is_active is True
    assert world_state() == before


def test_delegate_may_still_rename_an_administrator_display_name(
    delegate: User,
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    root = User.objects.get(username="root-admin")
    # when
    response = login_client(delegate).patch_json(
        f"/api/v1/users/{root.pk}", {"display_name": "The Administrator"}
    )
    # then
    assert response.status_code == 200
    assert User.objects.get(pk=root.pk).display_name == "The Administrator"


def test_deactivated_team_no_longer_carries_its_members_reach(
    admin_user: User,
    make_user: Callable[..., User],
    make_team: Callable[..., Team],
    make_line: Callable[..., Any],
) -> None:
    """Team scope already ignored inactive teams; the business-line scope now does too."""
    # given
    line = make_line()
    old_team, other_team = make_team(line=line), make_team(line=line)
    viewer = make_user(role="agent", scope="business_lines", teams=[old_team])
    accounts.update_team(actor=admin_user, team=old_team, changes={"is_active": False})
    # when
    reach = authz.business_line_ids(User.objects.get(pk=viewer.pk))
    visible = authz.restrict(
        Team.objects.filter(pk=other_team.pk), User.objects.get(pk=viewer.pk)
    ).count()
    # then
    assert reach == []
    assert visible == 0


@pytest.fixture
def line_manager(
    admin_user: User,
    make_user: Callable[..., User],
    team_a: Team,
) -> User:
    """Manages teams and people of their business line; reaches the line, not all."""
    role = accounts.create_role(
        actor=admin_user,
        key="line-manager",
        name="Line manager",
        permissions=[
            "accounts.view_user",
            "accounts.change_user",
            "accounts.view_team",
            "accounts.add_team",
            "accounts.change_team",
            "accounts.view_businessline",
        ],
    )
    user = make_user("line-manager")
    accounts.grant_role(actor=admin_user, user=user, role=role, scope="business_lines")
    accounts.update_user(
        actor=admin_user, user=user, changes={"business_lines": [team_a.business_line]}
    )
    return User.objects.get(pk=user.pk)


def test_nobody_adds_themself_to_a_team_to_widen_their_reach(
    line_manager: User,
    team_a: Team,
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    before = world_state()
    # when
    response = login_client(line_manager).put_json(
        f"/api/v1/teams/{team_a.pk}/members", {"members": [line_manager.pk]}
    )
    # then
    body = assert_problem(response, 403)
    assert (body["code"], body["errors"][0]["field"]) == ("cannot_widen_own_reach", "members")
    assert world_state() == before


def test_nobody_makes_themself_lead_of_a_team(
    line_manager: User,
    team_a: Team,
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    before = world_state()
    # when
    response = login_client(line_manager).patch_json(
        f"/api/v1/teams/{team_a.pk}", {"lead_id": line_manager.pk}
    )
    # then
    body = assert_problem(response, 403)
    assert body["errors"][0]["field"] == "lead"
    assert world_state() == before


def test_nobody_creates_a_team_with_themself_in_it(
    line_manager: User,
    team_a: Team,
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    before = world_state()
    # when
    response = login_client(line_manager).post_json(
        "/api/v1/teams",
        {
            "name": "Mine",
            "business_line_id": team_a.business_line_id,
            "members": [line_manager.pk],
        },
    )
    # then
    body = assert_problem(response, 403)
    assert body["errors"][0]["field"] == "members"
    assert world_state() == before


def test_nobody_adds_a_business_line_to_themself(
    admin_user: User,
    line_manager: User,
    make_line: Callable[..., Any],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    other_line = make_line()
    role = accounts.create_role(
        actor=admin_user,
        key="line-reader",
        name="Line reader",
        permissions=["accounts.view_businessline"],
    )
    accounts.grant_role(actor=admin_user, user=line_manager, role=role, scope="all")
    lines = [line_manager.business_lines.get().pk, other_line.pk]
    before = world_state()
    # when
    response = login_client(line_manager).patch_json(
        f"/api/v1/users/{line_manager.pk}", {"business_lines": lines}
    )
    # then
    body = assert_problem(response, 403)
    assert body["errors"][0]["field"] == "business_lines"
    assert world_state() == before


def test_line_manager_still_staffs_teams_with_others(
    line_manager: User,
    team_a: Team,
    make_user: Callable[..., User],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    newcomer = make_user("newcomer", lines=[team_a.business_line])
    # when
    response = login_client(line_manager).put_json(
        f"/api/v1/teams/{team_a.pk}/members", {"members": [newcomer.pk]}
    )
    # then
    assert response.status_code == 200
    assert body_of(response)["members"] == [newcomer.pk]


def test_admin_with_scope_all_may_join_a_team(
    admin_user: User,
    team_a: Team,
    login_client: Callable[[User], JsonClient],
) -> None:
    # when
    response = login_client(admin_user).put_json(
        f"/api/v1/teams/{team_a.pk}/members", {"members": [admin_user.pk]}
    )
    # then
    assert response.status_code == 200
    assert body_of(response)["members"] == [admin_user.pk]
