"""On a phone, the customer opens the survey link, taps 2 stars and adds a reason and a comment;
the rule "survey answered, rating at most 2 → reopen" reopens the ticket."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aftersales.surveys import services
from aftersales.surveys.models import Survey
from aftersales.tickets.models import Ticket

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def test_two_stars_on_a_phone_reopen_the_ticket(
    live_server: Any,
    browser_page: Callable[..., tuple[Any, Any]],
    sent_survey: Callable[..., Survey],
    low_rating_rule: Any,
) -> None:
    # given: the e-mailed link, with the second star preselected (as a star in the mail is)
    survey = sent_survey()
    page, log = browser_page(locale="en-US", viewport=PHONE)
    page.context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    # when: the customer opens it and taps
    page.goto(f"{live_server.url}{services.survey_url(survey)}?rating=2")
    preselected = page.locator("button[data-rating='2']")
    assert "button-primary" in (preselected.get_attribute("class") or "")
    assert Survey.objects.get(pk=survey.pk).state == "sent"
    preselected.click()
    page.get_by_text("You rated us 2 out of 5 stars.").wait_for()
    page.get_by_label("The solution").check()
    page.locator("#survey-comment").fill("The drum still rattles.")
    page.locator("[data-testid=survey-details] button[type=submit]").click()
    page.locator("blockquote").get_by_text("The drum still rattles.").wait_for()
    # then
    survey.refresh_from_db()
    assert (survey.rating, survey.reasons, survey.comment) == (
        2,
        ["result"],
        "The drum still rattles.",
    )
    ticket = Ticket.objects.get(pk=survey.ticket_id)
    assert (ticket.satisfaction, ticket.status_category) == (2, "open")
    fits = page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    assert fits is True
    assert log.csp_violations() == []
    assert log.errors() == []
