"""API of satisfaction surveys: settings, surveys and answers, figures, and the public answer.

Settings are configuration (``surveys.*_surveysettings``, a line-scoped grant reaches its
lines' rows; the default row needs "all"); PATCH takes If-Match and answers 412 when stale.
Surveys are listed for holders of ``surveys.view_survey`` among the tickets they see; a
ticket's own survey for anyone who sees the ticket. ``/surveys/{token}`` and its
``/response`` need no login: the signed token names the one survey they act on.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings as django_settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict

from aftersales.accounts.models import BusinessLine
from aftersales.api.common import etag_of, expected_version
from aftersales.api.pagination import paginate
from aftersales.core.errors import DomainError, NotFound
from aftersales.surveys import selectors, services
from aftersales.surveys.models import Survey, SurveySettings
from aftersales.tickets.selectors import tickets_visible_to

router = Router(tags=["surveys"])


# --- Schemas -----------------------------------------------------------------------------------


class ReasonSchema(Schema):
    key: str
    label_zh: str
    label_en: str


class SettingsOut(Schema):
    id: int
    business_line_id: int | None
    is_enabled: bool
    delay_minutes: int
    link_valid_days: int
    editable_days: int
    kind: str
    reasons: list[ReasonSchema]
    asks_comment: bool
    channels: list[str]
    template_id: int | None
    version: int
    created_at: datetime
    updated_at: datetime


class SettingsIn(Schema):
    model_config = ConfigDict(extra="forbid")

    business_line_id: int | None = None
    is_enabled: bool = True
    delay_minutes: int = 60
    link_valid_days: int = 14
    editable_days: int = 7
    kind: str = "csat"
    reasons: list[dict[str, Any]] | None = None
    asks_comment: bool = True
    channels: list[str] | None = None
    template_id: int | None = None


class SettingsPatch(Schema):
    model_config = ConfigDict(extra="forbid")

    is_enabled: bool | None = None
    delay_minutes: int | None = None
    link_valid_days: int | None = None
    editable_days: int | None = None
    kind: str | None = None
    reasons: list[dict[str, Any]] | None = None
    asks_comment: bool | None = None
    channels: list[str] | None = None
    template_id: int | None = None


class SurveyOut(Schema):
    id: int
    ticket_id: int
    ticket_number: str
    business_line_id: int
    customer_id: int
    state: str
    kind: str
    rating: int | None
    comment: str
    reasons: list[str]
    send_after: datetime
    sent_at: datetime | None
    expires_at: datetime
    answered_at: datetime | None
    answer_updated_at: datetime | None
    editable_until: datetime | None
    version: int


class SurveyPage(Schema):
    items: list[SurveyOut]
    next_cursor: str | None


class SurveyListQuery(Schema):
    state: str | None = None
    business_line_id: int | None = None
    customer_id: int | None = None
    cursor: str | None = None
    limit: int | None = None


class ReasonOption(Schema):
    key: str
    label: str


class PublicSurveyOut(Schema):
    """What the customer's app shows: the question and the current answer, no internals."""

    ticket_number: str
    ticket_subject: str
    kind: str
    scale_min: int
    scale_max: int
    reasons_offered: list[ReasonOption]
    asks_comment: bool
    state: str
    is_editable: bool
    rating: int | None
    comment: str
    reasons: list[str]
    editable_until: datetime | None
    language: str


class ResponseIn(Schema):
    model_config = ConfigDict(extra="forbid")

    rating: int | None = None
    comment: str | None = Field(None, max_length=2000)
    reasons: list[str] | None = Field(None, max_length=20)


class FiguresQuery(Schema):
    since: datetime | None = None
    until: datetime | None = None
    business_line_id: list[int] | None = None


class LineFiguresOut(Schema):
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


class FiguresOut(Schema):
    since: datetime
    until: datetime
    lines: list[LineFiguresOut]


# --- Helpers -----------------------------------------------------------------------------------


