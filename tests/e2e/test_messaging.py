"""In a real browser: an administrator connects a WeChat account (an error shown next to its
field, then a working connection), a follower writes, and an agent links the unknown follower
to the customer who wrote by e-mail, whose page then shows both conversations."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from aftersales.accounts.models import BusinessLine, Team, User
from aftersales.customers import services as customer_services
from aftersales.customers.models import Customer, CustomerTier
from aftersales.messaging.models import PlatformAccount
from aftersales.tickets import services as ticket_services
from aftersales.tickets.models import Ticket
from tests.messaging.conftest import (
    AES_KEY,
    APP_ID,
    TOKEN,
    FakePlatform,
    deliver_all,
    fake_platform,
    safe_mode_request,
    text_xml,
)
from tests.support.browser import sign_in

pytestmark = pytest.mark.e2e
__all__ = ["fake_platform"]


def test_connect_an_account_and_link_a_follower_to_the_email_customer(
    live_server: Any,
    transactional_db: None,
    admin_user: User,
    make_line: Callable[..., BusinessLine],
    make_team: Callable[..., Team],
    make_user: Callable[..., User],
    browser_page: Any,
    fake_platform: FakePlatform,
) -> None:
    # given
    if not CustomerTier.objects.filter(is_default=True).exists():
        customer_services.create_tier(
            actor=admin_user, key="normal", name_zh="普通客户", name_en="Normal", is_default=True
        )
    line = make_line(code="east", name="East")
    team = make_team(name="Hotline", line=line)
    make_user("mei", role="agent", scope="teams", teams=[team], display_name="Mei")
    support = ticket_services.create_ticket_type(
        actor=admin_user, business_line=line, key="support", name_zh="咨询", name_en="Support"
    )
    lin = customer_services.create_customer(
        actor=admin_user,
        name="Lin",
        business_line=line,
        team=team,
        identities=[("email", "lin@example.com")],
    )
    ticket_services.create_ticket(
        actor=None,
        ticket_type=support,
        requester=lin,
        subject="Invoice missing",
        channel=Ticket.Channel.EMAIL,
        team=team,
    )
    admin, admin_log = browser_page(locale="en-US")

    # when: the administrator connects the account, first with a short AES key
    sign_in(admin, live_server.url, admin_user.username)
    admin.goto(f"{live_server.url}/messaging/settings/new/")
    admin.locator("#id_name").fill("Service account")
    admin.locator("#id_key").fill("service")
    admin.locator("#id_kind").select_option("wechat_official")
    admin.locator("#id_app_id").fill(APP_ID)
    admin.locator("#id_app_secret").fill("appsecret")
    admin.locator("#id_token").fill(TOKEN)
    admin.locator("#id_encoding_aes_key").fill("short")
    admin.locator("#id_api_base_url").fill(fake_platform.url)
    admin.locator("#id_business_line").select_option(str(line.pk))
    admin.locator("#id_team").select_option(str(team.pk))
    admin.locator("#id_ticket_type").select_option(str(support.pk))
    admin.get_by_role("button", name="Save").click()

    # then: the error is next to the field, and nothing was saved
    error = admin.locator("#id_encoding_aes_key").locator("xpath=..")
    assert "43 letters and digits" in error.inner_text()
    assert PlatformAccount.objects.count() == 0

    # when: corrected (secrets are not shown back, so they are typed again)
    admin.locator("#id_app_secret").fill("appsecret")
    admin.locator("#id_token").fill(TOKEN)
    admin.locator("#id_encoding_aes_key").fill(AES_KEY)
    admin.get_by_role("button", name="Save").click()
    admin.wait_for_selector(".message-success")
    status = admin.get_by_test_id("account-status").inner_text()
    assert f"{live_server.url}/messaging/wechat/service/callback" in status
    admin.get_by_role("button", name="Check connection").click()
    admin.wait_for_selector(".message-success")
    assert "Working" in admin.get_by_test_id("account-status").inner_text()

    # and: a follower WeChat does not know yet writes (the platform calls the live server)
    query, body = safe_mode_request(text_xml("o-lin", "我是林女士，发票呢", 42))
    request = urllib.request.Request(  # noqa: S310 - the live test server
        f"{live_server.url}/messaging/wechat/service/callback?{query}",
        data=body,
        method="POST",
        headers={"Content-Type": "text/xml"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        assert answer.read() == b"success"
    deliver_all()
    stranger = Customer.objects.exclude(pk=lin.pk).get()

    # and: the agent links the follower to Lin on the follower's page
    agent, agent_log = browser_page(locale="en-US")
    sign_in(agent, live_server.url, "mei")
    agent.goto(f"{live_server.url}/customers/{stranger.pk}/")
    form = agent.get_by_test_id("link-identity")
    form.locator("#id_identity").select_option(label="WeChat openid: o-lin")
    form.locator("#id_customer_id").fill(str(lin.pk))
    form.get_by_role("button", name="Link").click()
    agent.wait_for_url(f"{live_server.url}/customers/{lin.pk}/")
    deliver_all()  # the tickets follow the merged customer
    agent.reload()

    # then: Lin's page shows both conversations, each with its channel
    timeline = agent.get_by_test_id("customer-timeline")
    assert timeline.locator('li[data-channel="email"]').count() == 1
    assert timeline.locator('li[data-channel="wechat"]').count() == 1
    text = timeline.inner_text()
    assert "Invoice missing" in text
    assert "我是林女士，发票呢" in text
    assert admin_log.csp_violations() == []
    assert agent_log.csp_violations() == []
    assert agent_log.errors() == []
