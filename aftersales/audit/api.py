"""API for reading (never writing) the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema

from aftersales.accounts import authz
from aftersales.api.common import PageOut, csv_response
from aftersales.api.pagination import paginate
from aftersales.audit import selectors
from aftersales.audit import services as audit
from aftersales.audit.models import AuditEntry

router = Router(tags=["audit log"])


class AuditEntryOut(Schema):
    id: int
    at: datetime
    actor_id: int | None
    actor: str
    ip_address: str | None = Field(None, description="Only with audit.view_ip_address.")
    via: str
    action: str
    verb: str
    object_type: str
    object_id: str
    object: str
    before: Any | None
    after: Any | None


class AuditQuery(Schema):
    cursor: str | None = None
    limit: int | None = Field(None, ge=1, le=200)
    actor: int | None = None
    action: AuditEntry.Action | None = None
    object_type: str | None = Field(None, max_length=100)
    object_id: str | None = Field(None, max_length=64)
    since: datetime | None = None
    until: datetime | None = None
    q: str | None = Field(None, max_length=100)


def entry_out(viewer: Any, entry: AuditEntry, show_ip: bool) -> dict[str, Any]:
    return {
        "id": entry.pk,
        "at": entry.at,
        "actor_id": entry.actor_id,
        "actor": entry.actor_label,
        "ip_address": entry.ip_address if show_ip else None,
        "via": entry.via,
        "action": entry.action,
        "verb": entry.verb,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "object": entry.object_repr,
        "before": entry.before,
        "after": entry.after,
    }


def filtered(
    viewer: Any, filters: AuditQuery, codename: str = "audit.view_auditentry"
) -> QuerySet[AuditEntry]:
    entries = selectors.entries_visible_to(viewer, codename)
    if filters.actor is not None:
        entries = entries.filter(actor_id=filters.actor)
    if filters.action is not None:
        entries = entries.filter(action=filters.action)
    if filters.object_type:
        entries = entries.filter(object_type=filters.object_type)
    if filters.object_id:
        entries = entries.filter(object_id=filters.object_id)
    if filters.since is not None:
        entries = entries.filter(at__gte=filters.since)
    if filters.until is not None:
        entries = entries.filter(at__lt=filters.until)
    if filters.q:
        entries = entries.filter(
            Q(object_repr__icontains=filters.q)
            | Q(actor_label__icontains=filters.q)
            | Q(verb__icontains=filters.q)
        )
    return entries


@router.get("", response=PageOut[AuditEntryOut])
def list_entries(request: HttpRequest, filters: Query[AuditQuery]) -> dict[str, Any]:
    authz.require_permission(request.user, "audit.view_auditentry")
    page = paginate(
        filtered(request.user, filters), cursor=filters.cursor, limit=filters.limit, descending=True
    )
    show_ip = authz.can_read_field(request.user, "audit.auditentry", "ip_address")
    return {
        "items": [entry_out(request.user, e, show_ip) for e in page.items],
        "next_cursor": page.next_cursor,
    }


@router.get("/export", response={200: None}, summary="The filtered audit log as CSV")
def export_entries(request: HttpRequest, filters: Query[AuditQuery]) -> HttpResponse:
    authz.require_permission(request.user, "audit.export_auditentry")
    show_ip = authz.can_read_field(request.user, "audit.auditentry", "ip_address")
    entries = filtered(request.user, filters, "audit.export_auditentry").order_by("-pk")[:100_000]
    rows = [
        (
            e.pk,
            e.at.isoformat(),
            e.actor_label,
            e.ip_address if show_ip else "",
            e.action,
            e.verb,
            e.object_type,
            e.object_id,
            e.object_repr,
        )
        for e in entries
    ]
    audit.record(
        actor=request.user,
        action=AuditEntry.Action.EXPORTED,
        object_type="audit.auditentry",
        object_repr="audit.csv",
        after={"rows": len(rows)},
    )
    return csv_response(
        "audit.csv",
        ["id", "at", "actor", "ip_address", "action", "verb", "object_type", "object_id", "object"],
        rows,
    )
