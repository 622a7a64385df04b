"""Reading platform callbacks: check the signature, decrypt, and say what arrived.

WeChat (Official Account and mini-program customer service, XML) and WeCom use wechatpy's
own signature checks, crypto and parsers; DingTalk uses :mod:`.dingtalk_crypto`. Nothing
here touches the database: a callback that fails a check raises :class:`BadSignature` before
anything is stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.enterprise import parse_message as parse_enterprise_message
from wechatpy.enterprise.crypto import WeChatCrypto as EnterpriseCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import check_signature

from aftersales.messaging import dingtalk_crypto
from aftersales.messaging.models import PlatformAccount

MESSAGE_TYPES = frozenset({"text", "image"})


class BadSignature(Exception):
    """The callback is not from the platform (or not for this account)."""


class BadMessage(Exception):
    """Signed correctly but not a message we can read."""


@dataclass(frozen=True)
class Incoming:
    """One message or event, as every platform's callback reduces to it."""

    platform_msg_id: str
    sender_id: str
    msg_type: str
    content: str = ""
    media_id: str = ""
    created_at: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    reply_webhook: str = ""
    reply_webhook_expires_at: datetime | None = None

    @property
    def is_message(self) -> bool:
        return self.msg_type in MESSAGE_TYPES


def _query(params: Any, name: str) -> str:
    value = params.get(name, "")
    return value if isinstance(value, str) else ""


# --- WeChat and WeCom -----------------------------------------------------------------------------


def wechat_echo(account: PlatformAccount, params: Any) -> str:
    """The ``echostr`` to answer WeChat's URL verification with (signature checked)."""
    try:
        check_signature(
            account.token,
            _query(params, "signature"),
            _query(params, "timestamp"),
            _query(params, "nonce"),
        )
    except InvalidSignatureException:
        raise BadSignature from None
    return _query(params, "echostr")


def wecom_echo(account: PlatformAccount, params: Any) -> str:
    """WeCom's URL verification: the echostr is encrypted; answer with its plaintext."""
    try:
        crypto = EnterpriseCrypto(account.token, account.encoding_aes_key, account.app_id)
        return str(
            crypto.check_signature(
                _query(params, "msg_signature"),
                _query(params, "timestamp"),
                _query(params, "nonce"),
                _query(params, "echostr"),
            )
        )
    except (InvalidSignatureException, InvalidAppIdException, ValueError, AssertionError):
        raise BadSignature from None


def _xml_text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadMessage("The body is not UTF-8.") from None


def wechat_xml(account: PlatformAccount, params: Any, body: bytes) -> str:
    """The message XML of a POST in plain or safe (AES) mode, after checking its signature."""
    try:
        check_signature(
            account.token,
            _query(params, "signature"),
            _query(params, "timestamp"),
            _query(params, "nonce"),
        )
    except InvalidSignatureException:
        raise BadSignature from None
    if _query(params, "encrypt_type") != "aes":
        return _xml_text(body)
    return _decrypted(WeChatCrypto, account, params, body)


def _decrypted(
    crypto_class: type[WeChatCrypto] | type[EnterpriseCrypto],
    account: PlatformAccount,
    params: Any,
    body: bytes,
) -> str:
    """The plaintext of a safe-mode envelope: ``msg_signature`` checked, AES decrypted, and
    the AppID / corp id inside compared with the account's."""
    text = _xml_text(body)
    # Mini-programs may be set to the JSON data format: the envelope is then JSON too.
    envelope: Any = text
    if text.lstrip().startswith("{"):
        try:
            envelope = json.loads(text)
        except ValueError:
            raise BadMessage("The body is not JSON.") from None
        if not isinstance(envelope, dict) or not isinstance(envelope.get("Encrypt"), str):
            raise BadMessage("The JSON envelope has no Encrypt.")
    try:
        crypto = crypto_class(account.token, account.encoding_aes_key, account.app_id)
        return str(
            crypto.decrypt_message(
                envelope,
                _query(params, "msg_signature"),
                _query(params, "timestamp"),
                _query(params, "nonce"),
            )
        )
    except (InvalidSignatureException, InvalidAppIdException, AssertionError):
        raise BadSignature from None
    except (ValueError, KeyError) as error:
        raise BadMessage(str(error)) from None


def wecom_xml(account: PlatformAccount, params: Any, body: bytes) -> str:
    """WeCom always encrypts: the message XML after checking ``msg_signature``."""
    return _decrypted(EnterpriseCrypto, account, params, body)


def _timestamp(value: Any) -> datetime | None:
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        return None
    if seconds > 10**11:  # milliseconds
        seconds //= 1000
    return datetime.fromtimestamp(seconds, tz=UTC)


