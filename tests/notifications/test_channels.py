"""SMS gateway, WeCom and DingTalk group robots, against local servers that check what the real
ones check (the DingTalk signature exactly as DingTalk documents it)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from aftersales.customers import services as customer_services
from aftersales.notifications import channel_settings, delivery, services
from aftersales.notifications.models import ChatRobot, Delivery, DeliveryAttempt, Notification
from aftersales.tickets.models import Ticket

pytestmark = pytest.mark.django_db

SMS_SECRET = "sms-signing-secret-0123"
DINGTALK_SECRET = "SEC0123456789abcdef0123456789abcdef"
WECOM_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeProvider:
    """Records requests; ``answer`` decides the reply (status, JSON body) to each."""

    port: int = 0
    requests: list[Received] = field(default_factory=list)
    answer: Callable[[Received], tuple[int, dict[str, Any]]] = lambda r: (200, {})

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    fake = FakeProvider()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            received = Received(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length),
            )
            fake.requests.append(received)
            status, reply = fake.answer(received)
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def loopback_allowed(settings: Any) -> None:
    settings.NOTIFICATIONS_ALLOW_PRIVATE_HOSTS = True


def _only(notification: Notification, channel: str) -> Delivery:
    return Delivery.objects.get(notification=notification, channel=channel)


# --- SMS ---------------------------------------------------------------------------------------


def sms_gateway(secret: str) -> Callable[[Received], tuple[int, dict[str, Any]]]:
    """A gateway that checks ``X-Sign = hex(HMAC-SHA256(secret, timestamp + "\\n" + body))``."""

    def answer(request: Received) -> tuple[int, dict[str, Any]]:
        timestamp = request.headers.get("x-timestamp", "")
        expected = hmac.new(
            secret.encode(), timestamp.encode() + b"\n" + request.body, hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("x-sign", "")):
            return 401, {"code": "bad_signature"}
        if abs(time.time() - int(timestamp)) > 300:
            return 401, {"code": "stale"}
        return 200, {"code": "ok", "id": "sms-1"}

    return answer


@pytest.fixture
def sms_setup(
    desk: dict[str, Any], provider: FakeProvider, loopback_allowed: None
) -> dict[str, Any]:
    channel_settings.save_sms_provider(
        actor=desk["admin"],
        changes={
            "name": "Gateway",
            "url_template": provider.url("/sms/send?to={{ phone }}"),
            "method": "POST",
            "body_template": '{"to": "{{ phone }}", "text": "{{ message }}", '
            '"ts": "{{ timestamp }}"}',
            "content_type": "application/json",
            "secret": SMS_SECRET,
            "signature_header": "X-Sign",
        },
    )
    customer_services.add_identity(
        actor=desk["admin"], customer=desk["alice"], kind="phone", value="138 1234 5678"
    )
    return desk


def test_sms_goes_to_the_gateway_signed(
    sms_setup: dict[str, Any],
    make_ticket: Callable[..., Ticket],
    templates: dict[str, Any],
    provider: FakeProvider,
) -> None:
    """The gateway gets the customer's number and the Chinese text, and the signature checks."""
    # given
    provider.answer = sms_gateway(SMS_SECRET)
    ticket = make_ticket()
    [notification] = services.notify_ticket(
        ticket=ticket, audiences=["requester"], template=templates["status-changed"],
        channels=["sms"],
    )  # fmt: skip
    assert isinstance(notification, Notification)
    # when
    delivery.send_notification(notification.pk)
    # then
    [request] = provider.requests
    assert (request.method, request.path, request.query["to"]) == (
        "POST",
        "/sms/send",
        ["+8613812345678"],
    )
    body = json.loads(request.body)
    assert body["to"] == "+8613812345678"
    assert body["text"] == f"【售后服务】工单 {ticket.number} 状态：新建。"
    assert request.headers["idempotency-key"].startswith(str(notification.uuid))
    row = _only(notification, "sms")
    assert (row.status, row.attempts) == ("sent", 1)
    assert DeliveryAttempt.objects.get(delivery=row).response_code == 200


def test_sms_with_a_wrong_signature_is_logged_and_retried(
    sms_setup: dict[str, Any],
    make_ticket: Callable[..., Ticket],
    templates: dict[str, Any],
    provider: FakeProvider,
) -> None:
    provider.answer = sms_gateway("another-secret")
    ticket = make_ticket()
    [notification] = services.notify_ticket(
        ticket=ticket, audiences=["requester"], template=templates["status-changed"],
        channels=["sms"],
    )  # fmt: skip
    assert isinstance(notification, Notification)
    delivery.send_notification(notification.pk)
    row = _only(notification, "sms")
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error.startswith("ChannelError: HTTP 401")
    assert DeliveryAttempt.objects.get(delivery=row).response_code == 401


def test_sms_template_refuses_unknown_placeholders(desk: dict[str, Any]) -> None:
    from aftersales.core.errors import DomainError

    with pytest.raises(DomainError) as refused:
        channel_settings.save_sms_provider(
            actor=desk["admin"],
            changes={"name": "G", "url_template": "https://sms.example.com/?k={{ settings }}"},
        )
    assert (refused.value.code, refused.value.field) == ("unknown_placeholder", "url_template")


