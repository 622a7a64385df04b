"""The macro pages: who sees and edits which macro, the form with errors at its inputs, and the
live preview of the message on a chosen ticket."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aftersales.accounts.models import User
from aftersales.tickets.models import Macro, Ticket
from aftersales.tickets.services import macros
from tests.conftest import JsonClient
from tests.tickets.test_macros import macro_state

BASE = "/tickets/macros/"


@pytest.fixture
def login_client() -> Callable[[User], JsonClient]:
    """A signed-in browser that asks for English pages."""

    def make(user: User) -> JsonClient:
        client = JsonClient(HTTP_ACCEPT_LANGUAGE="en")
        client.force_login(user)
        return client

    return make


def _html(response: Any) -> str:
    assert response.status_code == 200, response.status_code
    html: str = response.content.decode()
    assert " style=" not in html
    assert "<script>" not in html
    return html


def _form(**fields: Any) -> dict[str, Any]:
    values = {
        "name": "Ask for the serial",
        "reply_kind": "public",
        "body": "Hello {{ customer.name }}",
        "priority": "",
        "status": "",
        "team": "",
        "assignee": "",
        "add_tags": "",
        "remove_tags": "",
        "custom_fields": "",
    }
    return {**values, **fields}


def test_list_shows_own_and_shared_macros_and_the_navigation_entry(
    desk: dict[str, Any], login_client: Callable[[User], JsonClient]
) -> None:
    # given
    own = macros.create_macro(actor=desk["insider"], name="Mine", body="Hi")
    shared = macros.create_macro(actor=desk["manager"], name="Ours", body="Hi", is_shared=True)
    macros.create_macro(actor=desk["colleague"], name="Theirs", body="Hi")
    # when
    html = _html(login_client(desk["insider"]).get(BASE))
    # then
    assert f'<a href="{BASE}{own.pk}/">Mine</a>' in html
    assert f'<tr id="macro-{shared.pk}">' in html
    assert f'href="{BASE}{shared.pk}/"' not in html  # an agent does not edit shared macros
    assert "Theirs" not in html
    assert f'href="{BASE}new/"' in html
    assert f'<a href="{BASE}" aria-current="page">Macros</a>' in html


def test_agent_creates_a_macro_from_the_form(
    desk: dict[str, Any], login_client: Callable[[User], JsonClient]
) -> None:
    # when
    response = login_client(desk["insider"]).post(
        f"{BASE}new/",
        _form(
            priority="high",
            status="open",
            assignee="me",
            add_tags="serial, waiting",
            custom_fields="resolution_code = fixed",
        ),
    )
    # then
    assert (response.status_code, response["Location"]) == (302, BASE)
    macro = Macro.objects.get()
    assert (macro.name, macro.owner_id, macro.is_shared, macro.body) == (
        "Ask for the serial",
        desk["insider"].pk,
        False,
        "Hello {{ customer.name }}",
    )
    assert macro.actions == [
        {"field": "priority", "value": "high"},
        {"field": "status", "value": "open"},
        {"field": "assignee", "value": "me"},
        {"field": "add_tags", "value": ["serial", "waiting"]},
        {"field": "custom_fields.resolution_code", "value": "fixed"},
    ]


def test_an_unknown_placeholder_is_shown_at_the_message_and_nothing_is_kept(
    desk: dict[str, Any], login_client: Callable[[User], JsonClient]
) -> None:
    # given
    before = macro_state()
    # when
    html = _html(
        login_client(desk["insider"]).post(f"{BASE}new/", _form(body="Hi {{ ticket.secret }}"))
    )
    # then
    assert '<ul class="field-errors"><li>Unknown placeholder {{ ticket.secret }}.</li></ul>' in html
    assert macro_state() == before


def test_a_bad_custom_field_value_is_shown_at_its_input(
    desk: dict[str, Any], login_client: Callable[[User], JsonClient]
) -> None:
    # given
    before = macro_state()
    # when
    html = _html(
        login_client(desk["insider"]).post(
            f"{BASE}new/", _form(priority="low", custom_fields="resolution_code = burnt")
        )
    )
    # then
    errors = html.split('id="id_custom_fields"')[1].split("</div>\n</div>")[0]
    assert '<ul class="field-errors"><li>' in errors
    assert macro_state() == before


def test_an_agent_has_no_sharing_inputs_a_manager_shares_with_a_line(
    desk: dict[str, Any], login_client: Callable[[User], JsonClient]
) -> None:
    # when
    agent_form = _html(login_client(desk["insider"]).get(f"{BASE}new/"))
    manager = login_client(desk["manager"])
    response = manager.post(
        f"{BASE}new/", _form(is_shared="on", business_line=str(desk["line_a"].pk))
    )
    # then
    assert 'name="is_shared"' not in agent_form
    assert response.status_code == 302
    macro = Macro.objects.get()
    assert (macro.is_shared, macro.business_line_id) == (True, desk["line_a"].pk)


def test_owner_edits_personal_macro_others_get_404_or_403(
    desk: dict[str, Any], login_client: Callable[[User], JsonClient]
) -> None:
    # given
    own = macros.create_macro(actor=desk["insider"], name="Mine", body="Hi", actions=[
        {"field": "team", "value": desk["team_a"].pk}])  # fmt: skip
    shared = macros.create_macro(actor=desk["manager"], name="Ours", body="Hi", is_shared=True)
    insider = login_client(desk["insider"])
    before = macro_state()
    # when
    colleague_get = login_client(desk["colleague"]).get(f"{BASE}{own.pk}/")
    colleague_post = login_client(desk["colleague"]).post(f"{BASE}{own.pk}/deactivate/")
    agent_shared = insider.post(f"{BASE}{shared.pk}/", _form(name="Taken"))
    refused_state = macro_state()
    edit_page = _html(insider.get(f"{BASE}{own.pk}/"))
    saved = insider.post(f"{BASE}{own.pk}/", _form(name="Renamed", team="", version="1"))
    # then
    assert (colleague_get.status_code, colleague_post.status_code) == (404, 404)
    assert agent_shared.status_code == 403
    assert refused_state == before
    assert f'<option value="{desk["team_a"].pk}" selected>' in edit_page
    assert saved.status_code == 302
    own.refresh_from_db()
    assert (own.name, own.actions, own.version) == ("Renamed", [], 2)


def test_a_stale_edit_is_refused_on_the_form(
    desk: dict[str, Any], login_client: Callable[[User], JsonClient]
) -> None:
    # given
    own = macros.create_macro(actor=desk["insider"], name="Mine", body="Hi")
    macros.update_macro(actor=desk["insider"], macro=own, changes={"name": "Second"})
    before = macro_state()
    # when
    html = _html(login_client(desk["insider"]).post(f"{BASE}{own.pk}/", _form(version="1")))
    # then
    assert "Someone changed this macro since you opened it. Reload and try again." in html
    assert macro_state() == before


def test_deactivate_takes_the_macro_off_the_list(
    desk: dict[str, Any], login_client: Callable[[User], JsonClient]
) -> None:
    # given
    own = macros.create_macro(actor=desk["insider"], name="Mine", body="Hi")
    client = login_client(desk["insider"])
    # when
    response = client.post(f"{BASE}{own.pk}/deactivate/")
    # then
    assert (response.status_code, response["Location"]) == (302, BASE)
    own.refresh_from_db()
    assert own.is_active is False
    assert f'id="macro-{own.pk}"' not in _html(client.get(BASE))


def test_a_contact_gets_no_macro_pages(
    desk: dict[str, Any], login_client: Callable[[User], JsonClient]
) -> None:
    # given
    client = login_client(desk["contact_a"])
    before = macro_state()
    # when
    statuses = [
        client.get(BASE).status_code,
        client.post(f"{BASE}new/", _form()).status_code,
        client.post(f"{BASE}preview/", _form()).status_code,
    ]
    # then
    assert statuses == [403, 403, 403]
    assert macro_state() == before


def test_preview_renders_the_message_on_the_chosen_ticket(
    desk: dict[str, Any],
    make_ticket: Callable[..., Ticket],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    ticket = make_ticket(subject="No <drain>")
    # when
    html = _html(
        login_client(desk["insider"]).post(
            f"{BASE}preview/",
            _form(
                body="Dear {{ customer.name }}, about {{ ticket.subject }}",
                priority="urgent",
                preview_ticket=ticket.number.lower(),
            ),
            HTTP_HX_REQUEST="true",
        )
    )
    # then
    assert (
        '<div class="card" data-testid="rendered"><p>Dear Alice, about No &lt;drain&gt;</p></div>'
        in html
    )
    assert "<li>Set priority: <strong>Urgent</strong></li>" in html


def test_preview_names_an_unknown_placeholder_and_hides_tickets_out_of_scope(
    desk: dict[str, Any],
    make_ticket: Callable[..., Ticket],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    ticket = make_ticket()
    client = login_client(desk["outsider"])
    # when
    unknown = _html(client.post(f"{BASE}preview/", _form(body="{{ ticket.secret }}")))
    hidden = _html(client.post(f"{BASE}preview/", _form(preview_ticket=ticket.number)))
    # then
    assert "<li>Unknown placeholder {{ ticket.secret }}.</li>" in unknown
    assert "No ticket you may see has this number." in hidden
    assert "Alice" not in hidden
