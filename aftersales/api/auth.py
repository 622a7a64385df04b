"""API authentication: a browser session (with CSRF) or ``Authorization: Bearer <token>``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import translation
from ninja.security import APIKeyCookie, HttpBearer

from aftersales.accounts import services as accounts
from aftersales.accounts.middleware import ENROLMENT_SESSION_KEY, SECOND_FACTOR_SESSION_KEY
from aftersales.core.middleware import client_ip


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        api_token = accounts.authenticate_token(token, ip_address=client_ip(request))
        if api_token is None:
            return None
        user = api_token.user
        # authz intersects the user's permissions with these scopes for this request only.
        user._token_scopes = list(api_token.scopes)
        user._api_token_id = api_token.pk
        request.user = user
        request.api_token = api_token  # type: ignore[attr-defined]
        # UserLanguageMiddleware ran before the token was known: apply the person's choice now.
        if user.language and user.language in dict(settings.LANGUAGES):
            translation.activate(user.language)
            request.LANGUAGE_CODE = user.language
        return user


class SessionAuth(APIKeyCookie):
    """The signed-in browser session; unsafe methods need the CSRF token header."""

    param_name = "sessionid"

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        session = request.session
        if session.get(SECOND_FACTOR_SESSION_KEY) or session.get(ENROLMENT_SESSION_KEY):
            return None
        return user


api_auth = [TokenAuth(), SessionAuth()]
