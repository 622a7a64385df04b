"""API of ticket types and their lifecycles (statuses, transitions, a check on sample data)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict

from aftersales.accounts import authz
from aftersales.accounts import selectors as accounts_selectors
from aftersales.api.common import PageOut, PreconditionFailed, etag_of, expected_version
from aftersales.api.pagination import paginate
from aftersales.core.errors import DomainError
from aftersales.tickets import lifecycle, selectors, services
from aftersales.tickets.models import StatusTransition, TicketStatus, TicketType
from aftersales.tickets.permissions import CONFIGURE_TICKET_TYPE

router = Router(tags=["ticket types"])

KEY = r"^[a-z0-9][a-z0-9_-]{0,59}$"


# --- Schemas -----------------------------------------------------------------------------------


class TicketTypeOut(Schema):
    id: int
    business_line_id: int
    key: str
    name: str
    name_zh: str
    name_en: str
    description: str
    number_prefix: str
    icon: str
    colour: str
    reopen_within_days: int
    auto_close_after_days: int
    on_portal: bool
    is_active: bool
    position: int
    version: int
    created_at: datetime
    updated_at: datetime


class TicketTypeIn(Schema):
    business_line_id: int
    key: str = Field(..., min_length=1, max_length=60)
    name_zh: str = Field(..., max_length=120)
    name_en: str = Field(..., max_length=120)
    description: str = Field("", max_length=5000)
    number_prefix: str = Field("", max_length=10)
    icon: str = Field("", max_length=40)
    colour: str = Field("", max_length=7)
    reopen_within_days: int = Field(7, ge=0, le=365)
    auto_close_after_days: int = Field(7, ge=0, le=365)
    position: int = Field(0, ge=0)
    on_portal: bool = True


class TicketTypePatch(Schema):
    name_zh: str | None = Field(None, max_length=120)
    name_en: str | None = Field(None, max_length=120)
    description: str | None = Field(None, max_length=5000)
    number_prefix: str | None = Field(None, max_length=10)
    icon: str | None = Field(None, max_length=40)
    colour: str | None = Field(None, max_length=7)
    reopen_within_days: int | None = Field(None, ge=0, le=365)
    auto_close_after_days: int | None = Field(None, ge=0, le=365)
    on_portal: bool | None = None
    is_active: bool | None = None
    position: int | None = Field(None, ge=0)


class TicketTypeQuery(Schema):
    cursor: str | None = None
    limit: int | None = Field(None, ge=1, le=200)
    business_line: int | None = None
    is_active: bool | None = None


class CopyIn(Schema):
    business_line_id: int
    key: str = Field(..., min_length=1, max_length=60)
    name_zh: str | None = Field(None, max_length=120)
    name_en: str | None = Field(None, max_length=120)


class StatusOut(Schema):
    id: int
    key: str
    name: str
    name_zh: str
    name_en: str
    category: TicketStatus.Category
    is_initial: bool
    is_active: bool
    position: int


class StatusIn(Schema):
    key: str = Field(..., min_length=1, max_length=60)
    name_zh: str = Field(..., max_length=120)
    name_en: str = Field(..., max_length=120)
    category: TicketStatus.Category
    is_initial: bool = False


class StatusPatch(Schema):
    name_zh: str | None = Field(None, max_length=120)
    name_en: str | None = Field(None, max_length=120)
    category: TicketStatus.Category | None = None
    is_initial: bool | None = None
    is_active: bool | None = None


class OrderIn(Schema):
    order: list[int] = Field(..., description="Every status id of the type, in the new order.")


class TransitionOut(Schema):
    id: int
    from_status_id: int
    to_status_id: int
    from_key: str
    to_key: str
    label: str
    name_zh: str
    name_en: str
    required_fields: list[str]
    guard: str
    permission: str
    position: int
    version: int


class TransitionIn(Schema):
    from_status_id: int
    to_status_id: int
    name_zh: str = Field("", max_length=120)
    name_en: str = Field("", max_length=120)
    required_fields: list[str] = Field([], max_length=30)
    guard: str = Field("", max_length=2000)
    permission: str = Field("", max_length=100)
    position: int = Field(0, ge=0)


class TransitionPatch(Schema):
    name_zh: str | None = Field(None, max_length=120)
    name_en: str | None = Field(None, max_length=120)
    required_fields: list[str] | None = Field(None, max_length=30)
    guard: str | None = Field(None, max_length=2000)
    permission: str | None = Field(None, max_length=100)
    position: int | None = Field(None, ge=0)


class TicketFacts(Schema):
    """What a guard sees as ``ticket``; missing facts take their empty value."""

    model_config = ConfigDict(extra="forbid")

    priority: str = ""
    channel: str = ""
    category: str = ""
    assignee_set: bool = False
    tier: str = ""
    custom_fields: dict[str, Any] = {}


class CheckIn(Schema):
    from_key: str = Field(..., alias="from", description="Key of the current status.")
    to_key: str = Field(..., alias="to", description="Key of the target status.")
    facts: TicketFacts = TicketFacts()
    values: dict[str, Any] = Field({}, description="Field values, e.g. resolution_code.")


class CheckOut(Schema):
    ok: bool
    transition_id: int
    label: str


# --- Helpers -----------------------------------------------------------------------------------


def transition_out(transition: StatusTransition) -> dict[str, Any]:
    return {
        "id": transition.pk,
        "from_status_id": transition.from_status_id,
        "to_status_id": transition.to_status_id,
        "from_key": transition.from_status.key,
        "to_key": transition.to_status.key,
        "label": transition.label,
        "name_zh": transition.name_zh,
        "name_en": transition.name_en,
        "required_fields": list(transition.required_fields),
        "guard": transition.guard,
        "permission": transition.permission,
        "position": transition.position,
        "version": transition.version,
    }


def _changes(payload: Schema) -> dict[str, Any]:
    changes = payload.dict(exclude_unset=True)
    for field, value in changes.items():
        if value is None:
            raise DomainError(
                "null_not_allowed", field=field, message=_("This field cannot be null.")
            )
    return changes


def _types(request: HttpRequest) -> QuerySet[TicketType]:
    return selectors.ticket_types_visible_to(request.user)


def _type(request: HttpRequest, type_id: int) -> TicketType:
    return get_object_or_404(_types(request), pk=type_id)


def _line(request: HttpRequest, line_id: int) -> Any:
    lines = accounts_selectors.business_lines_visible_to(request.user)
    line = lines.filter(pk=line_id).first()
    if line is None:
        raise DomainError(
            "unknown_reference",
            field="business_line_id",
            message=_("One or more of the referenced objects do not exist."),
        )
    return line


def _status(ticket_type: TicketType, status_id: int, field: str | None = None) -> TicketStatus:
    status = selectors.statuses_of(ticket_type).filter(pk=status_id).first()
    if status is None:
        if field is None:
            raise Http404
        raise DomainError(
            "unknown_status", field=field, message=_("No such status in this ticket type.")
        )
    return status


def _status_by_key(ticket_type: TicketType, key: str, field: str) -> TicketStatus:
    status = selectors.statuses_of(ticket_type).filter(key=key).first()
    if status is None:
        raise DomainError(
            "unknown_status", field=field, message=_("No such status in this ticket type.")
        )
    return status


# --- Ticket types --------------------------------------------------------------------------------


@router.get("/ticket-types", response=PageOut[TicketTypeOut])
def list_ticket_types(request: HttpRequest, filters: Query[TicketTypeQuery]) -> dict[str, Any]:
    types = _types(request)
    if filters.business_line is not None:
        types = types.filter(business_line_id=filters.business_line)
    if filters.is_active is not None:
        types = types.filter(is_active=filters.is_active)
    page = paginate(types, cursor=filters.cursor, limit=filters.limit)
    return {"items": list(page.items), "next_cursor": page.next_cursor}


@router.post("/ticket-types", response={201: TicketTypeOut})
def create_ticket_type(request: HttpRequest, payload: TicketTypeIn) -> Status[TicketType]:
    # Refuse people who configure nothing before telling them which lines exist.
    authz.require_permission(request.user, CONFIGURE_TICKET_TYPE)
    line = _line(request, payload.business_line_id)
    data = payload.dict(exclude={"business_line_id"})
    ticket_type = services.create_ticket_type(actor=request.user, business_line=line, **data)
    return Status(201, ticket_type)


@router.get("/ticket-types/{type_id}", response=TicketTypeOut)
def get_ticket_type(request: HttpRequest, type_id: int, response: HttpResponse) -> TicketType:
    ticket_type = _type(request, type_id)
    response["ETag"] = etag_of(ticket_type.version)
    return ticket_type


@router.patch(
    "/ticket-types/{type_id}",
    response=TicketTypeOut,
    summary="Change a ticket type (send If-Match to refuse stale edits)",
)
def update_ticket_type(
    request: HttpRequest, type_id: int, payload: TicketTypePatch, response: HttpResponse
) -> TicketType:
    ticket_type = _type(request, type_id)
    version = expected_version(request)
    if version is not None and version != ticket_type.version:
        raise PreconditionFailed("version_mismatch", field="If-Match")
    ticket_type = services.update_ticket_type(
        actor=request.user,
        ticket_type=ticket_type,
        changes=_changes(payload),
        expected_version=version,
    )
    response["ETag"] = etag_of(ticket_type.version)
    return ticket_type


@router.post("/ticket-types/{type_id}/deactivate", response=TicketTypeOut)
def deactivate_ticket_type(request: HttpRequest, type_id: int) -> TicketType:
    ticket_type = _type(request, type_id)
    return services.deactivate_ticket_type(actor=request.user, ticket_type=ticket_type)


@router.post(
    "/ticket-types/{type_id}/copy",
    response={201: TicketTypeOut},
    summary="Copy a type with its statuses and transitions into a business line",
)
def copy_ticket_type(request: HttpRequest, type_id: int, payload: CopyIn) -> Status[TicketType]:
    ticket_type = _type(request, type_id)
    line = _line(request, payload.business_line_id)
    copy = services.copy_ticket_type(
        actor=request.user,
        ticket_type=ticket_type,
        business_line=line,
        key=payload.key,
        name_zh=payload.name_zh,
        name_en=payload.name_en,
    )
    return Status(201, copy)


@router.post(
    "/ticket-types/{type_id}/check-transition",
    response=CheckOut,
    summary="Try a status change on sample facts and field values",
    description=(
        "200 when the move is allowed; otherwise 422 with `code` `transition_not_allowed`, "
        "`guard_refused` or `required_field_missing` (its `errors[0].field` names the empty "
        "field), or 403 `transition_permission_denied`."
    ),
)
def check_transition(request: HttpRequest, type_id: int, payload: CheckIn) -> dict[str, Any]:
    ticket_type = _type(request, type_id)
    from_status = _status_by_key(ticket_type, payload.from_key, "from")
    to_status = _status_by_key(ticket_type, payload.to_key, "to")
    transition = lifecycle.check_transition(
        ticket_type,
        from_status,
        to_status,
        actor=request.user,
        facts=payload.facts.dict(),
        values=payload.values,
    )
    return {"ok": True, "transition_id": transition.pk, "label": transition.label}


# --- Statuses ------------------------------------------------------------------------------------


@router.get("/ticket-types/{type_id}/statuses", response=list[StatusOut])
def list_statuses(request: HttpRequest, type_id: int) -> list[TicketStatus]:
    return list(selectors.statuses_of(_type(request, type_id)))


@router.post("/ticket-types/{type_id}/statuses", response={201: StatusOut})
def add_status(request: HttpRequest, type_id: int, payload: StatusIn) -> Status[TicketStatus]:
    ticket_type = _type(request, type_id)
    status = services.add_status(actor=request.user, ticket_type=ticket_type, **payload.dict())
    return Status(201, status)


@router.put("/ticket-types/{type_id}/statuses/order", response=list[StatusOut])
def reorder_statuses(request: HttpRequest, type_id: int, payload: OrderIn) -> list[TicketStatus]:
    ticket_type = _type(request, type_id)
    return services.reorder_statuses(
        actor=request.user, ticket_type=ticket_type, order=payload.order
    )


@router.patch("/ticket-types/{type_id}/statuses/{status_id}", response=StatusOut)
def update_status(
    request: HttpRequest, type_id: int, status_id: int, payload: StatusPatch
) -> TicketStatus:
    status = _status(_type(request, type_id), status_id)
    return services.update_status(actor=request.user, status=status, changes=_changes(payload))


@router.post("/ticket-types/{type_id}/statuses/{status_id}/deactivate", response=StatusOut)
def deactivate_status(request: HttpRequest, type_id: int, status_id: int) -> TicketStatus:
    status = _status(_type(request, type_id), status_id)
    return services.deactivate_status(actor=request.user, status=status)


# --- Transitions ---------------------------------------------------------------------------------


@router.get("/ticket-types/{type_id}/transitions", response=list[TransitionOut])
def list_transitions(request: HttpRequest, type_id: int) -> list[dict[str, Any]]:
    return [transition_out(t) for t in selectors.transitions_of(_type(request, type_id))]


@router.post("/ticket-types/{type_id}/transitions", response={201: TransitionOut})
def add_transition(
    request: HttpRequest, type_id: int, payload: TransitionIn
) -> Status[dict[str, Any]]:
    ticket_type = _type(request, type_id)
    data = payload.dict()
    from_status = _status(ticket_type, data.pop("from_status_id"), "from_status_id")
    to_status = _status(ticket_type, data.pop("to_status_id"), "to_status_id")
    transition = services.add_transition(
        actor=request.user,
        ticket_type=ticket_type,
        from_status=from_status,
        to_status=to_status,
        **data,
    )
    return Status(201, transition_out(transition))


def _transition(ticket_type: TicketType, transition_id: int) -> StatusTransition:
    return get_object_or_404(selectors.transitions_of(ticket_type), pk=transition_id)


@router.patch("/ticket-types/{type_id}/transitions/{transition_id}", response=TransitionOut)
def update_transition(
    request: HttpRequest, type_id: int, transition_id: int, payload: TransitionPatch
) -> dict[str, Any]:
    transition = _transition(_type(request, type_id), transition_id)
    transition = services.update_transition(
        actor=request.user, transition=transition, changes=_changes(payload)
    )
    return transition_out(transition)


@router.delete("/ticket-types/{type_id}/transitions/{transition_id}", response={204: None})
def delete_transition(request: HttpRequest, type_id: int, transition_id: int) -> Status[None]:
    transition = _transition(_type(request, type_id), transition_id)
    services.delete_transition(actor=request.user, transition=transition)
    return Status(204, None)
