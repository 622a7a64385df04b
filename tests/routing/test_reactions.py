"""Routing reacts to tickets arriving in a team by other paths, and to agents becoming free.

pytest-django's ``db`` fixture never runs on_commit callbacks, so each test captures and runs
them: that is when eager outbox subscribers deliver.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.utils import translation

from aftersales.accounts.models import Team, User
from aftersales.outbox.models import OutboxEvent
from aftersales.routing import services
from aftersales.tickets import services as tickets
from aftersales.tickets.models import Ticket, TicketStatus

pytestmark = pytest.mark.django_db
RoutedTeam = Callable[..., tuple[Team, list[User]]]
MakeTicket = Callable[..., Ticket]


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


def test_a_ticket_created_in_a_round_robin_team_is_assigned(
    routed_team: RoutedTeam, make_ticket: MakeTicket, django_capture_on_commit_callbacks: Any
) -> None:
    # given
    team, (li, han) = routed_team(["Li Lei", "Han Meimei"], strategy="round_robin")
    # when
    with django_capture_on_commit_callbacks(execute=True):
        first = make_ticket(team=team)
    with django_capture_on_commit_callbacks(execute=True):
        second = make_ticket(team=team)
    # then
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.assignee_id, second.assignee_id) == (li.pk, han.pk)
    reasons = list(
        OutboxEvent.objects.filter(topic="ticket.routed")
        .order_by("created_at")
        .values_list("payload__reason", flat=True)
    )
    assert reasons == ["ticket.created", "ticket.created"]


def test_moving_a_ticket_to_a_team_in_the_workspace_routes_it(
    routed_team: RoutedTeam,
    make_ticket: MakeTicket,
    desk: dict[str, Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given
    team, (li,) = routed_team(["Li Lei"], strategy="least_loaded")
    ticket = make_ticket(team=None)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        tickets.update_ticket(actor=desk["manager"], ticket=ticket, changes={"team": team})
    # then
    ticket.refresh_from_db()
    assert ticket.assignee_id == li.pk


def test_a_manual_team_is_left_alone(
    routed_team: RoutedTeam, make_ticket: MakeTicket, django_capture_on_commit_callbacks: Any
) -> None:
    # given
    team, _agents = routed_team(["Li Lei"])
    # when
    with django_capture_on_commit_callbacks(execute=True):
        ticket = make_ticket(team=team)
    # then
    ticket.refresh_from_db()
    assert ticket.assignee_id is None
    assert OutboxEvent.objects.filter(topic="ticket.routed").exists() is False


def test_routing_does_not_react_to_its_own_changes(
    routed_team: RoutedTeam, make_ticket: MakeTicket, django_capture_on_commit_callbacks: Any
) -> None:
    # given: a queue-mode team where nobody is free, so the ticket is left without assignee
    team, (li,) = routed_team(
        ["Li Lei"], strategy="round_robin", queue_mode=True, default_capacity=0
    )
    ticket = make_ticket(team=None)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        services.route_to_team(ticket=ticket, team=team)
    # then
    assert OutboxEvent.objects.filter(topic="ticket.routed").count() == 1
    assert li.pk is not None


def _solve(ticket: Ticket, actor: User, repair: Any) -> None:
    statuses = {s.key: s for s in TicketStatus.objects.filter(ticket_type=repair)}
    tickets.update_ticket(actor=actor, ticket=ticket, changes={"status": statuses["open"]})
    tickets.update_ticket(
        actor=actor,
        ticket=ticket,
        changes={"status": statuses["solved"], "custom_fields": {"resolution_code": "fixed"}},
    )


def test_an_agent_who_solves_a_ticket_receives_the_next_queued_one(
    routed_team: RoutedTeam,
    make_ticket: MakeTicket,
    desk: dict[str, Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given: Li is full (capacity 1), one ticket waits
    team, (li,) = routed_team(
        ["Li Lei"], strategy="least_loaded", queue_mode=True, default_capacity=1
    )
    current = make_ticket(team=team, assignee=li)
    queued = make_ticket(team=None)
    services.route_to_team(ticket=queued, team=team)
    queued.refresh_from_db()
    assert queued.assignee_id is None
    # when
    with django_capture_on_commit_callbacks(execute=True):
        _solve(current, desk["admin"], desk["repair"])
    # then
    queued.refresh_from_db()
    assert queued.assignee_id == li.pk


def test_an_agent_coming_online_receives_queued_tickets_up_to_capacity(
    routed_team: RoutedTeam,
    make_ticket: MakeTicket,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given
    team, (li,) = routed_team(
        ["Li Lei"], strategy="round_robin", queue_mode=True, default_capacity=2
    )
    services.set_availability(actor=li, user=li, status="away")
    waiting = [make_ticket(team=None) for _ in range(3)]
    for ticket in waiting:
        services.route_to_team(ticket=ticket, team=team)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        services.set_availability(actor=li, user=li, status="online")
    # then
    assigned = [Ticket.objects.get(pk=t.pk).assignee_id for t in waiting]
    assert assigned == [li.pk, li.pk, None]


def test_a_reassigned_agent_gets_the_next_queued_ticket(
    routed_team: RoutedTeam,
    make_ticket: MakeTicket,
    desk: dict[str, Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given
    team, (li, han) = routed_team(
        ["Li Lei", "Han Meimei"], strategy="least_loaded", queue_mode=True, default_capacity=1
    )
    mine = make_ticket(team=team, assignee=li)
    make_ticket(team=team, assignee=han)
    queued = make_ticket(team=None)
    services.route_to_team(ticket=queued, team=team)
    # when: the manager gives Li's ticket to Han (beyond Han's capacity, by hand)
    with django_capture_on_commit_callbacks(execute=True):
        tickets.update_ticket(actor=desk["manager"], ticket=mine, changes={"assignee": han})
    # then
    queued.refresh_from_db()
    assert queued.assignee_id == li.pk
