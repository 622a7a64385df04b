"""Two agents on one ticket at the same moment: the database decides, the API explains.

Each request runs in its own thread with its own database connection. A barrier inside the
service call holds both requests until each has read the ticket, so the race is the real one:
both saw the same version (or no assignee) and both try to write.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection
from django.utils import translation

from aftersales.accounts.models import User
from aftersales.customers import services as customer_services
from aftersales.customers.models import CustomerTier
from aftersales.outbox.models import OutboxEvent
from aftersales.tickets import services
from aftersales.tickets.models import Ticket, TicketEvent
from tests.api.support import assert_problem, body_of
from tests.conftest import JsonClient

MakeTicket = Callable[..., Ticket]
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def _default_tier(admin_user: User) -> None:
    """The flush that ends every transactional test also empties the tiers the migrations seed,
    and customers need a default one. (serialized_rollback would reload them, but collides with
    the content types that a previous transactional test's flush recreated.)"""
    if not CustomerTier.objects.filter(is_default=True).exists():
        customer_services.create_tier(
            actor=admin_user, key="normal", name_zh="普通客户", name_en="Normal", is_default=True
        )


def signed_in(user: User) -> JsonClient:
    client = JsonClient(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


def hold_until_both_arrive(
    monkeypatch: pytest.MonkeyPatch, name: str, barrier: threading.Barrier
) -> None:
    """Make ``services.<name>`` wait for the other request before it writes."""
    original = getattr(services, name)

    def held(**kwargs: Any) -> Any:
        barrier.wait(timeout=10)
        return original(**kwargs)

    monkeypatch.setattr(services, name, held)


def run_together(requests: list[Callable[[], Any]]) -> list[Any]:
    """Run each request in its own thread (its own connection); return the responses."""
    start = threading.Barrier(len(requests))
    responses: list[Any] = [None] * len(requests)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            start.wait(timeout=10)
            responses[index] = requests[index]()
        except BaseException as error:  # reported by the main thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    return responses


def test_two_updates_with_the_same_etag_one_succeeds_and_one_gets_412(
    desk: dict[str, Any], make_ticket: MakeTicket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both read version 1; the row lock makes the second see version 2 and refuse."""
    # given
    ticket = make_ticket()
    clients = {"high": signed_in(desk["insider"]), "urgent": signed_in(desk["colleague"])}
    hold_until_both_arrive(monkeypatch, "update_ticket", threading.Barrier(2))

    def change(priority: str) -> Callable[[], Any]:
        return lambda: clients[priority].patch_json(
            f"/api/v1/tickets/{ticket.pk}", {"priority": priority}, HTTP_IF_MATCH='W/"1"'
        )

    # when
    responses = run_together([change("high"), change("urgent")])
    # then
    assert sorted(r.status_code for r in responses) == [200, 412]
    winner = next(r for r in responses if r.status_code == 200)
    loser = next(r for r in responses if r.status_code == 412)
    assert assert_problem(loser, 412)["code"] == "version_mismatch"
    assert winner["ETag"] == 'W/"2"'
    ticket.refresh_from_db()
    assert (ticket.version, services.PRIORITY_KEYS[ticket.priority]) == (
        2,
        body_of(winner)["priority"],
    )
    assert TicketEvent.objects.filter(ticket=ticket, kind="updated").count() == 1
    assert OutboxEvent.objects.filter(topic="ticket.updated").count() == 1


def test_two_agents_taking_one_ticket_leave_exactly_one_owner(
    desk: dict[str, Any], make_ticket: MakeTicket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both saw it unassigned; one takes it, the other hears who has it."""
    # given
    ticket = make_ticket()
    people = {"insider": desk["insider"], "colleague": desk["colleague"]}
    clients = {name: signed_in(person) for name, person in people.items()}
    hold_until_both_arrive(monkeypatch, "take_ticket", threading.Barrier(2))

    def take(name: str) -> Callable[[], Any]:
        return lambda: clients[name].post(f"/api/v1/tickets/{ticket.pk}/take")

    # when
    responses = run_together([take("insider"), take("colleague")])
    # then
    assert sorted(r.status_code for r in responses) == [200, 409]
    winner = next(r for r in responses if r.status_code == 200)
    loser = next(r for r in responses if r.status_code == 409)
    owner = body_of(winner)["assignee"]
    assert assert_problem(loser, 409)["detail"] == f"{owner['name']} already has this ticket."
    ticket.refresh_from_db()
    assert (ticket.assignee_id, ticket.version) == (owner["id"], 2)
    assert TicketEvent.objects.filter(ticket=ticket, kind="assigned").count() == 1
    assert OutboxEvent.objects.filter(topic="ticket.assigned").count() == 1
