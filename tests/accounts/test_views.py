"""Account pages: sign-in, two-factor, language, passwords and the settings pages."""

from __future__ import annotations

import re

import pyotp
import pytest
from django.conf import settings
from django.core import mail
from django.test import Client

from aftersales.accounts import services as accounts
from aftersales.accounts.middleware import SECOND_FACTOR_SESSION_KEY
from aftersales.accounts.models import ApiToken, Role, RoleGrant, Team, User
from aftersales.audit.models import AuditEntry
from tests.conftest import PASSWORD

LOGIN = "/accounts/login/"


@pytest.fixture(autouse=True)
def english(settings):  # type: ignore[no-untyped-def]
    """Assertions read the English source strings; a browser without a preference gets them."""
    settings.LANGUAGE_CODE = "en"


def login_rows(action: str) -> list[tuple[str, str]]:
    return list(
        AuditEntry.objects.filter(action=action).order_by("pk").values_list("verb", "object_repr")
    )


def sign_in(client: Client, username: str, password: str = PASSWORD, **extra: str):  # type: ignore[no-untyped-def]
    return client.post(LOGIN, {"username": username, "password": password, **extra})


@pytest.fixture
def team_setup(make_team, make_user, make_line):  # type: ignore[no-untyped-def]
    """An agent in team A (scope "my teams"), a colleague in A and a stranger in team B."""
    team_a = make_team(name="Printers A", line=make_line(code="print", name="Print"))
    team_b = make_team(name="Scanners B", line=make_line(code="scan", name="Scan"))
    agent = make_user("agent-a", role="agent", scope="teams", teams=[team_a])
    colleague = make_user("colleague-a", teams=[team_a])
    stranger = make_user("stranger-b", teams=[team_b])
    return {
        "team_a": team_a,
        "team_b": team_b,
        "agent": agent,
        "colleague": colleague,
        "stranger": stranger,
    }


# --- Sign-in ------------------------------------------------------------------------------------


def test_login_with_username_signs_in_and_records_the_login(client, make_user):
    # given
    make_user("mei", role="agent")
    # when
    response = sign_in(client, "mei")
    # then
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200
    assert login_rows(AuditEntry.Action.LOGIN) == [("login_password", "mei")]


def test_login_with_email_and_safe_next_goes_there(client, make_user):
    # given
    make_user("mei", role="agent", email="mei@example.com")
    # when
    response = sign_in(client, "MEI@example.com", next="/accounts/profile/")
    # then
    assert response.status_code == 302
    assert response["Location"] == "/accounts/profile/"


def test_login_ignores_a_next_on_another_host(client, make_user):
    # given
    make_user("mei", role="agent")
    # when
    response = sign_in(client, "mei", next="https://evil.example.com/")
    # then
    assert response["Location"] == "/"


def test_wrong_password_shows_an_error_and_records_the_failure(client, make_user):
    # given
    make_user("mei", role="agent")
    # when
    response = sign_in(client, "mei", "wrong-password")
    # then
    assert response.status_code == 200
    assert "The username or password is not correct." in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert login_rows(AuditEntry.Action.LOGIN_FAILED) == [("bad_credentials", "mei")]
    assert login_rows(AuditEntry.Action.LOGIN) == []


def test_login_locks_after_the_failure_limit_even_with_the_right_password(client, make_user):
    # given
    make_user("mei", role="agent")
    for _attempt in range(settings.LOGIN_FAILURE_LIMIT):
        sign_in(client, "mei", "wrong-password")
    # when
    response = sign_in(client, "mei")
    # then
    assert response.status_code == 200
    assert "Sign-in is locked for this account" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert login_rows(AuditEntry.Action.LOGIN_FAILED) == [
        *[("bad_credentials", "mei")] * settings.LOGIN_FAILURE_LIMIT,
        ("locked", "mei"),
    ]
    assert login_rows(AuditEntry.Action.LOGIN) == []


