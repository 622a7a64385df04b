"""Reading the automation log and describing steps and condition results for people."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from aftersales.automation import actions as action_kinds
from aftersales.automation.models import Execution

LOG_LIMIT = 200


def log_of(viewer: Any, ticket: Any) -> QuerySet[Execution]:
    """The newest lines of a ticket's automation log (the caller checked the ticket's scope)."""
    return Execution.objects.filter(ticket=ticket).order_by("-created_at", "-pk")[:LOG_LIMIT]


def describe_step(step: dict[str, Any]) -> dict[str, Any]:
    return {
        "action": step.get("action", ""),
        "label": str(action_kinds.label_of(step.get("action", ""))),
        "ok": bool(step.get("ok")),
        "detail": str(step.get("detail", "")),
    }


def describe_leaf(leaf: Any) -> dict[str, Any]:
    def text(name: str) -> str:
        value = getattr(leaf, name, "")
        return "" if value is None else str(value)

    return {
        "path": text("path"),
        "field": text("field"),
        "operator": text("operator"),
        "expected": text("expected"),
        "actual": text("actual"),
        "matched": bool(getattr(leaf, "matched", False)),
    }
