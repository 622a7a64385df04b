"""The rule and automation pages: saving with action rows, errors next to what is wrong, the
test panel, the log on the ticket page, and what people outside a rule's lines cannot see."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from aftersales.accounts.models import User
from aftersales.automation.models import Execution, Rule
from aftersales.tickets.models import Ticket
from tests.automation.conftest import all_of, leaf
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def signed_in(user: User) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert client.login(username=user.username, password=PASSWORD)
    return client


def rule_form(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Payment problems are urgent",
        "description": "",
        "triggers": ["created"],
        "condition": json.dumps(all_of(leaf("ticket.text", "contains_any_words", ["付款"]))),
        "action-0-type": "set_priority",
        "action-0-priority": "urgent",
        "action-1-type": "add_tags",
        "action-1-tags": "payment, vip",
        "is_active": "on",
    }
    data.update(overrides)
    return data


def test_an_admin_saves_a_rule_from_the_page(desk: dict[str, Any]) -> None:
    client = signed_in(desk["admin"])

    response = client.post("/settings/automation/rules/new/", rule_form())

    rule = Rule.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/settings/automation/rules/{rule.pk}/?saved=1"
    assert rule.actions == [
        {"type": "set_priority", "priority": "urgent"},
        {"type": "add_tags", "tags": ["payment", "vip"]},
    ]
    assert "付款" in rule.condition_cel
    page = client.get(response["Location"]).content.decode()
    assert "Payment problems are urgent" in page
    assert 'data-testid="saved"' in page


def test_a_wrong_action_setting_is_shown_in_its_row_and_nothing_is_saved(
    desk: dict[str, Any],
) -> None:
    client = signed_in(desk["admin"])

    response = client.post(
        "/settings/automation/rules/new/",
        rule_form(**{"action-1-type": "assign_team", "action-1-team": "999999"}),
    )

    assert response.status_code == 200
    assert not Rule.objects.exists()
    page = response.content.decode()
    row = page[page.index('id="action-1"') :]
    assert "Choose an active team." in row[: row.index("</li>")]


def test_a_bad_condition_is_shown_in_the_builder(desk: dict[str, Any]) -> None:
    client = signed_in(desk["admin"])
    condition = json.dumps(all_of(leaf("ticket.priority", "is", "sky-high")))

    response = client.post("/settings/automation/rules/new/", rule_form(condition=condition))

    assert response.status_code == 200
    assert not Rule.objects.exists()
    errors = response.context["builder"]["errors"]
    assert [e["field"] for e in errors] == ["condition.all.0.value"]


def test_the_test_panel_shows_what_matches_and_changes_nothing(
    desk: dict[str, Any], make_rule: Callable[..., Rule], make_ticket: Callable[..., Ticket]
) -> None:
    rule = make_rule(
        "Payment problems are urgent",
        ["created"],
        all_of(leaf("ticket.text", "contains_any_words", ["付款"])),
        [{"type": "set_priority", "priority": "urgent"}],
    )
    ticket = make_ticket(subject="付款失败")
    client = signed_in(desk["admin"])

    response = client.post(f"/settings/automation/rule/{rule.pk}/test/", {"ticket": ticket.number})

    page = response.content.decode()
    assert "Would fire" in page
    assert "✓" in page
    ticket.refresh_from_db()
    assert ticket.priority == Ticket.Priority.NORMAL
    assert not Execution.objects.exists()


def test_a_manager_of_one_line_sees_only_that_lines_rules(
    desk: dict[str, Any], make_user: Callable[..., User], make_rule: Callable[..., Rule]
) -> None:
    east = make_rule(
        "East",
        ["created"],
        None,
        [{"type": "add_tags", "tags": ["e"]}],
        business_lines=[desk["line_a"].pk],
    )
    west = make_rule(
        "West",
        ["created"],
        None,
        [{"type": "add_tags", "tags": ["w"]}],
        business_lines=[desk["line_b"].pk],
    )
    everywhere = make_rule("All", ["created"], None, [{"type": "add_tags", "tags": ["a"]}])
    manager = make_user(role="service-manager", scope="business_lines", lines=[desk["line_a"]])
    client = signed_in(manager)

    listing = client.get("/settings/automation/rules/").content.decode()

    assert "East" in listing
    assert "West" not in listing
    assert client.get(f"/settings/automation/rules/{east.pk}/").status_code == 200
    assert client.get(f"/settings/automation/rules/{west.pk}/").status_code == 404
    assert client.get(f"/settings/automation/rules/{everywhere.pk}/").status_code == 404
    assert client.post(f"/settings/automation/rule/{west.pk}/delete/").status_code == 404
    assert Rule.objects.filter(pk=west.pk).exists()


def test_an_agent_may_not_open_the_rules(desk: dict[str, Any]) -> None:
    client = signed_in(desk["insider"])

    assert client.get("/settings/automation/rules/").status_code == 403
    assert client.post("/settings/automation/rules/new/", rule_form()).status_code == 403
    assert not Rule.objects.exists()


def test_the_ticket_page_shows_which_rule_did_what(
    desk: dict[str, Any],
    make_rule: Callable[..., Rule],
    make_ticket: Callable[..., Ticket],
    settle: Any,
) -> None:
    make_rule("Urgent", ["created"], None, [{"type": "set_priority", "priority": "urgent"}])
    ticket = settle(lambda: make_ticket())
    client = signed_in(desk["insider"])

    log = client.get(f"/settings/automation/tickets/{ticket.pk}/log/").content.decode()

    assert "Urgent" in log
    assert "Set priority: urgent" in log
    outsider = signed_in(desk["outsider"])
    assert outsider.get(f"/settings/automation/tickets/{ticket.pk}/log/").status_code == 404


def test_adding_an_action_row_returns_the_row_and_the_next_button(desk: dict[str, Any]) -> None:
    client = signed_in(desk["admin"])

    page = client.get("/settings/automation/action-row/?index=3&add=1&type=notify").content.decode()

    assert 'name="action-3-audiences"' in page
    assert 'hx-swap-oob="true"' in page
    assert "index=4&add=1" in page


def test_set_field_offers_the_custom_fields_by_name(desk: dict[str, Any]) -> None:
    client = signed_in(desk["admin"])

    page = client.get("/settings/automation/action-row/?index=0&type=set_field").content.decode()

    assert '<option value="resolution_code">Resolution code (resolution_code)</option>' in page
