"""How each channel sends a delivery. A sender raises on failure; the caller records it.

Every HTTP channel sends an ``Idempotency-Key`` that stays the same across retries (a gateway
that honours it drops a repeat after a crash between its answer and our mark).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus

from django.conf import settings
from django.core.mail import EmailMessage

from aftersales.notifications import outbound
from aftersales.notifications.choices import Channel
from aftersales.notifications.models import ChatRobot, Delivery, SmsProvider


@dataclass(frozen=True)
class SendResult:
    detail: str = ""
    response_code: int | None = None


class ChannelError(Exception):
    """The provider refused the message (``response_code`` says how, when it did).

    ``is_permanent`` errors (no gateway configured, the robot removed) are not retried.
    """

    def __init__(
        self, message: str, *, response_code: int | None = None, is_permanent: bool = False
    ) -> None:
        super().__init__(message)
        self.response_code = response_code
        self.is_permanent = is_permanent


def send_email(delivery: Delivery) -> SendResult:
    """Through Django's mail API (SMTP when ``EMAIL_HOST`` is set). The Message-ID was fixed
    when the delivery was written, so a retry carries the same one.

    The e-mail channel decides the rest (:mod:`aftersales.channels.outgoing`): mail to a
    customer about a ticket goes from the ticket's mailbox (and its SMTP server) with the
    signed ticket token and ``In-Reply-To``/``References``; automatic mail carries
    ``Auto-Submitted: auto-generated`` and is refused when it would feed a mail loop."""
    from aftersales.channels import outgoing

    envelope = outgoing.envelope_for_delivery(delivery)
    if envelope.blocked:
        raise ChannelError(f"Not sent ({envelope.blocked}).", is_permanent=True)
    message = EmailMessage(
        subject=envelope.subject,
        body=delivery.body,
        from_email=envelope.from_email or settings.DEFAULT_FROM_EMAIL,
        to=[delivery.address],
        headers=envelope.headers,
        connection=envelope.connection,
    )
    message.send(fail_silently=False)
    return SendResult(detail=f"Accepted for {delivery.address}", response_code=250)


def idempotency_key(delivery: Delivery) -> str:
    return f"{delivery.notification.uuid}.{delivery.channel}.{delivery.pk}"


def text_of(delivery: Delivery) -> str:
    """Subject and body as one plain text, for channels without a subject line."""
    return "\n".join(part for part in (delivery.subject, delivery.body) if part)


# --- SMS --------------------------------------------------------------------------------------

SMS_PLACEHOLDER = re.compile(r"\{\{\s*(phone|message|timestamp|nonce)\s*\}\}")


def fill_sms_template(
    template: str, values: dict[str, str], *, escape: Callable[[str], str]
) -> str:
    """The gateway's URL or body with ``{{ phone }}``, ``{{ message }}``, ``{{ timestamp }}``
    and ``{{ nonce }}`` replaced once by escaped values (never compiled as a template)."""
    return SMS_PLACEHOLDER.sub(lambda match: escape(values[match.group(1)]), template)


def _json_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)[1:-1]


def sms_signature(secret: str, *, timestamp: str, body: bytes) -> str:
    """Hex HMAC-SHA256 over ``timestamp + "\n" + body`` under the provider's secret."""
    message = timestamp.encode() + b"\n" + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def send_sms(delivery: Delivery) -> SendResult:
    """Through the administrator's HTTP gateway (:class:`SmsProvider`)."""
    return send_sms_text(delivery.address, text_of(delivery), idempotency=idempotency_key(delivery))


def sms_configured() -> bool:
    return SmsProvider.objects.filter(is_active=True).exists()


def send_sms_text(phone: str, message: str, *, idempotency: str) -> SendResult:
    """Send ``message`` to ``phone`` through the first active gateway; ``idempotency`` goes to
    the gateway as the nonce and the Idempotency-Key, so a retried send is recognisable."""
    provider = SmsProvider.objects.filter(is_active=True).order_by("pk").first()
    if provider is None:
        raise ChannelError("No active SMS provider is configured.", is_permanent=True)
    timestamp = str(int(time.time()))
    values = {"phone": phone, "message": message, "timestamp": timestamp, "nonce": idempotency}
    url = fill_sms_template(provider.url_template, values, escape=lambda v: quote(v, safe=""))
    is_json = "json" in provider.content_type
    body = b""
    if provider.method == SmsProvider.Method.POST:
        escape = _json_string if is_json else quote_plus
        body = fill_sms_template(provider.body_template, values, escape=escape).encode()
    headers = {
        "Content-Type": provider.content_type,
        "Idempotency-Key": idempotency,
        "X-Timestamp": timestamp,
    }
    if provider.secret:
        headers[provider.signature_header] = sms_signature(
            provider.secret, timestamp=timestamp, body=body
        )
    answer = _call(url, method=provider.method, body=body or None, headers=headers)
    return SendResult(detail=answer.text()[:500], response_code=answer.status)


