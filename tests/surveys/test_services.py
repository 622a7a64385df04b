"""Surveys from solving to answering: scheduling, sending once, the link, the answer, rules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core import signing
from django.db import IntegrityError, transaction
from django.utils import timezone, translation

from aftersales.audit.models import AuditEntry
from aftersales.automation import services as automation
from aftersales.automation.models import Execution
from aftersales.notifications.models import Delivery, Notification
from aftersales.outbox.models import OutboxEvent
from aftersales.surveys import selectors, services
from aftersales.surveys.models import Survey, SurveySettings
from aftersales.tickets.models import Ticket, TicketEvent
from aftersales.tickets.workspace_timeline import describe
from tests.surveys.conftest import status

pytestmark = pytest.mark.django_db

SOLVED_AT = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)

MakeTicket = Callable[..., Ticket]
Move = Callable[[Ticket, str], Ticket]


def _survey_mails() -> list[tuple[str, str]]:
    return list(
        Delivery.objects.filter(notification__event="survey")
        .order_by("pk")
        .values_list("channel", "address")
    )


# --- Scheduling and sending ---------------------------------------------------------------------


def test_the_survey_goes_out_once_after_the_delay(
    make_ticket: MakeTicket, move: Move, alice_mail: str
) -> None:
    """Solved at 02:00 with the built-in one-hour delay: nothing at 02:59, one e-mail at 03:00
    carrying the link, and a second run of the job sends nothing more."""
    # given
    ticket = make_ticket()
    with time_machine.travel(SOLVED_AT, tick=False):
        move(ticket, "solved")
    survey = Survey.objects.get(ticket=ticket)
    assert (survey.state, survey.send_after) == ("scheduled", SOLVED_AT + timedelta(hours=1))
    # when
    with time_machine.travel(SOLVED_AT + timedelta(minutes=59), tick=False):
        early = services.send_due_surveys()
    with time_machine.travel(SOLVED_AT + timedelta(minutes=60), tick=False):
        due = services.send_due_surveys()
        again = services.send_due_surveys()
    # then
    assert (early, due, again) == (0, 1, 0)
    assert _survey_mails() == [("email", alice_mail)]
    survey.refresh_from_db()
    assert survey.state == "sent"
    assert survey.sent_at == SOLVED_AT + timedelta(hours=1)
    assert survey.expires_at == SOLVED_AT + timedelta(hours=1, days=14)
    body = Delivery.objects.get(notification__event="survey").body
    assert services.survey_url(survey) in body
    assert OutboxEvent.objects.filter(topic="survey.sent").count() == 1


def test_a_ticket_reopened_before_the_delay_gets_no_survey(
    make_ticket: MakeTicket, move: Move, alice_mail: str
) -> None:
    # given
    ticket = make_ticket()
    with time_machine.travel(SOLVED_AT, tick=False):
        move(ticket, "solved")
    with time_machine.travel(SOLVED_AT + timedelta(minutes=30), tick=False):
        move(ticket, "open")
    # when
    with time_machine.travel(SOLVED_AT + timedelta(hours=2), tick=False):
        sent = services.send_due_surveys()
    # then
    assert sent == 0
    assert Survey.objects.get(ticket=ticket).state == "cancelled"
    assert _survey_mails() == []


def test_solving_again_after_a_reopening_schedules_the_survey_anew(
    make_ticket: MakeTicket, move: Move, alice_mail: str
) -> None:
    # given: solved, reopened, solved again an hour later
    ticket = make_ticket()
    with time_machine.travel(SOLVED_AT, tick=False):
        move(ticket, "solved")
        move(ticket, "open")
    with time_machine.travel(SOLVED_AT + timedelta(hours=1), tick=False):
        move(ticket, "solved")
    # when
    with time_machine.travel(SOLVED_AT + timedelta(minutes=119), tick=False):
        early = services.send_due_surveys()
    with time_machine.travel(SOLVED_AT + timedelta(hours=2), tick=False):
        due = services.send_due_surveys()
    # then
    assert (early, due) == (0, 1)
    assert Survey.objects.filter(ticket=ticket).count() == 1
    assert _survey_mails() == [("email", alice_mail)]


def test_a_survey_found_on_a_reopened_ticket_when_due_is_cancelled_not_sent(
    make_ticket: MakeTicket, move: Move, alice_mail: str
) -> None:
    """The sender checks the ticket itself: a reopening whose event was not handled yet still
    stops the survey."""
    # given
    ticket = make_ticket()
    move(ticket, "solved")
    survey = Survey.objects.get(ticket=ticket)
    Ticket.objects.filter(pk=ticket.pk).update(
        status=status(ticket, "open"), status_category="open"
    )
    # when
    sent = services.send_survey(survey_id=survey.pk, now=survey.send_after)
    # then
    assert sent is False
    assert Survey.objects.get(pk=survey.pk).state == "cancelled"
    assert _survey_mails() == []


def test_a_line_that_sends_no_surveys_schedules_none(
    desk: dict[str, Any], make_ticket: MakeTicket, move: Move
) -> None:
    # given
    services.create_settings(
        actor=desk["admin"], business_line=desk["line_a"], values={"is_enabled": False}
    )
    ticket = make_ticket()
    # when
    move(ticket, "solved")
    # then
    assert Survey.objects.filter(ticket=ticket).exists() is False


def test_settings_of_the_line_win_over_the_default(
    desk: dict[str, Any], make_ticket: MakeTicket, move: Move
) -> None:
    # given
    services.create_settings(actor=desk["admin"], business_line=None, values={"delay_minutes": 5})
    services.create_settings(
        actor=desk["admin"],
        business_line=desk["line_a"],
        values={"delay_minutes": 0, "kind": "nps", "link_valid_days": 3},
    )
    ticket = make_ticket()
    # when
    with time_machine.travel(SOLVED_AT, tick=False):
        move(ticket, "solved")
    # then
    survey = Survey.objects.get(ticket=ticket)
    assert (survey.kind, survey.send_after, survey.expires_at) == (
        "nps",
        SOLVED_AT,
        SOLVED_AT + timedelta(days=3),
    )


def test_a_second_survey_for_the_same_ticket_is_refused_by_the_database(
    sent_survey: Callable[..., Survey],
) -> None:
    # given
    survey = sent_survey()
    # when / then
    with pytest.raises(IntegrityError), transaction.atomic():
        Survey.objects.create(
            ticket=survey.ticket,
            business_line_id=survey.business_line_id,
            customer_id=survey.customer_id,
            nonce="x",
            send_after=timezone.now(),
            expires_at=timezone.now(),
        )


# --- Answering ----------------------------------------------------------------------------------


def test_an_answer_lands_on_the_ticket_its_timeline_the_audit_and_the_outbox(
    sent_survey: Callable[..., Survey],
) -> None:
    # given
    survey = sent_survey()
    # when
    services.answer_survey(
        survey=survey, rating=4, comment="Quick and friendly", reasons=["attitude", "speed"]
    )
    # then
    survey.refresh_from_db()
    assert (survey.state, survey.rating, survey.comment, survey.reasons) == (
        "answered",
        4,
        "Quick and friendly",
        ["speed", "attitude"],
    )
    ticket = Ticket.objects.get(pk=survey.ticket_id)
    assert ticket.satisfaction == 4
    assert ticket.satisfaction_at == survey.answered_at
    event = TicketEvent.objects.get(ticket=ticket, kind="satisfaction_rated")
    assert event.changes["satisfaction"] == [None, 4]
    with translation.override("en"):
        [line] = describe([event])
    assert line.sentences == [
        "The customer rated the service 4.",
        "Their comment: “Quick and friendly”",
    ]
    assert AuditEntry.objects.filter(verb="survey_answered", object_id=str(survey.pk)).count() == 1
    [answered] = OutboxEvent.objects.filter(topic="survey.answered")
    assert answered.payload["ticket_id"] == ticket.pk
    assert answered.payload["business_line_id"] == ticket.business_line_id
    assert answered.payload["rating"] == 4
    assert answered.payload["changes"] == {"satisfaction": [None, 4]}


def test_one_response_per_ticket_changing_it_updates_the_same_answer(
    sent_survey: Callable[..., Survey],
) -> None:
    # given
    survey = sent_survey()
    services.answer_survey(survey=survey, rating=2)
    # when
    services.answer_survey(survey=survey, rating=5, comment="Fixed for good after all")
    # then
    assert Survey.objects.filter(ticket_id=survey.ticket_id).count() == 1
    survey.refresh_from_db()
    assert (survey.rating, survey.comment) == (5, "Fixed for good after all")
    assert Ticket.objects.get(pk=survey.ticket_id).satisfaction == 5
    payloads = [
        e.payload
        for e in OutboxEvent.objects.filter(topic="survey.answered").order_by("created_at")
    ]
    assert [(p["previous_rating"], p["rating"]) for p in payloads] == [(None, 2), (2, 5)]


def test_the_answer_can_be_changed_only_within_the_edit_window(
    sent_survey: Callable[..., Survey],
) -> None:
    """Seven days (the built-in window) after the first answer it is final."""
    # given
    with time_machine.travel(SOLVED_AT, tick=False):
        survey = sent_survey()
        services.answer_survey(survey=survey, rating=3)
    # when
    with time_machine.travel(SOLVED_AT + timedelta(days=7), tick=False):
        services.answer_survey(survey=survey, rating=4)
    with (
        time_machine.travel(SOLVED_AT + timedelta(days=7, seconds=1), tick=False),
        pytest.raises(services.LinkExpired) as refused,
    ):
        services.answer_survey(survey=survey, rating=1)
    # then
    assert refused.value.code == "answer_final"
    assert Survey.objects.get(pk=survey.pk).rating == 4
    assert Ticket.objects.get(pk=survey.ticket_id).satisfaction == 4


def test_an_unanswered_link_expires_after_its_validity(
    sent_survey: Callable[..., Survey],
) -> None:
    # given
    with time_machine.travel(SOLVED_AT, tick=False):
        survey = sent_survey()
    # when
    with (
        time_machine.travel(SOLVED_AT + timedelta(days=14, seconds=1), tick=False),
        pytest.raises(services.LinkExpired),
    ):
        services.answer_survey(survey=survey, rating=5)
    # then
    assert Survey.objects.get(pk=survey.pk).rating is None
    assert Ticket.objects.get(pk=survey.ticket_id).satisfaction is None
    assert OutboxEvent.objects.filter(topic="survey.answered").exists() is False


@pytest.mark.parametrize(
    ("_case", "answer", "field"),
    [
        ("no rating", {}, "rating"),
        ("zero stars", {"rating": 0}, "rating"),
        ("six stars", {"rating": 6}, "rating"),
        ("unknown reason", {"rating": 3, "reasons": ["price"]}, "reasons"),
        ("long comment", {"rating": 3, "comment": "x" * 2001}, "comment"),
    ],
)
def test_a_bad_answer_is_refused_naming_the_field(
    sent_survey: Callable[..., Survey], _case: str, answer: dict[str, Any], field: str
) -> None:
    # given
    survey = sent_survey()
    # when
    with pytest.raises(services.DomainError) as refused:
        services.answer_survey(survey=survey, **answer)
    # then
    assert refused.value.field == field
    assert Survey.objects.get(pk=survey.pk).state == "sent"
    assert OutboxEvent.objects.filter(topic="survey.answered").exists() is False


def test_nps_surveys_take_0_to_10_and_report_a_net_promoter_score(
    desk: dict[str, Any], sent_survey: Callable[..., Survey]
) -> None:
    # given
    services.create_settings(
        actor=desk["admin"], business_line=desk["line_a"], values={"kind": "nps"}
    )
    surveys = [sent_survey() for _number in range(4)]
    assert {s.kind for s in surveys} == {"nps"}
    # when: two promoters, a passive, a detractor; 11 is refused
    with pytest.raises(services.DomainError) as refused:
        services.answer_survey(survey=surveys[0], rating=11)
    for survey, rating in zip(surveys, (10, 9, 7, 0), strict=True):
        services.answer_survey(survey=survey, rating=rating)
    # then
    assert refused.value.field == "rating"
    now = timezone.now()
    [line] = selectors.satisfaction_figures(
        desk["admin"], since=now - timedelta(days=1), until=now + timedelta(minutes=1)
    )
    assert (line.nps_answers, line.promoters, line.passives, line.detractors) == (4, 2, 1, 1)
    assert line.nps_score == 25.0
    assert (line.csat_answers, line.csat_percent, line.response_rate) == (0, None, 100.0)


def test_csat_figures_count_four_and_five_stars_as_satisfied(
    desk: dict[str, Any], sent_survey: Callable[..., Survey]
) -> None:
    # given
    surveys = [sent_survey() for _number in range(5)]
    for survey, rating in zip(surveys[:4], (5, 4, 2, 1), strict=True):
        services.answer_survey(survey=survey, rating=rating)
    # when
    now = timezone.now()
    [line] = selectors.satisfaction_figures(
        desk["admin"], since=now - timedelta(days=1), until=now + timedelta(minutes=1)
    )
    # then
    assert (line.business_line, line.sent, line.answered) == ("East", 5, 4)
    assert (line.csat_percent, line.csat_average, line.response_rate) == (50.0, 3.0, 80.0)
    assert line.nps_score is None


# --- The link -----------------------------------------------------------------------------------


def test_the_token_of_one_ticket_never_opens_another(
    sent_survey: Callable[..., Survey], desk: dict[str, Any]
) -> None:
    """B's token answers B's survey only; a token signed for A's id with B's nonce, a token
    with a changed character and a token signed with another salt are all unknown."""
    # given
    first, second = sent_survey(), sent_survey(requester=desk["bob"])
    token = services.token_for(second)
    signer = signing.Signer(salt=services.SALT)
    forged = [
        signer.sign_object([first.pk, second.nonce]),
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        signing.Signer(salt="other").sign_object([first.pk, first.nonce]),
        signing.Signer(salt=services.SALT).sign_object([first.pk]),
    ]
    # when
    services.answer_survey(survey=services.survey_for_token(token), rating=1)
    # then
    for bad in forged:
        with pytest.raises(services.NotFound):
            services.survey_for_token(bad)
    assert services.survey_for_token(services.token_for(first)).pk == first.pk
    assert Survey.objects.get(pk=first.pk).rating is None
    assert Survey.objects.get(pk=second.pk).rating == 1


# --- Rules --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("_case", "rating", "category"), [("2 stars", 2, "open"), ("5 stars", 5, "solved")]
)
def test_a_rule_reopens_the_ticket_on_a_low_rating_only(
    desk: dict[str, Any],
    sent_survey: Callable[..., Survey],
    low_rating_rule: Any,
    settle: Callable[..., Any],
    _case: str,
    rating: int,
    category: str,
) -> None:
    # given
    survey = sent_survey()
    # when
    settle(lambda: services.answer_survey(survey=survey, rating=rating))
    # then
    ticket = Ticket.objects.get(pk=survey.ticket_id)
    assert ticket.status_category == category
    fired = Execution.objects.filter(ticket=ticket, rule=low_rating_rule).count()
    told = list(
        Notification.objects.filter(recipient_user=desk["colleague"], ticket=ticket).values_list(
            "subject", flat=True
        )
    )
    if rating == 2:
        assert (fired, told) == (1, [f"{ticket.number} 差评"])
    else:
        assert (fired, told) == (0, [])


def test_a_low_rating_reopening_does_not_withdraw_the_answered_survey(
    sent_survey: Callable[..., Survey], low_rating_rule: Any, settle: Callable[..., Any]
) -> None:
    # given
    survey = sent_survey()
    # when
    settle(lambda: services.answer_survey(survey=survey, rating=1))
    # then
    survey.refresh_from_db()
    assert (survey.state, survey.rating) == ("answered", 1)


def test_a_contact_answers_their_own_tickets_survey_only(
    desk: dict[str, Any], sent_survey: Callable[..., Survey]
) -> None:
    """The portal answers as the signed-in contact: Bob's login cannot rate Alice's ticket."""
    # given
    survey = sent_survey()
    # when
    with pytest.raises(services.NotFound):
        services.answer_survey(survey=survey, actor=desk["contact_b"], rating=1)
    services.answer_survey(survey=survey, actor=desk["contact_a"], rating=4)
    # then
    assert Survey.objects.get(pk=survey.pk).rating == 4
    [event] = OutboxEvent.objects.filter(topic="survey.answered")
    assert (event.actor_id, event.payload["from_customer"]) == (desk["contact_a"].pk, True)


def test_the_mailed_link_carries_the_sites_address(
    make_ticket: MakeTicket, move: Move, alice_mail: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    monkeypatch.setenv("AFTERSALES_BASE_URL", "https://service.example.com/")
    ticket = make_ticket()
    move(ticket, "solved")
    survey = Survey.objects.get(ticket=ticket)
    # when
    services.send_survey(survey_id=survey.pk, now=survey.send_after)
    # then
    body = Delivery.objects.get(notification__event="survey").body
    assert f"https://service.example.com{services.survey_url(survey)}" in body


def test_the_database_keeps_one_default_settings_row() -> None:
    # given
    SurveySettings.objects.create(business_line=None, is_enabled=True)
    # when / then
    with pytest.raises(IntegrityError), transaction.atomic():
        SurveySettings.objects.create(business_line=None, is_enabled=False)
    assert SurveySettings.objects.count() == 1


def test_a_rule_on_a_changed_rating_ignores_a_comment_added_later(
    desk: dict[str, Any],
    sent_survey: Callable[..., Survey],
    low_rating_rule: Any,
    settle: Callable[..., Any],
) -> None:
    """With "satisfaction changed" in its conditions (as the demo's rule has), the rule fires
    for the rating and for a lower one, not for a comment added afterwards."""
    # given
    automation.update_rule(
        actor=desk["admin"],
        rule=low_rating_rule,
        values={
            "condition": {
                "all": [
                    {"field": "ticket.satisfaction", "op": "lte", "value": 2},
                    {"field": "ticket.satisfaction", "op": "changed"},
                ]
            }
        },
    )
    survey = sent_survey()
    # when
    settle(lambda: services.answer_survey(survey=survey, rating=2))
    settle(lambda: services.answer_survey(survey=survey, comment="Still noisy"))
    settle(lambda: services.answer_survey(survey=survey, rating=1))
    # then
    fired = Execution.objects.filter(ticket_id=survey.ticket_id, rule=low_rating_rule)
    assert fired.count() == 2
