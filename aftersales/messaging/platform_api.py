"""Calling the platforms' server APIs: access tokens, sending, user info, media, OAuth.

Every call goes through :func:`aftersales.notifications.outbound.check_url` (http(s) only, no
private addresses unless ``NOTIFICATIONS_ALLOW_PRIVATE_HOSTS``), with a timeout and without
following redirects. The notifications client reads at most 64 KiB, too little for a photo, so
media downloads use the same checks with a larger limit here.

Access tokens are cached on the account row until a minute before they expire and fetched
again when the platform says the one we sent is invalid or expired (40001, 40014, 42001).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.utils import timezone

from aftersales.messaging.models import PlatformAccount
from aftersales.notifications import outbound

Kind = PlatformAccount.Kind
TIMEOUT_SECONDS = 10
MAX_JSON_BYTES = 256 * 1024
MAX_MEDIA_BYTES = 10 * 1024 * 1024
# The platform refused the token we sent: fetch a fresh one and try once more.
TOKEN_ERRORS = frozenset({40001, 40014, 42001})

DEFAULT_BASE = {
    Kind.WECHAT_OFFICIAL: "https://api.weixin.qq.com",
    Kind.WECHAT_MINIPROGRAM: "https://api.weixin.qq.com",
    Kind.WECOM: "https://qyapi.weixin.qq.com",
    Kind.DINGTALK: "https://api.dingtalk.com",
}


class PlatformError(Exception):
    """The platform could not be reached or refused the call (``errcode`` when it said why).

    ``is_permanent`` errors (the recipient blocked us, the 48-hour window closed, no secret
    configured) are not worth retrying.
    """

    def __init__(
        self, message: str, *, errcode: int | None = None, is_permanent: bool = False
    ) -> None:
        super().__init__(message)
        self.errcode = errcode
        self.is_permanent = is_permanent


# WeChat: 45015 reply window (48 h) closed, 43004 not following, 40003 bad openid,
# 45047 too many messages without an answer, 43019 in blacklist.
PERMANENT_ERRORS = frozenset({40003, 43004, 43019, 45015, 45047})


@dataclass(frozen=True)
class Media:
    filename: str
    content_type: str
    content: bytes


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def base_url(account: PlatformAccount) -> str:
    return (account.api_base_url or DEFAULT_BASE[PlatformAccount.Kind(account.kind)]).rstrip("/")


def _http(
    url: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    limit: int = MAX_JSON_BYTES,
) -> tuple[bytes, str]:
    """(body, content type) of one call; refused addresses, errors and timeouts raise."""
    try:
        outbound.check_url(url)
    except outbound.OutboundError as error:
        raise PlatformError(str(error), is_permanent=True) from None
    call = urllib.request.Request(  # noqa: S310 - check_url allowed only http(s)
        url, data=body, method=method, headers=headers or {}
    )
    try:
        with _OPENER.open(call, timeout=TIMEOUT_SECONDS) as answer:
            return answer.read(limit + 1)[: limit + 1], answer.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        raise PlatformError(f"HTTP {error.code}") from None
    except (urllib.error.URLError, OSError) as error:
        raise PlatformError(f"{type(error).__name__}: {error}") from None


def _json(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data or b"{}")
    except ValueError:
        raise PlatformError("The platform answered with something that is not JSON.") from None
    if not isinstance(value, dict):
        raise PlatformError("The platform answered with something that is not an object.")
    return value


def _check(data: dict[str, Any]) -> dict[str, Any]:
    errcode = data.get("errcode")
    if errcode not in (None, 0):
        code = int(errcode)
        raise PlatformError(
            f"errcode {code}: {data.get('errmsg', '')}",
            errcode=code,
            is_permanent=code in PERMANENT_ERRORS,
        )
    if "code" in data and "message" in data and "accessToken" not in data:
        # DingTalk's new API reports errors as {"code": "...", "message": "..."} with HTTP 4xx.
        raise PlatformError(f"{data['code']}: {data['message']}")
    return data


# --- Access tokens --------------------------------------------------------------------------------


def _fetch_token(account: PlatformAccount) -> tuple[str, int]:
    if not account.app_secret:
        raise PlatformError("The account has no app secret.", is_permanent=True)
    base = base_url(account)
    if account.kind == Kind.DINGTALK:
        body = json.dumps({"appKey": account.app_id, "appSecret": account.app_secret}).encode()
        raw, _type = _http(
            f"{base}/v1.0/oauth2/accessToken",
            method="POST",
            body=body,
            headers={"Content-Type": "application/json"},
        )
        data = _check(_json(raw))
        return str(data["accessToken"]), int(data.get("expireIn", 7200))
    if account.kind == Kind.WECOM:
        query = urlencode({"corpid": account.app_id, "corpsecret": account.app_secret})
        raw, _type = _http(f"{base}/cgi-bin/gettoken?{query}")
    else:
        query = urlencode(
            {
                "grant_type": "client_credential",
                "appid": account.app_id,
                "secret": account.app_secret,
            }
        )
        raw, _type = _http(f"{base}/cgi-bin/token?{query}")
    data = _check(_json(raw))
    if "access_token" not in data:
        raise PlatformError("The platform returned no access token.")
    return str(data["access_token"]), int(data.get("expires_in", 7200))


def access_token(account: PlatformAccount, *, refresh: bool = False) -> str:
    """The account's access token, from the cache on its row unless stale or ``refresh``."""
    now = timezone.now()
    if (
        not refresh
        and account.access_token
        and account.access_token_expires_at is not None
        and account.access_token_expires_at > now
    ):
        return account.access_token
    token, expires_in = _fetch_token(account)
    account.access_token = token
    # A minute's margin: a token about to expire is replaced before the platform refuses it.
    account.access_token_expires_at = now + timedelta(seconds=max(expires_in - 60, 0))
    # A cache column, not business data: written without an audit entry.
    PlatformAccount.objects.filter(pk=account.pk).update(
        access_token=token, access_token_expires_at=account.access_token_expires_at
    )
    return token


