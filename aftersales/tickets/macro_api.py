"""API of agents' tools: macros (keep, share, preview on a ticket, apply) and saved views.

Macros and views are read through ``selectors.macros_usable_by`` and
``selectors.saved_views_of``: someone else's personal macro or view is a 404. Both lists are
short per person (their own plus the shared ones), so they are answered whole, not paged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status
from pydantic import ConfigDict

from aftersales.accounts.models import BusinessLine
from aftersales.api.common import PreconditionFailed, etag_of, expected_version
from aftersales.core.errors import DomainError
from aftersales.tickets import filtering, selectors, services
from aftersales.tickets.models import Macro, SavedView, Ticket
from aftersales.tickets.services import macros as macro_services

router = Router(tags=["macros"])


# --- Schemas -----------------------------------------------------------------------------------


class MacroAction(Schema):
    model_config = ConfigDict(extra="forbid")

    field: str = Field(..., max_length=100)
    value: Any = None


class MacroOut(Schema):
    id: int
    name: str
    owner_id: int
    is_shared: bool
    business_line_id: int | None
    reply_kind: Literal["public", "internal"]
    body: str
    actions: list[MacroAction]
    is_active: bool
    usage_count: int
    may_edit: bool
    version: int
    created_at: datetime
    updated_at: datetime


class MacroIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1, max_length=macro_services.MAX_NAME)
    reply_kind: Literal["public", "internal"] = "public"
    body: str = Field("", max_length=macro_services.MAX_BODY)
    actions: list[MacroAction] = Field([], max_length=macro_services.MAX_ACTIONS)
    is_shared: bool = False
    business_line_id: int | None = None


class MacroPatch(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=macro_services.MAX_NAME)
    reply_kind: Literal["public", "internal"] | None = None
    body: str | None = Field(None, max_length=macro_services.MAX_BODY)
    actions: list[MacroAction] | None = Field(None, max_length=macro_services.MAX_ACTIONS)
    is_shared: bool | None = None
    business_line_id: int | None = None


class OnTicketIn(Schema):
    ticket_id: int


class PreviewOut(Schema):
    ticket_id: int
    reply_kind: Literal["public", "internal"]
    body: str


class ApplyOut(Schema):
    ticket_id: int
    version: int
    status_id: int
    comment_id: int | None
    changed: list[str]


class PlaceholderOut(Schema):
    placeholder: str
    label: str


class SavedViewOut(Schema):
    id: int
    name: str
    owner_id: int
    is_shared: bool
    filters: dict[str, list[str]]
    sort: str
    position: int
    may_edit: bool
    version: int
    created_at: datetime
    updated_at: datetime


class SavedViewIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1, max_length=120)
    filters: dict[str, Any] = {}
    sort: str = filtering.DEFAULT_SORT
    is_shared: bool = False
    position: int = Field(0, ge=0, le=10_000)


class SavedViewPatch(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=120)
    filters: dict[str, Any] | None = None
    sort: str | None = None
    is_shared: bool | None = None
    position: int | None = Field(None, ge=0, le=10_000)


# --- Helpers -----------------------------------------------------------------------------------


def _macro_out(macro: Macro, viewer: Any) -> dict[str, Any]:
    return {
        "id": macro.pk,
        "name": macro.name,
        "owner_id": macro.owner_id,
        "is_shared": macro.is_shared,
        "business_line_id": macro.business_line_id,
        "reply_kind": macro.reply_kind,
        "body": macro.body,
        "actions": macro.actions,
        "is_active": macro.is_active,
        "usage_count": macro.usage_count,
        "may_edit": services.may_edit_macro(viewer, macro),
        "version": macro.version,
        "created_at": macro.created_at,
        "updated_at": macro.updated_at,
    }


def _view_out(view: SavedView, viewer: Any) -> dict[str, Any]:
    return {
        "id": view.pk,
        "name": view.name,
        "owner_id": view.owner_id,
        "is_shared": view.is_shared,
        "filters": view.filters,
        "sort": view.sort,
        "position": view.position,
        "may_edit": services.may_edit_saved_view(viewer, view),
        "version": view.version,
        "created_at": view.created_at,
        "updated_at": view.updated_at,
    }


def _macro(request: HttpRequest, macro_id: int) -> Macro:
    return get_object_or_404(selectors.macros_usable_by(request.user), pk=macro_id)


def _view(request: HttpRequest, view_id: int) -> SavedView:
    return get_object_or_404(selectors.saved_views_of(request.user), pk=view_id)


def _ticket(request: HttpRequest, ticket_id: int) -> Ticket:
    found = selectors.tickets_visible_to(request.user).filter(pk=ticket_id).first()
    if found is None:
        raise DomainError(
            "unknown_reference",
            field="ticket_id",
            message=_("The referenced object does not exist."),
        )
    return found


def _business_line(pk: int | None) -> BusinessLine | None:
    if pk is None:
        return None
    line = BusinessLine.objects.filter(pk=pk).first()
    if line is None:
        raise DomainError(
            "unknown_reference",
            field="business_line_id",
            message=_("The referenced object does not exist."),
        )
    return line


def _with_api_fields(error: DomainError) -> DomainError:
    """Name the input as the client sent it (``business_line`` → ``business_line_id``)."""
    if error.field == "business_line":
        error.field = "business_line_id"
    return error


def _if_match(request: HttpRequest, version: int) -> int | None:
    expected = expected_version(request)
    if expected is not None and expected != version:
        raise PreconditionFailed("version_mismatch", field="If-Match")
    return expected


def _actions(actions: list[MacroAction] | None) -> list[dict[str, Any]] | None:
    if actions is None:
        return None
    return [{"field": action.field, "value": action.value} for action in actions]


# --- Macros ------------------------------------------------------------------------------------


@router.get("/macros", response=list[MacroOut], summary="The macros you may apply")
def list_macros(request: HttpRequest) -> list[dict[str, Any]]:
    return [_macro_out(m, request.user) for m in selectors.macros_usable_by(request.user)]


@router.get(
    "/macros/placeholders",
    response=list[PlaceholderOut],
    summary="The placeholders a macro's message may use",
)
def list_placeholders(request: HttpRequest) -> list[dict[str, str]]:
    return services.placeholder_help()


@router.post("/macros", response={201: MacroOut}, summary="Keep a macro, personal or shared")
def create_macro(request: HttpRequest, payload: MacroIn) -> Status[dict[str, Any]]:
    try:
        macro = services.create_macro(
            actor=request.user,
            name=payload.name,
            reply_kind=payload.reply_kind,
            body=payload.body,
            actions=_actions(payload.actions),
            is_shared=payload.is_shared,
            business_line=_business_line(payload.business_line_id),
        )
    except DomainError as error:
        raise _with_api_fields(error) from None
    return Status(201, _macro_out(macro, request.user))


@router.get("/macros/{macro_id}", response=MacroOut)
def get_macro(request: HttpRequest, macro_id: int, response: HttpResponse) -> dict[str, Any]:
    macro = _macro(request, macro_id)
    response["ETag"] = etag_of(macro.version)
    return _macro_out(macro, request.user)


@router.patch(
    "/macros/{macro_id}",
    response=MacroOut,
    summary="Change a macro (send If-Match to refuse stale edits)",
)
def update_macro(
    request: HttpRequest, macro_id: int, payload: MacroPatch, response: HttpResponse
) -> dict[str, Any]:
    macro = _macro(request, macro_id)
    version = _if_match(request, macro.version)
    sent = payload.dict(exclude_unset=True)
    for name in ("name", "reply_kind", "body", "actions", "is_shared"):
        if name in sent and sent[name] is None:
            raise DomainError(
                "null_not_allowed", field=name, message=_("This field cannot be null.")
            )
    changes: dict[str, Any] = {k: v for k, v in sent.items() if k != "business_line_id"}
    if "actions" in changes:
        changes["actions"] = _actions(payload.actions)
    if "business_line_id" in sent:
        changes["business_line"] = _business_line(sent["business_line_id"])
    try:
        macro = services.update_macro(
            actor=request.user, macro=macro, changes=changes, expected_version=version
        )
    except DomainError as error:
        raise _with_api_fields(error) from None
    response["ETag"] = etag_of(macro.version)
    return _macro_out(macro, request.user)


@router.delete("/macros/{macro_id}", response={204: None}, summary="Deactivate a macro")
def deactivate_macro(request: HttpRequest, macro_id: int) -> Status[None]:
    services.deactivate_macro(actor=request.user, macro=_macro(request, macro_id))
    return Status(204, None)


@router.post(
    "/macros/{macro_id}/preview",
    response=PreviewOut,
    summary="The macro's message as it would read on a ticket (nothing is saved)",
)
def preview_macro(request: HttpRequest, macro_id: int, payload: OnTicketIn) -> dict[str, Any]:
    macro = _macro(request, macro_id)
    ticket = _ticket(request, payload.ticket_id)
    return {
        "ticket_id": ticket.pk,
        "reply_kind": macro.reply_kind,
        "body": services.render_macro(macro=macro, ticket=ticket, actor=request.user),
    }


@router.post(
    "/macros/{macro_id}/apply",
    response=ApplyOut,
    summary="Apply a macro to a ticket (send the ticket's ETag as If-Match; 412 when stale)",
)
def apply_macro(
    request: HttpRequest, macro_id: int, payload: OnTicketIn, response: HttpResponse
) -> dict[str, Any]:
    macro = _macro(request, macro_id)
    ticket = _ticket(request, payload.ticket_id)
    result = services.apply_macro(
        actor=request.user,
        ticket=ticket,
        macro=macro,
        expected_version=_if_match(request, ticket.version),
    )
    response["ETag"] = etag_of(result.ticket.version)
    return {
        "ticket_id": result.ticket.pk,
        "version": result.ticket.version,
        "status_id": result.ticket.status_id,
        "comment_id": result.comment.pk if result.comment is not None else None,
        "changed": result.changed,
    }


# --- Saved views -------------------------------------------------------------------------------


@router.get("/saved-views", response=list[SavedViewOut], tags=["saved views"])
def list_saved_views(request: HttpRequest) -> list[dict[str, Any]]:
    return [_view_out(v, request.user) for v in selectors.saved_views_of(request.user)]


@router.post("/saved-views", response={201: SavedViewOut}, tags=["saved views"])
def create_saved_view(request: HttpRequest, payload: SavedViewIn) -> Status[dict[str, Any]]:
    view = services.create_saved_view(actor=request.user, **payload.dict())
    return Status(201, _view_out(view, request.user))


@router.get("/saved-views/{view_id}", response=SavedViewOut, tags=["saved views"])
def get_saved_view(request: HttpRequest, view_id: int, response: HttpResponse) -> dict[str, Any]:
    view = _view(request, view_id)
    response["ETag"] = etag_of(view.version)
    return _view_out(view, request.user)


@router.patch(
    "/saved-views/{view_id}",
    response=SavedViewOut,
    tags=["saved views"],
    summary="Change a saved view (send If-Match to refuse stale edits)",
)
def update_saved_view(
    request: HttpRequest, view_id: int, payload: SavedViewPatch, response: HttpResponse
) -> dict[str, Any]:
    view = _view(request, view_id)
    version = _if_match(request, view.version)
    changes = payload.dict(exclude_unset=True)
    for name, value in changes.items():
        if value is None:
            raise DomainError(
                "null_not_allowed", field=name, message=_("This field cannot be null.")
            )
    view = services.update_saved_view(
        actor=request.user, view=view, changes=changes, expected_version=version
    )
    response["ETag"] = etag_of(view.version)
    return _view_out(view, request.user)


@router.delete("/saved-views/{view_id}", response={204: None}, tags=["saved views"])
def delete_saved_view(request: HttpRequest, view_id: int) -> Status[None]:
    services.delete_saved_view(actor=request.user, view=_view(request, view_id))
    return Status(204, None)
