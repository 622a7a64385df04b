"""Reads of surveys and their settings, already narrowed to what the viewer may see.

``survey_for_ticket(ticket)`` is for callers that hold a ticket fetched through a scoped
selector (the ticket page, the customer portal); the rest take the viewer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Avg, Count, Q, QuerySet

from aftersales.accounts import authz
from aftersales.accounts.models import BusinessLine
from aftersales.customers.models import Customer
from aftersales.surveys.models import Kind, Survey, SurveySettings
from aftersales.surveys.services import VIEW_SETTINGS, VIEW_SURVEY
from aftersales.tickets.models import Ticket
from aftersales.tickets.selectors import tickets_visible_to


def survey_for_ticket(ticket: Ticket) -> Survey | None:
    """The ticket's survey in any state, or None when none was scheduled."""
    return Survey.objects.filter(ticket_id=ticket.pk).first()


def settings_visible_to(viewer: Any) -> QuerySet[SurveySettings]:
    """Survey settings the viewer may read: their lines' rows; the default with "all"."""
    rows = SurveySettings.objects.select_related("business_line", "template")
    return authz.restrict(rows, viewer, VIEW_SETTINGS)


def surveys_visible_to(viewer: Any) -> QuerySet[Survey]:
    """Surveys of tickets the viewer sees, for holders of ``surveys.view_survey``."""
    tickets = tickets_visible_to(viewer).values("pk")
    surveys = Survey.objects.select_related("ticket", "customer", "business_line").filter(
        ticket_id__in=tickets
    )
    return authz.restrict(surveys, viewer, VIEW_SURVEY)


def answered_of_customer(viewer: Any, customer: Customer, *, limit: int = 20) -> list[Survey]:
    """The customer's answered surveys on tickets the viewer sees (anyone who sees the
    ticket sees its rating), newest first."""
    tickets = tickets_visible_to(viewer).filter(requester=customer).values("pk")
    return list(
        Survey.objects.filter(ticket_id__in=tickets, state=Survey.State.ANSWERED)
        .select_related("ticket")
        .order_by("-answered_at", "-pk")[:limit]
    )


@dataclass(frozen=True)
class LineFigures:
    """Satisfaction of one business line over a period."""

    business_line_id: int
    business_line: str
    sent: int
    answered: int
    response_rate: float | None
    csat_answers: int
    csat_percent: float | None
    csat_average: float | None
    nps_answers: int
    nps_score: float | None
    promoters: int
    passives: int
    detractors: int


def _percent(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def satisfaction_figures(
    viewer: Any, *, since: datetime, until: datetime, business_line_ids: list[int] | None = None
) -> list[LineFigures]:
    """CSAT (share of 4-5 among 1-5 answers, average), NPS (promoters 9-10 minus detractors
    0-6, in points) per line over the answers given in [since, until); the response rate is
    the share of the surveys sent in that period that have been answered. Two grouped queries
    over the viewer's surveys only, whatever the number of lines."""
    surveys = surveys_visible_to(viewer)
    if business_line_ids is not None:
        surveys = surveys.filter(business_line_id__in=business_line_ids)
    csat = Q(kind=Kind.CSAT)
    nps = Q(kind=Kind.NPS)
    answers = (
        surveys.filter(state=Survey.State.ANSWERED, answered_at__gte=since, answered_at__lt=until)
        .order_by()
        .values("business_line_id")
        .annotate(
            answered=Count("pk"),
            csat_answers=Count("pk", filter=csat),
            satisfied=Count("pk", filter=csat & Q(rating__gte=4)),
            csat_average=Avg("rating", filter=csat),
            nps_answers=Count("pk", filter=nps),
            promoters=Count("pk", filter=nps & Q(rating__gte=9)),
            detractors=Count("pk", filter=nps & Q(rating__lte=6)),
        )
    )
    sent_rows = (
        surveys.filter(sent_at__gte=since, sent_at__lt=until)
        .order_by()
        .values("business_line_id")
        .annotate(sent=Count("pk"), responded=Count("pk", filter=Q(state=Survey.State.ANSWERED)))
    )
    sent = {row["business_line_id"]: row["sent"] for row in sent_rows}
    responded = {row["business_line_id"]: row["responded"] for row in sent_rows}
    by_line = {row["business_line_id"]: row for row in answers}
    names = dict(
        BusinessLine.objects.filter(pk__in=set(by_line) | set(sent)).values_list("pk", "name")
    )
    figures = []
    for line_id in sorted(names, key=lambda pk: (names[pk], pk)):
        row = by_line.get(line_id, {})
        answered = int(row.get("answered", 0))
        csat_answers = int(row.get("csat_answers", 0))
        nps_answers = int(row.get("nps_answers", 0))
        promoters, detractors = int(row.get("promoters", 0)), int(row.get("detractors", 0))
        average = row.get("csat_average")
        promoter_share, detractor_share = (
            _percent(promoters, nps_answers),
            _percent(detractors, nps_answers),
        )
        figures.append(
            LineFigures(
                business_line_id=line_id,
                business_line=names[line_id],
                sent=int(sent.get(line_id, 0)),
                answered=answered,
                response_rate=_percent(int(responded.get(line_id, 0)), int(sent.get(line_id, 0))),
                csat_answers=csat_answers,
                csat_percent=_percent(int(row.get("satisfied", 0)), csat_answers),
                csat_average=round(float(average), 2) if average is not None else None,
                nps_answers=nps_answers,
                nps_score=(
                    round(promoter_share - detractor_share, 1)
                    if promoter_share is not None and detractor_share is not None
                    else None
                ),
                promoters=promoters,
                passives=nps_answers - promoters - detractors,
                detractors=detractors,
            )
        )
    return figures
