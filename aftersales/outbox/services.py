"""Emitting domain events and delivering them to subscribers, at least once."""

from __future__ import annotations

import contextvars
import logging
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q
from django.utils import timezone

from aftersales.outbox import conf, registry
from aftersales.outbox.models import EventDelivery, OutboxEvent

logger = logging.getLogger(__name__)

Status = EventDelivery.Status
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"[:64]

_cause: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "aftersales_outbox_cause", default=None
)


@contextmanager
def caused_by(cause: dict[str, Any]) -> Iterator[None]:
    """Stamp every event emitted inside the block with ``cause``.

    A subscriber that reacts to an event by changing things (the rule engine) records why, so
    the events its changes raise carry the chain they belong to and the reaction can stop.
    """
    token = _cause.set(cause)
    try:
        yield
    finally:
        _cause.reset(token)


def current_cause() -> dict[str, Any] | None:
    return _cause.get()


def emit(
    topic: str,
    obj: models.Model | None = None,
    *,
    actor: Any = None,
    payload: dict[str, Any] | None = None,
) -> OutboxEvent:
    """Record ``topic`` about ``obj`` in the current transaction; deliver once it commits.

    The event and its deliveries are written atomically (a savepoint inside the caller's
    transaction), and the delivery task is enqueued only after the outermost commit: a
    rolled-back change leaves neither rows nor a task behind.
    """
    with transaction.atomic():
        event = OutboxEvent.objects.create(
            topic=topic,
            object_type=obj._meta.label_lower if obj is not None else "",
            object_id=str(obj.pk) if obj is not None else "",
            actor_id=actor.pk
            if actor is not None and getattr(actor, "is_authenticated", False)
            else None,
            payload=payload or {},
            cause=_cause.get() or {},
        )
        subscribers = registry.subscribers_for(topic)
        if subscribers:
            now = timezone.now()
            # enqueued_at == next_attempt_at: "enqueued for the attempt that is due", so the
            # sweep leaves it alone unless the task is lost (see requeue_due_deliveries). An
            # eager delivery counts as enqueued with the process that emits it.
            deliveries = EventDelivery.objects.bulk_create(
                [
                    EventDelivery(
                        event=event, subscriber=s.key, next_attempt_at=now, enqueued_at=now
                    )
                    for s in subscribers
                ]
            )
            eager = [(d.pk, s) for d, s in zip(deliveries, subscribers, strict=True) if s.eager]
            if eager:
                transaction.on_commit(lambda: deliver_now(event, eager))
            if len(eager) < len(subscribers):
                transaction.on_commit(lambda: _enqueue(event.pk))
    return event


def deliver_now(event: OutboxEvent, eager: list[tuple[Any, registry.Subscriber]]) -> None:
    """Deliver eager subscribers' copies in this process, just after the emitting commit.

    The transactional ones share one transaction (one commit, not two per subscriber): each
    is claimed, handled and marked delivered inside its own savepoint, so one that fails is
    rolled back alone and left to the retry schedule. A worker trying to claim one meanwhile
    waits for the row, then finds it delivered. A process that dies here rolls it all back; the
    sweep hands the deliveries to a worker once their lease would have run out.
    """
    if not eager or eager[0][0] is None:
        # bulk_create returned no keys (a backend without RETURNING): let the worker do it.
        return
    try:
        with transaction.atomic():
            for delivery_id, subscriber in eager:
                if subscriber.transactional:
                    _deliver_in_savepoint(delivery_id, subscriber, event)
    except Exception:
        logger.exception("Eager deliveries of event %s failed; the sweep will retry them", event.pk)
    for delivery_id, subscriber in eager:
        if not subscriber.transactional:
            try:
                if claim(delivery_id):
                    deliver(delivery_id)
            except Exception:
                logger.exception("Eager delivery %s failed; the sweep will retry it", delivery_id)


