"""The CEL environments conditions compile in: which variables exist and their types.

Variables are declared with dotted names (``ticket.priority``), so CEL's type checker knows
every one of them: a typo or a comparison of a number with a text fails when the condition is
compiled, not when it runs. A module with its own kind of object registers its own environment
(see ``docs/conditions.md``); the ticket environment is registered here.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from cel_expr_python import cel

T = cel.Type

TICKET = "ticket"

TICKET_VARIABLES: dict[str, Any] = {
    "ticket.id": T.INT,
    "ticket.number": T.STRING,
    "ticket.subject": T.STRING,
    "ticket.description": T.STRING,
    # Subject and description, lower-cased, for word matching.
    "ticket.text": T.STRING,
    # Lower-cased text of every text field by catalog key without "ticket." ("subject",
    # "cf.remark"), so words match whatever the case.
    "ticket.words": T.Map(T.STRING, T.STRING),
    "ticket.priority": T.STRING,
    "ticket.status": T.INT,
    "ticket.status_category": T.STRING,
    "ticket.type": T.INT,
    "ticket.business_line": T.INT,
    "ticket.channel": T.STRING,
    "ticket.team": T.INT,
    "ticket.assignee": T.INT,
    "ticket.requester": T.INT,
    "ticket.organisation": T.INT,
    "ticket.tags": T.List(T.STRING),
    # Custom-field values as stored (JSON); empty values are left out.
    "ticket.cf": T.Map(T.STRING, T.DYN),
    "ticket.created_at": T.TIMESTAMP,
    "ticket.updated_at": T.TIMESTAMP,
    "ticket.due_at": T.TIMESTAMP,
    "ticket.has_due_at": T.BOOL,
    # The latest satisfaction rating (CSAT 1-5, NPS 0-10); 0 and has_satisfaction false unrated.
    "ticket.satisfaction": T.INT,
    "ticket.has_satisfaction": T.BOOL,
    "customer.id": T.INT,
    "customer.tier": T.STRING,
    "customer.tags": T.List(T.STRING),
    "customer.organisation": T.INT,
    "event.type": T.STRING,
    # Catalog key → {"from": value, "to": value}; an empty side is left out.
    "event.changes": T.Map(T.STRING, T.Map(T.STRING, T.DYN)),
    "event.actor_kind": T.STRING,
    "now.time": T.TIMESTAMP,
    "now.hour": T.INT,
    "now.weekday": T.INT,
    "now.in_business_hours": T.BOOL,
}

_ENVIRONMENTS: dict[str, Mapping[str, Any]] = {TICKET: TICKET_VARIABLES}


def register_environment(name: str, variables: Mapping[str, Any]) -> None:
    """Declare the variables of another kind of condition (e.g. a process gateway's)."""
    if name in _ENVIRONMENTS and _ENVIRONMENTS[name] is not variables:
        raise ValueError(f"Condition environment {name!r} is already registered.")
    _ENVIRONMENTS[name] = variables


def variables_of(name: str) -> Mapping[str, Any]:
    return _ENVIRONMENTS[name]


@lru_cache(maxsize=16)
def environment(name: str = TICKET) -> Any:
    """The CEL environment of ``name``; one per process, shared by all its programs."""
    return cel.NewEnv(variables=dict(_ENVIRONMENTS[name]))
