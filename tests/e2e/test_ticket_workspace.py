"""In a real browser, the Done-means of the ticket workspace (issue #3):

An administrator creates a ticket type with a cascading choice and a field that only appears
when another field has a given value; an agent creates a ticket of that type; the conditional
field appears only when it should; required fields block a status change with the field named.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aftersales.accounts.models import BusinessLine, Team, User
from aftersales.customers import services as customer_services
from aftersales.customers.models import CustomerTier
from aftersales.tickets import services
from aftersales.tickets.models import Ticket, TicketType
from tests.support.browser import after_htmx_swap, sign_in

pytestmark = pytest.mark.e2e

PRODUCTS = """washer|洗衣机|Washing machine
  e3|E3 不排水|E3 does not drain
  noise|噪音大|Loud noise
aircon|空调|Air conditioner
  cold|不制冷|Not cooling"""


def _screenshot(page: Any, folder: Path, name: str) -> None:
    # caret="initial": hiding the caret would inject a style element, which the CSP refuses.
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True, caret="initial")


def _add_field(page: Any, type_url: str, field_type: str, values: dict[str, str]) -> None:
    """From the type's page: Add a field → choose its type → fill in → save."""
    page.goto(type_url)
    page.get_by_test_id("add-form-field").click()
    page.get_by_test_id(f"type-{field_type}").click()
    for selector, value in values.items():
        element = page.locator(selector)
        if element.evaluate("e => e.tagName") == "SELECT":
            element.select_option(value)
        elif element.get_attribute("type") == "checkbox":
            element.check()
        else:
            element.fill(value)
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector(".message-success")


def _administrator_builds_the_type(page: Any, base_url: str, line: BusinessLine) -> str:
    page.goto(f"{base_url}/tickets/settings/types/new/")
    page.locator("#id_business_line").select_option(str(line.pk))
    page.locator("#id_key").fill("appliance")
    page.locator("#id_name_zh").fill("家电维修")
    page.locator("#id_name_en").fill("Appliance repair")
    page.locator("#id_number_prefix").fill("APL")
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector("text=has been created with the default lifecycle")
    type_url = page.url
    _add_field(
        page,
        type_url,
        "cascade",
        {
            "#id_key": "product",
            "#id_label_zh": "产品与故障",
            "#id_label_en": "Product and fault",
            "#id_config_options": PRODUCTS,
            "#id_is_required": "on",
        },
    )
    _add_field(
        page,
        type_url,
        "single_choice",
        {
            "#id_key": "kind",
            "#id_label_zh": "类别",
            "#id_label_en": "Kind",
            "#id_config_options": "repair|维修|Repair\nrefund|退款|Refund",
        },
    )
    _add_field(
        page,
        type_url,
        "text",
        {
            "#id_key": "refund_reason",
            "#id_label_zh": "退款原因",
            "#id_label_en": "Refund reason",
            "#id_is_required": "on",
            "#id_condition_field": "kind",
            "#id_condition_op": "equals",
            "#id_condition_value": "refund",
        },
    )
    # The default lifecycle's "Solve" asks for resolution_code: give it a field to fill.
    _add_field(
        page,
        type_url,
        "single_choice",
        {
            "#id_key": "resolution_code",
            "#id_label_zh": "解决方式",
            "#id_label_en": "Resolution code",
            "#id_config_options": "fixed|已修复|Fixed\nreplaced|已更换|Replaced",
        },
    )
    page.goto(type_url)
    return str(page.locator("#form-fields").inner_text())


