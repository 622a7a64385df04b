"""The ticket-type settings pages: who sees them, forms with errors at the fields, htmx test."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from aftersales.accounts.models import BusinessLine, User
from aftersales.tickets.models import StatusTransition, TicketStatus, TicketType
from tests.conftest import JsonClient
from tests.tickets.conftest import config_state, status

BASE = "/tickets/settings/types/"


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
    # The CSP allows no inline script or style.
    assert " style=" not in html
    assert "<script>" not in html
    return html


def test_list_groups_types_by_business_line_and_links_the_lifecycle(
    admin_user: User,
    make_line: Callable[..., BusinessLine],
    make_type: Callable[..., TicketType],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    line = make_line(name="Printers")
    ticket_type = make_type(line=line, name_en="Repair")
    # when
    html = _html(login_client(admin_user).get(BASE))
    # then
    assert "<h2>Printers</h2>" in html
    assert f'href="{BASE}{ticket_type.pk}/">Repair</a>' in html
    assert f'href="{BASE}new/"' in html
    assert f'href="{BASE}"' in html  # the navigation entry


def test_agent_reads_types_but_cannot_open_configuration_pages(
    make_user: Callable[..., User],
    make_type: Callable[..., TicketType],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    ticket_type = make_type()
    agent = make_user(role="agent", scope="all")
    client = login_client(agent)
    before = config_state()
    # when
    listed = client.get(BASE)
    lifecycle = client.get(f"{BASE}{ticket_type.pk}/")
    refused = [
        client.get(f"{BASE}new/"),
        client.post(f"{BASE}new/", {"key": "x", "name_zh": "x", "name_en": "x"}),
        client.get(f"{BASE}{ticket_type.pk}/edit/"),
        client.post(f"{BASE}{ticket_type.pk}/deactivate/"),
        client.post(
            f"{BASE}{ticket_type.pk}/statuses/{status(ticket_type, 'open').pk}/move/",
            {"direction": "up"},
        ),
        client.get(f"{BASE}{ticket_type.pk}/transitions/new/"),
    ]
    # then
    assert f'href="{BASE}new/"' not in _html(listed)
    assert "/edit/" not in _html(lifecycle)
    assert [r.status_code for r in refused] == [403] * 6
    assert config_state() == before


def test_pages_refuse_people_without_the_view_permission(
    make_user: Callable[..., User],
    make_type: Callable[..., TicketType],
    login_client: Callable[[User], JsonClient],
    api_client: JsonClient,
) -> None:
    # given
    ticket_type = make_type()
    engineer = make_user(role="field-engineer", scope="all")
    # when
    as_engineer = login_client(engineer).get(f"{BASE}{ticket_type.pk}/")
    anonymous = api_client.get(BASE)
    # then
    assert as_engineer.status_code == 403
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/accounts/login/")


def test_manager_of_another_line_gets_404(
    make_user: Callable[..., User],
    make_line: Callable[..., BusinessLine],
    make_type: Callable[..., TicketType],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    line_a, line_b = make_line(), make_line()
    type_b = make_type(line=line_b)
    manager = make_user(role="service-manager", scope="business_lines", lines=[line_a])
    client = login_client(manager)
    # when
    responses = [client.get(f"{BASE}{type_b.pk}/"), client.get(f"{BASE}{type_b.pk}/edit/")]
    # then
    assert [r.status_code for r in responses] == [404, 404]
    assert f"{BASE}{type_b.pk}/" not in _html(client.get(BASE))


def test_creating_a_type_in_the_browser_seeds_the_lifecycle(
    admin_user: User,
    make_line: Callable[..., BusinessLine],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    line = make_line()
    client = login_client(admin_user)
    form = {
        "business_line": line.pk,
        "key": "complaint",
        "name_zh": "投诉",
        "name_en": "Complaint",
        "number_prefix": "CMP",
        "reopen_within_days": 3,
        "auto_close_after_days": 0,
        "position": 0,
    }
    # when
    response = client.post(f"{BASE}new/", form)
    # then
    ticket_type = TicketType.objects.get(key="complaint")
    assert response.status_code == 302
    assert response["Location"] == f"{BASE}{ticket_type.pk}/"
    assert (ticket_type.number_prefix, ticket_type.auto_close_after_days) == ("CMP", 0)
    html = _html(client.get(response["Location"]))
    assert html.count('data-category="') == 6
    assert '<span class="badge badge-success" data-category="solved">Solved</span>' in html
    matrix = html.split('data-testid="matrix"')[1].split("</table>")[0]
    assert matrix.count("✓") == 8


def test_a_bad_prefix_is_shown_next_to_its_field(
    admin_user: User,
    make_line: Callable[..., BusinessLine],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    line = make_line()
    before = config_state()
    # when
    response = login_client(admin_user).post(
        f"{BASE}new/",
        {
            "business_line": line.pk,
            "key": "complaint",
            "name_zh": "投诉",
            "name_en": "Complaint",
            "number_prefix": "cmp",
            "reopen_within_days": 3,
            "auto_close_after_days": 0,
            "position": 0,
        },
    )
    # then
    html = _html(response)
    field = html.split('for="id_number_prefix"')[1].split('class="form-field')[0]
    assert 'class="form-field has-error"' in html.split('for="id_number_prefix"')[0][-60:]
    assert "Use 1 to 10 uppercase letters or digits, starting with a letter." in field
    assert config_state() == before


def test_a_guard_that_does_not_compile_is_shown_on_the_guard_and_nothing_is_saved(
    admin_user: User,
    make_type: Callable[..., TicketType],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    ticket_type = make_type()
    before = config_state()
    # when
    response = login_client(admin_user).post(
        f"{BASE}{ticket_type.pk}/transitions/new/",
        {
            "from_status": status(ticket_type, "new").pk,
            "to_status": status(ticket_type, "closed").pk,
            "guard": "ticket.priority = 'high'",
            "required_fields": "close_reason",
            "position": 0,
        },
    )
    # then
    html = _html(response)
    guard_block = html.split('for="id_guard"')[0][-200:]
    assert "has-error" in guard_block
    assert "The condition is not valid" in html
    assert config_state() == before


def test_a_transition_is_added_with_comma_separated_required_fields(
    admin_user: User,
    make_type: Callable[..., TicketType],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    ticket_type = make_type()
    # when
    response = login_client(admin_user).post(
        f"{BASE}{ticket_type.pk}/transitions/new/",
        {
            "from_status": status(ticket_type, "new").pk,
            "to_status": status(ticket_type, "closed").pk,
            "name_en": "Close as spam",
            "required_fields": " close_reason, spam_source ,",
            "guard": "ticket.channel == 'email'",
            "permission": "tickets.configure_tickettype",
            "position": 3,
        },
    )
    # then
    assert response.status_code == 302
    transition = StatusTransition.objects.get(
        ticket_type=ticket_type, from_status__key="new", to_status__key="closed"
    )
    assert (transition.required_fields, transition.guard, transition.permission) == (
        ["close_reason", "spam_source"],
        "ticket.channel == 'email'",
        "tickets.configure_tickettype",
    )
    edit = _html(
        login_client(admin_user).get(f"{BASE}{ticket_type.pk}/transitions/{transition.pk}/edit/")
    )
    assert 'value="close_reason, spam_source"' in edit
    assert f'hx-post="{BASE}{ticket_type.pk}/guard-test/"' in edit


@pytest.mark.parametrize(
    ("_case", "guard", "sample", "outcome"),
    [
        ("true", "ticket.tier == 'vip'", {"sample_tier": "vip"}, "true"),
        ("false", "ticket.tier == 'vip'", {"sample_tier": "normal"}, "false"),
        (
            "custom field",
            "ticket.custom_fields.model == 'P9'",
            {"sample_custom_fields": '{"model": "P9"}'},
            "true",
        ),
        ("does not compile", "ticket.tier ==", {}, "invalid"),
        ("bad sample", "ticket.tier == 'vip'", {"sample_custom_fields": "[1]"}, "sample_invalid"),
    ],
)
def test_the_guard_test_button_evaluates_on_the_sample(
    admin_user: User,
    make_type: Callable[..., TicketType],
    login_client: Callable[[User], JsonClient],
    _case: str,
    guard: str,
    sample: dict[str, str],
    outcome: str,
) -> None:
    # given
    ticket_type = make_type()
    before = config_state()
    # when
    response = login_client(admin_user).post(
        f"{BASE}{ticket_type.pk}/guard-test/",
        {"guard": guard, **sample},
        HTTP_HX_REQUEST="true",
    )
    # then
    html = _html(response)
    assert re.search(r'data-outcome="([a-z_]+)"', html).group(1) == outcome  # type: ignore[union-attr]
    assert "<html" not in html
    assert config_state() == before


def test_moving_a_status_up_changes_the_order(
    admin_user: User,
    make_type: Callable[..., TicketType],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    ticket_type = make_type()
    solved = status(ticket_type, "solved")
    # when
    response = login_client(admin_user).post(
        f"{BASE}{ticket_type.pk}/statuses/{solved.pk}/move/", {"direction": "up"}
    )
    # then
    assert response.status_code == 302
    assert list(
        TicketStatus.objects.filter(ticket_type=ticket_type)
        .order_by("position")
        .values_list("key", flat=True)
    ) == ["new", "open", "pending_customer", "solved", "pending_internal", "closed"]


def test_deactivating_the_initial_status_in_the_form_shows_the_reason(
    admin_user: User,
    make_type: Callable[..., TicketType],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    ticket_type = make_type()
    new = status(ticket_type, "new")
    before = config_state()
    # when
    response = login_client(admin_user).post(
        f"{BASE}{ticket_type.pk}/statuses/{new.pk}/edit/",
        {"name_zh": "新建", "name_en": "New", "category": "new", "is_initial": "on"},
    )
    # then
    html = _html(response)
    assert "The initial status cannot be deactivated: make another status initial." in html
    assert config_state() == before


def test_copy_page_copies_into_another_line(
    admin_user: User,
    make_line: Callable[..., BusinessLine],
    make_type: Callable[..., TicketType],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    ticket_type = make_type()
    target = make_line()
    client = login_client(admin_user)
    _html(client.get(f"{BASE}{ticket_type.pk}/copy/"))
    # when
    response = client.post(
        f"{BASE}{ticket_type.pk}/copy/",
        {"business_line": target.pk, "key": "repair", "name_zh": "维修", "name_en": "Repair"},
    )
    # then
    copy = TicketType.objects.get(business_line=target, key="repair")
    assert response["Location"] == f"{BASE}{copy.pk}/"
    assert TicketStatus.objects.filter(ticket_type=copy).count() == 6
    assert StatusTransition.objects.filter(ticket_type=copy).count() == 8


def test_a_ticket_types_form_is_headed_by_the_types_name_not_its_key(
    desk: dict[str, Any], login_client: Any
) -> None:
    from aftersales.tickets.models import form_key_of

    repair = desk["repair"]
    client = login_client(desk["admin"])

    page = client.get(
        f"/settings/fields/?target=tickets.ticket&subtarget={form_key_of(repair.pk)}",
        HTTP_ACCEPT_LANGUAGE="en",
    ).content.decode()

    assert f"Tickets · {repair.name_en} · {desk['line_a'].name}" in page
    assert f"· {form_key_of(repair.pk)}</h2>" not in page
