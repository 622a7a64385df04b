"""Scoped reads of platform accounts and their messages."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from aftersales.accounts import authz
from aftersales.messaging.models import InboundMessage, OutboundMessage, PlatformAccount

MANAGE = "messaging.manage_accounts"


def accounts_visible_to(user: Any) -> QuerySet[PlatformAccount]:
    """Accounts of the business lines the user manages messaging for."""
    return authz.restrict(
        PlatformAccount.objects.select_related("business_line", "team", "ticket_type"),
        user,
        MANAGE,
    )


def inbound_visible_to(user: Any) -> QuerySet[InboundMessage]:
    return authz.restrict(
        InboundMessage.objects.select_related("account", "ticket", "customer"), user, MANAGE
    )


def outbound_visible_to(user: Any) -> QuerySet[OutboundMessage]:
    return authz.restrict(OutboundMessage.objects.select_related("account", "ticket"), user, MANAGE)


def active_account(kind: str, key: str) -> PlatformAccount | None:
    """The account a platform callback names (not scoped: the platform is no user)."""
    kinds = [kind]
    if kind == "wechat":
        kinds = [PlatformAccount.Kind.WECHAT_OFFICIAL, PlatformAccount.Kind.WECHAT_MINIPROGRAM]
    return (
        PlatformAccount.objects.filter(key=key, kind__in=kinds, is_active=True)
        .select_related("business_line")
        .first()
    )
