"""``/api/v1/conditions``: the catalog a condition can be built from, and checking a condition
(compile it; with a ticket, show which parts match)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema

from aftersales.accounts import authz
from aftersales.conditions import services
from aftersales.tickets.selectors import tickets_visible_to

router = Router(tags=["conditions"])


class CatalogQuery(Schema):
    business_line: int | None = Field(None, description="Only this line's custom fields.")


class OperatorOut(Schema):
    key: str
    label: str
    value: str = Field(..., description="none, one, many, range, words, hours, …")


class OptionOut(Schema):
    value: Any
    label: str


class FieldOut(Schema):
    key: str
    label: str
    group: str
    value_type: str
    changeable: bool
    operators: list[OperatorOut]
    options: list[OptionOut] | None


class CatalogOut(Schema):
    fields: list[FieldOut]


class CheckIn(Schema):
    tree: dict[str, Any] | None = Field(
        None, examples=[{"all": [{"field": "ticket.priority", "op": "is", "value": "high"}]}]
    )
    ticket_id: int | None = None
    business_line: int | None = None


class ErrorOut(Schema):
    field: str
    code: str
    detail: str


class LeafOut(Schema):
    path: str
    field: str
    field_label: str
    operator: str
    operator_label: str
    expected: str
    actual: str
    matched: bool


class CheckOut(Schema):
    cel: str
    valid: bool
    tree: dict[str, Any] | None
    errors: list[ErrorOut]
    leaves: list[LeafOut] | None
    matched: bool | None


@router.get("/conditions/catalog", response=CatalogOut)
def get_catalog(request: HttpRequest, filters: Query[CatalogQuery]) -> dict[str, Any]:
    """Fields, their operators and options, labelled in the language of the request."""
    catalog = services.catalog_for(request.user, business_line_id=filters.business_line)
    return {"fields": catalog.as_json()}


@router.post("/conditions/check", response=CheckOut, url_name="check_condition")
def check_condition(request: HttpRequest, payload: CheckIn) -> dict[str, Any]:
    """Compile a condition tree; with ``ticket_id``, also evaluate it on that ticket."""
    authz.require_permission(request.user, services.TRY_CONDITION)
    ticket = None
    if payload.ticket_id is not None:
        ticket = get_object_or_404(
            tickets_visible_to(request.user).select_related("requester__tier"),
            pk=payload.ticket_id,
        )
    result = services.check_condition(
        actor=request.user,
        tree=payload.tree,
        ticket=ticket,
        business_line_id=payload.business_line,
    )
    return {
        "cel": result.cel,
        "valid": result.is_valid,
        "tree": result.tree,
        "errors": result.errors,
        "leaves": result.leaves,
        "matched": result.matched,
    }
