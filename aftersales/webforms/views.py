"""Pages of web forms.

Public (anonymous, meant to live in an iframe on another site): the form, its live re-render
of conditional fields, and ``embed.js``. They never rely on cookies (a third-party iframe
usually gets none): a signed form token, the Origin/Referer check and the rate limit stand in
for CSRF protection and sign-in. Settings: the list, create/edit with the embed snippets.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from aftersales.accounts import authz
from aftersales.accounts.models import Team
from aftersales.core.errors import DomainError, NotFound, PermissionDenied
from aftersales.core.middleware import CONTENT_SECURITY_POLICY, client_ip
from aftersales.tickets.models import TicketType
from aftersales.web.shortcuts import add_domain_error, require, signed_in
from aftersales.webforms import forms as wf
from aftersales.webforms import selectors, services
from aftersales.webforms.models import WebForm

LANGUAGES = {code for code, _name in settings.LANGUAGES}


# --- Public ---------------------------------------------------------------------------------


def own_origin(request: HttpRequest) -> str:
    return f"{request.scheme}://{request.get_host()}"


def frame_policy(web_form: WebForm) -> str:
    """The site's policy, except that the allowed origins (and the site) may frame the page."""
    ancestors = " ".join(["'self'", *web_form.allowed_origins])
    return CONTENT_SECURITY_POLICY.replace("frame-ancestors 'none'", f"frame-ancestors {ancestors}")


def _published(key: str) -> WebForm:
    web_form = selectors.published_form(key)
    if web_form is None:
        raise Http404
    return web_form


def _language(request: HttpRequest) -> str:
    wanted = (request.POST.get("lang") or request.GET.get("lang") or "").lower()
    if wanted in LANGUAGES:
        return wanted
    return translation.get_language() or settings.LANGUAGE_CODE


def _parent_origin(request: HttpRequest, web_form: WebForm) -> str:
    """The embedding page's origin (sent by embed.js), when the form allows it: the only
    window the page reports its height to."""
    raw = request.POST.get("parent") or request.GET.get("parent") or ""
    try:
        origin = services.clean_origin(raw)
    except DomainError:
        return ""
    return origin if origin in web_form.allowed_origins else ""


def _public_response(
    request: HttpRequest,
    web_form: WebForm,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
) -> HttpResponse:
    language = context["language"]
    with translation.override(language):
        response = render(
            request,
            template,
            {
                "web_form": web_form,
                "parent_origin": _parent_origin(request, web_form),
                "html_language": "zh-Hans" if language == "zh-hans" else language,
                **context,
            },
            status=status,
        )
    response["Content-Security-Policy"] = frame_policy(web_form)
    response["Cache-Control"] = "no-store"
    response["Content-Language"] = language
    return response


def _form_context(
    request: HttpRequest,
    web_form: WebForm,
    visitor: wf.VisitorForm,
    custom: Any,
    *,
    notice: str = "",
) -> dict[str, Any]:
    return {
        "language": _language(request),
        "visitor": visitor,
        "custom": custom,
        "sections": wf.sections(custom),
        "token": services.issue_token(web_form),
        "notice": notice,
        "honeypot": visitor[wf.HONEYPOT] if wf.HONEYPOT in visitor.fields else None,
        "fields_url": reverse("webforms:fields", kwargs={"key": web_form.key}),
    }


@csrf_exempt
@xframe_options_exempt
@require_http_methods(["GET", "POST"])
def form_page(request: HttpRequest, key: str) -> HttpResponse:
    """The visitor's form; a post becomes a ticket (see ``services.submit``)."""
    web_form = _published(key)
    language = _language(request)
    with translation.override(language):
        if request.method != "POST":
            visitor = wf.VisitorForm(web_form=web_form)
            custom = wf.custom_form(None, services.public_definitions(web_form))
            return _public_response(
                request, web_form, "webforms/form.html", _form_context(
                    request, web_form, visitor, custom
                )
            )  # fmt: skip
        return _submit(request, web_form, language)


