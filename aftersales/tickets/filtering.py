"""Ticket filters and sorts from an allowlist: one language for the inbox, saved views and API.

A filter set is a mapping of allowlisted keys to values (query-string style: every value may be
a list). :func:`clean_filters` checks it and says which key is wrong; :func:`apply_filters`
narrows a queryset that is already scoped to the viewer (see
:func:`aftersales.tickets.selectors.tickets_visible_to`). Built-in inbox views are filter sets
too (:data:`BUILT_IN_VIEWS`).

Custom fields filter as ``cf.<key>``: on PostgreSQL through JSON containment (served by the GIN
index on ``custom_fields``), on SQLite through ``json_extract``/``json_each``. See
``docs/adr/0003-custom-field-storage.md`` for why values live in one JSON column.

A filter that keeps the rows inside the viewer's scope on its own ("my teams' open tickets" for
a "my teams" grant, "mine" for anyone) drops the scope condition the selector added: see
:func:`aftersales.accounts.authz.drop_restriction` for why that matters on PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import BooleanField, Exists, OuterRef, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from aftersales.accounts import authz
from aftersales.core.errors import DomainError
from aftersales.customfields import registry
from aftersales.customfields.errors import InvalidValue
from aftersales.customfields.models import FieldDefinition
from aftersales.tickets.models import Ticket, TicketFollower, TicketStatus, TicketTag
from aftersales.tickets.permissions import VIEW_TICKET

Category = TicketStatus.Category
UNSOLVED = (Category.NEW, Category.OPEN, Category.PENDING_CUSTOMER, Category.PENDING_INTERNAL)
PENDING = (Category.PENDING_CUSTOMER, Category.PENDING_INTERNAL)
CUSTOM_PREFIX = "cf."
_FIELD_KEY = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
MAX_VALUES = 100

# key → kind of value. "ids" are whole numbers; "me"/"mine"/"none" are words some keys accept.
FILTERS: dict[str, str] = {
    "status_category": "categories",
    "status": "ids",
    "ticket_type": "ids",
    "business_line": "ids",
    "team": "ids_mine_none",
    "assignee": "ids_me_none",
    "requester": "ids",
    "organisation": "ids",
    "priority": "priorities",
    "channel": "channels",
    "tag": "texts",
    "tier": "texts",
    "follower": "me",
    "created_after": "datetime",
    "created_before": "datetime",
    "updated_after": "datetime",
    "updated_before": "datetime",
    "due_before": "datetime",
    "satisfaction": "ratings",
    "q": "text",
}

# sort key → (model field, descending). Each is paired with the primary key for keyset paging.
SORTS: dict[str, tuple[str, bool]] = {
    "-updated_at": ("updated_at", True),
    "updated_at": ("updated_at", False),
    "-created_at": ("created_at", True),
    "created_at": ("created_at", False),
    "-priority": ("priority", True),
    "priority": ("priority", False),
}
DEFAULT_SORT = "-updated_at"
PRIORITY_KEYS = {"low": 1, "normal": 2, "high": 3, "urgent": 4}


@dataclass(frozen=True)
class BuiltInView:
    key: str
    label: str | Promise
    filters: dict[str, list[str]]
    sort: str = DEFAULT_SORT


BUILT_IN_VIEWS: tuple[BuiltInView, ...] = (
    BuiltInView("mine", _("My open tickets"), {"assignee": ["me"], "status_category": [*UNSOLVED]}),
    BuiltInView(
        "unassigned",
        _("My teams' unassigned"),
        {"team": ["mine"], "assignee": ["none"], "status_category": [*UNSOLVED]},
    ),
    BuiltInView(
        "my_teams", _("My teams' open tickets"), {"team": ["mine"], "status_category": [*UNSOLVED]}
    ),
    BuiltInView("pending", _("Pending"), {"status_category": [*PENDING]}),
    BuiltInView("following", _("Following"), {"follower": ["me"], "status_category": [*UNSOLVED]}),
    BuiltInView("recent", _("Recently updated"), {"updated_after": ["-P7D"]}),
    BuiltInView("all", _("All I may see"), {}),
)
BUILT_IN_BY_KEY = {view.key: view for view in BUILT_IN_VIEWS}


class CustomFieldValues(list[str]):
    """The cleaned values of a ``cf.<key>`` filter, and the shapes the field's definitions store
    (a single value, or a list for multiple choice and cascades).

    On PostgreSQL the condition asks only for the stored shapes: with ``jsonb_path_ops`` both
    ``{"model": "x"}`` and ``{"model": ["x"]}`` hash to the same GIN key, so asking for both
    reads every matching row twice, and the planner, expecting almost no list values, misjudges
    the filter.
    """

    def __init__(self, values: Iterable[str], *, lists: bool, scalars: bool) -> None:
        super().__init__(values)
        self.lists = lists
        self.scalars = scalars


def _invalid(key: str, message: str | Promise, **params: object) -> DomainError:
    return DomainError("invalid_filter", field=key, message=message, params=params or None)


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def _ids(key: str, values: list[Any], words: Iterable[str] = ()) -> list[int | str]:
    cleaned: list[int | str] = []
    allowed = set(words)
    for value in values:
        text = str(value).strip()
        if text in allowed:
            cleaned.append(text)
        elif text.isdigit():
            cleaned.append(int(text))
        else:
            if allowed:
                return _raise(
                    key,
                    _("Enter ids or one of: %(words)s."),
                    words=", ".join(sorted(allowed)),
                )
            return _raise(key, _("Enter whole-number ids."))
    return cleaned


def _raise(key: str, message: str | Promise, **params: object) -> Any:
    raise _invalid(key, message, **params)


def _datetime(key: str, value: Any) -> datetime:
    text = str(value).strip()
    relative = re.fullmatch(r"-P(\d{1,4})D", text)
    if relative:
        return timezone.now() - timedelta(days=int(relative.group(1)))
    parsed = parse_datetime(text)
    if parsed is None:
        day = parse_date(text)
        if day is not None:
            parsed = datetime(day.year, day.month, day.day)  # noqa: DTZ001 (made aware below)
    if parsed is None:
        return _raise(key, _("Enter a date (2026-11-24), a date-time, or -P7D for 7 days ago."))
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


def clean_filters(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Checked filters: unknown keys, malformed values and unknown custom fields are refused
    with the key named, so a saved view or an API query never means something unintended."""
    cleaned: dict[str, Any] = {}
    for key, raw_value in raw.items():
        values = [v for v in _as_list(raw_value) if v is not None and str(v).strip() != ""]
        if not values:
            continue
        if len(values) > MAX_VALUES:
            _raise(key, _("Enter at most %(count)s values."), count=MAX_VALUES)
        if key.startswith(CUSTOM_PREFIX):
            field_key = key.removeprefix(CUSTOM_PREFIX)
            field_types = (
                set(
                    FieldDefinition.objects.filter(
                        target="tickets.ticket", key=field_key
                    ).values_list("field_type", flat=True)
                )
                if _FIELD_KEY.fullmatch(field_key)
                else set()
            )
            if not field_types:
                _raise(key, _("There is no such ticket field."))
            # Several ticket types may each define the key, not necessarily with one type.
            shapes = {_stores_list(field_type) for field_type in field_types}
            cleaned[key] = CustomFieldValues(
                [str(v) for v in values],
                lists=True in shapes or None in shapes,
                scalars=False in shapes or None in shapes,
            )
            continue
        kind = FILTERS.get(key)
        if kind is None:
            _raise(key, _("Tickets cannot be filtered by this."))
        cleaned[key] = _clean_value(key, kind, values)
    return cleaned


