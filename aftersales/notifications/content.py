"""A template's content: channel → language → subject and body, checked and looked up."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from aftersales.core.errors import DomainError
from aftersales.notifications import rendering
from aftersales.notifications.choices import LANGUAGES, Channel

# Where a channel without its own text borrows one: short channels read the in-app text.
FALLBACKS: dict[str, tuple[str, ...]] = {
    Channel.EMAIL: (Channel.EMAIL, Channel.IN_APP),
    Channel.IN_APP: (Channel.IN_APP, Channel.EMAIL),
    Channel.SMS: (Channel.SMS, Channel.IN_APP, Channel.EMAIL),
    Channel.WECOM: (Channel.WECOM, Channel.IN_APP, Channel.EMAIL),
    Channel.DINGTALK: (Channel.DINGTALK, Channel.IN_APP, Channel.EMAIL),
}


def _text(value: Any, *, field: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DomainError("invalid", field=field, message=_("Enter text."))
    value = value.strip()
    if len(value) > limit:
        raise DomainError(
            "too_long",
            field=field,
            message=_("Enter at most %(max_length)s characters."),
            params={"max_length": limit},
        )
    return value


def clean_content(raw: Any, *, for_customers: bool) -> dict[str, dict[str, dict[str, str]]]:
    """The content with unknown channels/languages refused, texts trimmed, placeholders checked
    and empty entries dropped; at least one body is required."""
    if not isinstance(raw, dict):
        raise DomainError("invalid", field="content", message=_("Enter the texts per channel."))
    cleaned: dict[str, dict[str, dict[str, str]]] = {}
    for channel, languages in raw.items():
        if channel not in Channel.values:
            raise DomainError(
                "unknown_channel",
                field=f"content.{channel}",
                message=_("There is no channel %(channel)s."),
                params={"channel": channel},
            )
        if not isinstance(languages, dict):
            raise DomainError("invalid", field=f"content.{channel}", message=_("Enter texts."))
        for language, texts in languages.items():
            prefix = f"content.{channel}.{language}"
            if language not in LANGUAGES:
                raise DomainError(
                    "unknown_language",
                    field=prefix,
                    message=_("Write templates in zh-hans or en."),
                )
            if not isinstance(texts, dict):
                raise DomainError("invalid", field=prefix, message=_("Enter a subject and body."))
            subject = _text(
                texts.get("subject"), field=f"{prefix}.subject", limit=rendering.MAX_SUBJECT
            )
            body = _text(texts.get("body"), field=f"{prefix}.body", limit=rendering.MAX_BODY)
            for name, value in (("subject", subject), ("body", body)):
                rendering.check_text(value, field=f"{prefix}.{name}", for_customers=for_customers)
            if subject or body:
                cleaned.setdefault(channel, {})[language] = {"subject": subject, "body": body}
    if not any(t["body"] for langs in cleaned.values() for t in langs.values()):
        raise DomainError(
            "required", field="content", message=_("Write the message for at least one channel.")
        )
    return cleaned


def texts_for(content: dict[str, Any], channel: str, language: str) -> tuple[str, str] | None:
    """(subject, body) for a channel in a language: the recipient's language first, on the
    channel or the one it borrows from, then the other language; None if nothing is written."""
    others = [lang for lang in LANGUAGES if lang != language]
    for lang in (language, *others):
        for source in FALLBACKS.get(channel, (channel,)):
            texts = content.get(source, {}).get(lang)
            if texts and texts.get("body"):
                return str(texts.get("subject", "")), str(texts["body"])
    return None


def channels_of(content: dict[str, Any]) -> list[str]:
    return [c for c in Channel.values if c in content]
