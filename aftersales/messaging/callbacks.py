"""The URLs the platforms call, and the menu link that opens the portal.

A callback checks the platform's signature (401 when wrong, nothing stored), stores the
message in the request's transaction and answers at once; the ticket is written afterwards.
WeChat retries a callback not answered within 5 seconds and DingTalk wants its answer within
1.5, so nothing here calls out to the platform.
"""

from __future__ import annotations

import hashlib
import json
import logging

from django.db import transaction
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseRedirect,
    JsonResponse,
)
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from aftersales.core.errors import DomainError
from aftersales.messaging import platform_api, protocols, selectors, services
from aftersales.messaging.models import PlatformAccount
from aftersales.portal.services import open_portal_session

logger = logging.getLogger(__name__)
Kind = PlatformAccount.Kind


def _account(kind: str, key: str) -> PlatformAccount:
    account = selectors.active_account(kind, key)
    if account is None:
        raise Http404
    return account


def _sign_in_failed() -> HttpResponse:
    message = _("We could not sign you in. Please open the link from the menu again.")
    return HttpResponse(str(message), status=403, content_type="text/plain; charset=utf-8")


def _unauthorised() -> HttpResponse:
    return HttpResponse("invalid signature", status=401, content_type="text/plain")


def _store(account: PlatformAccount, incoming: protocols.Incoming) -> None:
    received = services.receive(account=account, incoming=incoming)
    if not received.is_new:
        logger.info("Retry of %s message %s ignored", account.key, incoming.platform_msg_id)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def wechat_callback(request: HttpRequest, key: str) -> HttpResponse:
    """Official Account and mini-program customer service: URL check (GET) and messages
    (POST, plain or AES safe mode). Answers "success": no passive reply."""
    account = _account("wechat", key)
    try:
        if request.method == "GET":
            return HttpResponse(
                protocols.wechat_echo(account, request.GET), content_type="text/plain"
            )
        xml = protocols.wechat_xml(account, request.GET, request.body)
        incoming = protocols.read_wechat_xml(xml)
    except protocols.BadSignature:
        return _unauthorised()
    except protocols.BadMessage as error:
        return HttpResponseBadRequest(str(error), content_type="text/plain")
    _store(account, incoming)
    return HttpResponse("success", content_type="text/plain")


@csrf_exempt
@require_http_methods(["GET", "POST"])
def wecom_callback(request: HttpRequest, key: str) -> HttpResponse:
    """WeCom application callback: the GET echostr is decrypted and echoed; messages are
    always AES-encrypted. Answers with an empty body."""
    account = _account(Kind.WECOM, key)
    try:
        if request.method == "GET":
            return HttpResponse(
                protocols.wecom_echo(account, request.GET), content_type="text/plain"
            )
        xml = protocols.wecom_xml(account, request.GET, request.body)
        incoming = protocols.read_wechat_xml(xml, enterprise=True)
    except protocols.BadSignature:
        return _unauthorised()
    except protocols.BadMessage as error:
        return HttpResponseBadRequest(str(error), content_type="text/plain")
    _store(account, incoming)
    return HttpResponse("", content_type="text/plain")


@csrf_exempt
@require_http_methods(["POST"])
def dingtalk_callback(request: HttpRequest, key: str) -> HttpResponse:
    """DingTalk event subscription (HTTP push): events are recorded; every callback, the URL
    check included, is answered with an encrypted "success"."""
    account = _account(Kind.DINGTALK, key)
    try:
        event = protocols.dingtalk_event(account, request.GET, request.body)
    except protocols.BadSignature:
        return _unauthorised()
    except protocols.BadMessage as error:
        return HttpResponseBadRequest(str(error), content_type="text/plain")
    event_type = str(event.get("EventType") or "")
    if event_type != "check_url":
        digest = hashlib.sha256(json.dumps(event, sort_keys=True).encode()).hexdigest()[:40]
        _store(
            account,
            protocols.Incoming(
                platform_msg_id=f"event:{event_type[:60]}:{digest}",
                sender_id=str(event.get("CorpId") or account.app_id)[:128],
                msg_type="event",
                raw=event,
            ),
        )
    return JsonResponse(protocols.dingtalk_reply(account))


