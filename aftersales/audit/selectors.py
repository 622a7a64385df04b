"""Reads of the audit log."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from aftersales.accounts import authz
from aftersales.audit.models import AuditEntry


def entries_visible_to(
    viewer: Any, codename: str = "audit.view_auditentry"
) -> QuerySet[AuditEntry]:
    return authz.restrict(AuditEntry.objects.all(), viewer, codename)


def sign_ins_of(user: Any, *, limit: int = 5) -> list[AuditEntry]:
    """A person's own latest sign-ins (their own rows: no audit permission needed)."""
    return list(
        AuditEntry.objects.filter(actor=user, action=AuditEntry.Action.LOGIN).order_by(
            "-at", "-pk"
        )[:limit]
    )
