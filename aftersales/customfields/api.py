"""API of custom fields: definitions, the type registry, and validation of values."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from aftersales.accounts import authz
from aftersales.api.common import PreconditionFailed, etag_of, expected_version
from aftersales.core.errors import DomainError
from aftersales.customfields import registry, selectors, services
from aftersales.customfields.models import FieldDefinition

router = Router(tags=["custom fields"])


class DefinitionOut(Schema):
    id: int
    target: str
    subtarget: str
    key: str
    field_type: str
    label_zh: str
    label_en: str
    help_zh: str
    help_en: str
    config: dict[str, Any]
    is_required: bool
    default: Any = None
    visible_when: dict[str, Any] | None = None
    edit_permission: str
    customer_visible: bool
    customer_editable: bool
    section: str
    position: int
    is_active: bool
    version: int
    created_at: datetime
    updated_at: datetime


class DefinitionIn(Schema):
    target: str = Field(..., min_length=1, max_length=100)
    subtarget: str = Field("", max_length=100)
    key: str = Field(..., min_length=1, max_length=63)
    field_type: str = Field(..., min_length=1, max_length=40)
    label_zh: str = Field("", max_length=200)
    label_en: str = Field("", max_length=200)
    help_zh: str = Field("", max_length=500)
    help_en: str = Field("", max_length=500)
    config: dict[str, Any] = {}
    is_required: bool = False
    default: Any = None
    visible_when: dict[str, Any] | None = None
    edit_permission: str = Field("", max_length=100)
    customer_visible: bool = False
    customer_editable: bool = False
    section: str = Field("", max_length=100)
    position: int | None = Field(None, ge=0)


class DefinitionPatch(Schema):
    # target, subtarget, key and field_type are accepted only to say why they cannot change.
    target: str | None = None
    subtarget: str | None = None
    key: str | None = None
    field_type: str | None = None
    label_zh: str | None = Field(None, max_length=200)
    label_en: str | None = Field(None, max_length=200)
    help_zh: str | None = Field(None, max_length=500)
    help_en: str | None = Field(None, max_length=500)
    config: dict[str, Any] | None = None
    is_required: bool | None = None
    default: Any = None
    visible_when: dict[str, Any] | None = None
    edit_permission: str | None = Field(None, max_length=100)
    customer_visible: bool | None = None
    customer_editable: bool | None = None
    section: str | None = Field(None, max_length=100)
    position: int | None = Field(None, ge=0)
    is_active: bool | None = None


# Null clears these; for the others null is refused.
_NULLABLE = frozenset({"default", "visible_when"})


class DefinitionQuery(Schema):
    target: str | None = Field(None, max_length=100)
    subtarget: str | None = Field(None, max_length=100)
    include_inactive: bool = False


class VersionOut(Schema):
    version: int
    snapshot: dict[str, Any]
    changed_by_id: int | None
    changed_at: datetime


class TypeOut(Schema):
    key: str
    label: str
    is_multiple: bool
    operators: list[str]
    config_schema: dict[str, Any]


class ReorderIn(Schema):
    target: str = Field(..., max_length=100)
    subtarget: str = Field("", max_length=100)
    keys: list[str]


class ReorderOut(Schema):
    target: str
    subtarget: str
    keys: list[str]


class ValidateIn(Schema):
    target: str = Field(..., max_length=100)
    subtarget: str | None = Field(None, max_length=100)
    values: dict[str, Any]
    existing: dict[str, Any] | None = None
    audience: Literal["staff", "customer"] = "staff"
    partial: bool = False


class ValidateOut(Schema):
    values: dict[str, Any]


def _visible(request: HttpRequest) -> Any:
    authz.require_permission(request.user, services.VIEW)
    return selectors.definitions_visible_to(request.user)


@router.get("", response=list[DefinitionOut], summary="Field definitions")
def list_definitions(request: HttpRequest, filters: Query[DefinitionQuery]) -> Any:
    definitions = _visible(request)
    if filters.target is not None:
        definitions = definitions.filter(target=filters.target)
    if filters.subtarget is not None:
        definitions = definitions.filter(subtarget=filters.subtarget)
    if not filters.include_inactive:
        definitions = definitions.filter(is_active=True)
    return list(definitions.order_by("target", "subtarget", "section", "position", "pk"))


@router.post("", response={201: DefinitionOut}, summary="Add a field to a form")
def create_definition(request: HttpRequest, payload: DefinitionIn) -> Status[FieldDefinition]:
    definition = services.create_definition(actor=request.user, **payload.dict())
    return Status(201, definition)


@router.get("/types", response=list[TypeOut], summary="Field types and their config schema")
def list_types(request: HttpRequest) -> list[dict[str, Any]]:
    authz.require_permission(request.user, services.VIEW)
    return [
        {
            "key": handler.key,
            "label": str(handler.label),
            "is_multiple": handler.is_multiple,
            "operators": sorted(handler.operators),
            "config_schema": handler.config_schema(),
        }
        for handler in registry.field_types().values()
    ]


@router.post(
    "/validate",
    response={200: ValidateOut},
    summary="Validate and normalise values (422 lists every refused field)",
)
def validate_values(request: HttpRequest, payload: ValidateIn) -> Any:
    authz.require_permission(request.user, services.VIEW)
    values = services.clean_values(
        target=payload.target,
        subtarget=payload.subtarget,
        values=payload.values,
        existing=payload.existing,
        actor=request.user,
        audience=payload.audience,
        partial=payload.partial,
    )
    return {"values": values}


@router.post("/reorder", response=ReorderOut, summary="Order the fields of one form")
def reorder_definitions(request: HttpRequest, payload: ReorderIn) -> Any:
    return services.reorder_definitions(
        actor=request.user, target=payload.target, subtarget=payload.subtarget, keys=payload.keys
    )


@router.get("/{definition_id}", response=DefinitionOut)
def get_definition(request: HttpRequest, definition_id: int, response: HttpResponse) -> Any:
    definition = get_object_or_404(_visible(request), pk=definition_id)
    response["ETag"] = etag_of(definition.version)
    return definition


@router.patch(
    "/{definition_id}",
    response=DefinitionOut,
    summary="Change a field (send If-Match to refuse stale edits)",
)
def update_definition(
    request: HttpRequest, definition_id: int, payload: DefinitionPatch, response: HttpResponse
) -> Any:
    definition = get_object_or_404(_visible(request), pk=definition_id)
    version = expected_version(request)
    if version is not None and version != definition.version:
        raise PreconditionFailed("version_mismatch", field="If-Match")
    changes = payload.dict(exclude_unset=True)
    for name, value in changes.items():
        if value is None and name not in _NULLABLE:
            raise DomainError(
                "null_not_allowed", field=name, message=_("This field cannot be null.")
            )
    definition = services.update_definition(
        actor=request.user, definition=definition, changes=changes, expected_version=version
    )
    response["ETag"] = etag_of(definition.version)
    return definition


@router.post("/{definition_id}/deactivate", response=DefinitionOut)
def deactivate_definition(request: HttpRequest, definition_id: int) -> Any:
    definition = get_object_or_404(_visible(request), pk=definition_id)
    return services.deactivate_definition(actor=request.user, definition=definition)


@router.get("/{definition_id}/versions", response=list[VersionOut])
def list_versions(request: HttpRequest, definition_id: int) -> Any:
    definition = get_object_or_404(_visible(request), pk=definition_id)
    return list(selectors.versions_of(definition))
