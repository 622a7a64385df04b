"""Creating and changing rules and automations (versioned, audited), and the dry run."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models import Max, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from aftersales.accounts import authz
from aftersales.accounts.models import BusinessLine
from aftersales.audit import services as audit
from aftersales.audit.models import AuditEntry
from aftersales.automation import actions as action_kinds
from aftersales.automation import engine
from aftersales.automation.models import Automation, Rule, RuleVersion, Trigger
from aftersales.conditions import catalog as condition_catalog
from aftersales.conditions import compiler
from aftersales.conditions.activation import EventFacts, ticket_activation
from aftersales.core.errors import DomainError, NotFound, PermissionDenied, PreconditionFailed
from aftersales.outbox import services as outbox

Action = AuditEntry.Action

VIEW_RULE, ADD_RULE, CHANGE_RULE, DELETE_RULE = (
    f"automation.{verb}_rule" for verb in ("view", "add", "change", "delete")
)
VIEW_AUTOMATION, ADD_AUTOMATION, CHANGE_AUTOMATION, DELETE_AUTOMATION = (
    f"automation.{verb}_automation" for verb in ("view", "add", "change", "delete")
)
MAX_HOURS = Decimal("8760")
CATEGORIES = ("new", "open", "pending", "solved", "closed")


# --- Who may see and change what ---


def _reach(actor: Any, codename: str) -> set[int] | None:
    """The business lines the actor manages rules of; None = all of them."""
    scope = authz.scope_for(actor, codename)
    if scope is None:
        raise PermissionDenied("permission_denied", params={"permission": codename})
    if scope == authz.Scope.ALL:
        return None
    return set(authz.business_line_ids(actor))


def visible(actor: Any, model: type[Rule] | type[Automation]) -> QuerySet[Any]:
    """Rules (or automations) the actor may see: those covering only lines they reach. A rule
    for every line is for those who reach every line."""
    codename = VIEW_RULE if model is Rule else VIEW_AUTOMATION
    scope = authz.scope_for(actor, codename)
    if scope is None:
        return model.objects.none()
    items = model.objects.all()
    if scope == authz.Scope.ALL:
        return items
    if authz.SCOPE_RANK[scope] < authz.SCOPE_RANK[authz.Scope.BUSINESS_LINES]:
        return model.objects.none()
    lines = authz.business_line_ids(actor)
    return (
        items.filter(business_lines__isnull=False)
        .exclude(business_lines__in=BusinessLine.objects.exclude(pk__in=lines))
        .distinct()
    )


def get_visible(actor: Any, model: type[Rule] | type[Automation], pk: Any) -> Any:
    found = visible(actor, model).filter(pk=pk).first() if str(pk).isdigit() else None
    if found is None:
        raise NotFound("not_found")
    return found


def _require_lines(actor: Any, codename: str, line_ids: set[int]) -> None:
    reach = _reach(actor, codename)
    if reach is None:
        return
    if not line_ids:
        raise PermissionDenied(
            "outside_scope",
            field="business_lines",
            message=_("Only administrators of every line may write rules for all lines."),
        )
    if not line_ids <= reach:
        raise PermissionDenied(
            "outside_scope",
            field="business_lines",
            message=_("Choose business lines you manage."),
        )


# --- Checking input ---


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DomainError("required", field="name", message=_("This field is required."))
    value = " ".join(value.split())
    if len(value) > 120:
        raise DomainError(
            "too_long",
            field="name",
            message=_("Keep it under %(max)s characters."),
            params={"max": 120},
        )
    return value


def _lines(value: Any) -> list[BusinessLine]:
    if value in (None, ""):
        return []
    if not isinstance(value, list | tuple):
        raise DomainError("invalid", field="business_lines", message=_("Choose business lines."))
    ids = {str(getattr(item, "pk", item)) for item in value}
    if not all(pk.isdigit() for pk in ids):
        raise DomainError("invalid", field="business_lines", message=_("Choose business lines."))
    lines = list(BusinessLine.objects.filter(pk__in=[int(pk) for pk in ids], is_active=True))
    if len(lines) != len(ids):
        raise DomainError(
            "invalid_choice", field="business_lines", message=_("Choose active business lines.")
        )
    return lines


def _triggers(value: Any) -> list[str]:
    if not isinstance(value, list | tuple) or not value:
        raise DomainError("required", field="triggers", message=_("Choose when the rule runs."))
    unknown = [item for item in value if item not in Trigger.values]
    if unknown:
        raise DomainError(
            "invalid_choice",
            field="triggers",
            message=_("%(value)s is not an event a rule can react to."),
            params={"value": str(unknown[0])[:40]},
        )
    return [trigger for trigger in Trigger.values if trigger in value]


def _hours(value: Any) -> Decimal:
    try:
        hours = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise DomainError("invalid", field="hours", message=_("Enter a number of hours.")) from None
    if not hours.is_finite() or hours <= 0 or hours > MAX_HOURS:
        raise DomainError(
            "out_of_range",
            field="hours",
            message=_("Enter between 0 and %(max)s hours."),
            params={"max": MAX_HOURS},
        )
    return hours.quantize(Decimal("0.01"))


def _categories(value: Any) -> list[str]:
    if not isinstance(value, list | tuple) or not value:
        raise DomainError(
            "required", field="status_categories", message=_("Choose at least one status category.")
        )
    if any(item not in CATEGORIES for item in value):
        raise DomainError(
            "invalid_choice", field="status_categories", message=_("Choose status categories.")
        )
    return [category for category in CATEGORIES if category in value]


def _bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise DomainError("invalid", field=field, message=_("Answer yes or no."))
    return value


def _condition(value: Any, line_ids: set[int]) -> compiler.CompiledCondition:
    catalog = condition_catalog.ticket_catalog(business_line_ids=line_ids or None)
    return compiler.compile_condition(value or None, catalog, field="condition")


# --- Saving ---


RULE_FIELDS = (
    "name",
    "description",
    "business_lines",
    "triggers",
    "condition",
    "actions",
    "stop_processing",
    "is_active",
    "position",
)
AUTOMATION_FIELDS = (
    "name",
    "description",
    "business_lines",
    "clock",
    "hours",
    "business_hours",
    "calendar",
    "status_categories",
    "condition",
    "actions",
    "is_active",
    "position",
)


def snapshot(item: Rule | Automation) -> dict[str, Any]:
    data = audit.snapshot(item)
    data["business_lines"] = sorted(line.pk for line in item.business_lines.all())
    for key in ("swept_until", "swept_at", "condition_cel"):
        data.pop(key, None)
    return data


def _apply(
    item: Rule | Automation, values: dict[str, Any], fields: tuple[str, ...]
) -> list[BusinessLine] | None:
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise DomainError(
            "unknown_field", field=unknown[0], message=_("This field cannot be changed.")
        )
    lines = _lines(values["business_lines"]) if "business_lines" in values else None
    line_ids = (
        {line.pk for line in lines}
        if lines is not None
        else {line.pk for line in item.business_lines.all()}
        if item.pk
        else set()
    )
    if "name" in values:
        item.name = _name(values["name"])
    if "description" in values:
        item.description = str(values["description"] or "")[:2000]
    if "is_active" in values:
        item.is_active = _bool(values["is_active"], "is_active")
    if "position" in values:
        if not isinstance(values["position"], int) or values["position"] < 0:
            raise DomainError("invalid", field="position", message=_("Enter a whole number."))
        item.position = values["position"]
    if isinstance(item, Rule):
        if "triggers" in values:
            item.triggers = _triggers(values["triggers"])
        if "stop_processing" in values:
            item.stop_processing = _bool(values["stop_processing"], "stop_processing")
    else:
        _apply_clock(item, values)
    if "condition" in values or lines is not None:
        compiled = _condition(values.get("condition", item.condition), line_ids)
        item.condition, item.condition_cel = compiled.tree, compiled.cel
    if "actions" in values or lines is not None:
        item.actions = action_kinds.clean_actions(
            values.get("actions", item.actions), line_ids=line_ids
        )
    return lines


def _apply_clock(item: Automation, values: dict[str, Any]) -> None:
    from aftersales.sla.models import Calendar

    if "clock" in values:
        if values["clock"] not in Automation.Clock.values:
            raise DomainError(
                "invalid_choice", field="clock", message=_("Choose which time counts.")
            )
        item.clock = values["clock"]
    if "hours" in values:
        item.hours = _hours(values["hours"])
    if "business_hours" in values:
        item.business_hours = _bool(values["business_hours"], "business_hours")
    if "calendar" in values:
        pk = getattr(values["calendar"], "pk", values["calendar"])
        item.calendar = (
            None if pk in (None, "") else Calendar.objects.filter(pk=pk, is_active=True).first()
        )
        if pk not in (None, "") and item.calendar is None:
            raise DomainError(
                "invalid_choice", field="calendar", message=_("Choose an active calendar.")
            )
    if "status_categories" in values:
        item.status_categories = _categories(values["status_categories"])
    for required in ("clock", "hours"):
        if not getattr(item, required):
            raise DomainError("required", field=required, message=_("This field is required."))
    if not item.status_categories:
        raise DomainError(
            "required", field="status_categories", message=_("Choose at least one status category.")
        )


def _save(
    item: Rule | Automation, actor: Any, lines: list[BusinessLine] | None, created: bool
) -> None:
    now = timezone.now()
    item.updated_at = now
    if created:
        item.created_at = now
        item.created_by = actor if getattr(actor, "is_authenticated", False) else None
        if not item.position:
            last = type(item).objects.aggregate(last=Max("position"))["last"]
            item.position = (last or 0) + 10
    item.save()
    if lines is not None:
        item.business_lines.set(lines)
    data = snapshot(item)
    RuleVersion.objects.create(
        **{"rule" if isinstance(item, Rule) else "automation": item},
        version=item.version,
        snapshot=data,
        changed_by=item.created_by
        if created
        else (actor if getattr(actor, "is_authenticated", False) else None),
    )
    engine.bump_generation()
    kind = "rule" if isinstance(item, Rule) else "automation"
    outbox.emit(
        f"{kind}.{'created' if created else 'updated'}",
        item,
        actor=actor,
        payload={"id": item.pk, "version": item.version},
    )


def _create(
    actor: Any,
    item: Rule | Automation,
    values: dict[str, Any],
    fields: tuple[str, ...],
    required: tuple[str, ...],
    codename: str,
) -> Any:
    values = {"condition": None, **dict.fromkeys(required), **values}
    lines = _apply(item, values, fields)
    _require_lines(actor, codename, {line.pk for line in lines or []})
    _save(item, actor, lines or [], created=True)
    audit.record(actor=actor, action=Action.CREATED, obj=item, after=snapshot(item))
    return item


def _update(
    actor: Any,
    item: Rule | Automation,
    values: dict[str, Any],
    fields: tuple[str, ...],
    codename: str,
    expected_version: int | None,
) -> Any:
    item = type(item).objects.select_for_update().get(pk=item.pk)
    _require_lines(actor, codename, {line.pk for line in item.business_lines.all()})
    _check_version(item, expected_version)
    before = snapshot(item)
    lines = _apply(item, values, fields)
    if lines is not None:
        _require_lines(actor, codename, {line.pk for line in lines})
    item.version += 1
    _save(item, actor, lines, created=False)
    _record_change(actor, item, before)
    return item


@transaction.atomic
def create_rule(*, actor: Any, values: dict[str, Any]) -> Rule:
    required = ("name", "triggers", "actions")
    rule = Rule(triggers=[], actions=[])
    return _create(actor, rule, values, RULE_FIELDS, required, ADD_RULE)


@transaction.atomic
def update_rule(
    *, actor: Any, rule: Rule, values: dict[str, Any], expected_version: int | None = None
) -> Rule:
    return _update(actor, rule, values, RULE_FIELDS, CHANGE_RULE, expected_version)


@transaction.atomic
def create_automation(*, actor: Any, values: dict[str, Any]) -> Automation:
    required = ("name", "clock", "hours", "status_categories", "actions")
    automation = Automation(actions=[], status_categories=[])
    return _create(actor, automation, values, AUTOMATION_FIELDS, required, ADD_AUTOMATION)


@transaction.atomic
def update_automation(
    *,
    actor: Any,
    automation: Automation,
    values: dict[str, Any],
    expected_version: int | None = None,
) -> Automation:
    return _update(
        actor, automation, values, AUTOMATION_FIELDS, CHANGE_AUTOMATION, expected_version
    )


@transaction.atomic
def delete(*, actor: Any, item: Rule | Automation) -> None:
    codename = DELETE_RULE if isinstance(item, Rule) else DELETE_AUTOMATION
    _require_lines(actor, codename, {line.pk for line in item.business_lines.all()})
    before = snapshot(item)
    kind = "rule" if isinstance(item, Rule) else "automation"
    audit.record(actor=actor, action=Action.DELETED, obj=item, before=before)
    outbox.emit(f"{kind}.deleted", item, actor=actor, payload={"id": item.pk})
    item.delete()
    engine.bump_generation()


@transaction.atomic
def reorder_rules(*, actor: Any, ordered_ids: list[int]) -> list[Rule]:
    """Put the visible rules in the given order (others keep their places)."""
    rules = {rule.pk: rule for rule in visible(actor, Rule).select_for_update()}
    if set(ordered_ids) != set(rules) or len(ordered_ids) != len(rules):
        raise DomainError("invalid", field="order", message=_("List every rule exactly once."))
    positions = sorted(rule.position for rule in rules.values())
    for pk, position in zip(ordered_ids, positions, strict=True):
        rule = rules[pk]
        _require_lines(actor, CHANGE_RULE, {line.pk for line in rule.business_lines.all()})
        if rule.position != position:
            Rule.objects.filter(pk=pk).update(position=position, updated_at=timezone.now())
    audit.record(
        actor=actor,
        action=Action.UPDATED,
        verb="reordered",
        object_type="automation.rule",
        after={"order": ordered_ids},
    )
    engine.bump_generation()
    return list(Rule.objects.filter(pk__in=ordered_ids))


def _record_change(actor: Any, item: Rule | Automation, before: dict[str, Any]) -> None:
    changed_before, changed_after = audit.diff(before, snapshot(item))
    audit.record(
        actor=actor, action=Action.UPDATED, obj=item, before=changed_before, after=changed_after
    )


def _check_version(item: Rule | Automation, expected: int | None) -> None:
    if expected is not None and item.version != expected:
        raise PreconditionFailed(
            "version_mismatch",
            field="If-Match",
            message=_("Someone changed this since you opened it. Review their change."),
        )


# --- Dry run ---


@dataclass(frozen=True)
class DryRun:
    matched: bool
    leaves: list[Any]
    steps: list[dict[str, Any]]
    applies_to_line: bool
    cel: str


def dry_run(*, actor: Any, item: Rule | Automation, ticket: Any, trigger: str = "") -> DryRun:
    """Which conditions of ``item`` hold for ``ticket`` and what it would do; changes nothing.

    The caller fetched ``ticket`` through the tickets selectors (so it is in the actor's scope).
    """
    line_ids = {line.pk for line in item.business_lines.all()}
    catalog = condition_catalog.ticket_catalog(business_line_ids=line_ids or None)
    default = item.triggers[0] if isinstance(item, Rule) and item.triggers else "time"
    activation = ticket_activation(
        ticket, event=EventFacts(type=trigger or default, actor_kind="agent")
    )
    program = compiler.program_for(item.condition_cel)
    matched = compiler.evaluate(program, activation)
    try:
        leaves = compiler.explain(item.condition, catalog, activation)
    except DomainError:
        # The stored tree names something removed since (an option, a field): it no longer
        # compiles, and its saved program (which still runs) is all there is to show.
        leaves = []
    applies = not line_ids or ticket.business_line_id in line_ids
    steps = action_kinds.plan_all(item.actions, ticket=ticket) if matched and applies else []
    return DryRun(
        matched=matched and applies,
        leaves=leaves,
        steps=steps,
        applies_to_line=applies,
        cel=item.condition_cel,
    )
