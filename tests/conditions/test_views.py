"""The "Try a condition" page: permission, ticket scope, results and errors."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from aftersales.accounts import services as accounts
from aftersales.accounts.models import User
from aftersales.tickets.models import Ticket
from tests.conftest import JsonClient

URL = "/settings/conditions/try/"
TREE = {
    "all": [
        {"field": "customer.tier", "op": "is", "value": "vip"},
        {"field": "ticket.subject", "op": "contains_any_words", "value": ["支付", "付款"]},
    ]
}


@pytest.fixture
def tryer(helpdesk: dict[str, Any], make_user: Callable[..., User]) -> User:
    role = accounts.create_role(
        actor=helpdesk["admin"],
        key="rule-designer",
        name="Rule designer",
        permissions=["conditions.try_condition", "tickets.view_ticket"],
    )
    user = make_user("designer", lines=[helpdesk["line_a"]])
    accounts.grant_role(actor=helpdesk["admin"], user=user, role=role, scope="business_lines")
    return User.objects.get(pk=user.pk)


@pytest.fixture
def vip_ticket(helpdesk: dict[str, Any], make_ticket: Callable[..., Ticket]) -> Ticket:
    return make_ticket(requester=helpdesk["carol"], subject="扫码付款失败")


def _json_script(html: str, element_id: str) -> Any:
    match = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', html)
    assert match is not None
    return json.loads(match.group(1))


def _post(client: JsonClient, number: str, tree: Any) -> Any:
    return client.post(URL, {"ticket": number, "condition": json.dumps(tree)})


def test_anonymous_is_sent_to_sign_in(client: Any) -> None:
    response = client.get(URL)

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_an_agent_without_the_permission_is_refused(
    helpdesk: dict[str, Any], login_client: Callable[[User], JsonClient], vip_ticket: Ticket
) -> None:
    client = login_client(helpdesk["insider"])

    assert client.get(URL).status_code == 403
    assert _post(client, vip_ticket.number, TREE).status_code == 403


def test_the_page_offers_the_builder_and_the_navigation_entry(
    helpdesk: dict[str, Any], login_client: Callable[[User], JsonClient]
) -> None:
    response = login_client(helpdesk["admin"]).get(URL, HTTP_ACCEPT_LANGUAGE="en")

    html = response.content.decode()
    assert response.status_code == 200
    assert 'x-data="conditionBuilder"' in html
    assert 'id="condition-catalog"' in html
    assert f'href="{URL}"' in html


def test_trying_a_condition_on_a_ticket_shows_the_matching_leaves(
    helpdesk: dict[str, Any], login_client: Callable[[User], JsonClient], vip_ticket: Ticket
) -> None:
    response = _post(login_client(helpdesk["admin"]), vip_ticket.number, TREE)

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="try-leaves"' in html
    assert html.count('data-matched="true"') == 2
    assert "customer.tier == &quot;vip&quot;" in html


def test_an_invalid_value_comes_back_with_its_path(
    helpdesk: dict[str, Any], login_client: Callable[[User], JsonClient], vip_ticket: Ticket
) -> None:
    tree = {"all": [{"field": "customer.tier", "op": "is", "value": "platinum"}]}

    response = _post(login_client(helpdesk["admin"]), vip_ticket.number, tree)

    html = response.content.decode()
    assert 'data-testid="try-invalid"' in html
    errors = _json_script(html, "condition-errors")
    assert [(error["field"], error["code"]) for error in errors] == [
        ("condition.all.0.value", "unknown_option")
    ]
    value = _json_script(html, "condition-value")
    assert value == tree


def test_a_ticket_outside_the_scope_is_not_shown(
    helpdesk: dict[str, Any],
    login_client: Callable[[User], JsonClient],
    tryer: User,
    make_ticket: Callable[..., Ticket],
) -> None:
    from aftersales.customers import services as customers
    from aftersales.tickets import services as tickets

    west_type = tickets.create_ticket_type(
        actor=helpdesk["admin"],
        business_line=helpdesk["line_b"],
        key="west",
        name_zh="西区",
        name_en="West",
    )
    west = make_ticket(
        ticket_type=west_type,
        team=None,
        subject="西区支付问题",
        requester=customers.create_customer(
            actor=helpdesk["admin"], name="Wes", business_line=helpdesk["line_b"]
        ),
    )

    response = _post(login_client(tryer), west.number, TREE)

    html = response.content.decode()
    assert response.status_code == 200
    assert "西区支付问题" not in html
    assert 'data-testid="try-leaves"' not in html
    assert 'data-testid="try-ticket"' not in html


def test_a_ticket_inside_the_scope_is_tried(
    login_client: Callable[[User], JsonClient], tryer: User, vip_ticket: Ticket
) -> None:
    response = _post(login_client(tryer), vip_ticket.number, TREE)

    assert 'data-testid="try-leaves"' in response.content.decode()


def test_unreadable_condition_text_is_an_error_not_a_crash(
    helpdesk: dict[str, Any], login_client: Callable[[User], JsonClient]
) -> None:
    response = login_client(helpdesk["admin"]).post(URL, {"condition": "{not json"})

    assert response.status_code == 200
    assert "invalid_json" in response.content.decode()


def test_administrators_may_try_conditions(admin_user: User) -> None:
    from aftersales.accounts import authz, catalog

    assert catalog.is_known("conditions.try_condition")
    assert authz.scope_for(admin_user, "conditions.try_condition") == "all"


def test_an_unknown_ticket_number_is_said_next_to_the_field(
    helpdesk: dict[str, Any], login_client: Callable[[User], JsonClient]
) -> None:
    response = login_client(helpdesk["admin"]).get(
        URL, {"ticket": "REP-000000-9999"}, HTTP_ACCEPT_LANGUAGE="en"
    )

    assert "No ticket with this number that you can see." in response.content.decode()
