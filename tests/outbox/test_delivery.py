"""Delivering: claims are exclusive, failures retry with backoff, DB effects happen once."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import close_old_connections, connection
from django_tasks_db.models import DBTaskResult

from aftersales.outbox import services, tasks
from aftersales.outbox.models import EventDelivery, OutboxEvent

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


class HandlerError(Exception):
    pass


def write_follow_up(event: OutboxEvent) -> None:
    """A DB-only subscriber: records a follow-up event for every event it sees."""
    OutboxEvent.objects.create(topic="follow.up", payload={"of": str(event.pk)})


def fail(event: OutboxEvent) -> None:
    raise HandlerError("printer on fire")


def write_then_fail(event: OutboxEvent) -> None:
    write_follow_up(event)
    raise HandlerError("after writing")


def follow_ups() -> int:
    return OutboxEvent.objects.filter(topic="follow.up").count()


@pytest.fixture(autouse=True)
def frozen_clock() -> Iterator[None]:
    """Events are emitted at NOW; tests travel further from there."""
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def emit_one(subscribe: Callable[..., str]) -> Callable[..., EventDelivery]:
    """emit_one(handler, transactional=True) → the single delivery of a fresh event."""

    def make(handler: Callable[[OutboxEvent], None], *, transactional: bool = True):
        subscribe("test.subscriber", handler, transactional=transactional)
        event = services.emit("test.happened")
        return EventDelivery.objects.get(event=event)

    return make


@pytest.mark.django_db
def test_transactional_handler_writes_and_delivered_mark_commit_together(emit_one) -> None:
    """A successful DB-only handler's writes and the delivered mark are both there."""
    # given
    delivery = emit_one(write_follow_up)
    # when
    with time_machine.travel(NOW, tick=False):
        result = services.deliver_event(str(delivery.event_id))
    # then
    assert result == {"delivered": 1}
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.delivered_at, delivery.last_error) == (
        "delivered",
        1,
        NOW,
        "",
    )
    assert follow_ups() == 1


@pytest.mark.django_db
def test_transactional_handler_writes_roll_back_when_delivered_mark_fails(
    emit_one, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If marking the delivery done fails, the handler's writes are undone with it."""
    # given
    delivery = emit_one(write_follow_up)

    def broken_mark(delivery: EventDelivery) -> None:
        raise HandlerError("database went away")

    monkeypatch.setattr(services, "_mark_delivered", broken_mark)
    # when
    result = services.deliver_event(str(delivery.event_id))
    # then
    assert result == {"pending": 1}
    assert follow_ups() == 0
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 1)


@pytest.mark.django_db
def test_transactional_handler_that_raises_leaves_no_writes(emit_one) -> None:
    """A handler that writes and then fails leaves nothing behind."""
    # given
    delivery = emit_one(write_then_fail)
    # when
    services.deliver_event(str(delivery.event_id))
    # then
    assert follow_ups() == 0
    delivery.refresh_from_db()
    assert delivery.last_error == "HandlerError: after writing"


@pytest.mark.django_db
def test_failing_handler_leaves_delivery_pending_with_backoff(emit_one) -> None:
    """First failure: pending again, one attempt counted, error kept, retry in 10 s."""
    # given
    delivery = emit_one(fail)
    # when
    with time_machine.travel(NOW, tick=False):
        result = services.deliver_event(str(delivery.event_id))
    # then
    assert result == {"pending": 1}
    delivery.refresh_from_db()
    assert delivery.status == "pending"
    assert delivery.attempts == 1
    assert delivery.last_error == "HandlerError: printer on fire"
    assert delivery.next_attempt_at == NOW + timedelta(seconds=10)
    assert delivery.claimed_until is None


@pytest.mark.django_db
def test_failed_delivery_is_not_retried_before_its_backoff(emit_one) -> None:
    """Running the task again before ``next_attempt_at`` does not attempt the delivery."""
    # given
    delivery = emit_one(fail)
    with time_machine.travel(NOW, tick=False):
        services.deliver_event(str(delivery.event_id))
    # when
    with time_machine.travel(NOW + timedelta(seconds=9), tick=False):
        result = services.deliver_event(str(delivery.event_id))
    # then
    assert result == {}
    delivery.refresh_from_db()
    assert delivery.attempts == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("attempts", "expected_seconds"),
    [
        pytest.param(1, 10, id="_case first retry"),
        pytest.param(2, 20, id="_case second retry"),
        pytest.param(4, 80, id="_case doubling"),
        pytest.param(9, 2560, id="_case below cap"),
        pytest.param(10, 3600, id="_case capped at an hour"),
        pytest.param(30, 3600, id="_case far past cap"),
    ],
)
def test_backoff_doubles_from_ten_seconds_up_to_an_hour(attempts: int, expected_seconds: int):
    """The wait before the next attempt."""
    assert services.backoff(attempts) == timedelta(seconds=expected_seconds)


