"""The customer's survey page, the settings pages, and the satisfaction on staff pages."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.template import Context, Template
from django.test import Client, RequestFactory
from django.utils import translation

from aftersales.accounts.models import User
from aftersales.outbox.models import OutboxEvent
from aftersales.surveys import services
from aftersales.surveys.models import Survey, SurveySettings
from aftersales.tickets.models import Ticket
from tests.conftest import JsonClient

pytestmark = pytest.mark.django_db


def english() -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.cookies["django_language"] = "en"
    return client


def _text(response: Any) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


# --- The survey page ----------------------------------------------------------------------------


def test_opening_the_link_records_nothing(sent_survey: Callable[..., Survey]) -> None:
    """Mail scanners open links: a GET, even with ?rating=1, shows the question only."""
    # given
    survey = sent_survey()
    url = services.survey_url(survey)
    # when
    page = english().get(url)
    preselected = english().get(url + "?rating=1")
    # then
    assert page.status_code == 200
    assert "How satisfied are you with our service?" in _text(page)
    assert re.findall(r'name="rating" value="(\d+)"', page.content.decode()) == list("12345")
    assert "Tap your rating again to send it." in _text(preselected)
    assert Survey.objects.get(pk=survey.pk).state == "sent"
    assert OutboxEvent.objects.filter(topic="survey.answered").exists() is False


def test_one_tap_rates_then_the_customer_adds_reasons_and_a_comment(
    sent_survey: Callable[..., Survey],
) -> None:
    # given
    survey = sent_survey()
    url = services.survey_url(survey)
    client = english()
    # when
    tapped = client.post(url, {"rating": "2"})
    thanks = client.get(url)
    detailed = client.post(
        url, {"details": "1", "reasons": ["speed", "result"], "comment": "Took three visits"}
    )
    # then
    assert (tapped.status_code, tapped["Location"]) == (302, url + "#answer")
    assert "You rated us 2 out of 5 stars." in _text(thanks)
    assert detailed.status_code == 302
    survey.refresh_from_db()
    assert (survey.rating, survey.reasons, survey.comment) == (
        2,
        ["speed", "result"],
        "Took three visits",
    )
    assert Ticket.objects.get(pk=survey.ticket_id).satisfaction == 2


def test_a_bad_rating_is_shown_next_to_the_stars(sent_survey: Callable[..., Survey]) -> None:
    # given
    survey = sent_survey()
    # when
    response = english().post(services.survey_url(survey), {"rating": "9"})
    # then
    assert response.status_code == 422
    assert "Choose a rating from 1 to 5." in _text(response)
    assert Survey.objects.get(pk=survey.pk).state == "sent"


def test_the_page_speaks_the_customers_language(sent_survey: Callable[..., Survey]) -> None:
    """Without a language chosen in this browser, the customer's own (Chinese by default)."""
    # given
    survey = sent_survey()
    # when
    response = Client().get(services.survey_url(survey))
    # then
    assert survey.language == "zh-hans"
    assert 'lang="zh-Hans"' in response.content.decode()


def test_an_expired_link_says_so(sent_survey: Callable[..., Survey]) -> None:
    # given
    survey = sent_survey()
    url = services.survey_url(survey)
    # when
    with time_machine.travel(survey.expires_at + timedelta(seconds=1), tick=False):
        shown = english().get(url)
        posted = english().post(url, {"rating": "5"})
    # then
    assert (shown.status_code, posted.status_code) == (410, 410)
    assert "This link has expired" in _text(shown)
    assert Survey.objects.get(pk=survey.pk).rating is None


def test_a_nps_survey_offers_0_to_10(
    desk: dict[str, Any], sent_survey: Callable[..., Survey]
) -> None:
    # given
    services.create_settings(
        actor=desk["admin"], business_line=desk["line_a"], values={"kind": "nps"}
    )
    survey = sent_survey()
    url = services.survey_url(survey)
    # when
    page = english().get(url)
    english().post(url, {"rating": "0"})
    # then
    assert re.findall(r'name="rating" value="(\d+)"', page.content.decode()) == [
        str(n) for n in range(11)
    ]
    assert Survey.objects.get(pk=survey.pk).rating == 0


@pytest.mark.parametrize("token", ["nonsense", "WzEsImFiYyJd:forged", "settings-x"])
def test_an_unknown_token_is_not_found(token: str) -> None:
    assert english().get(f"/survey/{token}/").status_code == 404


# --- Staff pages -------------------------------------------------------------------------------


