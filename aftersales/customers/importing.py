"""Importing customers from a CSV or Excel sheet: every row checked, then all or nothing.

Rows are numbered as the spreadsheet shows them: the header is row 1, the first customer is
row 2. Besides the fixed columns (``COLUMNS``) a sheet may carry one column per active customer
custom field, named by the field's key or one of its labels; its cells are read with the field
type's ``value_from_text`` and checked by the form engine like any other customer's values.
A column that is neither is refused before any row is read, so no value is silently dropped.
Validation reads the reference data (business lines, organisations, tiers, identities already
taken) once per import, so 10,000 rows cost a handful of queries, and the insert is a few bulk
statements in one transaction.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from django.db import IntegrityError, transaction
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from aftersales.accounts import authz
from aftersales.accounts.models import BusinessLine
from aftersales.audit import services as audit
from aftersales.audit.models import AuditEntry
from aftersales.core.errors import DomainError
from aftersales.customers import identities as identity_rules
from aftersales.customers import selectors, services
from aftersales.customers.models import Customer, CustomerIdentity, CustomerTier, Organisation
from aftersales.customfields import services as customfields
from aftersales.customfields.errors import FieldErrors, field_path
from aftersales.customfields.models import FieldDefinition
from aftersales.customfields.registry import ConfigError
from aftersales.outbox import services as outbox

COLUMNS = (
    "name",
    "organisation_code",
    "tier_key",
    "phone",
    "email",
    "wechat_openid",
    "tags",
    "notes",
    "business_line_code",
)
REQUIRED_COLUMNS = ("name", "business_line_code")
IDENTITY_COLUMNS = ("phone", "email", "wechat_openid")
_ALIASES = {
    "organisation": "organisation_code",
    "organization_code": "organisation_code",
    "organization": "organisation_code",
    "tier": "tier_key",
    "business_line": "business_line_code",
}
# Written by the export for reference and ignored on import: the id is assigned, and imported
# customers are always active.
EXPORT_ONLY_COLUMNS = ("id", "is_active")
# Names a custom field's column unambiguously, even when its key is also a fixed column's name.
CUSTOM_FIELD_PREFIX = field_path("")
MAX_ROWS = 50_000
_LOOKUP_CHUNK = 500
_NEUTRALISED = ("=", "+", "-", "@")
_BATCH = 1000


class Format:
    CSV = "csv"
    XLSX = "xlsx"
    ALL = (CSV, XLSX)


@dataclass(frozen=True)
class RowError:
    """One problem: ``field`` is the canonical column (``phone``, ``custom_fields.<key>``),
    ``column`` the header as the sheet writes it, when the problem lies in a column."""

    row: int
    field: str
    code: str
    message: str
    column: str = ""


@dataclass
class ImportReport:
    """What an import did: ``created`` customers, or the ``errors`` that stopped it."""

    created: int = 0
    rows: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def is_success(self) -> bool:
        return not self.errors


def _column_name(header: Any) -> str:
    name = str(header or "").strip().lower().replace(" ", "_").replace("-", "_")
    return _ALIASES.get(name, name)


def custom_field_definitions() -> list[FieldDefinition]:
    """The active customer custom fields, in form order: the extra columns of a sheet."""
    return customfields.definitions_for(services.CUSTOMER_TARGET)


def custom_field_column(definition: FieldDefinition) -> str:
    """The header the export writes for a custom field: its key, unless a fixed column
    already answers to that name."""
    if _column_name(definition.key) in (*COLUMNS, *_ALIASES, *EXPORT_ONLY_COLUMNS):
        return f"{CUSTOM_FIELD_PREFIX}{definition.key}"
    return definition.key


@dataclass(frozen=True)
class CustomColumn:
    """How to fill one custom field's column, for the help of the import page."""

    column: str
    label: str
    type_label: str
    is_required: bool
    help: str


def custom_columns() -> list[CustomColumn]:
    """The custom-field columns a sheet may carry, described in the active language."""
    language = translation.get_language() or "en"
    columns = []
    for definition in custom_field_definitions():
        handler = definition.handler
        try:
            help_text = handler.text_help(definition.parsed_config)
        except ConfigError:
            # The engine refuses this field's values until it is fixed; the page still renders.
            help_text = ""
        columns.append(
            CustomColumn(
                column=custom_field_column(definition),
                label=definition.label(language),
                type_label=str(handler.label),
                is_required=definition.is_required,
                help=help_text,
            )
        )
    return columns


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        # Excel stores a phone number typed as a number as 13812345678.0.
        return str(int(value))
    if isinstance(value, dt.datetime):
        # A date cell comes back as a datetime at midnight; a date-time cell keeps its time.
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).strip()
    if text[:1] == "'" and text[1:2] in _NEUTRALISED:
        # Our own export quotes cells that a spreadsheet would compute; take the quote off.
        return text[1:]
    return text


