"""Sending is exactly once: a sender that dies sends nothing, two senders never both send."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from aftersales.notifications import services as notifications
from aftersales.notifications.models import Notification
from aftersales.outbox.scheduler import jobs
from aftersales.surveys import services
from aftersales.surveys.models import Survey
from aftersales.tickets.models import Ticket


def _due(make_ticket: Callable[..., Ticket], move: Callable[[Ticket, str], Ticket]) -> Survey:
    ticket = make_ticket()
    move(ticket, "solved")
    Survey.objects.filter(ticket=ticket).update(send_after=timezone.now())
    return Survey.objects.get(ticket=ticket)


@pytest.mark.django_db
def test_a_sender_that_dies_mid_send_leaves_the_survey_to_the_next_run(
    make_ticket: Callable[..., Ticket],
    move: Callable[[Ticket, str], Ticket],
    alice_mail: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The state change and the notification commit together: a failure while writing the
    notification rolls both back, and the next run sends the survey once."""
    # given
    survey = _due(make_ticket, move)
    real = notifications.notify_ticket

    def dies(**kwargs: Any) -> Any:
        real(**kwargs)
        raise RuntimeError("worker killed")

    monkeypatch.setattr(notifications, "notify_ticket", dies)
    # when
    with pytest.raises(RuntimeError):
        services.send_due_surveys()
    after_crash = (Survey.objects.get(pk=survey.pk).state, Notification.objects.count())
    monkeypatch.setattr(notifications, "notify_ticket", real)
    sent = services.send_due_surveys(), services.send_due_surveys()
    # then
    assert after_crash == ("scheduled", 0)
    assert sent == (1, 0)
    assert Notification.objects.filter(event="survey").count() == 1


def test_the_job_is_registered_every_minute() -> None:
    job = jobs()["surveys.send_due"]
    assert job.every.total_seconds() == 60
    assert job.function is services.send_due_surveys


@pytest.mark.django_db(transaction=True)
def test_two_senders_at_once_send_the_survey_once(
    make_ticket: Callable[..., Ticket],
    move: Callable[[Ticket, str], Ticket],
    alice_mail: str,
) -> None:
    """While one sender holds the row, another skips it (PostgreSQL: SKIP LOCKED); once the
    first committed, the row is no longer scheduled and nobody sends it again."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no row locks: one writer at a time by design.")
    # given
    survey = _due(make_ticket, move)
    holding, release = threading.Event(), threading.Event()
    result: dict[str, bool] = {}

    def first_sender() -> None:
        try:
            with transaction.atomic():
                Survey.objects.select_for_update().get(pk=survey.pk)
                holding.set()
                release.wait(timeout=10)
                result["first"] = services.send_survey(survey_id=survey.pk)
        finally:
            connection.close()

    thread = threading.Thread(target=first_sender)
    thread.start()
    assert holding.wait(timeout=10)
    # when
    second = services.send_survey(survey_id=survey.pk)
    release.set()
    thread.join(timeout=20)
    third = services.send_survey(survey_id=survey.pk)
    # then
    assert (result["first"], second, third) == (True, False, False)
    assert Notification.objects.filter(event="survey").count() == 1
    assert Survey.objects.get(pk=survey.pk).state == "sent"
