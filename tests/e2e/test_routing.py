"""In a real browser: an agent of a queue-mode team steps away and back with the header's
availability switch, then presses Get next in the inbox and lands on the most urgent waiting
ticket; all under the CSP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aftersales.accounts.models import BusinessLine, Team, User
from aftersales.customers import services as customer_services
from aftersales.customers.models import CustomerTier
from aftersales.routing import services as routing
from aftersales.routing.models import AgentProfile
from aftersales.tickets import services as tickets
from aftersales.tickets.models import Ticket
from tests.support.browser import sign_in

pytestmark = pytest.mark.e2e


def _queue(admin: User, line: BusinessLine, team: Team) -> Ticket:
    """Two tickets waiting in the team's queue; returns the urgent one."""
    if not CustomerTier.objects.filter(is_default=True).exists():
        customer_services.create_tier(
            actor=admin, key="normal", name_zh="普通", name_en="Normal", is_default=True
        )
    routing.update_team_routing(actor=admin, team=team, changes={"queue_mode": True})
    repair = tickets.create_ticket_type(
        actor=admin, business_line=line, key="repair", name_zh="维修", name_en="Repair"
    )
    carol = customer_services.create_customer(actor=admin, name="Carol", business_line=line)
    made = [
        tickets.create_ticket(
            actor=admin, ticket_type=repair, requester=carol, team=team, subject=subject,
            priority=priority,
        )
        for subject, priority in (("洗衣机不排水", "normal"), ("冰箱不制冷", "urgent"))
    ]  # fmt: skip
    return made[1]


def test_agent_switches_availability_and_gets_the_next_ticket(
    live_server: Any,
    transactional_db: None,
    admin_user: User,
    make_line: Callable[..., BusinessLine],
    make_team: Callable[..., Team],
    make_user: Callable[..., User],
    browser_page: Any,
) -> None:
    # given
    line = make_line(code="home", name="Home appliances")
    team = make_team(name="Hotline", line=line)
    agent = make_user("li-lei", role="agent", scope="teams", teams=[team], display_name="Li Lei")
    urgent = _queue(admin_user, line, team)
    page, log = browser_page(locale="en-US")
    sign_in(page, live_server.url, agent.username)
    page.goto(f"{live_server.url}/tickets/")
    switch = page.get_by_test_id("availability")

    # when: away, then online again
    switch.locator("summary").click()
    switch.get_by_role("button", name="Away").click()
    page.wait_for_load_state()
    away = page.get_by_test_id("availability").locator("summary").inner_text()
    assert AgentProfile.objects.get(user=agent).availability == "away"
    page.get_by_test_id("availability").locator("summary").click()
    page.get_by_test_id("availability").get_by_role("button", name="Online").click()
    page.wait_for_load_state()
    # … and Get next
    page.get_by_test_id("get-next").get_by_role("button", name="Get next").click()
    page.wait_for_url(f"{live_server.url}/tickets/{urgent.number}/")

    # then
    assert away == "Away"
    assert page.get_by_test_id("availability").locator("summary").inner_text() == "Online"
    assert urgent.number in page.content()
    urgent.refresh_from_db()
    assert urgent.assignee_id == agent.pk
    assert log.csp_violations() == []
