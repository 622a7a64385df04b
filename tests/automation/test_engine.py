"""Rules on ticket events: they match, act, log why, stay in their lines, and never loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aftersales.automation.models import Execution
from aftersales.outbox.models import OutboxEvent
from aftersales.tickets import services as tickets
from aftersales.tickets.models import Comment, Ticket
from tests.automation.conftest import all_of, leaf
from tests.tickets.conftest import status

pytestmark = pytest.mark.django_db


def _priority_rule(make_rule: Callable[..., Any], name: str, *, when: str, then: str) -> None:
    """A rule that sets the priority to ``then`` when it was changed to ``when``."""
    make_rule(
        name,
        ["updated"],
        all_of(leaf("ticket.priority", "changed_to", when)),
        [{"type": "set_priority", "priority": then}],
    )


def tags(ticket: Ticket) -> list[str]:
    return sorted(tickets.tags_of(ticket))


def test_a_matching_rule_acts_on_a_new_ticket_and_the_log_says_which_rule(
    desk: dict[str, Any],
    make_rule: Callable[..., Any],
    make_ticket: Callable[..., Ticket],
    settle: Any,
) -> None:
    make_rule(
        "Payment problems are urgent",
        ["created"],
        all_of(leaf("ticket.text", "contains_any_words", ["付款", "payment"])),
        [{"type": "set_priority", "priority": "urgent"}, {"type": "add_tags", "tags": ["payment"]}],
    )

    ticket = settle(lambda: make_ticket(subject="付款失败 after checkout"))
    ticket.refresh_from_db()

    assert ticket.priority == Ticket.Priority.URGENT
    assert tags(ticket) == ["payment"]
    entry = Execution.objects.get(ticket=ticket)
    assert entry.name == "Payment problems are urgent"
    assert entry.outcome == Execution.Outcome.APPLIED
    assert [step["action"] for step in entry.steps] == ["set_priority", "add_tags"]


def test_a_rule_whose_conditions_fail_does_nothing(
    make_rule: Callable[..., Any], make_ticket: Callable[..., Ticket], settle: Any
) -> None:
    make_rule(
        "Payment problems are urgent",
        ["created"],
        all_of(leaf("ticket.text", "contains_any_words", ["付款"])),
        [{"type": "set_priority", "priority": "urgent"}],
    )

    ticket = settle(lambda: make_ticket(subject="Noisy drum"))
    ticket.refresh_from_db()

    assert ticket.priority == Ticket.Priority.NORMAL
    assert not Execution.objects.filter(ticket=ticket).exists()


def test_a_rule_of_another_business_line_does_not_run(
    desk: dict[str, Any],
    make_rule: Callable[..., Any],
    make_ticket: Callable[..., Ticket],
    settle: Any,
) -> None:
    make_rule(
        "West only",
        ["created"],
        None,
        [{"type": "add_tags", "tags": ["west"]}],
        business_lines=[desk["line_b"].pk],
    )

    ticket = settle(lambda: make_ticket())

    assert tags(ticket) == []


def test_rules_run_in_order_and_stop_processing_ends_the_pass(
    make_rule: Callable[..., Any], make_ticket: Callable[..., Ticket], settle: Any
) -> None:
    make_rule(
        "First", ["created"], None, [{"type": "add_tags", "tags": ["first"]}], stop_processing=True
    )
    make_rule("Second", ["created"], None, [{"type": "add_tags", "tags": ["second"]}])

    ticket = settle(lambda: make_ticket())

    assert tags(ticket) == ["first"]
    assert list(Execution.objects.values_list("name", flat=True)) == ["First"]


def test_rules_see_the_changes_of_earlier_rules_through_the_events_they_raise(
    make_rule: Callable[..., Any], make_ticket: Callable[..., Ticket], settle: Any
) -> None:
    make_rule(
        "Urgent when VIP words",
        ["created"],
        all_of(leaf("ticket.text", "contains_any_words", ["vip"])),
        [{"type": "set_priority", "priority": "urgent"}],
    )
    make_rule(
        "Tag urgent",
        ["updated"],
        all_of(leaf("ticket.priority", "changed_to", "urgent")),
        [{"type": "add_tags", "tags": ["escalated"]}],
    )

    ticket = settle(lambda: make_ticket(subject="VIP customer waiting"))

    assert tags(ticket) == ["escalated"]
    chained = Execution.objects.get(name="Tag urgent")
    first = Execution.objects.get(name="Urgent when VIP words")
    assert chained.chain == first.chain
    assert chained.depth == first.depth + 1


def test_two_rules_that_undo_each_other_fire_once_each_and_stop(
    desk: dict[str, Any],
    make_rule: Callable[..., Any],
    make_ticket: Callable[..., Ticket],
    settle: Any,
) -> None:
    _priority_rule(make_rule, "Up", when="high", then="low")
    _priority_rule(make_rule, "Down", when="low", then="high")
    ticket = make_ticket()

    settle(
        lambda: tickets.update_ticket(
            actor=desk["admin"], ticket=ticket, changes={"priority": Ticket.Priority.HIGH}
        )
    )

    ticket.refresh_from_db()
    assert ticket.priority == Ticket.Priority.HIGH  # Up set low, Down set high, then it ended
    assert sorted(Execution.objects.values_list("name", flat=True)) == ["Down", "Up"]


def test_a_chain_longer_than_the_limit_stops_there_and_the_log_says_so(
    settings: Any,
    desk: dict[str, Any],
    make_rule: Callable[..., Any],
    make_ticket: Callable[..., Ticket],
    settle: Any,
) -> None:
    settings.AUTOMATION_MAX_DEPTH = 2
    _priority_rule(make_rule, "Up", when="high", then="low")
    _priority_rule(make_rule, "Down", when="low", then="urgent")
    _priority_rule(make_rule, "Again", when="urgent", then="high")
    ticket = make_ticket()

    settle(
        lambda: tickets.update_ticket(
            actor=desk["admin"], ticket=ticket, changes={"priority": Ticket.Priority.HIGH}
        )
    )

    ticket.refresh_from_db()
    assert ticket.priority == Ticket.Priority.URGENT  # Up (depth 0), Down (depth 1), then stop
    stopped = Execution.objects.get(outcome=Execution.Outcome.DEPTH_LIMIT)
    assert (stopped.name, stopped.depth, stopped.steps) == ("Again", 2, [])


def test_a_reply_rule_on_ticket_updated_fires_once_not_for_its_own_reply(
    desk: dict[str, Any],
    make_rule: Callable[..., Any],
    make_ticket: Callable[..., Ticket],
    settle: Any,
) -> None:
    make_rule(
        "Acknowledge",
        ["updated"],
        None,
        [{"type": "reply", "body": "We are on it, {{ customer.name }}."}],
    )
    ticket = make_ticket()

    settle(
        lambda: tickets.update_ticket(
            actor=desk["admin"], ticket=ticket, changes={"priority": Ticket.Priority.HIGH}
        )
    )

    replies = Comment.objects.filter(ticket=ticket, is_public=True)
    assert [c.body_text for c in replies] == ["We are on it, Alice."]
    assert replies[0].author_id is None  # written by the system, not by a person
    assert Execution.objects.filter(name="Acknowledge").count() == 1


def test_an_action_that_fails_is_logged_and_the_others_still_happen(
    desk: dict[str, Any],
    make_rule: Callable[..., Any],
    make_ticket: Callable[..., Ticket],
    settle: Any,
) -> None:
    closed = status(desk["repair"], "closed")
    make_rule(
        "Close at once",
        ["created"],
        None,
        [{"type": "set_status", "status": closed.pk}, {"type": "add_tags", "tags": ["tried"]}],
    )

    ticket = settle(lambda: make_ticket())

    ticket.refresh_from_db()
    assert ticket.status_category == "new"  # the lifecycle has no new → closed transition
    assert tags(ticket) == ["tried"]
    entry = Execution.objects.get(ticket=ticket)
    assert entry.outcome == Execution.Outcome.PARTIAL
    assert [step["ok"] for step in entry.steps] == [False, True]
    assert entry.steps[0]["detail"]


def test_rule_effects_are_recorded_on_the_timeline_as_the_system(
    make_rule: Callable[..., Any], make_ticket: Callable[..., Ticket], settle: Any
) -> None:
    make_rule("Urgent", ["created"], None, [{"type": "set_priority", "priority": "urgent"}])

    ticket = settle(lambda: make_ticket())

    update = OutboxEvent.objects.get(topic="ticket.updated", object_id=str(ticket.pk))
    assert update.actor_id is None
    assert update.cause["depth"] == 1
    assert update.payload["changes"]["priority"] == [Ticket.Priority.NORMAL, Ticket.Priority.URGENT]


def test_a_status_changed_rule_sees_which_status_the_ticket_moved_to(
    desk: dict[str, Any],
    make_rule: Callable[..., Any],
    make_ticket: Callable[..., Ticket],
    settle: Any,
) -> None:
    opened = status(desk["repair"], "open")
    make_rule(
        "Work started",
        ["status_changed"],
        all_of(leaf("ticket.status", "changed_to", opened.pk)),
        [{"type": "add_tags", "tags": ["started"]}],
    )
    ticket = make_ticket()

    settle(
        lambda: tickets.update_ticket(
            actor=desk["admin"], ticket=ticket, changes={"status": opened}
        )
    )

    assert tags(ticket) == ["started"]
    assert Execution.objects.get().trigger == "status_changed"


def test_a_pair_that_sets_a_field_back_and_forth_stops_at_the_depth_limit_and_says_so(
    settings: Any,
    desk: dict[str, Any],
    make_rule: Callable[..., Any],
    make_ticket: Callable[..., Ticket],
    settle: Any,
) -> None:
    settings.AUTOMATION_MAX_DEPTH = 1
    _priority_rule(make_rule, "Up", when="high", then="low")
    _priority_rule(make_rule, "Down", when="low", then="high")
    ticket = make_ticket()

    settle(
        lambda: tickets.update_ticket(
            actor=desk["admin"], ticket=ticket, changes={"priority": Ticket.Priority.HIGH}
        )
    )

    ticket.refresh_from_db()
    assert ticket.priority == Ticket.Priority.LOW  # Up ran; Down was stopped
    log = {e.name: (e.outcome, e.depth) for e in Execution.objects.all()}
    assert log == {"Up": ("applied", 0), "Down": ("depth_limit", 1)}
