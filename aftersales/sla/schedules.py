"""Holiday schedules that deadlines need and nobody has loaded yet.

A calendar that follows a holiday set is covered for the years the set has been loaded for
(``HolidaySet.first_year``..``last_year``: a year counts as loaded once an admin has published
it, with or without rows, or the seed from chinese-calendar brought it). A clock whose deadline
needs a later year gets no due time (``TicketSlaTarget.waiting_for_year``); this module records
that once per calendar and year (:class:`MissingSchedule`), emits ``sla.schedule_missing``, and
its subscriber tells the people who can fix it. Loading the year emits ``calendar.changed``;
the recompute gives the waiting clocks their deadlines and :func:`resolve_loaded` closes the
row. 24x7 calendars and calendars without a holiday set are never limited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from aftersales.outbox import services as outbox
from aftersales.sla.models import Calendar, MissingSchedule, TicketSlaTarget

TOPIC = "sla.schedule_missing"
TEMPLATE_KEY = "sla-holiday-schedule-missing"
OPEN = ("active", "paused")


def note_missing(*, calendar_id: int, year: int) -> MissingSchedule:
    """Record that deadlines on ``calendar_id`` need ``year``; the first time (or again after
    it was resolved) emit ``sla.schedule_missing`` in the caller's transaction."""
    now = timezone.now()
    row, created = MissingSchedule.objects.get_or_create(
        calendar_id=calendar_id, year=year, defaults={"first_seen_at": now}
    )
    if not created:
        if row.resolved_at is None:
            return row
        row.first_seen_at, row.notified_at, row.resolved_at = now, None, None
        row.save(update_fields=["first_seen_at", "notified_at", "resolved_at"])
    calendar = Calendar.objects.get(pk=calendar_id)
    outbox.emit(TOPIC, calendar, payload={"year": year, "calendar": calendar.name})
    return row


def resolve_loaded(*, calendar_id: int) -> int:
    """Close the calendar's missing years that no clock waits for any more."""
    waiting = set(
        TicketSlaTarget.objects.filter(calendar_id=calendar_id, waiting_for_year__isnull=False)
        .values_list("waiting_for_year", flat=True)
        .distinct()
    )
    return (
        MissingSchedule.objects.filter(calendar_id=calendar_id, resolved_at__isnull=True)
        .exclude(year__in=waiting)
        .update(resolved_at=timezone.now())
    )


@dataclass(frozen=True)
class Waiting:
    """Open tickets of one calendar whose clocks wait for one year's holiday schedule."""

    calendar: Calendar
    year: int
    tickets: int


def waiting_for(viewer: Any) -> list[Waiting]:
    """Per calendar the viewer may see and missing year: how many open tickets wait."""
    from aftersales.sla.selectors import calendars_visible_to

    calendars = calendars_visible_to(viewer)
    rows = (
        TicketSlaTarget.objects.filter(
            waiting_for_year__isnull=False, state__in=OPEN, calendar__in=calendars.values("pk")
        )
        .values("calendar_id", "waiting_for_year")
        .annotate(tickets=Count("ticket_id", distinct=True))
        .order_by("waiting_for_year", "calendar_id")
    )
    found = list(rows)
    if not found:
        return []
    by_pk = calendars.in_bulk({row["calendar_id"] for row in found})
    return [
        Waiting(by_pk[row["calendar_id"]], row["waiting_for_year"], row["tickets"])
        for row in found
        if row["calendar_id"] in by_pk
    ]


# --- Telling the admins -----------------------------------------------------------------------


def recipients(calendar: Calendar) -> list[Any]:
    """Active staff who may load the year (``sla.change_holidayset``) or change the calendar."""
    from aftersales.accounts import authz
    from aftersales.accounts.models import User

    users = User.objects.filter(is_active=True, kind=User.Kind.STAFF).order_by("pk")
    return [
        user
        for user in users
        if authz.has_permission(user, "sla.change_holidayset")
        or authz.has_permission(user, "sla.change_calendar", calendar)
    ]


def _template() -> Any:
    """The staff template of this notice, added (as a default an admin may edit) on first use."""
    from aftersales.notifications.choices import Channel, Event
    from aftersales.notifications.models import NotificationTemplate

    zh_subject = "SLA：{{ reason }} 的节假日安排尚未录入"
    zh_body = (
        "{{ recipient.name }}，您好：\n\n{{ reason }} 的节假日安排尚未录入，按该日历计时的工单"
        "暂无截止时间。请在“设置 → 日历 → 节假日集”中录入该年份，录入后截止时间会自动计算。"
    )
    en_subject = "SLA: holiday schedule missing for {{ reason }}"
    en_body = (
        "Hello {{ recipient.name }},\n\nThe holiday schedule for {{ reason }} is not loaded, so "
        "tickets counted in that calendar have no deadline. Load the year under Settings → "
        "Calendars → Holiday sets; their deadlines are computed as soon as it is loaded."
    )
    texts = {
        "zh-hans": {"subject": zh_subject, "body": zh_body},
        "en": {"subject": en_subject, "body": en_body},
    }
    template, _created = NotificationTemplate.objects.get_or_create(
        key=TEMPLATE_KEY,
        defaults={
            "name": "Holiday schedule missing (staff)",
            "event": Event.CUSTOM,
            "content": {Channel.IN_APP: texts, Channel.EMAIL: texts},
            "is_default": True,
        },
    )
    return template


def on_schedule_missing(event: Any) -> None:
    """Outbox subscriber of ``sla.schedule_missing``: tell the admins, once per calendar and
    year (a redelivered event finds ``notified_at`` set and does nothing)."""
    from aftersales.notifications import services as notifications

    year = (event.payload or {}).get("year")
    if not event.object_id or year is None:
        return
    with transaction.atomic():
        row = (
            MissingSchedule.objects.select_for_update()
            .select_related("calendar")
            .filter(calendar_id=int(event.object_id), year=int(year))
            .first()
        )
        if row is None or row.notified_at is not None or row.resolved_at is not None:
            return
        template = _template()
        if template.is_active:
            notifications.notify_users(
                users=recipients(row.calendar),
                template=template,
                context_object=row.calendar,
                reason=f"{row.calendar.name} {row.year}",
            )
        row.notified_at = timezone.now()
        row.save(update_fields=["notified_at"])