def _read_csv(file: IO[bytes]) -> Iterator[list[str]]:
    raw = file.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DomainError(
            "invalid_encoding",
            field="file",
            message=_("Save the CSV file as UTF-8 and upload it again."),
        ) from None
    yield from csv.reader(io.StringIO(text, newline=""))


def _read_xlsx(file: IO[bytes]) -> Iterator[list[str]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(file.read()), read_only=True, data_only=True)
    except Exception:
        raise DomainError(
            "invalid_file",
            field="file",
            message=_("The file is not an Excel workbook (.xlsx)."),
        ) from None
    try:
        sheet = workbook.worksheets[0]
        for values in sheet.iter_rows(values_only=True):
            yield [_cell(v) for v in values]
    finally:
        workbook.close()


def read_rows(file: IO[bytes], file_format: str) -> tuple[list[str], list[list[str]]]:
    """The header (as written) and the data rows, as text."""
    if file_format not in Format.ALL:
        raise DomainError("invalid_format", field="format", message=_("Choose csv or xlsx."))
    reader = _read_csv(file) if file_format == Format.CSV else _read_xlsx(file)
    header: list[str] | None = None
    rows: list[list[str]] = []
    for values in reader:
        if header is None:
            header = [_cell(v) for v in values]
            continue
        rows.append([_cell(v) for v in values])
        if len(rows) > MAX_ROWS:
            raise DomainError(
                "too_many_rows",
                field="file",
                message=_("Import at most %(count)s rows at a time."),
                params={"count": MAX_ROWS},
            )
    if header is None:
        raise DomainError("empty_file", field="file", message=_("The file is empty."))
    return header, rows


@dataclass
class _Row:
    number: int
    name: str
    line: BusinessLine
    organisation: Organisation | None
    tier: CustomerTier
    tags: list[str]
    notes: str
    identities: list[tuple[str, str]]
    custom_fields: dict[str, Any]


@dataclass
class _Layout:
    """Where each known column sits in the sheet, and how the sheet writes its header."""

    headers: list[str]
    fixed: dict[str, int] = field(default_factory=dict)  # canonical column → index
    custom: dict[str, int] = field(default_factory=dict)  # custom-field key → index

    def written(self, name: str) -> str:
        """The header as written for a canonical column or ``custom_fields.<key>``."""
        index = self.fixed.get(name)
        if index is None:
            index = self.custom.get(name.removeprefix(CUSTOM_FIELD_PREFIX))
        return self.headers[index].strip() if index is not None else ""


def _letter(index: int) -> str:
    """The spreadsheet letter of a 0-based column: 0 → A, 26 → AA."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


def _label_name(text: str) -> str:
    return " ".join(text.split()).casefold()


def _layout(
    header: list[str], rows: list[list[str]], definitions: list[FieldDefinition]
) -> tuple[_Layout, list[RowError]]:
    """Read the header: each column is a fixed column, a custom field (by key, ``custom_fields.
    <key>``, or its Chinese or English label), or an export-only column. Anything else is an
    error, so a misspelt header cannot drop a column's values without a word."""
    layout = _Layout(headers=header)
    keys = {d.key for d in definitions}
    by_label: dict[str, list[str]] = {}
    for definition in definitions:
        for label in {_label_name(definition.label_zh), _label_name(definition.label_en)} - {""}:
            by_label.setdefault(label, []).append(definition.key)
    errors: list[RowError] = []
    claimed: dict[str, str] = {}
    for index, written in enumerate(header):
        text = written.strip()
        if not text:
            if any(index < len(row) and row[index].strip() for row in rows):
                letter = _letter(index)
                message = _("Column %(column)s has values but no name in row 1.")
                errors.append(
                    RowError(1, letter, "unnamed_column", str(message % {"column": letter}))
                )
            continue
        name = _column_name(text)
        label = _label_name(text)
        if name in COLUMNS:
            target = name
        elif name in EXPORT_ONLY_COLUMNS:
            continue
        elif name.removeprefix(CUSTOM_FIELD_PREFIX) in keys:
            target = field_path(name.removeprefix(CUSTOM_FIELD_PREFIX))
        elif len(by_label.get(label, ())) == 1:
            target = field_path(by_label[label][0])
        elif label in by_label:
            message = _(
                "“%(column)s” is the label of several custom fields (%(keys)s): name the column "
                "by the key of the one you mean."
            )
            params = {"column": text, "keys": ", ".join(by_label[label])}
            errors.append(RowError(1, text, "ambiguous_column", str(message % params), text))
            continue
        else:
            message = _(
                "Unknown column “%(column)s”: it is neither a customer column nor an active "
                "custom field of customers."
            )
            errors.append(
                RowError(1, text, "unknown_column", str(message % {"column": text}), text)
            )
            continue
        if target in claimed:
            message = _("“%(column)s” is read as the same field as the column “%(other)s”.")
            params = {"column": text, "other": claimed[target]}
            errors.append(RowError(1, target, "duplicate_column", str(message % params), text))
            continue
        claimed[target] = text
        if target in COLUMNS:
            layout.fixed[target] = index
        else:
            layout.custom[target.removeprefix(CUSTOM_FIELD_PREFIX)] = index
    missing = [
        RowError(1, c, "missing_column", str(_("The sheet has no column with this name.")))
        for c in REQUIRED_COLUMNS
        if c not in layout.fixed
    ]
    language = translation.get_language() or "en"
    for definition in definitions:
        # A required field with a default or a condition need not be in every sheet.
        if (
            definition.is_required
            and definition.key not in layout.custom
            and definition.default in (None, "", [], {})
            and not definition.visible_when
        ):
            message = _("The sheet has no column for the required custom field “%(label)s”.")
            missing.append(
                RowError(
                    1,
                    field_path(definition.key),
                    "missing_column",
                    str(message % {"label": definition.label(language)}),
                )
            )
    return layout, missing + errors


