"""Reads of ticket types and lifecycles, already narrowed to what the viewer may see."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from aftersales.accounts import authz
from aftersales.accounts.models import User
from aftersales.customers.models import Customer
from aftersales.tickets.models import (
    Attachment,
    Comment,
    Macro,
    SavedView,
    StatusTransition,
    Ticket,
    TicketEvent,
    TicketLink,
    TicketStatus,
    TicketTag,
    TicketType,
)
from aftersales.tickets.permissions import CONFIGURE_TICKET_TYPE, VIEW_TICKET, VIEW_TICKET_TYPE


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


# --- Tickets --------------------------------------------------------------------------------


def _is_contact(viewer: Any) -> bool:
    return (
        viewer is not None
        and viewer.is_authenticated
        and viewer.is_active
        and viewer.kind == User.Kind.CUSTOMER
    )


def tickets_visible_to(viewer: Any, codename: str | None = None) -> QuerySet[Ticket]:
    """Tickets the viewer may ``codename`` (default: view).

    Staff: within the data scope of their grants. A customer contact: the tickets they
    requested, and their organisation's when they may see it; never for a write codename other
    than replying, which the conversation service checks itself.
    """
    base = Ticket.objects.select_related(
        "ticket_type", "status", "business_line", "requester", "requester__tier", "team",
        "assignee",
    )  # fmt: skip
    if _is_contact(viewer):
        if codename not in (None, VIEW_TICKET):
            return base.none()
        own = Q(requester__portal_user=viewer)
        if viewer.can_see_organisation:
            organisation_ids = Customer.objects.filter(
                portal_user=viewer, is_active=True, organisation__isnull=False
            ).values("organisation_id")
            own |= Q(organisation_id__in=organisation_ids)
        return base.filter(own, merged_into__isnull=True)
    return authz.restrict(base, viewer, codename or VIEW_TICKET)


def is_contact(viewer: Any) -> bool:
    """Whether the viewer is a customer contact (sees public content only)."""
    return _is_contact(viewer)


def comments_visible_to(viewer: Any, ticket: Ticket) -> QuerySet[Comment]:
    """The ticket's conversation as the viewer may read it: contacts see public replies only."""
    comments = Comment.objects.filter(ticket=ticket).select_related("author", "author_customer")
    if _is_contact(viewer):
        return comments.filter(is_public=True)
    return comments


def attachments_visible_to(viewer: Any) -> QuerySet[Attachment]:
    """Files on tickets the viewer may see; for contacts only those of public messages."""
    tickets = tickets_visible_to(viewer).values("pk")
    files = Attachment.objects.filter(ticket_id__in=tickets)
    if _is_contact(viewer):
        return files.filter(is_public=True)
    return files


def events_of(ticket: Ticket) -> QuerySet[TicketEvent]:
    return TicketEvent.objects.filter(ticket=ticket).select_related("actor", "comment")


def previous_tickets_of(viewer: Any, ticket: Ticket, *, limit: int = 10) -> list[Ticket]:
    """The requester's other tickets the viewer may see, newest first."""
    return list(
        tickets_visible_to(viewer)
        .filter(requester_id=ticket.requester_id)
        .exclude(pk=ticket.pk)
        .order_by("-created_at", "-pk")[:limit]
    )


def tickets_of_customer(viewer: Any, customer: Customer) -> QuerySet[Ticket]:
    return tickets_visible_to(viewer).filter(requester=customer).order_by("-created_at", "-pk")


def tags_of(ticket: Ticket) -> list[str]:
    return list(TicketTag.objects.filter(ticket=ticket).values_list("name", flat=True))


def followers_of(ticket: Ticket) -> QuerySet[User]:
    return User.objects.filter(follower_rows__ticket=ticket).order_by("username")


def links_of(ticket: Ticket) -> QuerySet[TicketLink]:
    return TicketLink.objects.filter(Q(source=ticket) | Q(target=ticket)).select_related(
        "source", "target"
    )


def macros_usable_by(viewer: Any) -> QuerySet[Macro]:
    """The viewer's own macros and the shared ones of their business lines (or of all)."""
    if _is_contact(viewer) or authz.scope_for(viewer, VIEW_TICKET) is None:
        return Macro.objects.none()
    shared = Q(is_shared=True) & (
        Q(business_line__isnull=True) | Q(business_line_id__in=authz.business_line_ids(viewer))
    )
    if authz.scope_for(viewer, VIEW_TICKET) == authz.Scope.ALL:
        shared = Q(is_shared=True)
    return Macro.objects.filter(Q(owner=viewer) | shared, is_active=True).order_by("name", "pk")


def saved_views_of(viewer: Any) -> QuerySet[SavedView]:
    """The viewer's own saved views and the shared ones."""
    if _is_contact(viewer) or authz.scope_for(viewer, VIEW_TICKET) is None:
        return SavedView.objects.none()
    return SavedView.objects.filter(Q(owner=viewer) | Q(is_shared=True)).order_by(
        "position", "name", "pk"
    )
