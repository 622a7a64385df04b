"""Agents' public replies go back to the customer through the platform's send API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from aftersales.messaging import services
from aftersales.messaging.models import OutboundMessage, PlatformAccount
from aftersales.tickets import services as ticket_services
from aftersales.tickets.models import Ticket
from tests.messaging.conftest import FakePlatform, deliver_all, safe_mode_request, text_xml

pytestmark = pytest.mark.django_db


@pytest.fixture
def wechat_ticket(client: Client, account: PlatformAccount, fake_platform: FakePlatform) -> Ticket:
    query, body = safe_mode_request(text_xml("o-ivy", "耳机没声音", 8001))
    client.post(f"/messaging/wechat/{account.key}/callback?{query}", body, content_type="text/xml")
    deliver_all()
    return Ticket.objects.get()


def test_agent_public_reply_is_sent_as_a_customer_service_message(
    wechat_ticket: Ticket, desk: dict[str, Any], fake_platform: FakePlatform
) -> None:
    ticket_services.add_comment(actor=desk["agent"], ticket=wechat_ticket, body="请重启耳机试试")
    deliver_all()
    assert fake_platform.sent == [
        {"touser": "o-ivy", "msgtype": "text", "text": {"content": "请重启耳机试试"}}
    ]
    outbound = OutboundMessage.objects.get()
    assert (outbound.status, outbound.attempts, outbound.recipient) == ("sent", 1, "o-ivy")
    # The access token was fetched once and is cached on the account.
    assert fake_platform.paths().count("/cgi-bin/token") == 1


def test_internal_note_and_customer_reply_are_not_sent(
    wechat_ticket: Ticket, desk: dict[str, Any], fake_platform: FakePlatform
) -> None:
    ticket_services.add_comment(
        actor=desk["agent"], ticket=wechat_ticket, body="check warranty", is_public=False
    )
    ticket_services.add_comment(
        actor=None,
        ticket=wechat_ticket,
        body="still broken",
        author_customer=wechat_ticket.requester,
    )
    deliver_all()
    assert fake_platform.sent == []
    assert OutboundMessage.objects.count() == 0


def test_expired_token_is_refreshed_once_and_the_message_still_goes(
    wechat_ticket: Ticket,
    desk: dict[str, Any],
    fake_platform: FakePlatform,
    account: PlatformAccount,
) -> None:
    services.check_connection(actor=desk["admin"], account=account)  # caches TOKEN-1
    fake_platform.tokens_issued += 1  # the platform invalidated it meanwhile
    ticket_services.add_comment(actor=desk["agent"], ticket=wechat_ticket, body="second try")
    deliver_all()
    assert [m["text"]["content"] for m in fake_platform.sent] == ["second try"]
    assert OutboundMessage.objects.get().status == "sent"


def test_failed_send_is_retried_later_and_then_delivered(
    wechat_ticket: Ticket, desk: dict[str, Any], fake_platform: FakePlatform
) -> None:
    fake_platform.send_errors = [-1]  # "system busy"
    ticket_services.add_comment(actor=desk["agent"], ticket=wechat_ticket, body="retry me")
    deliver_all()
    outbound = OutboundMessage.objects.get()
    assert (outbound.status, outbound.attempts) == ("pending", 1)
    assert "errcode -1" in outbound.last_error
    assert services.send_due_replies() == 0  # not due yet
    OutboundMessage.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert services.send_due_replies() == 1
    outbound.refresh_from_db()
    assert (outbound.status, outbound.attempts, outbound.last_error) == ("sent", 2, "")
    assert [m["text"]["content"] for m in fake_platform.sent] == ["retry me"]


def test_closed_reply_window_fails_without_retrying(
    wechat_ticket: Ticket, desk: dict[str, Any], fake_platform: FakePlatform
) -> None:
    fake_platform.send_errors = [45015]  # more than 48 hours since the customer wrote
    ticket_services.add_comment(actor=desk["agent"], ticket=wechat_ticket, body="too late")
    deliver_all()
    outbound = OutboundMessage.objects.get()
    assert (outbound.status, outbound.attempts) == ("failed", 1)
    OutboundMessage.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert services.send_due_replies() == 0
    assert fake_platform.sent == []
    # The agents learn it on the ticket, in an internal note.
    note = wechat_ticket.comments.get(is_public=False)
    assert note.author_id is None
    assert "errcode 45015" in note.body_text
    assert "too late" in note.body_text


def test_reply_on_a_ticket_from_another_channel_is_not_sent(
    desk: dict[str, Any], fake_platform: FakePlatform, account: PlatformAccount
) -> None:
    from aftersales.customers import services as customer_services

    customer = customer_services.create_customer(
        actor=desk["admin"], name="Web person", business_line=desk["east"]
    )
    ticket = ticket_services.create_ticket(
        actor=desk["admin"],
        ticket_type=desk["support"],
        requester=customer,
        subject="From the web",
        team=desk["team"],
    )
    ticket_services.add_comment(actor=desk["agent"], ticket=ticket, body="hello")
    deliver_all()
    assert fake_platform.sent == []
    assert OutboundMessage.objects.count() == 0


def test_replies_are_listed_for_the_line_and_hidden_from_others(
    wechat_ticket: Ticket,
    desk: dict[str, Any],
    fake_platform: FakePlatform,
    login_client: Any,
    token_client: Any,
    make_user: Any,
    django_assert_num_queries: Any,
) -> None:
    fake_platform.send_errors = [45015]
    ticket_services.add_comment(actor=desk["agent"], ticket=wechat_ticket, body="lost reply")
    ticket_services.add_comment(actor=desk["agent"], ticket=wechat_ticket, body="good reply")
    deliver_all()
    page = login_client(desk["admin"]).get("/messaging/replies/?status=failed")
    html = page.content.decode()
    assert "lost reply" in html
    assert "good reply" not in html
    api = token_client(desk["admin"])
    api.get("/api/v1/messaging/outbound-messages")  # warm the token's caches
    # The token (with its user), the grants, the page (account and ticket joined): the same
    # count for any number of rows.
    with django_assert_num_queries(3):
        listed = api.get("/api/v1/messaging/outbound-messages")
    assert [(r["body"], r["status"]) for r in listed.json()["items"]] == [
        ("good reply", "sent"),
        ("lost reply", "failed"),
    ]
    west = make_user("west-admin", role="admin", scope="business_lines", lines=[desk["west"]])
    assert token_client(west).get("/api/v1/messaging/outbound-messages").json()["items"] == []


def test_a_rules_public_auto_reply_is_sent_too(
    wechat_ticket: Ticket, fake_platform: FakePlatform
) -> None:
    ticket_services.add_comment(actor=None, ticket=wechat_ticket, body="我们已收到您的问题")
    deliver_all()
    assert [m["text"]["content"] for m in fake_platform.sent] == ["我们已收到您的问题"]


def test_after_a_ticket_merge_messages_and_replies_follow_the_surviving_ticket(
    client: Client,
    wechat_ticket: Ticket,
    account: PlatformAccount,
    desk: dict[str, Any],
    fake_platform: FakePlatform,
) -> None:
    survivor = ticket_services.create_ticket(
        actor=desk["admin"],
        ticket_type=desk["support"],
        requester=wechat_ticket.requester,
        subject="Same headphones, by phone",
        team=desk["team"],
    )
    ticket_services.merge_tickets(actor=desk["admin"], survivor=survivor, merged=[wechat_ticket])
    deliver_all()
    fake_platform.sent.clear()

    query, body = safe_mode_request(text_xml("o-ivy", "还是没声音", 8002))
    client.post(f"/messaging/wechat/{account.key}/callback?{query}", body, content_type="text/xml")
    deliver_all()
    assert survivor.comments.filter(author_customer__isnull=False).get().body_text == "还是没声音"
    assert Ticket.objects.count() == 2

    ticket_services.add_comment(actor=desk["agent"], ticket=survivor, body="换一副新的")
    deliver_all()
    assert [(m["touser"], m["text"]["content"]) for m in fake_platform.sent] == [
        ("o-ivy", "换一副新的")
    ]