def _stores_list(field_type: str) -> bool | None:
    """Whether values of this field type are lists; None for a type no longer registered."""
    try:
        return registry.get(field_type).is_multiple
    except InvalidValue:
        return None


def _clean_value(key: str, kind: str | None, values: list[Any]) -> Any:
    if kind == "ids":
        return _ids(key, values)
    if kind == "ids_mine_none":
        return _ids(key, values, ("mine", "none"))
    if kind == "ids_me_none":
        return _ids(key, values, ("me", "none"))
    if kind == "me":
        if [str(v) for v in values] != ["me"]:
            _raise(key, _("The only value here is: me."))
        return ["me"]
    if kind == "categories":
        if not set(map(str, values)) <= set(Category.values):
            _raise(
                key, _("Enter status categories: %(values)s."), values=", ".join(Category.values)
            )
        return [str(v) for v in values]
    if kind == "priorities":
        result = []
        for value in values:
            text = str(value).strip()
            if text in PRIORITY_KEYS:
                result.append(PRIORITY_KEYS[text])
            elif text.isdigit() and int(text) in PRIORITY_KEYS.values():
                result.append(int(text))
            else:
                _raise(key, _("Choose one of: low, normal, high, urgent."))
        return result
    if kind == "channels":
        if not set(map(str, values)) <= set(Ticket.Channel.values):
            _raise(key, _("Choose known channels."))
        return [str(v) for v in values]
    if kind == "ratings":
        ratings = [str(v).strip() for v in values]
        if not all(r.isdigit() and 0 <= int(r) <= 10 for r in ratings):
            _raise(key, _("Enter ratings from 0 to 10."))
        return [int(r) for r in ratings]
    if kind == "texts":
        return [str(v).strip()[:100] for v in values]
    if kind == "text":
        return str(values[0]).strip()[:200]
    return _datetime(key, values[0])


def clean_sort(value: Any) -> str:
    sort = str(value or DEFAULT_SORT)
    if sort not in SORTS:
        raise _invalid("sort", _("Sort by one of: %(values)s."), values=", ".join(SORTS))
    return sort


def _people_condition(field: str, values: list[int | str], viewer: Any) -> Q:
    condition = Q(pk__in=[])
    ids = [v for v in values if isinstance(v, int)]
    if ids:
        condition |= Q(**{f"{field}_id__in": ids})
    if "me" in values or "mine" in values:
        if field == "team":
            condition |= Q(team_id__in=authz.team_ids(viewer))
        else:
            condition |= Q(**{f"{field}_id": viewer.pk})
    if "none" in values:
        condition |= Q(**{f"{field}__isnull": True})
    return condition


