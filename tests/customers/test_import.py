"""Importing customers: every row is checked first, then all rows are saved or none."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import Workbook

from aftersales.audit.models import AuditEntry
from aftersales.customers import importing
from aftersales.customers.models import Customer, CustomerIdentity
from aftersales.outbox.models import OutboxEvent
from tests.api.support import assert_problem, body_of
from tests.conftest import JsonClient
from tests.customers.conftest import customer_state

HEADER = [
    "name",
    "organisation code",
    "tier key",
    "phone",
    "email",
    "wechat_openid",
    "tags",
    "notes",
    "business_line code",
]
ROWS = 10_000


def sheet_rows(count: int = ROWS) -> list[list[str]]:
    """``count`` valid customers of line A; row i (1-based) lands on spreadsheet row i + 1."""
    return [
        [
            f"客户 {i}",
            "acme" if i % 10 == 0 else "",
            "vip" if i % 7 == 0 else "",
            f"139{i:08d}",
            f"c{i}@example.com",
            f"oWX{i:08d}",
            "batch,2026" if i % 2 else "",
            "imported",
            "line-a",
        ]
        for i in range(1, count + 1)
    ]


def as_csv(rows: Sequence[Sequence[str]], *, bom: bool) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return (("\ufeff" if bom else "") + buffer.getvalue()).encode("utf-8")


def as_xlsx(rows: Sequence[Sequence[str]]) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("customers")
    sheet.append(HEADER)
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def set_cell(rows: list[list[str]], sheet_row: int, column: str, value: str) -> None:
    rows[sheet_row - 2][HEADER.index(column)] = value


@pytest.fixture
def sheet_world(
    world: dict[str, Any], make_organisation: Callable[..., Any], make_customer: Callable[..., Any]
) -> dict[str, Any]:
    make_organisation(name="Acme", code="acme", business_line=world["line_a"])
    holder = make_customer(
        name="Holder", team=world["team_a"], identities=[("phone", "13900004000")]
    )
    return {**world, "holder": holder}


def _post(client: JsonClient, content: bytes, filename: str) -> Any:
    upload = SimpleUploadedFile(filename, content)
    return client.post("/api/v1/customers/import", {"file": upload})


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_import_of_10000_rows_with_3_bad_rows_reports_them_and_saves_nothing(
    world: dict[str, Any],
    make_organisation: Callable[..., Any],
    login_client: Callable[..., JsonClient],
    file_format: str,
) -> None:
    # given: 10,000 rows; row 101 has no name, row 5002 repeats row 2's phone, row 9001 names
    # an unknown business line
    make_organisation(name="Acme", code="acme", business_line=world["line_a"])
    rows = sheet_rows()
    set_cell(rows, 101, "name", "")
    set_cell(rows, 5002, "phone", "139 0000 0001")
    set_cell(rows, 9001, "business_line code", "no-such-line")
    content = as_csv(rows, bom=True) if file_format == "csv" else as_xlsx(rows)
    client = login_client(world["admin"])
    before = customer_state()
    # when
    response = _post(client, content, f"customers.{file_format}")
    # then
    body = assert_problem(response, 422)
    assert body["code"] == "import_invalid"
    assert [(e["row"], e["field"], e["code"]) for e in body["errors"]] == [
        (101, "name", "required"),
        (5002, "phone", "duplicate_in_file"),
        (9001, "business_line_code", "unknown_reference"),
    ]
    assert customer_state() == before


def test_import_reports_identities_held_in_the_database_and_bad_formats(
    sheet_world: dict[str, Any], login_client: Callable[..., JsonClient]
) -> None:
    # given: row 4001 carries the holder's phone, row 7 a broken e-mail, row 31 an unknown tier
    rows = sheet_rows(5000)
    set_cell(rows, 7, "email", "not-an-address")
    set_cell(rows, 31, "tier key", "gold")
    client = login_client(sheet_world["admin"])
    client.cookies["django_language"] = "en"
    before = customer_state()
    # when
    response = _post(client, as_xlsx(rows), "customers.xlsx")
    # then
    body = assert_problem(response, 422)
    holder = sheet_world["holder"]
    assert body["errors"] == [
        {
            "row": 7,
            "field": "email",
            "code": "invalid_identity",
            "detail": "Enter a valid e-mail address.",
        },
        {
            "row": 31,
            "field": "tier_key",
            "code": "unknown_reference",
            "detail": "No tier has this key.",
        },
        {
            "row": 4001,
            "field": "phone",
            "code": "identity_taken",
            "detail": f"Already belongs to customer Holder (#{holder.pk}).",
        },
    ]
    assert customer_state() == before


@pytest.mark.parametrize(
    ("file_format", "bom"),
    [pytest.param("csv", True, id="_case_csv_bom"), pytest.param("xlsx", False, id="_case_xlsx")],
)
def test_clean_import_of_10000_rows_saves_them_all_in_seconds(
    world: dict[str, Any],
    make_organisation: Callable[..., Any],
    login_client: Callable[..., JsonClient],
    file_format: str,
    bom: bool,
) -> None:
    # given
    make_organisation(name="Acme", code="acme", business_line=world["line_a"])
    rows = sheet_rows()
    content = as_csv(rows, bom=bom) if file_format == "csv" else as_xlsx(rows)
    client = login_client(world["admin"])
    # when
    started = time.perf_counter()
    response = _post(client, content, f"customers.{file_format}")
    elapsed = time.perf_counter() - started
    # then
    assert response.status_code == 201, response.content[:2000]
    assert body_of(response) == {"created": 10_000, "rows": 10_000}
    print(f"import of {ROWS} {file_format} rows: {elapsed:.2f} s")  # noqa: T201
    assert Customer.objects.count() == 10_000
    assert CustomerIdentity.objects.count() == 30_000
    first = Customer.objects.get(name="客户 70")
    assert (first.organisation.code, first.tier.key, first.tags) == ("acme", "vip", [])
    assert sorted(first.identities.values_list("kind", "value")) == [
        ("email", "c70@example.com"),
        ("phone", "+8613900000070"),
        ("wechat_openid", "oWX00000070"),
    ]
    assert Customer.objects.get(name="客户 3").tags == ["batch", "2026"]
    entry = AuditEntry.objects.get(verb="imported")
    assert entry.after["rows"] == 10_000
    assert OutboxEvent.objects.get(topic="customer.imported").payload["count"] == 10_000


def test_csv_without_bom_and_an_unscoped_line_are_told_per_row(
    world: dict[str, Any], login_client: Callable[..., JsonClient]
) -> None:
    """An agent at "my business lines" of line A may import into line A, not into line B."""
    # given
    rows = sheet_rows(3)
    set_cell(rows, 4, "business_line code", "line-b")
    client = login_client(world["liner"])
    before = customer_state()
    # when
    response = _post(client, as_csv(rows, bom=False), "customers.csv")
    # then
    body = assert_problem(response, 422)
    assert [(e["row"], e["field"], e["code"]) for e in body["errors"]] == [
        (4, "business_line_code", "outside_scope")
    ]
    assert customer_state() == before
    # and the same sheet without the stray row goes in
    response = _post(client, as_csv(rows[:2], bom=False), "customers.csv")
    assert body_of(response) == {"created": 2, "rows": 2}


def test_import_without_required_columns_is_refused(
    world: dict[str, Any], login_client: Callable[..., JsonClient]
) -> None:
    """Missing columns and a column the import does not know are reported together."""
    # given
    content = "姓名,phone\nLi,13812345678\n".encode()
    before = customer_state()
    # when
    response = _post(login_client(world["admin"]), content, "customers.csv")
    # then
    body = assert_problem(response, 422)
    assert [(e["row"], e["field"], e["code"]) for e in body["errors"]] == [
        (1, "name", "missing_column"),
        (1, "business_line_code", "missing_column"),
        (1, "姓名", "unknown_column"),
    ]
    assert customer_state() == before


@pytest.mark.parametrize(
    ("actor", "status"),
    [
        pytest.param("contact", 403, id="_case_contact"),
        pytest.param("outsider", 422, id="_case_outsider"),
    ],
)
def test_import_by_a_contact_or_an_outsider_saves_nothing(
    world: dict[str, Any], login_client: Callable[..., JsonClient], actor: str, status: int
) -> None:
    # given
    before = customer_state()
    # when
    response = _post(login_client(world[actor]), as_csv(sheet_rows(2), bom=True), "c.csv")
    # then
    assert_problem(response, status)
    assert customer_state() == before


def test_exported_sheet_imports_back(world: dict[str, Any], admin_user: Any) -> None:
    """The quote that keeps '+86…' from being computed is taken off again on import."""
    # given
    header = ["name", "phone", "business_line_code"]
    content = ("\ufeff" + ",".join(header) + "\nLi,'+8613812345678,line-a\n").encode()
    # when
    report = importing.import_customers(actor=admin_user, file=io.BytesIO(content), format="csv")
    # then
    assert (report.created, report.errors) == (1, [])
    assert CustomerIdentity.objects.get().value == "+8613812345678"