def _deliver_in_savepoint(
    delivery_id: Any, subscriber: registry.Subscriber, event: OutboxEvent
) -> None:
    try:
        with transaction.atomic():
            if not claim(delivery_id):
                return  # a worker has it
            subscriber.handler(event)
            delivered = EventDelivery.objects.filter(pk=delivery_id, status=Status.RUNNING).update(
                status=Status.DELIVERED,
                delivered_at=timezone.now(),
                claimed_until=None,
                last_error="",
            )
            if delivered != 1:
                raise LeaseLost(delivery_id)
    except Exception as error:
        logger.warning(
            "Eager delivery %s of %s to %s failed: %s",
            delivery_id,
            event.topic,
            subscriber.key,
            error,
        )
        EventDelivery.objects.filter(pk=delivery_id, status=Status.PENDING).update(
            attempts=F("attempts") + 1,
            next_attempt_at=timezone.now() + backoff(1),
            last_error=f"{type(error).__name__}: {error}"[:2000],
        )


def _enqueue(event_id: Any) -> None:
    from aftersales.outbox.tasks import deliver_event

    try:
        deliver_event.enqueue(str(event_id))
    except Exception:
        # The delivery rows are committed; the periodic sweep will enqueue them again.
        logger.exception("Could not enqueue delivery of event %s", event_id)


def backoff(attempts: int) -> timedelta:
    """Wait before the next attempt: 10 s, 20 s, 40 s… capped at one hour."""
    return timedelta(seconds=min(10 * 2 ** max(attempts - 1, 0), 3600))


def claim(delivery_id: int) -> bool:
    """Take the delivery for this worker for one lease. Only one worker can win."""
    now = timezone.now()
    lease = timedelta(seconds=settings.OUTBOX_LEASE_SECONDS)
    claimable = Q(status=Status.PENDING, next_attempt_at__lte=now) | Q(
        status=Status.RUNNING, claimed_until__lt=now
    )
    with transaction.atomic():
        updated = EventDelivery.objects.filter(claimable, pk=delivery_id).update(
            status=Status.RUNNING,
            claimed_until=now + lease,
            claimed_by=WORKER_ID,
            attempts=F("attempts") + 1,
        )
    return updated == 1


class LeaseLost(Exception):
    """The delivery was taken over by another worker (this worker's lease ran out)."""


def deliver(delivery_id: int) -> str:
    """Run one claimed delivery; returns its new status.

    The claim's ``attempts`` value is the fencing token: the outcome is written only while the
    row is still RUNNING under that attempt. A worker whose lease ran out and was taken over
    therefore cannot mark the delivery done, and a transactional handler's writes are rolled
    back with the refused mark, so they take effect exactly once.
    """
    delivery = EventDelivery.objects.select_related("event").get(pk=delivery_id)
    subscriber = registry.get(delivery.subscriber)
    if subscriber is None:
        _fail(delivery, "No subscriber is registered under this key.", final=True)
        return Status.FAILED
    try:
        if subscriber.transactional:
            with transaction.atomic():
                subscriber.handler(delivery.event)
                _mark_delivered(delivery)
        else:
            subscriber.handler(delivery.event)
            _mark_delivered(delivery)
    except LeaseLost:
        logger.warning(
            "Delivery %s of %s to %s outlived its lease and was taken over by another worker",
            delivery.pk,
            delivery.event.topic,
            delivery.subscriber,
        )
        return Status.RUNNING
    except Exception as error:
        logger.warning(
            "Delivery %s of %s to %s failed: %s",
            delivery.pk,
            delivery.event.topic,
            delivery.subscriber,
            error,
        )
        final = delivery.attempts >= settings.OUTBOX_MAX_ATTEMPTS
        _fail(delivery, f"{type(error).__name__}: {error}", final=final)
        return Status.FAILED if final else Status.PENDING
    return Status.DELIVERED


def _owned(delivery: EventDelivery) -> models.QuerySet[EventDelivery]:
    return EventDelivery.objects.filter(
        pk=delivery.pk, status=Status.RUNNING, attempts=delivery.attempts
    )


