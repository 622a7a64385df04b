"""Helpers shared by the app routers: concurrency headers, CSV export, list envelopes."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any, Generic, TypeVar

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from ninja import Schema

from aftersales.core.errors import PreconditionFailed

__all__ = ["PreconditionFailed"]  # re-exported: the API modules import it from here

T = TypeVar("T")


class PageOut(Schema, Generic[T]):
    items: list[T]
    next_cursor: str | None


def etag_of(version: int) -> str:
    return f'W/"{version}"'


def expected_version(request: HttpRequest) -> int | None:
    """The version named by ``If-Match`` (``W/"3"`` or ``"3"``); None when absent."""
    header = request.headers.get("If-Match", "").strip()
    if not header or header == "*":
        return None
    value = header.removeprefix("W/").strip('"')
    if not value.isdigit():
        raise PreconditionFailed(
            "if_match_invalid",
            field="If-Match",
            message=_("If-Match must be an ETag returned by the API."),
        )
    return int(value)


def neutralise_cell(value: Any) -> str:
    """Stop spreadsheet programs from running a cell as a formula (=, +, -, @)."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def csv_response(
    filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> HttpResponse:
    buffer = io.StringIO()
    buffer.write("\ufeff")  # Excel opens UTF-8 Chinese correctly only with a BOM
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow([neutralise_cell(v) for v in row])
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
