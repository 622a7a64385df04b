"""Per-user language, and the second step of login for staff with two-factor."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import translation

SECOND_FACTOR_SESSION_KEY = "aftersales_second_factor_pending"
ENROLMENT_SESSION_KEY = "aftersales_two_factor_enrolment_required"

# Only the pages that finish (or abandon) the sign-in are reachable before the second step.
_ALLOWED_DURING_SECOND_STEP = (
    "/accounts/login/",
    "/accounts/logout/",
    "/accounts/two-factor/",
    "/accounts/language/",
    "/accounts/password/reset/",
    "/static/",
    "/i18n/",
    "/jsi18n/",
    "/healthz",
    "/readyz",
)


class UserLanguageMiddleware:
    """A signed-in person's chosen language wins over the browser's; empty follows the browser."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        language = getattr(user, "language", "") if user is not None else ""
        if language and language in dict(settings.LANGUAGES):
            translation.activate(language)
            request.LANGUAGE_CODE = language
        response = self.get_response(request)
        if language:
            response.headers.setdefault("Content-Language", language)
        return response


class SecondFactorMiddleware:
    """Until the TOTP step is done, a session only reaches the account pages."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        if (
            session is not None
            and request.user.is_authenticated
            and not request.path.startswith("/api/")  # the API answers 401 itself
            and not request.path.startswith(_ALLOWED_DURING_SECOND_STEP)
        ):
            if session.get(SECOND_FACTOR_SESSION_KEY):
                return redirect("accounts:two_factor")
            if session.get(ENROLMENT_SESSION_KEY):
                return redirect("accounts:two_factor_setup")
        return self.get_response(request)
