"""The customer's survey page (no login: the signed link is the proof) and the settings pages.

The survey page never records anything on GET: mail scanners open links. ``?rating=N``
preselects a rating, which one tap confirms with a POST.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings as django_settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from aftersales.accounts import authz
from aftersales.core.errors import DomainError, NotFound
from aftersales.surveys import selectors, services
from aftersales.surveys.forms import SettingsForm
from aftersales.surveys.models import Survey, SurveySettings
from aftersales.web.shortcuts import add_domain_error, require, signed_in


def _label(reason: dict[str, str]) -> str:
    language = (translation.get_language() or "").lower()
    if language.startswith("zh"):
        return reason.get("label_zh") or reason.get("label_en") or reason["key"]
    return reason.get("label_en") or reason.get("label_zh") or reason["key"]


def _scale(survey: Survey) -> list[int]:
    low, high = survey.scale
    return list(range(low, high + 1))


def _preselected(request: HttpRequest, survey: Survey) -> int | None:
    value = request.GET.get("rating", "")
    low, high = survey.scale
    return int(value) if value.isdigit() and low <= int(value) <= high else None


def _page(
    request: HttpRequest,
    survey: Survey,
    *,
    errors: dict[str, str] | None = None,
    submitted: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    submitted = submitted or {}
    chosen = submitted.get("reasons", survey.reasons)
    context = {
        "survey": survey,
        "ticket": survey.ticket,
        "scale": _scale(survey),
        "is_nps": survey.kind == "nps",
        "preselected": _preselected(request, survey),
        "reasons": [
            {"key": r["key"], "label": _label(r), "checked": r["key"] in chosen}
            for r in survey.reasons_offered
        ],
        "chosen_labels": _chosen(survey),
        "comment": submitted.get("comment", survey.comment),
        "errors": errors or {},
        "is_answered": survey.state == Survey.State.ANSWERED,
        "is_editable": services.is_editable(survey),
        "action": services.survey_url(survey),
    }
    return render(request, "surveys/answer.html", context, status=status)


def _in_customer_language(request: HttpRequest, survey: Survey) -> translation.override:
    """The customer's language, unless this browser chose one with the language switch."""
    if django_settings.LANGUAGE_COOKIE_NAME in request.COOKIES:
        return translation.override(translation.get_language())
    return translation.override(survey.language or django_settings.LANGUAGE_CODE)


@require_http_methods(["GET", "POST"])
def answer(request: HttpRequest, token: str) -> HttpResponse:
    """The survey of one ticket: rate with one tap, then add a comment and reasons."""
    try:
        survey = services.survey_for_token(token)
    except NotFound:
        raise Http404 from None
    with _in_customer_language(request, survey):
        if services.is_expired(survey):
            return render(request, "surveys/expired.html", {"survey": survey}, status=410)
        if request.method == "GET":
            return _page(request, survey)
        submitted: dict[str, Any] = {
            "rating": request.POST.get("rating") or None,
            "comment": request.POST.get("comment") if "comment" in request.POST else None,
            "reasons": request.POST.getlist("reasons") if "details" in request.POST else None,
        }
        try:
            services.answer_survey(survey=survey, actor=None, **submitted)
        except services.LinkExpired:
            survey.refresh_from_db()
            return render(request, "surveys/expired.html", {"survey": survey}, status=410)
        except DomainError as error:
            survey.refresh_from_db()
            field = error.field if error.field in {"rating", "comment", "reasons"} else "form"
            shown = {k: v for k, v in submitted.items() if v is not None}
            return _page(
                request, survey, errors={field: error.detail()}, submitted=shown, status=422
            )
        return redirect(services.survey_url(survey) + "#answer")


# --- Responses ------------------------------------------------------------------------------