def test_inactive_user_cannot_sign_in(client, make_user, admin_user):
    # given
    user = make_user("mei", role="agent")
    accounts.set_user_active(actor=admin_user, user=user, is_active=False)
    # when
    response = sign_in(client, "mei")
    # then
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert login_rows(AuditEntry.Action.LOGIN_FAILED) == [("bad_credentials", "mei")]


def test_logout_is_post_only_and_records_the_logout(make_user, login_client):
    # given
    client = login_client(make_user("mei", role="agent"))
    # when
    refused = client.get("/accounts/logout/")
    response = client.post("/accounts/logout/")
    # then
    assert refused.status_code == 405
    assert response.status_code == 302
    assert response["Location"] == LOGIN
    assert "_auth_user_id" not in client.session
    assert list(
        AuditEntry.objects.filter(action=AuditEntry.Action.LOGOUT).values_list(
            "actor_label", flat=True
        )
    ) == ["mei"]


def test_anonymous_home_redirects_to_login(client, db):
    # when
    response = client.get("/")
    # then
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"


# --- Two-factor ---------------------------------------------------------------------------------


@pytest.fixture
def totp_user(make_user):  # type: ignore[no-untyped-def]
    user = make_user("tao", role="agent")
    accounts.begin_totp_enrolment(actor=user)
    user.refresh_from_db()
    # Confirm with the code of the previous 30 s window, so the login code is still fresh.
    totp = pyotp.TOTP(user.totp_secret)
    import time as _time

    accounts.confirm_totp_enrolment(actor=user, code=totp.at(_time.time() - 30))
    user.refresh_from_db()
    return user


def test_totp_user_signs_in_only_after_the_code(client, totp_user):
    # given
    response = sign_in(client, "tao")
    assert response["Location"] == "/accounts/two-factor/"
    assert client.session[SECOND_FACTOR_SESSION_KEY] is True
    # when: any other page, including settings under /accounts/, waits for the code
    home = client.get("/")
    users = client.get("/accounts/users/")
    wrong = client.post("/accounts/two-factor/", {"code": "000000"})
    right = client.post("/accounts/two-factor/", {"code": pyotp.TOTP(totp_user.totp_secret).now()})
    # then
    assert home["Location"] == "/accounts/two-factor/"
    assert users["Location"] == "/accounts/two-factor/"
    assert wrong.status_code == 200
    assert "The code is not correct." in wrong.content.decode()
    assert right.status_code == 302
    assert right["Location"] == "/"
    assert SECOND_FACTOR_SESSION_KEY not in client.session
    assert client.get("/").status_code == 200
    assert login_rows(AuditEntry.Action.LOGIN) == [("login_totp", "tao")]
    assert login_rows(AuditEntry.Action.LOGIN_FAILED) == [("two_factor_failed", "tao")]


def test_role_requiring_two_factor_forces_enrolment(client, make_user, admin_user):
    # given
    role = accounts.create_role(
        actor=admin_user,
        key="secure-agent",
        name="Secure agent",
        permissions=["accounts.view_user"],
        requires_two_factor=True,
    )
    user = make_user("sun")
    accounts.grant_role(actor=admin_user, user=user, role=role, scope="own")
    # when
    response = sign_in(client, "sun")
    blocked = client.get("/")
    begun = client.post("/accounts/two-factor/setup/", {"action": "begin"})
    user.refresh_from_db()
    confirmed = client.post(
        "/accounts/two-factor/setup/",
        {"action": "confirm", "code": pyotp.TOTP(user.totp_secret).now()},
    )
    # then
    assert response["Location"] == "/accounts/two-factor/setup/"
    assert blocked["Location"] == "/accounts/two-factor/setup/"
    assert begun.status_code == 200
    assert 'src="data:image/svg+xml' in begun.content.decode()
    assert user.totp_secret in begun.content.decode()
    assert confirmed.status_code == 302
    assert confirmed["Location"] == "/"
    user.refresh_from_db()
    assert user.has_two_factor is True
    assert client.get("/").status_code == 200
    assert login_rows(AuditEntry.Action.LOGIN) == [("login_totp", "sun")]


