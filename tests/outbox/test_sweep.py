"""The periodic sweeps: re-enqueue due or abandoned deliveries, close orphaned task rows."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django_tasks_db.models import DBTaskResult

from aftersales.outbox import services, tasks
from aftersales.outbox.models import EventDelivery, OutboxEvent

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def fail(event: OutboxEvent) -> None:
    raise RuntimeError("down")


def ignore(event: OutboxEvent) -> None:
    return None


@pytest.fixture(autouse=True)
def frozen_clock() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def delivery(subscribe: Callable[..., str]) -> EventDelivery:
    """A delivery emitted (and enqueued) at NOW to a subscriber that always fails."""
    subscribe("test.failing", fail)
    event = services.emit("test.happened")
    return EventDelivery.objects.get(event=event)


def delivery_tasks() -> list[list[str]]:
    return [
        task.args_kwargs["args"]
        for task in DBTaskResult.objects.filter(task_path="aftersales.outbox.tasks.deliver_event")
    ]


def test_sweep_leaves_freshly_enqueued_delivery_alone(delivery: EventDelivery) -> None:
    """A delivery whose task was enqueued at emit time gets no second task."""
    # when
    with time_machine.travel(NOW + timedelta(seconds=30), tick=False):
        requeued = services.requeue_due_deliveries()
    # then
    assert requeued == 0
    assert delivery_tasks() == []


def test_sweep_enqueues_retry_once_backoff_has_passed(delivery: EventDelivery) -> None:
    """After a failure, the retry gets a task when it is due, and only one."""
    # given
    services.deliver_event(str(delivery.event_id))  # fails: retry at NOW + 10 s
    # when
    with time_machine.travel(NOW + timedelta(seconds=5), tick=False):
        early = services.requeue_due_deliveries()
    with time_machine.travel(NOW + timedelta(seconds=11), tick=False):
        due = services.requeue_due_deliveries()
        again = services.requeue_due_deliveries()
    # then
    assert (early, due, again) == (0, 1, 0)
    assert delivery_tasks() == [[str(delivery.event_id)]]
    delivery.refresh_from_db()
    assert delivery.enqueued_at == NOW + timedelta(seconds=11)


def test_sweep_enqueues_delivery_whose_worker_died_once_lease_ran_out(
    subscribe: Callable[..., str],
) -> None:
    """A RUNNING delivery past its lease is handed to another worker."""
    # given
    subscribe("test.ignoring", ignore)
    event = services.emit("test.happened")
    delivery = EventDelivery.objects.get(event=event)
    assert services.claim(delivery.pk) is True  # ...and the worker is killed here
    # when
    with time_machine.travel(NOW + timedelta(seconds=59), tick=False):
        within_lease = services.requeue_due_deliveries()
    with time_machine.travel(NOW + timedelta(seconds=61), tick=False):
        after_lease = services.requeue_due_deliveries()
        result = tasks.deliver_event.call(str(event.pk))
    # then
    assert (within_lease, after_lease) == (0, 1)
    assert result == {"delivered": 1}
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 2)


def test_sweep_enqueues_pending_delivery_whose_task_was_lost(delivery: EventDelivery) -> None:
    """A task that never ran (deleted, backend down at commit) is replaced after one lease."""
    # when
    with time_machine.travel(NOW + timedelta(seconds=61), tick=False):
        requeued = services.requeue_due_deliveries()
    # then
    assert requeued == 1
    assert delivery_tasks() == [[str(delivery.event_id)]]


def test_sweep_ignores_delivered_and_failed_deliveries(delivery: EventDelivery) -> None:
    """Finished deliveries never come back."""
    # given
    EventDelivery.objects.filter(pk=delivery.pk).update(status="failed")
    # when
    with time_machine.travel(NOW + timedelta(days=1), tick=False):
        requeued = services.requeue_due_deliveries()
    # then
    assert requeued == 0
    assert delivery_tasks() == []


def make_task(status: str, started_at: datetime | None) -> DBTaskResult:
    return DBTaskResult.objects.create(
        args_kwargs={"args": [], "kwargs": {}},
        task_path="aftersales.outbox.tasks.deliver_event",
        queue_name="events",
        backend_name="default",
        run_after=NOW,
        status=status,
        started_at=started_at,
    )


def test_abandoned_task_sweep_fails_tasks_running_longer_than_stale_age(settings) -> None:
    """A task RUNNING past OUTBOX_STALE_TASK_SECONDS is marked FAILED; younger ones stay."""
    # given
    settings.OUTBOX_STALE_TASK_SECONDS = 600
    stranded = make_task("RUNNING", NOW - timedelta(seconds=601))
    busy = make_task("RUNNING", NOW - timedelta(seconds=599))
    waiting = make_task("READY", None)
    # when
    closed = services.fail_abandoned_tasks()
    # then
    assert closed == 1
    stranded.refresh_from_db()
    assert (stranded.status, stranded.finished_at, stranded.exception_class_path) == (
        "FAILED",
        NOW,
        "aftersales.outbox.services.WorkerLost",
    )
    assert DBTaskResult.objects.get(pk=busy.pk).status == "RUNNING"
    assert DBTaskResult.objects.get(pk=waiting.pk).status == "READY"


def test_prune_drops_finished_task_results_older_than_a_week() -> None:
    """Finished results older than seven days go; recent and unfinished ones stay."""
    # given
    old = make_task("SUCCESSFUL", NOW - timedelta(days=8))
    DBTaskResult.objects.filter(pk=old.pk).update(finished_at=NOW - timedelta(days=8))
    recent = make_task("FAILED", NOW - timedelta(days=6))
    DBTaskResult.objects.filter(pk=recent.pk).update(finished_at=NOW - timedelta(days=6))
    make_task("READY", None)
    # when
    deleted = services.prune_finished_task_results()
    # then
    assert deleted == 1
    assert sorted(DBTaskResult.objects.values_list("status", flat=True)) == ["FAILED", "READY"]
