"""The settings pages of web forms: list, create/edit with errors next to the fields, the
embed snippets, and who may reach them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aftersales.accounts import services as accounts
from aftersales.accounts.models import User
from aftersales.customfields import services as customfields
from aftersales.tickets.models import form_key_of
from aftersales.webforms.models import WebForm
from tests.conftest import JsonClient
from tests.webforms.conftest import SITE

pytestmark = pytest.mark.django_db


def _fields(desk: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": "Repair request",
        "ticket_type": desk["repair"].pk,
        "team": desk["team_a"].pk,
        "default_priority": "3",
        "allowed_origins": f"{SITE}\nhttp://localhost:8000",
        "per_minute_limit": "5",
        "per_hour_limit": "30",
        "has_honeypot": "on",
        "is_contact_required": "on",
        "success_message_zh": "",
        "success_message_en": "Thanks!",
        "is_active": "on",
        **extra,
    }


def _manager(desk: dict[str, Any], make_user: Callable[..., User], line: Any) -> User:
    role = accounts.create_role(
        actor=desk["admin"],
        key=f"forms-{line.code}",
        name=f"Web forms {line.code}",
        permissions=[f"webforms.{a}_webform" for a in ("view", "add", "change", "delete")],
    )
    user = make_user(lines=[line])
    accounts.grant_role(actor=desk["admin"], user=user, role=role, scope="business_lines")
    return User.objects.get(pk=user.pk)


def test_admin_creates_a_form_and_gets_the_snippets(
    desk: dict[str, Any], login_client: Callable[[User], JsonClient]
) -> None:
    client = login_client(desk["admin"])
    assert client.get("/forms/settings/new/", HTTP_ACCEPT_LANGUAGE="en").status_code == 200
    response = client.post("/forms/settings/new/", _fields(desk))
    web_form = WebForm.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/forms/settings/{web_form.pk}/?saved=1"
    assert (web_form.allowed_origins, web_form.default_priority, web_form.team_id) == (
        [SITE, "http://localhost:8000"],
        3,
        desk["team_a"].pk,
    )
    page = client.get(response["Location"], HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert (
        f"&lt;script src=&quot;http://testserver/forms/{web_form.key}/embed.js&quot; async&gt;"
        in page
    )
    assert f"&lt;iframe src=&quot;http://testserver/forms/{web_form.key}/&quot;" in page
    listing = client.get("/forms/settings/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Repair request" in listing


def test_errors_are_shown_next_to_the_fields_and_nothing_is_lost(
    desk: dict[str, Any], login_client: Callable[[User], JsonClient]
) -> None:
    client = login_client(desk["admin"])
    response = client.post(
        "/forms/settings/new/",
        _fields(desk, allowed_origins="https://shop.example.com/contact"),
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert "is not an origin: enter scheme://host[:port]" in body
    assert "https://shop.example.com/contact</textarea>" in body
    assert 'value="Repair request"' in body
    assert WebForm.objects.count() == 0


def test_a_stale_edit_is_refused(
    desk: dict[str, Any], web_form: WebForm, login_client: Callable[[User], JsonClient]
) -> None:
    client = login_client(desk["admin"])
    url = f"/forms/settings/{web_form.pk}/"
    assert client.post(url, _fields(desk, version="1", name="First")).status_code == 302
    stale = client.post(url, _fields(desk, version="1", name="Second"), HTTP_ACCEPT_LANGUAGE="en")
    assert stale.status_code == 422
    assert "Someone changed this form since you opened it" in stale.content.decode()
    web_form.refresh_from_db()
    assert (web_form.name, web_form.version) == ("First", 2)


def test_a_required_field_visitors_cannot_fill_is_warned_about(
    desk: dict[str, Any], web_form: WebForm, login_client: Callable[[User], JsonClient]
) -> None:
    customfields.create_definition(
        actor=desk["admin"],
        target="tickets.ticket",
        subtarget=form_key_of(desk["repair"].pk),
        key="serial",
        field_type="text",
        label_zh="序列号",
        label_en="Serial number",
        is_required=True,
    )
    page = login_client(desk["admin"]).get(
        f"/forms/settings/{web_form.pk}/", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert 'data-testid="unfillable"' in page.content.decode()
    assert "Serial number" in page.content.decode()


def test_a_manager_of_another_line_gets_404_and_an_empty_list(
    desk: dict[str, Any],
    web_form: WebForm,
    make_user: Callable[..., User],
    login_client: Callable[[User], JsonClient],
) -> None:
    client = login_client(_manager(desk, make_user, desk["line_b"]))
    listing = client.get("/forms/settings/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Repair request" not in listing
    assert "No web forms yet." in listing
    url = f"/forms/settings/{web_form.pk}/"
    assert client.get(url).status_code == 404
    assert client.post(url, _fields(desk, version="1", name="Mine")).status_code == 404
    assert client.post(f"{url}delete/").status_code == 404
    assert client.post(f"{url}rotate/").status_code == 404
    # a type of line A is not even offered, and posting it is refused
    assert client.post("/forms/settings/new/", _fields(desk)).status_code == 422
    web_form.refresh_from_db()
    assert (web_form.name, WebForm.objects.count()) == ("Repair request", 1)


def test_a_manager_of_the_line_edits_rotates_and_deletes(
    desk: dict[str, Any],
    web_form: WebForm,
    make_user: Callable[..., User],
    login_client: Callable[[User], JsonClient],
) -> None:
    client = login_client(_manager(desk, make_user, desk["line_a"]))
    url = f"/forms/settings/{web_form.pk}/"
    old_key = web_form.key
    assert client.post(url, _fields(desk, version="1", name="Mine")).status_code == 302
    assert client.post(f"{url}rotate/").status_code == 302
    web_form.refresh_from_db()
    assert web_form.name == "Mine"
    assert web_form.key != old_key
    assert client.get(f"/forms/{old_key}/").status_code == 404
    assert client.post(f"{url}delete/").status_code == 302
    assert WebForm.objects.count() == 0


@pytest.mark.parametrize("_case", ["anonymous", "agent", "customer"])
def test_people_without_the_permission_cannot_reach_the_settings(
    desk: dict[str, Any],
    web_form: WebForm,
    login_client: Callable[[User], JsonClient],
    client: Any,
    _case: str,
) -> None:
    browser = {
        "anonymous": lambda: client,
        "agent": lambda: login_client(desk["insider"]),
        "customer": lambda: login_client(desk["contact_a"]),
    }[_case]()
    listing = browser.get("/forms/settings/")
    edit = browser.post(f"/forms/settings/{web_form.pk}/", _fields(desk, version="1", name="X"))
    if _case == "anonymous":
        assert listing.status_code == 302
        assert listing["Location"].startswith("/accounts/login/")
    else:
        assert listing.status_code == 403
        assert edit.status_code in (403, 404)
    web_form.refresh_from_db()
    assert web_form.name == "Repair request"
