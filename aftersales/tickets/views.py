"""Settings pages of ticket types: list, edit, lifecycle (statuses and transitions), copy."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied as HttpPermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import translation
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from aftersales.accounts import authz
from aftersales.accounts import selectors as accounts_selectors
from aftersales.core.errors import DomainError
from aftersales.customfields import services as customfields
from aftersales.tickets import forms, guards, selectors, services
from aftersales.tickets.models import StatusTransition, TicketStatus, TicketType, form_key_of
from aftersales.tickets.permissions import CONFIGURE_TICKET_TYPE, VIEW_TICKET_TYPE
from aftersales.web.shortcuts import add_domain_error, is_htmx, require, signed_in

FIELD_TARGET = "tickets.ticket"
CATEGORY_BADGES: dict[str, str] = {
    TicketStatus.Category.NEW: "badge-info",
    TicketStatus.Category.OPEN: "badge-warning",
    TicketStatus.Category.PENDING_CUSTOMER: "",
    TicketStatus.Category.PENDING_INTERNAL: "",
    TicketStatus.Category.SOLVED: "badge-success",
    TicketStatus.Category.CLOSED: "",
}


def _visible_type(request: HttpRequest, pk: int) -> TicketType:
    require(request, VIEW_TICKET_TYPE)
    return get_object_or_404(selectors.ticket_types_visible_to(request.user), pk=pk)


def _configurable_type(request: HttpRequest, pk: int) -> TicketType:
    ticket_type = _visible_type(request, pk)
    if not authz.has_permission(request.user, CONFIGURE_TICKET_TYPE, ticket_type):
        raise HttpPermissionDenied(CONFIGURE_TICKET_TYPE)
    return ticket_type


def _lines(request: HttpRequest) -> Any:
    return accounts_selectors.business_lines_visible_to(request.user).filter(is_active=True)


@signed_in
def type_list(request: HttpRequest) -> HttpResponse:
    require(request, VIEW_TICKET_TYPE)
    types = selectors.ticket_types_visible_to(request.user).order_by(
        "business_line__name", "business_line_id", "position", "pk"
    )
    line_filter = request.GET.get("line", "")
    if line_filter.isdigit():
        types = types.filter(business_line_id=int(line_filter))
    groups: list[dict[str, Any]] = []
    for ticket_type in types:
        if not groups or groups[-1]["line"].pk != ticket_type.business_line_id:
            groups.append({"line": ticket_type.business_line, "types": []})
        groups[-1]["types"].append(ticket_type)
    return render(
        request,
        "tickets/settings/type_list.html",
        {
            "groups": groups,
            "lines": list(_lines(request)),
            "line_filter": line_filter,
            "may_add": authz.has_permission(request.user, CONFIGURE_TICKET_TYPE),
        },
    )


@signed_in
def type_create(request: HttpRequest) -> HttpResponse:
    require(request, CONFIGURE_TICKET_TYPE)
    form = forms.TicketTypeForm(
        request.POST if request.method == "POST" else None, lines=_lines(request)
    )
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            ticket_type = services.create_ticket_type(actor=request.user, **data)
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(
                request,
                _("Ticket type %(name)s has been created with the default lifecycle.")
                % {"name": ticket_type.name},
            )
            return redirect("tickets:type_detail", pk=ticket_type.pk)
    return render(request, "tickets/settings/type_form.html", {"form": form, "ticket_type": None})


def _matrix(
    statuses: list[TicketStatus], transitions: list[StatusTransition]
) -> list[dict[str, Any]]:
    by_pair = {(t.from_status_id, t.to_status_id): t for t in transitions}
    return [
        {
            "status": source,
            "cells": [
                {
                    "to": target,
                    "same": source.pk == target.pk,
                    "transition": by_pair.get((source.pk, target.pk)),
                }
                for target in statuses
            ],
        }
        for source in statuses
    ]


@signed_in
def type_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The lifecycle page: statuses with their categories, and the allowed moves."""
    ticket_type = _visible_type(request, pk)
    statuses = list(selectors.statuses_of(ticket_type))
    transitions = list(selectors.transitions_of(ticket_type))
    form_key = form_key_of(ticket_type.pk)
    language = translation.get_language() or "en"
    return render(
        request,
        "tickets/settings/type_detail.html",
        {
            "ticket_type": ticket_type,
            "statuses": [
                {"status": s, "badge": CATEGORY_BADGES.get(s.category, "")} for s in statuses
            ],
            "transitions": transitions,
            "matrix": _matrix(statuses, transitions),
            "may_configure": authz.has_permission(request.user, CONFIGURE_TICKET_TYPE, ticket_type),
            # The type's own form: custom fields on tickets.ticket for subtarget "type-<pk>".
            "form_fields": [
                {"definition": d, "label": d.label(language)}
                for d in customfields.definitions_for(FIELD_TARGET, form_key)
                if d.subtarget == form_key
            ],
            "form_query": urlencode({"target": FIELD_TARGET, "subtarget": form_key}),
            "may_view_fields": authz.has_permission(request.user, customfields.VIEW),
            "may_add_fields": authz.has_permission(request.user, customfields.CONFIGURE),
        },
    )


