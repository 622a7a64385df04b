"""An SLA badge counts down in the browser, turns amber at the warning and red when late,
without reloading the page (frontend/sla.js)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aftersales.customers import services as customer_services
from aftersales.customers.models import CustomerTier
from aftersales.sla import services as sla_services
from aftersales.sla import timers
from aftersales.tickets.models import Ticket
from tests.sla.timer_support import make_policy
from tests.support.browser import sign_in
from tests.tickets.conftest import _media_in_tmp, desk, make_ticket, make_type  # noqa: F401

pytestmark = pytest.mark.e2e


@pytest.fixture
def default_tier(admin_user: Any) -> None:
    if not CustomerTier.objects.filter(is_default=True).exists():
        # A transactional test before this one flushed the tiers the migrations seed.
        customer_services.create_tier(
            actor=admin_user, key="normal", name_zh="普通客户", name_en="Normal", is_default=True
        )


def _words(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    if hours and rest:
        return f"{hours} h {rest} min"
    return f"{hours} h" if hours else f"{rest} min"


def test_a_badge_ticks_to_amber_and_red_in_the_browser(
    live_server: Any,
    transactional_db: None,
    default_tier: None,
    desk: dict[str, Any],
    make_ticket: Callable[..., Ticket],
    browser_page: Any,
) -> None:
    # given a 24x7 calendar (so the clock counts at any hour the test runs) and 2 h to resolve,
    # warned 1 h before
    timers.forget_specs()
    sla_services.create_calendar(
        actor=desk["admin"],
        name="Hotline",
        business_line=desk["line_a"],
        is_24x7=True,
        time_zone="UTC",
    )
    make_policy(
        desk["admin"],
        targets=[{"metric": "resolution", "minutes": 120, "warn_before_minutes": 60}],
    )
    ticket = make_ticket(subject="Printer jams")
    page, log = browser_page(locale="en-US")
    page.clock.install()
    sign_in(page, live_server.url, "insider")
    # when the agent opens the ticket
    page.goto(f"{live_server.url}/tickets/{ticket.number}/")
    badge = page.locator('[data-testid="sla-target"][data-metric="resolution"] .sla-badge')
    left = int(badge.get_attribute("data-sla-left") or "0")
    assert left in (119, 120)
    assert badge.text_content() == f"Resolution {_words(left)} left"
    assert badge.get_attribute("data-sla-condition") == "ok"
    # then an hour and five minutes later it is amber, with no reload
    page.clock.fast_forward("01:05:00")
    assert badge.text_content() == f"Resolution {_words(left - 65)} left"
    assert badge.get_attribute("data-sla-condition") == "warning"
    assert "badge-warning" in (badge.get_attribute("class") or "")
    # and once the due time has passed it is red and counts how late it is
    page.clock.fast_forward("01:00:00")
    assert badge.text_content() == f"Resolution {_words(125 - left)} late"
    assert badge.get_attribute("data-sla-condition") == "breached"
    assert "badge-danger" in (badge.get_attribute("class") or "")
    assert log.errors() == []
    assert log.csp_violations() == []