PAGE_SIZE = 50


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@signed_in
def responses(request: HttpRequest) -> HttpResponse:
    """Answers of the tickets the viewer sees over a period, with CSAT and NPS per line."""
    require(request, services.VIEW_SURVEY)
    today = timezone.localdate()
    first = _day(request.GET.get("since", "")) or today - timedelta(days=29)
    last = _day(request.GET.get("until", "")) or today
    if last < first:
        first, last = last, first
    zone = timezone.get_current_timezone()
    since = datetime.combine(first, time.min, tzinfo=zone)
    until = datetime.combine(last + timedelta(days=1), time.min, tzinfo=zone)
    answered = (
        selectors.surveys_visible_to(request.user)
        .filter(state=Survey.State.ANSWERED, answered_at__gte=since, answered_at__lt=until)
        .order_by("-answered_at", "-pk")
    )
    rating = request.GET.get("rating", "")
    if rating.isdigit():
        answered = answered.filter(rating=int(rating))
    page = Paginator(answered, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "surveys/responses.html",
        {
            "figures": selectors.satisfaction_figures(request.user, since=since, until=until),
            "page": page,
            "rows": [{"survey": s, "reasons": _chosen(s)} for s in page.object_list],
            "since": first,
            "until": last,
            "rating": rating,
            "query": query.urlencode(),
            "may_configure": authz.has_permission(request.user, services.VIEW_SETTINGS),
        },
    )


def _chosen(survey: Survey) -> list[str]:
    return [_label(r) for r in survey.reasons_offered if r["key"] in survey.reasons]


# --- Settings -------------------------------------------------------------------------------


@signed_in
def settings_list(request: HttpRequest) -> HttpResponse:
    require(request, services.VIEW_SETTINGS)
    rows = list(selectors.settings_visible_to(request.user))
    return render(
        request,
        "surveys/settings_list.html",
        {
            "rows": rows,
            # The built-in values apply only while nobody saved a default row.
            "has_default": SurveySettings.objects.filter(business_line__isnull=True).exists(),
            "built_in": services.built_in_settings(),
            "may_add": authz.has_permission(request.user, services.ADD_SETTINGS),
        },
    )


def _show(form: SettingsForm, error: DomainError) -> None:
    error.field = form.add_service_error(error.field)
    add_domain_error(form, error, show_denied=True)


def _form_page(
    request: HttpRequest, form: SettingsForm, row: SurveySettings | None
) -> HttpResponse:
    status = 422 if form.errors else 200
    return render(request, "surveys/settings_form.html", {"form": form, "row": row}, status=status)


@signed_in
@require_http_methods(["GET", "POST"])
def settings_create(request: HttpRequest) -> HttpResponse:
    require(request, services.ADD_SETTINGS)
    form = SettingsForm(request.POST if request.method == "POST" else None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            services.create_settings(
                actor=request.user,
                business_line=form.cleaned_data["business_line"],
                values=form.service_values(),
            )
        except DomainError as error:
            _show(form, error)
        else:
            messages.success(request, _("The survey settings have been saved."))
            return redirect("surveys:settings_list")
    return _form_page(request, form, None)


@signed_in
@require_http_methods(["GET", "POST"])
def settings_edit(request: HttpRequest, pk: int) -> HttpResponse:
    row = get_object_or_404(selectors.settings_visible_to(request.user), pk=pk)
    form = SettingsForm(
        request.POST if request.method == "POST" else None, user=request.user, row=row
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.update_settings(
                actor=request.user,
                settings=row,
                values=form.service_values(),
                expected_version=form.cleaned_data["version"],
            )
        except DomainError as error:
            _show(form, error)
        else:
            messages.success(request, _("The survey settings have been saved."))
            return redirect("surveys:settings_list")
    return _form_page(request, form, row)


@signed_in
@require_POST
def settings_delete(request: HttpRequest, pk: int) -> HttpResponse:
    row = get_object_or_404(selectors.settings_visible_to(request.user), pk=pk)
    services.delete_settings(actor=request.user, settings=row)
    messages.success(request, _("The survey settings have been removed."))
    return redirect("surveys:settings_list")
