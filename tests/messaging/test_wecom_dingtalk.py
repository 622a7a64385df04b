"""WeCom and DingTalk callbacks, and DingTalk's callback crypto checked against the spec."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import struct
import time
from typing import Any

import pytest
import xmltodict
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.test import Client
from wechatpy.enterprise.crypto import PrpCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as EnterpriseCrypto

from aftersales.messaging import dingtalk_crypto
from aftersales.messaging.models import InboundMessage, OutboundMessage, PlatformAccount
from aftersales.tickets import services as ticket_services
from aftersales.tickets.models import Ticket
from tests.messaging.conftest import AES_KEY, TOKEN, FakePlatform, deliver_all, signature

pytestmark = pytest.mark.django_db

CORP_ID = "ww0123456789abcdef"
DING_KEY = "dingappkey123"
DING_SECRET = "ding-app-secret"


# --- WeCom ----------------------------------------------------------------------------------------


@pytest.fixture
def wecom(make_account: Any) -> PlatformAccount:
    return make_account(
        key="wecom-help",
        kind=PlatformAccount.Kind.WECOM,
        app_id=CORP_ID,
        agent_id="1000002",
    )


def test_wecom_url_verification_answers_the_decrypted_echostr(
    client: Client, wecom: PlatformAccount
) -> None:
    key = base64.b64decode(AES_KEY + "=")
    echostr = PrpCrypto(key).encrypt("echo-789", CORP_ID).decode()
    timestamp, nonce = str(int(time.time())), "n3"
    good = client.get(
        f"/messaging/wecom/{wecom.key}/callback",
        {
            "msg_signature": signature(TOKEN, timestamp, nonce, echostr),
            "timestamp": timestamp,
            "nonce": nonce,
            "echostr": echostr,
        },
    )
    bad = client.get(
        f"/messaging/wecom/{wecom.key}/callback",
        {"msg_signature": "0" * 40, "timestamp": timestamp, "nonce": nonce, "echostr": echostr},
    )
    assert (good.status_code, good.content) == (200, b"echo-789")
    assert bad.status_code == 401


def wecom_post(client: Client, account: PlatformAccount, xml: str, *, token: str = TOKEN) -> Any:
    timestamp, nonce = str(int(time.time())), "n4"
    envelope = xmltodict.parse(
        EnterpriseCrypto(token, AES_KEY, CORP_ID).encrypt_message(xml, nonce, timestamp)
    )["xml"]
    query = f"msg_signature={envelope['MsgSignature']}&timestamp={timestamp}&nonce={nonce}"
    body = f"<xml><Encrypt><![CDATA[{envelope['Encrypt']}]]></Encrypt></xml>"
    return client.post(
        f"/messaging/wecom/{account.key}/callback?{query}", body, content_type="text/xml"
    )


def wecom_text(user: str, content: str, msg_id: int) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
        f"<FromUserName><![CDATA[{user}]]></FromUserName><CreateTime>{int(time.time())}"
        f"</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]>"
        f"</Content><MsgId>{msg_id}</MsgId><AgentID>1000002</AgentID></xml>"
    )


def test_wecom_message_opens_a_ticket_and_the_reply_goes_back(
    client: Client, wecom: PlatformAccount, desk: dict[str, Any], fake_platform: FakePlatform
) -> None:
    fake_platform.users["zhangsan"] = {"name": "张三"}
    xml = wecom_text("zhangsan", "打印机卡纸", 9001)
    responses = [wecom_post(client, wecom, xml), wecom_post(client, wecom, xml)]
    deliver_all()
    assert [r.status_code for r in responses] == [200, 200]
    ticket = Ticket.objects.get()
    assert (ticket.channel, ticket.subject) == (Ticket.Channel.WECOM, "打印机卡纸")
    assert ticket.requester.identities.get().kind == "wecom_external_id"
    assert ticket.requester.name == "张三"

    ticket_services.add_comment(actor=desk["agent"], ticket=ticket, body="已派人")
    deliver_all()
    assert fake_platform.sent == [
        {"touser": "zhangsan", "msgtype": "text", "agentid": 1000002, "text": {"content": "已派人"}}
    ]
    assert "/cgi-bin/gettoken" in fake_platform.paths()


def test_wecom_wrong_signature_is_401(client: Client, wecom: PlatformAccount) -> None:
    response = wecom_post(client, wecom, wecom_text("lisi", "hi", 9002), token="forged")
    assert response.status_code == 401
    assert InboundMessage.objects.count() == 0


# --- DingTalk crypto, from the published algorithm ------------------------------------------------


def _spec_encrypt(message: str, random: bytes, owner: str) -> str:
    """The published algorithm written out independently: pad to 32, AES-256-CBC, IV = key[:16]."""
    key = base64.b64decode(AES_KEY + "=")
    plain = random + struct.pack(">I", len(message.encode())) + message.encode() + owner.encode()
    pad = 32 - len(plain) % 32
    plain += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def test_dingtalk_crypto_matches_the_spec_both_ways() -> None:
    crypto = dingtalk_crypto.DingTalkCrypto(TOKEN, AES_KEY, DING_KEY)
    random = b"0123456789abcdef"
    expected = _spec_encrypt('{"EventType":"check_url"}', random, DING_KEY)
    assert crypto.encrypt('{"EventType":"check_url"}', random=random) == expected
    assert crypto.decrypt(_spec_encrypt("success", b"\x00" * 16, DING_KEY)) == "success"
    # 16 + 4 + 7 + 13 = 40 bytes of plaintext pad to 64 (a multiple of 32, not of 16 only).
    assert len(base64.b64decode(_spec_encrypt("success", random, DING_KEY))) == 64


def test_dingtalk_signature_is_sha1_of_the_sorted_parts() -> None:
    parts = ["token", "1700000000000", "nonce", "ENCRYPTED"]
    expected = hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324
    assert dingtalk_crypto.signature(*parts) == expected
    assert expected == hashlib.sha1(b"1700000000000ENCRYPTEDnoncetoken").hexdigest()  # noqa: S324


def test_dingtalk_refuses_another_receivers_message() -> None:
    crypto = dingtalk_crypto.DingTalkCrypto(TOKEN, AES_KEY, DING_KEY)
    with pytest.raises(dingtalk_crypto.DingTalkCryptoError):
        crypto.decrypt(_spec_encrypt("success", b"\x00" * 16, "someone-else"))


def test_dingtalk_robot_sign_is_base64_hmac_sha256() -> None:
    expected = base64.b64encode(
        hmac.new(b"secret", b"1700000000000\nsecret", hashlib.sha256).digest()
    ).decode()
    assert dingtalk_crypto.robot_sign("secret", "1700000000000") == expected
    dingtalk_crypto.check_robot_sign("secret", "1700000000000", expected, now_ms=1700000000000)
    with pytest.raises(dingtalk_crypto.DingTalkCryptoError):
        dingtalk_crypto.check_robot_sign(
            "secret", "1700000000000", expected, now_ms=1700000000000 + 3601 * 1000
        )


# --- DingTalk callbacks ---------------------------------------------------------------------------


@pytest.fixture
def dingtalk(make_account: Any) -> PlatformAccount:
    return make_account(
        key="ding-help",
        kind=PlatformAccount.Kind.DINGTALK,
        app_id=DING_KEY,
        app_secret=DING_SECRET,
        agent_id="dingrobotcode",
    )


def test_dingtalk_check_url_is_answered_with_encrypted_success(
    client: Client, dingtalk: PlatformAccount
) -> None:
    encrypt = _spec_encrypt('{"EventType":"check_url"}', b"r" * 16, DING_KEY)
    timestamp, nonce = "1700000000000", "abc"
    response = client.post(
        f"/messaging/dingtalk/{dingtalk.key}/callback?"
        f"msg_signature={dingtalk_crypto.signature(TOKEN, timestamp, nonce, encrypt)}"
        f"&timestamp={timestamp}&nonce={nonce}",
        json.dumps({"encrypt": encrypt}),
        content_type="application/json",
    )
    assert response.status_code == 200
    answer = response.json()
    assert answer["msg_signature"] == dingtalk_crypto.signature(
        TOKEN, answer["timeStamp"], answer["nonce"], answer["encrypt"]
    )
    crypto = dingtalk_crypto.DingTalkCrypto(TOKEN, AES_KEY, DING_KEY)
    assert crypto.decrypt(answer["encrypt"]) == "success"
    assert InboundMessage.objects.count() == 0


def test_dingtalk_event_with_wrong_signature_is_401(
    client: Client, dingtalk: PlatformAccount
) -> None:
    encrypt = _spec_encrypt('{"EventType":"user_add_org"}', b"r" * 16, DING_KEY)
    response = client.post(
        f"/messaging/dingtalk/{dingtalk.key}/callback?msg_signature={'0' * 40}&timestamp=1&nonce=n",
        json.dumps({"encrypt": encrypt}),
        content_type="application/json",
    )
    assert response.status_code == 401
    assert InboundMessage.objects.count() == 0


def robot_post(
    client: Client, account: PlatformAccount, body: dict[str, Any], **headers: str
) -> Any:
    timestamp = str(int(time.time() * 1000))
    return client.post(
        f"/messaging/dingtalk/{account.key}/robot",
        json.dumps(body),
        content_type="application/json",
        headers={
            "timestamp": timestamp,
            "sign": dingtalk_crypto.robot_sign(DING_SECRET, timestamp),
            **headers,
        },
    )


def test_dingtalk_robot_message_opens_a_ticket_and_replies_by_session_webhook(
    client: Client, dingtalk: PlatformAccount, desk: dict[str, Any], fake_platform: FakePlatform
) -> None:
    message = {
        "msgtype": "text",
        "text": {"content": " 投影仪不亮 "},
        "msgId": "msgABC",
        "createAt": int(time.time() * 1000),
        "conversationType": "1",
        "senderNick": "王五",
        "senderStaffId": "staff-wangwu",
        "sessionWebhook": f"{fake_platform.url}/robot/sendBySession?session=xyz",
        "sessionWebhookExpiredTime": int(time.time() * 1000) + 3_600_000,
    }
    assert robot_post(client, dingtalk, message).status_code == 200
    assert robot_post(client, dingtalk, message).status_code == 200
    deliver_all()
    ticket = Ticket.objects.get()
    assert (ticket.channel, ticket.subject, ticket.requester.name) == (
        Ticket.Channel.DINGTALK,
        "投影仪不亮",
        "王五",
    )
    ticket_services.add_comment(actor=desk["agent"], ticket=ticket, body="马上到")
    deliver_all()
    assert fake_platform.sent == [{"msgtype": "text", "text": {"content": "马上到"}}]
    assert OutboundMessage.objects.get().status == "sent"
    # The session webhook needs no access token.
    assert "/v1.0/oauth2/accessToken" not in fake_platform.paths()


def test_dingtalk_robot_message_with_a_bad_sign_is_401(
    client: Client, dingtalk: PlatformAccount
) -> None:
    response = robot_post(
        client,
        dingtalk,
        {"msgtype": "text", "text": {"content": "x"}, "msgId": "m1", "senderStaffId": "s"},
        sign="forged",
    )
    assert response.status_code == 401
    assert InboundMessage.objects.count() == 0


def test_dingtalk_robot_picture_is_downloaded_by_its_code(
    client: Client, dingtalk: PlatformAccount, fake_platform: FakePlatform
) -> None:
    from aftersales.tickets.models import Attachment
    from tests.messaging.conftest import JPEG

    message = {
        "msgtype": "picture",
        "content": {"downloadCode": "code-abc", "pictureDownloadCode": "x"},
        "msgId": "msgPIC",
        "createAt": int(time.time() * 1000),
        "senderStaffId": "staff-zhao",
        "senderNick": "赵六",
    }
    assert robot_post(client, dingtalk, message).status_code == 200
    deliver_all()
    attachment = Attachment.objects.get()
    assert (attachment.size, attachment.content_type) == (len(JPEG), "image/jpeg")
    assert attachment.ticket.channel == Ticket.Channel.DINGTALK
    [download] = [c for c in fake_platform.calls if c[1] == "/v1.0/robot/messageFiles/download"]
    assert download[3] == {"downloadCode": "code-abc", "robotCode": "dingrobotcode"}
