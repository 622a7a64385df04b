"""Settings pages of business calendars and holiday sets, with the coverage warning."""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from django import forms as django_forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied as HttpPermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from aftersales.accounts import authz
from aftersales.accounts import selectors as accounts_selectors
from aftersales.core.errors import DomainError
from aftersales.sla import businesstime, forms, selectors, services
from aftersales.sla.models import Calendar, HolidaySet
from aftersales.web.shortcuts import add_domain_error, require, signed_in

VIEW_CALENDAR = "sla.view_calendar"


def _calendar(request: HttpRequest, pk: int) -> Calendar:
    require(request, VIEW_CALENDAR)
    return get_object_or_404(selectors.calendars_visible_to(request.user), pk=pk)


def _owners(request: HttpRequest) -> list[tuple[str, str]]:
    owners = [
        (f"line:{line.pk}", _("Business line: %(name)s") % {"name": line.name})
        for line in accounts_selectors.business_lines_visible_to(request.user)
    ]
    owners += [
        (f"team:{team.pk}", _("Team: %(name)s") % {"name": team.name})
        for team in accounts_selectors.teams_visible_to(request.user)
    ]
    return owners


def _owner_of(request: HttpRequest, value: str) -> dict[str, Any]:
    kind, _sep, pk = value.partition(":")
    owner: dict[str, Any] = {"business_line": None, "team": None}
    if kind == "line" and pk.isdigit():
        lines = accounts_selectors.business_lines_visible_to(request.user)
        owner["business_line"] = get_object_or_404(lines, pk=int(pk))
    elif kind == "team" and pk.isdigit():
        owner["team"] = get_object_or_404(
            accounts_selectors.teams_visible_to(request.user), pk=int(pk)
        )
    return owner


def _form_field(error: DomainError) -> DomainError:
    """Point an error about ``hours.3`` or ``hours.3[0].start`` at the form's ``hours_3``."""
    if error.field and error.field.startswith("hours.") and error.field[6:7].isdigit():
        error.field = f"hours_{error.field[6]}"
    return error


@signed_in
def calendar_list(request: HttpRequest) -> HttpResponse:
    require(request, VIEW_CALENDAR)
    calendars = selectors.calendars_visible_to(request.user).prefetch_related("intervals")
    today = timezone.localdate()
    return render(
        request,
        "sla/calendar_list.html",
        {
            "calendars": [
                {"calendar": c, "covered_until": selectors.coverage_end(c)} for c in calendars
            ],
            "near_end": selectors.calendars_near_coverage_end(request.user, today),
            "may_add": authz.has_permission(request.user, services.ADD_CALENDAR),
            "may_view_sets": authz.has_permission(request.user, selectors.VIEW_HOLIDAY_SET),
        },
    )


def _calendar_form(request: HttpRequest, calendar: Calendar | None) -> forms.CalendarForm:
    initial: dict[str, Any] = {}
    if calendar is not None:
        owner = ""
        if calendar.business_line_id:
            owner = f"line:{calendar.business_line_id}"
        elif calendar.team_id:
            owner = f"team:{calendar.team_id}"
        initial = {
            "name": calendar.name,
            "time_zone": calendar.time_zone,
            "owner": owner,
            "holiday_set": calendar.holiday_set_id,
            "is_24x7": calendar.is_24x7,
            "is_active": calendar.is_active,
        }
        for day, intervals in services.hours_of(calendar).items():
            initial[f"hours_{day}"] = forms.format_intervals(intervals)
    return forms.CalendarForm(
        request.POST if request.method == "POST" else None,
        initial=initial,
        owners=_owners(request),
        holiday_sets=selectors.holiday_sets_visible_to(request.user),
    )


