"""Use cases of channel configuration: group robots, the SMS gateway, default reactions.

All take ``notifications.configure_channels``. Secrets (a DingTalk signing secret, the SMS
signing secret, the key or token inside a webhook URL) are write-only: reads and the audit log
get :func:`mask_secret` / :func:`mask_url` versions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from aftersales.accounts import authz
from aftersales.accounts.models import Team
from aftersales.audit import services as audit
from aftersales.audit.models import AuditEntry
from aftersales.core.errors import DomainError, PreconditionFailed
from aftersales.notifications import channels
from aftersales.notifications.models import ChatRobot, NotificationTemplate, Reaction, SmsProvider
from aftersales.notifications.services import CONFIGURE_CHANNELS
from aftersales.outbox import services as outbox

Action = AuditEntry.Action
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,100}$")
_URL_SECRETS = {
    "key",
    "access_token",
    "token",
    "secret",
    "sign",
    "signature",
    "password",
    "apikey",
    "api_key",
    "appkey",
    "app_key",
    "appsecret",
    "app_secret",
    "accesskey",
    "access_key",
}


def mask_secret(value: str) -> str:
    """``••••`` and the last four characters of a long secret; never the whole of it."""
    if not value:
        return ""
    return "••••" + value[-4:] if len(value) >= 12 else "••••"


def mask_url(url: str) -> str:
    """The URL with the values of secret-looking query parameters masked."""
    parts = urlsplit(url)
    query = "&".join(
        f"{quote(name)}="
        + (mask_secret(value) if name.lower() in _URL_SECRETS else quote(value, safe="{} "))
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    )
    return urlunsplit(parts._replace(query=query))


def _required(value: Any, field: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DomainError("required", field=field, message=_("This field is required."))
    if len(value.strip()) > limit:
        raise DomainError(
            "too_long",
            field=field,
            message=_("Enter at most %(max_length)s characters."),
            params={"max_length": limit},
        )
    return value.strip()


def _url(value: Any, field: str) -> str:
    url = _required(value, field, 500)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DomainError(
            "invalid_url", field=field, message=_("Enter an http or https URL with a host.")
        )
    return url


def _secret(value: Any, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > 200:
        raise DomainError("invalid", field=field, message=_("Enter at most 200 characters."))
    return value.strip()


# --- Group robots ------------------------------------------------------------------------------


def _robot_state(robot: ChatRobot) -> dict[str, Any]:
    return {
        "name": robot.name,
        "kind": robot.kind,
        "message_type": robot.message_type,
        "webhook_url": mask_url(robot.webhook_url),
        "secret": mask_secret(robot.secret),
        "team": robot.team_id,
        "is_active": robot.is_active,
    }


def _apply_robot(robot: ChatRobot, changes: Mapping[str, Any]) -> None:
    if "name" in changes:
        robot.name = _required(changes["name"], "name", 120)
    if "kind" in changes:
        if changes["kind"] not in ChatRobot.Kind.values:
            raise DomainError(
                "invalid_choice", field="kind", message=_("Choose WeCom or DingTalk.")
            )
        robot.kind = changes["kind"]
    if "message_type" in changes:
        if changes["message_type"] not in ChatRobot.MessageType.values:
            raise DomainError(
                "invalid_choice", field="message_type", message=_("Choose text or Markdown.")
            )
        robot.message_type = changes["message_type"]
    if "webhook_url" in changes:
        robot.webhook_url = _url(changes["webhook_url"], "webhook_url")
    if "secret" in changes and changes["secret"] is not None:
        robot.secret = _secret(changes["secret"], "secret")
    if "team" in changes:
        team = changes["team"]
        if team is not None and (not isinstance(team, Team) or not team.is_active):
            raise DomainError("invalid", field="team", message=_("Choose an active team."))
        robot.team = team
    if "is_active" in changes:
        robot.is_active = bool(changes["is_active"])


@transaction.atomic
def create_robot(*, actor: Any, **fields: Any) -> ChatRobot:
    """Add a WeCom or DingTalk group robot (name, kind, webhook_url, secret, team)."""
    authz.require_permission(actor, CONFIGURE_CHANNELS)
    robot = ChatRobot()
    _apply_robot(robot, {"name": None, "kind": None, "webhook_url": None, **fields})
    robot.save()
    audit.record(actor=actor, action=Action.CREATED, obj=robot, after=_robot_state(robot))
    outbox.emit("chat_robot.created", robot, actor=actor, payload={"kind": robot.kind})
    return robot


@transaction.atomic
def update_robot(
    *,
    actor: Any,
    robot: ChatRobot,
    changes: Mapping[str, Any],
    expected_version: int | None = None,
) -> ChatRobot:
    """Change a robot; a ``secret`` of None keeps the stored one, "" clears it."""
    authz.require_permission(actor, CONFIGURE_CHANNELS)
    locked = ChatRobot.objects.select_for_update().get(pk=robot.pk)
    if expected_version is not None and expected_version != locked.version:
        raise PreconditionFailed("stale_version")
    before = _robot_state(locked)
    secret_before = locked.secret
    _apply_robot(locked, changes)
    if _robot_state(locked) == before and locked.secret == secret_before:
        return locked
    locked.version = F("version") + 1
    locked.updated_at = timezone.now()
    locked.save()
    locked.refresh_from_db()
    audit.record(
        actor=actor, action=Action.UPDATED, obj=locked, before=before, after=_robot_state(locked)
    )
    outbox.emit("chat_robot.updated", locked, actor=actor, payload={"kind": locked.kind})
    return locked


@transaction.atomic
def delete_robot(*, actor: Any, robot: ChatRobot) -> None:
    authz.require_permission(actor, CONFIGURE_CHANNELS)
    audit.record(actor=actor, action=Action.DELETED, obj=robot, before=_robot_state(robot))
    outbox.emit("chat_robot.deleted", robot, actor=actor, payload={"kind": robot.kind})
    robot.delete()


# --- The SMS gateway ---------------------------------------------------------------------------

_SMS_FIELDS = (
    "name",
    "url_template",
    "method",
    "body_template",
    "content_type",
    "secret",
    "signature_header",
    "is_active",
)


def _sms_state(provider: SmsProvider) -> dict[str, Any]:
    state = {name: getattr(provider, name) for name in _SMS_FIELDS}
    state["secret"] = mask_secret(provider.secret)
    state["url_template"] = mask_url(provider.url_template)
    return state


def _check_sms_template(text: str, field: str) -> None:
    leftover = channels.SMS_PLACEHOLDER.sub("", text)
    if "{{" in leftover or "}}" in leftover:
        raise DomainError(
            "unknown_placeholder",
            field=field,
            message=_("Use only {{ phone }}, {{ message }}, {{ timestamp }} and {{ nonce }} here."),
        )


def _apply_sms(provider: SmsProvider, changes: Mapping[str, Any]) -> None:
    if "name" in changes:
        provider.name = _required(changes["name"], "name", 120)
    if "url_template" in changes:
        template = _required(changes["url_template"], "url_template", 500)
        _check_sms_template(template, "url_template")
        _url(channels.SMS_PLACEHOLDER.sub("x", template), "url_template")
        provider.url_template = template
    if "method" in changes:
        if changes["method"] not in SmsProvider.Method.values:
            raise DomainError("invalid_choice", field="method", message=_("Choose GET or POST."))
        provider.method = changes["method"]
    if "body_template" in changes:
        body = changes["body_template"] or ""
        if not isinstance(body, str) or len(body) > 5000:
            raise DomainError(
                "invalid", field="body_template", message=_("Enter at most 5000 characters.")
            )
        _check_sms_template(body, "body_template")
        provider.body_template = body
    if "content_type" in changes:
        provider.content_type = _required(changes["content_type"], "content_type", 100)
    if "secret" in changes and changes["secret"] is not None:
        provider.secret = _secret(changes["secret"], "secret")
    if "signature_header" in changes:
        header = changes["signature_header"]
        if not isinstance(header, str) or not _HEADER_NAME.fullmatch(header):
            raise DomainError(
                "invalid",
                field="signature_header",
                message=_("Enter a header name of letters, digits and -."),
            )
        provider.signature_header = header
    if "is_active" in changes:
        provider.is_active = bool(changes["is_active"])


@transaction.atomic
def save_sms_provider(
    *, actor: Any, changes: Mapping[str, Any], expected_version: int | None = None
) -> SmsProvider:
    """Set up or change the one SMS gateway; a ``secret`` of None keeps the stored one."""
    authz.require_permission(actor, CONFIGURE_CHANNELS)
    provider = SmsProvider.objects.select_for_update().order_by("pk").first()
    if provider is None:
        provider = SmsProvider()
        _apply_sms(provider, {"name": None, "url_template": None, **changes})
        provider.save()
        audit.record(actor=actor, action=Action.CREATED, obj=provider, after=_sms_state(provider))
        outbox.emit("sms_provider.created", provider, actor=actor)
        return provider
    if expected_version is not None and expected_version != provider.version:
        raise PreconditionFailed("stale_version")
    before, secret_before = _sms_state(provider), provider.secret
    _apply_sms(provider, changes)
    if _sms_state(provider) == before and provider.secret == secret_before:
        return provider
    provider.version = F("version") + 1
    provider.updated_at = timezone.now()
    provider.save()
    provider.refresh_from_db()
    audit.record(
        actor=actor,
        action=Action.UPDATED,
        obj=provider,
        before=before,
        after=_sms_state(provider),
    )
    outbox.emit("sms_provider.updated", provider, actor=actor)
    return provider


# --- Default reactions -------------------------------------------------------------------------


@transaction.atomic
def update_reaction(
    *,
    actor: Any,
    reaction: Reaction,
    changes: Mapping[str, Any],
    expected_version: int | None = None,
) -> Reaction:
    """Switch a default reaction on or off, or point it at another template of its kind."""
    authz.require_permission(actor, CONFIGURE_CHANNELS)
    locked = Reaction.objects.select_for_update().get(pk=reaction.pk)
    if expected_version is not None and expected_version != locked.version:
        raise PreconditionFailed("stale_version")
    before = {"is_enabled": locked.is_enabled, "template": locked.template_id}
    if "is_enabled" in changes:
        locked.is_enabled = bool(changes["is_enabled"])
    if "template" in changes:
        template = changes["template"]
        if not isinstance(template, NotificationTemplate) or not template.is_active:
            raise DomainError("invalid", field="template", message=_("Choose an active template."))
        locked.template = template
    after = {"is_enabled": locked.is_enabled, "template": locked.template_id}
    if after == before:
        return locked
    locked.version = F("version") + 1
    locked.updated_at = timezone.now()
    locked.save()
    locked.refresh_from_db()
    audit.record(actor=actor, action=Action.UPDATED, obj=locked, before=before, after=after)
    outbox.emit("notification_reaction.updated", locked, actor=actor, payload=after)
    return locked
