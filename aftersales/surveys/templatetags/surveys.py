"""The satisfaction sections of the ticket page and the customer 360 page."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils import translation

from aftersales.customers.models import Customer
from aftersales.surveys import selectors
from aftersales.surveys.models import Survey
from aftersales.tickets.models import Ticket

register = template.Library()


def _labels(survey: Survey) -> list[str]:
    zh = (translation.get_language() or "").lower().startswith("zh")
    return [
        (r.get("label_zh") if zh else r.get("label_en")) or r["key"]
        for r in survey.reasons_offered
        if r["key"] in survey.reasons
    ]


@register.inclusion_tag("surveys/_ticket_satisfaction.html")
def ticket_satisfaction(ticket: Ticket) -> dict[str, Any]:
    """The ticket's survey: its state, the rating, comment and reasons (the page already
    checked that the viewer sees the ticket)."""
    survey = selectors.survey_for_ticket(ticket)
    return {
        "survey": survey,
        "reasons": _labels(survey) if survey is not None else [],
        "high": survey.scale[1] if survey is not None else 5,
    }


@register.inclusion_tag("surveys/_customer_satisfaction.html", takes_context=True)
def customer_satisfaction(context: dict[str, Any], customer: Customer) -> dict[str, Any]:
    """The customer's answered surveys on tickets the viewer sees."""
    request = context.get("request")
    viewer = getattr(request, "user", None)
    surveys = selectors.answered_of_customer(viewer, customer) if viewer is not None else []
    return {"rows": [{"survey": s, "reasons": _labels(s), "high": s.scale[1]} for s in surveys]}
