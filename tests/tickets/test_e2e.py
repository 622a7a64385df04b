"""In a real browser: the lifecycle page, and trying a guard on a sample with htmx."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aftersales.accounts.models import User
from aftersales.tickets.models import TicketType
from tests.support.browser import sign_in

pytestmark = pytest.mark.e2e


def test_trying_a_guard_on_a_sample_shows_the_outcome_without_saving(
    live_server: Any,
    transactional_db: None,
    admin_user: User,
    make_type: Callable[..., TicketType],
    browser_page: Any,
    tmp_path: Any,
) -> None:
    # given
    ticket_type = make_type(name_en="Repair")
    page, log = browser_page(locale="en-US")
    sign_in(page, live_server.url, admin_user.username)
    page.goto(f"{live_server.url}/tickets/settings/types/{ticket_type.pk}/")
    page.screenshot(path=str(tmp_path / "lifecycle.png"), full_page=True)
    lifecycle_ticks = page.get_by_test_id("matrix").locator("a").count()
    page.get_by_role("link", name="New transition").click()
    # when
    page.locator("#id_guard").fill("ticket.tier == 'vip' && ticket.custom_fields.model == 'P9'")
    page.locator("#id_sample_tier").fill("vip")
    page.locator("#id_sample_custom_fields").fill('{"model": "P9"}')
    page.get_by_test_id("guard-test").click()
    page.wait_for_selector("#guard-result[data-outcome=true]")
    allowed = page.locator("#guard-result").inner_text()
    page.locator("#id_sample_tier").fill("normal")
    page.get_by_test_id("guard-test").click()
    page.wait_for_selector("#guard-result[data-outcome=false]")
    page.screenshot(path=str(tmp_path / "transition.png"), full_page=True)
    # then
    assert lifecycle_ticks == 8
    assert allowed.strip() == "True: the move would be allowed."
    assert ticket_type.transitions.count() == 8
    assert log.csp_violations() == []
    assert log.errors() == []
