"""Running rules on ticket events.

Every ticket event reaches :func:`on_ticket_event` (an eager outbox subscriber: it runs right
after the change commits, in the same process, and a worker retries it if that fails). The
rules whose triggers match the event and whose lines include the ticket's are evaluated in
order on one activation of the ticket; each that matches does its actions.

Loops cannot happen. Every event belongs to a *chain*: a person's change starts one, and the
events that a rule's actions raise carry the chain on (``outbox.caused_by``) one level deeper.
A rule fires at most once per ticket per chain (the execution log is the record), and a chain
stops at ``AUTOMATION_MAX_DEPTH`` levels with a line in the log saying so.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from aftersales.automation import actions as action_kinds
from aftersales.automation.models import Execution, Rule, RuleSet, Trigger
from aftersales.conditions import compiler
from aftersales.conditions.activation import EventFacts, ticket_activation
from aftersales.outbox import services as outbox
from aftersales.outbox.models import OutboxEvent

logger = logging.getLogger(__name__)

TOPICS = (
    "ticket.created",
    "ticket.updated",
    "ticket.status_changed",
    "ticket.assigned",
    "ticket.commented",
    "sla.warning",
    "sla.breached",
    "survey.answered",
)

_DIRECT = {
    "ticket.created": Trigger.CREATED,
    "ticket.updated": Trigger.UPDATED,
    "ticket.status_changed": Trigger.STATUS_CHANGED,
    "ticket.assigned": Trigger.ASSIGNED,
    "sla.warning": Trigger.SLA_WARNING,
    "sla.breached": Trigger.SLA_BREACHED,
    "survey.answered": Trigger.SURVEY_ANSWERED,
}


def max_depth() -> int:
    return int(getattr(settings, "AUTOMATION_MAX_DEPTH", 5))


def triggers_of(event: OutboxEvent) -> tuple[str, ...]:
    """The rule triggers an event stands for. A reply is also an update of the ticket."""
    if event.topic == "ticket.commented":
        payload = event.payload
        if payload.get("from_customer"):
            return (Trigger.CUSTOMER_REPLIED, Trigger.UPDATED)
        if payload.get("is_public"):
            return (Trigger.AGENT_REPLIED, Trigger.UPDATED)
        return (Trigger.UPDATED,)
    trigger = _DIRECT.get(event.topic)
    return (trigger,) if trigger else ()


def chain_of(event: OutboxEvent) -> tuple[str, int]:
    """(chain id, depth). The events of one person's change share a chain: a rule listening to
    both "updated" and "status changed" still fires once for it."""
    cause = event.cause or {}
    if cause.get("chain"):
        return str(cause["chain"]), int(cause.get("depth", 1))
    payload = event.payload
    if "comment_id" in payload:
        return f"t{payload.get('ticket_id')}.c{payload['comment_id']}", 0
    if "version" in payload:
        return f"t{payload.get('ticket_id')}.v{payload['version']}", 0
    return f"e{event.pk}", 0


# --- Compiled rules, kept per process until any rule changes ------------------------------------


@dataclass(frozen=True)
class LoadedRule:
    pk: int
    name: str
    version: int
    triggers: frozenset[str]
    line_ids: frozenset[int]
    program: Any
    actions: tuple[dict[str, Any], ...]
    stop_processing: bool

    def applies_to(self, trigger: Iterable[str], line_id: int | None) -> bool:
        if self.line_ids and line_id not in self.line_ids:
            return False
        return not self.triggers.isdisjoint(trigger)


_lock = threading.Lock()
_loaded: dict[str, Any] = {"generation": None, "rules": (), "checked_at": None}


# How long a process trusts the generation it read: a rule saved in another process takes
# effect there within this many seconds (in the saving process, at once).
GENERATION_TTL = 1.0


def generation() -> int:
    now = time.monotonic()
    if _loaded["checked_at"] is not None and now - _loaded["checked_at"] < GENERATION_TTL:
        return int(_loaded["generation"] or 0)
    value = RuleSet.objects.filter(pk=1).values_list("generation", flat=True).first()
    _loaded["checked_at"] = now
    return int(value or 0)


def forget_rules() -> None:
    """Drop the compiled rules of this process (after a change made here, and in tests)."""
    with _lock:
        _loaded.update(generation=None, rules=(), checked_at=None)


def active_rules() -> tuple[LoadedRule, ...]:
    """The active rules in order, compiled; re-read only when the rule set's generation moved."""
    current = generation()
    if _loaded["generation"] == current and _loaded["checked_at"] is not None:
        return _loaded["rules"]
    rules = tuple(
        LoadedRule(
            pk=rule.pk,
            name=rule.name,
            version=rule.version,
            triggers=frozenset(rule.triggers),
            line_ids=frozenset(line.pk for line in rule.business_lines.all()),
            program=compiler.program_for(rule.condition_cel),
            actions=tuple(rule.actions),
            stop_processing=rule.stop_processing,
        )
        for rule in Rule.objects.filter(is_active=True).prefetch_related("business_lines")
    )
    with _lock:
        _loaded["generation"] = current
        _loaded["rules"] = rules
    return rules


