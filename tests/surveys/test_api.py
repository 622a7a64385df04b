"""The survey API: settings, survey lists and figures by scope, and the public answer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from aftersales.accounts.models import User
from aftersales.customers import services as customer_services
from aftersales.outbox.models import OutboxEvent
from aftersales.surveys import services
from aftersales.surveys.models import Survey, SurveySettings
from aftersales.tickets import services as ticket_services
from aftersales.tickets.models import Ticket, TicketStatus
from tests.conftest import JsonClient

pytestmark = pytest.mark.django_db

TokenClient = Callable[..., JsonClient]


@pytest.fixture
def west_survey(desk: dict[str, Any], make_type: Callable[..., Any]) -> Survey:
    """A sent survey of a solved ticket of line B (West)."""
    west = make_type(line=desk["line_b"], key="install")
    carol = customer_services.create_customer(
        actor=desk["admin"], name="Carol", business_line=desk["line_b"]
    )
    ticket = ticket_services.create_ticket(
        actor=desk["admin"],
        ticket_type=west,
        requester=carol,
        subject="Install the dryer",
        team=desk["team_b"],
    )
    solved = TicketStatus.objects.get(ticket_type=west, key="solved")
    Ticket.objects.filter(pk=ticket.pk).update(status=solved, status_category="solved")
    survey = services.schedule_survey(ticket=Ticket.objects.get(pk=ticket.pk))
    assert survey is not None
    Survey.objects.filter(pk=survey.pk).update(send_after=timezone.now())
    services.send_survey(survey_id=survey.pk)
    return Survey.objects.get(pk=survey.pk)


@pytest.fixture
def west_admin(desk: dict[str, Any], make_user: Callable[..., User]) -> User:
    """An administrator whose grant reaches line B only."""
    return make_user("west-admin", role="admin", scope="business_lines", lines=[desk["line_b"]])


# --- Settings ----------------------------------------------------------------------------------


def test_an_administrator_adds_and_changes_settings_with_if_match(
    desk: dict[str, Any], token_client: TokenClient
) -> None:
    # given
    client = token_client(desk["admin"])
    # when
    created = client.post_json(
        "/api/v1/survey-settings",
        {
            "business_line_id": desk["line_a"].pk,
            "kind": "nps",
            "delay_minutes": 120,
            "reasons": [{"key": "speed", "label_zh": "速度", "label_en": "Speed"}],
        },
    )
    row_id = created.json()["id"]
    stale = client.patch_json(
        f"/api/v1/survey-settings/{row_id}", {"delay_minutes": 5}, HTTP_IF_MATCH='W/"7"'
    )
    changed = client.patch_json(
        f"/api/v1/survey-settings/{row_id}",
        {"delay_minutes": 5},
        HTTP_IF_MATCH=created["ETag"],
    )
    # then
    assert created.status_code == 201
    assert (created.json()["kind"], created.json()["delay_minutes"]) == ("nps", 120)
    assert stale.status_code == 412
    assert changed.status_code == 200
    assert (changed.json()["delay_minutes"], changed["ETag"]) == (5, 'W/"2"')
    topics = OutboxEvent.objects.filter(topic__startswith="survey_settings")
    assert sorted(topics.values_list("topic", flat=True)) == [
        "survey_settings.created",
        "survey_settings.updated",
    ]


@pytest.mark.parametrize(
    ("_case", "body", "field"),
    [
        ("negative delay", {"delay_minutes": -1}, "delay_minutes"),
        ("delay over 30 days", {"delay_minutes": 43201}, "delay_minutes"),
        ("no link validity", {"link_valid_days": 0}, "link_valid_days"),
        ("unknown kind", {"kind": "ces"}, "kind"),
        ("bad reason key", {"reasons": [{"key": "Speed!", "label_zh": "a", "label_en": "b"}]},
         "reasons.0.key"),
        ("reason without label", {"reasons": [{"key": "speed", "label_zh": "速度"}]},
         "reasons.0.label_en"),
        ("staff template", {"template_id": 999999}, "template"),
        ("no channel", {"channels": []}, "channels"),
        ("wechat", {"channels": ["wechat"]}, "channels"),
    ],
)  # fmt: skip
def test_bad_settings_are_refused_as_problem_json_naming_the_field(
    desk: dict[str, Any], token_client: TokenClient, _case: str, body: dict[str, Any], field: str
) -> None:
    # given
    client = token_client(desk["admin"])
    # when
    response = client.post_json("/api/v1/survey-settings", body)
    # then
    assert response.status_code == 422
    assert response["Content-Type"].startswith("application/problem+json")
    assert [error["field"] for error in response.json()["errors"]] == [field]
    assert SurveySettings.objects.count() == 0


def test_a_line_scoped_administrator_reaches_only_their_lines_settings(
    desk: dict[str, Any], token_client: TokenClient, west_admin: User
) -> None:
    # given
    default = services.create_settings(actor=desk["admin"], business_line=None, values={})
    east = services.create_settings(actor=desk["admin"], business_line=desk["line_a"], values={})
    client = token_client(west_admin)
    # when
    listed = client.get("/api/v1/survey-settings")
    east_read = client.get(f"/api/v1/survey-settings/{east.pk}")
    east_change = client.patch_json(f"/api/v1/survey-settings/{east.pk}", {"kind": "nps"})
    default_change = client.patch_json(f"/api/v1/survey-settings/{default.pk}", {"kind": "nps"})
    new_default = client.post_json("/api/v1/survey-settings", {"business_line_id": None})
    for_east = client.post_json("/api/v1/survey-settings", {"business_line_id": desk["line_a"].pk})
    for_west = client.post_json("/api/v1/survey-settings", {"business_line_id": desk["line_b"].pk})
    # then
    assert listed.json() == []
    assert (east_read.status_code, east_change.status_code, default_change.status_code) == (
        404,
        404,
        404,
    )
    assert (new_default.status_code, for_east.status_code) == (403, 403)
    assert for_east.json()["errors"][0]["field"] == "business_line"
    assert for_west.status_code == 201
    assert SurveySettings.objects.filter(kind="nps").exists() is False


def test_an_agent_cannot_change_survey_settings(
    desk: dict[str, Any], token_client: TokenClient
) -> None:
    # given
    client = token_client(desk["insider"])
    # when
    response = client.post_json("/api/v1/survey-settings", {"business_line_id": None})
    # then
    assert response.status_code == 403
    assert SurveySettings.objects.count() == 0


# --- Surveys -----------------------------------------------------------------------------------


def test_survey_lists_follow_the_viewers_scope(
    desk: dict[str, Any],
    token_client: TokenClient,
    sent_survey: Callable[..., Survey],
    west_survey: Survey,
    make_user: Callable[..., User],
    api_client: JsonClient,
) -> None:
    """The manager of everything sees both; West's manager West's; an agent without the
    permission nothing; no login is a 401."""
    # given
    east = sent_survey()
    services.answer_survey(survey=east, rating=5)
    west_manager = make_user(
        "west-manager", role="service-manager", scope="business_lines", lines=[desk["line_b"]]
    )

    def ids(user: User) -> list[int]:
        return [item["id"] for item in token_client(user).get("/api/v1/surveys").json()["items"]]

    # when / then
    assert ids(desk["manager"]) == [east.pk, west_survey.pk]
    assert ids(west_manager) == [west_survey.pk]
    assert ids(desk["insider"]) == []
    assert api_client.get("/api/v1/surveys").status_code == 401
    answered = token_client(desk["manager"]).get("/api/v1/surveys?state=answered").json()
    assert [(item["id"], item["rating"]) for item in answered["items"]] == [(east.pk, 5)]
    alice = token_client(desk["manager"]).get(f"/api/v1/surveys?customer_id={desk['alice'].pk}")
    assert [item["id"] for item in alice.json()["items"]] == [east.pk]
    bad = token_client(desk["manager"]).get("/api/v1/surveys?state=maybe")
    assert (bad.status_code, bad.json()["errors"][0]["field"]) == (422, "state")


def test_the_list_costs_the_same_queries_for_few_and_many_surveys(
    desk: dict[str, Any],
    login_client: Callable[[User], JsonClient],
    sent_survey: Callable[..., Survey],
    django_assert_num_queries: Any,
) -> None:
    # given
    client = login_client(desk["manager"])
    sent_survey()
    with django_assert_num_queries(4) as few:
        client.get("/api/v1/surveys")
    for _number in range(3):
        sent_survey()
    # when / then
    with django_assert_num_queries(len(few.captured_queries)):
        many = client.get("/api/v1/surveys")
    assert len(many.json()["items"]) == 4


def test_a_tickets_survey_is_read_by_those_who_see_the_ticket(
    desk: dict[str, Any], token_client: TokenClient, sent_survey: Callable[..., Survey]
) -> None:
    # given
    survey = sent_survey()
    url = f"/api/v1/tickets/{survey.ticket_id}/survey"
    # when
    insider = token_client(desk["insider"]).get(url)
    outsider = token_client(desk["outsider"]).get(url)
    # then
    assert (insider.status_code, insider.json()["id"], insider.json()["state"]) == (
        200,
        survey.pk,
        "sent",
    )
    assert outsider.status_code == 404


def test_figures_per_line_for_the_viewers_lines(
    desk: dict[str, Any],
    token_client: TokenClient,
    sent_survey: Callable[..., Survey],
    west_survey: Survey,
    make_user: Callable[..., User],
) -> None:
    # given
    for rating in (5, 1):
        services.answer_survey(survey=sent_survey(), rating=rating)
    services.answer_survey(survey=west_survey, rating=4)
    west_manager = make_user(
        "west-manager", role="service-manager", scope="business_lines", lines=[desk["line_b"]]
    )
    # when
    everything = token_client(desk["manager"]).get("/api/v1/surveys/figures").json()
    west = token_client(west_manager).get("/api/v1/surveys/figures").json()
    backwards = token_client(desk["manager"]).get(
        "/api/v1/surveys/figures?since=2026-11-02T00:00:00Z&until=2026-11-01T00:00:00Z"
    )
    # then
    assert [
        (line["business_line"], line["answered"], line["csat_percent"], line["csat_average"])
        for line in everything["lines"]
    ] == [("East", 2, 50.0, 3.0), ("West", 1, 100.0, 4.0)]
    assert [line["business_line"] for line in west["lines"]] == ["West"]
    assert (backwards.status_code, backwards.json()["errors"][0]["field"]) == (422, "since")


# --- The public answer -------------------------------------------------------------------------


def test_the_customer_answers_by_token_without_login(
    api_client: JsonClient, sent_survey: Callable[..., Survey]
) -> None:
    # given
    survey = sent_survey()
    token = services.token_for(survey)
    # when
    question = api_client.get(f"/api/v1/surveys/{token}?lang=en")
    answered = api_client.post_json(
        f"/api/v1/surveys/{token}/response",
        {"rating": 2, "comment": "Took three visits", "reasons": ["result"]},
    )
    # then
    assert question.status_code == 200
    assert (question.json()["scale_min"], question.json()["scale_max"]) == (1, 5)
    assert question.json()["reasons_offered"][0] == {"key": "speed", "label": "Speed of response"}
    assert answered.status_code == 200
    assert (answered.json()["state"], answered.json()["rating"]) == ("answered", 2)
    assert Ticket.objects.get(pk=survey.ticket_id).satisfaction == 2


@pytest.mark.parametrize(
    ("_case", "body", "field"),
    [
        ("no rating", {"comment": "Fine"}, "rating"),
        ("six stars", {"rating": 6}, "rating"),
        ("unknown reason", {"rating": 4, "reasons": ["price"]}, "reasons"),
        ("rating as text", {"rating": "five"}, "rating"),
    ],
)
def test_a_bad_public_answer_is_problem_json_naming_the_field(
    api_client: JsonClient,
    sent_survey: Callable[..., Survey],
    _case: str,
    body: dict[str, Any],
    field: str,
) -> None:
    # given
    survey = sent_survey()
    # when
    response = api_client.post_json(f"/api/v1/surveys/{services.token_for(survey)}/response", body)
    # then
    assert response.status_code == 422
    assert response["Content-Type"].startswith("application/problem+json")
    assert field in [error["field"] for error in response.json()["errors"]]
    assert Survey.objects.get(pk=survey.pk).state == "sent"


def test_a_wrong_or_expired_token_answers_nothing(
    api_client: JsonClient, sent_survey: Callable[..., Survey]
) -> None:
    # given
    survey = sent_survey()
    token = services.token_for(survey)
    # when
    wrong = api_client.post_json("/api/v1/surveys/WzEsImFiYyJd:forged/response", {"rating": 5})
    with time_machine.travel(survey.expires_at + timedelta(seconds=1), tick=False):
        expired = api_client.post_json(f"/api/v1/surveys/{token}/response", {"rating": 5})
    # then
    assert wrong.status_code == 404
    assert (expired.status_code, expired.json()["code"]) == (410, "link_expired")
    assert Survey.objects.get(pk=survey.pk).rating is None


def test_an_agent_with_the_permission_records_a_phone_answer(
    desk: dict[str, Any],
    token_client: TokenClient,
    sent_survey: Callable[..., Survey],
    make_user: Callable[..., User],
) -> None:
    """Agents do not hold surveys.record_response; a manager does not either by default; an
    administrator does; someone outside the ticket's scope gets a 404."""
    # given
    survey = sent_survey()
    url = f"/api/v1/tickets/{survey.ticket_id}/survey/response"
    # when
    agent = token_client(desk["insider"]).post_json(url, {"rating": 1})
    outsider = token_client(desk["outsider"]).post_json(url, {"rating": 1})
    admin = token_client(desk["admin"]).post_json(url, {"rating": 3, "comment": "By phone"})
    stale = token_client(desk["admin"]).post_json(url, {"rating": 4}, HTTP_IF_MATCH='W/"1"')
    # then
    assert (agent.status_code, outsider.status_code) == (403, 404)
    assert (admin.status_code, admin.json()["rating"], admin.json()["comment"]) == (
        200,
        3,
        "By phone",
    )
    assert stale.status_code == 412
    event = OutboxEvent.objects.get(topic="survey.answered")
    assert (event.actor_id, event.payload["from_customer"]) == (desk["admin"].pk, False)
    assert Survey.objects.get(pk=survey.pk).rating == 3


def test_the_openapi_document_describes_the_survey_endpoints(api_client: JsonClient) -> None:
    # when
    document = api_client.get("/api/v1/openapi.json").json()
    # then
    paths = document["paths"]
    assert "/api/v1/surveys/{token}/response" in paths
    assert "/api/v1/surveys/figures" in paths
    assert paths["/api/v1/surveys/{token}/response"]["post"].get("security") in (None, [])
    assert paths["/api/v1/survey-settings/{settings_id}"]["patch"]["security"]
