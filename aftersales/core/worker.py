"""The background worker: runs queued tasks and drives the periodic scheduler.

``aftersales worker`` runs it in the foreground (several may run side by side);
``aftersales run`` starts it on threads inside the web process for the embedded mode.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

from django.conf import settings
from django.db import close_old_connections, connections
from django_tasks_db.management.commands.db_worker import Worker

from aftersales.outbox import scheduler

logger = logging.getLogger(__name__)


def worker_id(suffix: str = "") -> str:
    return f"{socket.gethostname()}-{os.getpid()}{suffix}"[:64]


def make_task_worker(
    *,
    interval: float = 0.5,
    identity: str | None = None,
    max_tasks: int | None = None,
    batch: bool = False,
) -> Worker:
    return Worker(
        queue_names=["*"],
        interval=interval,
        batch=batch,
        backend_name="default",
        startup_delay=not batch,
        max_tasks=max_tasks,
        worker_id=identity or worker_id(),
        excluded_queue_names=[],
    )


def tick_once(identity: str) -> list[str]:
    """Fire the periodic jobs that are due now (once per period across all workers)."""
    fired = scheduler.tick(identity)
    if fired:
        logger.debug("Scheduler fired %s", ", ".join(fired))
    return fired


class SchedulerThread(threading.Thread):
    """Calls :func:`scheduler.tick` every ``SCHEDULER_TICK_SECONDS`` until stopped."""

    def __init__(self, identity: str, period: float | None = None) -> None:
        super().__init__(name="aftersales-scheduler", daemon=True)
        self.identity = identity
        self.period = period if period is not None else float(settings.SCHEDULER_TICK_SECONDS)
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                close_old_connections()
                tick_once(self.identity)
            except Exception:
                logger.exception("Scheduler tick failed")
            finally:
                close_old_connections()
            self.stopping.wait(self.period)
        # Connections are per thread: a stopped thread must close its own, or it lingers
        # (CONN_MAX_AGE keeps it open) and blocks e.g. dropping the database.
        connections.close_all()

    def stop(self) -> None:
        self.stopping.set()


class TaskThread(threading.Thread):
    """A task worker on a thread (embedded mode)."""

    def __init__(self, identity: str) -> None:
        super().__init__(name="aftersales-worker", daemon=True)
        self.worker = make_task_worker(identity=identity)

    def run(self) -> None:
        try:
            self.worker.run()
        finally:
            connections.close_all()

    def stop(self) -> None:
        self.worker.running = False
