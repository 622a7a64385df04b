"""The scheduler: each periodic job fires once per period, however many schedulers tick."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import close_old_connections, connection
from django_tasks_db.models import DBTaskResult

from aftersales.outbox import scheduler, tasks
from aftersales.outbox.models import PeriodicRun

# 09:00:00 UTC (Unix time 1_795_510_800) starts a 60-second slot and a 5-second slot.
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
calls: list[str] = []


def count_minutes() -> str:
    calls.append("minutely")
    return "counted"


@pytest.fixture(autouse=True)
def only_test_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replace the registered jobs with two known ones for the test."""
    monkeypatch.setattr(scheduler, "_JOBS", {})
    scheduler.register_periodic("test.minutely", every=timedelta(minutes=1), function=count_minutes)
    scheduler.register_periodic("test.often", every=timedelta(seconds=5), function=count_minutes)
    calls.clear()


def periodic_tasks() -> list[list[str]]:
    return sorted(
        task.args_kwargs["args"]
        for task in DBTaskResult.objects.filter(task_path="aftersales.outbox.tasks.run_periodic")
    )


def runs() -> list[tuple[str, int]]:
    return sorted(PeriodicRun.objects.values_list("job", "slot"))


@pytest.mark.django_db
def test_tick_fires_each_due_job_once_per_slot() -> None:
    """The first tick of a slot fires every job; later ticks in that slot fire nothing."""
    # when
    with time_machine.travel(NOW, tick=False):
        first = scheduler.tick("worker-a")
    with time_machine.travel(NOW + timedelta(seconds=4), tick=False):
        second = scheduler.tick("worker-b")
    # then
    assert sorted(first) == ["test.minutely", "test.often"]
    assert second == []
    assert periodic_tasks() == [["test.minutely"], ["test.often"]]
    assert runs() == [("test.minutely", 29_925_180), ("test.often", 359_102_160)]


@pytest.mark.django_db
def test_tick_in_next_slot_fires_again() -> None:
    """Crossing into the next period fires the job again, only the job whose period began."""
    # given
    with time_machine.travel(NOW, tick=False):
        scheduler.tick("worker-a")
    # when
    with time_machine.travel(NOW + timedelta(seconds=5), tick=False):
        next_often = scheduler.tick("worker-a")
    with time_machine.travel(NOW + timedelta(seconds=60), tick=False):
        next_minute = scheduler.tick("worker-a")
    # then
    assert next_often == ["test.often"]
    assert sorted(next_minute) == ["test.minutely", "test.often"]
    assert [job for job, _slot in runs()] == ["test.minutely"] * 2 + ["test.often"] * 3


@pytest.mark.django_db
def test_run_periodic_task_calls_the_job() -> None:
    """The task enqueued by a tick runs the registered function."""
    # when
    result = tasks.run_periodic.call("test.minutely")
    # then
    assert (result, calls) == ("counted", ["minutely"])


@pytest.mark.django_db
def test_run_periodic_task_for_unknown_job_raises() -> None:
    """A job name nobody registered is an error, not a silent success."""
    with pytest.raises(LookupError):
        tasks.run_periodic.call("test.unknown")


def test_job_more_often_than_once_a_second_is_refused() -> None:
    """Slots are whole seconds."""
    with pytest.raises(ValueError, match="at most once a second"):
        scheduler.register_periodic(
            "test.too_often", every=timedelta(milliseconds=500), function=count_minutes
        )


@pytest.mark.django_db(transaction=True)
def test_concurrent_ticks_for_same_slot_enqueue_each_job_exactly_once() -> None:
    """Eight schedulers ticking at the same instant: one PeriodicRun row and one task per job."""
    # given
    contenders = 8
    barrier = threading.Barrier(contenders)
    fired: list[list[str]] = []
    errors: list[BaseException] = []

    def contend(number: int) -> None:
        try:
            barrier.wait(timeout=10)
            fired.append(scheduler.tick(f"worker-{number}"))
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=contend, args=(n,)) for n in range(contenders)]
    # when
    with time_machine.travel(NOW + timedelta(seconds=1), tick=False):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    close_old_connections()
    # then
    assert errors == []
    assert sorted(name for names in fired for name in names) == ["test.minutely", "test.often"]
    assert runs() == [("test.minutely", 29_925_180), ("test.often", 359_102_160)]
    assert periodic_tasks() == [["test.minutely"], ["test.often"]]
