"""``/api/v1/sla-policies`` and ``/api/v1/tickets/{id}/sla`` as an integrator and as agents
inside and outside a ticket's scope see them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest
import time_machine
from django.test import TestCase

from aftersales.audit.models import AuditEntry
from aftersales.sla.models import Calendar, Policy
from aftersales.tickets.models import Ticket
from tests.api.support import assert_problem, body_of
from tests.conftest import JsonClient
from tests.sla.timer_support import local, make_policy
from tests.tickets.conftest import _media_in_tmp, desk, make_ticket, make_type  # noqa: F401

T = TypeVar("T")
pytestmark = pytest.mark.django_db

URL = "/api/v1/sla-policies"
STANDARD = {
    "name": "Standard",
    "condition": {"all": [{"field": "ticket.priority", "op": "is", "value": "urgent"}]},
    "targets": [
        {"metric": "first_response", "minutes": 60, "warn_before_minutes": 15},
        {"metric": "resolution", "priority": 4, "minutes": 240},
        {"metric": "onsite_arrival", "minutes": 480, "business_time": False},
    ],
}


def test_admin_creates_reads_and_changes_a_policy_with_if_match(
    desk: dict[str, Any], login_client: Callable[..., JsonClient]
) -> None:
    client = login_client(desk["admin"])
    created = client.post_json(URL, {**STANDARD, "business_line_ids": [desk["line_a"].pk]})
    assert created.status_code == 201, created.content
    body = body_of(created)
    assert body["condition_cel"] != "true"
    assert {t["metric"] for t in body["targets"]} == {
        "first_response",
        "resolution",
        "onsite_arrival",
    }
    read = client.get(f"{URL}/{body['id']}")
    assert read["ETag"] == 'W/"1"'
    stale = client.patch_json(f"{URL}/{body['id']}", {"name": "Gold"}, HTTP_IF_MATCH='W/"0"')
    assert assert_problem(stale, 412)["code"] == "version_mismatch"
    assert Policy.objects.get().name == "Standard"
    changed = client.patch_json(
        f"{URL}/{body['id']}", {"name": "Gold", "pause_on_pending": False}, HTTP_IF_MATCH='W/"1"'
    )
    assert changed.status_code == 200, changed.content
    assert changed["ETag"] == 'W/"2"'
    assert body_of(changed)["pause_on_pending"] is False
    assert AuditEntry.objects.filter(object_type="sla.policy").count() == 2
    assert client.delete(f"{URL}/{body['id']}").status_code == 204
    assert not Policy.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"targets": [{"metric": "resolution", "minutes": 0}]}, "targets[0].minutes"),
        ({"targets": [{"metric": "Bad Key", "minutes": 5}]}, "targets[0].metric"),
        (
            {"targets": [{"metric": "resolution", "minutes": 60, "warn_before_minutes": 60}]},
            "targets[0].warn_before_minutes",
        ),
        (
            {"targets": [{"metric": "resolution", "minutes": 60}] * 2},
            "targets[1].priority",
        ),
        ({"condition": {"all": [{"field": "ticket.nothing", "op": "is", "value": 1}]}}, None),
    ],
)
def test_bad_policies_are_refused_next_to_the_field_and_nothing_is_saved(
    desk: dict[str, Any],
    login_client: Callable[..., JsonClient],
    change: dict[str, Any],
    field: str | None,
) -> None:
    client = login_client(desk["admin"])
    response = client.post_json(URL, {**STANDARD, **change})
    problem = assert_problem(response, 422)
    fields = [error.get("field", "") for error in problem.get("errors", [])] + [
        problem.get("field", "")
    ]
    if field is None:
        assert any(f.startswith("condition") for f in fields), problem
    else:
        assert field in fields, problem
    assert not Policy.objects.exists()
    assert not AuditEntry.objects.filter(object_type="sla.policy").exists()


def test_agents_may_not_manage_policies_and_see_none(
    desk: dict[str, Any], login_client: Callable[..., JsonClient]
) -> None:
    policy = make_policy(desk["admin"], business_lines=[desk["line_a"]])
    client = login_client(desk["insider"])
    assert_problem(client.get(URL), 403)
    assert_problem(client.post_json(URL, STANDARD), 403)
    assert_problem(client.get(f"{URL}/{policy.pk}"), 404)
    assert_problem(client.patch_json(f"{URL}/{policy.pk}", {"name": "Mine"}), 404)
    assert_problem(client.delete(f"{URL}/{policy.pk}"), 404)
    assert Policy.objects.get().name == "Standard"


def test_the_ticket_sla_endpoint_explains_each_due_time_inside_the_scope_only(
    desk: dict[str, Any],
    make_calendar: Callable[..., Calendar],
    make_ticket: Callable[..., Ticket],
    login_client: Callable[..., JsonClient],
) -> None:
    make_calendar(name="East office", business_line=desk["line_a"])
    make_policy(desk["admin"])
    with (
        time_machine.travel(local("2026-09-30 17:30"), tick=False),
        TestCase.captureOnCommitCallbacks(execute=True),
    ):
        ticket = make_ticket()
    with time_machine.travel(local("2026-10-08 11:00"), tick=False):
        response = login_client(desk["insider"]).get(f"/api/v1/tickets/{ticket.pk}/sla")
    assert response.status_code == 200, response.content
    body = body_of(response)
    assert body["policy"] == "Standard"
    resolution = next(t for t in body["targets"] if t["metric"] == "resolution")
    assert resolution["due_at"].startswith("2026-10-08T04:30")
    assert resolution["business_minutes_left"] == 90
    assert resolution["condition"] == "ok"
    assert "10-01…10-07 holiday (National Day)" in resolution["explanation"]
    assert body["history"][0]["reason"] == "created"
    first = next(t for t in body["targets"] if t["metric"] == "first_response")
    assert first["condition"] == "breached"
    outsider = login_client(desk["outsider"]).get(f"/api/v1/tickets/{ticket.pk}/sla")
    assert_problem(outsider, 404)


def test_a_calendar_a_policy_uses_cannot_be_deleted(
    desk: dict[str, Any],
    make_calendar: Callable[..., Calendar],
    login_client: Callable[..., JsonClient],
) -> None:
    calendar = make_calendar(name="East office", business_line=desk["line_a"])
    make_policy(desk["admin"], name="Gold", calendar=calendar)
    response = login_client(desk["admin"]).delete(f"/api/v1/calendars/{calendar.pk}")
    problem = assert_problem(response, 422)
    assert problem["code"] == "calendar_in_use"
    assert "Gold" in problem["detail"]
    assert Calendar.objects.filter(pk=calendar.pk).exists()