@csrf_exempt
@require_http_methods(["POST"])
def dingtalk_robot(request: HttpRequest, key: str) -> HttpResponse:
    """Messages customers send the account's DingTalk robot (HTTP mode, signed headers)."""
    account = _account(Kind.DINGTALK, key)
    try:
        incoming = protocols.dingtalk_robot_message(account, request.headers, request.body)
    except protocols.BadSignature:
        return _unauthorised()
    except protocols.BadMessage as error:
        return HttpResponseBadRequest(str(error), content_type="text/plain")
    _store(account, incoming)
    return JsonResponse({})


def authorize_url(account: PlatformAccount, redirect_uri: str) -> str:
    """WeChat's (and WeCom's) web authorisation, ``snsapi_base``: silent, the id only."""
    params = {
        "appid": account.app_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": "snsapi_base",
        "state": "portal",
    }
    if account.kind == Kind.WECOM:
        params["agentid"] = account.agent_id
    return (
        f"https://open.weixin.qq.com/connect/oauth2/authorize?{urlencode(params)}#wechat_redirect"
    )


def _portal_for(
    request: HttpRequest, account: PlatformAccount, sender_id: str, unionid: str
) -> HttpResponse:
    try:
        with transaction.atomic():
            customer = services.match_customer(
                account=account,
                sender_id=sender_id,
                name=services.default_name(account, sender_id),
                unionid=unionid,
            )
        open_portal_session(request, customer=customer)
    except DomainError as error:
        logger.warning("Portal sign-in for %s refused: %s", account.key, error.code)
        return _sign_in_failed()
    return HttpResponseRedirect("/portal/")


@require_GET
def wechat_portal(request: HttpRequest, key: str) -> HttpResponse:
    """The Official Account's menu link and QR code: WeChat tells us the visitor's openid
    (OAuth ``snsapi_base``), we find or create their customer record and sign them in to
    the portal."""
    account = _account("wechat", key)
    if account.kind != Kind.WECHAT_OFFICIAL:
        raise Http404
    code = request.GET.get("code", "")
    if not code:
        here = request.build_absolute_uri(request.path)
        return HttpResponseRedirect(authorize_url(account, here))
    try:
        answer = platform_api.oauth_openid(account, code=code)
    except platform_api.PlatformError as error:
        logger.warning("WeChat sign-in for %s failed: %s", account.key, error)
        return _sign_in_failed()
    return _portal_for(request, account, str(answer["openid"]), str(answer.get("unionid") or ""))


@require_GET
def wecom_portal(request: HttpRequest, key: str) -> HttpResponse:
    """A WeCom application's menu link: WeCom names the visitor (OAuth ``snsapi_base``), who
    is signed in to the portal as the customer holding that id."""
    account = _account(Kind.WECOM, key)
    code = request.GET.get("code", "")
    if not code:
        return HttpResponseRedirect(
            authorize_url(account, request.build_absolute_uri(request.path))
        )
    try:
        user = platform_api.wecom_oauth_user(account, code=code)
    except platform_api.PlatformError as error:
        logger.warning("WeCom sign-in for %s failed: %s", account.key, error)
        return _sign_in_failed()
    return _portal_for(request, account, user, "")


@csrf_exempt
@require_http_methods(["POST"])
def miniprogram_identify(request: HttpRequest, key: str) -> HttpResponse:
    """The mini-program tells us who its user is: ``login_code`` (wx.login) and optionally
    ``phone_code`` (getPhoneNumber). Both are exchanged with WeChat, never trusted as sent, so
    a verified phone links the user's openid to the customer who already has that phone."""
    account = _account("wechat", key)
    if account.kind != Kind.WECHAT_MINIPROGRAM:
        raise Http404
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"detail": "The body is not JSON."}, status=400)
    login_code = data.get("login_code") if isinstance(data, dict) else None
    phone_code = data.get("phone_code") if isinstance(data, dict) else None
    if not isinstance(login_code, str) or not login_code:
        return JsonResponse(
            {"detail": "login_code is required.", "field": "login_code"}, status=400
        )
    try:
        session = platform_api.code_to_session(account, code=login_code)
        phone = (
            platform_api.phone_number(account, code=phone_code)
            if isinstance(phone_code, str) and phone_code
            else ""
        )
    except platform_api.PlatformError as error:
        logger.warning("Mini-program sign-in for %s failed: %s", account.key, error)
        return JsonResponse({"detail": "WeChat refused the code."}, status=403)
    customer = services.identify_miniprogram_user(
        account=account,
        openid=str(session["openid"]),
        unionid=str(session.get("unionid") or ""),
        phone=phone,
    )
    return JsonResponse({"customer_id": customer.pk})
