"""Real worker processes against the test database: crashes and several schedulers.

These start ``python -m aftersales worker`` subprocesses (with the probe app loaded) that
share this test's database, so they commit for real (``transaction=True``).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django_tasks_db.models import DBTaskResult

from aftersales.outbox import services
from aftersales.outbox.models import EventDelivery, OutboxEvent, PeriodicRun
from tests.support import processes
from tests.support.fixtures import trace_lines

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("probe"),
]

WORKER = ["worker", "--interval", "0.1"]


def test_delivery_interrupted_by_sigkill_is_finished_by_next_worker(trace_file: Path) -> None:
    """SIGKILL mid-delivery: the next worker takes the delivery over once the lease runs out
    and finishes it exactly once; the killed worker's task row is closed as FAILED."""
    # given
    env = processes.process_env(
        OUTBOX_LEASE_SECONDS="2",
        SCHEDULER_TICK_SECONDS="1",
        OUTBOX_SWEEP_SECONDS="1",
        OUTBOX_STALE_TASK_SECONDS="4",
    )
    event = services.emit(
        "probe.slow", payload={"file": str(trace_file), "sleep": 30, "retry_sleep": 0.2}
    )
    delivery = EventDelivery.objects.get(event=event)
    first = processes.start([*WORKER, "--id", "first"], env)
    second = None
    try:
        processes.wait_for(
            lambda: f"{event.pk} start" in trace_lines(trace_file),
            timeout=30,
            what="the first worker to start the delivery",
        )
        # when
        first.kill()
        first.wait(timeout=10)
        second = processes.start([*WORKER, "--id", "second"], env)

        # then
        def finished() -> bool:
            delivery.refresh_from_db()
            stranded = DBTaskResult.objects.filter(worker_ids=["first"]).values_list(
                "status", flat=True
            )
            return delivery.status == "delivered" and list(stranded) == ["FAILED"]

        processes.wait_for(finished, timeout=40, interval=0.2, what="the takeover")
    finally:
        first_output = processes.stop(first)
        second_output = processes.stop(second) if second is not None else ""
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("delivered", 2, ""), (
        first_output + second_output
    )
    assert trace_lines(trace_file) == [
        f"{event.pk} start",
        f"{event.pk} start",
        f"{event.pk} done",
    ]
    assert OutboxEvent.objects.filter(pk=event.pk).exists() is True
    stranded = DBTaskResult.objects.get(worker_ids=["first"])
    assert (stranded.status, stranded.exception_class_path) == (
        "FAILED",
        "aftersales.outbox.services.WorkerLost",
    )


def test_two_workers_fire_one_second_job_once_per_second(tmp_path: Path) -> None:
    """Two workers' schedulers racing for 4 s: each second-slot fires the job once."""
    # given
    heartbeat = tmp_path / "heartbeat.txt"
    env = processes.process_env(
        SCHEDULER_TICK_SECONDS="1",
        PROBE_HEARTBEAT_FILE=str(heartbeat),
        PROBE_HEARTBEAT_SECONDS="1",
    )
    workers = [processes.start([*WORKER, "--id", name], env) for name in ("left", "right")]
    try:
        processes.wait_for(
            lambda: len(trace_lines(heartbeat)) >= 1, timeout=30, what="the first heartbeat"
        )
        # when
        time.sleep(4)
    finally:
        outputs = [processes.stop(worker) for worker in workers]
    # then
    slots = list(PeriodicRun.objects.filter(job="probe.heartbeat").values_list("slot", flat=True))
    fired = DBTaskResult.objects.filter(
        task_path="aftersales.outbox.tasks.run_periodic",
        args_kwargs__args=["probe.heartbeat"],
    )
    successful = fired.filter(status="SUCCESSFUL").count()
    assert len(slots) >= 4, outputs
    assert len(set(slots)) == len(slots)
    assert fired.count() == len(slots)
    assert len(trace_lines(heartbeat)) == successful
    assert set(
        PeriodicRun.objects.filter(job="probe.heartbeat").values_list("fired_by", flat=True)
    ) <= {"left", "right"}
