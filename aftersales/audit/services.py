"""Writing to the audit log. Services call :func:`record` inside their own transaction."""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections.abc import Iterable
from typing import Any

from django.db import models

from aftersales.audit.models import AuditEntry
from aftersales.core import context

Action = AuditEntry.Action
_SECRET_FIELDS = {"password", "totp_secret", "key_hash", "secret"}
_BOOKKEEPING = {"updated_at", "version"}


def _plain(value: Any) -> Any:
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple | set):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def snapshot(obj: models.Model, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """The audited state of ``obj``: concrete fields (foreign keys as ids), secrets masked."""
    result: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        if fields is not None and field.name not in fields:
            continue
        if field.name in _SECRET_FIELDS:
            result[field.name] = "***" if getattr(obj, field.attname) else ""
            continue
        result[field.name] = _plain(getattr(obj, field.attname))
    return result


def diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the keys whose values differ, as (before, after).

    Bookkeeping columns (``updated_at``, ``version``) change with every save; they say nothing
    about what was changed, so they never make an entry on their own.
    """
    keys = [k for k in after if before.get(k) != after.get(k) and k not in _BOOKKEEPING]
    keys += [k for k in before if k not in after and k not in _BOOKKEEPING]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


def record(
    *,
    actor: Any,
    action: str,
    obj: models.Model | None = None,
    verb: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
) -> AuditEntry:
    ctx = context.current()
    actor_user = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
        object_repr = object_repr or str(obj)
    return AuditEntry.objects.create(
        actor=actor_user,
        actor_label=(actor_user.get_username() if actor_user is not None else "")[:150],
        ip_address=ctx.ip_address,
        request_id=ctx.request_id,
        via=ctx.via,
        action=action,
        verb=verb or action,
        object_type=object_type,
        object_id=object_id,
        object_repr=object_repr[:200],
        before=_plain(before) if before is not None else None,
        after=_plain(after) if after is not None else None,
    )


def record_change(
    *, actor: Any, obj: models.Model, before: dict[str, Any], verb: str = "updated"
) -> AuditEntry | None:
    """Record an update with only the changed fields; nothing if nothing changed."""
    changed_before, changed_after = diff(before, snapshot(obj))
    if not changed_after:
        return None
    return record(
        actor=actor,
        action=Action.UPDATED,
        obj=obj,
        verb=verb,
        before=changed_before,
        after=changed_after,
    )
