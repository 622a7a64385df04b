"""Fixtures for the messaging tests: a local fake of the WeChat/WeCom/DingTalk server APIs,
platform accounts, and callbacks built with the platforms' own crypto (wechatpy)."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.utils import timezone
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

from aftersales.accounts.models import BusinessLine, Team, User
from aftersales.messaging import services
from aftersales.messaging.models import PlatformAccount
from aftersales.outbox import services as outbox
from aftersales.outbox.models import EventDelivery, OutboxEvent
from aftersales.tickets import services as ticket_services
from aftersales.tickets.models import TicketType
from tests.api.support import fast_hashing

__all__ = ["fast_hashing"]

TOKEN = "callbacktoken"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APP_ID = "wx1234567890abcdef"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + bytes(range(256)) * 4 + b"\xff\xd9"
_numbers = itertools.count(1000)


@pytest.fixture(autouse=True)
def _fast_passwords(fast_hashing: None) -> None:
    """Users are made in every test; production-strength hashing would only slow them."""


@pytest.fixture(autouse=True)
def _media_in_tmp(settings: Any, tmp_path: Any) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }


# --- The fake platform API ------------------------------------------------------------------------


@dataclass
class FakePlatform:
    """What the fake server was asked, and what it will answer."""

    url: str = ""
    calls: list[tuple[str, str, dict[str, list[str]], Any]] = field(default_factory=list)
    tokens_issued: int = 0
    # openid → user info answered by /cgi-bin/user/info
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    # OAuth / jscode2session code → answer
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    # getPhoneNumber code → phone (without country code)
    phones: dict[str, str] = field(default_factory=dict)
    # Next answers of the send API (errcode); empty means success.
    send_errors: list[int] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)

    def paths(self) -> list[str]:
        return [path for _method, path, _query, _body in self.calls]


def _handler(fake: FakePlatform) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return

        def _reply(self, payload: Any, content_type: str = "application/json") -> None:
            body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _token_ok(self, query: dict[str, list[str]]) -> bool:
            token = query.get("access_token", [""])[0] or self.headers.get(
                "x-acs-dingtalk-access-token", ""
            )
            return token == f"TOKEN-{fake.tokens_issued}"

        def _handle(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            fake.calls.append((method, parts.path, query, body))
            path = parts.path
            if path in ("/cgi-bin/token", "/cgi-bin/gettoken", "/v1.0/oauth2/accessToken"):
                if "wrong" in (query.get("secret", query.get("corpsecret", [""]))[0]):
                    return self._reply({"errcode": 40125, "errmsg": "invalid appsecret"})
                fake.tokens_issued += 1
                token = f"TOKEN-{fake.tokens_issued}"
                if path.startswith("/v1.0"):
                    return self._reply({"accessToken": token, "expireIn": 7200})
                return self._reply({"access_token": token, "expires_in": 7200})
            if path == "/sns/oauth2/access_token" or path == "/sns/jscode2session":
                answer = fake.codes.get(query.get("code", query.get("js_code", [""]))[0])
                if answer is None:
                    return self._reply({"errcode": 40029, "errmsg": "invalid code"})
                return self._reply(answer)
            if path.startswith("/files/"):  # a short-lived download URL, signed by its path
                return self._reply(JPEG, "image/jpeg")
            if path == "/robot/sendBySession":  # DingTalk's session webhook: signed by its URL
                fake.sent.append(body)
                return self._reply({"errcode": 0, "errmsg": "ok"})
            if not self._token_ok(query):
                return self._reply({"errcode": 40001, "errmsg": "invalid credential"})
            if path == "/cgi-bin/auth/getuserinfo":
                answer = fake.codes.get(query.get("code", [""])[0])
                return self._reply(answer or {"errcode": 40029, "errmsg": "invalid code"})
            if path == "/cgi-bin/user/get":
                userid = query["userid"][0]
                return self._reply({"errcode": 0, "userid": userid, **fake.users.get(userid, {})})
            if path == "/cgi-bin/user/info":
                openid = query["openid"][0]
                return self._reply({"subscribe": 1, "openid": openid, **fake.users.get(openid, {})})
            if path == "/v1.0/robot/messageFiles/download":
                return self._reply({"downloadUrl": f"{fake.url}/files/{body['downloadCode']}"})
            if path == "/cgi-bin/media/get":
                return self._reply(JPEG, "image/jpeg")
            if path == "/wxa/business/getuserphonenumber":
                phone = fake.phones.get(body["code"]) if body else None
                if phone is None:
                    return self._reply({"errcode": 40029, "errmsg": "invalid code"})
                return self._reply(
                    {
                        "errcode": 0,
                        "phone_info": {"purePhoneNumber": phone, "countryCode": "86"},
                    }
                )
            if path in (
                "/cgi-bin/message/custom/send",
                "/cgi-bin/message/send",
                "/v1.0/robot/oToMessages/batchSend",
            ):
                if fake.send_errors:
                    code = fake.send_errors.pop(0)
                    return self._reply({"errcode": code, "errmsg": "refused"})
                fake.sent.append(body)
                return self._reply({"errcode": 0, "errmsg": "ok"})
            self.send_response(404)
            self.end_headers()
            return None

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

    return Handler


@pytest.fixture
def fake_platform(settings: Any) -> Iterator[FakePlatform]:
    """A local fake of the platforms' server APIs; outbound calls may reach loopback."""
    settings.NOTIFICATIONS_ALLOW_PRIVATE_HOSTS = True
    fake = FakePlatform()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