def _mark_delivered(delivery: EventDelivery) -> None:
    updated = _owned(delivery).update(
        status=Status.DELIVERED, delivered_at=timezone.now(), claimed_until=None, last_error=""
    )
    if updated != 1:
        raise LeaseLost(delivery.pk)


def _fail(delivery: EventDelivery, error: str, *, final: bool) -> None:
    _owned(delivery).update(
        status=Status.FAILED if final else Status.PENDING,
        next_attempt_at=timezone.now() + backoff(delivery.attempts),
        claimed_until=None,
        last_error=error[:2000],
    )


def deliver_event(event_id: str) -> dict[str, int]:
    """Deliver every due delivery of one event; safe to run twice or concurrently."""
    counts: dict[str, int] = {}
    now = timezone.now()
    due = EventDelivery.objects.filter(event_id=uuid.UUID(str(event_id))).filter(
        Q(status=Status.PENDING, next_attempt_at__lte=now)
        | Q(status=Status.RUNNING, claimed_until__lt=now)
    )
    for delivery_id in list(due.values_list("pk", flat=True)):
        if not claim(delivery_id):
            continue
        status = deliver(delivery_id)
        counts[status] = counts.get(status, 0) + 1
    return counts


def requeue_due_deliveries() -> int:
    """Periodic sweep: enqueue events whose deliveries are due, retrying or abandoned mid-run.

    A pending delivery needs a task when it was not enqueued since its retry time was set
    (``enqueued_at < next_attempt_at``), or when its task seems lost (enqueued a whole lease
    ago and still pending). A running delivery needs one when its lease ran out: its worker died.
    """
    now = timezone.now()
    lease = timedelta(seconds=settings.OUTBOX_LEASE_SECONDS)
    not_enqueued = (
        Q(enqueued_at__isnull=True)
        | Q(enqueued_at__lt=F("next_attempt_at"))
        | Q(enqueued_at__lt=now - lease)
    )
    due = EventDelivery.objects.filter(
        Q(status=Status.PENDING, next_attempt_at__lte=now) & not_enqueued
        | Q(status=Status.RUNNING, claimed_until__lt=now)
    )
    event_ids = list(due.values_list("event_id", flat=True).distinct()[:1000])
    if not event_ids:
        return 0
    EventDelivery.objects.filter(event_id__in=event_ids).exclude(status=Status.DELIVERED).update(
        enqueued_at=now
    )
    for event_id in event_ids:
        _enqueue(event_id)
    return len(event_ids)


ABANDONED_TASK_ERROR = "aftersales.outbox.services.WorkerLost"


def fail_abandoned_tasks() -> int:
    """Periodic sweep: mark tasks RUNNING for longer than ``OUTBOX_STALE_TASK_SECONDS`` FAILED.

    django-tasks-db leaves the task of a SIGKILLed worker RUNNING forever. The work itself is
    not lost (the delivery rows are re-enqueued by :func:`requeue_due_deliveries`); this only
    closes the orphaned task row so dashboards and pruning see it as finished.
    """
    from django_tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    now = timezone.now()
    cutoff = now - timedelta(seconds=conf.stale_task_seconds())
    return DBTaskResult.objects.filter(
        status=TaskResultStatus.RUNNING, started_at__lt=cutoff
    ).update(
        status=TaskResultStatus.FAILED,
        finished_at=now,
        exception_class_path=ABANDONED_TASK_ERROR,
        traceback=f"The worker stopped answering: RUNNING since before {cutoff.isoformat()}.",
    )


def prune_finished_task_results() -> int:
    """Drop task results older than a week, keeping the task table small."""
    from django_tasks_db.models import DBTaskResult

    cutoff = timezone.now() - timedelta(days=7)
    deleted, _ = DBTaskResult.objects.filter(
        finished_at__lt=cutoff, status__in=["SUCCESSFUL", "FAILED"]
    ).delete()
    return deleted
