"""The "Try a condition" page: build a condition, pick a ticket, see which parts match."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from aftersales.conditions import services
from aftersales.tickets.selectors import tickets_visible_to
from aftersales.web.shortcuts import require, signed_in

MAX_NUMBER_LENGTH = 32


def _posted_tree(request: HttpRequest) -> tuple[Any, list[dict[str, str]]]:
    raw = request.POST.get("condition") or "null"
    try:
        return json.loads(raw), []
    except ValueError:
        detail = _("The condition could not be read. Reload the page and build it again.")
        return None, [{"field": "condition", "code": "invalid_json", "detail": detail}]


def _ticket(request: HttpRequest, number: str) -> Any:
    if not number or len(number) > MAX_NUMBER_LENGTH:
        return None
    visible = tickets_visible_to(request.user).select_related("requester__tier")
    return visible.filter(number=number).first()


@signed_in
def try_condition(request: HttpRequest) -> HttpResponse:
    require(request, services.TRY_CONDITION)
    source = request.POST if request.method == "POST" else request.GET
    number = source.get("ticket", "").strip()
    ticket = _ticket(request, number)
    ticket_error = (
        _("No ticket with this number that you can see.") if number and not ticket else ""
    )
    tree: Any = None
    errors: list[dict[str, str]] = []
    result = None
    if request.method == "POST":
        tree, errors = _posted_tree(request)
        if not errors:
            result = services.check_condition(actor=request.user, tree=tree, ticket=ticket)
            errors = result.errors
            tree = result.tree if result.is_valid else tree
    line = ticket.business_line_id if ticket is not None else None
    catalog = services.catalog_for(request.user, business_line_id=line)
    return render(
        request,
        "conditions/try.html",
        {
            "number": number,
            "ticket": ticket,
            "ticket_error": ticket_error,
            "catalog": catalog.as_json(),
            "tree": tree if isinstance(tree, dict) else None,
            "errors": errors,
            "result": result,
            "business_line": line,
        },
    )