# --- DingTalk ----------------------------------------------------------------------------------


def dingtalk(secret: str) -> Callable[[Received], tuple[int, dict[str, Any]]]:
    """DingTalk's check of a signed robot call: ``sign`` must equal
    base64(HMAC-SHA256(key=secret, timestamp + "\\n" + secret)) and ``timestamp`` (ms) be
    within an hour of now; it answers 200 with errcode 310000 otherwise."""

    def answer(request: Received) -> tuple[int, dict[str, Any]]:
        timestamp = request.query.get("timestamp", [""])[0]
        sign = request.query.get("sign", [""])[0]  # parse_qs has undone the URL-encoding
        string_to_sign = f"{timestamp}\n{secret}".encode()
        expected = base64.b64encode(
            hmac.new(secret.encode(), string_to_sign, hashlib.sha256).digest()
        ).decode()
        if not timestamp.isdigit() or abs(time.time() * 1000 - int(timestamp)) > 3_600_000:
            return 200, {"errcode": 310000, "errmsg": "timestamp expired"}
        if not hmac.compare_digest(expected, sign):
            return 200, {"errcode": 310000, "errmsg": "sign not match"}
        if request.query.get("access_token") != ["dt-token"]:
            return 200, {"errcode": 300001, "errmsg": "token is not exist"}
        return 200, {"errcode": 0, "errmsg": "ok"}

    return answer


def _robot(desk: dict[str, Any], provider: FakeProvider, kind: str, **fields: Any) -> ChatRobot:
    path = (
        "/robot/send?access_token=dt-token"
        if kind == "dingtalk"
        else f"/cgi-bin/webhook/send?key={WECOM_KEY}"
    )
    return channel_settings.create_robot(
        actor=desk["admin"],
        name=f"{kind} group",
        kind=kind,
        webhook_url=provider.url(path),
        team=desk["team_a"],
        **fields,
    )


def test_dingtalk_robot_posts_signed_text_to_the_team_group(
    desk: dict[str, Any],
    make_ticket: Callable[..., Ticket],
    templates: dict[str, Any],
    provider: FakeProvider,
    loopback_allowed: None,
) -> None:
    # given
    provider.answer = dingtalk(DINGTALK_SECRET)
    robot = _robot(desk, provider, "dingtalk", secret=DINGTALK_SECRET)
    ticket = make_ticket()
    notifications = services.notify_ticket(
        ticket=ticket, audiences=["team"], template=templates["sla-warning"], channels=["dingtalk"]
    )
    # when
    [notification] = notifications
    assert isinstance(notification, Notification)
    delivery.send_notification(notification.pk)
    # then
    [request] = provider.requests
    assert request.path == "/robot/send"
    assert json.loads(request.body) == {
        "msgtype": "text",
        "text": {
            "content": f"工单 {ticket.number} 即将超时\n"
            "“Washing machine does not drain”将于  到期（）。"
        },
    }
    row = _only(notification, "dingtalk")
    assert (row.robot_id, row.status, row.last_error) == (robot.pk, "sent", "")


def test_dingtalk_refusing_the_signature_is_a_failed_attempt(
    desk: dict[str, Any],
    make_ticket: Callable[..., Ticket],
    templates: dict[str, Any],
    provider: FakeProvider,
    loopback_allowed: None,
) -> None:
    provider.answer = dingtalk(DINGTALK_SECRET)
    _robot(desk, provider, "dingtalk", secret="SEC-not-the-right-one")
    ticket = make_ticket()
    [notification] = services.notify_ticket(
        ticket=ticket, audiences=["team"], template=templates["sla-warning"], channels=["dingtalk"]
    )
    assert isinstance(notification, Notification)
    delivery.send_notification(notification.pk)
    row = _only(notification, "dingtalk")
    assert (row.status, row.last_error) == (
        "pending",
        "ChannelError: errcode 310000: sign not match",
    )


# --- WeCom -------------------------------------------------------------------------------------


def test_wecom_robot_posts_text_with_its_key(
    desk: dict[str, Any],
    make_ticket: Callable[..., Ticket],
    templates: dict[str, Any],
    provider: FakeProvider,
    loopback_allowed: None,
) -> None:
    def wecom(request: Received) -> tuple[int, dict[str, Any]]:
        if request.query.get("key") != [WECOM_KEY]:
            return 200, {"errcode": 93000, "errmsg": "invalid webhook url"}
        body = json.loads(request.body)
        if body.get("msgtype") not in ("text", "markdown"):
            return 200, {"errcode": 40008, "errmsg": "invalid message type"}
        return 200, {"errcode": 0, "errmsg": "ok"}

    provider.answer = wecom
    _robot(desk, provider, "wecom")
    ticket = make_ticket()
    [notification] = services.notify_ticket(
        ticket=ticket, audiences=["team"], template=templates["sla-warning"], channels=["wecom"]
    )
    assert isinstance(notification, Notification)
    delivery.send_notification(notification.pk)
    [request] = provider.requests
    assert json.loads(request.body)["text"]["content"].startswith(f"工单 {ticket.number} 即将超时")
    assert _only(notification, "wecom").status == "sent"


