"""Periodic jobs that fire once per period however many workers run the scheduler.

Each worker calls :func:`tick` every few seconds. For every job whose period has begun, the
first worker to insert the ``(job, slot)`` row enqueues the job; the others hit the unique
constraint and move on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from aftersales.outbox.models import PeriodicRun

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    every: timedelta
    function: Callable[[], object]


_JOBS: dict[str, PeriodicJob] = {}


def register_periodic(name: str, *, every: timedelta, function: Callable[[], object]) -> None:
    if every.total_seconds() < 1:
        raise ValueError("A periodic job runs at most once a second.")
    _JOBS[name] = PeriodicJob(name=name, every=every, function=function)


def unregister_periodic(name: str) -> None:
    """Forget a periodic job; for tests and plugins that come and go."""
    _JOBS.pop(name, None)


def jobs() -> dict[str, PeriodicJob]:
    return dict(_JOBS)


def slot_of(job: PeriodicJob) -> int:
    return int(timezone.now().timestamp() // job.every.total_seconds())


def tick(worker_id: str = "") -> list[str]:
    """Claim and enqueue the jobs due now; returns the names this caller fired.

    The ``(job, slot)`` row and the task row are written in one transaction: either this
    caller claims the slot and the job is enqueued, or neither happens (a crash in between
    cannot lose the period, and a loser of the race enqueues nothing).
    """
    from aftersales.outbox.tasks import run_periodic

    fired: list[str] = []
    for job in list(_JOBS.values()):
        slot = slot_of(job)
        try:
            with transaction.atomic():
                PeriodicRun.objects.create(job=job.name, slot=slot, fired_by=worker_id[:64])
                run_periodic.enqueue(job.name)
        except IntegrityError:
            continue
        fired.append(job.name)
    if fired:
        cutoff = timezone.now() - timedelta(days=2)
        PeriodicRun.objects.filter(fired_at__lt=cutoff).delete()
    return fired


def run(name: str) -> object:
    job = _JOBS.get(name)
    if job is None:
        raise LookupError(f"No periodic job named {name!r}.")
    return job.function()
