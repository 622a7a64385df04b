"""In a real browser, the agent side of the knowledge base's Done-means (issue #8): an agent
opens a ticket whose subject matches a public article, sees it suggested, inserts its link
into a public reply in one click and sends it; the customer's reply carries the portal link
and the link between the article and the ticket is recorded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aftersales.accounts.models import BusinessLine, Team, User
from aftersales.customers import services as customer_services
from aftersales.customers.models import CustomerTier
from aftersales.knowledge import services as knowledge
from aftersales.knowledge.models import TicketArticleLink
from aftersales.tickets import services
from aftersales.tickets.models import Comment
from tests.support.browser import sign_in

pytestmark = pytest.mark.e2e


def test_an_agent_inserts_a_suggested_article_into_a_reply(
    live_server: Any,
    transactional_db: None,
    admin_user: User,
    make_line: Callable[..., BusinessLine],
    make_team: Callable[..., Team],
    make_user: Callable[..., User],
    browser_page: Any,
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
    article = knowledge.create_article(
        actor=admin_user,
        business_line=line,
        texts={
            "zh-hans": {
                "title": "洗衣机显示E3不排水怎么办",
                "body": "<p>关机断电，清理底部排水过滤网后重新开机。</p>",
            }
        },
        visibility="public",
    )
    knowledge.publish_article(actor=admin_user, article=article)
    knowledge.publish_article(
        actor=admin_user,
        article=knowledge.create_article(
            actor=admin_user,
            business_line=line,
            texts={"zh-hans": {"title": "发票如何开具", "body": "<p>在订单页申请。</p>"}},
            visibility="public",
        ),
    )
    ticket_type = services.create_ticket_type(
        actor=admin_user, business_line=line, key="repair", name_zh="维修", name_en="Repair"
    )
    customer = customer_services.create_customer(
        actor=admin_user, name="Liu Yang", business_line=line, team=team
    )
    ticket = services.create_ticket(
        actor=admin_user,
        ticket_type=ticket_type,
        requester=customer,
        subject="洗衣机显示 E3，不排水",
        description="刚洗完衣服，水排不出去。",
        team=team,
    )
    page, log = browser_page(locale="en-US")
    sign_in(page, live_server.url, "mei")
    # when: the ticket page loads the suggestions after the page itself
    page.goto(f"{live_server.url}/tickets/{ticket.number}/")
    suggestions = page.get_by_test_id("kb-suggestion")
    suggestions.first.wait_for()
    titles = suggestions.locator("a").all_inner_texts()
    suggestions.first.get_by_test_id("kb-insert-link").click()
    box = page.locator("#composer textarea[name=body]")
    box.press("Control+Home")
    box.type("您好，请按这篇文章操作：\n")
    typed = box.input_value()
    page.get_by_role("button", name="Send", exact=True).click()
    page.wait_for_selector(".message-success")
    # then
    portal_link = f"{live_server.url}/portal/help/{article.pk}/"
    assert titles == ["洗衣机显示E3不排水怎么办"]
    assert typed == f"您好，请按这篇文章操作：\n洗衣机显示E3不排水怎么办\n{portal_link}"
    reply = Comment.objects.get(ticket=ticket)
    assert reply.is_public is True
    assert portal_link in reply.body
    assert portal_link in page.get_by_test_id("comment").last.inner_text()
    link = TicketArticleLink.objects.get()
    assert (link.ticket_id, link.article_id, link.method, link.comment_id) == (
        ticket.pk,
        article.pk,
        TicketArticleLink.Method.INSERTED_LINK,
        reply.pk,
    )
    linked = page.get_by_test_id("kb-linked")
    linked.wait_for()
    assert "Inserted as a link" in linked.inner_text()
    assert log.csp_violations() == []
    assert log.errors() == []


def test_an_internal_article_found_in_the_panel_goes_into_an_internal_note_as_text(
    live_server: Any,
    transactional_db: None,
    admin_user: User,
    make_line: Callable[..., BusinessLine],
    make_team: Callable[..., Team],
    make_user: Callable[..., User],
    browser_page: Any,
) -> None:
    # given
    if not CustomerTier.objects.filter(is_default=True).exists():
        customer_services.create_tier(
            actor=admin_user, key="normal", name_zh="普通客户", name_en="Normal", is_default=True
        )
    line = make_line(code="home", name="Home appliances")
    team = make_team(name="Hotline", line=line)
    make_user("mei", role="agent", scope="teams", teams=[team], display_name="Mei")
    internal = knowledge.publish_article(
        actor=admin_user,
        article=knowledge.create_article(
            actor=admin_user,
            business_line=line,
            texts={
                "zh-hans": {
                    "title": "排水泵更换流程（内部）",
                    "body": "<p>先断电，拆下后盖，更换排水泵。</p>",
                }
            },
            visibility="internal",
        ),
    )
    ticket_type = services.create_ticket_type(
        actor=admin_user, business_line=line, key="repair", name_zh="维修", name_en="Repair"
    )
    customer = customer_services.create_customer(
        actor=admin_user, name="Liu Yang", business_line=line, team=team
    )
    ticket = services.create_ticket(
        actor=admin_user,
        ticket_type=ticket_type,
        requester=customer,
        subject="门封漏水",
        team=team,
    )
    page, log = browser_page(locale="en-US")
    sign_in(page, live_server.url, "mei")
    page.goto(f"{live_server.url}/tickets/{ticket.number}/")
    panel = page.get_by_test_id("kb-panel")
    panel.wait_for()
    # when: the agent searches in the panel and inserts the internal article's text
    panel.get_by_test_id("kb-panel-search").fill("排水泵")
    panel.get_by_role("button", name="Search", exact=True).click()
    found = page.get_by_test_id("kb-suggestion")
    found.first.wait_for()
    titles = found.locator("a").all_inner_texts()
    link_buttons = found.get_by_test_id("kb-insert-link").count()
    found.first.get_by_test_id("kb-insert-text").click()
    is_note = page.locator("input[name=visibility][value=internal]").is_checked()
    page.get_by_role("button", name="Send", exact=True).click()
    page.wait_for_selector(".message-success")
    # then
    assert titles == ["排水泵更换流程（内部）"]
    assert link_buttons == 0
    assert is_note is True
    note = Comment.objects.get(ticket=ticket)
    assert note.is_public is False
    assert "先断电，拆下后盖，更换排水泵。" in note.body_text
    link = TicketArticleLink.objects.get()
    assert (link.article_id, link.method) == (internal.pk, TicketArticleLink.Method.INSERTED_TEXT)
    assert log.csp_violations() == []
    assert log.errors() == []
