"""Exporting customers to CSV or Excel, with every cell safe from formula injection.

The columns are those of the import (the fixed ones, then one per active custom field), framed
by ``id`` and ``is_active``, so an exported sheet imports back as it is.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Prefetch
from django.utils.translation import gettext_lazy as _

from aftersales.accounts import authz
from aftersales.api.common import neutralise_cell
from aftersales.audit import services as audit
from aftersales.audit.models import AuditEntry
from aftersales.core.errors import DomainError
from aftersales.customers import selectors
from aftersales.customers.importing import (
    COLUMNS,
    Format,
    custom_field_column,
    custom_field_definitions,
)
from aftersales.customers.models import CustomerIdentity
from aftersales.customfields.models import FieldDefinition


def export_header(definitions: Sequence[FieldDefinition]) -> list[str]:
    """``id``, the import's columns with one per custom field, then ``is_active``."""
    return ["id", *COLUMNS, *(custom_field_column(d) for d in definitions), "is_active"]


@dataclass(frozen=True)
class ExportFile:
    filename: str
    content_type: str
    content: bytes


def _custom_cells(values: dict[str, Any], definitions: Sequence[FieldDefinition]) -> list[str]:
    cells = []
    for definition in definitions:
        value = values.get(definition.key)
        empty = value is None or value == "" or value == [] or value == {}
        cells.append("" if empty else definition.handler.value_to_text(value))
    return cells


def _rows(actor: Any, definitions: Sequence[FieldDefinition]) -> list[list[Any]]:
    customers = (
        selectors.customers_visible_to(actor, "customers.export_customer")
        .prefetch_related(Prefetch("identities", queryset=CustomerIdentity.objects.order_by("pk")))
        .order_by("pk")
    )
    rows = []
    for customer in customers.iterator(chunk_size=2000):
        by_kind: dict[str, list[str]] = {}
        for identity in customer.identities.all():
            by_kind.setdefault(identity.kind, []).append(identity.value)
        rows.append(
            [
                customer.pk,
                customer.name,
                customer.organisation.code if customer.organisation else "",
                customer.tier.key,
                ", ".join(by_kind.get("phone", [])),
                ", ".join(by_kind.get("email", [])),
                ", ".join(by_kind.get("wechat_openid", [])),
                ", ".join(customer.tags),
                customer.notes,
                customer.business_line.code,
                *_custom_cells(customer.custom_fields or {}, definitions),
                "1" if customer.is_active else "0",
            ]
        )
    return rows


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    buffer.write("\ufeff")  # Excel opens UTF-8 Chinese correctly only with a BOM
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow([neutralise_cell(v) for v in row])
    return buffer.getvalue().encode("utf-8")


def to_xlsx(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("customers")
    sheet.append(list(header))
    for row in rows:
        # Every cell as neutralised text: a value is never read back as a formula or a number.
        sheet.append([neutralise_cell(v) for v in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@transaction.atomic
def export_customers(*, actor: Any, format: str) -> ExportFile:
    """The customers the actor may export, as a file; the export itself is audited."""
    authz.require_permission(actor, "customers.export_customer")
    if format not in Format.ALL:
        raise DomainError("invalid_format", field="format", message=_("Choose csv or xlsx."))
    definitions = custom_field_definitions()
    columns = export_header(definitions)
    rows = _rows(actor, definitions)
    audit.record(
        actor=actor,
        action=AuditEntry.Action.EXPORTED,
        object_type="customers.customer",
        object_repr=f"customers.{format}",
        after={"rows": len(rows), "format": format},
    )
    if format == Format.CSV:
        return ExportFile("customers.csv", "text/csv; charset=utf-8", to_csv(columns, rows))
    return ExportFile(
        "customers.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        to_xlsx(columns, rows),
    )