def test_the_ticket_page_shows_the_rating(
    desk: dict[str, Any],
    sent_survey: Callable[..., Survey],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    survey = sent_survey()
    services.answer_survey(survey=survey, rating=4, comment="Polite engineer", reasons=["attitude"])
    ticket = Ticket.objects.get(pk=survey.ticket_id)
    # when
    page = login_client(desk["insider"]).get(
        f"/tickets/{ticket.number}/", HTTP_ACCEPT_LANGUAGE="en"
    )
    # then
    assert page.status_code == 200
    section = _text(page).split('data-testid="ticket-satisfaction"')[1].split("</section>")[0]
    assert 'data-testid="satisfaction-rating">4</strong> / 5' in section
    assert "Friendliness" in section
    assert "Polite engineer" in section


def test_the_customer_360_lists_ratings_on_tickets_the_viewer_sees(
    desk: dict[str, Any], sent_survey: Callable[..., Survey]
) -> None:
    """The satisfaction section of the customer page: the manager sees Alice's rating, an
    agent of another line sees none."""
    # given
    survey = sent_survey()
    services.answer_survey(survey=survey, rating=2, comment="Slow")
    section = Template("{% load surveys %}{% customer_satisfaction customer %}")
    request = RequestFactory().get("/")

    def render(user: User) -> str:
        request.user = user
        with translation.override("en"):
            return section.render(Context({"request": request, "customer": desk["alice"]}))

    # when
    manager, outsider = render(desk["manager"]), render(desk["outsider"])
    # then
    assert survey.ticket.number in manager
    assert "<strong>2</strong> / 5" in manager
    assert survey.ticket.number not in outsider
    assert "No ratings on tickets that you can see." in outsider


def test_settings_pages_need_the_permission(
    desk: dict[str, Any], login_client: Callable[[User], JsonClient]
) -> None:
    # given
    row = services.create_settings(actor=desk["admin"], business_line=desk["line_a"], values={})
    client = login_client(desk["insider"])
    # when / then
    assert client.get("/survey/settings/").status_code == 403
    assert client.get("/survey/settings/new/").status_code == 403
    assert client.post(f"/survey/settings/{row.pk}/", {"kind": "nps"}).status_code == 404
    assert Client().get("/survey/settings/").status_code == 302
    assert SurveySettings.objects.get(pk=row.pk).kind == "csat"


def test_an_administrator_saves_settings_and_sees_errors_next_to_the_field(
    desk: dict[str, Any], login_client: Callable[[User], JsonClient]
) -> None:
    # given
    client = login_client(desk["admin"])
    form = {
        "business_line": desk["line_a"].pk,
        "is_enabled": "on",
        "kind": "csat",
        "delay": "2",
        "delay_unit": "hours",
        "link_valid_days": "10",
        "editable_days": "3",
        "asks_comment": "on",
        "channels": ["email"],
        "reasons": "speed | 速度 | Speed\nPrice! | 价格 | Price",
    }
    # when
    refused = client.post("/survey/settings/new/", form, HTTP_ACCEPT_LANGUAGE="en")
    saved = client.post(
        "/survey/settings/new/",
        {**form, "reasons": "speed | 速度 | Speed\nprice | 价格 | Price"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    listed = client.get("/survey/settings/", HTTP_ACCEPT_LANGUAGE="en")
    # then
    assert refused.status_code == 422
    after_reasons = _text(refused).split('name="reasons"')[1].split('name="template"')[0]
    assert "Enter a key of lower-case letters, digits, - and _." in after_reasons
    assert saved.status_code == 302
    row = SurveySettings.objects.get(business_line=desk["line_a"])
    assert (row.delay_minutes, row.link_valid_days, row.editable_days) == (120, 10, 3)
    assert [r["key"] for r in row.reasons] == ["speed", "price"]
    assert "East" in _text(listed)


def test_a_stale_settings_form_is_refused_and_says_why(
    desk: dict[str, Any], login_client: Callable[[User], JsonClient]
) -> None:
    # given: opened at version 1, changed by someone else since
    row = services.create_settings(actor=desk["admin"], business_line=desk["line_a"], values={})
    services.update_settings(actor=desk["admin"], settings=row, values={"delay_minutes": 5})
    client = login_client(desk["admin"])
    form = {
        "is_enabled": "on",
        "kind": "nps",
        "delay": "1",
        "delay_unit": "hours",
        "link_valid_days": "14",
        "editable_days": "7",
        "channels": ["email", "sms"],
        "reasons": "",
        "version": "1",
    }
    # when
    response = client.post(f"/survey/settings/{row.pk}/", form, HTTP_ACCEPT_LANGUAGE="en")
    # then
    assert response.status_code == 422
    assert "Someone changed these settings since you opened them." in _text(response)
    row.refresh_from_db()
    assert (row.kind, row.delay_minutes, row.version) == ("csat", 5, 2)


def test_the_answers_page_shows_figures_and_answers_in_the_viewers_scope(
    desk: dict[str, Any],
    sent_survey: Callable[..., Survey],
    login_client: Callable[[User], JsonClient],
    make_user: Callable[..., User],
) -> None:
    # given
    for rating, comment in ((5, "Great"), (1, "Never came back")):
        services.answer_survey(survey=sent_survey(), rating=rating, comment=comment)
    west_manager = make_user(
        "west-manager", role="service-manager", scope="business_lines", lines=[desk["line_b"]]
    )
    # when
    manager = login_client(desk["manager"]).get("/survey/responses/", HTTP_ACCEPT_LANGUAGE="en")
    low = login_client(desk["manager"]).get("/survey/responses/?rating=1")
    west = login_client(west_manager).get("/survey/responses/", HTTP_ACCEPT_LANGUAGE="en")
    agent = login_client(desk["insider"]).get("/survey/responses/")
    # then
    figures = _text(manager).split('data-testid="satisfaction-figures"')[1].split("</table>")[0]
    assert (
        "<td>East</td><td>2</td><td>2</td> <td>100.0%</td> <td>50.0%</td> <td>3.0</td>" in figures
    )
    assert "Never came back" in _text(manager)
    assert ("Never came back" in _text(low), "Great" in _text(low)) == (True, False)
    assert "No answers in this period that you can see." in _text(west)
    assert "Never came back" not in _text(west)
    assert agent.status_code == 403
