"""The worker machinery: the task worker, the scheduler thread, the embedded task thread."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import close_old_connections, connections
from django.db.backends.base.base import BaseDatabaseWrapper

from aftersales.core import worker
from aftersales.outbox import registry, scheduler, services
from aftersales.outbox.models import EventDelivery, OutboxEvent, PeriodicRun
from tests.support.processes import wait_for

seen: list[str] = []
thread_connections: list[BaseDatabaseWrapper] = []


def remember(event: OutboxEvent) -> None:
    seen.append(event.topic)
    thread_connections.append(connections["default"])


@pytest.fixture
def only_job(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """A single registered periodic job, every second; returns how often it was fired."""
    monkeypatch.setattr(scheduler, "_JOBS", {})
    scheduler.register_periodic("test.every_second", every=timedelta(seconds=1), function=int)
    return lambda: PeriodicRun.objects.filter(job="test.every_second").count()


def test_task_worker_takes_every_queue() -> None:
    """One worker serves the default and the events queues (and any added later)."""
    # when
    task_worker = worker.make_task_worker(interval=0.2, identity="w1")
    # then
    assert (task_worker.queue_names, task_worker.process_all_queues) == (["*"], True)
    assert (task_worker.worker_id, task_worker.interval, task_worker.batch) == ("w1", 0.2, False)
    assert task_worker.startup_delay is True


def test_batch_task_worker_starts_without_delay() -> None:
    """A batch run (cron, tests) starts at once and stops when the queue is empty."""
    # when
    task_worker = worker.make_task_worker(batch=True, max_tasks=5)
    # then
    assert (task_worker.batch, task_worker.startup_delay, task_worker.max_tasks) == (True, False, 5)


def test_worker_id_names_host_and_process() -> None:
    """Worker ids fit the task table's 64 characters and end with the given suffix."""
    # when
    identity = worker.worker_id("-embedded")
    # then
    assert identity.endswith("-embedded")
    assert len(identity) <= 64


@pytest.mark.django_db
def test_tick_once_fires_due_jobs_once(only_job: Callable[[], int]) -> None:
    """Two ticks in the same second fire the job once."""
    # when
    with time_machine.travel(datetime(2026, 11, 24, 9, 0, tzinfo=UTC), tick=False):
        first = worker.tick_once("w1")
        second = worker.tick_once("w1")
    # then
    assert (first, second) == (["test.every_second"], [])
    assert only_job() == 1


@pytest.mark.django_db(transaction=True)
def test_scheduler_thread_ticks_until_stopped_and_closes_its_connection(
    only_job: Callable[[], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The thread fires the job each second while it runs; once stopped it has closed its
    database connection (a lingering one kept the test database from being dropped)."""
    # given
    real_tick = scheduler.tick
    used: list[BaseDatabaseWrapper] = []

    def recording_tick(identity: str = "") -> list[str]:
        used.append(connections["default"])
        return real_tick(identity)

    monkeypatch.setattr(scheduler, "tick", recording_tick)
    thread = worker.SchedulerThread("w1", period=0.1)
    # when
    thread.start()
    try:
        wait_for(lambda: only_job() >= 2, timeout=10, what="two scheduler firings")
    finally:
        thread.stop()
        thread.join(timeout=5)
    close_old_connections()
    # then
    assert thread.is_alive() is False
    assert set(PeriodicRun.objects.values_list("fired_by", flat=True)) == {"w1"}
    assert {wrapper.connection for wrapper in used} == {None}


@pytest.mark.django_db(transaction=True)
def test_scheduler_thread_survives_a_failing_tick(
    only_job: Callable[[], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tick that raises (database briefly away) is logged; the next tick runs."""
    # given
    real_tick = scheduler.tick
    calls: list[str] = []

    def flaky_tick(identity: str = "") -> list[str]:
        calls.append(identity)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        return real_tick(identity)

    monkeypatch.setattr(scheduler, "tick", flaky_tick)
    thread = worker.SchedulerThread("w1", period=0.05)
    # when
    thread.start()
    try:
        wait_for(lambda: only_job() >= 1, timeout=10, what="a tick after the failure")
    finally:
        thread.stop()
        thread.join(timeout=5)
    close_old_connections()
    # then
    assert calls[:2] == ["w1", "w1"]


@pytest.mark.django_db(transaction=True)
def test_task_thread_delivers_events_in_process() -> None:
    """The embedded mode's task thread runs queued deliveries, stops when asked and closes
    its database connection."""
    # given
    seen.clear()
    thread_connections.clear()
    registry.register_subscriber("test.remember", ("test.*",), remember)
    thread = worker.TaskThread("embedded-test")
    try:
        event = services.emit("test.embedded")
        delivery = EventDelivery.objects.get(event=event)
        # when
        thread.start()
        wait_for(
            lambda: EventDelivery.objects.get(pk=delivery.pk).status == "delivered",
            timeout=15,
            what="the task thread to deliver",
        )
    finally:
        thread.stop()
        thread.join(timeout=5)
        registry.unregister_subscriber("test.remember")
        close_old_connections()
    # then
    assert thread.is_alive() is False
    assert seen == ["test.embedded"]
    assert [wrapper.connection for wrapper in thread_connections] == [None]
