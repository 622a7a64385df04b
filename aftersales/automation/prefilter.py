"""A database filter implied by a condition tree, so a sweep over many tickets reads only
those that could match.

The filter is never the condition itself: it is a *superset* of the tickets for which the CEL
program holds, built from the leaves that map onto plain columns ("priority is urgent",
"type is any of …", "customer tier is VIP", "region is East China"). The program still decides
every ticket the filter lets through. Leaves that do not translate (text words, changes, the
time of day, cascades, emptiness…) simply add nothing, and a group of "any" translates only
when every part of it does, so the filter can only ever let more tickets through.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import Q

from aftersales.conditions.catalog import Catalog

# Catalog key → ORM lookup of a ticket column whose value the condition compares as stored.
COLUMNS = {
    "ticket.status": "status_id",
    "ticket.status_category": "status_category",
    "ticket.type": "ticket_type_id",
    "ticket.business_line": "business_line_id",
    "ticket.channel": "channel",
    "ticket.team": "team_id",
    "ticket.assignee": "assignee_id",
    "ticket.requester": "requester_id",
    "ticket.organisation": "organisation_id",
    "customer.tier": "requester__tier__key",
}
CUSTOM_PREFIX = "ticket.cf."
POSITIVE = ("is", "in")


def _values(leaf: dict[str, Any]) -> list[Any] | None:
    value = leaf.get("value")
    if leaf.get("op") == "is":
        return [value]
    return list(value) if isinstance(value, list) and value else None


def _column_leaf(key: str, values: list[Any]) -> Q | None:
    if key == "ticket.priority":
        from aftersales.tickets.services.tickets import PRIORITY_BY_KEY

        numbers = [PRIORITY_BY_KEY[v] for v in values if v in PRIORITY_BY_KEY]
        return Q(priority__in=numbers) if len(numbers) == len(values) else None
    column = COLUMNS.get(key)
    if column is None:
        return None
    if column.endswith("_id") and any(v in (0, None) for v in values):
        return None  # "no team" is 0 to the condition and NULL in the table
    return Q(**{f"{column}__in": values})


def _custom_leaf(key: str, values: list[Any], catalog: Catalog | None) -> Q | None:
    from aftersales.conditions import operators as ops

    field = catalog.get(key) if catalog is not None else None
    if field is None or field.value_type != ops.CHOICE:
        return None
    name = key.removeprefix(CUSTOM_PREFIX)
    if not all(isinstance(v, str) for v in values):
        return None
    if connection.vendor == "postgresql":
        # Containment uses the GIN index on custom_fields.
        query = Q()
        for value in values:
            query |= Q(custom_fields__contains={name: value})
        return query
    return Q(**{f"custom_fields__{name}__in": values})


def _leaf(leaf: dict[str, Any], catalog: Catalog | None) -> Q | None:
    if leaf.get("op") not in POSITIVE:
        return None
    values = _values(leaf)
    key = str(leaf.get("field", ""))
    if values is None:
        return None
    if key.startswith(CUSTOM_PREFIX):
        return _custom_leaf(key, values, catalog)
    return _column_leaf(key, values)


def prefilter(tree: dict[str, Any] | None, catalog: Catalog | None) -> Q | None:
    """The filter implied by ``tree``; None when nothing in it translates."""
    if not tree:
        return None
    if "field" in tree:
        return _leaf(tree, catalog)
    if "all" in tree:
        parts: list[Q] = [
            q for q in (prefilter(part, catalog) for part in tree["all"]) if q is not None
        ]
        query = Q()
        for part in parts:
            query &= part
        return query if parts else None
    if "any" in tree:
        alternatives = [prefilter(part, catalog) for part in tree["any"]]
        query = Q()
        for alternative in alternatives:
            if alternative is None:
                return None  # one part could hold for any ticket: no narrowing
            query |= alternative
        return query if alternatives else None
    return None