def test_administrator_builds_a_type_and_an_agent_files_and_solves_a_ticket(
    live_server: Any,
    transactional_db: None,
    admin_user: User,
    make_line: Callable[..., BusinessLine],
    make_team: Callable[..., Team],
    make_user: Callable[..., User],
    browser_page: Any,
    tmp_path: Path,
) -> None:
    # given
    if not CustomerTier.objects.filter(is_default=True).exists():
        # A transactional test before this one flushed the tiers the migrations seed.
        customer_services.create_tier(
            actor=admin_user, key="normal", name_zh="普通客户", name_en="Normal", is_default=True
        )
    line = make_line(code="home", name="Home appliances")
    team = make_team(name="Hotline", line=line)
    make_user("mei", role="agent", scope="teams", teams=[team], display_name="Mei")
    customer_services.create_customer(
        actor=admin_user, name="Liu Yang", business_line=line, team=team
    )
    admin, admin_log = browser_page(locale="en-US")
    agent, agent_log = browser_page(locale="en-US", viewport={"width": 1400, "height": 900})

    # when: the administrator builds the type and its form in the settings pages
    sign_in(admin, live_server.url, admin_user.username)
    form_fields = _administrator_builds_the_type(admin, live_server.url, line)
    _screenshot(admin, tmp_path, "workspace-type")

    # and: the agent files a ticket of that type
    sign_in(agent, live_server.url, "mei")
    agent.get_by_role("navigation", name="Main navigation").get_by_role(
        "link", name="Tickets"
    ).click()
    agent.get_by_role("link", name="New ticket").click()
    after_htmx_swap(
        agent,
        lambda: agent.locator("#id_ticket_type").select_option(
            label="Appliance repair · Home appliances"
        ),
    )
    agent.wait_for_selector("#id_cf_product__0")
    fields_heading = agent.get_by_test_id("type-fields").locator("h2").inner_text()
    reason = agent.locator("#id_cf_refund_reason")
    hidden_at_first = reason.count()
    agent.locator("#requester-search").fill("Liu")
    agent.get_by_label("Liu Yang").check()
    agent.locator("#id_subject").fill("Washer stops with E3")
    agent.locator("#id_description").fill("Water stays in the drum.")
    after_htmx_swap(agent, lambda: agent.locator("#id_cf_product__0").select_option("washer"))
    second_level = [o.strip() for o in agent.locator("#id_cf_product__1 option").all_inner_texts()]
    after_htmx_swap(agent, lambda: agent.locator("#id_cf_product__1").select_option("e3"))
    after_htmx_swap(agent, lambda: agent.locator("#id_cf_kind").select_option("repair"))
    hidden_for_repair = reason.count()
    after_htmx_swap(agent, lambda: agent.locator("#id_cf_kind").select_option("refund"))
    shown_for_refund = reason.is_visible()
    after_htmx_swap(agent, lambda: agent.locator("#id_cf_kind").select_option("repair"))
    hidden_again = reason.count()
    after_htmx_swap(agent, lambda: agent.locator("#id_cf_kind").select_option("refund"))
    reason.fill("Second failure within a month")
    _screenshot(agent, tmp_path, "workspace-new-ticket")
    agent.get_by_role("button", name="Create ticket").click()
    agent.wait_for_selector("text=has been created")
    ticket = Ticket.objects.get(subject="Washer stops with E3")
    values = agent.get_by_test_id("custom-values").inner_text()

    # and: the agent starts work, then tries to solve without the resolution code
    status = agent.locator("#id_status")
    after_htmx_swap(agent, lambda: status.select_option(label="→ Start work"))
    agent.get_by_test_id("properties").get_by_role("button", name="Save").click()
    agent.wait_for_selector("[data-testid=status] >> text=Open")
    after_htmx_swap(agent, lambda: status.select_option(label="→ Solve"))
    needed_text = agent.get_by_test_id("needed").inner_text()
    agent.get_by_test_id("properties").get_by_role("button", name="Save").click()
    error = agent.locator("#properties .has-error .field-errors")
    error.wait_for()
    error_text = error.inner_text()
    error_label = agent.locator("#properties .has-error label").inner_text()
    status_when_refused = agent.get_by_test_id("status").inner_text()
    _screenshot(agent, tmp_path, "workspace-ticket")
    after_htmx_swap(agent, lambda: agent.locator("#id_cf_resolution_code").select_option("fixed"))
    agent.get_by_test_id("properties").get_by_role("button", name="Save").click()
    agent.wait_for_selector("[data-testid=status] >> text=Solved")

    # then
    assert "Product and fault *" in form_fields
    assert "Refund reason *" in form_fields
    assert hidden_at_first == 0
    assert fields_heading == "Details for Appliance repair"
    assert second_level == ["—", "E3 does not drain", "Loud noise"]
    assert (hidden_for_repair, shown_for_refund, hidden_again) == (0, True, 0)
    assert "Washing machine / E3 does not drain" in values
    assert "Second failure within a month" in values
    assert ticket.ticket_type == TicketType.objects.get(key="appliance")
    assert needed_text == "To move to Solved, fill in: Resolution code."
    assert error_label.startswith("Resolution code")
    assert error_text == "Fill in Resolution code to move to Solved."
    assert status_when_refused == "Open"
    ticket.refresh_from_db()
    assert ticket.status_category == "solved"
    assert ticket.custom_fields == {
        "product": ["washer", "e3"],
        "kind": "refund",
        "refund_reason": "Second failure within a month",
        "resolution_code": "fixed",
    }
    assert admin_log.csp_violations() == []
    assert agent_log.csp_violations() == []
    assert admin_log.errors() == []
    # The refused save answers 422 with the form, which the console reports; nothing else.
    assert agent_log.errors() == [
        "error: Failed to load resource: the server responded with a status of 422 "
        "(Unprocessable Entity)"
    ]


