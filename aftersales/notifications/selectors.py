"""Reads of notifications, already scoped to the person asking."""

from __future__ import annotations

from typing import Any

from django.db import models

from aftersales.accounts import authz
from aftersales.notifications.models import (
    ChatRobot,
    Delivery,
    Notification,
    NotificationTemplate,
    Reaction,
    SmsProvider,
)
from aftersales.notifications.services import CONFIGURE_CHANNELS, VIEW_DELIVERY, VIEW_TEMPLATE


def in_app_notifications_of(user: Any) -> models.QuerySet[Notification]:
    """The person's own bell: nobody ever sees another person's in-app notifications."""
    if not getattr(user, "is_authenticated", False):
        return Notification.objects.none()
    return Notification.objects.filter(recipient_user_id=user.pk, is_in_app=True)


def unread_count(user: Any) -> int:
    return in_app_notifications_of(user).filter(read_at__isnull=True).count()


def templates_visible_to(user: Any) -> models.QuerySet[NotificationTemplate]:
    """Templates are configuration of the whole installation: all or nothing."""
    authz.require_permission(user, VIEW_TEMPLATE)
    return NotificationTemplate.objects.all()


def logged_notifications_visible_to(user: Any) -> models.QuerySet[Notification]:
    """Notifications whose delivery log the person may read: about tickets in their scope (or
    addressed to them)."""
    authz.require_permission(user, VIEW_DELIVERY)
    return authz.restrict(Notification.objects.all(), user, VIEW_DELIVERY)


def deliveries_of(notification: Notification) -> models.QuerySet[Delivery]:
    return notification.deliveries.prefetch_related("log").select_related("robot")


def robots_visible_to(user: Any) -> models.QuerySet[ChatRobot]:
    authz.require_permission(user, CONFIGURE_CHANNELS)
    return ChatRobot.objects.select_related("team")


def sms_provider(user: Any) -> SmsProvider | None:
    authz.require_permission(user, CONFIGURE_CHANNELS)
    return SmsProvider.objects.order_by("pk").first()


def reactions_visible_to(user: Any) -> models.QuerySet[Reaction]:
    authz.require_permission(user, CONFIGURE_CHANNELS)
    return Reaction.objects.select_related("template")
