"""Cursor (keyset) pagination: stable under inserts and as fast on page 500 as on page 1.

A cursor is an opaque token holding the sort value and primary key of the last row served.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from aftersales.core.errors import DomainError

M = TypeVar("M", bound=models.Model)


@dataclass(frozen=True)
class Page(Generic[M]):
    items: Sequence[M]
    next_cursor: str | None


def _encode(values: list[Any]) -> str:
    raw = json.dumps(values, default=str, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _invalid_cursor() -> DomainError:
    return DomainError(
        "invalid_cursor",
        field="cursor",
        message=_("The cursor is not valid; start from the first page."),
    )


def _decode(cursor: str) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError):
        raise _invalid_cursor() from None
    if not isinstance(values, list) or len(values) != 2:
        raise _invalid_cursor()
    return values


def _is_whole_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def cursor_for(row: models.Model, order_field: str = "pk") -> str:
    """The cursor that continues after ``row`` in ``order_field`` order (a page that walks
    backwards, such as a list's "previous", starts from its first row's cursor)."""
    value = row.pk if order_field == "pk" else getattr(row, order_field)
    return _encode([value, row.pk])


def paginate(
    queryset: models.QuerySet[M],
    *,
    cursor: str | None,
    limit: int | None,
    order_field: str = "pk",
    descending: bool = False,
) -> Page[M]:
    """One page ordered by ``order_field`` then primary key (both in the same direction)."""
    size = limit or settings.API_PAGE_SIZE
    if size < 1 or size > settings.API_MAX_PAGE_SIZE:
        raise DomainError(
            "invalid_limit",
            field="limit",
            message=_("Enter a page size between 1 and %(max)s."),
            params={"max": settings.API_MAX_PAGE_SIZE},
        )
    sign = "-" if descending else ""
    ordering = (
        [f"{sign}{order_field}"] if order_field == "pk" else [f"{sign}{order_field}", f"{sign}pk"]
    )
    queryset = queryset.order_by(*ordering)
    if cursor:
        last_value, last_pk = _decode(cursor)
        if order_field == "pk" and not _is_whole_number(last_pk):
            # A hand-made cursor must not reach the database as a text or a boolean key.
            raise _invalid_cursor()
        compare = "lt" if descending else "gt"
        if order_field == "pk":
            queryset = queryset.filter(**{f"pk__{compare}": last_pk})
        else:
            # The first condition is implied by the second; it is there because PostgreSQL
            # cannot start an index scan at an OR, only at a range: without it a deep page
            # walks the index from the top and filters every row before the cursor.
            queryset = queryset.filter(
                Q(**{f"{order_field}__{compare}e": last_value}),
                Q(**{f"{order_field}__{compare}": last_value})
                | Q(**{order_field: last_value, f"pk__{compare}": last_pk}),
            )
    rows = list(queryset[: size + 1])
    next_cursor = None
    if len(rows) > size:
        rows = rows[:size]
        next_cursor = cursor_for(rows[-1], order_field)
    return Page(items=rows, next_cursor=next_cursor)