def read_wechat_xml(xml: str, *, enterprise: bool = False) -> Incoming:
    """What a WeChat or WeCom message says: XML through wechatpy's parser, or the JSON a
    mini-program set to the JSON data format sends (the same field names)."""
    if not enterprise and xml.lstrip().startswith("{"):
        try:
            data = json.loads(xml)
        except ValueError:
            raise BadMessage("The message is not JSON.") from None
        if not isinstance(data, dict):
            raise BadMessage("The message is not an object.")
        return _incoming({str(k): v for k, v in data.items()})
    try:
        message = parse_enterprise_message(xml) if enterprise else parse_message(xml)
    except Exception as error:  # xmltodict raises ExpatError and others for bad XML
        raise BadMessage(f"Unreadable XML: {type(error).__name__}") from None
    if message is None:
        raise BadMessage("Empty message.")
    return _incoming({str(k): v for k, v in dict(message._data).items()})


def _incoming(raw: dict[str, Any]) -> Incoming:
    sender = str(raw.get("FromUserName") or "")
    if not sender:
        raise BadMessage("The message names no sender.")
    msg_type = str(raw.get("MsgType") or "").lower()
    created = raw.get("CreateTime")
    msg_id = str(raw.get("MsgId") or "")
    if msg_type == "event":
        # Events carry no MsgId; WeChat's own advice is to de-duplicate by sender and time.
        msg_id = f"{sender}:{created}:{str(raw.get('Event') or '').lower()}"
    elif not msg_id:
        msg_id = f"{sender}:{created}"
    content = str(raw.get("Content") or "") if msg_type == "text" else ""
    media_id = str(raw.get("MediaId") or "") if msg_type == "image" else ""
    return Incoming(
        platform_msg_id=msg_id[:160],
        sender_id=sender[:128],
        msg_type=msg_type[:32] or "unknown",
        content=content,
        media_id=media_id,
        created_at=_timestamp(created),
        raw=raw,
    )


# --- DingTalk -------------------------------------------------------------------------------------


def _dingtalk_crypto(account: PlatformAccount) -> dingtalk_crypto.DingTalkCrypto:
    try:
        return dingtalk_crypto.DingTalkCrypto(
            account.token, account.encoding_aes_key, account.app_id
        )
    except dingtalk_crypto.DingTalkCryptoError:
        raise BadSignature from None


def dingtalk_event(account: PlatformAccount, params: Any, body: bytes) -> dict[str, Any]:
    """The decrypted event of a DingTalk event-subscription callback."""
    try:
        encrypt = json.loads(body or b"{}").get("encrypt", "")
    except (ValueError, AttributeError):
        raise BadSignature from None
    crypto = _dingtalk_crypto(account)
    try:
        text = crypto.check(
            _query(params, "msg_signature") or _query(params, "signature"),
            _query(params, "timestamp"),
            _query(params, "nonce"),
            encrypt if isinstance(encrypt, str) else "",
        )
    except dingtalk_crypto.DingTalkCryptoError:
        raise BadSignature from None
    try:
        event = json.loads(text)
    except ValueError:
        raise BadMessage("The event is not JSON.") from None
    if not isinstance(event, dict):
        raise BadMessage("The event is not an object.")
    return event


def dingtalk_reply(account: PlatformAccount) -> dict[str, Any]:
    return _dingtalk_crypto(account).reply("success")


def dingtalk_robot_message(
    account: PlatformAccount, headers: Any, body: bytes, *, now_ms: int | None = None
) -> Incoming:
    """A message a customer sent the account's robot (HTTP mode), after checking ``sign``."""
    try:
        dingtalk_crypto.check_robot_sign(
            account.app_secret,
            str(headers.get("timestamp", "")),
            str(headers.get("sign", "")),
            now_ms=now_ms,
        )
    except dingtalk_crypto.DingTalkCryptoError:
        raise BadSignature from None
    try:
        data = json.loads(body)
    except ValueError:
        raise BadMessage("The body is not JSON.") from None
    if not isinstance(data, dict):
        raise BadMessage("The body is not an object.")
    sender = str(data.get("senderStaffId") or data.get("senderId") or "")
    msg_id = str(data.get("msgId") or "")
    if not sender or not msg_id:
        raise BadMessage("The message names no sender or id.")
    msg_type = str(data.get("msgtype") or "")
    content = ""
    if msg_type == "text":
        content = str((data.get("text") or {}).get("content") or "").strip()
    elif msg_type == "picture":
        msg_type = "image"
    return Incoming(
        platform_msg_id=msg_id[:160],
        sender_id=sender[:128],
        msg_type=msg_type[:32] or "unknown",
        content=content,
        created_at=_timestamp(data.get("createAt")),
        raw=data,
        reply_webhook=str(data.get("sessionWebhook") or "")[:500],
        reply_webhook_expires_at=_timestamp(data.get("sessionWebhookExpiredTime")),
    )
