"""WeChat callbacks: signatures, safe-mode decryption, de-duplication, tickets and replies."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from aftersales.customers.models import Customer, CustomerIdentity
from aftersales.messaging.models import Conversation, InboundMessage, PlatformAccount
from aftersales.outbox.models import OutboxEvent
from aftersales.tickets.models import Attachment, Comment, Ticket
from tests.messaging.conftest import (
    TOKEN,
    FakePlatform,
    deliver_all,
    image_xml,
    safe_mode_request,
    signature,
    text_xml,
)

pytestmark = pytest.mark.django_db


def post_safe(client: Client, account: PlatformAccount, xml: str) -> Any:
    query, body = safe_mode_request(xml)
    return client.post(
        f"/messaging/wechat/{account.key}/callback?{query}", body, content_type="text/xml"
    )


def test_safe_mode_text_message_opens_a_ticket_for_a_new_customer(
    client: Client, account: PlatformAccount, fake_platform: FakePlatform
) -> None:
    """A callback encrypted with wechatpy's own crypto, as WeChat sends it, becomes a ticket."""
    fake_platform.users["o-alice"] = {"unionid": "u-alice", "nickname": "小爱"}

    response = post_safe(client, account, text_xml("o-alice", "洗衣机不排水", 7001))
    assert response.status_code == 200
    assert response.content == b"success"
    # Answered before any work: the ticket is written after the commit.
    assert Ticket.objects.count() == 0
    deliver_all()

    ticket = Ticket.objects.get()
    assert (ticket.subject, ticket.description, ticket.channel) == (
        "洗衣机不排水",
        "<p>洗衣机不排水</p>",
        Ticket.Channel.WECHAT,
    )
    assert ticket.team == account.team
    assert ticket.ticket_type == account.ticket_type
    assert ticket.requester.name == "小爱"
    assert sorted(ticket.requester.identities.values_list("kind", "value")) == [
        ("wechat_openid", "o-alice"),
        ("wechat_unionid", "u-alice"),
    ]
    message = InboundMessage.objects.get()
    assert (message.state, message.ticket_id, message.platform_msg_id) == (
        "processed",
        ticket.pk,
        "7001",
    )


def test_wrong_signature_is_401_and_stores_nothing(
    client: Client, account: PlatformAccount
) -> None:
    query, body = safe_mode_request(text_xml("o-mallory", "hi", 7002), token="not-the-token")
    response = client.post(
        f"/messaging/wechat/{account.key}/callback?{query}", body, content_type="text/xml"
    )
    assert response.status_code == 401
    assert InboundMessage.objects.count() == 0
    assert OutboxEvent.objects.filter(topic="messaging.message_received").count() == 0
    deliver_all()
    assert Ticket.objects.count() == 0
    assert Customer.objects.filter(identities__value="o-mallory").count() == 0


def test_tampered_ciphertext_is_401(client: Client, account: PlatformAccount) -> None:
    query, body = safe_mode_request(text_xml("o-mallory", "hi", 7003))
    tampered = body.replace(b"<Encrypt><![CDATA[", b"<Encrypt><![CDATA[AAAA")
    response = client.post(
        f"/messaging/wechat/{account.key}/callback?{query}", tampered, content_type="text/xml"
    )
    assert response.status_code == 401
    assert InboundMessage.objects.count() == 0


def test_three_retries_of_one_msgid_make_one_ticket(
    client: Client, account: PlatformAccount, fake_platform: FakePlatform
) -> None:
    xml = text_xml("o-bob", "屏幕碎了", 7004)
    responses = [post_safe(client, account, xml) for _attempt in range(3)]
    deliver_all()
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert Ticket.objects.count() == 1
    assert InboundMessage.objects.count() == 1
    assert Comment.objects.count() == 0
    assert OutboxEvent.objects.filter(topic="messaging.message_received").count() == 1


