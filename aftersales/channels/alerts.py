"""Telling administrators when mail looks like a loop (one sender writing too fast)."""

from __future__ import annotations

from django.db.models import Q

from aftersales.accounts import authz
from aftersales.accounts.models import User
from aftersales.channels.models import Mailbox
from aftersales.channels.permissions import MANAGE_MAILBOXES
from aftersales.notifications import services as notifications
from aftersales.notifications.choices import Channel, Event
from aftersales.notifications.models import NotificationTemplate

TEMPLATE_KEY = "mail-loop-suspected"

# Template texts are data in both languages (like the notification defaults), not UI strings.
_CONTENT = {
    channel: {
        "zh-hans": {"subject": "疑似邮件循环：{{ reason }}", "body": "{{ reason }}"},
        "en": {"subject": "Mail loop suspected: {{ reason }}", "body": "{{ reason }}"},
    }
    for channel in (Channel.IN_APP, Channel.EMAIL)
}


def loop_template() -> NotificationTemplate:
    """The administrators' alert template, added the first time it is needed (an edited one
    is kept)."""
    template, _created = NotificationTemplate.objects.get_or_create(
        key=TEMPLATE_KEY,
        defaults={
            "name": "Mail loop suspected (staff)",
            "event": Event.CUSTOM,
            "audience": NotificationTemplate.Audience.STAFF,
            "content": _CONTENT,
            "is_default": True,
        },
    )
    return template


def mailbox_admins() -> list[User]:
    candidates = (
        User.objects.filter(is_active=True, kind=User.Kind.STAFF)
        .filter(Q(is_superuser=True) | Q(role_grants__isnull=False))
        .distinct()
        .order_by("pk")
    )
    return [user for user in candidates if authz.has_permission(user, MANAGE_MAILBOXES)]


def loop_suspected(*, mailbox: Mailbox, address: str, count: int) -> None:
    """Alert everyone who manages mailboxes, in the app and by e-mail (to their own address,
    never to the sender)."""
    template = loop_template()
    if not template.is_active:
        return
    reason = f"{address} → {mailbox.address}: {count} / 1h"
    notifications.notify_users(
        users=mailbox_admins(),
        template=template,
        context_object=mailbox,
        reason=reason,
    )
