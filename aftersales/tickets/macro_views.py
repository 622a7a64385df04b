"""Pages of macros: the list an agent may use, create and edit (personal or shared), deactivate,
and a live preview of the message on a ticket of the agent's choice.

Views parse input, read through ``selectors``, call one ``services`` function and render.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied as HttpPermissionDenied
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from aftersales.accounts import authz
from aftersales.accounts.models import User
from aftersales.core.errors import DomainError, NotFound, PermissionDenied
from aftersales.tickets import selectors, services
from aftersales.tickets.macro_forms import MacroForm
from aftersales.tickets.models import Macro, Ticket
from aftersales.tickets.permissions import ADD_MACRO, VIEW_TICKET
from aftersales.web.shortcuts import require, signed_in

RECENT_TICKETS = 20


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - signed_in let only a signed-in person through
    return user


@signed_in
def macro_list(request: HttpRequest) -> HttpResponse:
    """The macros the person may apply: their own and the shared ones of their lines."""
    require(request, VIEW_TICKET)
    user = _user(request)
    rows = [
        {
            "macro": macro,
            "may_edit": services.may_edit_macro(user, macro),
            "is_own": macro.owner_id == user.pk,
        }
        for macro in selectors.macros_usable_by(user).select_related("owner", "business_line")
    ]
    return render(
        request,
        "tickets/macros/list.html",
        {"rows": rows, "may_add": authz.has_permission(user, ADD_MACRO)},
    )


def _show_error(form: MacroForm, error: DomainError) -> None:
    """The service's refusal next to the input at fault (or above the form)."""
    if isinstance(error, NotFound):
        raise error
    if isinstance(error, PermissionDenied) and error.field is None:
        raise error
    form.add_error(form.input_of(error.field), error.detail())


def _recent_tickets(user: User) -> list[Ticket]:
    return list(selectors.tickets_visible_to(user).order_by("-updated_at", "-pk")[:RECENT_TICKETS])


def _page(
    request: HttpRequest, form: MacroForm, macro: Macro | None, status: int = 200
) -> HttpResponse:
    user = _user(request)
    recent = _recent_tickets(user)
    chosen = _chosen_ticket(user, request.GET.get("ticket", ""))
    return render(
        request,
        "tickets/macros/form.html",
        {
            "form": form,
            "macro": macro,
            "placeholders": services.placeholder_help(),
            "recent_tickets": recent,
            "preview_ticket": chosen or (recent[0] if recent else None),
        },
        status=status,
    )


@signed_in
@require_http_methods(["GET", "POST"])
def macro_create(request: HttpRequest) -> HttpResponse:
    require(request, ADD_MACRO)
    user = _user(request)
    form = MacroForm(request.POST if request.method == "POST" else None, actor=user)
    if request.method == "POST" and form.is_valid():
        try:
            macro = services.create_macro(actor=user, **form.service_arguments())
        except DomainError as error:
            _show_error(form, error)
        else:
            messages.success(request, _("Macro %(name)s has been saved.") % {"name": macro.name})
            return redirect("tickets:macro_list")
    return _page(request, form, None)


def _editable(request: HttpRequest, pk: int) -> Macro:
    """The macro if the person may use it (else 404) and edit it (else 403)."""
    user = _user(request)
    macro = get_object_or_404(
        selectors.macros_usable_by(user).select_related("business_line"), pk=pk
    )
    if not services.may_edit_macro(user, macro):
        raise HttpPermissionDenied(_("Only its owner or someone who may share macros edits it."))
    return macro


@signed_in
@require_http_methods(["GET", "POST"])
def macro_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    macro = _editable(request, pk)
    form = MacroForm(request.POST if request.method == "POST" else None, actor=user, macro=macro)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_macro(
                actor=user,
                macro=macro,
                changes=form.service_arguments(),
                expected_version=form.cleaned_data.get("version"),
            )
        except DomainError as error:
            _show_error(form, error)
        else:
            messages.success(request, _("Macro %(name)s has been saved.") % {"name": macro.name})
            return redirect("tickets:macro_list")
    return _page(request, form, macro)


@signed_in
@require_POST
def macro_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    macro = _editable(request, pk)
    services.deactivate_macro(actor=_user(request), macro=macro)
    messages.success(request, _("Macro %(name)s was deactivated.") % {"name": macro.name})
    return redirect("tickets:macro_list")


def _chosen_ticket(user: User, text: str) -> Ticket | None:
    """A ticket the person may see, named by its number (or id)."""
    text = text.strip()
    if not text:
        return None
    condition = Q(number__iexact=text)
    if text.isdigit():
        condition |= Q(pk=int(text))
    return selectors.tickets_visible_to(user).filter(condition).order_by("pk").first()


def _change_lines(form: MacroForm) -> list[dict[str, str]]:
    """The planned field changes in words, for the preview."""
    lines: list[dict[str, str]] = []
    if not form.is_valid():
        return lines
    labels: dict[str, dict[str, str]] = {}
    for name in ("priority", "status", "team", "assignee"):
        field = form.fields[name]
        flat: dict[str, str] = {}
        for value, label in getattr(field, "choices", []):
            if isinstance(label, list | tuple):
                flat.update({str(v): str(text) for v, text in label})
            else:
                flat[str(value)] = str(label)
        labels[name] = flat
    for action in form.service_arguments()["actions"]:
        field, value = action["field"], action["value"]
        if field in labels:
            shown = labels[field].get("none" if value is None else str(value), str(value))
        elif isinstance(value, list):
            shown = ", ".join(str(v) for v in value)
        else:
            shown = "—" if value is None else str(value)
        label = form.fields[field].label if field in form.fields else field
        lines.append({"field": str(label), "value": shown})
    return lines


@signed_in
@require_POST
def macro_preview(request: HttpRequest) -> HttpResponse:
    """The message as it would read on the chosen ticket, and the changes it would make.
    Nothing is saved; posted by the form on every change (htmx)."""
    require(request, VIEW_TICKET)
    user = _user(request)
    form = MacroForm(request.POST, actor=user)
    reply_kind = request.POST.get("reply_kind", Macro.ReplyKind.PUBLIC)
    if reply_kind not in Macro.ReplyKind.values:
        reply_kind = Macro.ReplyKind.PUBLIC
    ticket = _chosen_ticket(user, request.POST.get("preview_ticket", ""))
    context: dict[str, Any] = {
        "ticket": ticket,
        "rendered": "",
        "error": "",
        "changes": _change_lines(form),
        "is_public": reply_kind == Macro.ReplyKind.PUBLIC,
        "ticket_asked": bool(request.POST.get("preview_ticket", "").strip()),
    }
    try:
        body = services.check_macro_body(request.POST.get("body", ""), reply_kind=reply_kind)
    except DomainError as error:
        context["error"] = error.detail()
    else:
        if ticket is not None:
            macro = Macro(owner=user, body=body, reply_kind=reply_kind)
            rendered = services.render_macro(macro=macro, ticket=ticket, actor=user)
            # render_macro returns markup passed through richtext.sanitise.
            context["rendered"] = mark_safe(rendered)  # noqa: S308
    return render(request, "tickets/macros/_preview.html", context)