# --- Running ------------------------------------------------------------------------------------


def _changes(payload: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The event's changes under the condition catalog's keys, as raw values (ids, keys)."""
    from aftersales.tickets.services.tickets import PRIORITY_KEYS

    def raw(name: str, value: Any) -> Any:
        if isinstance(value, dict) and "id" in value:
            return value["id"]
        if name == "priority" and isinstance(value, int):
            return PRIORITY_KEYS.get(value, "")
        return value

    changes: dict[str, Any] = payload.get("changes") or {}
    result: dict[str, tuple[Any, Any]] = {}
    for name, pair in changes.items():
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            continue
        if name.startswith("custom_fields."):
            key = "ticket.cf." + name.removeprefix("custom_fields.")
        else:
            key = "ticket." + CHANGE_KEYS.get(name, name)
        result[key] = (raw(name, pair[0]), raw(name, pair[1]))
    return result


CHANGE_KEYS = {"ticket_type": "type"}


def actor_kind(event: OutboxEvent) -> str:
    if event.cause:
        return "system"
    if event.payload.get("from_customer"):
        return "customer"
    return "agent" if event.actor_id else "system"


def on_ticket_event(event: OutboxEvent) -> None:
    """The outbox subscriber: run the matching rules for one ticket event."""
    trigger = triggers_of(event)
    ticket_id = event.payload.get("ticket_id")
    if not trigger or ticket_id is None:
        return
    line_id = event.payload.get("business_line_id")
    candidates = [r for r in active_rules() if r.applies_to(trigger, line_id)]
    if not candidates:
        return
    from aftersales.tickets.models import Ticket

    try:
        ticket = Ticket.objects.select_related("requester__tier").get(pk=ticket_id)
    except Ticket.DoesNotExist:
        return
    if ticket.merged_into_id is not None:
        return
    run_rules(ticket, candidates, event=event, trigger=trigger)


def run_rules(
    ticket: Any, rules: list[LoadedRule], *, event: OutboxEvent, trigger: tuple[str, ...]
) -> list[Execution]:
    """Evaluate ``rules`` (in order) on one activation of the ticket; act for those that match
    and have not fired in this chain yet. Returns the log lines written."""
    facts = EventFacts(
        type=trigger[0], changes=_changes(event.payload), actor_kind=actor_kind(event)
    )
    activation = ticket_activation(ticket, event=facts)
    matches = [rule for rule in rules if compiler.evaluate(rule.program, activation)]
    if not matches:
        return []  # the common case costs no more queries
    chain, depth = chain_of(event)
    fired = set(
        Execution.objects.filter(ticket=ticket, chain=chain).values_list("rule_id", flat=True)
    )
    log: list[Execution] = []
    for rule in matches:
        if rule.pk in fired:
            continue
        fired.add(rule.pk)
        entry = Execution(
            ticket=ticket,
            rule_id=rule.pk,
            name=rule.name,
            version=rule.version,
            trigger=trigger[0],
            event_id=event.pk,
            chain=chain,
            depth=depth,
        )
        log.append(entry)
        if depth >= max_depth():
            logger.warning(
                "Rule %s not run on ticket %s: chain %s is too deep", rule.pk, ticket.pk, chain
            )
            entry.outcome, entry.steps = Execution.Outcome.DEPTH_LIMIT, []
            continue
        with outbox.caused_by({"chain": chain, "depth": depth + 1, "rule": rule.pk}):
            entry.steps = action_kinds.apply_all(rule.actions, ticket=ticket, source=rule.name)
        entry.outcome = _outcome(entry.steps)
        if rule.stop_processing:
            break
    return Execution.objects.bulk_create(log)


def _outcome(steps: list[dict[str, Any]]) -> str:
    failed = sum(1 for step in steps if not step["ok"])
    if not failed:
        return Execution.Outcome.APPLIED
    return Execution.Outcome.FAILED if failed == len(steps) else Execution.Outcome.PARTIAL


def bump_generation() -> None:
    """Tell every process to reload its rules (called in the transaction that changed one).

    The generation is a fresh random number rather than a counter: a rolled-back change (or a
    restored backup) can then never bring back a number some process cached other rules under.
    """
    token = secrets.randbits(62)
    if not RuleSet.objects.filter(pk=1).update(generation=token):
        RuleSet.objects.create(pk=1, generation=token)
    forget_rules()
