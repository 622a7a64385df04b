"""In a real browser, an administrator configures the five examples of the rule-engine brief
on the rule and automation pages; each is then proven on real tickets:

1. VIP customer and category "payment failed" → priority urgent, assigned to the senior group.
2. Type "technical fault" → the technical support team.
3. Not accepted within 2 hours → the supervisor is reminded (with a frozen clock).
4. Status becomes "in progress" → the customer is told by e-mail (a real SMTP server).
5. Urgent repair in East China → the East China repair lead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from aftersales.accounts.models import BusinessLine, Team, User
from aftersales.automation import timed
from aftersales.automation.models import Automation, Rule
from aftersales.customers import services as customer_services
from aftersales.customers.models import CustomerTier
from aftersales.customfields import services as customfields
from aftersales.notifications import delivery
from aftersales.notifications.defaults import sync_default_templates
from aftersales.notifications.models import Notification
from aftersales.notifications.services import create_template
from aftersales.tickets import services as tickets
from aftersales.tickets.models import Ticket, TicketType, form_key_of
from tests.notifications.conftest import smtp, smtp_server  # noqa: F401
from tests.support.browser import sign_in

pytestmark = pytest.mark.e2e

TRIGGERS = (
    "created",
    "updated",
    "customer_replied",
    "agent_replied",
    "status_changed",
    "assigned",
    "sla_warning",
    "sla_breached",
    "survey_answered",
)


def _tier(admin: User, key: str, name: str, *, is_default: bool = False) -> CustomerTier:
    # A transactional test before this one may have flushed the tiers the migrations seed.
    existing = CustomerTier.objects.filter(key=key).first()
    if existing is not None:
        return existing
    return customer_services.create_tier(
        actor=admin, key=key, name_zh=name, name_en=name, is_default=is_default
    )


def _choice_field(
    admin: User, ticket_type: TicketType, key: str, label: str, options: list[tuple[str, str]]
) -> None:
    customfields.create_definition(
        actor=admin,
        target="tickets.ticket",
        subtarget=form_key_of(ticket_type.pk),
        key=key,
        field_type="single_choice",
        label_zh=label,
        label_en=label,
        config={"options": [{"key": k, "label_zh": v, "label_en": v} for k, v in options]},
    )


def _desk(
    admin: User,
    make_line: Callable[..., BusinessLine],
    make_team: Callable[..., Team],
    make_user: Callable[..., User],
) -> dict[str, Any]:
    _tier(admin, "normal", "Normal", is_default=True)
    vip = _tier(admin, "vip", "VIP")
    sync_default_templates()
    line = make_line(code="home", name="Home appliances")
    supervisor = make_user(
        "supervisor", role="service-manager", scope="all", display_name="Zhou Min"
    )
    lead = make_user("east-lead", role="agent", scope="all", display_name="Wang Lei")
    agent = make_user("agent", role="agent", scope="all", display_name="Li Na")
    hotline = make_team(name="Hotline", line=line, members=[agent], lead=supervisor)
    make_team(name="Senior group", line=line)
    make_team(name="Technical support", line=line)
    make_team(name="East China repair", line=line, members=[lead], lead=lead)
    repair = tickets.create_ticket_type(
        actor=admin, business_line=line, key="repair", name_zh="维修", name_en="Repair"
    )
    technical = tickets.create_ticket_type(
        actor=admin,
        business_line=line,
        key="technical",
        name_zh="技术故障",
        name_en="Technical fault",
    )
    _choice_field(
        admin,
        repair,
        "category",
        "Category",
        [("payment_failed", "Payment failed"), ("noise", "Noise")],
    )
    _choice_field(
        admin,
        repair,
        "region",
        "Region",
        [("east_china", "East China"), ("north_china", "North China")],
    )
    create_template(
        actor=admin,
        key="not-accepted",
        name="Not accepted in time",
        event="custom",
        audience="staff",
        content={
            "in_app": {
                "en": {
                    "subject": "{{ ticket.number }} waits",
                    "body": "Nobody accepted {{ ticket.number }} in 2 hours.",
                },
                "zh-hans": {
                    "subject": "{{ ticket.number }} 待受理",
                    "body": "{{ ticket.number }} 两小时未受理。",
                },
            }
        },
    )
    carol = customer_services.create_customer(
        actor=admin, name="Carol", business_line=line, tier=vip
    )
    dan = customer_services.create_customer(
        actor=admin, name="Dan", business_line=line, identities=[("email", "dan@example.com")]
    )
    return {
        "line": line,
        "repair": repair,
        "technical": technical,
        "hotline": hotline,
        "supervisor": supervisor,
        "lead": lead,
        "agent": agent,
        "carol": carol,
        "dan": dan,
    }


# --- Driving the pages ----------------------------------------------------------------------------


def _row(page: Any, path: str) -> Any:
    return page.locator(f"[data-path='{path}']")


def _leaf(
    page: Any,
    path: str,
    field: str,
    operator: str,
    *,
    label: str | None = None,
    text: str | None = None,
) -> None:
    group_path = path.rsplit(".", 2)[0]
    page.locator(f"[data-group-path='{group_path}']").get_by_test_id("add-condition").last.click()
    row = _row(page, path)
    row.get_by_test_id("condition-field").select_option(field)
    row.get_by_test_id("condition-operator").select_option(operator)
    value = row.get_by_test_id("condition-value")
    if label is not None:
        value.select_option(label=label)
    if text is not None:
        value.fill(text)


def _settled(page: Any, action: Callable[[], Any]) -> None:
    """Do ``action`` and wait until htmx has swapped in and set up what it asked for."""
    page.evaluate(
        """() => {
            window.settled = false;
            document.addEventListener("htmx:afterSettle", () => { window.settled = true; },
                                      { once: true });
        }"""
    )
    action()
    page.wait_for_function("() => window.settled === true")


def _action(page: Any, index: int, kind: str, **params: Any) -> None:
    if index > 0:
        _settled(page, lambda: page.get_by_test_id("add-action").click())
    select = page.locator(f"#action-{index}").get_by_test_id("action-type")
    _settled(page, lambda: select.select_option(kind))
    row = page.locator(f"#action-{index}")
    for name, value in params.items():
        if name == "audiences":
            for audience in value:
                row.get_by_test_id(f"audience-{audience}").check()
        elif name == "tags":
            row.get_by_test_id("action-tags").fill(value)
        elif name == "priority":
            row.get_by_test_id("action-priority").select_option(value)
        else:
            row.get_by_test_id(f"action-{name}").select_option(label=value)


def _triggers(page: Any, wanted: tuple[str, ...]) -> None:
    for trigger in TRIGGERS:
        page.locator(f"input[name=triggers][value={trigger}]").set_checked(trigger in wanted)


def _save(page: Any) -> None:
    page.get_by_test_id("save").click()
    page.wait_for_selector("[data-testid=saved]")


def _new_rule(page: Any, base: str, name: str, triggers: tuple[str, ...]) -> None:
    page.goto(f"{base}/settings/automation/rules/new/")
    page.locator("#id_name").fill(name)
    _triggers(page, triggers)


def _configure(page: Any, base: str, desk: dict[str, Any]) -> None:
    # 1. VIP + payment failed → urgent, senior group.
    _new_rule(page, base, "VIP payment failed", ("created",))
    _leaf(page, "condition.all.0", "customer.tier", "is", label="VIP")
    _leaf(page, "condition.all.1", "ticket.cf.category", "is", label="Payment failed")
    _action(page, 0, "set_priority", priority="urgent")
    _action(page, 1, "assign_team", team="Senior group")
    _save(page)
    # 2. Technical fault → technical support.
    _new_rule(page, base, "Technical faults to technical support", ("created",))
    _leaf(page, "condition.all.0", "ticket.type", "is", label="Technical fault")
    _action(page, 0, "assign_team", team="Technical support")
    _save(page)
    # 3. Not accepted within 2 hours → remind the supervisor (the team lead).
    page.goto(f"{base}/settings/automation/automations/new/")
    page.locator("#id_name").fill("Remind the supervisor")
    page.locator("#id_clock").select_option("created_at")
    page.locator("#id_hours").fill("2")
    _action(page, 0, "notify", audiences=["team_lead"], template="Not accepted in time")
    _save(page)
    # 4. Status becomes "in progress" → tell the customer by e-mail.
    _new_rule(page, base, "Tell the customer work started", ("status_changed",))
    _leaf(page, "condition.all.0", "ticket.status", "changed_to", label="Repair · Open")
    _action(page, 0, "notify", audiences=["requester"], template="Status changed (customer)")
    _save(page)
    # 5. Urgent repair in East China → the East China repair lead.
    _new_rule(page, base, "Urgent East China repairs", ("created", "updated"))
    _leaf(page, "condition.all.0", "ticket.priority", "is", label="Urgent")
    _leaf(page, "condition.all.1", "ticket.cf.region", "is", label="East China")
    _action(page, 0, "assign_team", team="East China repair")
    _action(page, 1, "assign_user", user="Wang Lei")
    _save(page)


def test_the_five_examples_are_configured_in_the_browser_and_work(
    live_server: Any,
    transactional_db: None,
    admin_user: User,
    make_line: Callable[..., BusinessLine],
    make_team: Callable[..., Team],
    make_user: Callable[..., User],
    browser_page: Any,
    smtp: Any,
) -> None:
    # given
    desk = _desk(admin_user, make_line, make_team, make_user)
    page, log = browser_page(locale="en-US")
    sign_in(page, live_server.url, admin_user.username)

    # when: the administrator configures the five examples on the pages
    _configure(page, live_server.url, desk)

    # then: they are stored as rules and an automation
    assert sorted(Rule.objects.values_list("name", flat=True)) == [
        "Technical faults to technical support",
        "Tell the customer work started",
        "Urgent East China repairs",
        "VIP payment failed",
    ]
    reminder = Automation.objects.get()
    agent = desk["agent"]

    def open_ticket(**values: Any) -> Ticket:
        fields = {
            "actor": agent,
            "ticket_type": desk["repair"],
            "requester": desk["dan"],
            "team": desk["hotline"],
            "subject": "Machine broken",
            **values,
        }
        ticket = tickets.create_ticket(**fields)
        ticket.refresh_from_db()
        return ticket

    # 1.
    vip = open_ticket(
        requester=desk["carol"], subject="付款失败", custom_fields={"category": "payment_failed"}
    )
    assert (vip.priority, vip.team.name) == (Ticket.Priority.URGENT, "Senior group")
    plain = open_ticket(custom_fields={"category": "payment_failed"})
    assert (plain.priority, plain.team.name) == (Ticket.Priority.NORMAL, "Hotline")
    # 2.
    fault = open_ticket(ticket_type=desk["technical"], team=None)
    assert fault.team.name == "Technical support"
    # 5.
    east = open_ticket(priority=Ticket.Priority.URGENT, custom_fields={"region": "east_china"})
    assert (east.team.name, east.assignee) == ("East China repair", desk["lead"])
    north = open_ticket(priority=Ticket.Priority.URGENT, custom_fields={"region": "north_china"})
    assert north.assignee is None
    # 4.
    tickets.update_ticket(
        actor=agent, ticket=plain, changes={"status": plain.ticket_type.statuses.get(key="open")}
    )
    delivery.send_due()
    mails = [m for m in smtp.messages if "dan@example.com" in m["To"]]
    # Dan has no language of his own: the installation's (Chinese) is used.
    subjects = [str(m["Subject"]) for m in mails]
    assert any(f"[{plain.number}]" in s and "处理中" in s for s in subjects), subjects
    # 3. (frozen clock)
    start = timezone.now() - timedelta(hours=3)
    with time_machine.travel(start, tick=False):
        waiting = open_ticket(subject="Nobody took this")
    with time_machine.travel(start + timedelta(hours=1, minutes=59), tick=False):
        timed.sweep(Automation.objects.get(pk=reminder.pk))
    assert not Notification.objects.filter(
        ticket=waiting, recipient_user=desk["supervisor"]
    ).exists()
    with time_machine.travel(start + timedelta(hours=2, minutes=1), tick=False):
        timed.sweep(Automation.objects.get(pk=reminder.pk))
        timed.sweep(Automation.objects.get(pk=reminder.pk))
    reminders = Notification.objects.filter(ticket=waiting, recipient_user=desk["supervisor"])
    assert reminders.count() == 1

    # and the ticket page says which rule did it
    page.goto(f"{live_server.url}/tickets/{vip.number}/")
    page.wait_for_selector("[data-testid=automation-log]")
    text = page.get_by_test_id("automation-log").inner_text()
    assert "VIP payment failed" in text
    assert "Senior group" in text
    assert log.csp_violations() == []
    assert log.errors() == []
