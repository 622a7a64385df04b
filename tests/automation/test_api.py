"""The rules and automations API: CRUD with ETags, field-level problems, scope, dry run, log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aftersales.accounts.models import User
from aftersales.automation.models import Automation, Execution, Rule, RuleVersion
from aftersales.outbox.models import OutboxEvent
from aftersales.tickets.models import Ticket
from tests.automation.conftest import all_of, leaf

pytestmark = pytest.mark.django_db

RULES = "/api/v1/automation/rules"
AUTOMATIONS = "/api/v1/automation/automations"


def rule_body(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "VIP payment",
        "triggers": ["created"],
        "condition": all_of(leaf("ticket.text", "contains_any_words", ["付款"])),
        "actions": [{"type": "set_priority", "priority": "urgent"}],
        **overrides,
    }


def test_a_rule_is_created_read_changed_with_if_match_and_versioned(
    desk: dict[str, Any], token_client: Callable[..., Any]
) -> None:
    client = token_client(desk["admin"])

    created = client.post_json(RULES, rule_body())
    assert created.status_code == 201, created.json()
    rule_id = created.json()["id"]
    assert created["ETag"] == 'W/"1"'
    assert "付款" in created.json()["condition_cel"]

    changed = client.patch_json(
        f"{RULES}/{rule_id}", {"name": "VIP payment, urgent"}, HTTP_IF_MATCH='W/"1"'
    )
    assert changed.status_code == 200
    assert changed.json()["version"] == 2
    stale = client.patch_json(f"{RULES}/{rule_id}", {"name": "Lost"}, HTTP_IF_MATCH='W/"1"')
    assert stale.status_code == 412
    assert stale["Content-Type"] == "application/problem+json"
    assert Rule.objects.get().name == "VIP payment, urgent"
    history = client.get(f"{RULES}/{rule_id}/versions").json()
    assert [v["version"] for v in history] == [2, 1]
    assert history[1]["snapshot"]["name"] == "VIP payment"
    assert RuleVersion.objects.count() == 2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"triggers": ["sometime"]}, "triggers"),
        ({"actions": [{"type": "assign_team", "team": 999999}]}, "actions.0.team"),
        ({"actions": [{"type": "launch_rocket"}]}, "actions.0.type"),
        ({"actions": []}, "actions"),
        ({"condition": all_of(leaf("ticket.priority", "is", "sky-high"))}, "condition.all.0.value"),
        ({"condition": all_of(leaf("ticket.nope", "is", "x"))}, "condition.all.0.field"),
        ({"business_line_ids": [999999]}, "business_line_ids"),
    ],
)
def test_a_bad_rule_gets_a_problem_naming_the_field_and_nothing_is_saved(
    desk: dict[str, Any], token_client: Callable[..., Any], change: dict[str, Any], field: str
) -> None:
    client = token_client(desk["admin"])

    response = client.post_json(RULES, rule_body(**change))

    assert response.status_code in (400, 422), response.json()
    assert response["Content-Type"] == "application/problem+json"
    fields = [error["field"] for error in response.json().get("errors", [])]
    assert field in fields or response.json().get("field") == field, response.json()
    assert not Rule.objects.exists()


def test_an_automation_is_created_and_checked(
    desk: dict[str, Any], token_client: Callable[..., Any]
) -> None:
    client = token_client(desk["admin"])
    body = {
        "name": "Remind",
        "clock": "created_at",
        "hours": "2",
        "status_categories": ["new"],
        "actions": [{"type": "add_tags", "tags": ["reminded"]}],
    }

    created = client.post_json(AUTOMATIONS, body)
    refused = client.post_json(AUTOMATIONS, {**body, "hours": "-1"})

    assert created.status_code == 201, created.json()
    assert created.json()["hours"] in ("2.00", 2.0, "2")
    assert refused.status_code == 422
    assert "hours" in str(refused.json())
    assert Automation.objects.count() == 1


def test_people_outside_a_rules_lines_neither_see_nor_change_it(
    desk: dict[str, Any],
    make_user: Callable[..., User],
    make_rule: Callable[..., Rule],
    token_client: Callable[..., Any],
) -> None:
    west = make_rule(
        "West",
        ["created"],
        None,
        [{"type": "add_tags", "tags": ["w"]}],
        business_lines=[desk["line_b"].pk],
    )
    east = make_rule(
        "East",
        ["created"],
        None,
        [{"type": "add_tags", "tags": ["e"]}],
        business_lines=[desk["line_a"].pk],
    )
    manager = make_user(role="service-manager", scope="business_lines", lines=[desk["line_a"]])
    client = token_client(manager)

    assert [r["name"] for r in client.get(RULES).json()] == ["East"]
    assert client.get(f"{RULES}/{west.pk}").status_code == 404
    assert client.patch_json(f"{RULES}/{west.pk}", {"name": "Mine"}).status_code == 404
    assert client.delete(f"{RULES}/{west.pk}").status_code == 404
    # Nor may they widen their own rule to a line they do not manage.
    widened = client.patch_json(
        f"{RULES}/{east.pk}", {"business_line_ids": [desk["line_a"].pk, desk["line_b"].pk]}
    )
    assert widened.status_code == 403
    assert Rule.objects.get(pk=west.pk).name == "West"
    assert list(Rule.objects.get(pk=east.pk).business_lines.all()) == [desk["line_a"]]
    agent = token_client(desk["insider"])
    assert agent.get(RULES).json() == []
    assert agent.post_json(RULES, rule_body()).status_code == 403


def test_the_dry_run_says_what_would_happen_and_does_nothing(
    desk: dict[str, Any],
    make_rule: Callable[..., Rule],
    make_ticket: Callable[..., Ticket],
    token_client: Callable[..., Any],
) -> None:
    rule = make_rule(
        "VIP payment",
        ["created"],
        all_of(leaf("ticket.text", "contains_any_words", ["付款"])),
        [
            {"type": "set_priority", "priority": "urgent"},
            {"type": "reply", "body": "Hello {{ customer.name }}"},
        ],
    )
    ticket = make_ticket(subject="付款失败")
    events_before = OutboxEvent.objects.count()
    client = token_client(desk["admin"])

    result = client.post_json(f"{RULES}/{rule.pk}/dry-run", {"ticket_id": ticket.pk}).json()

    assert result["matched"] is True
    assert [leaf["matched"] for leaf in result["leaves"]] == [True]
    assert [step["action"] for step in result["steps"]] == ["set_priority", "reply"]
    assert "Hello Alice" in result["steps"][1]["detail"]
    ticket.refresh_from_db()
    assert ticket.priority == Ticket.Priority.NORMAL
    assert OutboxEvent.objects.count() == events_before
    assert not Execution.objects.exists()
    outsider = token_client(desk["outsider"])
    assert (
        outsider.post_json(f"{RULES}/{rule.pk}/dry-run", {"ticket_id": ticket.pk}).status_code
        == 404
    )


def test_a_tickets_automation_log_is_scoped_like_the_ticket(
    desk: dict[str, Any],
    make_rule: Callable[..., Rule],
    make_ticket: Callable[..., Ticket],
    token_client: Callable[..., Any],
    settle: Any,
) -> None:
    make_rule("Urgent", ["created"], None, [{"type": "set_priority", "priority": "urgent"}])
    ticket = settle(lambda: make_ticket())

    log = token_client(desk["insider"]).get(f"/api/v1/tickets/{ticket.pk}/automation-log")
    hidden = token_client(desk["outsider"]).get(f"/api/v1/tickets/{ticket.pk}/automation-log")

    assert log.status_code == 200
    assert [(e["name"], e["outcome"], e["steps"][0]["ok"]) for e in log.json()] == [
        ("Urgent", "applied", True)
    ]
    assert hidden.status_code == 404


def test_rules_can_be_reordered(
    desk: dict[str, Any], make_rule: Callable[..., Rule], token_client: Callable[..., Any]
) -> None:
    first = make_rule("First", ["created"], None, [{"type": "add_tags", "tags": ["a"]}])
    second = make_rule("Second", ["created"], None, [{"type": "add_tags", "tags": ["b"]}])
    client = token_client(desk["admin"])

    response = client.put(
        f"{RULES}/order", {"order": [second.pk, first.pk]}, content_type="application/json"
    )

    assert [r["name"] for r in response.json()] == ["Second", "First"]
    missing = client.put(f"{RULES}/order", {"order": [second.pk]}, content_type="application/json")
    assert missing.status_code == 422


def test_telling_the_customer_needs_a_template_written_for_customers(
    desk: dict[str, Any], token_client: Callable[..., Any]
) -> None:
    from aftersales.notifications.defaults import sync_default_templates
    from aftersales.notifications.models import NotificationTemplate

    sync_default_templates()
    staff_only = NotificationTemplate.objects.get(key="ticket-assigned")
    client = token_client(desk["admin"])

    response = client.post_json(
        RULES,
        rule_body(
            actions=[{"type": "notify", "audiences": ["requester"], "template": staff_only.pk}]
        ),
    )

    assert response.status_code == 422
    assert "actions.0.template" in str(response.json())
    assert not Rule.objects.exists()
