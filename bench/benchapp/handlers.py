"""What the benchmarks make the worker do: as little as possible, but through the real path."""

from __future__ import annotations

from django_tasks import task

from aftersales.outbox.models import OutboxEvent


def mark_seen(event: OutboxEvent) -> None:
    """A DB-only (transactional) subscriber: one UPDATE, committed with the delivered mark."""
    OutboxEvent.objects.filter(pk=event.pk).update(payload={**event.payload, "seen": True})


@task()
def noop(number: int) -> int:
    """A trivial task, to measure the queue itself."""
    return number
