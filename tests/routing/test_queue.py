"""Queue mode: tickets wait in priority-then-age order and go to the agent who asks ("get
next") or who becomes free, within their capacity."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone, translation

from aftersales.accounts.models import Team, User
from aftersales.core.errors import PermissionDenied
from aftersales.routing import selectors, services
from aftersales.sla import services as sla
from aftersales.tickets.models import Ticket

pytestmark = pytest.mark.django_db
RoutedTeam = Callable[..., tuple[Team, list[User]]]
MakeTicket = Callable[..., Ticket]


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


def waiting(make_ticket: MakeTicket, team: Team, priority: str, minutes_ago: int) -> Ticket:
    """A ticket in ``team``'s queue, created ``minutes_ago``."""
    ticket = make_ticket(team=team, priority=priority)
    created = timezone.now() - timedelta(minutes=minutes_ago)
    Ticket.objects.filter(pk=ticket.pk).update(created_at=created)
    ticket.refresh_from_db()
    return ticket


def test_get_next_hands_out_by_priority_then_age(
    routed_team: RoutedTeam, make_ticket: MakeTicket
) -> None:
    # given
    team, (li,) = routed_team(["Li Lei"], queue_mode=True)
    old_normal = waiting(make_ticket, team, "normal", 60)
    urgent = waiting(make_ticket, team, "urgent", 5)
    new_normal = waiting(make_ticket, team, "normal", 10)
    low = waiting(make_ticket, team, "low", 120)
    # when
    handed = [services.get_next(agent=li) for _ in range(5)]
    # then
    assert handed == [urgent, old_normal, new_normal, low, None]
    assert Ticket.objects.filter(assignee=li).count() == 4


def test_queue_positions_follow_the_same_order(
    routed_team: RoutedTeam, make_ticket: MakeTicket
) -> None:
    # given
    team, _agents = routed_team(["Li Lei"], queue_mode=True)
    old_normal = waiting(make_ticket, team, "normal", 60)
    urgent = waiting(make_ticket, team, "urgent", 5)
    new_normal = waiting(make_ticket, team, "normal", 10)
    # when
    positions = [selectors.queue_position(t) for t in (urgent, old_normal, new_normal)]
    # then
    assert positions == [1, 2, 3]
    assert list(selectors.queued_tickets([team.pk])) == [urgent, old_normal, new_normal]


def test_get_next_stops_at_the_agents_capacity(
    routed_team: RoutedTeam, make_ticket: MakeTicket
) -> None:
    # given
    team, (li,) = routed_team(["Li Lei"], queue_mode=True, default_capacity=2)
    for minutes in (3, 2, 1):
        waiting(make_ticket, team, "normal", minutes)
    # when
    handed = [services.get_next(agent=li) for _ in range(3)]
    # then
    assert [t is not None for t in handed] == [True, True, False]
    assert selectors.queued_tickets([team.pk]).count() == 1


def test_get_next_skips_tickets_needing_skills_the_agent_lacks(
    routed_team: RoutedTeam, make_ticket: MakeTicket, skill: Callable[[str], Any]
) -> None:
    # given
    team, (li,) = routed_team(["Li Lei"], queue_mode=True, use_skills=True)
    hard = waiting(make_ticket, team, "urgent", 10)
    services.require_skills(ticket=hard, skills=[skill("payment")])
    easy = waiting(make_ticket, team, "normal", 5)
    # when
    handed = services.get_next(agent=li)
    # then
    assert handed == easy
    hard.refresh_from_db()
    assert hard.assignee_id is None


def test_get_next_takes_only_from_the_agents_own_teams(
    routed_team: RoutedTeam, make_ticket: MakeTicket
) -> None:
    # given
    team, (li,) = routed_team(["Li Lei"], queue_mode=True)
    other, _agents = routed_team(["Han Meimei"], queue_mode=True)
    waiting(make_ticket, other, "urgent", 5)
    # when
    handed = services.get_next(agent=li)
    # then
    assert handed is None
    assert team.pk != other.pk


def test_a_customer_cannot_get_next(desk: dict[str, Any]) -> None:
    # when / then
    with pytest.raises(PermissionDenied):
        services.get_next(agent=desk["contact_a"])


def test_a_push_queue_team_assigns_when_someone_is_free_and_queues_otherwise(
    routed_team: RoutedTeam, make_ticket: MakeTicket
) -> None:
    # given
    team, (li,) = routed_team(
        ["Li Lei"], strategy="least_loaded", queue_mode=True, default_capacity=1
    )
    waiting(make_ticket, team, "urgent", 30)  # already waiting, ahead of what comes next
    # when
    first = services.route_to_team(ticket=make_ticket(team=None), team=team)
    second = services.route_to_team(ticket=make_ticket(team=None), team=team)
    # then
    assert (first.assignee, first.queued) == (li, False)
    assert (second.assignee, second.queued, second.strategy) == (None, True, "queue")
    assert second.explanation == "no agent free: queued (position 2)"


def test_a_manual_queue_team_queues_every_ticket(
    routed_team: RoutedTeam, make_ticket: MakeTicket
) -> None:
    # given
    team, _agents = routed_team(["Li Lei"], queue_mode=True)
    # when
    outcome = services.plan_route(ticket=make_ticket(team=None), team=team)
    # then
    assert (outcome.assignee, outcome.queued) == (None, True)
    assert outcome.explanation == f"manual: waits in the queue of {team.name}"


def test_the_periodic_drain_hands_queued_tickets_when_a_shift_begins(
    routed_team: RoutedTeam, make_ticket: MakeTicket, desk: dict[str, Any]
) -> None:
    """No event says "the shift started": the minute job finds the free agent."""
    # given: Li works Mondays only; two tickets queued on a Sunday
    team, (li,) = routed_team(["Li Lei"], strategy="round_robin", queue_mode=True)
    monday = {"0": [{"start": "00:00", "end": "24:00"}]}
    calendar = sla.create_calendar(actor=desk["admin"], name="Mondays", hours=monday)
    services.update_agent_profile(actor=desk["admin"], user=li, changes={"calendar": calendar})
    with time_machine.travel(datetime(2026, 11, 29, 2, 0, tzinfo=UTC), tick=False):
        queued = [make_ticket(team=None) for _ in range(2)]
        for ticket in queued:
            services.route_to_team(ticket=ticket, team=team)
        on_sunday = services.drain_push_queues()
    # when
    with time_machine.travel(datetime(2026, 11, 30, 2, 0, tzinfo=UTC), tick=False):
        on_monday = services.drain_push_queues()
    # then
    assert (on_sunday, on_monday) == (0, 2)
    assert [Ticket.objects.get(pk=t.pk).assignee_id for t in queued] == [li.pk, li.pk]
