"""Custom-field columns in the customer import and export: named by key or label, read from
text or spreadsheet cells, checked by the form engine, all rows or none."""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import Workbook

from aftersales.accounts.models import User
from aftersales.audit.models import AuditEntry
from aftersales.customers import exporting, importing, services
from aftersales.customers.models import Customer, CustomerIdentity
from aftersales.customfields import services as customfields
from aftersales.customfields.models import FieldDefinition
from aftersales.outbox.models import OutboxEvent
from tests.api.support import assert_problem, body_of
from tests.conftest import JsonClient
from tests.customers.conftest import customer_state

FIXED = [
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
# As people write them: a Chinese label, an English label, a key, in any case, with spaces.
CUSTOM = ["服务合同", "Products", "purchased_on", "重点客户", " SEATS "]
HEADER = [*FIXED, *CUSTOM]
ROWS = 10_000
SURNAMES = "王李张刘陈杨赵黄周吴"
PRODUCTS = ["printer、scanner", "copier", "printer; copier", ""]
FIRST_PURCHASE = dt.date(2024, 1, 1)


def _choice(*keys_and_labels: tuple[str, str, str]) -> dict[str, Any]:
    return {
        "options": [
            {"key": key, "label_zh": label_zh, "label_en": label_en}
            for key, label_zh, label_en in keys_and_labels
        ]
    }


@pytest.fixture
def make_field(admin_user: User) -> Callable[..., FieldDefinition]:
    """make_field("seats", "number", "座席数", "Seats", config=..., is_required=...)."""

    def make(
        key: str, field_type: str, label_zh: str, label_en: str, **fields: Any
    ) -> FieldDefinition:
        return customfields.create_definition(
            actor=admin_user,
            target=services.CUSTOMER_TARGET,
            key=key,
            field_type=field_type,
            label_zh=label_zh,
            label_en=label_en,
            **fields,
        )

    return make


@pytest.fixture
def sheet_fields(make_field: Callable[..., FieldDefinition]) -> list[FieldDefinition]:
    """The custom fields of customers that the sheet fills: a required contract, the products
    bought, the first purchase date, whether the customer is a key account, and seats."""
    return [
        make_field(
            "contract",
            "single_choice",
            "服务合同",
            "Service contract",
            config=_choice(("gold", "金牌", "Gold"), ("basic", "基础", "Basic")),
            is_required=True,
        ),
        make_field(
            "products",
            "multi_choice",
            "产品",
            "Products",
            config=_choice(
                ("printer", "打印机", "Printer"),
                ("scanner", "扫描仪", "Scanner"),
                ("copier", "复印机", "Copier"),
            ),
        ),
        make_field("purchased_on", "date", "首次购买日期", "First purchase"),
        make_field("key_account", "yes_no", "重点客户", "Key account"),
        make_field("seats", "number", "座席数", "Seats", config={"min_value": 1}),
    ]


def sheet_row(i: int) -> list[Any]:
    """Customer i of line A, with Excel date and number cells in the custom-field columns."""
    return [
        f"{SURNAMES[i % 10]}客户{i:05d}",
        "acme" if i % 10 == 0 else "",
        "vip" if i % 7 == 0 else "",
        f"139{i:08d}",
        f"c{i}@example.com",
        f"oWX{i:08d}",
        "batch,2026" if i % 2 else "",
        "imported",
        "line-a",
        "gold" if i % 3 == 0 else "basic",
        PRODUCTS[i % 4],
        FIRST_PURCHASE + dt.timedelta(days=i % 700),
        "是" if i % 5 == 0 else "否",
        i % 50 + 1,
    ]


def as_xlsx(header: Sequence[Any], rows: Sequence[Sequence[Any]]) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("customers")
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def as_csv(header: Sequence[Any], rows: Sequence[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def set_cell(rows: list[list[Any]], sheet_row: int, column: str, value: Any) -> None:
    rows[sheet_row - 2][HEADER.index(column)] = value


def _post(client: JsonClient, content: bytes, filename: str) -> Any:
    return client.post("/api/v1/customers/import", {"file": SimpleUploadedFile(filename, content)})


def _import(actor: User, header: Sequence[Any], rows: Sequence[Sequence[Any]]) -> Any:
    return importing.import_customers(
        actor=actor, file=io.BytesIO(as_csv(header, rows)), format="csv"
    )


@pytest.fixture
def sheet_world(
    world: dict[str, Any],
    make_organisation: Callable[..., Any],
    sheet_fields: list[FieldDefinition],
) -> dict[str, Any]:
    make_organisation(name="Acme", code="acme", business_line=world["line_a"])
    return world


def test_import_of_a_10000_row_sheet_with_3_bad_rows_reports_those_rows_and_saves_nothing(
    sheet_world: dict[str, Any], login_client: Callable[..., JsonClient]
) -> None:
    """Done-means of issue #3: a bad phone, a bad custom-field value and a missing name."""
    # given
    rows = [sheet_row(i) for i in range(1, ROWS + 1)]
    set_cell(rows, 1234, "phone", "12345")
    set_cell(rows, 5678, "服务合同", "platinum")
    set_cell(rows, 9999, "name", "")
    client = login_client(sheet_world["admin"])
    client.cookies["django_language"] = "en"
    content = as_xlsx(HEADER, rows)
    customers, identities = Customer.objects.count(), CustomerIdentity.objects.count()
    before = customer_state()
    # when
    started = time.perf_counter()
    response = _post(client, content, "customers.xlsx")
    elapsed = time.perf_counter() - started
    # then
    print(f"refused import of {ROWS} xlsx rows with custom fields: {elapsed:.2f} s")  # noqa: T201
    body = assert_problem(response, 422)
    assert body["code"] == "import_invalid"
    assert body["detail"] == "3 rows have errors; nothing was imported."
    assert [(e["row"], e["field"], e["code"]) for e in body["errors"]] == [
        (1234, "phone", "invalid_identity"),
        (5678, "custom_fields.contract", "invalid_choice"),
        (9999, "name", "required"),
    ]
    assert body["errors"][1]["detail"] == "platinum is not one of the options."
    assert (Customer.objects.count(), CustomerIdentity.objects.count()) == (customers, identities)
    assert customer_state() == before


def test_clean_10000_row_sheet_with_custom_fields_imports_every_row(
    sheet_world: dict[str, Any], login_client: Callable[..., JsonClient]
) -> None:
    # given
    rows = [sheet_row(i) for i in range(1, ROWS + 1)]
    content = as_xlsx(HEADER, rows)
    client = login_client(sheet_world["admin"])
    # when
    started = time.perf_counter()
    response = _post(client, content, "customers.xlsx")
    elapsed = time.perf_counter() - started
    # then
    print(f"import of {ROWS} xlsx rows with custom fields: {elapsed:.2f} s")  # noqa: T201
    assert response.status_code == 201, response.content[:2000]
    assert body_of(response) == {"created": ROWS, "rows": ROWS}
    assert Customer.objects.count() == ROWS
    assert CustomerIdentity.objects.count() == 3 * ROWS
    assert Customer.objects.get(name="王客户00030").custom_fields == {
        "contract": "gold",
        "products": ["printer", "copier"],
        "purchased_on": "2024-01-31",
        "key_account": True,
        "seats": 31,
    }
    assert Customer.objects.get(name="李客户00001").custom_fields == {
        "contract": "basic",
        "products": ["copier"],
        "purchased_on": "2024-01-02",
        "key_account": False,
        "seats": 2,
    }
    assert AuditEntry.objects.get(verb="imported").after["rows"] == ROWS
    assert OutboxEvent.objects.get(topic="customer.imported").payload["count"] == ROWS


def test_every_bad_custom_field_cell_is_reported_with_row_column_and_message(
    sheet_world: dict[str, Any], settings: Any
) -> None:
    # given: row 2 has a bad date and a bad yes/no, row 3 no contract (required), row 4 an
    # unknown product and zero seats; row 5 is good but nothing may be saved
    settings.LANGUAGE_CODE = "en"
    rows = [[*sheet_row(i)[:11], "", "是", 3] for i in range(1, 5)]
    set_cell(rows, 2, "purchased_on", "2025/13/40")
    set_cell(rows, 2, "重点客户", "maybe")
    set_cell(rows, 3, "服务合同", "")
    set_cell(rows, 4, "Products", "printer; fax")
    set_cell(rows, 4, " SEATS ", "0")
    set_cell(rows, 4, "name", "")
    before = customer_state()
    # when
    report = _import(sheet_world["admin"], HEADER, rows)
    # then
    assert [(e.row, e.field, e.column, e.code, e.message) for e in report.errors] == [
        (
            2,
            "custom_fields.purchased_on",
            "purchased_on",
            "invalid_date",
            "Enter a date (YYYY-MM-DD).",
        ),
        (2, "custom_fields.key_account", "重点客户", "invalid_boolean", "Enter true or false."),
        (3, "custom_fields.contract", "服务合同", "required", "This field is required."),
        (4, "name", "name", "required", "This field is required."),
        (
            4,
            "custom_fields.products",
            "Products",
            "invalid_choice",
            "fax is not one of the options.",
        ),
        (4, "custom_fields.seats", "SEATS", "too_small", "Enter a value of at least 1."),
    ]
    assert report.created == 0
    assert customer_state() == before


def test_excel_cells_become_values_of_each_field_type(
    world: dict[str, Any], make_field: Callable[..., FieldDefinition], admin_user: User
) -> None:
    """Date, date-time, number and boolean cells; decimals and text typed as numbers."""
    # given
    make_field("visited_at", "datetime", "上门时间", "Visited at")
    make_field("budget", "decimal", "预算", "Budget")
    make_field("serial", "text", "序列号", "Serial")
    make_field("renewed", "yes_no", "已续约", "Renewed")
    make_field("purchased_on", "date", "购买日期", "Purchased on")
    header = ["name", "business_line code", "visited_at", "budget", "serial", "renewed", "购买日期"]
    row = [
        "王芳",
        "line-a",
        dt.datetime(2026, 3, 1, 10, 30),  # noqa: DTZ001  (a cell has no zone: local time)
        1234.5,
        880012,
        True,
        dt.date(2026, 2, 28),
    ]
    # when
    report = importing.import_customers(
        actor=admin_user, file=io.BytesIO(as_xlsx(header, [row])), format="xlsx"
    )
    # then
    assert (report.created, report.errors) == (1, [])
    assert Customer.objects.get(name="王芳").custom_fields == {
        "visited_at": "2026-03-01T02:30:00Z",
        "budget": "1234.50",
        "serial": "880012",
        "renewed": True,
        "purchased_on": "2026-02-28",
    }


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("contract", id="_case_key"),
        pytest.param(" CONTRACT ", id="_case_key_in_capitals"),
        pytest.param("服务合同", id="_case_chinese_label"),
        pytest.param("service  CONTRACT", id="_case_english_label_any_case_and_spacing"),
        pytest.param("custom_fields.contract", id="_case_prefixed_key"),
    ],
)
def test_custom_field_column_is_named_by_key_or_label(
    sheet_world: dict[str, Any], header: str
) -> None:
    # when
    report = _import(
        sheet_world["admin"], ["name", "business_line code", header], [["王芳", "line-a", "gold"]]
    )
    # then
    assert (report.created, report.errors) == (1, [])
    assert Customer.objects.get(name="王芳").custom_fields == {"contract": "gold"}


@pytest.mark.parametrize(
    ("language", "message"),
    [
        pytest.param(
            "en",
            "Unknown column “合同类型”: it is neither a customer column nor an active custom "
            "field of customers.",
            id="_case_english",
        ),
        pytest.param(
            "zh-hans",
            "未知的列“合同类型”：它既不是客户列，也不是已启用的客户自定义字段。",
            id="_case_chinese",
        ),
    ],
)
def test_unknown_column_is_refused_before_any_row_is_read(
    sheet_world: dict[str, Any],
    login_client: Callable[..., JsonClient],
    language: str,
    message: str,
) -> None:
    # given: a misspelt custom-field header, and a row that would fail on its own
    header = ["name", "business_line code", "contract", "合同类型"]
    client = login_client(sheet_world["admin"])
    client.cookies["django_language"] = language
    before = customer_state()
    # when
    response = _post(client, as_csv(header, [["", "line-a", "gold", "x"]]), "customers.csv")
    # then
    body = assert_problem(response, 422)
    assert body["errors"] == [
        {"row": 1, "field": "合同类型", "code": "unknown_column", "detail": message}
    ]
    assert customer_state() == before


def test_ambiguous_label_repeated_column_and_missing_required_field_are_refused(
    sheet_world: dict[str, Any], make_field: Callable[..., FieldDefinition], settings: Any
) -> None:
    # given: two fields labelled 备注 in Chinese; seats named twice (key and English label);
    # contract (required) has no column; the export's id and is_active and an empty unnamed
    # column are fine
    settings.LANGUAGE_CODE = "en"
    make_field("remark_a", "text", "备注", "Remark A")
    make_field("remark_b", "text", "备注", "Remark B")
    header = ["name", "business_line code", "备注", "seats", "Seats", "", "id", "is_active"]
    rows = [["王芳", "line-a", "x", "3", "4", "", "17", "1"]]
    before = customer_state()
    # when
    report = _import(sheet_world["admin"], header, rows)
    # then
    assert [(e.row, e.field, e.code, e.message) for e in report.errors] == [
        (
            1,
            "custom_fields.contract",
            "missing_column",
            "The sheet has no column for the required custom field “Service contract”.",
        ),
        (
            1,
            "备注",
            "ambiguous_column",
            "“备注” is the label of several custom fields (remark_a, remark_b): name the column "
            "by the key of the one you mean.",
        ),
        (
            1,
            "custom_fields.seats",
            "duplicate_column",
            "“Seats” is read as the same field as the column “seats”.",
        ),
    ]
    assert customer_state() == before


def test_values_under_a_column_without_a_name_are_refused(
    world: dict[str, Any], admin_user: User
) -> None:
    # when
    report = _import(admin_user, ["name", "business_line code", ""], [["王芳", "line-a", "vip"]])
    # then
    assert [(e.row, e.field, e.code) for e in report.errors] == [(1, "C", "unnamed_column")]
    assert Customer.objects.exists() is False


@pytest.fixture
def every_kind_of_field(
    make_field: Callable[..., FieldDefinition], make_team: Callable[..., Any], world: dict[str, Any]
) -> dict[str, Any]:
    """One field of each type that a sheet can carry, and a value for each. ``notes`` is also
    a fixed column, so its column is written ``custom_fields.notes``."""
    make_field("serial", "text", "序列号", "Serial")
    make_field("notes", "long_text", "内部备注", "Internal notes")
    make_field("balance", "number", "余额", "Balance")
    make_field("budget", "decimal", "预算", "Budget")
    make_field("purchased_on", "date", "购买日期", "Purchased on")
    make_field("visited_at", "datetime", "上门时间", "Visited at")
    make_field(
        "contract",
        "single_choice",
        "服务合同",
        "Contract",
        config=_choice(("gold", "金牌", "Gold"), ("basic", "基础", "Basic")),
    )
    make_field(
        "products",
        "multi_choice",
        "产品",
        "Products",
        config=_choice(("printer", "打印机", "Printer"), ("copier", "复印机", "Copier")),
    )
    make_field(
        "region",
        "cascade",
        "地区",
        "Region",
        config={
            "options": [
                {"key": "gd", "label_zh": "广东", "children": [{"key": "sz", "label_zh": "深圳"}]}
            ]
        },
    )
    make_field("key_account", "yes_no", "重点客户", "Key account")
    make_field("site", "url", "网站", "Website")
    make_field("billing_email", "email", "账单邮箱", "Billing e-mail")
    make_field("hotline", "phone", "热线", "Hotline")
    make_field("location", "location", "位置", "Location")
    make_field("contract_scan", "attachment", "合同扫描件", "Contract scan")
    make_field("service_team", "team", "服务团队", "Service team")
    return {
        "serial": "=SN-1, SN-2",
        "notes": "第一行\n第二行",
        "balance": -3,
        "budget": "1200.50",
        "purchased_on": "2025-11-30",
        "visited_at": "2026-03-01T02:30:00Z",
        "contract": "gold",
        "products": ["printer", "copier"],
        "region": ["gd", "sz"],
        "key_account": False,
        "site": "https://example.com/a?b=1",
        "billing_email": "bill@example.com",
        "hotline": "+8613812345678",
        "location": {"lat": 22.5431, "lng": 114.0579, "address": "深圳市南山区, 科技园"},
        "contract_scan": [3, "0f8fad5b-d9cb-469f-a165-70867728950e"],
        "service_team": world["team_a"].pk,
    }


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_exported_sheet_with_custom_fields_imports_back_as_it_was(
    world: dict[str, Any],
    every_kind_of_field: dict[str, Any],
    make_customer: Callable[..., Customer],
    make_organisation: Callable[..., Any],
    file_format: str,
) -> None:
    """Round trip: export, free the identities by deactivating the originals, import."""
    # given
    admin = world["admin"]
    acme = make_organisation(name="Acme", code="acme", business_line=world["line_a"])
    originals = [
        make_customer(
            name="王芳",
            business_line=world["line_a"],
            organisation=acme,
            tags=["vip-line", "2026"],
            notes="Key person",
            identities=[("phone", "13812345678"), ("email", "wang@example.com")],
            custom_fields=every_kind_of_field,
        ),
        make_customer(
            name="Li Wei",
            business_line=world["line_b"],
            custom_fields={"contract": "basic"},
        ),
    ]
    exported = exporting.export_customers(actor=admin, format=file_format)
    for customer in originals:
        services.update_customer(actor=admin, customer=customer, changes={"is_active": False})
    # when
    report = importing.import_customers(
        actor=admin, file=io.BytesIO(exported.content), format=file_format
    )
    # then
    assert (report.created, report.errors) == (2, [])

    def state(customer: Customer) -> tuple[Any, ...]:
        return (
            customer.name,
            customer.business_line_id,
            customer.organisation_id,
            customer.tier_id,
            customer.tags,
            customer.notes,
            customer.custom_fields,
            sorted(customer.identities.values_list("kind", "value")),
        )

    imported = list(Customer.objects.filter(is_active=True).order_by("pk"))
    assert [state(c) for c in imported] == [state(c) for c in originals]
    assert imported[0].custom_fields == every_kind_of_field


def test_export_header_names_each_custom_field_after_the_fixed_columns(
    every_kind_of_field: dict[str, Any],
) -> None:
    # when
    header = exporting.export_header(importing.custom_field_definitions())
    # then
    assert header[: len(importing.COLUMNS) + 1] == ["id", *importing.COLUMNS]
    assert header[len(importing.COLUMNS) + 1 :] == [
        "serial",
        "custom_fields.notes",
        "balance",
        "budget",
        "purchased_on",
        "visited_at",
        "contract",
        "products",
        "region",
        "key_account",
        "site",
        "billing_email",
        "hotline",
        "location",
        "contract_scan",
        "service_team",
        "is_active",
    ]


def test_import_page_explains_each_custom_field_column(
    sheet_world: dict[str, Any], login_client: Callable[..., JsonClient]
) -> None:
    # given
    client = login_client(sheet_world["admin"])
    client.cookies["django_language"] = "en"
    # when
    response = client.get("/customers/import/")
    # then
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-testid="custom-columns"' in page
    assert "Service contract" in page
    assert "One option key: gold (Gold), basic (Basic)." in page
    assert "Option keys separated by ; or , or 、: printer (Printer), scanner (Scanner)" in page
    assert "是 or 否, yes or no, true or false, 1 or 0." in page