def _call(
    url: str, *, method: str = "POST", body: bytes | None, headers: dict[str, str]
) -> outbound.Response:
    try:
        return outbound.request(url, method=method, body=body, headers=headers)
    except outbound.OutboundError as error:
        raise ChannelError(str(error), response_code=error.response_code) from None


# --- Group robots -----------------------------------------------------------------------------


def dingtalk_signed_url(webhook_url: str, secret: str, *, timestamp_ms: int) -> str:
    """DingTalk's "加签": ``timestamp + "\n" + secret`` → HMAC-SHA256 (key: the secret) →
    base64 → URL-encoded, sent as ``timestamp`` and ``sign`` query parameters."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), to_sign, hashlib.sha256).digest()
    sign = quote_plus(base64.b64encode(digest).decode())
    separator = "&" if "?" in webhook_url else "?"
    return f"{webhook_url}{separator}timestamp={timestamp_ms}&sign={sign}"


def _robot_answer(answer: outbound.Response) -> SendResult:
    """Both robots answer 200 with ``{"errcode": 0, "errmsg": "ok"}``; anything else failed."""
    try:
        data = json.loads(answer.body or b"{}")
    except ValueError:
        raise ChannelError(
            f"Unexpected answer: {answer.text()[:200]}", response_code=answer.status
        ) from None
    if data.get("errcode") != 0:
        raise ChannelError(
            f"errcode {data.get('errcode')}: {data.get('errmsg', '')}",
            response_code=answer.status,
        )
    return SendResult(detail=answer.text()[:500], response_code=answer.status)


def _robot(delivery: Delivery) -> ChatRobot:
    robot = delivery.robot
    if robot is None or not robot.is_active:
        raise ChannelError("The group robot was removed or deactivated.", is_permanent=True)
    return robot


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!<>|~])")


def markdown_escape(text: str) -> str:
    """Text shown as itself in Markdown: customer text cannot become links or formatting."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def robot_message(delivery: Delivery, robot: ChatRobot) -> dict[str, Any]:
    """The robot's JSON message: plain text, or Markdown with the subject in bold and every
    rendered value escaped."""
    if robot.message_type != ChatRobot.MessageType.MARKDOWN:
        return {"msgtype": "text", "text": {"content": text_of(delivery)}}
    subject, body = markdown_escape(delivery.subject), markdown_escape(delivery.body)
    text = f"**{subject}**\n\n{body}" if subject else body
    if robot.kind == ChatRobot.Kind.DINGTALK:
        title = delivery.subject or delivery.body[:30]
        return {"msgtype": "markdown", "markdown": {"title": title, "text": text}}
    return {"msgtype": "markdown", "markdown": {"content": text}}


def _robot_body(delivery: Delivery, robot: ChatRobot) -> bytes:
    return json.dumps(robot_message(delivery, robot), ensure_ascii=False).encode()


def send_wecom(delivery: Delivery) -> SendResult:
    """WeCom group robot: the webhook key is in the URL; the body is a text message."""
    robot = _robot(delivery)
    answer = _call(
        robot.webhook_url,
        body=_robot_body(delivery, robot),
        headers={"Content-Type": "application/json", "Idempotency-Key": idempotency_key(delivery)},
    )
    return _robot_answer(answer)


def send_dingtalk(delivery: Delivery) -> SendResult:
    """DingTalk group robot, signed when the robot has a secret."""
    robot = _robot(delivery)
    url = robot.webhook_url
    if robot.secret:
        url = dingtalk_signed_url(url, robot.secret, timestamp_ms=int(time.time() * 1000))
    answer = _call(
        url,
        body=_robot_body(delivery, robot),
        headers={"Content-Type": "application/json", "Idempotency-Key": idempotency_key(delivery)},
    )
    return _robot_answer(answer)


SENDERS: dict[str, Callable[[Delivery], SendResult]] = {
    Channel.EMAIL: send_email,
    Channel.SMS: send_sms,
    Channel.WECOM: send_wecom,
    Channel.DINGTALK: send_dingtalk,
}


def register_sender(channel: str, sender: Callable[[Delivery], SendResult]) -> None:
    SENDERS[channel] = sender


def send(delivery: Delivery) -> SendResult:
    sender = SENDERS.get(delivery.channel)
    if sender is None:
        raise ChannelError(f"No sender for channel {delivery.channel}.", is_permanent=True)
    return sender(delivery)