def test_disabling_two_factor_is_refused_when_the_role_requires_it(
    make_user, admin_user, login_client
):
    # given
    role = accounts.create_role(
        actor=admin_user,
        key="secure-agent",
        name="Secure agent",
        permissions=["accounts.view_user"],
        requires_two_factor=True,
    )
    user = make_user("sun")
    accounts.grant_role(actor=admin_user, user=user, role=role, scope="own")
    accounts.begin_totp_enrolment(actor=user)
    user.refresh_from_db()
    accounts.confirm_totp_enrolment(actor=user, code=pyotp.TOTP(user.totp_secret).now())
    client = login_client(user)
    # when
    response = client.post("/accounts/two-factor/disable/", follow=True)
    # then
    assert "Your role requires two-factor login." in response.content.decode()
    user.refresh_from_db()
    assert user.has_two_factor is True


# --- Language -----------------------------------------------------------------------------------


def test_language_switch_is_remembered_on_the_account(make_user, login_client):
    # given
    user = make_user("mei", role="agent")
    client = login_client(user)
    # when
    response = client.post("/accounts/language/", {"language": "en", "next": "/accounts/profile/"})
    # then
    assert response.status_code == 302
    assert response["Location"] == "/accounts/profile/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    user.refresh_from_db()
    assert user.language == "en"
    other_device = login_client(user)
    assert (
        '<html lang="en">' in other_device.get("/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    )


def test_language_switch_refuses_an_unknown_language(make_user, login_client):
    # given
    user = make_user("mei", role="agent", language="zh-hans")
    client = login_client(user)
    # when
    response = client.post(
        "/accounts/language/", {"language": "xx", "next": "https://evil.example/"}
    )
    # then
    assert response["Location"] == "/"
    user.refresh_from_db()
    assert user.language == "zh-hans"


def test_anonymous_language_switch_sets_the_cookie_only(client, db):
    # when
    response = client.post("/accounts/language/", {"language": "en", "next": LOGIN})
    # then
    assert response["Location"] == LOGIN
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    assert '<html lang="en">' in client.get(LOGIN).content.decode()


def test_browser_language_picks_chinese(client, db):
    # when
    page = client.get(LOGIN, HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9")
    # then
    assert '<html lang="zh-Hans">' in page.content.decode()
    assert "<h1>登录</h1>" in page.content.decode()


# --- Passwords ------------------------------------------------------------------------------------


def test_password_reset_mails_a_link_that_sets_the_password_and_ends_sessions(
    client, make_user, login_client
):
    # given
    user = make_user("mei", role="agent", email="mei@example.com")
    old_session = login_client(user)
    # when
    requested = client.post("/accounts/password/reset/", {"email": "mei@example.com"})
    link = re.search(r"http://testserver(/accounts/password/reset/\S+/)", mail.outbox[0].body)
    assert link is not None
    form_page = client.get(link.group(1), follow=True)
    done = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "a-new-long-secret-9", "new_password2": "a-new-long-secret-9"},
    )
    # then
    assert requested["Location"] == "/accounts/password/reset/sent/"
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["mei@example.com"]
    assert done.status_code == 302
    assert done["Location"] == "/accounts/password/reset/complete/"
    user.refresh_from_db()
    assert user.check_password("a-new-long-secret-9") is True
    assert old_session.get("/")["Location"] == "/accounts/login/?next=/"
    assert list(
        AuditEntry.objects.filter(action=AuditEntry.Action.SECURITY)
        .order_by("pk")
        .values_list("verb", "object_repr")
    ) == [
        ("password_reset_requested", "mei@example.com"),
        ("password_reset", "mei"),
    ]


def test_password_reset_for_an_unknown_address_sends_nothing(client, db):
    # when
    response = client.post("/accounts/password/reset/", {"email": "nobody@example.com"})
    # then
    assert response["Location"] == "/accounts/password/reset/sent/"
    assert len(mail.outbox) == 0


def test_password_reset_reaches_a_user_created_without_password(client, admin_user):
    # given
    accounts.create_user(actor=admin_user, username="new", email="new@example.com")
    # when
    client.post("/accounts/password/reset/", {"email": "new@example.com"})
    # then
    assert len(mail.outbox) == 1


def test_password_change_keeps_this_session_and_ends_the_others(make_user, login_client):
    # given
    user = make_user("mei", role="agent")
    client = login_client(user)
    other = login_client(user)
    # when
    wrong = client.post(
        "/accounts/password/",
        {
            "current_password": "nope",
            "new_password": "another-long-secret-7",
            "confirm_password": "another-long-secret-7",
        },
    )
    right = client.post(
        "/accounts/password/",
        {
            "current_password": PASSWORD,
            "new_password": "another-long-secret-7",
            "confirm_password": "another-long-secret-7",
        },
    )
    # then
    assert "The current password is not correct." in wrong.content.decode()
    assert right["Location"] == "/accounts/profile/"
    user.refresh_from_db()
    assert user.check_password("another-long-secret-7") is True
    assert client.get("/").status_code == 200
    assert other.get("/").status_code == 302


def test_sign_out_everywhere_ends_every_session(make_user, login_client):
    # given
    user = make_user("mei", role="agent")
    client = login_client(user)
    other = login_client(user)
    # when
    response = client.post("/accounts/profile/sessions/end/")
    # then
    assert response["Location"] == LOGIN
    assert client.get("/").status_code == 302
    assert other.get("/").status_code == 302


def test_profile_saves_the_language(make_user, login_client):
    # given
    user = make_user("mei", role="agent")
    client = login_client(user)
    # when
    page = client.get("/accounts/profile/")
    response = client.post("/accounts/profile/", {"language": "en"})
    # then
    assert page.status_code == 200
    assert response["Location"] == "/accounts/profile/"
    user.refresh_from_db()
    assert user.language == "en"


def test_agent_renames_themself_without_the_user_editing_permission(make_user, login_client):
    """Anyone may change their own display name; it is audited as their own profile change."""
    # given
    user = make_user("mei", role="agent", display_name="Mei")
    client = login_client(user)
    # when
    response = client.post("/accounts/profile/", {"display_name": "李梅", "language": ""})
    # then
    assert response["Location"] == "/accounts/profile/"
    user.refresh_from_db()
    assert user.display_name == "李梅"
    entry = AuditEntry.objects.get(verb="profile_updated")
    assert (entry.actor_id, entry.before, entry.after) == (
        user.pk,
        {"display_name": "Mei"},
        {"display_name": "李梅"},
    )


# --- Users --------------------------------------------------------------------------------------


def test_agent_sees_only_users_of_their_team(team_setup, login_client):
    # given
    client = login_client(team_setup["agent"])
    # when
    listing = client.get("/accounts/users/")
    outside = client.get(f"/accounts/users/{team_setup['stranger'].pk}/")
    inside = client.get(f"/accounts/users/{team_setup['colleague'].pk}/")
    # then
    names = [u.username for u in listing.context["page"].object_list]
    assert names == ["agent-a", "colleague-a"]
    assert outside.status_code == 404
    assert inside.status_code == 200


def test_agent_gets_404_for_a_team_outside_their_scope(team_setup, login_client):
    # given
    client = login_client(team_setup["agent"])
    # when
    listing = client.get("/accounts/teams/")
    outside = client.get(f"/accounts/teams/{team_setup['team_b'].pk}/")
    # then
    assert [t.name for t in listing.context["teams"]] == ["Printers A"]
    assert outside.status_code == 404


def test_user_list_filters_by_team_kind_and_status(team_setup, admin_user, login_client):
    # given
    client = login_client(admin_user)
    # when
    by_team = client.get("/accounts/users/", {"team": team_setup["team_b"].pk})
    by_text = client.get("/accounts/users/", {"q": "colleague"})
    inactive = client.get("/accounts/users/", {"active": "0"})
    # then
    assert [u.username for u in by_team.context["page"].object_list] == ["stranger-b"]
    assert [u.username for u in by_text.context["page"].object_list] == ["colleague-a"]
    assert list(inactive.context["page"].object_list) == []


def test_agent_cannot_create_users(team_setup, login_client):
    # given
    client = login_client(team_setup["agent"])
    before = User.objects.count()
    # when
    response = client.post("/accounts/users/new/", {"username": "sneaky", "kind": "staff"})
    # then
    assert response.status_code == 403
    assert User.objects.count() == before


def test_admin_creates_a_user_and_a_taken_name_shows_next_to_the_field(
    admin_user, login_client, make_line
):
    # given
    line = make_line(code="print", name="Print")
    client = login_client(admin_user)
    # when
    created = client.post(
        "/accounts/users/new/",
        {"username": "li", "email": "li@example.com", "kind": "staff", "business_lines": [line.pk]},
    )
    taken = client.post("/accounts/users/new/", {"username": "LI", "kind": "staff"})
    # then
    user = User.objects.get(username="li")
    assert created["Location"] == f"/accounts/users/{user.pk}/"
    assert list(user.business_lines.values_list("code", flat=True)) == ["print"]
    assert taken.status_code == 200
    assert taken.context["form"].errors == {"username": ["This username is already taken."]}
    assert User.objects.filter(username__iexact="li").count() == 1


def test_editing_a_user_changed_meanwhile_shows_a_conflict(admin_user, make_user, login_client):
    # given
    user = make_user("mei", display_name="Mei")
    client = login_client(admin_user)
    stale_version = user.version
    accounts.update_user(actor=admin_user, user=user, changes={"phone": "123"})
    # when
    response = client.post(
        f"/accounts/users/{user.pk}/edit/",
        {"version": stale_version, "display_name": "Mei Li", "email": "", "language": ""},
    )
    # then
    assert response.status_code == 200
    assert "changed by someone else" in response.content.decode()
    user.refresh_from_db()
    assert user.display_name == "Mei"


def test_editing_a_user_saves_with_the_current_version(admin_user, make_user, login_client):
    # given
    user = make_user("mei", display_name="Mei")
    client = login_client(admin_user)
    # when
    response = client.post(
        f"/accounts/users/{user.pk}/edit/",
        {
            "version": user.version,
            "display_name": "Mei Li",
            "email": "mei@example.com",
            "language": "en",
        },
    )
    # then
    assert response["Location"] == f"/accounts/users/{user.pk}/"
    user.refresh_from_db()
    assert (user.display_name, user.email, user.language) == ("Mei Li", "mei@example.com", "en")


def test_deactivating_a_user_ends_their_session_at_once(admin_user, make_user, login_client):
    # given
    user = make_user("mei", role="agent")
    their_client = login_client(user)
    assert their_client.get("/").status_code == 200
    client = login_client(admin_user)
    # when
    response = client.post(f"/accounts/users/{user.pk}/active/", {"is_active": "0"})
    # then
    assert response["Location"] == f"/accounts/users/{user.pk}/"
    user.refresh_from_db()
    assert user.is_active is False
    after = their_client.get("/")
    assert after.status_code == 302
    assert after["Location"] == "/accounts/login/?next=/"


def test_agent_cannot_deactivate(team_setup, login_client):
    # given
    client = login_client(team_setup["agent"])
    colleague = team_setup["colleague"]
    # when
    response = client.post(f"/accounts/users/{colleague.pk}/active/", {"is_active": "0"})
    # then
    assert response.status_code == 403
    colleague.refresh_from_db()
    assert colleague.is_active is True


@pytest.fixture
def role_granter(make_user, admin_user):  # type: ignore[no-untyped-def]
    """A team admin who may grant roles but holds only user/role viewing and granting."""
    role = accounts.create_role(
        actor=admin_user,
        key="granter",
        name="Granter",
        permissions=["accounts.view_user", "accounts.view_role", "accounts.assign_role"],
    )
    user = make_user("granter")
    accounts.grant_role(actor=admin_user, user=user, role=role, scope="all")
    return user


def test_granting_a_role_one_does_not_hold_shows_the_error_and_creates_nothing(
    role_granter, make_user, login_client
):
    # given
    target = make_user("mei")
    client = login_client(role_granter)
    admin_role = Role.objects.get(key="admin")
    # when
    response = client.post(
        f"/accounts/users/{target.pk}/roles/", {"role": admin_role.pk, "scope": "own"}
    )
    # then
    assert response.status_code == 200
    assert "You cannot grant permissions you do not hold yourself" in response.content.decode()
    assert RoleGrant.objects.filter(user=target).count() == 0
    assert AuditEntry.objects.filter(verb="role_granted", object_id=str(target.pk)).count() == 0


def test_admin_grants_and_revokes_a_role_with_htmx(admin_user, make_user, login_client):
    # given
    target = make_user("mei")
    agent = Role.objects.get(key="agent")
    client = login_client(admin_user)
    # when
    granted = client.post(
        f"/accounts/users/{target.pk}/roles/",
        {"role": agent.pk, "scope": "teams"},
        HTTP_HX_REQUEST="true",
    )
    grants_after_grant = list(
        RoleGrant.objects.filter(user=target).values_list("role__key", "scope")
    )
    revoked = client.post(
        f"/accounts/users/{target.pk}/roles/{agent.pk}/revoke/", HTTP_HX_REQUEST="true"
    )
    # then
    assert granted.status_code == 200
    assert granted.content.decode().startswith('<section class="card" id="grants"')
    assert grants_after_grant == [("agent", "teams")]
    assert revoked.status_code == 200
    assert RoleGrant.objects.filter(user=target).count() == 0


def test_user_without_role_permission_does_not_see_grants(team_setup, login_client):
    # given
    client = login_client(team_setup["agent"])
    # when
    page = client.get(f"/accounts/users/{team_setup['agent'].pk}/")
    # then
    assert page.context["may_read_grants"] is False
    assert 'id="grants"' not in page.content.decode()


# --- Teams and business lines -------------------------------------------------------------------


def test_admin_creates_and_edits_a_team_and_its_members(
    admin_user, make_user, make_line, login_client
):
    # given
    line = make_line(code="print", name="Print")
    lead = make_user("lead")
    member = make_user("member")
    client = login_client(admin_user)
    # when
    created = client.post(
        "/accounts/teams/new/",
        {"name": "Hotline", "business_line": line.pk, "lead": lead.pk, "description": ""},
    )
    team = Team.objects.get(name="Hotline")
    edited = client.post(
        f"/accounts/teams/{team.pk}/edit/",
        {"name": "Hotline 2", "lead": lead.pk, "description": "First line", "is_active": "on"},
    )
    members = client.post(f"/accounts/teams/{team.pk}/members/", {"members": [member.pk]})
    # then
    assert created["Location"] == f"/accounts/teams/{team.pk}/"
    assert edited["Location"] == f"/accounts/teams/{team.pk}/"
    assert members["Location"] == f"/accounts/teams/{team.pk}/"
    team.refresh_from_db()
    assert (team.name, team.description, team.lead_id) == ("Hotline 2", "First line", lead.pk)
    assert sorted(team.members.values_list("username", flat=True)) == ["lead", "member"]


def test_agent_cannot_edit_a_team(team_setup, login_client):
    # given
    client = login_client(team_setup["agent"])
    team = team_setup["team_a"]
    # when
    response = client.post(f"/accounts/teams/{team.pk}/edit/", {"name": "Renamed"})
    # then
    assert response.status_code == 403
    team.refresh_from_db()
    assert team.name == "Printers A"


def test_admin_creates_and_edits_a_business_line(admin_user, login_client):
    # given
    client = login_client(admin_user)
    # when
    created = client.post(
        "/accounts/business-lines/new/", {"code": "hvac", "name": "HVAC", "description": ""}
    )
    taken = client.post("/accounts/business-lines/new/", {"code": "hvac", "name": "Again"})
    from aftersales.accounts.models import BusinessLine

    line = BusinessLine.objects.get(code="hvac")
    edited = client.post(
        f"/accounts/business-lines/{line.pk}/edit/", {"name": "Air", "description": "Cooling"}
    )
    # then
    assert created["Location"] == "/accounts/business-lines/"
    assert taken.context["form"].errors == {"code": ["This code is already used."]}
    assert edited["Location"] == "/accounts/business-lines/"
    line.refresh_from_db()
    assert (line.name, line.description, line.is_active) == ("Air", "Cooling", False)


# --- Roles --------------------------------------------------------------------------------------


def test_user_without_view_role_gets_403_on_the_role_list(team_setup, login_client):
    # given
    client = login_client(team_setup["agent"])
    # when
    response = client.get("/accounts/roles/")
    # then
    assert response.status_code == 403
    assert "Access denied" in response.content.decode()


def test_admin_copies_a_predefined_role_and_edits_the_copy(admin_user, login_client):
    # given
    client = login_client(admin_user)
    agent = Role.objects.get(key="agent")
    # when
    listing = client.get("/accounts/roles/")
    detail = client.get(f"/accounts/roles/{agent.pk}/")
    system_edit = client.get(f"/accounts/roles/{agent.pk}/edit/")
    copied = client.post(
        f"/accounts/roles/{agent.pk}/copy/", {"key": "agent-plus", "name": "Agent+"}
    )
    copy = Role.objects.get(key="agent-plus")
    edited = client.post(
        f"/accounts/roles/{copy.pk}/edit/",
        {
            "version": copy.version,
            "name": "Agent plus",
            "description": "",
            "permissions": ["accounts.view_user", "accounts.view_team"],
        },
    )
    # then
    assert listing.status_code == 200
    assert "Predefined, read-only" in listing.content.decode()
    assert detail.status_code == 200
    assert system_edit.status_code == 403
    assert copied["Location"] == f"/accounts/roles/{copy.pk}/"
    assert copy.permissions == agent.permissions
    assert edited["Location"] == f"/accounts/roles/{copy.pk}/"
    copy.refresh_from_db()
    assert (copy.name, copy.permissions) == (
        "Agent plus",
        ["accounts.view_user", "accounts.view_team"],
    )


def test_admin_deletes_a_custom_role(admin_user, login_client):
    # given
    role = accounts.create_role(actor=admin_user, key="temp", name="Temp")
    client = login_client(admin_user)
    # when
    response = client.post(f"/accounts/roles/{role.pk}/delete/")
    # then
    assert response["Location"] == "/accounts/roles/"
    assert Role.objects.filter(key="temp").exists() is False


# --- API tokens -----------------------------------------------------------------------------------


def test_token_secret_is_shown_once_and_the_token_can_be_revoked(make_user, login_client):
    # given
    user = make_user("mei", role="agent")
    client = login_client(user)
    # when
    created = client.post(
        "/accounts/tokens/new/",
        {"user": user.pk, "name": "CRM sync", "scopes": "tickets.view_* accounts.view_user"},
    )
    token = ApiToken.objects.get(user=user)
    listing = client.get("/accounts/tokens/")
    revoked = client.post(f"/accounts/tokens/{token.pk}/revoke/")
    # then
    secret = created.context["secret"]
    assert secret.startswith(token.prefix)
    assert secret in created.content.decode()
    assert created["Cache-Control"] == "no-store"
    assert token.scopes == ["tickets.view_*", "accounts.view_user"]
    assert secret not in listing.content.decode()
    assert token.prefix in listing.content.decode()
    assert revoked["Location"] == "/accounts/tokens/"
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_agent_cannot_issue_a_token_for_someone_else(team_setup, login_client):
    # given
    client = login_client(team_setup["agent"])
    # when
    response = client.post(
        "/accounts/tokens/new/", {"user": team_setup["colleague"].pk, "name": "x", "scopes": "*"}
    )
    # then
    assert response.status_code == 200
    assert "user" in response.context["form"].errors
    assert ApiToken.objects.count() == 0


def test_customer_goes_to_the_portal_without_staff_navigation(make_user, login_client):
    # given
    customer = make_user("buyer", kind=User.Kind.CUSTOMER)
    client = login_client(customer)
    # when
    home = client.get("/", follow=True)
    tokens = client.get("/accounts/tokens/")
    # then
    assert home.redirect_chain == [("/portal/", 302)]
    assert home.context["navigation"] == []
    assert 'id="sidenav"' not in home.content.decode()
    assert tokens.status_code == 403
