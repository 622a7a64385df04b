"""The layout, home page, error pages and the Vite asset tag."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.template import loader
from django.test import override_settings

from aftersales.accounts import services as accounts
from aftersales.accounts.models import Role, User


@pytest.fixture(autouse=True)
def english(settings):  # type: ignore[no-untyped-def]
    """Assertions read the English source strings; a browser without a preference gets them."""
    settings.LANGUAGE_CODE = "en"


class InlineCodeFinder(HTMLParser):
    """Collects what a strict CSP (no inline script or style) would block."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _value in attrs}
        if tag == "script" and "src" not in names:
            self._in_inline_script = True
            self.problems.append("inline <script>")
        if tag == "style":
            self.problems.append("<style> element")
        if "style" in names:
            self.problems.append(f"style attribute on <{tag}>")
        self.problems += [f"{name} on <{tag}>" for name in names if name.startswith("on")]
        for name, value in attrs:
            if value and value.strip().lower().startswith("javascript:"):
                self.problems.append(f"javascript: URL in {name}")


def csp_problems(html: str) -> list[str]:
    finder = InlineCodeFinder()
    finder.feed(html)
    return finder.problems


@pytest.fixture
def manifest(tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "manifest.json"
    path.write_text(
        json.dumps(
            {
                "frontend/main.js": {
                    "file": "assets/main-abc.js",
                    "isEntry": True,
                    "css": ["assets/main-def.css"],
                },
            }
        )
    )
    with override_settings(VITE_MANIFEST=path):
        yield path


def test_vite_tag_writes_the_hashed_script_and_stylesheet(manifest):
    # when
    html = loader.get_template("web/base.html").render({})
    # then
    assert '<link rel="stylesheet" href="/static/dist/assets/main-def.css">' in html
    assert '<script type="module" src="/static/dist/assets/main-abc.js"></script>' in html


def test_vite_tag_without_a_build_leaves_a_comment(tmp_path):
    # given
    with override_settings(VITE_MANIFEST=tmp_path / "missing.json"):
        # when
        html = loader.get_template("web/base.html").render({})
    # then
    assert "<!-- vite: frontend/main.js not built -->" in html
    assert "<script" not in html


def test_home_shows_roles_with_scopes_teams_lines_and_links(
    make_user, make_team, make_line, login_client, manifest
):
    # given
    line = make_line(code="print", name="Print")
    team = make_team(name="Hotline", line=make_line(code="scan", name="Scan"))
    user = make_user(
        "mei", role="agent", scope="teams", teams=[team], lines=[line], display_name="Mei"
    )
    client = login_client(user)
    # when
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="en")
    # then
    page = response.content.decode()
    assert response.status_code == 200
    assert "Welcome, Mei" in page
    assert [(g.role.key, g.scope) for g in response.context["grants"]] == [("agent", "teams")]
    assert [t.name for t in response.context["teams"]] == ["Hotline"]
    assert [b.name for b in response.context["lines"]] == ["Print"]
    labels = [str(i["label"]) for s in response.context["navigation"] for i in s["items"]]
    assert labels == [
        "Home",
        "Tickets",
        "SLA at risk",
        "Customers",
        "Phone calls",
        "Knowledge",
        "Macros",
        "Queues",
        "Users",
        "Teams",
        "Business lines",
        "Ticket types",
        "Search synonyms",
        "API tokens",
    ]
    assert 'href="/accounts/users/"' in page
    assert 'href="/accounts/roles/"' not in page
    assert 'data-testid="menu-button"' in page