def _submit(request: HttpRequest, web_form: WebForm, language: str) -> HttpResponse:
    try:
        services.check_origin(
            web_form,
            origin=request.headers.get("Origin"),
            referer=request.headers.get("Referer"),
            own_origin=own_origin(request),
        )
    except PermissionDenied as refused:
        return _public_response(
            request,
            web_form,
            "webforms/refused.html",
            {"language": language, "detail": refused.detail()},
            status=403,
        )
    throttle = services.count_post(web_form=web_form, address=client_ip(request) or "")
    if not throttle.allowed:
        response = _public_response(
            request,
            web_form,
            "webforms/throttled.html",
            {"language": language, "minutes": max(1, (throttle.retry_after + 59) // 60)},
            status=429,
        )
        response["Retry-After"] = str(throttle.retry_after)
        return response
    if services.caught_by_honeypot(web_form, request.POST.get(wf.HONEYPOT, "")):
        return _to_answer(request, web_form, None, language)
    visitor = wf.VisitorForm(request.POST, request.FILES, web_form=web_form)
    custom = wf.custom_form(request.POST, services.public_definitions(web_form))
    try:
        services.check_token(web_form, request.POST.get("token"))
    except DomainError as refused:
        wf.silence(visitor)
        wf.silence(custom)
        context = _form_context(request, web_form, visitor, custom, notice=refused.detail())
        return _public_response(request, web_form, "webforms/form.html", context, status=400)
    visitor_valid = visitor.is_valid()
    custom.is_valid()
    contact = services.Contact(
        name=request.POST.get("name", ""),
        email=request.POST.get("email", ""),
        phone=request.POST.get("phone", ""),
    )
    entries: dict[str, Any] = {
        "web_form": web_form,
        "contact": contact,
        "subject": request.POST.get("subject", ""),
        "custom_fields": custom.submitted_values(),
    }
    try:
        if not visitor_valid:
            # Django refused a file or a length: show the service's findings beside its own.
            services.clean_submission(**entries)
            context = _form_context(request, web_form, visitor, custom)
            return _public_response(request, web_form, "webforms/form.html", context, status=422)
        submission = services.submit(
            **entries,
            description=request.POST.get("description", ""),
            files=visitor.cleaned_data.get("photos") or [],
            language=language,
        )
    except services.SubmissionInvalid as refused:
        rest = visitor.add_problems(refused.errors())
        unplaced = _place_custom_problems(custom, rest)
        notice = " ".join(problem["detail"] for problem in unplaced)
        context = _form_context(request, web_form, visitor, custom, notice=notice)
        return _public_response(request, web_form, "webforms/form.html", context, status=422)
    except NotFound:
        raise Http404 from None
    except DomainError as refused:
        context = _form_context(request, web_form, visitor, custom, notice=refused.detail())
        return _public_response(request, web_form, "webforms/form.html", context, status=422)
    return _to_answer(request, web_form, submission.ticket, language)


def _to_answer(request: HttpRequest, web_form: WebForm, ticket: Any, language: str) -> HttpResponse:
    """303 to the answer page (Post/Redirect/Get: reloading it never sends the form again)."""
    query = {"receipt": services.issue_receipt(web_form, ticket), "lang": language}
    parent = _parent_origin(request, web_form)
    if parent:
        query["parent"] = parent
    url = reverse("webforms:done", kwargs={"key": web_form.key}) + "?" + urlencode(query)
    response = HttpResponseRedirect(url, status=303)
    response["Cache-Control"] = "no-store"
    return response


@xframe_options_exempt
@require_GET
def done(request: HttpRequest, key: str) -> HttpResponse:
    """The answer to a post: the form's success message and the new ticket's number."""
    web_form = _published(key)
    language = _language(request)
    valid, number = services.read_receipt(web_form, request.GET.get("receipt"))
    if not valid:
        return redirect(reverse("webforms:form", kwargs={"key": web_form.key}))
    return _public_response(
        request,
        web_form,
        "webforms/done.html",
        {
            "language": language,
            "message": services.success_message(web_form, language),
            "number": number,
        },
    )


def _place_custom_problems(custom: Any, problems: list[dict[str, str]]) -> list[dict[str, str]]:
    rest = []
    for problem in problems:
        name = "cf_" + problem["field"].removeprefix("custom_fields.")
        if problem["field"].startswith("custom_fields.") and name in custom.fields:
            if not custom.has_error(name):
                custom.add_error(name, problem["detail"])
        else:
            rest.append(problem)
    return rest


@csrf_exempt
@xframe_options_exempt
@require_POST
def fields(request: HttpRequest, key: str) -> HttpResponse:
    """The type's fields re-rendered for what was typed so far (conditional fields). Writes
    nothing, so it is neither counted nor token-checked."""
    web_form = _published(key)
    language = _language(request)
    with translation.override(language):
        custom = wf.custom_form(request.POST, services.public_definitions(web_form))
        wf.silence(custom)
        return _public_response(
            request,
            web_form,
            "webforms/_fields.html",
            {"language": language, "custom": custom, "sections": wf.sections(custom)},
        )


@require_GET
def embed_script(request: HttpRequest, key: str) -> HttpResponse:
    """``<script src=".../embed.js">``: inserts the form's iframe where the tag stands (or into
    ``data-target``) and keeps its height fitted to the content."""
    web_form = _published(key)
    config = {
        "formUrl": request.build_absolute_uri(
            reverse("webforms:form", kwargs={"key": web_form.key})
        ),
        "origin": own_origin(request),
        "title": web_form.name,
    }
    response = render(
        request,
        "webforms/embed.js",
        {"config": json.dumps(config).replace("<", "\\u003c")},
        content_type="text/javascript; charset=utf-8",
    )
    response["Cache-Control"] = "public, max-age=300"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


# --- Settings -------------------------------------------------------------------------------


def _choices(request: HttpRequest) -> tuple[Any, Any]:
    """Ticket types and teams the person may build forms for."""
    types = TicketType.objects.filter(is_active=True, business_line__is_active=True)
    teams = Team.objects.filter(is_active=True)
    if (
        authz.scope_for(request.user, services.ADD) != authz.Scope.ALL
        and authz.scope_for(request.user, services.CHANGE) != authz.Scope.ALL
    ):
        lines = authz.business_line_ids(request.user)
        types = types.filter(business_line_id__in=lines)
        teams = teams.filter(business_line_id__in=lines)
    return (
        types.select_related("business_line").order_by("business_line__name", "position"),
        teams.select_related("business_line").order_by("business_line__name", "name"),
    )


def snippets(request: HttpRequest, web_form: WebForm) -> dict[str, str]:
    """The copy-paste embed codes: a script tag (fits its height), or a plain iframe."""
    form_url = request.build_absolute_uri(reverse("webforms:form", kwargs={"key": web_form.key}))
    script_url = request.build_absolute_uri(reverse("webforms:embed", kwargs={"key": web_form.key}))
    return {
        "script": f'<script src="{script_url}" async></script>',
        "iframe": (
            f'<iframe src="{form_url}" title="{web_form.name}" width="100%" height="720" '
            'style="border:0;max-width:640px"></iframe>'
        ),
        "link": form_url,
        "api": request.build_absolute_uri(f"/api/v1/forms/{web_form.key}/submissions"),
    }


@signed_in
@require_GET
def form_list(request: HttpRequest) -> HttpResponse:
    require(request, services.VIEW)
    return render(
        request,
        "webforms/settings_list.html",
        {
            "web_forms": selectors.web_forms_visible_to(request.user),
            "may_add": authz.has_permission(request.user, services.ADD),
        },
    )


def _settings_page(request: HttpRequest, web_form: WebForm | None) -> HttpResponse:
    types, teams = _choices(request)
    if request.method == "POST":
        form = wf.WebFormForm(request.POST, ticket_types=types, teams=teams)
        if form.is_valid():
            try:
                if web_form is None:
                    saved = services.create_web_form(actor=request.user, values=form.values())
                else:
                    saved = services.update_web_form(
                        actor=request.user,
                        web_form=web_form,
                        changes=form.values(),
                        expected_version=form.cleaned_data["version"],
                    )
            except DomainError as refused:
                add_domain_error(form, refused, show_denied=True)
            else:
                return redirect(reverse("webforms:edit", kwargs={"pk": saved.pk}) + "?saved=1")
        status = 422
    else:
        initial: dict[str, Any] = {}
        if web_form is not None:
            initial = {**web_form.snapshot(), "version": web_form.version}
            initial["allowed_origins"] = "\n".join(web_form.allowed_origins)
        form = wf.WebFormForm(initial=initial or None, ticket_types=types, teams=teams)
        status = 200
    context: dict[str, Any] = {
        "form": form,
        "web_form": web_form,
        "saved": request.GET.get("saved") == "1",
    }
    if web_form is not None:
        context.update(
            {
                "snippets": snippets(request, web_form),
                "unfillable": [
                    d.label(translation.get_language() or "en")
                    for d in services.unfillable_fields(web_form)
                ],
                "may_change": authz.has_permission(request.user, services.CHANGE, web_form),
                "may_delete": authz.has_permission(request.user, services.DELETE, web_form),
            }
        )
    else:
        context["may_change"] = True
    return render(request, "webforms/settings_form.html", context, status=status)


@signed_in
@require_http_methods(["GET", "POST"])
def form_create(request: HttpRequest) -> HttpResponse:
    require(request, services.ADD)
    return _settings_page(request, None)


@signed_in
@require_http_methods(["GET", "POST"])
def form_edit(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, services.VIEW)
    web_form = get_object_or_404(selectors.web_forms_visible_to(request.user), pk=pk)
    if request.method == "POST":
        require(request, services.CHANGE)
    return _settings_page(request, web_form)


@signed_in
@require_POST
def form_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    web_form = get_object_or_404(selectors.web_forms_visible_to(request.user), pk=pk)
    services.rotate_key(actor=request.user, web_form=web_form)
    return redirect(reverse("webforms:edit", kwargs={"pk": web_form.pk}) + "?saved=1")


@signed_in
@require_POST
def form_delete(request: HttpRequest, pk: int) -> HttpResponse:
    web_form = get_object_or_404(selectors.web_forms_visible_to(request.user), pk=pk)
    services.delete_web_form(actor=request.user, web_form=web_form)
    return redirect("webforms:list")
