"""API of notifications: your bell, your preferences, templates, and the delivery log.

The bell is read through ``selectors.in_app_notifications_of``: someone else's notification is
a 404. Templates are configuration (``notifications.*_notificationtemplate``); PATCH takes
If-Match and answers 412 when stale. The delivery log needs ``notifications.view_delivery``
within the scope of the notification's ticket.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Body, Field, Query, Router, Schema, Status
from pydantic import ConfigDict

from aftersales.api.common import PreconditionFailed, etag_of, expected_version
from aftersales.api.pagination import paginate
from aftersales.core.errors import DomainError
from aftersales.notifications import preferences, rendering, selectors, services
from aftersales.notifications.models import Delivery, Notification, NotificationTemplate
from aftersales.tickets import selectors as ticket_selectors

router = Router(tags=["notifications"])


# --- Schemas -----------------------------------------------------------------------------------


class NotificationOut(Schema):
    id: int
    event: str
    subject: str
    body: str
    ticket_id: int | None
    actor_id: int | None
    is_read: bool
    read_at: datetime | None
    created_at: datetime


class NotificationPage(Schema):
    items: list[NotificationOut]
    next_cursor: str | None
    unread_count: int


class ListQuery(Schema):
    unread: bool = False
    cursor: str | None = None
    limit: int | None = None


class MarkedOut(Schema):
    marked: int


class AttemptOut(Schema):
    number: int
    outcome: str
    worker: str
    detail: str
    response_code: int | None
    started_at: datetime
    finished_at: datetime | None
    duration_ms: int | None


class DeliveryOut(Schema):
    id: int
    channel: str
    address: str
    status: str
    attempts: int
    next_attempt_at: datetime
    sent_at: datetime | None
    last_error: str
    message_id: str
    log: list[AttemptOut]


class TemplateOut(Schema):
    id: int
    key: str
    name: str
    event: str
    audience: str
    content: dict[str, dict[str, dict[str, str]]]
    is_active: bool
    version: int
    created_at: datetime
    updated_at: datetime


class TemplateIn(Schema):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(..., max_length=80)
    name: str = Field(..., max_length=200)
    event: str
    audience: str = NotificationTemplate.Audience.STAFF
    content: dict[str, Any]
    is_active: bool = True


class TemplatePatch(Schema):
    model_config = ConfigDict(extra="forbid")

    key: str | None = Field(None, max_length=80)
    name: str | None = Field(None, max_length=200)
    event: str | None = None
    audience: str | None = None
    content: dict[str, Any] | None = None
    is_active: bool | None = None


class PreviewIn(Schema):
    model_config = ConfigDict(extra="forbid")

    ticket_id: int
    audiences: list[str] = Field(..., min_length=1, max_length=20)
    channels: list[str] | None = None


class PlannedOut(Schema):
    recipient: str
    recipient_user_id: int | None
    recipient_customer_id: int | None
    language: str
    channel: str
    address: str
    subject: str
    body: str


class PlaceholderOut(Schema):
    placeholder: str
    label: str


# --- The bell ----------------------------------------------------------------------------------


def _notification_out(notification: Notification) -> dict[str, Any]:
    return {
        "id": notification.pk,
        "event": notification.event,
        "subject": notification.subject,
        "body": notification.body,
        "ticket_id": notification.ticket_id,
        "actor_id": notification.actor_id,
        "is_read": notification.read_at is not None,
        "read_at": notification.read_at,
        "created_at": notification.created_at,
    }


@router.get("/notifications", response=NotificationPage, summary="Your in-app notifications")
def list_notifications(request: HttpRequest, filters: Query[ListQuery]) -> dict[str, Any]:
    notifications = selectors.in_app_notifications_of(request.user)
    if filters.unread:
        notifications = notifications.filter(read_at__isnull=True)
    page = paginate(notifications, cursor=filters.cursor, limit=filters.limit, descending=True)
    return {
        "items": [_notification_out(n) for n in page.items],
        "next_cursor": page.next_cursor,
        "unread_count": selectors.unread_count(request.user),
    }


@router.post(
    "/notifications/read-all", response=MarkedOut, summary="Mark all your notifications read"
)
def read_all(request: HttpRequest) -> dict[str, int]:
    return {"marked": services.mark_all_read(actor=request.user)}


@router.post(
    "/notifications/{notification_id}/read",
    response=NotificationOut,
    summary="Mark one of your notifications read",
)
def read_one(request: HttpRequest, notification_id: int) -> dict[str, Any]:
    notification = get_object_or_404(
        selectors.in_app_notifications_of(request.user), pk=notification_id
    )
    return _notification_out(services.mark_read(actor=request.user, notification=notification))


# --- Delivery log ------------------------------------------------------------------------------


def _delivery_out(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.pk,
        "channel": delivery.channel,
        "address": delivery.address if delivery.robot_id is None else str(delivery.robot),
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": delivery.next_attempt_at,
        "sent_at": delivery.sent_at,
        "last_error": delivery.last_error,
        "message_id": delivery.message_id,
        "log": [
            {
                "number": a.number,
                "outcome": a.outcome,
                "worker": a.worker,
                "detail": a.detail,
                "response_code": a.response_code,
                "started_at": a.started_at,
                "finished_at": a.finished_at,
                "duration_ms": a.duration_ms,
            }
            for a in delivery.log.all()
        ],
    }


@router.get(
    "/notifications/{notification_id}/deliveries",
    response=list[DeliveryOut],
    summary="How a notification was delivered, attempt by attempt",
)
def list_deliveries(request: HttpRequest, notification_id: int) -> list[dict[str, Any]]:
    notification = get_object_or_404(
        selectors.logged_notifications_visible_to(request.user), pk=notification_id
    )
    return [_delivery_out(d) for d in selectors.deliveries_of(notification)]


# --- Preferences -------------------------------------------------------------------------------


@router.get(
    "/notification-preferences",
    response=dict[str, dict[str, bool]],
    summary="Which notifications you get on which channel (event → channel → on)",
)
def get_preferences(request: HttpRequest) -> dict[str, dict[str, bool]]:
    return preferences.matrix_for(int(request.user.pk or 0))


@router.put(
    "/notification-preferences",
    response=dict[str, dict[str, bool]],
    summary="Choose which notifications you get on which channel",
)
def put_preferences(
    request: HttpRequest, payload: Body[dict[str, dict[str, Any]]]
) -> dict[str, dict[str, bool]]:
    services.set_preferences(actor=request.user, choices=payload)
    return preferences.matrix_for(int(request.user.pk or 0))


# --- Templates ---------------------------------------------------------------------------------


def _template_out(template: NotificationTemplate) -> dict[str, Any]:
    return {
        "id": template.pk,
        "key": template.key,
        "name": template.name,
        "event": template.event,
        "audience": template.audience,
        "content": template.content,
        "is_active": template.is_active,
        "version": template.version,
        "created_at": template.created_at,
        "updated_at": template.updated_at,
    }


def _template(request: HttpRequest, template_id: int) -> NotificationTemplate:
    return get_object_or_404(selectors.templates_visible_to(request.user), pk=template_id)


@router.get("/notification-templates", response=list[TemplateOut], summary="All templates")
def list_templates(request: HttpRequest) -> list[dict[str, Any]]:
    return [_template_out(t) for t in selectors.templates_visible_to(request.user)]


@router.get(
    "/notification-templates/placeholders",
    response=list[PlaceholderOut],
    summary="The placeholders a template may use",
)
def list_placeholders(request: HttpRequest, for_customers: bool = False) -> list[dict[str, str]]:
    return rendering.placeholder_help(for_customers=for_customers)


@router.post("/notification-templates", response={201: TemplateOut}, summary="Add a template")
def create_template(request: HttpRequest, payload: TemplateIn) -> Status[dict[str, Any]]:
    template = services.create_template(actor=request.user, **payload.dict())
    return Status(201, _template_out(template))


@router.get("/notification-templates/{template_id}", response=TemplateOut)
def get_template(request: HttpRequest, template_id: int, response: HttpResponse) -> dict[str, Any]:
    template = _template(request, template_id)
    response["ETag"] = etag_of(template.version)
    return _template_out(template)


@router.patch(
    "/notification-templates/{template_id}",
    response=TemplateOut,
    summary="Change a template (send If-Match to refuse stale edits)",
)
def update_template(
    request: HttpRequest, template_id: int, payload: TemplatePatch, response: HttpResponse
) -> dict[str, Any]:
    template = _template(request, template_id)
    expected = expected_version(request)
    if expected is not None and expected != template.version:
        raise PreconditionFailed("version_mismatch", field="If-Match")
    changes = payload.dict(exclude_unset=True)
    for name, value in changes.items():
        if value is None:
            raise DomainError(
                "null_not_allowed", field=name, message=_("This field cannot be null.")
            )
    template = services.update_template(
        actor=request.user, template=template, changes=changes, expected_version=expected
    )
    response["ETag"] = etag_of(template.version)
    return _template_out(template)


@router.delete("/notification-templates/{template_id}", response={204: None}, summary="Deactivate")
def deactivate_template(request: HttpRequest, template_id: int) -> Status[None]:
    services.deactivate_template(actor=request.user, template=_template(request, template_id))
    return Status(204, None)


@router.post(
    "/notification-templates/{template_id}/preview",
    response=list[PlannedOut],
    summary="What the template would send on a ticket (nothing is sent or saved)",
)
def preview_template(
    request: HttpRequest, template_id: int, payload: PreviewIn
) -> list[dict[str, Any]]:
    template = _template(request, template_id)
    ticket = ticket_selectors.tickets_visible_to(request.user).filter(pk=payload.ticket_id).first()
    if ticket is None:
        raise DomainError(
            "unknown_reference",
            field="ticket_id",
            message=_("The referenced object does not exist."),
        )
    planned = services.notify_ticket(
        ticket=ticket,
        audiences=payload.audiences,
        template=template,
        actor=request.user,
        channels=payload.channels,
        dry_run=True,
    )
    return [p.__dict__ for p in planned]
