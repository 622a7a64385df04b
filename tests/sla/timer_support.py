"""Shared helpers of the SLA timer tests: a policy made by the administrator, local times."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aftersales.sla import policies
from aftersales.sla.models import Policy, TicketSlaTarget

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(text: str) -> datetime:
    """'2026-09-30 17:30' in Shanghai as an aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def make_policy(admin: Any, **values: Any) -> Policy:
    values.setdefault("name", "Standard")
    values.setdefault(
        "targets",
        [
            {"metric": "first_response", "minutes": 60, "warn_before_minutes": 15},
            {"metric": "resolution", "minutes": 240, "warn_before_minutes": 60},
        ],
    )
    return policies.create_policy(actor=admin, values=values)


def target(ticket: Any, metric: str) -> TicketSlaTarget:
    return TicketSlaTarget.objects.select_related("calendar").get(ticket=ticket, metric=metric)
