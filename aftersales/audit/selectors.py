"""Reads of the audit log."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from aftersales.accounts import authz
from aftersales.audit.models import AuditEntry


def entries_visible_to(viewer: Any, codename: str = "audit.view_auditentry") -> (
    QuerySet[AuditEntry]
):
    return authz.restrict(AuditEntry.objects.all(), viewer, codename)