def test_admin_navigation_lists_every_settings_page(admin_user, login_client):
    # given
    client = login_client(admin_user)
    # when
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="en")
    # then
    urls = [i["url"] for s in response.context["navigation"] for i in s["items"]]
    assert urls == [
        "/",
        "/tickets/",
        "/sla/at-risk/",
        "/customers/",
        "/calls/",
        "/knowledge/",
        "/survey/responses/",
        "/tickets/macros/",
        "/routing/queues/",
        "/accounts/users/",
        "/accounts/teams/",
        "/accounts/business-lines/",
        "/accounts/roles/",
        "/settings/fields/",
        "/tickets/settings/types/",
        "/settings/calendars/",
        "/sla/policies/",
        "/settings/automation/rules/",
        "/settings/automation/automations/",
        "/settings/conditions/try/",
        "/routing/settings/",
        "/settings/mailboxes/",
        "/messaging/settings/",
        "/forms/settings/",
        "/survey/settings/",
        "/knowledge/settings/synonyms/",
        "/notifications/settings/templates/",
        "/accounts/tokens/",
        "/settings/audit/",
    ]


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/accounts/login/", id="_case_login"),
        pytest.param("/accounts/password/reset/", id="_case_password_reset"),
    ],
)
def test_anonymous_pages_have_no_inline_code(client, db, manifest, path):
    # when
    response = client.get(path)
    # then
    assert response.status_code == 200
    assert csp_problems(response.content.decode()) == []
    assert "script-src 'self'" in response["Content-Security-Policy"]


def test_signed_in_pages_have_no_inline_code(
    admin_user, make_user, make_team, login_client, manifest
):
    # given
    team = make_team(name="Hotline")
    other = make_user("mei", role="agent", teams=[team])
    role = Role.objects.get(key="agent")
    client = login_client(admin_user)
    paths = [
        "/",
        "/accounts/profile/",
        "/accounts/password/",
        "/accounts/two-factor/setup/",
        "/accounts/users/",
        "/accounts/users/new/",
        f"/accounts/users/{other.pk}/",
        f"/accounts/users/{other.pk}/edit/",
        "/accounts/teams/",
        "/accounts/teams/new/",
        f"/accounts/teams/{team.pk}/",
        f"/accounts/teams/{team.pk}/edit/",
        f"/accounts/teams/{team.pk}/members/",
        "/accounts/business-lines/",
        "/accounts/business-lines/new/",
        "/accounts/roles/",
        f"/accounts/roles/{role.pk}/",
        f"/accounts/roles/{role.pk}/copy/",
        "/accounts/tokens/",
        "/accounts/tokens/new/",
        "/settings/audit/",
    ]
    # when
    results = {path: client.get(path) for path in paths}
    # then
    assert {path: r.status_code for path, r in results.items()} == dict.fromkeys(paths, 200)
    assert {path: csp_problems(r.content.decode()) for path, r in results.items()} == {
        path: [] for path in paths
    }
    assert all('data-csrf-token="' in r.content.decode() for r in results.values())


def test_every_form_posts_with_a_csrf_token(admin_user, login_client, manifest):
    # given
    client = login_client(admin_user)
    # when
    page = client.get(f"/accounts/users/{admin_user.pk}/").content.decode()
    # then
    assert page.count('method="post"') == page.count('name="csrfmiddlewaretoken"')


def test_unknown_page_is_a_404_inside_the_layout(admin_user, login_client, manifest):
    # given
    client = login_client(admin_user)
    # when
    response = client.get("/no-such-page/", HTTP_ACCEPT_LANGUAGE="en")
    # then
    page = response.content.decode()
    assert response.status_code == 404
    assert "Page not found" in page
    assert 'id="sidenav"' in page


def test_server_error_page_renders_without_a_request(manifest):
    # when
    html = loader.get_template("500.html").render()
    # then
    assert "Something went wrong" in html
    assert "main-abc.js" in html
    assert csp_problems(html) == []


def test_customer_home_is_the_portal(make_user, login_client):
    # given
    client = login_client(make_user("buyer", kind=User.Kind.CUSTOMER))
    # when
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="en")
    # then
    assert response.status_code == 302
    assert response["Location"] == "/portal/"


def test_home_after_role_change_shows_the_new_role(admin_user, make_user, login_client):
    # given
    user = make_user("mei")
    client = login_client(user)
    accounts.grant_role(
        actor=admin_user, user=user, role=Role.objects.get(key="field-engineer"), scope="own"
    )
    # when
    response = client.get("/")
    # then
    assert [(g.role.key, g.scope) for g in response.context["grants"]] == [
        ("field-engineer", "own")
    ]
