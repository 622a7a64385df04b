"""The bell in the staff layout: ``{% notification_bell %}``."""

from __future__ import annotations

from typing import Any

from django import template

from aftersales.notifications import selectors

register = template.Library()


@register.inclusion_tag("notifications/_bell.html", takes_context=True)
def notification_bell(context: dict[str, Any]) -> dict[str, Any]:
    user = context["request"].user if "request" in context else None
    staff = user is not None and user.is_authenticated and getattr(user, "kind", "") == "staff"
    return {"show": staff, "unread": selectors.unread_count(user) if staff else 0}