def _existing_identities(wanted: dict[str, set[str]]) -> dict[tuple[str, str], int]:
    """(kind, value) → holder id, for the wanted values already held by active customers."""
    found: dict[tuple[str, str], int] = {}
    for kind, values in wanted.items():
        ordered = sorted(values)
        for start in range(0, len(ordered), _LOOKUP_CHUNK):
            chunk = ordered[start : start + _LOOKUP_CHUNK]
            for value, customer_id in CustomerIdentity.objects.filter(
                kind=kind, value__in=chunk, is_active=True
            ).values_list("value", "customer_id"):
                found[(kind, value)] = customer_id
    return found


def _validate(
    actor: Any, header: list[str], rows: list[list[str]]
) -> tuple[list[_Row], list[RowError]]:
    # Read once for every row; inactive ones too, as the engine wants them all.
    every_definition = customfields.definitions_for(services.CUSTOMER_TARGET, include_inactive=True)
    definitions = [d for d in every_definition if d.is_active]
    layout, header_errors = _layout(header, rows, definitions)
    if header_errors:
        return [], header_errors
    errors: list[RowError] = []
    position = layout.fixed
    handlers = {d.key: d.handler for d in definitions}

    lines = {line.code: line for line in BusinessLine.objects.filter(is_active=True)}
    organisations = {
        o.code: o for o in selectors.organisations_visible_to(actor).filter(is_active=True)
    }
    tiers = {t.key: t for t in CustomerTier.objects.all()}
    fallback_tier = CustomerTier.objects.filter(is_default=True).first()

    def value(row: list[str], column: str) -> str:
        index = position.get(column)
        return row[index].strip() if index is not None and index < len(row) else ""

    def fail(number: int, column: str, error: DomainError | str, code: str = "") -> None:
        written = layout.written(column)
        if isinstance(error, DomainError):
            errors.append(RowError(number, column, error.code, error.detail(), written))
        else:
            errors.append(RowError(number, column, code, error, written))

    parsed: list[_Row] = []
    seen: dict[tuple[str, str], int] = {}
    wanted: dict[str, set[str]] = {}
    line_reach: dict[int, bool] = {}
    for offset, row in enumerate(rows):
        number = offset + 2
        if not any(cell.strip() for cell in row):
            continue
        row_errors = len(errors)
        name = value(row, "name")
        if not name:
            fail(number, "name", str(_("This field is required.")), "required")
        elif len(name) > 200:
            fail(number, "name", str(_("Enter at most 200 characters.")), "too_long")
        line_code = value(row, "business_line_code")
        line = lines.get(line_code)
        if not line_code:
            fail(number, "business_line_code", str(_("This field is required.")), "required")
        elif line is None:
            fail(
                number,
                "business_line_code",
                str(_("No active business line has this code.")),
                "unknown_reference",
            )
        organisation = None
        organisation_code = value(row, "organisation_code")
        if organisation_code:
            organisation = organisations.get(organisation_code)
            if organisation is None:
                fail(
                    number,
                    "organisation_code",
                    str(_("No organisation you can see has this code.")),
                    "unknown_reference",
                )
        tier_key = value(row, "tier_key")
        tier = tiers.get(tier_key) if tier_key else None
        if tier_key and tier is None:
            fail(number, "tier_key", str(_("No tier has this key.")), "unknown_reference")
        tier = tier or (organisation.tier if organisation is not None else None) or fallback_tier
        if tier is None and not tier_key:
            fail(number, "tier_key", str(_("Name a tier: there is no default tier.")), "required")
        try:
            tags = services.clean_tags(value(row, "tags").split(","), "tags")
        except DomainError as error:
            fail(number, "tags", error)
            tags = []
        pairs: list[tuple[str, str]] = []
        for column in IDENTITY_COLUMNS:
            raw = value(row, column)
            if not raw:
                continue
            try:
                normalised = identity_rules.normalise(column, raw, field=column)
            except DomainError as error:
                fail(number, column, error)
                continue
            first = seen.get((column, normalised))
            if first is not None:
                fail(
                    number,
                    column,
                    str(_("Row %(row)s has the same value.") % {"row": first}),
                    "duplicate_in_file",
                )
                continue
            seen[(column, normalised)] = number
            wanted.setdefault(column, set()).add(normalised)
            pairs.append((column, normalised))
        sent: dict[str, Any] = {}
        for key, index in layout.custom.items():
            text = row[index].strip() if index < len(row) else ""
            if text:
                # An empty cell sends nothing, so the field's default applies as on a form.
                sent[key] = handlers[key].value_from_text(text)
        try:
            custom_values = customfields.clean_values(
                target=services.CUSTOMER_TARGET,
                values=sent,
                existing=None,
                actor=actor,
                audience="staff",
                definitions=every_definition,
            )
        except FieldErrors as error:
            for item in error.field_errors:
                fail(number, item.field, item.message, item.code)
            custom_values = {}
        if line is not None:
            if line.pk not in line_reach:
                # Imported rows have no owner or team: only the line can bring them in reach.
                candidate = Customer(business_line=line)
                line_reach[line.pk] = services.reaches(actor, "customers.add_customer", candidate)
            if not line_reach[line.pk]:
                fail(
                    number,
                    "business_line_code",
                    str(_("You may not add customers to this business line.")),
                    "outside_scope",
                )
        if len(errors) == row_errors and line is not None and tier is not None:
            parsed.append(
                _Row(
                    number,
                    name,
                    line,
                    organisation,
                    tier,
                    tags,
                    value(row, "notes"),
                    pairs,
                    custom_values,
                )
            )

    taken = _existing_identities(wanted)
    if taken:
        holders = dict(
            selectors.customers_visible_to(actor)
            .filter(pk__in=set(taken.values()))
            .values_list("pk", "name")
        )
        for (kind, normalised), number in seen.items():
            holder_id = taken.get((kind, normalised))
            if holder_id is None:
                continue
            if holder_id in holders:
                message: Any = _("Already belongs to customer %(name)s (#%(id)s).") % {
                    "name": holders[holder_id],
                    "id": holder_id,
                }
            else:
                message = _("Already belongs to another customer.")
            fail(number, kind, str(message), "identity_taken")
    # Fixed columns in their order, then custom fields as the sheet orders them.
    order = {name: index for index, name in enumerate(COLUMNS)}
    for index, key in enumerate(layout.custom):
        order[field_path(key)] = len(COLUMNS) + index
    errors.sort(key=lambda e: (e.row, order.get(e.field, len(order))))
    return parsed, errors


