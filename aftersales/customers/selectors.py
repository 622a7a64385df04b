"""Reads of the customers domain, already narrowed to what the viewer may see."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet

from aftersales.accounts import authz
from aftersales.accounts.models import User
from aftersales.audit.models import AuditEntry
from aftersales.core.errors import DomainError
from aftersales.customers import identities
from aftersales.customers.models import (
    Customer,
    CustomerIdentity,
    CustomerNote,
    CustomerTier,
    Organisation,
)


def customers_visible_to(viewer: Any, codename: str | None = None) -> QuerySet[Customer]:
    """Customers the staff member may ``codename`` (default: view); none for a contact."""
    return authz.restrict(
        Customer.objects.select_related("tier", "organisation", "business_line"),
        viewer,
        codename,
    )


def organisations_visible_to(viewer: Any, codename: str | None = None) -> QuerySet[Organisation]:
    return authz.restrict(
        Organisation.objects.select_related("tier", "business_line"), viewer, codename
    )


def tag_filter(tag: str) -> Q:
    """Rows whose ``tags`` list holds exactly ``tag``."""
    if connection.vendor == "postgresql":
        return Q(tags__contains=[tag])
    # SQLite has no JSON containment; match the quoted tag in the list's JSON text instead.
    return Q(tags__icontains=json.dumps(tag)[1:-1].join('""'))


def tiers_visible_to(viewer: Any) -> QuerySet[CustomerTier]:
    """Tiers are shared configuration: anyone holding the view codename at any scope reads all."""
    if authz.scope_for(viewer, "customers.view_customertier") is None:
        return CustomerTier.objects.none()
    return CustomerTier.objects.all()


def customers_visible_to_contact(user: Any) -> QuerySet[Customer]:
    """What a customer contact sees through the portal: their own record, and with
    ``can_see_organisation`` the other people of their organisation. Staff get none here."""
    if (
        user is None
        or not user.is_authenticated
        or not user.is_active
        or user.kind != User.Kind.CUSTOMER
    ):
        return Customer.objects.none()
    own = Q(portal_user=user)
    if user.can_see_organisation:
        organisation_ids = Customer.objects.filter(
            portal_user=user, is_active=True, organisation__isnull=False
        ).values("organisation_id")
        own |= Q(organisation_id__in=organisation_ids)
    return Customer.objects.filter(own, is_active=True).select_related("tier", "organisation")


def organisations_visible_to_contact(user: Any) -> QuerySet[Organisation]:
    """The contact's own organisation, only when they may see it."""
    if (
        user is None
        or not user.is_authenticated
        or not user.is_active
        or user.kind != User.Kind.CUSTOMER
        or not user.can_see_organisation
    ):
        return Organisation.objects.none()
    return Organisation.objects.filter(
        pk__in=Customer.objects.filter(portal_user=user, is_active=True).values("organisation_id")
    )


def find_customer_by_identity(kind: str, value: str) -> Customer | None:
    """The active customer holding this identity, for channels matching an incoming message.

    The value is normalised first, so ``138-1234-5678`` finds ``+8613812345678``. An invalid
    value finds nobody. Not scoped: channels act for the system, not for a person.
    """
    try:
        normalised = identities.normalise(kind, value)
    except DomainError:
        return None
    identity = (
        CustomerIdentity.objects.filter(kind=kind, value=normalised, is_active=True)
        .select_related("customer")
        .first()
    )
    return identity.customer if identity is not None else None


def identity_holder(
    kind: str, value: str, *, exclude_customer_id: int | None = None
) -> Customer | None:
    """The active customer already holding (kind, normalised value), if any."""
    holders = CustomerIdentity.objects.filter(kind=kind, value=value, is_active=True)
    if exclude_customer_id is not None:
        holders = holders.exclude(customer_id=exclude_customer_id)
    identity = holders.select_related("customer").first()
    return identity.customer if identity is not None else None


def notes_of(customer: Customer) -> QuerySet[CustomerNote]:
    return customer.customer_notes.select_related("author").order_by("-created_at", "-pk")


def history_of(customer: Customer, *, limit: int = 50) -> list[AuditEntry]:
    """The audit entries about this customer, newest first.

    Shown to whoever may see the customer: they describe changes to data the viewer can read
    anyway. The IP address is left to the audit log and its own permission.
    """
    return list(
        AuditEntry.objects.filter(object_type="customers.customer", object_id=str(customer.pk))
        .defer("ip_address")
        .order_by("-at", "-pk")[:limit]
    )


@dataclass(frozen=True)
class MergePreview:
    """What merging ``merged`` into ``survivor`` would move, for the confirmation page."""

    identities_moving: list[CustomerIdentity]
    identities_staying: list[CustomerIdentity]
    note_count: int
    tags_added: list[str]


def merge_preview(survivor: Customer, merged: Customer) -> MergePreview:
    moving: list[CustomerIdentity] = []
    staying: list[CustomerIdentity] = []
    for identity in merged.identities.all():
        holder = identity_holder(identity.kind, identity.value, exclude_customer_id=merged.pk)
        (staying if holder is not None else moving).append(identity)
    return MergePreview(
        identities_moving=moving,
        identities_staying=staying,
        note_count=merged.customer_notes.count(),
        tags_added=[t for t in merged.tags if t not in survivor.tags],
    )


@dataclass(frozen=True)
class TimelineEntry:
    """One step of a customer's conversations, on whichever channel it happened."""

    at: Any
    kind: str  # "opened" (a ticket), "customer" (they wrote), "agent" (we answered)
    channel: str
    channel_label: str
    ticket: Any
    text: str


def timeline_of(viewer: Any, customer: Customer, *, limit: int = 50) -> list[TimelineEntry]:
    """The customer's tickets and public messages across every channel (e-mail, WeChat,
    portal…), newest first, limited to the tickets the viewer may see."""
    from aftersales.tickets import selectors as ticket_selectors
    from aftersales.tickets.models import Comment, Ticket

    def label(channel: str) -> str:
        return str(Ticket.Channel(channel).label) if channel in Ticket.Channel.values else channel

    tickets = ticket_selectors.tickets_of_customer(viewer, customer)
    entries = [
        TimelineEntry(
            at=ticket.created_at,
            kind="opened",
            channel=ticket.channel,
            channel_label=label(ticket.channel),
            ticket=ticket,
            text=ticket.subject,
        )
        for ticket in tickets[:limit]
    ]
    comments = (
        Comment.objects.filter(ticket__in=tickets.values("pk"), is_public=True)
        .select_related("ticket", "author")
        .order_by("-created_at", "-pk")[:limit]
    )
    entries += [
        TimelineEntry(
            at=comment.created_at,
            kind="customer" if comment.is_from_customer else "agent",
            channel=comment.channel,
            channel_label=label(comment.channel),
            ticket=comment.ticket,
            text=comment.body_text[:300],
        )
        for comment in comments
    ]
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return entries[:limit]
