"""Use cases of the condition language that people call directly: the catalog they may build
with, and "check this condition" (compile it, and try it on a ticket they can see).

Rules, automations and SLA policies compile their own conditions with
:func:`aftersales.conditions.compiler.compile_condition` when they are saved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aftersales.accounts import authz
from aftersales.conditions.activation import EventFacts, ticket_activation
from aftersales.conditions.catalog import Catalog, ticket_catalog
from aftersales.conditions.compiler import (
    ConditionInvalid,
    LeafResult,
    compile_condition,
    evaluate,
    explain,
)
from aftersales.core.errors import NotFound

TRY_CONDITION = "conditions.try_condition"


@dataclass(frozen=True)
class CheckResult:
    """What a condition compiles to, or why it does not; ``leaves`` when tried on a ticket."""

    cel: str
    is_valid: bool
    tree: dict[str, Any] | None = None
    errors: list[dict[str, str]] = field(default_factory=list)
    leaves: list[LeafResult] | None = None
    matched: bool | None = None


def business_lines_for(actor: Any) -> list[int] | None:
    """The lines whose fields ``actor`` may build conditions with (``None``: all lines)."""
    authz.require_permission(actor, TRY_CONDITION)
    if authz.scope_for(actor, TRY_CONDITION) == authz.Scope.ALL:
        return None
    return authz.business_line_ids(actor)


def catalog_for(actor: Any, *, business_line_id: int | None = None) -> Catalog:
    """The ticket catalog of one line, or of every line the actor works in.

    A line outside the actor's reach is :class:`NotFound`, as if it did not exist.
    """
    lines = business_lines_for(actor)
    if business_line_id is None:
        return ticket_catalog(business_line_ids=lines)
    if lines is not None and business_line_id not in lines:
        raise NotFound("not_found")
    return ticket_catalog(business_line_ids=[business_line_id])


def check_condition(
    *,
    actor: Any,
    tree: Any,
    ticket: Any = None,
    business_line_id: int | None = None,
    event: EventFacts | None = None,
) -> CheckResult:
    """Compile ``tree`` against the catalog of the ticket's line (or ``business_line_id``);
    with a ticket, also say which leaves match it. Nothing is stored.

    ``ticket`` must come from ``tickets_visible_to(actor)`` (with ``requester__tier``).
    """
    line = ticket.business_line_id if ticket is not None else business_line_id
    catalog = catalog_for(actor, business_line_id=line)
    try:
        compiled = compile_condition(tree, catalog)
    except ConditionInvalid as error:
        return CheckResult(cel="", is_valid=False, errors=error.errors())
    if ticket is None:
        return CheckResult(cel=compiled.cel, is_valid=True, tree=compiled.tree)
    activation = ticket_activation(ticket, event=event)
    return CheckResult(
        cel=compiled.cel,
        is_valid=True,
        tree=compiled.tree,
        leaves=explain(compiled.tree, catalog, activation),
        matched=evaluate(compiled.program, activation),
    )
