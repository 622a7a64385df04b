"""Telling the mailbox administrators when mail looks like a loop (one sender writing too
fast) and when a mailbox stops fetching."""

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
FAILING_KEY = "mailbox-failing"


def _content(zh: str, en: str) -> dict[str, dict[str, dict[str, str]]]:
    # Template texts are data in both languages (like the notification defaults), not UI
    # strings.
    return {
        channel: {
            "zh-hans": {"subject": zh + "{{ reason }}", "body": "{{ reason }}"},
            "en": {"subject": en + "{{ reason }}", "body": "{{ reason }}"},
        }
        for channel in (Channel.IN_APP, Channel.EMAIL)
    }


_TEMPLATES = {
    TEMPLATE_KEY: (
        "Mail loop suspected (staff)",
        _content("疑似邮件循环：", "Mail loop suspected: "),
    ),
    FAILING_KEY: ("Mailbox failing (staff)", _content("邮箱无法收信：", "Mailbox failing: ")),
}


def alert_template(key: str) -> NotificationTemplate:
    """An administrators' alert template, added the first time it is needed (an edited one
    is kept)."""
    name, content = _TEMPLATES[key]
    template, _created = NotificationTemplate.objects.get_or_create(
        key=key,
        defaults={
            "name": name,
            "event": Event.CUSTOM,
            "audience": NotificationTemplate.Audience.STAFF,
            "content": content,
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
    _alert(TEMPLATE_KEY, mailbox, f"{address} → {mailbox.address}: {count} / 1h")


def mailbox_failing(*, mailbox: Mailbox, error: str) -> None:
    """Alert the administrators that a mailbox that was working stopped fetching."""
    _alert(FAILING_KEY, mailbox, f"{mailbox.address}: {error}"[:190])


def _alert(key: str, mailbox: Mailbox, reason: str) -> None:
    template = alert_template(key)
    if not template.is_active:
        return
    notifications.notify_users(
        users=mailbox_admins(), template=template, context_object=mailbox, reason=reason
    )