# --- The service desk -----------------------------------------------------------------------------


@pytest.fixture
def desk(
    admin_user: User,
    make_line: Callable[..., BusinessLine],
    make_team: Callable[..., Team],
    make_user: Callable[..., User],
) -> dict[str, Any]:
    """Line "east" with team "Service East" and its support ticket type; an agent of that team,
    an agent of another line, and a messaging administrator scoped to east."""
    east = make_line(code="east", name="East")
    west = make_line(code="west", name="West")
    team = make_team(name="Service East", line=east)
    west_team = make_team(name="Service West", line=west)
    support: TicketType = ticket_services.create_ticket_type(
        actor=admin_user,
        business_line=east,
        key="support",
        name_zh="咨询",
        name_en="Support",
        number_prefix="SUP",
    )
    return {
        "admin": admin_user,
        "east": east,
        "west": west,
        "team": team,
        "support": support,
        "agent": make_user("agent-east", role="agent", scope="teams", teams=[team]),
        "west_team": west_team,
        "outsider": make_user("agent-west", role="agent", scope="teams", teams=[west_team]),
    }


@pytest.fixture
def make_account(
    desk: dict[str, Any], fake_platform: FakePlatform
) -> Callable[..., PlatformAccount]:
    def make(**values: Any) -> PlatformAccount:
        fields: dict[str, Any] = {
            "key": f"acct{next(_numbers)}",
            "name": "Service Account",
            "kind": PlatformAccount.Kind.WECHAT_OFFICIAL,
            "app_id": APP_ID,
            "app_secret": "appsecret",
            "token": TOKEN,
            "encoding_aes_key": AES_KEY,
            "api_base_url": fake_platform.url,
            "business_line": desk["east"],
            "team": desk["team"],
            "ticket_type": desk["support"],
            **values,
        }
        return services.create_account(actor=desk["admin"], **fields)

    return make


@pytest.fixture
def account(make_account: Callable[..., PlatformAccount]) -> PlatformAccount:
    return make_account(key="service")


# --- Callbacks as the platform sends them ---------------------------------------------------------


def text_xml(openid: str, content: str, msg_id: int, *, created: int | None = None) -> str:
    return (
        "<xml>"
        f"<ToUserName><![CDATA[gh_service]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{created or int(time.time())}</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content>"
        f"<MsgId>{msg_id}</MsgId>"
        "</xml>"
    )


def image_xml(openid: str, media_id: str, msg_id: int) -> str:
    return (
        "<xml>"
        f"<ToUserName><![CDATA[gh_service]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime>"
        "<MsgType><![CDATA[image]]></MsgType>"
        "<PicUrl><![CDATA[http://mmbiz.example/pic.jpg]]></PicUrl>"
        f"<MediaId><![CDATA[{media_id}]]></MediaId>"
        f"<MsgId>{msg_id}</MsgId>"
        "</xml>"
    )


def signature(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return str(signer.signature)


def safe_mode_request(
    xml: str, *, token: str = TOKEN, aes_key: str = AES_KEY, app_id: str = APP_ID
) -> tuple[str, bytes]:
    """(query string, body) of a safe-mode callback, encrypted and signed by wechatpy exactly
    as the WeChat server does it."""
    timestamp, nonce = str(int(time.time())), "nonce42"
    crypto = WeChatCrypto(token, aes_key, app_id)
    envelope = crypto.encrypt_message(xml, nonce, timestamp)
    import xmltodict

    parsed = xmltodict.parse(envelope)["xml"]
    query = urlencode(
        {
            "signature": signature(token, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
            "openid": "ignored",
            "encrypt_type": "aes",
            "msg_signature": parsed["MsgSignature"],
        }
    )
    body = (
        f"<xml><ToUserName><![CDATA[gh_service]]></ToUserName>"
        f"<Encrypt><![CDATA[{parsed['Encrypt']}]]></Encrypt></xml>"
    ).encode()
    return query, body


def deliver_all() -> None:
    """Run every due outbox delivery, again until none is left, as the worker would."""
    for _round in range(10):
        pending = list(
            EventDelivery.objects.filter(status="pending", next_attempt_at__lte=timezone.now())
            .values_list("event_id", flat=True)
            .distinct()
        )
        if not pending:
            return
        for event in OutboxEvent.objects.filter(pk__in=pending).order_by("created_at"):
            outbox.deliver_event(str(event.pk))