@transaction.atomic
def import_customers(*, actor: Any, file: IO[bytes], format: str) -> ImportReport:
    """Check every row; if any is wrong save nothing and report them all, else save them all."""
    authz.require_permission(actor, "customers.add_customer")
    header, rows = read_rows(file, format)
    parsed, errors = _validate(actor, header, rows)
    report = ImportReport(rows=sum(1 for row in rows if any(row)), errors=errors)
    if errors or not parsed:
        return report
    customers = [
        Customer(
            name=row.name,
            business_line=row.line,
            organisation=row.organisation,
            tier=row.tier,
            tags=row.tags,
            notes=row.notes,
            custom_fields=row.custom_fields,
        )
        for row in parsed
    ]
    Customer.objects.bulk_create(customers, batch_size=_BATCH)
    try:
        with transaction.atomic():
            CustomerIdentity.objects.bulk_create(
                [
                    CustomerIdentity(customer=customer, kind=kind, value=value)
                    for customer, row in zip(customers, parsed, strict=True)
                    for kind, value in row.identities
                ],
                batch_size=_BATCH,
            )
    except IntegrityError:
        # Someone took one of the identities between validation and insert.
        raise DomainError(
            "identity_taken",
            field="file",
            message=_("An identity in the file was just taken by another customer. Try again."),
        ) from None
    report.created = len(customers)
    ids = [c.pk for c in customers]
    audit.record(
        actor=actor,
        action=AuditEntry.Action.CREATED,
        verb="imported",
        object_type="customers.customer",
        object_repr=f"import:{format}",
        after={"rows": report.created, "first_id": min(ids), "last_id": max(ids)},
    )
    outbox.emit(
        "customer.imported",
        None,
        actor=actor,
        payload={"count": report.created, "customer_ids": ids},
    )
    return report
