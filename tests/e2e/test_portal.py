"""In a real browser at a phone's size, the Done-means of the portal (issues #6 and #8):

A customer submits a repair request with a photo and a conditional field; an agent replies and
writes an internal note; the customer sees the reply, not the note; the agent solves; the
customer rates the service 2 stars through the survey link; a rule reopens the ticket. And a
customer typing a problem sees the matching article, says it solved it, and files nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aftersales.accounts.models import BusinessLine, Team, User
from aftersales.customers import services as customer_services
from aftersales.customers.models import CustomerTier
from aftersales.customfields import services as customfields
from aftersales.knowledge import services as knowledge_services
from aftersales.knowledge.models import Article, Deflection
from aftersales.tickets import services
from aftersales.tickets.models import Ticket, TicketType, form_key_of
from tests.conftest import PASSWORD

pytestmark = pytest.mark.e2e
PHONE = {"width": 390, "height": 844}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 256


def _default_tier(admin: User) -> None:
    if not CustomerTier.objects.filter(is_default=True).exists():
        # A transactional test before this one flushed the tiers the migrations seed.
        customer_services.create_tier(
            actor=admin, key="normal", name_zh="普通客户", name_en="Normal", is_default=True
        )


def _repair_type(admin: User, line: BusinessLine) -> TicketType:
    """Repair, with "under warranty?" asked of customers and the invoice number shown (and
    required) only when the answer is yes; solving asks staff for a resolution."""
    repair = services.create_ticket_type(
        actor=admin, business_line=line, key="repair", name_zh="维修", name_en="Repair",
        number_prefix="REP",
    )  # fmt: skip
    subtarget = form_key_of(repair.pk)
    customfields.create_definition(
        actor=admin, target="tickets.ticket", subtarget=subtarget, key="under_warranty",
        field_type="yes_no", label_zh="在保修期内", label_en="Under warranty",
        customer_visible=True, customer_editable=True,
    )  # fmt: skip
    customfields.create_definition(
        actor=admin, target="tickets.ticket", subtarget=subtarget, key="invoice_number",
        field_type="text", label_zh="发票号", label_en="Invoice number", is_required=True,
        customer_visible=True, customer_editable=True,
        visible_when={"field": "under_warranty", "op": "equals", "value": True},
    )  # fmt: skip
    return repair


def _changed(page: Any, action: Callable[[], Any]) -> None:
    page.evaluate(
        """() => {
            window.swapped = false;
            document.addEventListener("htmx:afterSettle", () => { window.swapped = true; },
                                      { once: true });
        }"""
    )
    action()
    page.wait_for_function("() => window.swapped === true")


def _customer_signs_in(page: Any, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/portal/sign-in/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_test_id("password-sign-in").click()
    page.wait_for_url(f"{base_url}/portal/")


def _agent_signs_in(page: Any, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"{base_url}/")


def _agent_writes(page: Any, kind: str, text: str) -> None:
    page.locator(f".composer-kind-{kind} input").check()
    page.locator("#id_body").fill(text)
    page.get_by_role("button", name="Send", exact=True).click()
    page.wait_for_selector(f"text={text}")


def test_a_customer_files_a_repair_from_a_phone_and_follows_it(
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
    _default_tier(admin_user)
    line = make_line(code="home", name="Home appliances")
    team = make_team(name="Hotline", line=line)
    make_user("mei", role="agent", scope="teams", teams=[team], display_name="Mei")
    _repair_type(admin_user, line)
    contact = make_user("liu", kind=User.Kind.CUSTOMER, display_name="Liu Yang")
    customer_services.create_customer(
        actor=admin_user, name="Liu Yang", business_line=line, team=team, portal_user=contact
    )
    photo = tmp_path / "washer.png"
    photo.write_bytes(PNG)
    phone, phone_log = browser_page(locale="en-US", viewport=PHONE)
    desk, desk_log = browser_page(locale="en-US")

    # when: the customer files the request on the phone
    _customer_signs_in(phone, live_server.url, "liu")
    phone.get_by_test_id("new-request").click()
    _changed(
        phone,
        lambda: phone.locator("#id_ticket_type").select_option(label="Home appliances · Repair"),
    )
    hidden_before = phone.locator("#id_cf_invoice_number").count()
    phone.locator("#id_subject").fill("Washer shows E3")
    phone.locator("#id_description").fill("It stops and the water stays in the drum.")
    _changed(phone, lambda: phone.locator("#id_cf_under_warranty").select_option("true"))
    phone.locator("#id_cf_invoice_number").fill("FP-2026-0815")
    phone.locator("#id_attachments").set_input_files(str(photo))
    phone.get_by_test_id("submit-request").click()
    phone.wait_for_selector("[data-testid=conversation]")
    ticket = Ticket.objects.get(subject="Washer shows E3")
    scrolls_sideways = phone.evaluate(
        "() => document.documentElement.scrollWidth > window.innerWidth + 1"
    )
    phone.screenshot(path=str(tmp_path / "portal-request.png"), full_page=True, caret="initial")

    # and: the agent answers the customer and leaves a note for colleagues
    _agent_signs_in(desk, live_server.url, "mei")
    desk.goto(f"{live_server.url}/tickets/{ticket.number}/")
    _agent_writes(desk, "public", "An engineer will come on Monday morning.")
    _agent_writes(desk, "internal", "Second E3 this year, check the pump.")

    # then: the customer sees the reply, never the note
    phone.reload()
    conversation = phone.get_by_test_id("conversation").inner_text()

    assert hidden_before == 0
    assert ticket.channel == "portal"
    assert ticket.custom_fields == {"under_warranty": True, "invoice_number": "FP-2026-0815"}
    assert [a.filename for a in ticket.attachments.all()] == ["washer.png"]
    assert "An engineer will come on Monday morning." in conversation
    assert "Mei" in conversation
    assert "check the pump" not in conversation
    assert "washer.png" in conversation
    assert scrolls_sideways is False
    assert phone_log.csp_violations() == []
    assert desk_log.csp_violations() == []
    assert phone_log.errors() == []
    assert desk_log.errors() == []


def test_a_customer_finds_the_answer_while_typing_and_files_nothing(
    live_server: Any,
    transactional_db: None,
    admin_user: User,
    make_line: Callable[..., BusinessLine],
    make_user: Callable[..., User],
    browser_page: Any,
) -> None:
    # given
    _default_tier(admin_user)
    line = make_line(code="home", name="Home appliances")
    _repair_type(admin_user, line)
    contact = make_user("liu", kind=User.Kind.CUSTOMER, display_name="Liu Yang")
    customer_services.create_customer(
        actor=admin_user, name="Liu Yang", business_line=line, portal_user=contact
    )
    article = knowledge_services.create_article(
        actor=admin_user,
        business_line=line,
        visibility=Article.Visibility.PUBLIC,
        texts={
            "zh-hans": {
                "title": "洗衣机显示 E3 不排水怎么办",
                "body": "<p>E3 表示排水超时：请清理排水泵过滤器，再检查排水管是否弯折。</p>",
            }
        },
    )
    knowledge_services.submit_article(actor=admin_user, article=article)
    knowledge_services.publish_article(actor=admin_user, article=article)
    phone, log = browser_page(locale="zh-CN", viewport=PHONE)

    # when
    _customer_signs_in(phone, live_server.url, "liu")
    phone.goto(f"{live_server.url}/portal/new/")
    phone.locator("#id_subject").press_sequentially("洗衣机 E3 不排水", delay=30)
    suggestion = phone.get_by_test_id("suggested-article")
    suggestion.first.wait_for()
    suggested = suggestion.first.inner_text()
    suggestion.first.click()
    phone.get_by_test_id("article-body").wait_for()
    phone.get_by_test_id("helpful-yes").click()
    phone.wait_for_url(f"{live_server.url}/portal/")

    # then
    article.refresh_from_db()
    assert suggested == "洗衣机显示 E3 不排水怎么办"
    assert article.helpful_count == 1
    assert Deflection.objects.get().query == "洗衣机 E3 不排水"
    assert Ticket.objects.count() == 0
    assert log.csp_violations() == []
    assert log.errors() == []