def _settings_out(row: SurveySettings) -> dict[str, Any]:
    return {
        "id": row.pk,
        "business_line_id": row.business_line_id,
        "is_enabled": row.is_enabled,
        "delay_minutes": row.delay_minutes,
        "link_valid_days": row.link_valid_days,
        "editable_days": row.editable_days,
        "kind": row.kind,
        "reasons": row.reasons,
        "asks_comment": row.asks_comment,
        "channels": row.channels,
        "template_id": row.template_id,
        "version": row.version,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def _survey_out(survey: Survey) -> dict[str, Any]:
    return {
        "id": survey.pk,
        "ticket_id": survey.ticket_id,
        "ticket_number": survey.ticket.number,
        "business_line_id": survey.business_line_id,
        "customer_id": survey.ticket.requester_id,
        "state": survey.state,
        "kind": survey.kind,
        "rating": survey.rating,
        "comment": survey.comment,
        "reasons": survey.reasons,
        "send_after": survey.send_after,
        "sent_at": survey.sent_at,
        "expires_at": survey.expires_at,
        "answered_at": survey.answered_at,
        "answer_updated_at": survey.answer_updated_at,
        "editable_until": survey.editable_until,
        "version": survey.version,
    }


def _public_out(survey: Survey) -> dict[str, Any]:
    zh = (translation.get_language() or "").lower().startswith("zh")
    low, high = survey.scale
    return {
        "ticket_number": survey.ticket.number,
        "ticket_subject": survey.ticket.subject,
        "kind": survey.kind,
        "scale_min": low,
        "scale_max": high,
        "reasons_offered": [
            {"key": r["key"], "label": (r["label_zh"] if zh else r["label_en"]) or r["key"]}
            for r in survey.reasons_offered
        ],
        "asks_comment": survey.asks_comment,
        "state": survey.state,
        "is_editable": services.is_editable(survey),
        "rating": survey.rating,
        "comment": survey.comment,
        "reasons": survey.reasons,
        "editable_until": survey.editable_until,
        "language": survey.language,
    }


def _settings(request: HttpRequest, pk: int) -> SurveySettings:
    return get_object_or_404(selectors.settings_visible_to(request.user), pk=pk)


def _line(pk: int | None) -> BusinessLine | None:
    if pk is None:
        return None
    line = BusinessLine.objects.filter(pk=pk, is_active=True).first()
    if line is None:
        raise DomainError(
            "unknown_reference",
            field="business_line_id",
            message=_("The referenced object does not exist."),
        )
    return line


def _values(data: dict[str, Any]) -> dict[str, Any]:
    if "template_id" in data:
        data["template"] = data.pop("template_id")
    return data


# --- Settings ----------------------------------------------------------------------------------


@router.get("/survey-settings", response=list[SettingsOut], summary="Survey settings per line")
def list_settings(request: HttpRequest) -> list[dict[str, Any]]:
    return [_settings_out(row) for row in selectors.settings_visible_to(request.user)]


@router.post("/survey-settings", response={201: SettingsOut}, summary="Add a line's settings")
def create_settings(
    request: HttpRequest, payload: SettingsIn, response: HttpResponse
) -> Status[dict[str, Any]]:
    data = payload.dict(exclude_unset=True)
    line = _line(data.pop("business_line_id", None))
    row = services.create_settings(actor=request.user, business_line=line, values=_values(data))
    response["ETag"] = etag_of(row.version)
    return Status(201, _settings_out(row))


@router.get("/survey-settings/{settings_id}", response=SettingsOut)
def get_settings(request: HttpRequest, settings_id: int, response: HttpResponse) -> dict[str, Any]:
    row = _settings(request, settings_id)
    response["ETag"] = etag_of(row.version)
    return _settings_out(row)


@router.patch(
    "/survey-settings/{settings_id}",
    response=SettingsOut,
    summary="Change survey settings (send If-Match to refuse stale edits)",
)
def update_settings(
    request: HttpRequest, settings_id: int, payload: SettingsPatch, response: HttpResponse
) -> dict[str, Any]:
    row = _settings(request, settings_id)
    changes = payload.dict(exclude_unset=True)
    for name, value in changes.items():
        if value is None and name not in {"template_id", "reasons"}:
            raise DomainError(
                "null_not_allowed", field=name, message=_("This field cannot be null.")
            )
    row = services.update_settings(
        actor=request.user,
        settings=row,
        values=_values(changes),
        expected_version=expected_version(request),
    )
    response["ETag"] = etag_of(row.version)
    return _settings_out(row)


@router.delete("/survey-settings/{settings_id}", response={204: None})
def delete_settings(request: HttpRequest, settings_id: int) -> Status[None]:
    services.delete_settings(actor=request.user, settings=_settings(request, settings_id))
    return Status(204, None)


# --- Surveys -----------------------------------------------------------------------------------


@router.get("/surveys", response=SurveyPage, summary="Surveys and their answers, newest first")
def list_surveys(request: HttpRequest, query: Query[SurveyListQuery]) -> dict[str, Any]:
    surveys = selectors.surveys_visible_to(request.user)
    if query.state is not None:
        if query.state not in Survey.State.values:
            raise DomainError(
                "invalid_choice",
                field="state",
                message=_("Choose one of: %(choices)s."),
                params={"choices": ", ".join(Survey.State.values)},
            )
        surveys = surveys.filter(state=query.state)
    if query.business_line_id is not None:
        surveys = surveys.filter(business_line_id=query.business_line_id)
    if query.customer_id is not None:
        # Through the ticket: a merged customer's tickets move to the survivor.
        surveys = surveys.filter(ticket__requester_id=query.customer_id)
    page = paginate(surveys, cursor=query.cursor, limit=query.limit, descending=True)
    return {"items": [_survey_out(s) for s in page.items], "next_cursor": page.next_cursor}


@router.get(
    "/surveys/figures",
    response=FiguresOut,
    summary="CSAT, average rating, NPS and response rate per business line over a period",
)
def figures(request: HttpRequest, query: Query[FiguresQuery]) -> dict[str, Any]:
    until = query.until or timezone.now()
    since = query.since or until - timedelta(days=30)
    if since >= until:
        raise DomainError(
            "invalid_period", field="since", message=_("Start the period before its end.")
        )
    lines = selectors.satisfaction_figures(
        request.user, since=since, until=until, business_line_ids=query.business_line_id
    )
    return {"since": since, "until": until, "lines": [line.__dict__ for line in lines]}


@router.get("/tickets/{ticket_id}/survey", response=SurveyOut, summary="The ticket's survey")
def ticket_survey(request: HttpRequest, ticket_id: int) -> dict[str, Any]:
    ticket = get_object_or_404(tickets_visible_to(request.user), pk=ticket_id)
    survey = selectors.survey_for_ticket(ticket)
    if survey is None:
        raise NotFound("not_found")
    return _survey_out(survey)


@router.post(
    "/tickets/{ticket_id}/survey/response",
    response=SurveyOut,
    summary="Record the customer's answer given on the phone (send If-Match to refuse stale)",
)
def record_response(
    request: HttpRequest, ticket_id: int, payload: ResponseIn, response: HttpResponse
) -> dict[str, Any]:
    ticket = get_object_or_404(tickets_visible_to(request.user), pk=ticket_id)
    survey = selectors.survey_for_ticket(ticket)
    if survey is None:
        raise NotFound("not_found")
    survey = services.answer_survey(
        survey=survey,
        actor=request.user,
        expected_version=expected_version(request),
        **payload.dict(),
    )
    response["ETag"] = etag_of(survey.version)
    return _survey_out(Survey.objects.select_related("ticket").get(pk=survey.pk))


# --- The customer's side, by signed token ------------------------------------------------------


def _by_token(token: str) -> Survey:
    survey = services.survey_for_token(token)
    if services.is_expired(survey):
        raise services.LinkExpired("link_expired")
    return survey


@router.get(
    "/surveys/{token}",
    response=PublicSurveyOut,
    auth=None,
    summary="The survey a link names: question and current answer (no login)",
)
def public_survey(request: HttpRequest, token: str) -> dict[str, Any]:
    survey = _by_token(token)
    language = request.GET.get("lang") or survey.language or django_settings.LANGUAGE_CODE
    with translation.override(language):
        return _public_out(survey)


@router.post(
    "/surveys/{token}/response",
    response=PublicSurveyOut,
    auth=None,
    summary="Answer (or change the answer to) the survey a link names (no login)",
)
def answer(request: HttpRequest, token: str, payload: ResponseIn) -> dict[str, Any]:
    survey = _by_token(token)
    survey = services.answer_survey(survey=survey, actor=None, **payload.dict())
    survey.refresh_from_db()
    with translation.override(survey.language or django_settings.LANGUAGE_CODE):
        return _public_out(survey)
