"""Calls as a person may read them: those of tickets and customers within their scope."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from aftersales.calls.models import Call
from aftersales.customers import selectors as customer_selectors
from aftersales.tickets import selectors as ticket_selectors


def calls_visible_to(viewer: Any) -> QuerySet[Call]:
    """Calls on tickets the viewer may see, and calls without a ticket with customers the
    viewer may see. Customer contacts see none (calls are internal records)."""
    if ticket_selectors.is_contact(viewer):
        return Call.objects.none()
    tickets = ticket_selectors.tickets_visible_to(viewer).values("pk")
    customers = customer_selectors.customers_visible_to(viewer).values("pk")
    return Call.objects.filter(
        Q(ticket_id__in=tickets) | Q(ticket__isnull=True, customer_id__in=customers)
    ).select_related("agent", "customer", "ticket")
