"""``/api/v1/webforms`` (configuration, for staff) and ``/api/v1/forms/{key}`` (public, for
sites that build their own form: the fields and a token, then a JSON submission).

The public endpoints take no authentication and answer cross-origin requests only from the
form's allowed origins, preflight included. Their errors carry the CORS headers too, so the
site's script can show them next to its fields.
"""

from __future__ import annotations

import json
from typing import Any

import pydantic
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import translation
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from aftersales.accounts import authz
from aftersales.accounts.models import Team
from aftersales.api.common import PageOut, etag_of, expected_version
from aftersales.api.pagination import paginate
from aftersales.api.problems import problem, translate_validation_errors
from aftersales.core.errors import DomainError, NotFound
from aftersales.core.middleware import client_ip
from aftersales.tickets.models import TicketType
from aftersales.tickets.services import PRIORITY_BY_KEY, PRIORITY_KEYS
from aftersales.webforms import selectors, services
from aftersales.webforms.models import WebForm

router = Router(tags=["web forms"])

PREFLIGHT_MAX_AGE = 600


# --- Schemas ------------------------------------------------------------------------------------


class PageQuery(Schema):
    cursor: str | None = None
    limit: int | None = None


class WebFormOut(Schema):
    id: int
    name: str
    key: str
    ticket_type_id: int
    business_line_id: int
    team_id: int | None
    default_priority: str
    allowed_origins: list[str]
    per_minute_limit: int
    per_hour_limit: int
    has_honeypot: bool
    is_contact_required: bool
    success_message_zh: str
    success_message_en: str
    is_active: bool
    version: int
    form_url: str
    script_url: str


class WebFormIn(Schema):
    name: str = Field(..., max_length=services.MAX_NAME)
    ticket_type_id: int
    team_id: int | None = None
    default_priority: str = "normal"
    allowed_origins: list[str] = Field(default_factory=list)
    per_minute_limit: int = 5
    per_hour_limit: int = 30
    has_honeypot: bool = True
    is_contact_required: bool = True
    success_message_zh: str = ""
    success_message_en: str = ""
    is_active: bool = True


class WebFormPatch(Schema):
    name: str | None = Field(None, max_length=services.MAX_NAME)
    ticket_type_id: int | None = None
    team_id: int | None = None
    default_priority: str | None = None
    allowed_origins: list[str] | None = None
    per_minute_limit: int | None = None
    per_hour_limit: int | None = None
    has_honeypot: bool | None = None
    is_contact_required: bool | None = None
    success_message_zh: str | None = None
    success_message_en: str | None = None
    is_active: bool | None = None


class SubmissionIn(pydantic.BaseModel):
    """A visitor's post from a site's own form."""

    model_config = pydantic.ConfigDict(extra="forbid")

    token: str = ""
    name: str = ""
    email: str = ""
    phone: str = ""
    subject: str = ""
    description: str = ""
    custom_fields: dict[str, Any] = pydantic.Field(default_factory=dict)
    website: str = ""  # the honeypot: leave it empty
    language: str = ""


# --- Configuration ------------------------------------------------------------------------------


def _out(request: HttpRequest, web_form: WebForm) -> dict[str, Any]:
    return {
        **{name: getattr(web_form, name) for name in (
            "id", "name", "key", "ticket_type_id", "team_id", "allowed_origins",
            "per_minute_limit", "per_hour_limit", "has_honeypot", "is_contact_required",
            "success_message_zh", "success_message_en", "is_active", "version",
        )},
        "business_line_id": web_form.ticket_type.business_line_id,
        "default_priority": PRIORITY_KEYS.get(web_form.default_priority, ""),
        "form_url": request.build_absolute_uri(f"/forms/{web_form.key}/"),
        "script_url": request.build_absolute_uri(f"/forms/{web_form.key}/embed.js"),
    }  # fmt: skip


def _unknown(field: str) -> DomainError:
    return DomainError("unknown_reference", field=field, message=_("There is no such item."))


def _values(request: HttpRequest, sent: dict[str, Any]) -> dict[str, Any]:
    """API names → service values (ids resolved among what the caller can use)."""
    values = dict(sent)
    if "ticket_type_id" in values:
        pk = values.pop("ticket_type_id")
        ticket_type = TicketType.objects.select_related("business_line").filter(pk=pk).first()
        if ticket_type is None or not _type_in_reach(request, ticket_type):
            raise _unknown("ticket_type_id")
        values["ticket_type"] = ticket_type
    if "team_id" in values:
        pk = values.pop("team_id")
        team = Team.objects.filter(pk=pk).first() if pk is not None else None
        if pk is not None and (team is None or not _line_in_reach(request, team.business_line_id)):
            raise _unknown("team_id")
        values["team"] = team
    if "default_priority" in values:
        key = values["default_priority"]
        if key not in PRIORITY_BY_KEY:
            raise DomainError(
                "invalid_choice",
                field="default_priority",
                message=_("Choose one of: low, normal, high, urgent."),
            )
        values["default_priority"] = PRIORITY_BY_KEY[key]
    return values


