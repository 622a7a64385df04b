"""Calls on the ticket page (loaded with htmx), the "Log a call" page and the recent calls."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied as HttpPermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from aftersales.accounts import authz
from aftersales.calls import selectors, services
from aftersales.calls.forms import CallForm, NewTicketCallForm
from aftersales.core.errors import DomainError
from aftersales.customers.models import CustomerIdentity
from aftersales.tickets import selectors as ticket_selectors
from aftersales.tickets.models import Ticket
from aftersales.tickets.permissions import ADD_NOTE, ADD_TICKET
from aftersales.web.shortcuts import add_domain_error, is_htmx, signed_in


def _ticket(request: HttpRequest, ticket_id: int) -> Ticket:
    return get_object_or_404(ticket_selectors.tickets_visible_to(request.user), pk=ticket_id)


def _phones(ticket: Ticket) -> list[dict[str, str]]:
    numbers = ticket.requester.identities.filter(
        is_active=True, kind=CustomerIdentity.Kind.PHONE
    ).values_list("value", flat=True)
    return [{"number": n, "url": services.click_to_call_url(n)} for n in numbers]


def _ticket_section(
    request: HttpRequest, ticket: Ticket, form: CallForm | None = None, status: int = 200
) -> HttpResponse:
    phones = _phones(ticket)
    may_log = authz.has_permission(request.user, ADD_NOTE, ticket)
    initial = {"phone": phones[0]["number"]} if phones else {}
    return render(
        request,
        "calls/_ticket_calls.html",
        {
            "ticket": ticket,
            "calls": list(selectors.calls_visible_to(request.user).filter(ticket=ticket)[:50]),
            "phones": phones,
            "may_log": may_log,
            "form": form or CallForm(initial=initial),
        },
        status=status,
    )


@require_GET
@signed_in
def ticket_calls(request: HttpRequest, ticket_id: int) -> HttpResponse:
    return _ticket_section(request, _ticket(request, ticket_id))


@require_POST
@signed_in
def ticket_call_log(request: HttpRequest, ticket_id: int) -> HttpResponse:
    ticket = _ticket(request, ticket_id)
    form = CallForm(request.POST)
    if form.is_valid():
        try:
            services.log_call(actor=request.user, details=form.details(), ticket=ticket)
        except DomainError as error:
            add_domain_error(form, error)
        else:
            if not is_htmx(request):
                messages.success(request, _("The call has been logged."))
                return redirect("tickets:ticket_detail", reference=ticket.number)
            return _ticket_section(request, ticket)
    return _ticket_section(request, ticket, form, status=422)


@require_http_methods(["GET", "POST"])
@signed_in
def call_new(request: HttpRequest) -> HttpResponse:
    """Log a call that starts a new ticket (the caller found by number, or recorded)."""
    if not authz.has_permission(request.user, ADD_TICKET):
        raise HttpPermissionDenied(ADD_TICKET)
    types = ticket_selectors.ticket_types_usable_by(request.user).order_by(
        "business_line__name", "position"
    )
    form = NewTicketCallForm(
        request.POST if request.method == "POST" else None,
        ticket_types=types,
        initial={"phone": request.GET.get("phone", "")},
    )
    if request.method == "POST" and form.is_valid():
        try:
            call = services.open_ticket_from_call(
                actor=request.user,
                details=form.details(),
                ticket_type=form.cleaned_data["ticket_type"],
                subject=form.cleaned_data["subject"],
                caller_name=form.cleaned_data["caller_name"],
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            assert call.ticket is not None  # noqa: S101 - opened just now
            messages.success(
                request,
                _("Ticket %(number)s was opened from the call.") % {"number": call.ticket.number},
            )
            return redirect("tickets:ticket_detail", reference=call.ticket.number)
    return render(
        request,
        "calls/call_new.html",
        {"form": form},
        status=422 if request.method == "POST" else 200,
    )


@require_GET
@signed_in
def call_list(request: HttpRequest) -> HttpResponse:
    """The latest calls the person may see, newest first."""
    calls: list[Any] = list(selectors.calls_visible_to(request.user)[:100])
    return render(
        request,
        "calls/call_list.html",
        {"calls": calls, "may_open": authz.has_permission(request.user, ADD_TICKET),
         "new_url": reverse("calls:call_new")},
    )  # fmt: skip
