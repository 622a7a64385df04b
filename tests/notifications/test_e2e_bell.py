"""In a real browser: an agent sees the bell's unread count, opens the list, marks all read,
and the count is gone; under the CSP, with no console errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aftersales.accounts.models import User
from aftersales.notifications import services
from aftersales.tickets.models import Ticket
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_agent_reads_notifications_from_the_bell(
    live_server: Any,
    desk: dict[str, Any],
    make_ticket: Callable[..., Ticket],
    templates: dict[str, Any],
    browser_page: Any,
    tmp_path: Path,
) -> None:
    # given: two notifications for the agent, in English
    insider: User = desk["insider"]
    User.objects.filter(pk=insider.pk).update(language="en")
    ticket = make_ticket(assignee=User.objects.get(pk=insider.pk))
    for key in ("ticket-assigned", "mentioned"):
        services.notify_ticket(
            ticket=ticket,
            audiences=["assignee"],
            template=templates[key],
            actor=desk["colleague"],
            extra={"comment.excerpt": "Please check the pump"},
        )
    page, log = browser_page(locale="en-US")
    page.goto(f"{live_server.url}/accounts/login/")
    page.locator("#id_username").fill(insider.username)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/")

    # when: the bell says 2; the list shows both
    badge = page.get_by_test_id("unread-badge")
    assert badge.inner_text() == "2"
    page.get_by_test_id("notification-bell").click()
    page.wait_for_url(f"{live_server.url}/notifications/")
    items = page.get_by_test_id("notifications").locator("li")
    assert items.count() == 2
    assert items.first.locator("strong").inner_text() == (
        f"New colleague mentioned you on {ticket.number}"
    )
    page.screenshot(path=str(tmp_path / "notifications.png"), full_page=True)
    page.get_by_role("button", name="Mark all read").click()
    page.wait_for_url(f"{live_server.url}/notifications/")

    # then: no unread badge anywhere, the two are still listed
    assert page.get_by_test_id("unread-badge").count() == 0
    assert page.get_by_test_id("notifications").locator("li.unread").count() == 0
    assert log.errors() == []