def _type_in_reach(request: HttpRequest, ticket_type: TicketType) -> bool:
    return _line_in_reach(request, ticket_type.business_line_id)


def _line_in_reach(request: HttpRequest, line_id: int) -> bool:
    """A type or team of another line stays unnamed for someone who cannot see that line's
    forms (it is "unknown", not "of another line")."""
    scopes = [authz.scope_for(request.user, c) for c in (services.ADD, services.CHANGE)]
    if authz.Scope.ALL in scopes:
        return True
    return line_id in authz.business_line_ids(request.user)


def _not_null(sent: dict[str, Any]) -> None:
    for name, value in sent.items():
        if value is None and name != "team_id":
            raise DomainError("required", field=name, message=_("This field is required."))


@router.get("/webforms", response=PageOut[WebFormOut], summary="List web forms")
def list_web_forms(request: HttpRequest, query: Query[PageQuery]) -> dict[str, Any]:
    authz.require_permission(request.user, services.VIEW)
    page = paginate(
        selectors.web_forms_visible_to(request.user), cursor=query.cursor, limit=query.limit
    )
    return {"items": [_out(request, f) for f in page.items], "next_cursor": page.next_cursor}


@router.post("/webforms", response={201: WebFormOut}, summary="Create a web form")
def create_web_form(
    request: HttpRequest, payload: WebFormIn, response: HttpResponse
) -> Status[dict[str, Any]]:
    authz.require_permission(request.user, services.ADD)
    web_form = services.create_web_form(actor=request.user, values=_values(request, payload.dict()))
    response["ETag"] = etag_of(web_form.version)
    return Status(201, _out(request, web_form))


@router.get("/webforms/{web_form_id}", response=WebFormOut, summary="A web form")
def get_web_form(request: HttpRequest, web_form_id: int, response: HttpResponse) -> Any:
    web_form = get_object_or_404(selectors.web_forms_visible_to(request.user), pk=web_form_id)
    response["ETag"] = etag_of(web_form.version)
    return _out(request, web_form)


@router.patch(
    "/webforms/{web_form_id}", response=WebFormOut, summary="Change a web form (If-Match)"
)
def update_web_form(
    request: HttpRequest, web_form_id: int, payload: WebFormPatch, response: HttpResponse
) -> Any:
    web_form = get_object_or_404(selectors.web_forms_visible_to(request.user), pk=web_form_id)
    sent = payload.dict(exclude_unset=True)
    _not_null(sent)
    web_form = services.update_web_form(
        actor=request.user,
        web_form=web_form,
        changes=_values(request, sent),
        expected_version=expected_version(request),
    )
    response["ETag"] = etag_of(web_form.version)
    return _out(request, web_form)


@router.delete("/webforms/{web_form_id}", response={204: None}, summary="Delete a web form")
def delete_web_form(request: HttpRequest, web_form_id: int) -> Status[None]:
    web_form = get_object_or_404(selectors.web_forms_visible_to(request.user), pk=web_form_id)
    services.delete_web_form(actor=request.user, web_form=web_form)
    return Status(204, None)


# --- Public: a site's own form ------------------------------------------------------------------


def _own_origin(request: HttpRequest) -> str:
    return f"{request.scheme}://{request.get_host()}"


def _cors(request: HttpRequest, web_form: WebForm, response: HttpResponse) -> HttpResponse:
    """Let the calling site read the answer, when it is one of the form's origins."""
    origin = request.headers.get("Origin", "")
    response["Vary"] = "Origin"
    if origin and origin != "null" and origin in web_form.allowed_origins:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Expose-Headers"] = "Retry-After, Content-Language"
    return response


def _json(status: int, body: dict[str, Any]) -> HttpResponse:
    return HttpResponse(
        json.dumps(body, ensure_ascii=False), status=status, content_type="application/json"
    )


def _refusal(request: HttpRequest, error: DomainError) -> HttpResponse:
    return problem(
        request,
        status=error.status,
        code=error.code,
        detail=error.detail(),
        errors=error.errors() or None,
    )


def _published(key: str) -> WebForm:
    web_form = selectors.published_form(key)
    if web_form is None:
        raise NotFound("not_found")
    return web_form


def _field_out(definition: Any, language: str) -> dict[str, Any]:
    config = definition.parsed_config

    def options(nodes: Any) -> list[dict[str, Any]]:
        result = []
        for node in nodes or []:
            if not getattr(node, "is_active", True):
                continue
            label = (node.label_zh if language.startswith("zh") else node.label_en) or (
                node.label_en or node.label_zh or node.key
            )
            item: dict[str, Any] = {"key": node.key, "label": label}
            if getattr(node, "children", None):
                item["children"] = options(node.children)
            result.append(item)
        return result

    out: dict[str, Any] = {
        "key": definition.key,
        "type": definition.field_type,
        "label": definition.label(language),
        "help": definition.help(language),
        "required": definition.is_required,
        "visible_when": definition.visible_when or None,
        "default": definition.default,
    }
    if hasattr(config, "options"):
        out["options"] = options(config.options)
    return out