def test_the_inbox_works_from_the_keyboard(
    live_server: Any,
    transactional_db: None,
    admin_user: User,
    make_line: Callable[..., BusinessLine],
    make_team: Callable[..., Team],
    make_user: Callable[..., User],
    browser_page: Any,
) -> None:
    """j/k move, x ticks (the bulk bar counts it), ? shows the help, / goes to the search,
    o opens the ticket, n turns the box into an internal note."""
    # given
    if not CustomerTier.objects.filter(is_default=True).exists():
        customer_services.create_tier(
            actor=admin_user, key="normal", name_zh="普通客户", name_en="Normal", is_default=True
        )
    line = make_line(code="home", name="Home appliances")
    team = make_team(name="Hotline", line=line)
    make_user("mei", role="agent", scope="teams", teams=[team], display_name="Mei")
    ticket_type = services.create_ticket_type(
        actor=admin_user, business_line=line, key="repair", name_zh="维修", name_en="Repair"
    )
    customer = customer_services.create_customer(
        actor=admin_user, name="Liu Yang", business_line=line, team=team
    )
    older, newer = (
        services.create_ticket(
            actor=admin_user,
            ticket_type=ticket_type,
            requester=customer,
            subject=subject,
            team=team,
        )
        for subject in ("Drum noisy", "Door seal leaks")
    )
    page, log = browser_page(locale="en-US")
    sign_in(page, live_server.url, "mei")
    page.goto(f"{live_server.url}/tickets/?view=my_teams")
    # when
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    current = page.locator("tr.is-current").get_attribute("data-ticket")
    page.keyboard.press("x")
    count = page.locator("[data-selected-count]").inner_text()
    page.keyboard.press("?")
    help_open = page.locator("#shortcut-help").is_visible()
    page.keyboard.press("Escape")
    page.keyboard.press("/")
    focused = page.evaluate("document.activeElement.name")
    page.keyboard.press("Escape")
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("o")
    page.wait_for_url(f"{live_server.url}/tickets/{newer.number}/")
    page.keyboard.press("n")
    kind = page.locator("input[name=visibility]:checked").get_attribute("value")
    typing_in = page.evaluate("document.activeElement.name")
    # then
    assert older.pk != newer.pk
    assert current == str(newer.pk)
    assert count == "1 selected"
    assert help_open is True
    assert focused == "q"
    assert (kind, typing_in) == ("internal", "body")
    assert log.csp_violations() == []
    assert log.errors() == []
