"""SLA countdown badges for the inbox and the ticket page.

``{% sla_badges_loader page.rows %}`` adds, without a query, an element that fetches the
badges of the page's tickets in one request (``/sla/badges/``, one query for all of them) and
swaps them into each row's ``#sla-badges-<id>``, so the inbox itself costs no extra query;
``{% sla_states rows as states %}`` + ``{% sla_row_badges states ticket.pk %}`` render them in
place (one query) where that is wanted; ``{% sla_ticket ticket %}`` renders the SLA section of
the ticket page.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from aftersales.sla import selectors, timers
from aftersales.sla.businesstime import format_duration
from aftersales.sla.models import Metric, TicketSla, TicketSlaTarget

register = template.Library()

CSS = {
    "ok": "badge-success",
    "warning": "badge-warning",
    "breached": "badge-danger",
    "paused": "",
    "met": "badge-success",
    "met_late": "badge-danger",
    "stopped": "",
    "no_deadline": "badge-warning",
}
PRIORITIES = {1: _lazy("Low"), 2: _lazy("Normal"), 3: _lazy("High"), 4: _lazy("Urgent")}


@register.filter
def sla_metric(key: str) -> str:
    labels = {
        Metric.FIRST_RESPONSE: _("First response"),
        Metric.NEXT_RESPONSE: _("Next response"),
        Metric.RESOLUTION: _("Resolution"),
        "onsite_arrival": _("On-site arrival"),
    }
    return str(labels.get(key, key.replace("_", " ")))


@register.filter
def sla_priority(value: Any) -> str:
    return str(PRIORITIES.get(value, _("Any priority")))


def _badge_text(target: TicketSlaTarget, condition: str, now: Any) -> str:
    if condition == "met":
        return _("met")
    if condition == "met_late":
        return _("met late")
    if condition == "stopped":
        return _("stopped")
    if condition == "no_deadline":
        return timers.no_deadline_text(target.waiting_for_year or 0)
    left = timers.minutes_left(target, now)
    if left is None:
        return ""
    if condition == "paused":
        return _("paused, %(left)s left") % {"left": format_duration(max(left, 0))}
    if left < 0 or condition == "breached":
        return _("%(late)s late") % {"late": format_duration(abs(min(left, 0)))}
    return _("%(left)s left") % {"left": format_duration(left)}


def _live(target: TicketSlaTarget, now: Any) -> dict[str, Any] | None:
    """What the browser needs to count the badge down: minutes left now, how long the clock
    runs without a break, when the warning starts, and the words in the page's language."""
    left = timers.minutes_left(target, now)
    if left is None:
        return None
    run = timers.counting_minutes(target, now)
    return {
        "left": left,
        "run": "" if run is None else run,
        "warn": target.warn_before_minutes if target.warned_at is None else "",
        "text_left": _("%(left)s left") % {"left": "{}"},
        "text_late": _("%(late)s late") % {"late": "{}"},
        "hours_minutes": _("%(hours)s h %(minutes)s min") % {"hours": "{h}", "minutes": "{m}"},
        "hours": _("%(hours)s h") % {"hours": "{h}"},
        "minutes": _("%(minutes)s min") % {"minutes": "{m}"},
    }


def badge_html(target: TicketSlaTarget, now: Any = None) -> str:
    now = now or timezone.now()
    condition = target.condition_at(now)
    # A running clock in calendar time, or in business time while work is going on, counts
    # down live in the browser (sla-countdown in frontend/sla.js) from its minutes left.
    ticks = condition in ("ok", "warning", "breached") and target.state == "active"
    return render_to_string(
        "sla/_badge.html",
        {
            "css": CSS.get(condition, ""),
            "condition": condition,
            "label": sla_metric(target.metric),
            "text": _badge_text(target, condition, now),
            "title": _("due %(due)s")
            % {"due": timezone.localtime(target.due_at).strftime("%Y-%m-%d %H:%M")}
            if target.due_at is not None
            else "",
            "ticks": ticks,
            "live": _live(target, now) if ticks else None,
        },
    )


@register.simple_tag
def sla_badge(target: TicketSlaTarget) -> SafeString:
    return mark_safe(badge_html(target))  # noqa: S308 - rendered from an autoescaped template


def _ids(rows: Any) -> list[int]:
    ids = []
    for row in rows or []:
        ticket = row.get("ticket") if isinstance(row, dict) else row
        if ticket is not None:
            ids.append(int(ticket.pk))
    return ids


@register.simple_tag
def sla_badges_loader(rows: Any) -> SafeString:
    ids = _ids(rows)
    if not ids:
        return mark_safe("")
    url = reverse("sla_policies:badges") + "?" + urlencode({"tickets": ",".join(map(str, ids))})
    return format_html(
        '<div hidden data-testid="sla-badges-loader" hx-get="{}" hx-trigger="load" '
        'hx-swap="none"></div>',
        url,
    )


@register.simple_tag
def sla_states(rows: Any) -> dict[int, list[TicketSlaTarget]]:
    """The open clocks of a page of tickets (rows of ``{"ticket": …}`` or tickets)."""
    return selectors.open_targets_of(_ids(rows))


@register.simple_tag
def sla_row_badges(states: dict[int, list[TicketSlaTarget]], ticket_id: int) -> SafeString:
    now = timezone.now()
    return mark_safe("".join(badge_html(t, now) for t in (states or {}).get(ticket_id, [])))  # noqa: S308


@register.inclusion_tag("sla/_ticket_sla.html")
def sla_ticket(ticket: Any) -> dict[str, Any]:
    now = timezone.now()
    sla = TicketSla.objects.select_related("policy").filter(ticket_id=ticket.pk).first()
    targets = selectors.targets_of_ticket(ticket.pk)
    return {
        "sla": sla,
        "rows": [
            {
                "target": target,
                "badge": mark_safe(badge_html(target, now)),  # noqa: S308
                "explanation": timers.explanation_text(target),
                "breach": _("Due %(due)s, not met by then.")
                % {"due": timezone.localtime(target.due_at).strftime("%Y-%m-%d %H:%M")}
                if target.breached_at
                else "",
            }
            for target in targets
        ],
        "history": selectors.changes_of_ticket(ticket.pk),
    }


@register.inclusion_tag("sla/_missing_schedules.html", takes_context=True)
def sla_missing_schedules(context: template.Context) -> dict[str, Any]:
    """The banner naming the calendars and years whose holiday schedule deadlines wait for,
    with the number of tickets waiting (calendars the viewer may see only)."""
    from aftersales.sla import schedules

    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"waiting": []}
    return {"waiting": schedules.waiting_for(user)}