def test_webhook_to_a_private_address_is_refused_by_default(
    desk: dict[str, Any],
    make_ticket: Callable[..., Ticket],
    templates: dict[str, Any],
    provider: FakeProvider,
) -> None:
    """Without NOTIFICATIONS_ALLOW_PRIVATE_HOSTS the server never calls its own network."""
    _robot(desk, provider, "wecom")
    ticket = make_ticket()
    [notification] = services.notify_ticket(
        ticket=ticket, audiences=["team"], template=templates["sla-warning"], channels=["wecom"]
    )
    assert isinstance(notification, Notification)
    delivery.send_notification(notification.pk)
    assert provider.requests == []
    row = _only(notification, "wecom")
    assert row.status == "pending"
    assert "non-public address" in row.last_error


def test_secrets_are_masked_in_the_audit_log(desk: dict[str, Any], provider: FakeProvider) -> None:
    from aftersales.audit.models import AuditEntry

    robot = _robot(desk, provider, "dingtalk", secret=DINGTALK_SECRET)
    entry = AuditEntry.objects.filter(object_type="notifications.chatrobot").latest("pk")
    assert entry.after is not None
    assert entry.after["secret"] == "••••cdef"
    assert entry.after["webhook_url"].endswith("/robot/send?access_token=••••")
    assert DINGTALK_SECRET not in json.dumps(entry.after)
    assert robot.secret == DINGTALK_SECRET


# --- Configuration API ---------------------------------------------------------------------------


def test_robot_api_never_shows_secrets_and_takes_if_match(
    desk: dict[str, Any], login_client: Callable[..., Any]
) -> None:
    admin = login_client(desk["admin"])
    created = admin.post_json(
        "/api/v1/notification-robots",
        {
            "name": "Repair group",
            "kind": "dingtalk",
            "webhook_url": "https://oapi.dingtalk.com/robot/send?access_token=abcdef0123456789",
            "secret": DINGTALK_SECRET,
            "team_id": desk["team_a"].pk,
        },
    )
    assert created.status_code == 201
    body = created.json()
    assert body["secret"] == "••••cdef"
    assert body["webhook_url"] == "https://oapi.dingtalk.com/robot/send?access_token=••••6789"
    listed = admin.get("/api/v1/notification-robots").content.decode()
    assert DINGTALK_SECRET not in listed
    assert "abcdef0123456789" not in listed
    url = f"/api/v1/notification-robots/{body['id']}"
    renamed = admin.patch_json(url, {"name": "Repair East"}, HTTP_IF_MATCH='W/"1"')
    assert (renamed.status_code, renamed.json()["version"]) == (200, 2)
    assert admin.patch_json(url, {"name": "Again"}, HTTP_IF_MATCH='W/"1"').status_code == 412
    robot = ChatRobot.objects.get(pk=body["id"])
    assert (robot.name, robot.secret) == ("Repair East", DINGTALK_SECRET)


def test_agents_cannot_read_or_change_channel_settings(
    desk: dict[str, Any], login_client: Callable[..., Any]
) -> None:
    agent = login_client(desk["insider"])
    assert agent.get("/api/v1/notification-robots").status_code == 403
    response = agent.put_json(
        "/api/v1/notification-sms-provider",
        {"name": "G", "url_template": "https://sms.example.com/send"},
    )
    assert response.status_code == 403
    assert ChatRobot.objects.count() == 0
    from aftersales.notifications.models import SmsProvider

    assert SmsProvider.objects.count() == 0


def test_markdown_robot_escapes_customer_text(
    desk: dict[str, Any],
    make_ticket: Callable[..., Ticket],
    templates: dict[str, Any],
    provider: FakeProvider,
    loopback_allowed: None,
) -> None:
    """A subject written as a Markdown link arrives escaped: the group sees it, not a link."""
    provider.answer = dingtalk(DINGTALK_SECRET)
    _robot(desk, provider, "dingtalk", secret=DINGTALK_SECRET, message_type="markdown")
    ticket = make_ticket(subject="[Win a prize](http://evil.example) **now**")
    [notification] = services.notify_ticket(
        ticket=ticket, audiences=["team"], template=templates["sla-warning"], channels=["dingtalk"]
    )
    assert isinstance(notification, Notification)
    delivery.send_notification(notification.pk)
    [request] = provider.requests
    message = json.loads(request.body)
    assert message["msgtype"] == "markdown"
    assert message["markdown"]["title"] == f"工单 {ticket.number} 即将超时"
    assert message["markdown"]["text"] == (
        f"**工单 {ticket.number.replace('-', chr(92) + '-')} 即将超时**\n\n"
        "“\\[Win a prize\\]\\(http://evil\\.example\\) \\*\\*now\\*\\*”将于  到期（）。"
    )
    assert _only(notification, "dingtalk").status == "sent"
