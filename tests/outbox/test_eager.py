"""Eager subscribers react in the emitting process right after the commit, exactly once, and
the events their reactions raise carry the cause they were stamped with."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from aftersales.outbox import services
from aftersales.outbox.models import EventDelivery, OutboxEvent

pytestmark = pytest.mark.django_db(transaction=True)


def record_reaction(event: OutboxEvent) -> None:
    with services.caused_by({"chain": str(event.pk), "depth": 1}):
        services.emit("reaction.done", payload={"of": str(event.pk)})


def test_an_eager_reaction_is_done_when_the_emitting_transaction_returns(
    subscribe: Callable[..., str],
) -> None:
    subscribe("eager-react", record_reaction, eager=True)
    with transaction.atomic():
        event = services.emit("test.happened")
        assert not OutboxEvent.objects.filter(topic="reaction.done").exists()

    reaction = OutboxEvent.objects.get(topic="reaction.done")
    assert reaction.payload == {"of": str(event.pk)}
    assert reaction.cause == {"chain": str(event.pk), "depth": 1}
    delivery = EventDelivery.objects.get(event=event)
    assert delivery.status == EventDelivery.Status.DELIVERED
    # Nothing was handed to a worker: the process did it.
    assert not DBTaskResult.objects.exists()


def test_a_rolled_back_change_leaves_no_eager_reaction(subscribe: Callable[..., str]) -> None:
    subscribe("eager-react", record_reaction, eager=True)

    def change_then_fail() -> None:
        with transaction.atomic():
            services.emit("test.happened")
            raise RuntimeError("changed my mind")

    with pytest.raises(RuntimeError):
        change_then_fail()

    assert not OutboxEvent.objects.exists()


def test_a_failed_eager_reaction_is_left_to_the_retry_schedule(
    subscribe: Callable[..., str],
) -> None:
    calls: list[str] = []

    def flaky(event: OutboxEvent) -> None:
        calls.append(str(event.pk))
        if len(calls) == 1:
            raise ValueError("not this time")
        record_reaction(event)

    subscribe("eager-flaky", flaky, eager=True)
    event = services.emit("test.happened")

    delivery = EventDelivery.objects.get(event=event)
    assert delivery.status == EventDelivery.Status.PENDING
    assert "not this time" in delivery.last_error
    with time_machine.travel(timezone.now() + timedelta(minutes=1), tick=False):
        assert services.requeue_due_deliveries() == 1
        services.deliver_event(str(event.pk))
    delivery.refresh_from_db()
    assert delivery.status == EventDelivery.Status.DELIVERED
    assert OutboxEvent.objects.filter(topic="reaction.done").count() == 1


def test_an_eager_reaction_lost_with_its_process_is_swept_to_a_worker(
    subscribe: Callable[..., str],
) -> None:
    subscribe("eager-react", record_reaction, eager=True)
    with transaction.atomic():
        event = services.emit("test.happened")
        # The process "dies" after the commit, before its on-commit reaction runs.
        transaction.get_connection().run_on_commit.clear()

    delivery = EventDelivery.objects.get(event=event)
    assert delivery.status == EventDelivery.Status.PENDING
    assert services.requeue_due_deliveries() == 0  # not yet: the emitter may still be at it
    later = timezone.now() + timedelta(seconds=services.settings.OUTBOX_LEASE_SECONDS + 1)
    with time_machine.travel(later, tick=False):
        assert services.requeue_due_deliveries() == 1
        services.deliver_event(str(event.pk))
    assert OutboxEvent.objects.filter(topic="reaction.done").count() == 1