def _custom_field_condition(key: str, values: list[str]) -> Q:
    """Tickets whose custom field ``key`` equals one of ``values`` (or, for list values such as
    multiple choice and cascade, contains one of them)."""
    condition = Q(pk__in=[])
    if connection.vendor == "postgresql":
        # Values cleaned by clean_filters know the stored shape; others may be either.
        lists = getattr(values, "lists", True)
        scalars = getattr(values, "scalars", True)
        for value in values:
            typed: Any = int(value) if value.isdigit() else value
            for candidate in (typed, value) if typed != value else (value,):
                if scalars:
                    condition |= Q(custom_fields__contains={key: candidate})
                if lists:
                    condition |= Q(custom_fields__contains={key: [candidate]})
        return condition
    path = f'$."{key}"'
    placeholders = ", ".join(["%s"] * len(values))
    sql = (
        f"(json_extract(tickets_ticket.custom_fields, %s) IN ({placeholders})"  # noqa: S608
        f" OR EXISTS (SELECT 1 FROM json_each(tickets_ticket.custom_fields, %s)"
        f" WHERE json_each.value IN ({placeholders})))"
    )
    typed_values = [int(v) if v.isdigit() else v for v in values]
    params = [path, *typed_values, path, *typed_values]
    # Every value and the JSON path travel as parameters; the SQL text is constant.
    return Q(RawSQL(sql, params, output_field=BooleanField()))  # noqa: S611


def _within_scope(filters: Mapping[str, Any], viewer: Any) -> bool:
    """Whether ``filters`` alone keep every row inside the viewer's scope for viewing tickets
    (the scope rule: assignee or creator, else the team, else the business line)."""
    if viewer is None or not viewer.is_authenticated:
        return False
    scope = authz.scope_for(viewer, VIEW_TICKET)
    if scope is None or scope == authz.Scope.ALL:
        return False  # nothing to drop
    rank = authz.SCOPE_RANK[scope]
    assignees = filters.get("assignee") or []
    if assignees and all(value in ("me", viewer.pk) for value in assignees):
        return True
    teams = filters.get("team") or []
    if teams and rank >= authz.SCOPE_RANK[authz.Scope.TEAMS]:
        own_teams = set(authz.team_ids(viewer))
        if all(value == "mine" or value in own_teams for value in teams):
            return True
    lines = filters.get("business_line") or []
    return bool(
        lines
        and rank >= authz.SCOPE_RANK[authz.Scope.BUSINESS_LINES]
        and set(lines) <= set(authz.business_line_ids(viewer))
    )


def apply_filters(
    queryset: QuerySet[Ticket], filters: Mapping[str, Any], viewer: Any
) -> QuerySet[Ticket]:
    """Narrow an already scoped queryset by cleaned filters."""
    if _within_scope(filters, viewer):
        queryset = authz.drop_restriction(queryset, viewer, VIEW_TICKET)
    for key, value in filters.items():
        if key.startswith(CUSTOM_PREFIX):
            queryset = queryset.filter(
                _custom_field_condition(key.removeprefix(CUSTOM_PREFIX), value)
            )
        elif key in {"team", "assignee"}:
            queryset = queryset.filter(_people_condition(key, value, viewer))
        elif key in {"status", "ticket_type", "business_line", "requester", "organisation"}:
            queryset = queryset.filter(**{f"{key}_id__in": value})
        elif key == "status_category":
            queryset = queryset.filter(status_category__in=value)
        elif key in {"priority", "channel", "satisfaction"}:
            queryset = queryset.filter(**{f"{key}__in": value})
        elif key == "tag":
            for tag in value:
                queryset = queryset.filter(
                    Exists(TicketTag.objects.filter(ticket=OuterRef("pk"), name=tag))
                )
        elif key == "tier":
            queryset = queryset.filter(requester__tier__key__in=value)
        elif key == "follower":
            queryset = queryset.filter(
                Exists(TicketFollower.objects.filter(ticket=OuterRef("pk"), user=viewer))
            )
        elif key in {"created_after", "updated_after"}:
            queryset = queryset.filter(**{f"{key.removesuffix('_after')}_at__gte": value})
        elif key in {"created_before", "updated_before"}:
            queryset = queryset.filter(**{f"{key.removesuffix('_before')}_at__lt": value})
        elif key == "due_before":
            queryset = queryset.filter(due_at__lt=value)
        elif key == "q":
            queryset = queryset.filter(Q(number__iexact=value) | Q(subject__icontains=value))
    return queryset


def capped_count(queryset: QuerySet[Ticket], cap: int = 1000) -> tuple[int, bool]:
    """How many rows, counting at most ``cap`` + 1 (so a big view costs a bounded query);
    the flag says the real number is larger."""
    count = queryset.order_by()[: cap + 1].count()
    return min(count, cap), count > cap
