"""In a real browser: an administrator builds "customer tier is VIP and (fault is Payment
failed or subject contains any of 支付, 付款)" on the Try a condition page, sees which leaves
match a ticket, and sees an invalid value refused next to its row; all under the CSP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aftersales.accounts.models import BusinessLine, Team, User
from aftersales.customers import services as customer_services
from aftersales.customers.models import CustomerTier
from aftersales.customfields import services as customfields
from aftersales.tickets import services as tickets
from aftersales.tickets.models import Ticket, form_key_of
from tests.support.browser import sign_in

pytestmark = pytest.mark.e2e


def _tier(admin: User, key: str, name: str, *, is_default: bool = False) -> CustomerTier:
    # A transactional test before this one may have flushed the tiers the migrations seed.
    existing = CustomerTier.objects.filter(key=key).first()
    if existing is not None:
        return existing
    return customer_services.create_tier(
        actor=admin, key=key, name_zh=name, name_en=name, is_default=is_default
    )


def _desk(
    admin: User, make_line: Callable[..., BusinessLine], make_team: Callable[..., Team]
) -> Ticket:
    _tier(admin, "normal", "Normal", is_default=True)
    vip = _tier(admin, "vip", "VIP")
    line = make_line(code="home", name="Home appliances")
    team = make_team(name="Hotline", line=line)
    repair = tickets.create_ticket_type(
        actor=admin, business_line=line, key="repair", name_zh="维修", name_en="Repair"
    )
    customfields.create_definition(
        actor=admin,
        target="tickets.ticket",
        subtarget=form_key_of(repair.pk),
        key="fault",
        field_type="single_choice",
        label_zh="故障",
        label_en="Fault",
        config={
            "options": [
                {"key": "payment_failed", "label_zh": "支付失败", "label_en": "Payment failed"},
                {"key": "other", "label_zh": "其他", "label_en": "Other"},
            ]
        },
    )
    carol = customer_services.create_customer(
        actor=admin, name="Carol", business_line=line, tier=vip
    )
    return tickets.create_ticket(
        actor=admin,
        ticket_type=repair,
        requester=carol,
        team=team,
        subject="扫码付款后没有反应",
        custom_fields={"fault": "other"},
    )


def _row(page: Any, path: str) -> Any:
    return page.locator(f"[data-path='{path}']")


def _choose(row: Any, field: str, operator: str | None = None) -> None:
    row.get_by_test_id("condition-field").select_option(field)
    if operator is not None:
        row.get_by_test_id("condition-operator").select_option(operator)


def test_administrator_builds_and_tries_a_condition(
    live_server: Any,
    transactional_db: None,
    admin_user: User,
    make_line: Callable[..., BusinessLine],
    make_team: Callable[..., Team],
    browser_page: Any,
) -> None:
    # given
    ticket = _desk(admin_user, make_line, make_team)
    page, log = browser_page(locale="en-US")
    sign_in(page, live_server.url, admin_user.username)
    page.goto(f"{live_server.url}/settings/conditions/try/?ticket={ticket.number}")
    root = page.locator("[data-group-path='condition']")

    # when: customer tier is VIP …
    root.get_by_test_id("add-condition").last.click()
    _choose(_row(page, "condition.all.0"), "customer.tier", "is")
    _row(page, "condition.all.0").get_by_test_id("condition-value").select_option(label="VIP")
    # … and any of (fault is Payment failed, subject contains any of 支付, 付款)
    root.get_by_test_id("add-group").last.click()
    group = page.locator("[data-group-path='condition.all.1']")
    expect_kind = group.get_by_test_id("group-kind").first
    assert expect_kind.input_value() == "any"
    _choose(_row(page, "condition.all.1.any.0"), "ticket.cf.fault", "is")
    _row(page, "condition.all.1.any.0").get_by_test_id("condition-value").select_option(
        label="Payment failed"
    )
    group.get_by_test_id("add-condition").last.click()
    _choose(_row(page, "condition.all.1.any.1"), "ticket.subject", "contains_any_words")
    _row(page, "condition.all.1.any.1").get_by_test_id("condition-value").fill("支付，付款")
    # the generated expression, on request
    page.get_by_test_id("condition-expression").locator("summary").click()
    with page.expect_response(lambda r: r.url.endswith("/api/v1/conditions/check")) as answer:
        page.locator("[data-builder-check]").click()
    assert answer.value.status == 200
    page.wait_for_function(
        "() => document.querySelector('[data-builder-cel]').textContent.includes('vip')"
    )
    page.get_by_test_id("try-submit").click()
    page.wait_for_selector("[data-testid='try-leaves']")

    # then: the tier and the words match, the fault does not; the condition holds
    leaves = {
        row.get_attribute("data-path"): row.get_attribute("data-matched")
        for row in page.locator("[data-testid='try-leaves'] tbody tr").all()
    }
    assert leaves == {
        "condition.all.0": "true",
        "condition.all.1.any.0": "false",
        "condition.all.1.any.1": "true",
    }
    assert "holds" in page.get_by_test_id("try-verdict").inner_text()
    cel = page.get_by_test_id("try-cel").inner_text()
    assert 'customer.tier == "vip"' in cel
    assert 'contains("支付")' in cel
    # the builder came back with the condition as it was built
    assert _row(page, "condition.all.1.any.1").get_by_test_id("condition-value").input_value() == (
        "支付, 付款"
    )

    # when: the words are emptied and the condition tried again
    _row(page, "condition.all.1.any.1").get_by_test_id("condition-value").fill("")
    page.get_by_test_id("try-submit").click()
    page.wait_for_selector("[data-testid='try-invalid']")

    # then: the error sits next to that row, and no leaf results are shown
    error = page.locator(".cb-row-wrap:has([data-path='condition.all.1.any.1']) .field-errors")
    assert error.inner_text() == "Choose at least one value."
    assert page.locator("[data-testid='try-leaves']").count() == 0
    assert log.csp_violations() == []
    assert log.errors() == []


def test_the_builder_is_usable_from_the_keyboard(
    live_server: Any,
    transactional_db: None,
    admin_user: User,
    make_line: Callable[..., BusinessLine],
    make_team: Callable[..., Team],
    browser_page: Any,
) -> None:
    """Add a condition with Enter, move with Tab, choose with the arrow keys."""
    # given
    ticket = _desk(admin_user, make_line, make_team)
    page, log = browser_page(locale="en-US")
    sign_in(page, live_server.url, admin_user.username)
    page.goto(f"{live_server.url}/settings/conditions/try/?ticket={ticket.number}")

    # when
    page.get_by_test_id("add-condition").first.focus()
    page.keyboard.press("Enter")
    field = _row(page, "condition.all.0").get_by_test_id("condition-field")
    assert field.evaluate("element => element === document.activeElement")
    field.select_option("ticket.priority")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    value = _row(page, "condition.all.0").get_by_test_id("condition-value")
    assert value.evaluate("element => element === document.activeElement")
    value.select_option(label="High")
    page.get_by_test_id("try-submit").click()
    page.wait_for_selector("[data-testid='try-leaves']")

    # then
    row = page.locator("[data-testid='try-leaves'] tbody tr")
    assert row.get_attribute("data-matched") == "false"
    assert "ticket.priority" in page.get_by_test_id("try-cel").inner_text()
    assert log.csp_violations() == []
