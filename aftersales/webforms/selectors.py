"""Reads of web forms: the settings pages' (scoped to the viewer) and the public lookup by key."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from aftersales.accounts import authz
from aftersales.webforms.models import WebForm


def web_forms_visible_to(viewer: Any, codename: str | None = None) -> QuerySet[WebForm]:
    return authz.restrict(
        WebForm.objects.select_related("ticket_type", "ticket_type__business_line", "team"),
        viewer,
        codename,
    )


def published_form(key: str) -> WebForm | None:
    """The active form with this public key (of an active type on an active line), for the
    anonymous pages: not scoped, the key is the capability."""
    # Every post of a flood asks this before it is refused: keep it one plain query.
    try:
        return WebForm.objects.select_related("ticket_type").get(
            key=key,
            is_active=True,
            ticket_type__is_active=True,
            ticket_type__business_line__is_active=True,
        )
    except WebForm.DoesNotExist:
        return None
