"""In a real browser: the preview shows the conditional field once its condition holds, through
htmx alone (no page script), with no CSP violation."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD
from tests.customfields.conftest import CHOICES

pytestmark = pytest.mark.e2e


def test_preview_reveals_the_conditional_field_live(
    live_server,
    transactional_db,
    admin_user,
    make_definition,
    browser_page,
):
    # given
    make_definition("kind", "single_choice", config=CHOICES, label_en="Kind", is_required=True)
    make_definition(
        "refund_reason",
        label_en="Refund reason",
        is_required=True,
        visible_when={"field": "kind", "op": "equals", "value": "refund"},
    )
    page, log = browser_page(locale="en-US")
    page.goto(f"{live_server.url}/accounts/login/")
    page.locator("#id_username").fill(admin_user.username)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/settings/fields/preview/?target=tickets.ticket")
    hidden_at_first = page.locator("[name=cf_refund_reason]").count()
    # when
    page.locator("[name=cf_kind]").select_option("refund")
    page.wait_for_selector("[name=cf_refund_reason]")
    page.locator("[name=cf_kind]").select_option("repair")
    page.wait_for_selector("[name=cf_refund_reason]", state="detached")
    # then
    assert hidden_at_first == 0
    assert page.locator("[data-testid=cleaned]").inner_text() == '{\n  "kind": "repair"\n}'
    assert log.csp_violations() == []
    assert log.errors() == []
