"""The routing controls in the staff layout: ``{% availability_switch %}`` in the header and
``{% get_next_button %}`` in the inbox (shown only to whom they concern)."""

from __future__ import annotations

from typing import Any

from django import template

from aftersales.accounts import authz
from aftersales.routing.models import AgentProfile, TeamRouting
from aftersales.routing.permissions import GET_NEXT, SET_OWN_AVAILABILITY

register = template.Library()


def _user(context: Any) -> Any:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or getattr(user, "kind", "") != "staff":
        return None
    return user


@register.inclusion_tag("routing/_availability.html", takes_context=True)
def availability_switch(context: Any) -> dict[str, Any]:
    user = _user(context)
    if user is None or not authz.has_permission(user, SET_OWN_AVAILABILITY):
        return {"show": False}
    current = (
        AgentProfile.objects.filter(user=user).values_list("availability", flat=True).first()
        or AgentProfile.Availability.ONLINE
    )
    return {
        "show": True,
        "current": current,
        "current_label": AgentProfile.Availability(current).label,
        "choices": AgentProfile.Availability.choices,
        "next": context["request"].get_full_path(),
        "csrf_token": context.get("csrf_token"),
    }


@register.inclusion_tag("routing/_get_next.html", takes_context=True)
def get_next_button(context: Any) -> dict[str, Any]:
    user = _user(context)
    show = (
        user is not None
        and authz.has_permission(user, GET_NEXT)
        and TeamRouting.objects.filter(
            queue_mode=True, team__is_active=True, team__memberships__user=user
        ).exists()
    )
    return {
        "show": show,
        "next": context["request"].get_full_path() if show else "",
        "csrf_token": context.get("csrf_token"),
    }
