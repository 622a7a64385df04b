"""The outbox: domain events written in the business transaction, delivered after it."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class OutboxEvent(models.Model):
    """Something that happened in the domain (``ticket.reassigned``), recorded with the change.

    Because the event row commits or rolls back together with the change, a crash can never
    leave a change without its event, nor an event for a change that did not happen.
    ``id`` travels with every delivery so subscribers can ignore a repeat.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    topic = models.CharField(_("topic"), max_length=100, db_index=True)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    actor_id = models.BigIntegerField(null=True, blank=True)
    payload = models.JSONField(default=dict)
    # Why it happened, when a reaction to another event caused it (see services.caused_by).
    cause = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("domain event")
        verbose_name_plural = _("domain events")

    def __str__(self) -> str:
        return f"{self.topic} {self.object_type}#{self.object_id}"


class EventDelivery(models.Model):
    """One subscriber's copy of an event, with its attempts: delivered at least once.

    A worker claims a delivery for a lease; a worker that dies mid-delivery lets the lease
    run out, and the periodic sweep hands the delivery to another worker.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Running")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="deliveries")
    subscriber = models.CharField(max_length=100)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=64, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "subscriber"], name="one_delivery_per_sub")
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_due_idx")]

    def __str__(self) -> str:
        return f"{self.subscriber} ← {self.event_id} ({self.status})"


class PeriodicRun(models.Model):
    """Proof that a periodic job fired in a period: the unique key makes it fire only once,
    however many schedulers race for it."""

    job = models.CharField(max_length=100)
    slot = models.BigIntegerField()
    fired_at = models.DateTimeField(default=timezone.now)
    fired_by = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "slot"], name="one_run_per_slot")]

    def __str__(self) -> str:
        return f"{self.job} @ {self.slot}"
