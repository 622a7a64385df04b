"""Emitting: the event, its deliveries and the delivery task follow the business transaction."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import transaction
from django_tasks_db.models import DBTaskResult

from aftersales.outbox import services
from aftersales.outbox.models import EventDelivery, OutboxEvent

pytestmark = pytest.mark.django_db


def ignore(event: OutboxEvent) -> None:
    return None


class Boom(Exception):
    pass


def emit_then_fail() -> None:
    with transaction.atomic():
        services.emit("test.created", payload={"n": 1})
        raise Boom


def test_emit_in_rolled_back_transaction_leaves_no_event_delivery_or_task(
    subscribe: Callable[..., str], django_capture_on_commit_callbacks
) -> None:
    """A change that rolls back takes its event, deliveries and task with it."""
    # given
    subscribe("test.audit", ignore)
    # when
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(Boom):
        emit_then_fail()
    # then
    assert callbacks == []
    assert OutboxEvent.objects.count() == 0
    assert EventDelivery.objects.count() == 0
    assert DBTaskResult.objects.count() == 0


def test_emit_committed_writes_one_delivery_per_matching_subscriber(
    subscribe: Callable[..., str], django_capture_on_commit_callbacks
) -> None:
    """Each subscriber whose pattern matches the topic gets its own pending delivery."""
    # given
    subscribe("test.audit", ignore, ("test.*",))
    subscribe("test.mail", ignore, ("test.created",))
    subscribe("test.other", ignore, ("other.*",))
    # when
    with django_capture_on_commit_callbacks(execute=True):
        event = services.emit("test.created", payload={"n": 1})
    # then
    assert list(OutboxEvent.objects.values_list("pk", "topic", "payload")) == [
        (event.pk, "test.created", {"n": 1})
    ]
    deliveries = EventDelivery.objects.filter(event=event).order_by("subscriber")
    assert [(d.subscriber, d.status, d.attempts) for d in deliveries] == [
        ("test.audit", "pending", 0),
        ("test.mail", "pending", 0),
    ]


def test_emit_enqueues_delivery_task_only_after_commit(
    subscribe: Callable[..., str], django_capture_on_commit_callbacks
) -> None:
    """The task row appears at commit, not when ``emit`` is called."""
    # given
    subscribe("test.audit", ignore)
    # when
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        event = services.emit("test.created")
        tasks_before_commit = DBTaskResult.objects.count()
    # then
    assert tasks_before_commit == 0
    assert len(callbacks) == 1
    task = DBTaskResult.objects.get()
    assert task.task_path == "aftersales.outbox.tasks.deliver_event"
    assert task.queue_name == "events"
    assert task.status == "READY"
    assert task.args_kwargs == {"args": [str(event.pk)], "kwargs": {}}


def test_emit_without_subscribers_records_event_and_enqueues_nothing(
    django_capture_on_commit_callbacks,
) -> None:
    """An event nobody listens to is kept (for the record) but costs no task."""
    # when
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.emit("nobody.listens")
    # then
    assert OutboxEvent.objects.filter(topic="nobody.listens").count() == 1
    assert EventDelivery.objects.count() == 0
    assert callbacks == []
    assert DBTaskResult.objects.count() == 0


def test_emit_records_object_and_actor(admin_user) -> None:
    """The event names the object it is about and who caused it."""
    # when
    event = services.emit("test.updated", admin_user, actor=admin_user)
    # then
    event.refresh_from_db()
    assert (event.object_type, event.object_id, event.actor_id) == (
        "accounts.user",
        str(admin_user.pk),
        admin_user.pk,
    )
