"""Routing under concurrency: tickets routed at the same moment never push an agent past
capacity nor break the round-robin turn, and "get next" never hands one ticket to two agents.

Each call runs in its own thread with its own database connection, released together by a
barrier. On PostgreSQL the team's routing row and the agent's profile row serialise the
decisions (and skip_locked spreads "get next" over the queue); SQLite serialises writers.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from aftersales.accounts.models import Team, User
from aftersales.customers import services as customer_services
from aftersales.customers.models import CustomerTier
from aftersales.routing import services
from aftersales.tickets.models import Ticket

pytestmark = pytest.mark.django_db(transaction=True)
RoutedTeam = Callable[..., tuple[Team, list[User]]]
MakeTicket = Callable[..., Ticket]


@pytest.fixture(autouse=True)
def _default_tier(admin_user: User) -> None:
    """The flush that ends a transactional test also empties the tiers the migrations seed."""
    if not CustomerTier.objects.filter(is_default=True).exists():
        customer_services.create_tier(
            actor=admin_user, key="normal", name_zh="普通客户", name_en="Normal", is_default=True
        )


def all_at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = call()
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    return results


def test_simultaneous_tickets_never_exceed_an_agents_capacity(
    routed_team: RoutedTeam, make_ticket: MakeTicket
) -> None:
    # given
    team, agents = routed_team(["A", "B", "C"], strategy="least_loaded", default_capacity=1)
    for agent in agents:
        # Profiles made beforehand: making one on first use would serialise the threads anyway.
        services.set_availability(actor=agent, user=agent, status="away")
        services.set_availability(actor=agent, user=agent, status="online")
    waiting = [make_ticket(team=None) for _ in range(6)]
    # when
    all_at_once([lambda t=t: services.route_to_team(ticket=t, team=team) for t in waiting])
    # then
    loads = Counter(
        Ticket.objects.filter(pk__in=[t.pk for t in waiting]).values_list("assignee_id", flat=True)
    )
    assert loads == Counter({agents[0].pk: 1, agents[1].pk: 1, agents[2].pk: 1, None: 3})


def test_simultaneous_tickets_keep_the_round_robin_turn(
    routed_team: RoutedTeam, make_ticket: MakeTicket
) -> None:
    # given
    team, agents = routed_team(["A", "B", "C"], strategy="round_robin")
    waiting = [make_ticket(team=None) for _ in range(6)]
    # when
    all_at_once([lambda t=t: services.route_to_team(ticket=t, team=team) for t in waiting])
    # then
    loads = Counter(
        Ticket.objects.filter(pk__in=[t.pk for t in waiting]).values_list("assignee_id", flat=True)
    )
    assert loads == Counter({a.pk: 2 for a in agents})


def test_get_next_never_hands_one_ticket_to_two_agents(
    routed_team: RoutedTeam, make_ticket: MakeTicket
) -> None:
    # given
    team, agents = routed_team(["A", "B", "C", "D"], queue_mode=True)
    queued = [make_ticket(team=team) for _ in range(2)]
    # when
    handed = all_at_once([lambda a=a: services.get_next(agent=a) for a in agents])
    # then
    taken = [t.pk for t in handed if t is not None]
    assert sorted(taken) == sorted(t.pk for t in queued)
    owners = {t.pk: t.assignee_id for t in Ticket.objects.filter(pk__in=taken)}
    assert sorted(owners.values()) == sorted(
        a.pk for a, t in zip(agents, handed, strict=True) if t is not None
    )
