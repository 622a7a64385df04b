"""Reads of ticket types and lifecycles, already narrowed to what the viewer may see."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from aftersales.accounts import authz
from aftersales.tickets.models import StatusTransition, TicketStatus, TicketType
from aftersales.tickets.permissions import CONFIGURE_TICKET_TYPE, VIEW_TICKET_TYPE


def ticket_types_visible_to(viewer: Any) -> QuerySet[TicketType]:
    return authz.restrict(TicketType.objects.select_related("business_line"), viewer)


def ticket_types_configurable_by(viewer: Any) -> QuerySet[TicketType]:
    return authz.restrict(
        TicketType.objects.select_related("business_line"), viewer, CONFIGURE_TICKET_TYPE
    )


def ticket_types_usable_by(viewer: Any) -> QuerySet[TicketType]:
    """Active types a person may file tickets under: those they can see, plus the types of
    the business lines they belong to (an agent scoped to "my teams" still files tickets of
    their teams' lines, though the scope rule of configuration does not reach them)."""
    if authz.scope_for(viewer, VIEW_TICKET_TYPE) is None:
        return TicketType.objects.none()
    visible = authz.restrict(TicketType.objects.all(), viewer).values("pk")
    own_lines = authz.business_line_ids(viewer)
    return (
        TicketType.objects.filter(Q(pk__in=visible) | Q(business_line_id__in=own_lines))
        .filter(is_active=True, business_line__is_active=True)
        .select_related("business_line")
    )


def statuses_of(ticket_type: TicketType) -> QuerySet[TicketStatus]:
    return TicketStatus.objects.filter(ticket_type=ticket_type).order_by("position", "pk")


def transitions_of(ticket_type: TicketType) -> QuerySet[StatusTransition]:
    return (
        StatusTransition.objects.filter(ticket_type=ticket_type)
        .select_related("from_status", "to_status")
        .order_by("from_status__position", "position", "to_status__position", "pk")
    )
