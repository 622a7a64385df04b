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
from aftersales.automation import services as automation
from aftersales.customers import services as customer_services
from aftersales.customers.models import CustomerTier
from aftersales.customfields import services as customfields
from aftersales.knowledge import services as knowledge_services
from aftersales.knowledge.models import Article, Deflection
from aftersales.notifications.defaults import sync_default_templates
from aftersales.notifications.models import Notification
from aftersales.surveys import services as survey_services
from aftersales.tickets import services
from aftersales.tickets.models import Ticket, TicketStatus, TicketType, form_key_of
from tests.conftest import PASSWORD
from tests.support.browser import after_htmx_swap, sign_in

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
        actor=admin, target="tickets.ticket", subtarget=subtarget, key="resolution_code",
        field_type="single_choice", label_zh="解决方式", label_en="Resolution code",
        config={"options": [{"key": "fixed", "label_zh": "已修复", "label_en": "Fixed"}]},
    )  # fmt: skip
    customfields.create_definition(
        actor=admin, target="tickets.ticket", subtarget=subtarget, key="invoice_number",
        field_type="text", label_zh="发票号", label_en="Invoice number", is_required=True,
        customer_visible=True, customer_editable=True,
        visible_when={"field": "under_warranty", "op": "equals", "value": True},
    )  # fmt: skip
    return repair


def status_of(ticket_type: TicketType, key: str) -> TicketStatus:
    return TicketStatus.objects.get(ticket_type=ticket_type, key=key)


def _customer_signs_in(page: Any, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/portal/sign-in/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_test_id("password-sign-in").click()
    page.wait_for_url(f"{base_url}/portal/")


def _agent_writes(page: Any, kind: str, text: str) -> None:
    page.locator(f".composer-kind-{kind} input").check()
    page.locator("#id_body").fill(text)
    page.get_by_role("button", name="Send", exact=True).click()
    page.wait_for_selector(f"text={text}")


def _low_rating_reopens(admin: User, repair: TicketType, line: BusinessLine) -> None:
    """Surveys go out as soon as a ticket is solved; a rating of 2 or less reopens it."""
    survey_services.create_settings(actor=admin, business_line=line, values={"delay_minutes": 0})
    automation.create_rule(
        actor=admin,
        values={
            "name": "Low rating reopens",
            "triggers": ["survey_answered"],
            "condition": {"all": [{"field": "ticket.satisfaction", "op": "lte", "value": 2}]},
            "actions": [{"type": "set_status", "status": status_of(repair, "open").pk}],
            "business_lines": [line.pk],
        },
    )


def _agent_solves(page: Any) -> None:
    status = page.locator("#id_status")
    after_htmx_swap(page, lambda: status.select_option(label="→ Start work"))
    page.get_by_test_id("properties").get_by_role("button", name="Save").click()
    page.wait_for_selector("[data-testid=status] >> text=Open")
    after_htmx_swap(page, lambda: status.select_option(label="→ Solve"))
    after_htmx_swap(page, lambda: page.locator("#id_cf_resolution_code").select_option("fixed"))
    page.get_by_test_id("properties").get_by_role("button", name="Save").click()
    page.wait_for_selector("[data-testid=status] >> text=Solved")


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
    sync_default_templates()  # a transactional test before this one flushed them
    repair = _repair_type(admin_user, line)
    _low_rating_reopens(admin_user, repair, line)
    contact = make_user("liu", kind=User.Kind.CUSTOMER, display_name="Liu Yang")
    customer_services.create_customer(
        actor=admin_user, name="Liu Yang", business_line=line, team=team, portal_user=contact,
        identities=[("email", "liu.yang@example.com")],
    )  # fmt: skip
    photo = tmp_path / "washer.png"
    photo.write_bytes(PNG)
    phone, phone_log = browser_page(locale="en-US", viewport=PHONE)
    desk, desk_log = browser_page(locale="en-US")

    # when: the customer files the request on the phone
    _customer_signs_in(phone, live_server.url, "liu")
    phone.get_by_test_id("new-request").click()
    after_htmx_swap(
        phone,
        lambda: phone.locator("#id_ticket_type").select_option(label="Home appliances · Repair"),
    )
    hidden_before = phone.locator("#id_cf_invoice_number").count()
    phone.locator("#id_subject").fill("Washer shows E3")
    phone.locator("#id_description").fill("It stops and the water stays in the drum.")
    after_htmx_swap(phone, lambda: phone.locator("#id_cf_under_warranty").select_option("true"))
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
    sign_in(desk, live_server.url, "mei")
    desk.goto(f"{live_server.url}/tickets/{ticket.number}/")
    _agent_writes(desk, "public", "An engineer will come on Monday morning.")
    _agent_writes(desk, "internal", "Second E3 this year, check the pump.")

    # then: the customer sees the reply, never the note
    phone.reload()
    conversation = phone.get_by_test_id("conversation").inner_text()

    # when: the agent solves; the survey goes out (the worker's periodic job)
    _agent_solves(desk)
    sent = survey_services.send_due_surveys()
    survey_notice = Notification.objects.filter(ticket=ticket, template__key="survey").count()

    # and: the customer opens the survey from the request and gives 2 stars
    phone.reload()
    status_when_solved = phone.get_by_test_id("request-status").inner_text()
    phone.get_by_test_id("survey-link").click()
    phone.locator("[data-testid=survey-rating] button[data-rating='2']").click()
    phone.get_by_test_id("survey-answer").wait_for()
    phone.screenshot(path=str(tmp_path / "portal-survey.png"), full_page=True, caret="initial")

    # then: the rule has reopened the ticket
    ticket.refresh_from_db()

    assert sent == 1
    assert survey_notice >= 1
    assert status_when_solved == "Solved"
    assert ticket.satisfaction == 2
    assert ticket.status_category == "open"
    assert hidden_before == 0
    assert ticket.channel == "portal"
    assert ticket.custom_fields == {
        "under_warranty": True,
        "invoice_number": "FP-2026-0815",
        "resolution_code": "fixed",
    }
    assert [a.filename for a in ticket.attachments.all()] == ["washer.png"]
    assert "An engineer will come on Monday morning." in conversation
    assert "Mei" in conversation
    assert "check the pump" not in conversation
    assert "washer.png" in conversation
    assert scrolls_sideways is False
    assert phone_log.csp_violations() == []
    assert desk_log.csp_violations() == []
    assert phone_log.errors() == []
    # A property preview replaced by the next one (hx-sync "replace"), or a panel still
    # loading when the page moves on, is reported by htmx as an aborted request; nothing
    # else may appear.
    aborted = ("error: htmx:afterRequest", "error: htmx:sendAbort")
    assert [e for e in desk_log.errors() if not e.startswith(aborted)] == []


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
