"""The attainment table exported as CSV and Excel from the page and the API, inside the
viewer's scope; and the data the badges' live countdown ticks from."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
import time_machine
from django.test import TestCase

from aftersales.audit.models import AuditEntry
from aftersales.sla import timers
from aftersales.sla.models import Calendar
from aftersales.tickets.models import Ticket
from tests.conftest import JsonClient
from tests.sla.timer_support import local, make_policy
from tests.tickets.conftest import _media_in_tmp, desk, make_ticket, make_type  # noqa: F401

pytestmark = pytest.mark.django_db

HEADER = "Month,Team,Policy,Priority,Metric,Ended,In time,Attainment (%)"
ROW = "2026-09,Repair East,Standard,Normal,First response,1,0,0.0"


@pytest.fixture
def breached(
    desk: dict[str, Any],
    make_calendar: Callable[..., Calendar],
    make_ticket: Callable[..., Ticket],
) -> Ticket:
    """A ticket of team A filed 09-30 17:30 whose first response was late on 10-08."""
    timers.forget_specs()
    make_calendar(name="East office", business_line=desk["line_a"])
    make_policy(desk["admin"])
    with (
        time_machine.travel(local("2026-09-30 17:30"), tick=False),
        TestCase.captureOnCommitCallbacks(execute=True),
    ):
        ticket = make_ticket(subject="Holiday ticket")
    with time_machine.travel(local("2026-10-08 11:45"), tick=False):
        timers.sweep()
    return ticket


def _csv(response: Any) -> list[str]:
    return response.content.decode("utf-8-sig").splitlines()


def test_a_manager_exports_attainment_as_csv_and_excel_from_the_page(
    desk: dict[str, Any], breached: Ticket, login_client: Callable[..., JsonClient]
) -> None:
    from openpyxl import load_workbook

    client = login_client(desk["manager"])
    page = client.get("/sla/attainment/").content.decode()
    assert 'href="/sla/attainment/export/?format=csv"' in page
    as_csv = client.get("/sla/attainment/export/?format=csv")
    as_xlsx = client.get("/sla/attainment/export/?format=xlsx")
    assert as_csv.status_code == 200
    assert as_csv["Content-Disposition"] == 'attachment; filename="sla-attainment.csv"'
    assert _csv(as_csv) == [HEADER, ROW]
    sheet = load_workbook(io.BytesIO(as_xlsx.content)).active
    assert [[cell.value for cell in row] for row in sheet.iter_rows()] == [
        HEADER.split(","),
        ROW.split(","),
    ]
    assert (
        AuditEntry.objects.filter(
            action="exported", object_repr__startswith="sla-attainment."
        ).count()
        == 2
    )


def test_the_api_lists_and_exports_attainment(
    desk: dict[str, Any], breached: Ticket, login_client: Callable[..., JsonClient]
) -> None:
    client = login_client(desk["manager"])
    listed = client.get("/api/v1/sla-attainment").json()
    assert listed == [
        {
            "month": "2026-09-01",
            "team": "Repair East",
            "policy": "Standard",
            "priority": 2,
            "metric": "first_response",
            "total": 1,
            "in_time": 0,
            "percent": 0.0,
        }
    ]
    exported = client.get("/api/v1/sla-attainment/export?format=csv")
    assert _csv(exported) == [HEADER, ROW]
    refused = client.get("/api/v1/sla-attainment/export?format=pdf")
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "format"


def test_outsiders_get_no_export_and_a_narrow_scope_exports_only_its_tickets(
    desk: dict[str, Any],
    breached: Ticket,
    login_client: Callable[..., JsonClient],
    make_user: Callable[..., Any],
) -> None:
    before = AuditEntry.objects.filter(action="exported").count()
    agent = login_client(desk["insider"])
    assert agent.get("/sla/attainment/export/?format=csv").status_code == 403
    assert agent.get("/api/v1/sla-attainment/export?format=csv").status_code == 403
    assert agent.get("/api/v1/sla-attainment").status_code == 403
    assert JsonClient().get("/api/v1/sla-attainment/export").status_code == 401
    assert AuditEntry.objects.filter(action="exported").count() == before
    west = make_user("west-manager", role="service-manager", scope="teams", teams=[desk["team_b"]])
    narrow = login_client(west)
    assert _csv(narrow.get("/sla/attainment/export/?format=csv")) == [HEADER]
    assert narrow.get("/api/v1/sla-attainment").json() == []


def test_a_running_badge_carries_what_the_browser_counts_down_from(
    desk: dict[str, Any], breached: Ticket, login_client: Callable[..., JsonClient]
) -> None:
    with time_machine.travel(local("2026-10-08 11:45"), tick=False):
        detail = login_client(desk["insider"]).get(f"/tickets/{breached.number}/").content.decode()
    # resolution due 12:30: 45 min left, counting without a break until 18:00 (375 min)
    assert 'x-data="slaCountdown" data-sla-label="Resolution" data-sla-left="45"' in detail
    assert 'data-sla-run="375"' in detail
    assert 'data-text-left="{} left"' in detail
