"""How each channel sends a delivery. A sender raises on failure; the caller records it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMessage

from aftersales.notifications.choices import Channel
from aftersales.notifications.models import Delivery


@dataclass(frozen=True)
class SendResult:
    detail: str = ""
    response_code: int | None = None


class ChannelError(Exception):
    """The provider refused the message (``response_code`` says how, when it did)."""

    def __init__(self, message: str, *, response_code: int | None = None) -> None:
        super().__init__(message)
        self.response_code = response_code


def send_email(delivery: Delivery) -> SendResult:
    """Through Django's mail API (SMTP when ``EMAIL_HOST`` is set). The Message-ID was fixed
    when the delivery was written, so a retry carries the same one."""
    message = EmailMessage(
        subject=delivery.subject.replace("\n", " ").strip(),
        body=delivery.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[delivery.address],
        headers={"Message-ID": delivery.message_id, "Auto-Submitted": "auto-generated"},
    )
    message.send(fail_silently=False)
    return SendResult(detail=f"Accepted for {delivery.address}", response_code=250)


SENDERS: dict[str, Callable[[Delivery], SendResult]] = {
    Channel.EMAIL: send_email,
}


def register_sender(channel: str, sender: Callable[[Delivery], SendResult]) -> None:
    SENDERS[channel] = sender


def send(delivery: Delivery) -> SendResult:
    sender = SENDERS.get(delivery.channel)
    if sender is None:
        raise ChannelError(f"No sender for channel {delivery.channel}.")
    return sender(delivery)