def _with_token(account: PlatformAccount, call: Any) -> dict[str, Any]:
    try:
        return _check(call(access_token(account)))
    except PlatformError as error:
        if error.errcode not in TOKEN_ERRORS:
            raise
    return _check(call(access_token(account, refresh=True)))


def _get(account: PlatformAccount, path: str, **params: str) -> dict[str, Any]:
    def call(token: str) -> dict[str, Any]:
        query = urlencode({"access_token": token, **params})
        return _json(_http(f"{base_url(account)}{path}?{query}")[0])

    return _with_token(account, call)


def _post(account: PlatformAccount, path: str, payload: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(payload, ensure_ascii=False).encode()

    def call(token: str) -> dict[str, Any]:
        query = urlencode({"access_token": token})
        raw, _type = _http(
            f"{base_url(account)}{path}?{query}",
            method="POST",
            body=body,
            headers={"Content-Type": "application/json"},
        )
        return _json(raw)

    return _with_token(account, call)


# --- What the messaging services call -------------------------------------------------------------


def send_text(
    account: PlatformAccount, *, recipient: str, text: str, webhook: str = ""
) -> dict[str, Any]:
    """Send ``text`` to one customer: WeChat's customer-service message, WeCom's application
    message, DingTalk's session webhook (while valid) or its robot one-to-one message."""
    if account.kind == Kind.WECOM:
        return _post(
            account,
            "/cgi-bin/message/send",
            {
                "touser": recipient,
                "msgtype": "text",
                "agentid": int(account.agent_id or 0),
                "text": {"content": text},
            },
        )
    if account.kind == Kind.DINGTALK:
        message = {"msgtype": "text", "text": {"content": text}}
        if webhook:
            raw, _type = _http(
                webhook,
                method="POST",
                body=json.dumps(message, ensure_ascii=False).encode(),
                headers={"Content-Type": "application/json"},
            )
            return _check(_json(raw))
        token = access_token(account)
        body = {
            "robotCode": account.agent_id or account.app_id,
            "userIds": [recipient],
            "msgKey": "sampleText",
            "msgParam": json.dumps({"content": text}, ensure_ascii=False),
        }
        raw, _type = _http(
            f"{base_url(account)}/v1.0/robot/oToMessages/batchSend",
            method="POST",
            body=json.dumps(body, ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json", "x-acs-dingtalk-access-token": token},
        )
        return _check(_json(raw))
    return _post(
        account,
        "/cgi-bin/message/custom/send",
        {"touser": recipient, "msgtype": "text", "text": {"content": text}},
    )


def user_info(account: PlatformAccount, *, openid: str) -> dict[str, Any]:
    """What the platform tells about a sender: for an Official Account follower ``unionid``
    (when bound to an Open Platform account) and ``nickname`` where still given; for a WeCom
    member their ``name`` as ``nickname``. Empty for other platforms."""
    if account.kind == Kind.WECOM:
        member = _get(account, "/cgi-bin/user/get", userid=openid)
        return {"nickname": str(member.get("name") or "")}
    if account.kind != Kind.WECHAT_OFFICIAL:
        return {}
    return _get(account, "/cgi-bin/user/info", openid=openid, lang="zh_CN")


def download_media(account: PlatformAccount, *, media_id: str) -> Media:
    """A temporary media file (a customer's photo) by its media id."""
    if account.kind == Kind.DINGTALK:
        return _dingtalk_file(account, download_code=media_id)

    def fetch(token: str) -> tuple[bytes, str]:
        query = urlencode({"access_token": token, "media_id": media_id})
        return _http(f"{base_url(account)}/cgi-bin/media/get?{query}", limit=MAX_MEDIA_BYTES)

    content, content_type = fetch(access_token(account))
    if content_type.startswith(("application/json", "text/plain")):
        # Errors come back as JSON instead of the file.
        try:
            _check(_json(content))
        except PlatformError as error:
            if error.errcode not in TOKEN_ERRORS:
                raise
            content, content_type = fetch(access_token(account, refresh=True))
            if content_type.startswith(("application/json", "text/plain")):
                _check(_json(content))
    return _media(media_id, content, content_type)


def _media(name: str, content: bytes, content_type: str) -> Media:
    if len(content) > MAX_MEDIA_BYTES:
        raise PlatformError("The media file is larger than 10 MB.", is_permanent=True)
    kind = content_type.split(";")[0].strip() or "application/octet-stream"
    extension = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif"}.get(kind, "bin")
    return Media(filename=f"{name[:40]}.{extension}", content_type=kind, content=content)


def _dingtalk_file(account: PlatformAccount, *, download_code: str) -> Media:
    """A file a customer sent the robot: its ``downloadCode`` is exchanged for a short-lived
    URL (``v1.0/robot/messageFiles/download``), which is then fetched."""
    token = access_token(account)
    body = {"downloadCode": download_code, "robotCode": account.agent_id or account.app_id}
    raw, _type = _http(
        f"{base_url(account)}/v1.0/robot/messageFiles/download",
        method="POST",
        body=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "x-acs-dingtalk-access-token": token},
    )
    url = str(_check(_json(raw)).get("downloadUrl") or "")
    if not url:
        raise PlatformError("The platform returned no download URL.")
    content, content_type = _http(url, limit=MAX_MEDIA_BYTES)
    return _media("dingtalk-picture", content, content_type)


def oauth_openid(account: PlatformAccount, *, code: str) -> dict[str, Any]:
    """Exchange a web-page authorisation code (``snsapi_base``) for the visitor's openid."""
    if not account.app_secret:
        raise PlatformError("The account has no app secret.", is_permanent=True)
    query = urlencode(
        {
            "appid": account.app_id,
            "secret": account.app_secret,
            "code": code,
            "grant_type": "authorization_code",
        }
    )
    data = _check(_json(_http(f"{base_url(account)}/sns/oauth2/access_token?{query}")[0]))
    if not data.get("openid"):
        raise PlatformError("The platform returned no openid.")
    return data


def code_to_session(account: PlatformAccount, *, code: str) -> dict[str, Any]:
    """A mini-program's ``wx.login`` code → the user's openid (and unionid when bound)."""
    if not account.app_secret:
        raise PlatformError("The account has no app secret.", is_permanent=True)
    query = urlencode(
        {
            "appid": account.app_id,
            "secret": account.app_secret,
            "js_code": code,
            "grant_type": "authorization_code",
        }
    )
    data = _check(_json(_http(f"{base_url(account)}/sns/jscode2session?{query}")[0]))
    if not data.get("openid"):
        raise PlatformError("The platform returned no openid.")
    return data


def phone_number(account: PlatformAccount, *, code: str) -> str:
    """A mini-program's ``getPhoneNumber`` code → the phone number WeChat verified, with its
    country code (``+8613812345678``)."""
    data = _post(account, "/wxa/business/getuserphonenumber", {"code": code})
    info = data.get("phone_info") or {}
    number = str(info.get("purePhoneNumber") or "")
    country = str(info.get("countryCode") or "86")
    if not number:
        raise PlatformError("The platform returned no phone number.")
    return f"+{country}{number}"


def wecom_oauth_user(account: PlatformAccount, *, code: str) -> str:
    """A WeCom web-page authorisation code → the visitor's userid (members) or external
    userid / openid (others), whichever WeCom gives."""
    data = _get(account, "/cgi-bin/auth/getuserinfo", code=code)
    user = str(data.get("userid") or data.get("UserId") or "")
    user = user or str(data.get("external_userid") or data.get("openid") or "")
    if not user:
        raise PlatformError("The platform returned no user.")
    return user
