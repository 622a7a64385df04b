"""Sending deliveries: claim with a lease, send, record the attempt, retry with backoff.

The outbox subscriber sends a new notification's deliveries right after the commit; the
periodic job :func:`send_due` picks up retries and deliveries whose worker died (their lease
ran out). Both go through :func:`claim`, a conditional UPDATE only one worker can win, and
write the outcome fenced by the claimed attempt number, as the outbox does.

Exactly once: a delivery is marked sent in the same moment its attempt is recorded, and no
other worker can claim it while the lease runs. A worker killed before the provider accepted
the message leaves the delivery RUNNING; once the lease runs out the next worker sends it, once.
The one window no sender can close is a crash after the provider accepted and before the mark:
the retry then repeats the message with the same Message-ID (e-mail) or idempotency key
(HTTP channels), which receivers use to drop the repeat.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from datetime import timedelta

from django.db import models, transaction
from django.db.models import F, Q
from django.utils import timezone

from aftersales.notifications import channels, conf
from aftersales.notifications.models import Delivery, DeliveryAttempt, Notification
from aftersales.outbox.models import OutboxEvent

logger = logging.getLogger(__name__)

Status = Delivery.Status
Outcome = DeliveryAttempt.Outcome
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"[:64]


def backoff(attempts: int) -> timedelta:
    """Wait before the next attempt: 30 s, 1 min, 2 min… capped at two hours."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 7200))


def _due(now: object) -> Q:
    return Q(status=Status.PENDING, next_attempt_at__lte=now) | Q(
        status=Status.RUNNING, claimed_until__lt=now
    )


def claim(delivery_id: int) -> tuple[Delivery, DeliveryAttempt] | None:
    """Take a due delivery for one lease and open its attempt; None if another worker has it.

    An attempt left ``running`` by a worker that died is closed as abandoned.
    """
    now = timezone.now()
    with transaction.atomic():
        updated = (
            Delivery.objects.filter(_due(now), pk=delivery_id)
            .exclude(channel="in_app")
            .update(
                status=Status.RUNNING,
                claimed_until=now + timedelta(seconds=conf.lease_seconds()),
                claimed_by=WORKER_ID,
                attempts=F("attempts") + 1,
            )
        )
        if updated != 1:
            return None
        delivery = Delivery.objects.select_related("notification", "robot").get(pk=delivery_id)
        DeliveryAttempt.objects.filter(delivery=delivery, outcome=Outcome.RUNNING).update(
            outcome=Outcome.ABANDONED,
            finished_at=now,
            detail="The worker stopped before it finished; its lease ran out.",
        )
        attempt = DeliveryAttempt.objects.create(
            delivery=delivery, number=delivery.attempts, worker=WORKER_ID, started_at=now
        )
    return delivery, attempt


def _owned(delivery: Delivery) -> models.QuerySet[Delivery]:
    return Delivery.objects.filter(
        pk=delivery.pk, status=Status.RUNNING, attempts=delivery.attempts
    )


def send(delivery: Delivery, attempt: DeliveryAttempt) -> str:
    """Send one claimed delivery and record the outcome; returns the delivery's new status."""
    started = time.monotonic()
    try:
        result = channels.send(delivery)
    except Exception as error:
        logger.warning(
            "Notification delivery %s (%s) attempt %s failed: %s",
            delivery.pk,
            delivery.channel,
            delivery.attempts,
            error,
        )
        final = delivery.attempts >= conf.max_attempts() or getattr(error, "is_permanent", False)
        return _finish(
            delivery,
            attempt,
            status=Status.FAILED if final else Status.PENDING,
            outcome=Outcome.FAILED,
            detail=f"{type(error).__name__}: {error}"[:2000],
            response_code=getattr(error, "response_code", None),
            started=started,
        )
    return _finish(
        delivery,
        attempt,
        status=Status.SENT,
        outcome=Outcome.SENT,
        detail=result.detail[:2000],
        response_code=result.response_code,
        started=started,
    )


def _finish(
    delivery: Delivery,
    attempt: DeliveryAttempt,
    *,
    status: str,
    outcome: str,
    detail: str,
    response_code: int | None,
    started: float,
) -> str:
    now = timezone.now()
    fields: dict[str, object] = {"status": status, "claimed_until": None}
    if status == Status.SENT:
        fields.update(sent_at=now, last_error="")
    else:
        fields.update(next_attempt_at=now + backoff(delivery.attempts), last_error=detail)
    with transaction.atomic():
        updated = _owned(delivery).update(**fields)
        DeliveryAttempt.objects.filter(pk=attempt.pk).update(
            outcome=outcome,
            detail=detail,
            response_code=response_code,
            finished_at=now,
            duration_ms=int((time.monotonic() - started) * 1000),
        )
    if updated != 1:
        logger.warning(
            "Notification delivery %s outlived its lease and was taken over", delivery.pk
        )
        return Status.RUNNING
    return status


def _send_all(delivery_ids: list[int]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for delivery_id in delivery_ids:
        claimed = claim(delivery_id)
        if claimed is None:
            continue
        status = send(*claimed)
        counts[status] = counts.get(status, 0) + 1
    return counts


def send_notification(notification_id: int) -> dict[str, int]:
    """Send the due deliveries of one notification; safe to run twice or concurrently."""
    due = Delivery.objects.filter(_due(timezone.now()), notification_id=notification_id)
    return _send_all(list(due.exclude(channel="in_app").values_list("pk", flat=True)))


def send_due(limit: int = 200) -> int:
    """Periodic job: send deliveries whose retry time has come or whose worker died."""
    due = Delivery.objects.filter(_due(timezone.now())).exclude(channel="in_app")
    ids = list(due.order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit])
    counts = _send_all(ids)
    return sum(counts.values())


def prune_notifications() -> int:
    """Periodic job: forget notifications (with their deliveries and log) older than the
    retention period, unless a delivery is still pending or being sent; returns how many."""
    cutoff = timezone.now() - timedelta(days=conf.retention_days())
    unfinished = Delivery.objects.filter(status__in=[Status.PENDING, Status.RUNNING])
    old = Notification.objects.filter(created_at__lt=cutoff).exclude(
        pk__in=unfinished.values("notification_id")
    )
    ids = list(old.values_list("pk", flat=True)[:5000])
    deleted = Notification.objects.filter(pk__in=ids).delete()[1].get(Notification._meta.label, 0)
    return int(deleted)


def on_notification_created(event: OutboxEvent) -> None:
    """Outbox subscriber (not transactional: it calls out to SMTP and HTTP)."""
    notification_id = event.payload.get("notification_id")
    if notification_id is None or not Notification.objects.filter(pk=notification_id).exists():
        return
    send_notification(int(notification_id))
