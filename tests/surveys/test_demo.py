"""The demo organisation's surveys: settings, the low-rating rule, one answered survey."""

from __future__ import annotations

import pytest

from aftersales.automation.models import Rule
from aftersales.core import demo
from aftersales.surveys.models import Survey, SurveySettings


@pytest.fixture(autouse=True)
def _seeded() -> None:
    """The demo bootstraps its own administrator and seeds: nothing before it."""


@pytest.mark.django_db
def test_demo_has_survey_settings_a_low_rating_rule_and_an_answered_survey() -> None:
    # when
    demo.load_demo()
    # then
    row = SurveySettings.objects.get()
    assert (row.business_line.code, row.delay_minutes, row.kind) == ("appliances", 30, "csat")
    assert [r["key"] for r in row.reasons][-1] == "on-time"
    rule = Rule.objects.get(triggers=["survey_answered"])
    assert rule.condition == {
        "all": [
            {"field": "ticket.satisfaction", "op": "lte", "value": 2},
            {"field": "ticket.satisfaction", "op": "changed", "value": None},
        ]
    }
    assert [action["type"] for action in rule.actions] == ["set_status", "notify"]
    [survey] = Survey.objects.all()
    assert (survey.state, survey.rating, survey.reasons) == (
        "answered",
        5,
        ["expertise", "on-time"],
    )
    assert survey.ticket.satisfaction == 5
    assert survey.ticket.status_category == "solved"