@pytest.mark.django_db
def test_delivery_fails_for_good_after_max_attempts(emit_one, settings) -> None:
    """After ``OUTBOX_MAX_ATTEMPTS`` failures the delivery is failed and not retried."""
    # given
    settings.OUTBOX_MAX_ATTEMPTS = 3
    delivery = emit_one(fail)
    moment = NOW
    statuses = []
    # when
    for _attempt in range(4):
        with time_machine.travel(moment, tick=False):
            statuses.append(services.deliver_event(str(delivery.event_id)))
        moment += timedelta(hours=2)
    # then
    assert statuses == [{"pending": 1}, {"pending": 1}, {"failed": 1}, {}]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", 3)


@pytest.mark.django_db
def test_retry_after_backoff_delivers(subscribe: Callable[..., str]) -> None:
    """A handler that fails once is delivered on the retry, with two attempts counted."""
    # given
    calls: list[str] = []

    def flaky(event: OutboxEvent) -> None:
        calls.append(str(event.pk))
        if len(calls) == 1:
            raise HandlerError("first time")

    subscribe("test.flaky", flaky)
    event = services.emit("test.happened")
    with time_machine.travel(NOW, tick=False):
        services.deliver_event(str(event.pk))
    # when
    with time_machine.travel(NOW + timedelta(seconds=10), tick=False):
        result = services.deliver_event(str(event.pk))
    # then
    assert result == {"delivered": 1}
    delivery = EventDelivery.objects.get(event=event)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("delivered", 2, "")
    assert calls == [str(event.pk), str(event.pk)]


@pytest.mark.django_db
def test_running_deliver_event_twice_delivers_once(emit_one) -> None:
    """The second run finds nothing due: the handler's effect happens once."""
    # given
    delivery = emit_one(write_follow_up)
    # when
    first = tasks.deliver_event.call(str(delivery.event_id))
    second = tasks.deliver_event.call(str(delivery.event_id))
    # then
    assert (first, second) == ({"delivered": 1}, {})
    assert follow_ups() == 1
    delivery.refresh_from_db()
    assert delivery.attempts == 1


@pytest.mark.django_db
def test_claim_of_running_delivery_within_lease_is_refused(emit_one) -> None:
    """A delivery another worker holds cannot be claimed until its lease runs out."""
    # given
    delivery = emit_one(write_follow_up)
    with time_machine.travel(NOW, tick=False):
        assert services.claim(delivery.pk) is True
    # when
    with time_machine.travel(NOW + timedelta(seconds=59), tick=False):
        within_lease = services.claim(delivery.pk)
    with time_machine.travel(NOW + timedelta(seconds=61), tick=False):
        after_lease = services.claim(delivery.pk)
    # then
    assert (within_lease, after_lease) == (False, True)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("running", 2)
    assert delivery.claimed_until == NOW + timedelta(seconds=61 + 60)


@pytest.mark.django_db
def test_worker_whose_lease_was_taken_over_cannot_mark_delivered(emit_one) -> None:
    """A slow worker finishing after a takeover neither marks the delivery nor keeps its
    writes; the new owner's attempt stands."""
    # given
    delivery = emit_one(write_follow_up)
    with time_machine.travel(NOW, tick=False):
        services.claim(delivery.pk)
    with time_machine.travel(NOW + timedelta(seconds=61), tick=False):
        services.claim(delivery.pk)  # another worker takes over: attempts == 2
    stale = EventDelivery.objects.get(pk=delivery.pk)
    stale.attempts = 1  # what the first worker read after its own claim
    # when
    with pytest.raises(services.LeaseLost):
        services._mark_delivered(stale)
    result = services.deliver(delivery.pk)
    # then
    assert result == "delivered"
    assert follow_ups() == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 2)


@pytest.mark.django_db
def test_delivery_to_unknown_subscriber_fails_for_good(emit_one) -> None:
    """A delivery whose subscriber is no longer registered is failed, not retried forever."""
    # given
    delivery = emit_one(write_follow_up)
    EventDelivery.objects.filter(pk=delivery.pk).update(subscriber="gone.away")
    # when
    result = services.deliver_event(str(delivery.event_id))
    # then
    assert result == {"failed": 1}
    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_error) == (
        "failed",
        "No subscriber is registered under this key.",
    )


@pytest.mark.django_db(transaction=True)
def test_two_threads_claiming_same_delivery_exactly_one_wins(emit_one) -> None:
    """Concurrent claims on separate connections: one True, the rest False."""
    # given
    delivery = emit_one(write_follow_up)
    contenders = 6
    barrier = threading.Barrier(contenders)
    results: list[bool] = []
    errors: list[BaseException] = []

    def contend() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(services.claim(delivery.pk))
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=contend) for _ in range(contenders)]
    # when
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    close_old_connections()
    # then
    assert errors == []
    assert sorted(results) == [False] * (contenders - 1) + [True]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("running", 1)


@pytest.mark.django_db(transaction=True)
def test_delivery_task_runs_after_commit_of_a_real_transaction(emit_one) -> None:
    """With real commits the task row exists once the emitting transaction is over."""
    # when
    delivery = emit_one(write_follow_up)
    # then
    task = DBTaskResult.objects.get()
    assert task.args_kwargs == {"args": [str(delivery.event_id)], "kwargs": {}}
