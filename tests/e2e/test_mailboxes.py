"""In a real browser, the mailbox settings (issue #7): an administrator adds a mailbox (a
mistake is shown next to its field), checks the connection to a real Dovecot and SMTP server,
sends a test message, sees the mailbox healthy on the status page, and sends a quarantined
mail through processing again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aftersales.accounts.models import BusinessLine, Team, User
from aftersales.channels import intake
from aftersales.channels.models import Mailbox
from aftersales.customers import services as customer_services
from aftersales.customers.models import CustomerTier
from aftersales.tickets import services as ticket_services
from tests.channels.conftest import PASSWORD as IMAP_PASSWORD
from tests.channels.conftest import Dovecot, SmtpHandler, dovecot, imap  # noqa: F401
from tests.notifications.conftest import smtp_server  # noqa: F401
from tests.support.browser import sign_in

pytestmark = pytest.mark.e2e


def test_administrator_sets_up_a_mailbox_checks_it_and_reprocesses_quarantined_mail(
    live_server: Any,
    transactional_db: None,
    admin_user: User,
    make_line: Callable[..., BusinessLine],
    make_team: Callable[..., Team],
    browser_page: Any,
    imap: Dovecot,
    smtp_server: tuple[SmtpHandler, int],
) -> None:
    # given
    if not CustomerTier.objects.filter(is_default=True).exists():
        customer_services.create_tier(
            actor=admin_user, key="normal", name_zh="普通客户", name_en="Normal", is_default=True
        )
    line = make_line(code="home", name="Home appliances")
    other = make_line(code="cars", name="Cars")
    make_team(name="Hotline", line=line)
    repair = ticket_services.create_ticket_type(
        actor=admin_user,
        business_line=line,
        key="repair",
        name_zh="维修",
        name_en="Repair",
        number_prefix="REP",
    )
    smtp, smtp_port = smtp_server
    page, log = browser_page(locale="en-US")
    sign_in(page, live_server.url, admin_user.username)

    # when: a ticket type of another line is chosen
    page.goto(f"{live_server.url}/settings/mailboxes/new/")
    page.locator("#id_address").fill("help@example.com")
    page.locator("#id_display_name").fill("Home Help")
    page.locator("#id_business_line").select_option(str(other.pk))
    page.locator("#id_ticket_type").select_option(str(repair.pk))
    page.locator("#id_imap_host").fill("127.0.0.1")
    page.locator("#id_imap_port").fill(str(imap.port))
    page.locator("#id_imap_security").select_option("none")
    page.locator("#id_imap_user").fill("support")
    page.locator("#id_imap_password").fill(IMAP_PASSWORD)
    page.locator("#id_smtp_host").fill("127.0.0.1")
    page.locator("#id_smtp_port").fill(str(smtp_port))
    page.locator("#id_smtp_security").select_option("none")
    page.get_by_role("button", name="Save").click()

    # then: the error stands next to the ticket type, the password must be typed again
    error = page.locator(".form-field", has=page.locator("#id_ticket_type")).locator(
        ".field-errors"
    )
    assert error.inner_text() == "Choose an active ticket type of the business line."
    assert page.locator("#id_imap_password").input_value() == ""

    # when: corrected
    page.locator("#id_business_line").select_option(str(line.pk))
    page.locator("#id_imap_password").fill(IMAP_PASSWORD)
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector(".message-success")
    mailbox = Mailbox.objects.get(address="help@example.com")

    # when: the connection is checked and a test message sent
    page.get_by_test_id("check-connection").click()
    results = page.get_by_test_id("check-results")
    # then
    assert "Dovecot (Debian) ready." in results.get_by_test_id("result-imap").inner_text()
    assert "250 OK" in results.get_by_test_id("result-smtp").inner_text()
    assert results.locator(".health-ok").count() == 2

    # when
    page.locator("#id_to").fill("admin@example.com")
    page.get_by_test_id("send-test").click()
    # then
    assert "Sent to admin@example.com." in page.get_by_test_id("check-results").inner_text()
    assert [m["To"] for m in smtp.messages] == ["admin@example.com"]

    # when: the status page is opened
    page.goto(f"{live_server.url}/settings/mailboxes/")
    # then
    row = page.get_by_test_id(f"mailbox-{mailbox.pk}")
    assert row.get_by_test_id("health").inner_text() == "Working"

    # when: a mail that could not be processed is in the quarantine
    Mailbox.objects.filter(pk=mailbox.pk).update(ticket_type=repair)
    type(repair).objects.filter(pk=repair.pk).update(is_active=False)
    raw = b"From: carol@example.com\r\nSubject: Broken dryer\r\nMessage-ID: <q@c>\r\n\r\nHelp"
    intake.ingest(mailbox=mailbox, raw=raw)
    type(repair).objects.filter(pk=repair.pk).update(is_active=True)
    page.reload()
    page.get_by_test_id("quarantine-link").click()
    page.get_by_role("link", name="Broken dryer").click()
    assert page.get_by_test_id("error").inner_text() != ""
    page.get_by_test_id("reprocess").click()

    # then
    page.wait_for_selector(".message-success")
    assert page.get_by_test_id("state").inner_text() == "Ticket created"
    assert log.csp_violations() == []
    # The refused form answers 422 (the one error the browser logs).
    assert log.errors() == [
        "error: Failed to load resource: the server responded with a status of 422 "
        "(Unprocessable Entity)"
    ]
