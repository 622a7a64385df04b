"""Settings pages of custom fields: list by form, create, edit, reorder, deactivate, preview.

Views parse input, read through ``selectors``, call one ``services`` function and render.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied as HttpPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from aftersales.accounts import authz
from aftersales.core.errors import DomainError
from aftersales.customfields import registry, selectors, services
from aftersales.customfields.errors import FieldErrors, InvalidValue
from aftersales.customfields.forms import (
    CustomFieldsForm,
    DefinitionForm,
    condition_candidates,
    describe_condition,
)
from aftersales.web.shortcuts import add_domain_error, is_htmx, require, signed_in


def _target_label(key: str) -> str:
    target = registry.targets().get(key)
    return str(target.label) if target is not None else key


def _form_groups(
    user: Any, *, target: str | None = None, subtargets: tuple[str, ...] | None = None
) -> list[dict[str, Any]]:
    """The forms (target + subtarget) with their fields: the active ones by section, in form
    order, then the inactive ones. ``target`` and ``subtargets`` narrow to some forms; a named
    subtarget gets its (possibly empty) group, so fields can be added to it."""
    language = translation.get_language() or "en"
    definitions = selectors.definitions_visible_to(user).order_by(
        "target", "subtarget", "-is_active", "section", "position", "pk"
    )
    if target is not None:
        definitions = definitions.filter(target=target)
    labels = {(d.target, d.key): d.label(language) for d in definitions}
    if subtargets is not None:
        definitions = definitions.filter(subtarget__in=subtargets)
    groups: dict[tuple[str, str], dict[str, Any]] = {}

    def group_of(form_target: str, subtarget: str) -> dict[str, Any]:
        return groups.setdefault(
            (form_target, subtarget),
            {
                "target": form_target,
                "target_label": _target_label(form_target),
                "subtarget": subtarget,
                "subtarget_label": registry.subtarget_label(form_target, subtarget),
                "sections": [],
                "inactive": [],
                "query": urlencode({"target": form_target, "subtarget": subtarget}),
            },
        )

    for definition in definitions:
        group = group_of(definition.target, definition.subtarget)
        row = {
            "definition": definition,
            "label": definition.label(language),
            "type_label": _type_label(definition.field_type),
            "condition": describe_condition(
                definition.visible_when,
                {k: v for (t, k), v in labels.items() if t == definition.target},
            ),
        }
        if not definition.is_active:
            group["inactive"].append(row)
        elif group["sections"] and group["sections"][-1]["label"] == definition.section:
            group["sections"][-1]["rows"].append(row)
        else:
            group["sections"].append({"label": definition.section, "rows": [row]})
    if target is not None and subtargets:
        for subtarget in subtargets:
            if subtarget:
                group_of(target, subtarget)
    return sorted(groups.values(), key=lambda g: (g["target"], g["subtarget"]))


@signed_in
def field_list(request: HttpRequest) -> HttpResponse:
    """Every form (target + subtarget) and its fields in order, inactive ones last; with
    ``?target=…&subtarget=…`` only that form and the fields it shares with every subtarget.
    Those who may configure drag fields into place (the ↑/↓ buttons do the same without a
    mouse or without JavaScript)."""
    require(request, services.VIEW)
    target = request.GET.get("target") or None
    if target is not None and target not in registry.targets():
        raise Http404
    subtarget = (request.GET.get("subtarget") or "").strip()
    subtargets = ("", subtarget) if target is not None and subtarget else None
    return render(
        request,
        "customfields/list.html",
        {
            "groups": _form_groups(request.user, target=target, subtargets=subtargets),
            "may_configure": authz.has_permission(request.user, services.CONFIGURE),
            "narrowed": target is not None,
            "add_query": urlencode({"target": target, "subtarget": subtarget})
            if target is not None
            else "",
        },
    )


def _type_label(key: str) -> str:
    try:
        return str(registry.get(key).label)
    except InvalidValue:
        return key


@signed_in
def field_choose_type(request: HttpRequest) -> HttpResponse:
    """Step one of adding a field: its type, which decides the inputs of step two."""
    require(request, services.CONFIGURE)
    query = urlencode({k: request.GET[k] for k in ("target", "subtarget") if k in request.GET})
    types = [
        {
            "key": handler.key,
            "label": handler.label,
            "url": reverse("customfields:field_create", args=[handler.key])
            + (f"?{query}" if query else ""),
        }
        for handler in registry.field_types().values()
    ]
    return render(request, "customfields/choose_type.html", {"types": types})


@signed_in
@require_http_methods(["GET", "POST"])
def field_create(request: HttpRequest, field_type: str) -> HttpResponse:
    require(request, services.CONFIGURE)
    try:
        handler = registry.get(field_type)
    except InvalidValue:
        raise Http404 from None
    source = request.POST if request.method == "POST" else request.GET
    target = source.get("target") or next(iter(registry.targets()), "")
    subtarget = (source.get("subtarget") or "").strip()
    form = DefinitionForm(
        request.POST if request.method == "POST" else None,
        field_type=handler,
        condition_fields=condition_candidates(target, subtarget),
        initial={"target": target, "subtarget": subtarget},
    )
    if request.method == "POST" and form.is_valid():
        try:
            definition = services.create_definition(actor=request.user, **form.service_arguments())
        except DomainError as error:
            add_domain_error(form, _on_form(form, error))
        else:
            messages.success(request, _("Field %(key)s has been added.") % {"key": definition.key})
            return redirect("customfields:field_list")
    return render(
        request,
        "customfields/form.html",
        {"form": form, "definition": None, "type_label": handler.label, "versions": []},
    )


def _on_form(form: DefinitionForm, error: DomainError) -> DomainError:
    """Point service errors about the condition or config at the inputs that produced them."""
    if error.field == "visible_when":
        error.field = "condition_field" if form.data.get("condition_field") else "visible_when_json"
    elif error.field and error.field.startswith("config"):
        # "config.options.0.key" → the input "config_options"; else above the form.
        parts = error.field.split(".")
        name = f"config_{parts[1]}" if len(parts) > 1 else ""
        error.field = name if name in form.fields else None
    return error


@signed_in
@require_http_methods(["GET", "POST"])
def field_edit(request: HttpRequest, pk: int) -> HttpResponse:
    definition = get_object_or_404(selectors.definitions_visible_to(request.user), pk=pk)
    require(request, services.CONFIGURE)
    form = DefinitionForm(
        request.POST if request.method == "POST" else None,
        field_type=definition.handler,
        definition=definition,
        condition_fields=condition_candidates(
            definition.target, definition.subtarget, exclude=definition
        ),
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.update_definition(
                actor=request.user,
                definition=definition,
                changes=form.service_arguments(),
                expected_version=_posted_version(request),
            )
        except DomainError as error:
            add_domain_error(form, _on_form(form, error), show_denied=True)
        else:
            messages.success(request, _("The field has been saved."))
            return redirect("customfields:field_list")
    return render(
        request,
        "customfields/form.html",
        {
            "form": form,
            "definition": definition,
            "type_label": definition.handler.label,
            "versions": list(selectors.versions_of(definition)[:20]),
        },
    )


def _posted_version(request: HttpRequest) -> int | None:
    value = request.POST.get("version", "")
    return int(value) if value.isdigit() else None


@signed_in
@require_POST
def field_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    definition = get_object_or_404(selectors.definitions_visible_to(request.user), pk=pk)
    try:
        services.deactivate_definition(actor=request.user, definition=definition)
    except DomainError as error:
        if error.status == 403:
            raise HttpPermissionDenied(error.detail()) from None
        messages.error(request, error.detail())
    else:
        messages.success(request, _("Field %(key)s was deactivated.") % {"key": definition.key})
    return redirect("customfields:field_list")


@signed_in
@require_POST
def field_activate(request: HttpRequest, pk: int) -> HttpResponse:
    definition = get_object_or_404(selectors.definitions_visible_to(request.user), pk=pk)
    try:
        services.update_definition(
            actor=request.user, definition=definition, changes={"is_active": True}
        )
    except DomainError as error:
        if error.status == 403:
            raise HttpPermissionDenied(error.detail()) from None
        messages.error(request, error.detail())
    else:
        messages.success(request, _("Field %(key)s is active again.") % {"key": definition.key})
    return redirect("customfields:field_list")


@signed_in
@require_POST
def field_move(request: HttpRequest, pk: int) -> HttpResponse:
    definition = get_object_or_404(selectors.definitions_visible_to(request.user), pk=pk)
    offset = -1 if request.POST.get("direction") == "up" else 1
    services.move_definition(actor=request.user, definition=definition, offset=offset)
    return redirect("customfields:field_list")


@signed_in
@require_POST
def field_reorder(request: HttpRequest) -> HttpResponse:
    """The form builder's drop: the active fields of one form in their new order, each with
    the section it was dropped in (``keys`` and ``sections``, in step). Answers the form's
    card re-rendered from the database, so the page shows what was stored."""
    require(request, services.CONFIGURE)
    target = request.POST.get("target", "")
    if target not in registry.targets():
        raise Http404
    subtarget = request.POST.get("subtarget", "").strip()
    keys = request.POST.getlist("keys")
    sections = request.POST.getlist("sections")
    error = ""
    if len(keys) != len(sections):
        error = _("The new order could not be read. Reload the page and try again.")
    else:
        try:
            services.reorder_definitions(
                actor=request.user,
                target=target,
                subtarget=subtarget,
                keys=keys,
                sections=dict(zip(keys, sections, strict=True)),
            )
        except DomainError as refused:
            if refused.status == 403:
                raise HttpPermissionDenied(refused.detail()) from None
            error = refused.detail()
    if not is_htmx(request):
        if error:
            messages.error(request, error)
        return redirect("customfields:field_list")
    groups = _form_groups(request.user, target=target, subtargets=(subtarget,))
    group = next((g for g in groups if g["subtarget"] == subtarget), None)
    if group is None:
        raise Http404
    return render(
        request,
        "customfields/_form_group.html",
        {"group": group, "may_configure": True, "error": error},
    )


@signed_in
@require_http_methods(["GET", "POST"])
def field_preview(request: HttpRequest) -> HttpResponse:
    """The form of one target + subtarget as staff or a customer would get it. Each change is
    posted (htmx) and the fields come back re-rendered: conditions applied, values checked."""
    require(request, services.VIEW)
    target = request.GET.get("target", "")
    if target not in registry.targets():
        raise Http404
    subtarget = request.GET.get("subtarget", "").strip()
    audience: services.Audience = (
        "customer" if request.GET.get("audience") == "customer" else "staff"
    )
    definitions = services.definitions_for(target, subtarget or None)
    defaults = {d.key: d.default for d in definitions if d.default is not None}
    form = CustomFieldsForm(
        request.POST if request.method == "POST" else None,
        definitions=definitions,
        values=defaults,
        audience=audience,
        actor=request.user,
    )
    cleaned: str | None = None
    if request.method == "POST":
        try:
            values = services.clean_values(
                target=target,
                subtarget=subtarget or None,
                values=form.submitted_values(),
                actor=request.user,
                audience=audience,
            )
        except FieldErrors as error:
            form.add_field_errors(error)
        else:
            if not form.errors:
                cleaned = json.dumps(values, ensure_ascii=False, indent=2)
    context = {
        "form": form,
        "cleaned": cleaned,
        "target": target,
        "target_label": _target_label(target),
        "subtarget": subtarget,
        "audience": audience,
        "action": request.get_full_path(),
        "staff_url": "?" + urlencode({"target": target, "subtarget": subtarget}),
        "customer_url": "?"
        + urlencode({"target": target, "subtarget": subtarget, "audience": "customer"}),
    }
    template = "customfields/_preview.html" if is_htmx(request) else "customfields/preview.html"
    return render(request, template, context)
