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

from aftersales.accounts.models import Team
from aftersales.api.common import PreconditionFailed, etag_of, expected_version
from aftersales.api.pagination import paginate
from aftersales.core.errors import DomainError, NotFound
from aftersales.notifications import channel_settings, preferences, rendering, selectors, services
from aftersales.notifications.models import (
    ChatRobot,
    Delivery,
    Notification,
    NotificationTemplate,
    Reaction,
    SmsProvider,
)
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


# --- Channels: group robots, the SMS gateway, default reactions ---------------------------------


class RobotOut(Schema):
    id: int
    name: str
    kind: str
    message_type: str
    webhook_url: str
    secret: str
    team_id: int | None
    is_active: bool
    version: int


class RobotIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., max_length=120)
    kind: str
    message_type: str = "text"
    webhook_url: str = Field(..., max_length=500)
    secret: str = Field("", max_length=200)
    team_id: int | None = None
    is_active: bool = True


class RobotPatch(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=120)
    message_type: str | None = None
    webhook_url: str | None = Field(None, max_length=500)
    secret: str | None = Field(None, max_length=200)
    team_id: int | None = None
    is_active: bool | None = None


class SmsProviderOut(Schema):
    name: str
    url_template: str
    method: str
    body_template: str
    content_type: str
    secret: str
    signature_header: str
    is_active: bool
    version: int


class SmsProviderIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=120)
    url_template: str | None = Field(None, max_length=500)
    method: str | None = None
    body_template: str | None = Field(None, max_length=5000)
    content_type: str | None = Field(None, max_length=100)
    secret: str | None = Field(None, max_length=200)
    signature_header: str | None = Field(None, max_length=100)
    is_active: bool | None = None


class ReactionOut(Schema):
    trigger: str
    template_id: int | None
    is_enabled: bool
    version: int


class ReactionPatch(Schema):
    model_config = ConfigDict(extra="forbid")

    template_id: int | None = None
    is_enabled: bool | None = None


def _robot_out(robot: ChatRobot) -> dict[str, Any]:
    return {
        "id": robot.pk,
        "name": robot.name,
        "kind": robot.kind,
        "message_type": robot.message_type,
        "webhook_url": channel_settings.mask_url(robot.webhook_url),
        "secret": channel_settings.mask_secret(robot.secret),
        "team_id": robot.team_id,
        "is_active": robot.is_active,
        "version": robot.version,
    }


def _team(team_id: int | None) -> Team | None:
    if team_id is None:
        return None
    team = Team.objects.filter(pk=team_id).first()
    if team is None:
        raise DomainError(
            "unknown_reference",
            field="team_id",
            message=_("The referenced object does not exist."),
        )
    return team


def _if_match(request: HttpRequest, version: int) -> int | None:
    expected = expected_version(request)
    if expected is not None and expected != version:
        raise PreconditionFailed("version_mismatch", field="If-Match")
    return expected


@router.get("/notification-robots", response=list[RobotOut], summary="Group robots")
def list_robots(request: HttpRequest) -> list[dict[str, Any]]:
    return [_robot_out(r) for r in selectors.robots_visible_to(request.user)]


@router.post("/notification-robots", response={201: RobotOut}, summary="Add a group robot")
def create_robot(request: HttpRequest, payload: RobotIn) -> Status[dict[str, Any]]:
    fields = payload.dict()
    fields["team"] = _team(fields.pop("team_id"))
    robot = channel_settings.create_robot(actor=request.user, **fields)
    return Status(201, _robot_out(robot))


@router.patch(
    "/notification-robots/{robot_id}",
    response=RobotOut,
    summary="Change a group robot (If-Match; a secret left out is kept)",
)
def update_robot(
    request: HttpRequest, robot_id: int, payload: RobotPatch, response: HttpResponse
) -> dict[str, Any]:
    robot = get_object_or_404(selectors.robots_visible_to(request.user), pk=robot_id)
    expected = _if_match(request, robot.version)
    changes = payload.dict(exclude_unset=True)
    if "team_id" in changes:
        changes["team"] = _team(changes.pop("team_id"))
    robot = channel_settings.update_robot(
        actor=request.user, robot=robot, changes=changes, expected_version=expected
    )
    response["ETag"] = etag_of(robot.version)
    return _robot_out(robot)


@router.delete("/notification-robots/{robot_id}", response={204: None})
def delete_robot(request: HttpRequest, robot_id: int) -> Status[None]:
    robot = get_object_or_404(selectors.robots_visible_to(request.user), pk=robot_id)
    channel_settings.delete_robot(actor=request.user, robot=robot)
    return Status(204, None)


def _sms_out(provider: SmsProvider) -> dict[str, Any]:
    return {
        "name": provider.name,
        "url_template": channel_settings.mask_url(provider.url_template),
        "method": provider.method,
        "body_template": provider.body_template,
        "content_type": provider.content_type,
        "secret": channel_settings.mask_secret(provider.secret),
        "signature_header": provider.signature_header,
        "is_active": provider.is_active,
        "version": provider.version,
    }


@router.get("/notification-sms-provider", response=SmsProviderOut, summary="The SMS gateway")
def get_sms_provider(request: HttpRequest, response: HttpResponse) -> dict[str, Any]:
    provider = selectors.sms_provider(request.user)
    if provider is None:
        raise NotFound("not_found")
    response["ETag"] = etag_of(provider.version)
    return _sms_out(provider)


@router.put(
    "/notification-sms-provider",
    response=SmsProviderOut,
    summary="Set up or change the SMS gateway (If-Match; a secret left out is kept)",
)
def put_sms_provider(
    request: HttpRequest, payload: SmsProviderIn, response: HttpResponse
) -> dict[str, Any]:
    current = selectors.sms_provider(request.user)
    expected = _if_match(request, current.version) if current is not None else None
    provider = channel_settings.save_sms_provider(
        actor=request.user, changes=payload.dict(exclude_unset=True), expected_version=expected
    )
    response["ETag"] = etag_of(provider.version)
    return _sms_out(provider)


def _reaction_out(reaction: Reaction) -> dict[str, Any]:
    return {
        "trigger": reaction.trigger,
        "template_id": reaction.template_id,
        "is_enabled": reaction.is_enabled,
        "version": reaction.version,
    }


@router.get(
    "/notification-reactions",
    response=list[ReactionOut],
    summary="Default notifications sent on ticket events, and whether each is on",
)
def list_reactions(request: HttpRequest) -> list[dict[str, Any]]:
    return [_reaction_out(r) for r in selectors.reactions_visible_to(request.user)]


@router.patch(
    "/notification-reactions/{trigger}",
    response=ReactionOut,
    summary="Switch a default notification on or off, or change its template (If-Match)",
)
def update_reaction(
    request: HttpRequest, trigger: str, payload: ReactionPatch, response: HttpResponse
) -> dict[str, Any]:
    reaction = get_object_or_404(selectors.reactions_visible_to(request.user), trigger=trigger)
    expected = _if_match(request, reaction.version)
    changes: dict[str, Any] = {}
    sent = payload.dict(exclude_unset=True)
    if sent.get("is_enabled") is not None:
        changes["is_enabled"] = sent["is_enabled"]
    if "template_id" in sent:
        changes["template"] = NotificationTemplate.objects.filter(pk=sent["template_id"]).first()
    reaction = channel_settings.update_reaction(
        actor=request.user, reaction=reaction, changes=changes, expected_version=expected
    )
    response["ETag"] = etag_of(reaction.version)
    return _reaction_out(reaction)
