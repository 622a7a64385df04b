"""Use cases of SLA policies: create, change, delete; each checks the permission within the
actor's business lines, validates, writes, audits and emits an outbox event in one
transaction. A policy's condition is compiled with the shared condition language."""

from __future__ import annotations

import re
from typing import Any

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from aftersales.accounts import authz
from aftersales.accounts.models import BusinessLine
from aftersales.audit import services as audit
from aftersales.audit.models import AuditEntry
from aftersales.core.errors import DomainError, PermissionDenied
from aftersales.outbox import services as outbox
from aftersales.sla.models import Calendar, Metric, Policy, PolicyTarget

Action = AuditEntry.Action

VIEW_POLICY = "sla.view_policy"
ADD_POLICY = "sla.add_policy"
CHANGE_POLICY = "sla.change_policy"
DELETE_POLICY = "sla.delete_policy"

METRIC_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_MINUTES = 366 * 24 * 60
PRIORITIES = (1, 2, 3, 4)


def require_lines_in_scope(actor: Any, codename: str, line_ids: list[int]) -> None:
    """A policy of some lines needs the permission over each of them; one for every line (no
    lines given) needs it at scope "all"."""
    scope = authz.scope_for(actor, codename)
    if scope is None:
        raise PermissionDenied("permission_denied", params={"permission": codename})
    if scope == authz.Scope.ALL:
        return
    own = (
        set(authz.business_line_ids(actor))
        if authz.SCOPE_RANK[scope] >= authz.SCOPE_RANK[authz.Scope.BUSINESS_LINES]
        else set()
    )
    if not line_ids or not set(line_ids) <= own:
        raise PermissionDenied(
            "lines_out_of_scope",
            field="business_lines",
            message=_("You may manage SLA policies only of your own business lines."),
        )


def _name(value: Any) -> str:
    text = str(value or "").strip()
    if not text:
        raise DomainError("required", field="name", message=_("Give the policy a name."))
    if len(text) > 120:
        raise DomainError("too_long", field="name", message=_("A name has at most 120 characters."))
    return text


def _whole(value: Any, field: str, low: int, high: int) -> int:
    try:
        number = int(value)
        if str(number) != str(value).strip() and not isinstance(value, int):
            raise ValueError
    except (TypeError, ValueError):
        raise DomainError("not_a_number", field=field, message=_("Enter a whole number.")) from None
    if not low <= number <= high:
        raise DomainError(
            "out_of_range",
            field=field,
            message=_("Enter a number from %(low)s to %(high)s."),
            params={"low": low, "high": high},
        )
    return number


def clean_targets(value: Any) -> list[dict[str, Any]]:
    """``[{metric, priority (1-4 or null), minutes, business_time, warn_before_minutes}]``."""
    if not isinstance(value, list):
        raise DomainError("invalid", field="targets", message=_("Give a list of targets."))
    cleaned: list[dict[str, Any]] = []
    seen: set[tuple[str, int | None]] = set()
    for index, item in enumerate(value):
        field = f"targets[{index}]"
        if not isinstance(item, dict):
            raise DomainError("invalid", field=field, message=_("Each target is an object."))
        metric = str(item.get("metric") or "").strip()
        if not METRIC_PATTERN.match(metric):
            raise DomainError(
                "invalid_metric",
                field=f"{field}.metric",
                message=_(
                    "A metric is first_response, next_response, resolution or a key of "
                    "lower-case letters, digits and underscores."
                ),
            )
        priority = item.get("priority")
        priority = None if priority in ("", None) else _whole(priority, f"{field}.priority", 1, 4)
        minutes = _whole(item.get("minutes"), f"{field}.minutes", 1, MAX_MINUTES)
        warn = _whole(
            item.get("warn_before_minutes") or 0, f"{field}.warn_before_minutes", 0, MAX_MINUTES
        )
        if warn >= minutes:
            raise DomainError(
                "warning_too_early",
                field=f"{field}.warn_before_minutes",
                message=_("Warn before the due time, by less than the whole target."),
            )
        if (metric, priority) in seen:
            raise DomainError(
                "duplicate_target",
                field=f"{field}.priority",
                message=_("This metric already has a target for this priority."),
            )
        seen.add((metric, priority))
        cleaned.append(
            {
                "metric": metric,
                "priority": priority,
                "minutes": minutes,
                "business_time": bool(item.get("business_time", True)),
                "warn_before_minutes": warn,
            }
        )
    return cleaned


def targets_of(policy: Policy) -> list[dict[str, Any]]:
    return [
        {
            "metric": row.metric,
            "priority": row.priority,
            "minutes": row.minutes,
            "business_time": row.is_business_time,
            "warn_before_minutes": row.warn_before_minutes,
        }
        for row in policy.targets.order_by("metric", "priority")
    ]


def _snapshot(policy: Policy) -> dict[str, Any]:
    return {
        "name": policy.name,
        "description": policy.description,
        "business_lines": sorted(line.pk for line in policy.business_lines.all())
        if policy.pk
        else [],
        "position": policy.position,
        "condition": policy.condition,
        "calendar": policy.calendar_id,
        "pause_on_pending": policy.pause_on_pending,
        "is_active": policy.is_active,
        "targets": targets_of(policy) if policy.pk else [],
    }


