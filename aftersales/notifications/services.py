"""Use cases of notifications: templates, sending to the people of a ticket, the bell.

:func:`notify_ticket` and :func:`notify_users` are what other apps call (the rule engine, the
default reactions). They resolve recipients, render the template per recipient language and
write a :class:`~aftersales.notifications.models.Notification` with one
:class:`~aftersales.notifications.models.Delivery` per channel in the caller's transaction, and
emit ``notification.created``; the sending happens after the commit
(:mod:`aftersales.notifications.delivery`). Neither checks a permission: they act for the
system, and the caller decides whether its actor may cause the message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from aftersales.accounts import authz
from aftersales.accounts.models import User
from aftersales.audit import services as audit
from aftersales.audit.models import AuditEntry
from aftersales.core.errors import DomainError, NotFound, PreconditionFailed
from aftersales.customers.models import Customer, CustomerIdentity
from aftersales.notifications import content as template_content
from aftersales.notifications import preferences, rendering
from aftersales.notifications.choices import DEFAULT_LANGUAGE, Channel, Event
from aftersales.notifications.models import (
    ChatRobot,
    Delivery,
    Notification,
    NotificationTemplate,
    Preference,
    SmsProvider,
)
from aftersales.outbox import services as outbox
from aftersales.tickets.models import Ticket

__all__ = [
    "AUDIENCES",
    "PlannedNotification",
    "check_notify",
    "create_template",
    "deactivate_template",
    "mark_all_read",
    "mark_read",
    "notify_ticket",
    "notify_users",
    "set_preferences",
    "update_template",
]

Action = AuditEntry.Action
AUDIENCES = ("assignee", "team", "team_lead", "requester", "followers")  # plus "user:<id>"
USER_PREFIX = "user:"

VIEW_TEMPLATE = "notifications.view_notificationtemplate"
ADD_TEMPLATE = "notifications.add_notificationtemplate"
CHANGE_TEMPLATE = "notifications.change_notificationtemplate"
VIEW_DELIVERY = "notifications.view_delivery"
CONFIGURE_CHANNELS = "notifications.configure_channels"


# --- Recipients -------------------------------------------------------------------------------


@dataclass
class _Recipient:
    """Who gets a notification and where: a staff member, a customer, or a group robot."""

    label: str
    language: str
    audience: str  # "staff" or "customer": which placeholders the text may show
    user: User | None = None
    customer: Customer | None = None
    robot: ChatRobot | None = None
    addresses: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PlannedNotification:
    """What :func:`notify_ticket` would send on one channel to one recipient (a dry run)."""

    recipient: str
    recipient_user_id: int | None
    recipient_customer_id: int | None
    language: str
    channel: str
    address: str
    subject: str
    body: str


def language_of(user: User | None) -> str:
    """The recipient's language among the template languages (the site's when unknown)."""
    language = ((user.language if user is not None else "") or settings.LANGUAGE_CODE).lower()
    if language.startswith("zh"):
        return "zh-hans"
    return "en" if language.startswith("en") else DEFAULT_LANGUAGE


def _staff(user: User) -> _Recipient:
    addresses: dict[str, str] = {Channel.IN_APP: str(user.pk)}
    if user.email:
        addresses[Channel.EMAIL] = user.email
    if user.phone:
        addresses[Channel.SMS] = user.phone
    return _Recipient(
        label=str(user),
        language=language_of(user),
        audience="staff",
        user=user,
        addresses=addresses,
    )


def _customer(customer: Customer) -> _Recipient:
    identities = CustomerIdentity.objects.filter(
        customer=customer,
        is_active=True,
        kind__in=[CustomerIdentity.Kind.EMAIL, CustomerIdentity.Kind.PHONE],
    ).order_by("pk")
    addresses: dict[str, str] = {}
    for identity in identities:
        channel = Channel.EMAIL if identity.kind == CustomerIdentity.Kind.EMAIL else Channel.SMS
        addresses.setdefault(channel, identity.value)
    return _Recipient(
        label=customer.name,
        language=language_of(customer.portal_user),
        audience="customer",
        customer=customer,
        addresses=addresses,
    )


def _robot(robot: ChatRobot) -> _Recipient:
    return _Recipient(
        label=robot.name,
        language=DEFAULT_LANGUAGE,
        audience="staff",
        robot=robot,
        addresses={robot.kind: str(robot.pk)},
    )


def _active_staff(users: Iterable[User | None]) -> list[User]:
    return [u for u in users if u is not None and u.is_active and u.kind == User.Kind.STAFF]


def _users_of(ticket: Ticket, audience: str) -> list[User]:
    if audience == "assignee":
        return _active_staff([ticket.assignee])
    if audience == "team_lead":
        return _active_staff([ticket.team.lead if ticket.team else None])
    if audience == "team":
        return _active_staff(ticket.team.members.all() if ticket.team else [])
    if audience == "followers":
        return _active_staff(ticket.followers.all())
    # "user:<id>", checked by _check_audiences.
    return _active_staff(User.objects.filter(pk=int(audience.removeprefix(USER_PREFIX))))


def _check_audiences(audiences: Sequence[str]) -> None:
    for audience in audiences:
        if audience not in AUDIENCES and not (
            audience.startswith(USER_PREFIX) and audience.removeprefix(USER_PREFIX).isdigit()
        ):
            raise DomainError(
                "unknown_audience",
                field="audiences",
                message=_("Unknown audience %(audience)s."),
                params={"audience": audience},
            )


def _ticket_recipients(ticket: Ticket, audiences: Sequence[str], actor: Any) -> list[_Recipient]:
    """Each person once, in the order the audiences name them; the actor is left out (people
    are not told about what they did themselves)."""
    _check_audiences(audiences)
    recipients: list[_Recipient] = []
    seen: set[int] = set()
    actor_id = getattr(actor, "pk", None)
    for audience in dict.fromkeys(audiences):
        if audience == "requester":
            recipients.append(_customer(ticket.requester))
            continue
        for user in _users_of(ticket, audience):
            if user.pk in seen or user.pk == actor_id:
                continue
            seen.add(user.pk)
            recipients.append(_staff(user))
        if audience == "team" and ticket.team_id is not None:
            robots = ChatRobot.objects.filter(team_id=ticket.team_id, is_active=True)
            recipients.extend(_robot(robot) for robot in robots.order_by("pk"))
    return recipients


def check_notify(*, audiences: Sequence[str], template: NotificationTemplate) -> None:
    """Refuse, at configuration time, what :func:`notify_ticket` would refuse when it runs:
    unknown audiences, an inactive template, a staff template sent to the requester."""
    _check_audiences(audiences)
    if not template.is_active:
        raise DomainError(
            "template_inactive", field="template", message=_("The template is not active.")
        )
    if "requester" in audiences and template.audience != NotificationTemplate.Audience.CUSTOMER:
        raise DomainError(
            "template_not_for_customers",
            field="template",
            message=_("This template is written for staff; choose one meant for customers."),
        )


# --- Planning ---------------------------------------------------------------------------------


def _sms_ready() -> bool:
    return SmsProvider.objects.filter(is_active=True).exists()


def _wanted_channels(
    recipient: _Recipient,
    *,
    event: str,
    requested: Sequence[str] | None,
    choices: Mapping[tuple[int, str], bool],
) -> list[str]:
    """The channels this recipient gets: asked for (or the defaults), reachable, and for staff
    switched on in their preferences."""
    if recipient.robot is not None:
        kind = recipient.robot.kind
        return [kind] if requested is None or kind in requested else []
    if recipient.customer is not None:
        wanted = list(requested) if requested is not None else [Channel.EMAIL]
    else:
        wanted = list(requested) if requested is not None else list(preferences.STAFF_CHANNELS)
    channels = []
    for channel in wanted:
        if channel not in recipient.addresses:
            continue
        if channel == Channel.SMS and not _sms_ready():
            continue
        if recipient.user is not None:
            enabled = choices.get(
                (recipient.user.pk, channel), preferences.default_for(event, channel)
            )
            if not enabled:
                continue
        channels.append(channel)
    return channels


@dataclass
class _Message:
    recipient: _Recipient
    in_app: tuple[str, str] | None
    deliveries: list[tuple[str, str, str, str]]  # channel, address, subject, body

    @property
    def headline(self) -> tuple[str, str]:
        """The notification's own subject and body: the in-app text, else the first channel's."""
        if self.in_app is not None:
            return self.in_app
        _channel, _address, subject, body = self.deliveries[0]
        return subject, body


def _render_for(
    recipient: _Recipient,
    channels: list[str],
    *,
    template: NotificationTemplate,
    ticket: Ticket | None,
    actor: Any,
    extra: Mapping[str, str],
) -> _Message:
    context = rendering.Context(
        ticket=ticket,
        actor=actor,
        recipient_name=recipient.label,
        audience="customer" if recipient.audience == "customer" else "staff",
        extra=extra,
    )
    message = _Message(recipient=recipient, in_app=None, deliveries=[])
    with translation.override(recipient.language):
        for channel in channels:
            texts = template_content.texts_for(template.content, channel, recipient.language)
            if texts is None:
                continue
            subject = rendering.render(texts[0], context)[: rendering.MAX_SUBJECT]
            body = rendering.render(texts[1], context)
            if channel == Channel.IN_APP:
                message.in_app = (subject, body)
            message.deliveries.append((channel, recipient.addresses[channel], subject, body))
    return message


def _plan(
    recipients: list[_Recipient],
    *,
    template: NotificationTemplate,
    ticket: Ticket | None,
    actor: Any,
    channels: Sequence[str] | None,
    extra: Mapping[str, str],
) -> list[_Message]:
    if channels is not None:
        unknown = [c for c in channels if c not in Channel.values]
        if unknown:
            raise DomainError(
                "unknown_channel",
                field="channels",
                message=_("There is no channel %(channel)s."),
                params={"channel": unknown[0]},
            )
    if not template.is_active:
        raise DomainError(
            "template_inactive", field="template", message=_("The template is not active.")
        )
    if (
        any(r.audience == "customer" for r in recipients)
        and template.audience != NotificationTemplate.Audience.CUSTOMER
    ):
        raise DomainError(
            "template_not_for_customers",
            field="template",
            message=_("This template is written for staff; choose one meant for customers."),
        )
    user_ids = [r.user.pk for r in recipients if r.user is not None]
    choices = preferences.choices_of(user_ids, template.event) if user_ids else {}
    messages = []
    for recipient in recipients:
        wanted = _wanted_channels(
            recipient, event=template.event, requested=channels, choices=choices
        )
        message = _render_for(
            recipient, wanted, template=template, ticket=ticket, actor=actor, extra=extra
        )
        if message.deliveries:
            messages.append(message)
    return messages


def _planned(messages: list[_Message]) -> list[PlannedNotification]:
    return [
        PlannedNotification(
            recipient=m.recipient.label,
            recipient_user_id=m.recipient.user.pk if m.recipient.user else None,
            recipient_customer_id=m.recipient.customer.pk if m.recipient.customer else None,
            language=m.recipient.language,
            channel=channel,
            address=address,
            subject=subject,
            body=body,
        )
        for m in messages
        for channel, address, subject, body in m.deliveries
    ]


# --- Writing ----------------------------------------------------------------------------------


def _message_id(notification: Notification, channel: str) -> str:
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "localhost"
    return f"<notification.{notification.uuid}.{channel}@{domain}>"


def _write(
    messages: list[_Message],
    *,
    template: NotificationTemplate,
    ticket: Ticket | None,
    context_object: models.Model | None,
    actor: Any,
    reason: str,
) -> list[Notification]:
    now = timezone.now()
    actor_user = actor if getattr(actor, "is_authenticated", False) else None
    notifications = [
        Notification(
            template=template,
            template_version=template.version,
            event=template.event,
            recipient_user=message.recipient.user,
            recipient_customer=message.recipient.customer,
            recipient_label=message.recipient.label[:200],
            language=message.recipient.language,
            ticket=ticket,
            object_type=context_object._meta.label_lower if context_object is not None else "",
            object_id=str(context_object.pk) if context_object is not None else "",
            actor=actor_user,
            reason=reason[:200],
            subject=message.headline[0],
            body=message.headline[1],
            is_in_app=message.in_app is not None,
            created_at=now,
        )
        for message in messages
    ]
    # PostgreSQL and SQLite (3.35+) return the new primary keys from a bulk insert.
    Notification.objects.bulk_create(notifications)
    Delivery.objects.bulk_create(
        [
            _delivery(notification, channel, address, subject, body, message.recipient, now)
            for notification, message in zip(notifications, messages, strict=True)
            for channel, address, subject, body in message.deliveries
        ]
    )
    for notification, message in zip(notifications, messages, strict=True):
        outbox.emit(
            "notification.created",
            notification,
            actor=actor,
            payload={
                "notification_id": notification.pk,
                "event": notification.event,
                "template": template.key,
                "ticket_id": ticket.pk if ticket is not None else None,
                "recipient_user_id": notification.recipient_user_id,
                "recipient_customer_id": notification.recipient_customer_id,
                "channels": [d[0] for d in message.deliveries],
            },
        )
    return notifications


def _delivery(
    notification: Notification,
    channel: str,
    address: str,
    subject: str,
    body: str,
    recipient: _Recipient,
    now: Any,
) -> Delivery:
    # In-app is delivered by the commit that writes it: there is nothing to send.
    in_app = channel == Channel.IN_APP
    return Delivery(
        notification=notification,
        channel=channel,
        address=address if not in_app else "",
        robot=recipient.robot,
        subject=subject,
        body=body,
        message_id=_message_id(notification, channel) if channel == Channel.EMAIL else "",
        status=Delivery.Status.SENT if in_app else Delivery.Status.PENDING,
        sent_at=now if in_app else None,
        next_attempt_at=now,
        created_at=now,
    )


def notify_ticket(
    *,
    ticket: Ticket,
    audiences: Sequence[str],
    template: NotificationTemplate,
    actor: Any = None,
    channels: Sequence[str] | None = None,
    reason: str = "",
    dry_run: bool = False,
    extra: Mapping[str, str] | None = None,
) -> list[Notification] | list[PlannedNotification]:
    """Tell the people of ``ticket`` named by ``audiences`` about it, through ``template``.

    Audiences: ``assignee``, ``team`` (its members, and the team's group robots), ``team_lead``,
    ``requester`` (the customer's e-mail / phone identities; the template must be meant for
    customers), ``followers``, ``user:<id>``. ``channels`` narrows the channels (default: each
    staff member's preferences; e-mail for the requester). ``extra`` fills the
    ``comment.excerpt``, ``sla.due_at``, ``survey.url`` and ``reason`` placeholders.

    Writes in the current transaction; ``dry_run`` writes nothing and returns what would be
    sent instead.
    """
    recipients = _ticket_recipients(ticket, audiences, actor)
    values = {"reason": reason, **(extra or {})}
    messages = _plan(
        recipients, template=template, ticket=ticket, actor=actor, channels=channels, extra=values
    )
    if dry_run:
        return _planned(messages)
    with transaction.atomic():
        return _write(
            messages,
            template=template,
            ticket=ticket,
            context_object=ticket,
            actor=actor,
            reason=reason,
        )


def notify_users(
    *,
    users: Iterable[User],
    template: NotificationTemplate,
    context_object: models.Model | None = None,
    actor: Any = None,
    channels: Sequence[str] | None = None,
    reason: str = "",
    dry_run: bool = False,
    extra: Mapping[str, str] | None = None,
) -> list[Notification] | list[PlannedNotification]:
    """Tell named staff members; like :func:`notify_ticket`, with ``context_object`` (a ticket
    fills the ticket placeholders) in place of the ticket's audiences."""
    ticket = context_object if isinstance(context_object, Ticket) else None
    actor_id = getattr(actor, "pk", None)
    seen: set[int] = set()
    recipients = []
    for user in _active_staff(users):
        if user.pk not in seen and user.pk != actor_id:
            seen.add(user.pk)
            recipients.append(_staff(user))
    values = {"reason": reason, **(extra or {})}
    messages = _plan(
        recipients, template=template, ticket=ticket, actor=actor, channels=channels, extra=values
    )
    if dry_run:
        return _planned(messages)
    with transaction.atomic():
        return _write(
            messages,
            template=template,
            ticket=ticket,
            context_object=context_object,
            actor=actor,
            reason=reason,
        )


# --- Templates --------------------------------------------------------------------------------

_TEMPLATE_FIELDS = ("key", "name", "event", "audience", "content", "is_active")


def _template_snapshot(template: NotificationTemplate) -> dict[str, Any]:
    return audit.snapshot(template, fields=_TEMPLATE_FIELDS)


def _clean_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DomainError("required", field="name", message=_("Enter a name."))
    if len(value.strip()) > 200:
        raise DomainError(
            "too_long",
            field="name",
            message=_("Enter at most %(max_length)s characters."),
            params={"max_length": 200},
        )
    return value.strip()


def _clean_choice(value: Any, choices: type[models.TextChoices], field_name: str) -> str:
    if value not in choices.values:
        raise DomainError(
            "invalid_choice",
            field=field_name,
            message=_("Choose one of: %(choices)s."),
            params={"choices": ", ".join(choices.values)},
        )
    return str(value)


def _clean_key(value: Any, *, exclude: int | None = None) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,79}", value):
        raise DomainError(
            "invalid",
            field="key",
            message=_("Enter a key of lower-case letters, digits, - and _."),
        )
    taken = NotificationTemplate.objects.filter(key=value)
    if exclude is not None:
        taken = taken.exclude(pk=exclude)
    if taken.exists():
        raise DomainError(
            "duplicate", field="key", message=_("Another template already uses this key.")
        )
    return value


def _payload(template: NotificationTemplate) -> dict[str, Any]:
    return {"key": template.key, "event": template.event, "version": template.version}


@transaction.atomic
def create_template(
    *,
    actor: Any,
    key: Any,
    name: Any,
    event: Any,
    content: Any,
    audience: Any = NotificationTemplate.Audience.STAFF,
    is_active: bool = True,
) -> NotificationTemplate:
    """Add a template; its texts may use only allowlisted placeholders (customer-safe ones in
    a template for customers)."""
    authz.require_permission(actor, ADD_TEMPLATE)
    audience = _clean_choice(audience, NotificationTemplate.Audience, "audience")
    template = NotificationTemplate.objects.create(
        key=_clean_key(key),
        name=_clean_name(name),
        event=_clean_choice(event, Event, "event"),
        audience=audience,
        content=template_content.clean_content(
            content, for_customers=audience == NotificationTemplate.Audience.CUSTOMER
        ),
        is_active=bool(is_active),
    )
    audit.record(
        actor=actor, action=Action.CREATED, obj=template, after=_template_snapshot(template)
    )
    outbox.emit("notification_template.created", template, actor=actor, payload=_payload(template))
    return template


@transaction.atomic
def update_template(
    *,
    actor: Any,
    template: NotificationTemplate,
    changes: Mapping[str, Any],
    expected_version: int | None = None,
) -> NotificationTemplate:
    """Change a template's fields (any of key, name, event, audience, content, is_active);
    refused with 412 when ``expected_version`` is stale."""
    authz.require_permission(actor, CHANGE_TEMPLATE)
    locked = NotificationTemplate.objects.select_for_update().get(pk=template.pk)
    if expected_version is not None and locked.version != expected_version:
        raise PreconditionFailed("stale_version")
    before = audit.snapshot(locked)
    unknown = [name for name in changes if name not in _TEMPLATE_FIELDS]
    if unknown:
        raise DomainError(
            "unknown_field", field=unknown[0], message=_("This field cannot be changed.")
        )
    if "key" in changes:
        locked.key = _clean_key(changes["key"], exclude=locked.pk)
    if "name" in changes:
        locked.name = _clean_name(changes["name"])
    if "event" in changes:
        locked.event = _clean_choice(changes["event"], Event, "event")
    if "audience" in changes:
        locked.audience = _clean_choice(
            changes["audience"], NotificationTemplate.Audience, "audience"
        )
    if "is_active" in changes:
        locked.is_active = bool(changes["is_active"])
    # Content is checked again when the audience changes: a staff template turned into a
    # customer one must not keep internal placeholders.
    locked.content = template_content.clean_content(
        changes.get("content", locked.content),
        for_customers=locked.audience == NotificationTemplate.Audience.CUSTOMER,
    )
    if audit.snapshot(locked) == before:
        return locked
    locked.version = F("version") + 1
    locked.updated_at = timezone.now()
    locked.save(update_fields=[*_TEMPLATE_FIELDS, "version", "updated_at"])
    locked.refresh_from_db(fields=["version"])
    audit.record_change(actor=actor, obj=locked, before=before)
    outbox.emit("notification_template.updated", locked, actor=actor, payload=_payload(locked))
    return locked


def deactivate_template(*, actor: Any, template: NotificationTemplate) -> NotificationTemplate:
    return update_template(actor=actor, template=template, changes={"is_active": False})


# --- The bell ---------------------------------------------------------------------------------


def mark_read(*, actor: Any, notification: Notification) -> Notification:
    """Mark one of the actor's own in-app notifications read (again: no change)."""
    if notification.recipient_user_id != actor.pk:
        raise NotFound("not_found")
    if notification.read_at is None:
        notification.read_at = timezone.now()
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(
            read_at=notification.read_at
        )
    return notification


def mark_all_read(*, actor: Any) -> int:
    """Mark every unread in-app notification of the actor read; returns how many."""
    return Notification.objects.filter(
        recipient_user_id=actor.pk, is_in_app=True, read_at__isnull=True
    ).update(read_at=timezone.now())


# --- Preferences ------------------------------------------------------------------------------


@transaction.atomic
def set_preferences(*, actor: Any, choices: Mapping[str, Mapping[str, Any]]) -> None:
    """Store the actor's own choices: event → channel → on/off (audited like any setting)."""
    now = timezone.now()
    before = preferences.matrix_for(actor.pk)
    for event, channels in choices.items():
        _clean_choice(event, Event, "event")
        if not isinstance(channels, Mapping):
            raise DomainError("invalid", field=event, message=_("Choose on or off per channel."))
        for channel, enabled in channels.items():
            if channel not in preferences.STAFF_CHANNELS:
                raise DomainError(
                    "unknown_channel",
                    field=f"{event}.{channel}",
                    message=_("There is no channel %(channel)s."),
                    params={"channel": channel},
                )
            if not isinstance(enabled, bool):
                raise DomainError(
                    "invalid", field=f"{event}.{channel}", message=_("Choose on or off.")
                )
            Preference.objects.update_or_create(
                user_id=actor.pk,
                event=event,
                channel=channel,
                defaults={"is_enabled": enabled, "updated_at": now},
            )
    before_changed, after_changed = audit.diff(before, preferences.matrix_for(actor.pk))
    if after_changed:
        audit.record(
            actor=actor,
            action=Action.UPDATED,
            verb="notification_preferences_changed",
            object_type="accounts.user",
            object_id=str(actor.pk),
            object_repr=str(actor),
            before=before_changed,
            after=after_changed,
        )