@router.get("/forms/{key}", auth=None, summary="A web form's fields and a fresh token (public)")
def public_form(request: HttpRequest, key: str, lang: str = "") -> HttpResponse:
    """What a site needs to build its own form: the fields (customer-visible ones of the
    ticket type, with their visibility conditions) and a token to send back with the post
    (at least a few seconds later, at most 12 hours)."""
    web_form = _published(key)
    language = lang.lower() if lang.lower() in ("zh-hans", "en") else (
        translation.get_language() or "en"
    )  # fmt: skip
    body = {
        "key": web_form.key,
        "name": web_form.name,
        "token": services.issue_token(web_form),
        "min_fill_seconds": services.MIN_FILL_SECONDS,
        "is_contact_required": web_form.is_contact_required,
        "honeypot": "website" if web_form.has_honeypot else None,
        "fields": [_field_out(d, language) for d in services.public_definitions(web_form)],
    }
    response = _json(200, body)
    response["Cache-Control"] = "no-store"
    return _cors(request, web_form, response)


@router.api_operation(
    ["OPTIONS"], "/forms/{key}/submissions", auth=None, summary="CORS preflight (public)"
)
def submission_preflight(request: HttpRequest, key: str) -> HttpResponse:
    web_form = _published(key)
    origin = request.headers.get("Origin", "")
    method = request.headers.get("Access-Control-Request-Method", "")
    if not origin or origin not in web_form.allowed_origins or method.upper() != "POST":
        response = problem(
            request,
            status=403,
            code="origin_not_allowed",
            detail=_("This form does not accept posts from this website."),
        )
        response["Vary"] = "Origin"
        return response
    response = HttpResponse(status=204)
    response["Access-Control-Allow-Origin"] = origin
    response["Access-Control-Allow-Methods"] = "POST"
    response["Access-Control-Allow-Headers"] = "Content-Type, Accept-Language, Idempotency-Key"
    response["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE)
    response["Vary"] = "Origin"
    return response


@router.post(
    "/forms/{key}/submissions",
    auth=None,
    summary="Send a web form (public)",
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": SubmissionIn.model_json_schema()}},
            "required": True,
        }
    },
)
def submit(request: HttpRequest, key: str) -> HttpResponse:
    """Becomes a ticket; answers 201 with its number and the form's success message. Refused
    entries: 422 with every field at fault; a foreign origin: 403; over the form's limit per
    client address: 429 with ``Retry-After``."""
    web_form = _published(key)
    try:
        services.check_origin(
            web_form,
            origin=request.headers.get("Origin"),
            referer=request.headers.get("Referer"),
            own_origin=_own_origin(request),
        )
    except DomainError as refused:
        return _refusal(request, refused)
    throttle = services.count_post(web_form=web_form, address=client_ip(request) or "")
    if not throttle.allowed:
        response = problem(
            request,
            status=429,
            code="rate_limited",
            detail=_("Too many posts from your network. Wait before trying again."),
            headers={"Retry-After": str(throttle.retry_after)},
        )
        return _cors(request, web_form, response)
    return _cors(request, web_form, _accept(request, web_form))


def _accept(request: HttpRequest, web_form: WebForm) -> HttpResponse:
    try:
        payload = SubmissionIn.model_validate(json.loads(request.body or b"{}"))
    except (ValueError, pydantic.ValidationError) as error:
        errors = (
            translate_validation_errors(list(error.errors()))  # type: ignore[arg-type]
            if isinstance(error, pydantic.ValidationError)
            else [{"field": "body", "code": "json_invalid", "detail": _("Send a JSON object.")}]
        )
        return problem(
            request,
            status=422,
            code="validation_error",
            detail=_("The request has invalid fields."),
            errors=errors,
        )
    language = payload.language.lower()
    if language not in ("zh-hans", "en"):
        language = translation.get_language() or "en"
    with translation.override(language):
        try:
            if services.caught_by_honeypot(web_form, payload.website):
                return _json(201, {"number": None, "message": services.success_message(
                    web_form, language
                )})  # fmt: skip
            services.check_token(web_form, payload.token)
            submission = services.submit(
                web_form=web_form,
                contact=services.Contact(
                    name=payload.name, email=payload.email, phone=payload.phone
                ),
                subject=payload.subject,
                description=payload.description,
                custom_fields=payload.custom_fields,
                language=language,
            )
        except DomainError as refused:
            return _refusal(request, refused)
    ticket = submission.ticket
    return _json(
        201,
        {"number": ticket.number if ticket is not None else None, "message": submission.message},
    )