def _compile(tree: Any, line_ids: list[int]) -> tuple[Any, str]:
    from aftersales.conditions.catalog import ticket_catalog
    from aftersales.conditions.compiler import compile_condition

    if not tree:
        return None, "true"
    compiled = compile_condition(
        tree, ticket_catalog(business_line_ids=line_ids or None), field="condition"
    )
    return compiled.tree, compiled.cel


def _apply(policy: Policy, values: dict[str, Any], line_ids: list[int]) -> None:
    if "name" in values:
        policy.name = _name(values["name"])
    if "description" in values:
        policy.description = str(values["description"] or "")[:2000]
    if "position" in values:
        policy.position = _whole(values["position"], "position", 0, 1_000_000)
    if "calendar" in values:
        calendar = values["calendar"]
        if calendar is not None and not isinstance(calendar, Calendar):
            raise DomainError("invalid", field="calendar", message=_("Choose a calendar."))
        policy.calendar = calendar
    if "pause_on_pending" in values:
        policy.pause_on_pending = bool(values["pause_on_pending"])
    if "is_active" in values:
        policy.is_active = bool(values["is_active"])
    if "condition" in values or "business_lines" in values:
        policy.condition, policy.condition_cel = _compile(
            values.get("condition", policy.condition), line_ids
        )


def _lines(values: dict[str, Any], current: list[int]) -> list[int]:
    if "business_lines" not in values:
        return current
    lines = values["business_lines"] or []
    ids = sorted({line.pk if isinstance(line, BusinessLine) else int(line) for line in lines})
    found = set(BusinessLine.objects.filter(pk__in=ids).values_list("pk", flat=True))
    if found != set(ids):
        raise DomainError(
            "unknown_line", field="business_lines", message=_("Choose known business lines.")
        )
    return ids


def _write_targets(policy: Policy, targets: list[dict[str, Any]]) -> None:
    PolicyTarget.objects.filter(policy=policy).delete()
    PolicyTarget.objects.bulk_create(
        [
            PolicyTarget(
                policy=policy,
                metric=item["metric"],
                priority=item["priority"],
                minutes=item["minutes"],
                is_business_time=item["business_time"],
                warn_before_minutes=item["warn_before_minutes"],
            )
            for item in targets
        ]
    )


@transaction.atomic
def create_policy(*, actor: Any, values: dict[str, Any]) -> Policy:
    """Create a policy: ``name``, ``business_lines`` (ids or rows; empty: every line),
    ``position``, ``condition`` (a condition tree), ``calendar``, ``pause_on_pending``,
    ``is_active``, ``targets`` (see :func:`clean_targets`)."""
    line_ids = _lines(values, [])
    require_lines_in_scope(actor, ADD_POLICY, line_ids)
    policy = Policy(name="")
    if "position" not in values:
        last = Policy.objects.order_by("-position").values_list("position", flat=True).first()
        policy.position = (last or 0) + 10
    _apply(policy, {"condition": None, **values}, line_ids)
    if "name" not in values:
        _name("")
    targets = clean_targets(values.get("targets", []))
    policy.save()
    policy.business_lines.set(line_ids)
    _write_targets(policy, targets)
    audit.record(actor=actor, action=Action.CREATED, obj=policy, after=_snapshot(policy))
    outbox.emit("sla_policy.created", policy, actor=actor, payload={"version": policy.version})
    return policy


@transaction.atomic
def update_policy(
    *, actor: Any, policy: Policy, values: dict[str, Any], expected_version: int | None = None
) -> Policy:
    """Change a policy; tickets pick the new targets up the next time they change."""
    policy = Policy.objects.select_for_update().get(pk=policy.pk)
    if expected_version is not None and expected_version != policy.version:
        raise DomainError(
            "version_conflict",
            message=_("Someone else changed this policy; reload it and try again."),
        )
    current = sorted(line.pk for line in policy.business_lines.all())
    require_lines_in_scope(actor, CHANGE_POLICY, current)
    line_ids = _lines(values, current)
    require_lines_in_scope(actor, CHANGE_POLICY, line_ids)
    before = _snapshot(policy)
    _apply(policy, values, line_ids)
    targets = clean_targets(values["targets"]) if "targets" in values else None
    policy.version += 1
    policy.save()
    policy.business_lines.set(line_ids)
    if targets is not None:
        _write_targets(policy, targets)
    after = _snapshot(policy)
    changed_before = {k: v for k, v in before.items() if after[k] != v}
    changed_after = {k: after[k] for k in changed_before}
    audit.record(
        actor=actor, action=Action.UPDATED, obj=policy, before=changed_before, after=changed_after
    )
    outbox.emit("sla_policy.changed", policy, actor=actor, payload={"version": policy.version})
    return policy


@transaction.atomic
def delete_policy(*, actor: Any, policy: Policy) -> None:
    """Delete a policy; the tickets under it keep their running clocks as they are."""
    lines = sorted(line.pk for line in policy.business_lines.all())
    require_lines_in_scope(actor, DELETE_POLICY, lines)
    audit.record(actor=actor, action=Action.DELETED, obj=policy, before=_snapshot(policy))
    outbox.emit("sla_policy.deleted", policy, actor=actor, payload={})
    policy.delete()


BUILT_IN_METRICS = [choice.value for choice in Metric]
