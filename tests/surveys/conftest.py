"""Fixtures for survey tests: the ticket desk, seeded templates, solving and reopening."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import TestCase
from django.utils import timezone

from aftersales.accounts.models import User
from aftersales.automation import services as automation
from aftersales.customers import services as customer_services
from aftersales.customers.models import CustomerTier
from aftersales.notifications import services as notifications
from aftersales.notifications.defaults import sync_default_templates
from aftersales.surveys import services
from aftersales.surveys.models import Survey
from aftersales.tickets import services as ticket_services
from aftersales.tickets.models import Ticket, TicketStatus
from tests.api.support import fast_hashing  # noqa: F401
from tests.tickets.conftest import (  # noqa: F401
    _fast_passwords,
    _media_in_tmp,
    desk,
    make_ticket,
    make_type,
)


@pytest.fixture(autouse=True)
def _seeded(admin_user: User) -> None:
    """A default tier and the default templates; a transactional test before this one may
    have flushed what the migrations seed."""
    if not CustomerTier.objects.filter(is_default=True).exists():
        customer_services.create_tier(
            actor=admin_user, key="normal", name_zh="普通", name_en="Normal", is_default=True
        )
    sync_default_templates()


@pytest.fixture
def settle() -> Callable[[Callable[[], Any]], Any]:
    """settle(lambda: change()) → its result, after the reactions to its commit ran."""

    def run(change: Callable[[], Any]) -> Any:
        with TestCase.captureOnCommitCallbacks(execute=True):
            return change()

    return run


def status(ticket: Ticket, key: str) -> TicketStatus:
    return TicketStatus.objects.get(ticket_type_id=ticket.ticket_type_id, key=key)


@pytest.fixture
def move(desk: dict[str, Any], settle: Callable[..., Any]) -> Callable[[Ticket, str], Ticket]:
    """move(ticket, "solved") → the ticket in that status (through "open" from "new"), with
    the reactions to each move run as after a real commit."""

    def run(ticket: Ticket, key: str) -> Ticket:
        ticket.refresh_from_db()
        if key == "solved" and ticket.status.key == "new":
            run(ticket, "open")
        changes: dict[str, Any] = {"status": status(ticket, key)}
        if key == "solved":
            changes["custom_fields"] = {"resolution_code": "fixed"}
        return settle(
            lambda: ticket_services.update_ticket(
                actor=desk["insider"], ticket=Ticket.objects.get(pk=ticket.pk), changes=changes
            )
        )

    return run


@pytest.fixture
def alice_mail(desk: dict[str, Any]) -> str:
    customer_services.add_identity(
        actor=desk["admin"], customer=desk["alice"], kind="email", value="alice@example.com"
    )
    return "alice@example.com"


@pytest.fixture
def sent_survey(
    make_ticket: Callable[..., Ticket], move: Callable[[Ticket, str], Ticket]
) -> Callable[..., Survey]:
    """sent_survey(**ticket_fields) → the sent survey of a freshly solved ticket."""

    def make(**fields: Any) -> Survey:
        ticket = make_ticket(**fields)
        move(ticket, "solved")
        survey = Survey.objects.get(ticket=ticket)
        # Due now rather than after the line's delay.
        Survey.objects.filter(pk=survey.pk).update(send_after=timezone.now())
        assert services.send_survey(survey_id=survey.pk)
        survey.refresh_from_db()
        return survey

    return make


@pytest.fixture
def low_rating_rule(desk: dict[str, Any], make_ticket: Callable[..., Ticket]) -> Any:
    """The rule "survey answered, satisfaction at most 2 → reopen and tell the team lead",
    saved by the administrator through the automation services."""
    lead = desk["colleague"]
    team = desk["team_a"]
    team.lead = lead
    team.save(update_fields=["lead"])
    template = notifications.create_template(
        actor=desk["admin"],
        key="low-rating",
        name="Low satisfaction rating",
        event="custom",
        audience="staff",
        content={
            "in_app": {
                "en": {"subject": "Low rating on {{ ticket.number }}", "body": "{{ reason }}"},
                "zh-hans": {"subject": "{{ ticket.number }} 差评", "body": "{{ reason }}"},
            }
        },
    )
    open_status = status(make_ticket(), "open")
    return automation.create_rule(
        actor=desk["admin"],
        values={
            "name": "Low rating reopens",
            "triggers": ["survey_answered"],
            "condition": {"all": [{"field": "ticket.satisfaction", "op": "lte", "value": 2}]},
            "actions": [
                {"type": "set_status", "status": open_status.pk},
                {"type": "notify", "audiences": ["team_lead"], "template": template.pk},
            ],
            "business_lines": [desk["line_a"].pk],
        },
    )