@signed_in
def type_edit(request: HttpRequest, pk: int) -> HttpResponse:
    ticket_type = _configurable_type(request, pk)
    initial = {
        field: getattr(ticket_type, field)
        for field in (
            "name_zh",
            "name_en",
            "description",
            "number_prefix",
            "icon",
            "colour",
            "reopen_within_days",
            "auto_close_after_days",
            "position",
            "on_portal",
            "version",
        )
    }
    form = forms.TicketTypeForm(
        request.POST if request.method == "POST" else None,
        lines=_lines(request),
        editing=True,
        initial=initial,
    )
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        version = data.pop("version", None)
        try:
            services.update_ticket_type(
                actor=request.user, ticket_type=ticket_type, changes=data, expected_version=version
            )
        except DomainError as error:
            if error.code == "version_mismatch":
                form.add_error(
                    None, _("Someone else changed this ticket type. Reload the page and retry.")
                )
            else:
                add_domain_error(form, error)
        else:
            messages.success(request, _("The ticket type has been saved."))
            return redirect("tickets:type_detail", pk=ticket_type.pk)
    return render(
        request, "tickets/settings/type_form.html", {"form": form, "ticket_type": ticket_type}
    )


@signed_in
def type_copy(request: HttpRequest, pk: int) -> HttpResponse:
    ticket_type = _visible_type(request, pk)
    require(request, CONFIGURE_TICKET_TYPE)
    form = forms.CopyForm(
        request.POST if request.method == "POST" else None,
        lines=_lines(request),
        initial={
            "business_line": ticket_type.business_line_id,
            "key": f"{ticket_type.key}-copy"[:60],
            "name_zh": ticket_type.name_zh,
            "name_en": ticket_type.name_en,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            copy = services.copy_ticket_type(
                actor=request.user, ticket_type=ticket_type, **form.cleaned_data
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, _("The ticket type has been copied."))
            return redirect("tickets:type_detail", pk=copy.pk)
    return render(
        request, "tickets/settings/type_copy.html", {"form": form, "ticket_type": ticket_type}
    )


@require_POST
@signed_in
def type_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    ticket_type = _configurable_type(request, pk)
    services.deactivate_ticket_type(actor=request.user, ticket_type=ticket_type)
    messages.success(request, _("The ticket type has been deactivated."))
    return redirect("tickets:type_detail", pk=ticket_type.pk)


# --- Statuses ------------------------------------------------------------------------------------


@signed_in
def status_create(request: HttpRequest, pk: int) -> HttpResponse:
    ticket_type = _configurable_type(request, pk)
    form = forms.StatusForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.add_status(actor=request.user, ticket_type=ticket_type, **form.cleaned_data)
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, _("The status has been added."))
            return redirect("tickets:type_detail", pk=ticket_type.pk)
    return render(
        request,
        "tickets/settings/status_form.html",
        {"form": form, "ticket_type": ticket_type, "status": None},
    )


@signed_in
def status_edit(request: HttpRequest, pk: int, status_pk: int) -> HttpResponse:
    ticket_type = _configurable_type(request, pk)
    status = get_object_or_404(selectors.statuses_of(ticket_type), pk=status_pk)
    form = forms.StatusForm(
        request.POST if request.method == "POST" else None,
        editing=True,
        initial={
            "name_zh": status.name_zh,
            "name_en": status.name_en,
            "category": status.category,
            "is_initial": status.is_initial,
            "is_active": status.is_active,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.update_status(actor=request.user, status=status, changes=form.cleaned_data)
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, _("The status has been saved."))
            return redirect("tickets:type_detail", pk=ticket_type.pk)
    return render(
        request,
        "tickets/settings/status_form.html",
        {"form": form, "ticket_type": ticket_type, "status": status},
    )


@require_POST
@signed_in
def status_move(request: HttpRequest, pk: int, status_pk: int) -> HttpResponse:
    ticket_type = _configurable_type(request, pk)
    status = get_object_or_404(selectors.statuses_of(ticket_type), pk=status_pk)
    offset = -1 if request.POST.get("direction") == "up" else 1
    services.move_status(actor=request.user, status=status, offset=offset)
    return redirect("tickets:type_detail", pk=ticket_type.pk)


# --- Transitions ---------------------------------------------------------------------------------


def _transition_page(
    request: HttpRequest,
    ticket_type: TicketType,
    form: forms.TransitionForm,
    transition: StatusTransition | None,
) -> HttpResponse:
    return render(
        request,
        "tickets/settings/transition_form.html",
        {
            "form": form,
            "sample": forms.GuardSampleForm(),
            "ticket_type": ticket_type,
            "transition": transition,
        },
    )


@signed_in
def transition_create(request: HttpRequest, pk: int) -> HttpResponse:
    ticket_type = _configurable_type(request, pk)
    form = forms.TransitionForm(
        request.POST if request.method == "POST" else None,
        statuses=selectors.statuses_of(ticket_type),
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.add_transition(
                actor=request.user, ticket_type=ticket_type, **form.cleaned_data
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, _("The transition has been added."))
            return redirect("tickets:type_detail", pk=ticket_type.pk)
    return _transition_page(request, ticket_type, form, None)


@signed_in
def transition_edit(request: HttpRequest, pk: int, transition_pk: int) -> HttpResponse:
    ticket_type = _configurable_type(request, pk)
    transition = get_object_or_404(selectors.transitions_of(ticket_type), pk=transition_pk)
    form = forms.TransitionForm(
        request.POST if request.method == "POST" else None,
        statuses=selectors.statuses_of(ticket_type),
        editing=True,
        initial={
            "name_zh": transition.name_zh,
            "name_en": transition.name_en,
            "required_fields": ", ".join(transition.required_fields),
            "guard": transition.guard,
            "permission": transition.permission,
            "position": transition.position,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.update_transition(
                actor=request.user, transition=transition, changes=form.cleaned_data
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, _("The transition has been saved."))
            return redirect("tickets:type_detail", pk=ticket_type.pk)
    return _transition_page(request, ticket_type, form, transition)


@require_POST
@signed_in
def transition_delete(request: HttpRequest, pk: int, transition_pk: int) -> HttpResponse:
    ticket_type = _configurable_type(request, pk)
    transition = get_object_or_404(selectors.transitions_of(ticket_type), pk=transition_pk)
    services.delete_transition(actor=request.user, transition=transition)
    messages.success(request, _("The transition has been deleted."))
    return redirect("tickets:type_detail", pk=ticket_type.pk)


@require_POST
@signed_in
def guard_test(request: HttpRequest, pk: int) -> HttpResponse:
    """Evaluate the guard being edited on sample facts; nothing is stored (htmx fragment)."""
    ticket_type = _configurable_type(request, pk)
    sample = forms.GuardSampleForm(request.POST)
    context: dict[str, Any] = {"ticket_type": ticket_type, "sample": sample}
    if sample.is_valid():
        expression = sample.cleaned_data["guard"].strip()
        if not expression:
            context["outcome"] = "empty"
        else:
            try:
                result = guards.try_guard(expression, sample.facts())
            except DomainError as error:
                context.update(outcome="invalid", error=error.detail())
            else:
                context.update(outcome="true" if result.allowed else "false", error=result.error)
    else:
        context["outcome"] = "sample_invalid"
    template = "tickets/settings/_guard_result.html"
    if not is_htmx(request):
        template = "tickets/settings/guard_result_page.html"
    return render(request, template, context)