@signed_in
def calendar_create(request: HttpRequest) -> HttpResponse:
    require(request, services.ADD_CALENDAR)
    form = _calendar_form(request, None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            calendar = services.create_calendar(
                actor=request.user,
                name=data["name"],
                time_zone=data["time_zone"],
                holiday_set=data["holiday_set"],
                is_24x7=data["is_24x7"],
                is_active=data["is_active"],
                hours=form.hours(),
                **_owner_of(request, data["owner"]),
            )
        except DomainError as error:
            add_domain_error(form, _form_field(error), show_denied=True)
        else:
            messages.success(request, _("Calendar %(name)s created.") % {"name": calendar.name})
            return redirect("sla:calendar_detail", pk=calendar.pk)
    return render(request, "sla/calendar_form.html", {"form": form, "calendar": None})


@signed_in
def calendar_edit(request: HttpRequest, pk: int) -> HttpResponse:
    calendar = _calendar(request, pk)
    if not authz.has_permission(request.user, services.CHANGE_CALENDAR, calendar):
        raise HttpPermissionDenied(services.CHANGE_CALENDAR)
    form = _calendar_form(request, calendar)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        changes = {
            "name": data["name"],
            "time_zone": data["time_zone"],
            "holiday_set": data["holiday_set"],
            "is_24x7": data["is_24x7"],
            "is_active": data["is_active"],
            "hours": form.hours(),
            **_owner_of(request, data["owner"]),
        }
        try:
            services.update_calendar(actor=request.user, calendar=calendar, changes=changes)
        except DomainError as error:
            add_domain_error(form, _form_field(error), show_denied=True)
        else:
            messages.success(request, _("Calendar saved."))
            return redirect("sla:calendar_detail", pk=calendar.pk)
    return render(request, "sla/calendar_form.html", {"form": form, "calendar": calendar})


@signed_in
def calendar_detail(request: HttpRequest, pk: int) -> HttpResponse:
    calendar = _calendar(request, pk)
    may_change = authz.has_permission(request.user, services.CHANGE_CALENDAR, calendar)
    day_form = forms.DayForm(prefix="day")
    compute_form = forms.ComputeForm(request.GET if "start" in request.GET else None)
    result = None
    if compute_form.is_bound and compute_form.is_valid():
        # The person types the start in the calendar's own wall time.
        start = timezone.make_naive(compute_form.cleaned_data["start"]).replace(
            tzinfo=ZoneInfo(calendar.time_zone)
        )
        try:
            result = businesstime.explain_deadline(
                calendar, start, compute_form.cleaned_data["minutes"]
            )
        except DomainError as error:
            compute_form.add_error(None, error.detail())
    return _detail(request, calendar, may_change, day_form, compute_form, result)


def _detail(
    request: HttpRequest,
    calendar: Calendar,
    may_change: bool,
    day_form: forms.DayForm,
    compute_form: forms.ComputeForm,
    result: businesstime.Explanation | None,
) -> HttpResponse:
    hours = services.hours_of(calendar)
    return render(
        request,
        "sla/calendar_detail.html",
        {
            "calendar": calendar,
            "weekly": [
                {"label": forms.WEEKDAYS[day], "intervals": forms.format_intervals(hours[str(day)])}
                for day in range(7)
            ],
            "days": [
                {
                    "day": d,
                    "hours": ", ".join(
                        f"{services.format_time(a)}-{services.format_time(b)}"
                        for a, b in d.intervals
                    ),
                }
                for d in selectors.days_of(calendar)
            ],
            "covered_until": selectors.coverage_end(calendar),
            "may_change": may_change,
            "may_delete": authz.has_permission(request.user, services.DELETE_CALENDAR, calendar),
            "day_form": day_form,
            "compute_form": compute_form,
            "result": result,
        },
    )


@signed_in
@require_POST
def day_set(request: HttpRequest, pk: int) -> HttpResponse:
    calendar = _calendar(request, pk)
    form = forms.DayForm(request.POST, prefix="day")
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.set_calendar_day(
                actor=request.user,
                calendar=calendar,
                day=data["date"],
                kind=data["kind"],
                name=data["name"],
                intervals=forms.parse_intervals(data["intervals"]),
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, _("Day %(date)s saved.") % {"date": data["date"]})
            return redirect("sla:calendar_detail", pk=calendar.pk)
    may_change = authz.has_permission(request.user, services.CHANGE_CALENDAR, calendar)
    return _detail(request, calendar, may_change, form, forms.ComputeForm(), None)


@signed_in
@require_POST
def day_delete(request: HttpRequest, pk: int, day: str) -> HttpResponse:
    calendar = _calendar(request, pk)
    try:
        when = date.fromisoformat(day)
    except ValueError:
        when = None
    found = selectors.days_of(calendar).filter(date=when).first() if when else None
    if found is None:
        return redirect("sla:calendar_detail", pk=calendar.pk)
    services.delete_calendar_day(actor=request.user, calendar=calendar, day=found)
    messages.success(request, _("Day %(date)s removed.") % {"date": day})
    return redirect("sla:calendar_detail", pk=calendar.pk)


@signed_in
@require_POST
def calendar_delete(request: HttpRequest, pk: int) -> HttpResponse:
    calendar = _calendar(request, pk)
    services.delete_calendar(actor=request.user, calendar=calendar)
    messages.success(request, _("Calendar %(name)s deleted.") % {"name": calendar.name})
    return redirect("sla:calendar_list")


# --- Holiday sets -----------------------------------------------------------------------------


@signed_in
def holiday_set_list(request: HttpRequest) -> HttpResponse:
    require(request, selectors.VIEW_HOLIDAY_SET)
    today = timezone.localdate()
    return render(
        request,
        "sla/holiday_set_list.html",
        {
            "sets": selectors.holiday_sets_visible_to(request.user),
            "near_end": selectors.calendars_near_coverage_end(request.user, today),
            "this_year": today.year,
        },
    )


@signed_in
def holiday_set_detail(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, selectors.VIEW_HOLIDAY_SET)
    holiday_set: HolidaySet = get_object_or_404(
        selectors.holiday_sets_visible_to(request.user), pk=pk
    )
    may_change = authz.scope_for(request.user, services.CHANGE_HOLIDAY_SET) == authz.Scope.ALL
    shown = request.GET.get("year", "")
    year = int(shown) if shown.isdigit() else min(timezone.localdate().year, holiday_set.last_year)
    form = forms.YearForm(
        request.POST if request.method == "POST" else None,
        initial={"year": holiday_set.last_year + 1},
    )
    if request.method == "POST":
        if not may_change:
            raise HttpPermissionDenied(services.CHANGE_HOLIDAY_SET)
        if form.is_valid():
            try:
                days = form.parsed_days()
            except django_forms.ValidationError as invalid:
                form.add_error("days", invalid)
            else:
                try:
                    services.publish_holiday_year(
                        actor=request.user,
                        holiday_set=holiday_set,
                        year=form.cleaned_data["year"],
                        days=days,
                        source=form.cleaned_data["source"],
                    )
                except DomainError as error:
                    if error.field and error.field.startswith("days"):
                        error.field = "days"
                    add_domain_error(form, error)
                else:
                    messages.success(
                        request,
                        _("%(year)s loaded into %(name)s.")
                        % {"year": form.cleaned_data["year"], "name": holiday_set.name},
                    )
                    return redirect("sla:holiday_set_detail", pk=holiday_set.pk)
    return render(
        request,
        "sla/holiday_set_detail.html",
        {
            "holiday_set": holiday_set,
            "year": year,
            "years": range(holiday_set.last_year, holiday_set.first_year - 1, -1),
            "days": selectors.holiday_days_of(holiday_set, year),
            "form": form,
            "may_change": may_change,
        },
    )