def test_url_verification_echoes_echostr(client: Client, account: PlatformAccount) -> None:
    timestamp, nonce = str(int(time.time())), "n1"
    good = client.get(
        f"/messaging/wechat/{account.key}/callback",
        {
            "signature": signature(TOKEN, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
            "echostr": "echo-123",
        },
    )
    bad = client.get(
        f"/messaging/wechat/{account.key}/callback",
        {"signature": "0" * 40, "timestamp": timestamp, "nonce": nonce, "echostr": "echo-123"},
    )
    assert (good.status_code, good.content) == (200, b"echo-123")
    assert bad.status_code == 401


def test_plain_mode_message_is_accepted_with_its_signature(
    client: Client, account: PlatformAccount, fake_platform: FakePlatform
) -> None:
    timestamp, nonce = str(int(time.time())), "n2"
    query = f"signature={signature(TOKEN, timestamp, nonce)}&timestamp={timestamp}&nonce={nonce}"
    response = client.post(
        f"/messaging/wechat/{account.key}/callback?{query}",
        text_xml("o-carol", "plain text", 7005),
        content_type="text/xml",
    )
    deliver_all()
    assert response.status_code == 200
    assert Ticket.objects.get().subject == "plain text"


def test_unknown_or_inactive_account_is_404(client: Client, account: PlatformAccount) -> None:
    query, body = safe_mode_request(text_xml("o-a", "hi", 7006))
    assert (
        client.post(
            f"/messaging/wechat/nobody/callback?{query}", body, content_type="text/xml"
        ).status_code
        == 404
    )
    PlatformAccount.objects.filter(pk=account.pk).update(is_active=False)
    response = client.post(
        f"/messaging/wechat/{account.key}/callback?{query}", body, content_type="text/xml"
    )
    assert response.status_code == 404
    assert InboundMessage.objects.count() == 0


def test_second_message_continues_the_open_ticket_as_a_customer_reply(
    client: Client, account: PlatformAccount, fake_platform: FakePlatform
) -> None:
    post_safe(client, account, text_xml("o-dave", "第一条", 7007))
    deliver_all()
    post_safe(client, account, text_xml("o-dave", "第二条", 7008))
    deliver_all()
    ticket = Ticket.objects.get()
    [comment] = Comment.objects.filter(ticket=ticket)
    assert comment.body_text == "第二条"
    assert comment.author_customer == ticket.requester
    assert comment.channel == Ticket.Channel.WECHAT
    assert ticket.requester.identities.get(kind="wechat_openid").value == "o-dave"
    assert Customer.objects.count() == 1


def test_message_after_the_window_opens_a_new_ticket(
    client: Client, account: PlatformAccount, fake_platform: FakePlatform
) -> None:
    post_safe(client, account, text_xml("o-erin", "old problem", 7009))
    deliver_all()
    Conversation.objects.update(last_inbound_at=timezone.now() - timezone.timedelta(hours=73))
    post_safe(client, account, text_xml("o-erin", "new problem", 7010))
    deliver_all()
    assert list(Ticket.objects.order_by("pk").values_list("subject", flat=True)) == [
        "old problem",
        "new problem",
    ]
    assert Ticket.objects.values("requester").distinct().count() == 1


def test_image_message_is_downloaded_into_an_attachment(
    client: Client, account: PlatformAccount, fake_platform: FakePlatform
) -> None:
    from tests.messaging.conftest import JPEG

    post_safe(client, account, image_xml("o-frank", "MEDIA123", 7011))
    deliver_all()
    ticket = Ticket.objects.get()
    attachment = Attachment.objects.get(ticket=ticket)
    assert attachment.content_type == "image/jpeg"
    assert attachment.size == len(JPEG)
    with attachment.file.open("rb") as stored:
        assert stored.read() == JPEG
    assert attachment.comment is not None
    assert attachment.comment.author_customer == ticket.requester
    assert "/cgi-bin/media/get" in fake_platform.paths()


def test_subscribe_event_is_stored_and_makes_no_ticket(
    client: Client, account: PlatformAccount
) -> None:
    xml = (
        "<xml><ToUserName><![CDATA[gh]]></ToUserName><FromUserName><![CDATA[o-gina]]>"
        f"</FromUserName><CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[event]]>"
        "</MsgType><Event><![CDATA[subscribe]]></Event></xml>"
    )
    assert post_safe(client, account, xml).status_code == 200
    assert post_safe(client, account, xml).status_code == 200
    deliver_all()
    assert InboundMessage.objects.get().state == "ignored"
    assert Ticket.objects.count() == 0


def test_unionid_matches_a_customer_known_from_another_account(
    client: Client,
    make_account: Any,
    account: PlatformAccount,
    fake_platform: FakePlatform,
    desk: dict[str, Any],
) -> None:
    from aftersales.customers import services as customer_services

    known = customer_services.create_customer(
        actor=desk["admin"],
        name="Helen",
        business_line=desk["east"],
        identities=[("wechat_unionid", "u-helen")],
    )
    fake_platform.users["o-helen"] = {"unionid": "u-helen"}
    post_safe(client, account, text_xml("o-helen", "hello", 7012))
    deliver_all()
    assert Ticket.objects.get().requester == known
    assert CustomerIdentity.objects.get(kind="wechat_openid").customer == known


def test_customer_text_that_looks_like_html_stays_text(
    client: Client, account: PlatformAccount, fake_platform: FakePlatform
) -> None:
    post_safe(client, account, text_xml("o-ivan", "<b>bold</b> & <script>x</script>", 7013))
    deliver_all()
    ticket = Ticket.objects.get()
    assert ticket.description == (
        "<p>&lt;b&gt;bold&lt;/b&gt; &amp; &lt;script&gt;x&lt;/script&gt;</p>"
    )


def test_miniprogram_json_data_format_in_safe_mode(
    client: Client, make_account: Any, fake_platform: FakePlatform
) -> None:
    """A mini-program set to the JSON data format sends a JSON envelope around JSON."""
    import json

    import xmltodict
    from wechatpy.crypto import WeChatCrypto

    from tests.messaging.conftest import AES_KEY, APP_ID

    mini = make_account(key="mini-json", kind=PlatformAccount.Kind.WECHAT_MINIPROGRAM)
    message = {
        "ToUserName": "gh_mini",
        "FromUserName": "o-json",
        "CreateTime": int(time.time()),
        "MsgType": "text",
        "Content": "小程序里的问题",
        "MsgId": 7014,
    }
    timestamp, nonce = str(int(time.time())), "n9"
    envelope = xmltodict.parse(
        WeChatCrypto(TOKEN, AES_KEY, APP_ID).encrypt_message(
            json.dumps(message, ensure_ascii=False), nonce, timestamp
        )
    )["xml"]
    query = (
        f"signature={signature(TOKEN, timestamp, nonce)}&timestamp={timestamp}&nonce={nonce}"
        f"&encrypt_type=aes&msg_signature={envelope['MsgSignature']}"
    )
    response = client.post(
        f"/messaging/wechat/{mini.key}/callback?{query}",
        json.dumps({"ToUserName": "gh_mini", "Encrypt": envelope["Encrypt"]}),
        content_type="application/json",
    )
    deliver_all()
    assert response.status_code == 200
    ticket = Ticket.objects.get()
    assert (ticket.subject, ticket.channel) == ("小程序里的问题", Ticket.Channel.WECHAT)
    assert InboundMessage.objects.get().platform_msg_id == "7014"
    # Mini-programs have no user-info API: nothing but the token was asked for.
    assert "/cgi-bin/user/info" not in fake_platform.paths()
