"""The lifecycle engine: which moves are offered, and why a move is refused."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.utils import translation

from aftersales.accounts.models import User
from aftersales.core.errors import DomainError, PermissionDenied
from aftersales.tickets import guards, lifecycle, services
from aftersales.tickets.models import StatusTransition, TicketType
from tests.tickets.conftest import status


def _keys(transitions: list[StatusTransition]) -> list[str]:
    return [t.to_status.key for t in transitions]


def test_solving_without_a_resolution_code_names_the_missing_field(
    admin_user: User, make_type: Callable[..., TicketType]
) -> None:
    # given
    ticket_type = make_type()
    # when
    with pytest.raises(DomainError) as raised, translation.override("en"):
        lifecycle.check_transition(
            ticket_type,
            status(ticket_type, "open"),
            status(ticket_type, "solved"),
            actor=admin_user,
            facts={},
            values={"resolution_code": "  ", "assignee": 7},
        )
    # then
    assert (raised.value.status, raised.value.code, raised.value.field) == (
        422,
        "required_field_missing",
        "resolution_code",
    )
    with translation.override("en"):
        assert raised.value.detail() == "Fill in resolution_code before moving to Solved."


def test_solving_with_a_resolution_code_is_allowed(
    admin_user: User, make_type: Callable[..., TicketType]
) -> None:
    # given
    ticket_type = make_type()
    # when
    transition = lifecycle.check_transition(
        ticket_type,
        status(ticket_type, "open"),
        status(ticket_type, "solved"),
        actor=admin_user,
        facts={},
        values={"resolution_code": "replaced-part"},
    )
    # then
    assert (transition.from_status.key, transition.to_status.key) == ("open", "solved")


def test_the_first_missing_field_in_declared_order_is_named(
    admin_user: User, make_type: Callable[..., TicketType]
) -> None:
    # given
    ticket_type = make_type()
    transition = StatusTransition.objects.get(
        ticket_type=ticket_type, from_status__key="open", to_status__key="solved"
    )
    services.update_transition(
        actor=admin_user,
        transition=transition,
        changes={"required_fields": ["assignee", "resolution_code", "fault_code"]},
    )
    # when
    with pytest.raises(DomainError) as raised:
        lifecycle.check_transition(
            ticket_type,
            status(ticket_type, "open"),
            status(ticket_type, "solved"),
            actor=admin_user,
            facts={},
            values={"assignee": 3, "fault_code": []},
        )
    # then
    assert raised.value.field == "resolution_code"


def test_a_move_that_is_not_defined_is_refused(
    admin_user: User, make_type: Callable[..., TicketType]
) -> None:
    # given
    ticket_type = make_type()
    # when
    with pytest.raises(DomainError) as raised:
        lifecycle.check_transition(
            ticket_type,
            status(ticket_type, "new"),
            status(ticket_type, "solved"),
            actor=admin_user,
            facts={},
            values={"resolution_code": "x"},
        )
    # then
    assert (raised.value.code, raised.value.field) == ("transition_not_allowed", "to")


def test_a_move_into_a_deactivated_status_is_refused_and_not_offered(
    admin_user: User, make_type: Callable[..., TicketType]
) -> None:
    # given
    ticket_type = make_type()
    services.deactivate_status(actor=admin_user, status=status(ticket_type, "pending_internal"))
    # when
    offered = lifecycle.available_transitions(
        ticket_type, status(ticket_type, "open"), actor=admin_user, facts={}
    )
    # then
    assert _keys(offered) == ["pending_customer", "solved"]
    with pytest.raises(DomainError) as raised:
        lifecycle.check_transition(
            ticket_type,
            status(ticket_type, "open"),
            status(ticket_type, "pending_internal"),
            actor=admin_user,
            facts={},
            values={},
        )
    assert raised.value.code == "transition_not_allowed"


@pytest.mark.parametrize(
    ("_case", "facts", "allowed"),
    [
        ("vip and urgent", {"tier": "vip", "priority": "urgent"}, True),
        ("vip, normal priority", {"tier": "vip", "priority": "normal"}, False),
        ("no facts", {}, False),
        ("custom field says so", {"custom_fields": {"warranty": True}}, True),
    ],
)
def test_a_guard_decides_on_the_facts(
    admin_user: User,
    make_type: Callable[..., TicketType],
    _case: str,
    facts: dict[str, object],
    allowed: bool,
) -> None:
    # given
    ticket_type = make_type()
    services.add_transition(
        actor=admin_user,
        ticket_type=ticket_type,
        from_status=status(ticket_type, "new"),
        to_status=status(ticket_type, "pending_internal"),
        guard=(
            "(ticket.tier == 'vip' && ticket.priority == 'urgent') || "
            "('warranty' in ticket.custom_fields && ticket.custom_fields.warranty == true)"
        ),
    )
    # when
    offered = lifecycle.available_transitions(
        ticket_type, status(ticket_type, "new"), actor=admin_user, facts=facts
    )
    # then
    assert _keys(offered) == (["open", "pending_internal"] if allowed else ["open"])
    if not allowed:
        with pytest.raises(DomainError) as raised:
            lifecycle.check_transition(
                ticket_type,
                status(ticket_type, "new"),
                status(ticket_type, "pending_internal"),
                actor=admin_user,
                facts=facts,
                values={},
            )
        assert (raised.value.code, raised.value.field) == ("guard_refused", "guard")


def test_a_guard_that_fails_to_evaluate_refuses_with_the_reason(
    admin_user: User, make_type: Callable[..., TicketType]
) -> None:
    # given
    ticket_type = make_type()
    services.add_transition(
        actor=admin_user,
        ticket_type=ticket_type,
        from_status=status(ticket_type, "new"),
        to_status=status(ticket_type, "closed"),
        guard="ticket.custom_fields.region == 'north'",
    )
    # when
    with pytest.raises(DomainError) as raised:
        lifecycle.check_transition(
            ticket_type,
            status(ticket_type, "new"),
            status(ticket_type, "closed"),
            actor=admin_user,
            facts={"custom_fields": {}},
            values={},
        )
    # then
    assert raised.value.code == "guard_refused"
    assert "region" in raised.value.detail()


def test_a_changed_guard_is_evaluated_in_its_new_version(
    admin_user: User, make_type: Callable[..., TicketType]
) -> None:
    """Compiled programs are cached per transition version, so an edit takes effect at once."""
    # given
    ticket_type = make_type()
    transition = StatusTransition.objects.get(
        ticket_type=ticket_type, from_status__key="new", to_status__key="open"
    )
    services.update_transition(
        actor=admin_user, transition=transition, changes={"guard": "ticket.assignee_set"}
    )
    new = status(ticket_type, "new")
    assert (
        _keys(lifecycle.available_transitions(ticket_type, new, actor=admin_user, facts={})) == []
    )
    # when
    services.update_transition(
        actor=admin_user, transition=transition, changes={"guard": "!ticket.assignee_set"}
    )
    # then
    assert _keys(lifecycle.available_transitions(ticket_type, new, actor=admin_user, facts={})) == [
        "open"
    ]


def test_a_transition_with_a_permission_is_only_for_holders(
    admin_user: User, make_user: Callable[..., User], make_type: Callable[..., TicketType]
) -> None:
    # given
    ticket_type = make_type()
    agent = make_user(role="agent", scope="all")
    services.add_transition(
        actor=admin_user,
        ticket_type=ticket_type,
        from_status=status(ticket_type, "new"),
        to_status=status(ticket_type, "closed"),
        permission="tickets.configure_tickettype",
    )
    new, closed = status(ticket_type, "new"), status(ticket_type, "closed")
    # when
    for_agent = lifecycle.available_transitions(ticket_type, new, actor=agent, facts={})
    for_admin = lifecycle.available_transitions(ticket_type, new, actor=admin_user, facts={})
    # then
    assert _keys(for_agent) == ["open"]
    assert _keys(for_admin) == ["open", "closed"]
    with pytest.raises(PermissionDenied) as raised:
        lifecycle.check_transition(ticket_type, new, closed, actor=agent, facts={}, values={})
    assert (raised.value.status, raised.value.code) == (403, "transition_permission_denied")


def test_facts_of_the_wrong_type_or_unknown_are_named() -> None:
    # when
    with pytest.raises(DomainError) as wrong:
        guards.normalise_facts({"assignee_set": "yes"})
    with pytest.raises(DomainError) as unknown:
        guards.normalise_facts({"colour": "red"})
    # then
    assert (wrong.value.code, wrong.value.field) == ("invalid_fact", "facts.assignee_set")
    assert (unknown.value.code, unknown.value.field) == ("unknown_fact", "facts.colour")


def test_the_initial_status_is_the_one_flagged(make_type: Callable[..., TicketType]) -> None:
    # given
    ticket_type = make_type()
    # then
    assert lifecycle.initial_status(ticket_type).key == "new"
