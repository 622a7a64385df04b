"""The SLA pages as people use them: policies with the condition builder, countdown badges in
the inbox and on the ticket, the at-risk list and the attainment table, each inside its scope."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import pytest
import time_machine
from django.test import TestCase

from aftersales.sla import timers
from aftersales.sla.models import Calendar, Policy
from aftersales.tickets.models import Ticket
from tests.conftest import JsonClient
from tests.sla.timer_support import local, make_policy
from tests.tickets.conftest import _media_in_tmp, desk, make_ticket, make_type  # noqa: F401
from tests.web.test_shell import csp_problems, manifest  # noqa: F401

pytestmark = pytest.mark.django_db


def _form(**more: Any) -> dict[str, Any]:
    return {
        "name": "Gold",
        "position": "5",
        "pause_on_pending": "on",
        "is_active": "on",
        "condition": '{"all": [{"field": "ticket.priority", "op": "is", "value": "urgent"}]}',
        "target-0-metric": "resolution",
        "target-0-priority": "",
        "target-0-minutes": "240",
        "target-0-business_time": "on",
        "target-0-warn": "60",
        "target-1-metric": "",
        "target-1-minutes": "",
        **more,
    }


def test_admin_saves_a_policy_from_the_page_and_sees_errors_next_to_the_row(
    desk: dict[str, Any], login_client: Callable[..., JsonClient]
) -> None:
    client = login_client(desk["admin"])
    page = client.get("/sla/policies/new/")
    assert page.status_code == 200
    assert 'name="condition"' in page.content.decode()
    refused = client.post("/sla/policies/new/", _form(**{"target-0-minutes": "0"}))
    assert refused.status_code == 200
    assert "Enter a number from 1 to" in refused.content.decode()
    assert not Policy.objects.exists()
    saved = client.post("/sla/policies/new/", _form())
    assert saved.status_code == 302, saved.content.decode()[:2000]
    policy = Policy.objects.get()
    assert policy.condition_cel != "true"
    assert [(t.metric, t.minutes, t.warn_before_minutes) for t in policy.targets.all()] == [
        ("resolution", 240, 60)
    ]
    listing = client.get("/sla/policies/").content.decode()
    assert "Gold" in listing


def test_agents_get_no_policy_pages(
    desk: dict[str, Any], login_client: Callable[..., JsonClient]
) -> None:
    policy = make_policy(desk["admin"], business_lines=[desk["line_a"]])
    client = login_client(desk["insider"])
    assert client.get("/sla/policies/").status_code == 403
    assert client.get("/sla/policies/new/").status_code == 403
    assert client.get(f"/sla/policies/{policy.pk}/").status_code == 403
    assert client.post(f"/sla/policies/{policy.pk}/delete/").status_code == 403
    assert client.get("/sla/attainment/").status_code == 403
    assert Policy.objects.filter(pk=policy.pk).exists()


def test_badges_explanation_and_at_risk_show_the_clocks_inside_the_scope(
    desk: dict[str, Any],
    make_calendar: Callable[..., Calendar],
    make_ticket: Callable[..., Ticket],
    login_client: Callable[..., JsonClient],
) -> None:
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
        insider = login_client(desk["insider"])
        page = insider.get("/tickets/?view=my_teams").content.decode()
        loader = re.search(r'data-testid="sla-badges-loader" hx-get="([^"]+)"', page)
        assert loader is not None
        url = html.unescape(loader.group(1))
        inbox = insider.get(url).content.decode()
        outsider_badges = login_client(desk["outsider"]).get(url).content.decode()
        detail = insider.get(f"/tickets/{ticket.number}/").content.decode()
        at_risk = insider.get("/sla/at-risk/").content.decode()
        outsider_risk = login_client(desk["outsider"]).get("/sla/at-risk/").content.decode()
        attainment = login_client(desk["manager"]).get("/sla/attainment/").content.decode()
    # Resolution: amber, 45 business minutes left (due 10-08 12:30); first response: red.
    assert 'data-sla-condition="warning"' in inbox
    assert "Resolution 45 min left" in inbox
    assert 'data-sla-condition="breached"' in inbox
    assert "10-01…10-07 holiday (National Day)" in detail
    assert "Due 2026-10-08 09:30, not met by then." in detail
    assert f'id="sla-badges-{ticket.pk}"' in page
    assert f'id="sla-badges-{ticket.pk}" hx-swap-oob="true"' in inbox
    assert "data-sla-condition" not in outsider_badges
    assert ticket.number in at_risk
    assert at_risk.index("First response") < at_risk.index("Resolution")
    assert ticket.number not in outsider_risk
    assert "Holiday ticket" not in outsider_risk
    assert "First response" in attainment
    assert "0.0 %" in attainment


def test_the_sla_pages_have_no_inline_code(
    desk: dict[str, Any], login_client: Callable[..., JsonClient], manifest: Any
) -> None:
    policy = make_policy(desk["admin"])
    client = login_client(desk["admin"])
    for path in (
        "/sla/policies/",
        "/sla/policies/new/",
        f"/sla/policies/{policy.pk}/",
        "/sla/at-risk/",
        "/sla/attainment/",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        # Data for the condition builder (json_script) is not code: CSP does not run it.
        page = re.sub(
            r'<script id="[^"]*" type="application/json">.*?</script>',
            "",
            response.content.decode(),
            flags=re.S,
        )
        assert csp_problems(page) == [], path
