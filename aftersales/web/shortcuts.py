"""Helpers shared by the server-rendered views: sign-in checks, domain errors, htmx."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django import forms
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied as HttpPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect

from aftersales.accounts import authz
from aftersales.accounts.middleware import ENROLMENT_SESSION_KEY, SECOND_FACTOR_SESSION_KEY
from aftersales.core.errors import DomainError, NotFound, PermissionDenied

View = TypeVar("View", bound=Callable[..., HttpResponse])


def second_step_pending(request: HttpRequest) -> str | None:
    """The URL name of the login step still owed by this session (TOTP or enrolment), if any."""
    session = getattr(request, "session", None)
    if session is None:
        return None
    if session.get(SECOND_FACTOR_SESSION_KEY):
        return "accounts:two_factor"
    if session.get(ENROLMENT_SESSION_KEY):
        return "accounts:two_factor_setup"
    return None


def signed_in(view: View) -> View:
    """Require a completed sign-in, and turn domain errors into 404/403 pages.

    The second-factor middleware lets every ``/accounts/`` path through during the TOTP step,
    so the settings pages mounted there check the pending step themselves.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
        pending = second_step_pending(request)
        if pending is not None:
            return redirect(pending)
        try:
            return view(request, *args, **kwargs)
        except NotFound:
            raise Http404 from None
        except PermissionDenied as error:
            raise HttpPermissionDenied(error.detail()) from None

    return wrapper  # type: ignore[return-value]


def require(request: HttpRequest, codename: str) -> None:
    """403 unless the signed-in person holds ``codename`` at some scope."""
    if not authz.has_permission(request.user, codename):
        raise HttpPermissionDenied(codename)


def add_domain_error(form: forms.Form, error: DomainError, *, show_denied: bool = False) -> None:
    """Show a refused use case next to the field at fault, or at the top of the form.

    ``NotFound`` is re-raised (a 404 page). ``PermissionDenied`` is re-raised (a 403 page) when
    it is about the whole action; when it names a field (granting beyond one's own reach) or
    ``show_denied`` is set, the person sees its message on the form instead.
    """
    if isinstance(error, NotFound):
        raise error
    if isinstance(error, PermissionDenied) and error.field is None and not show_denied:
        raise error
    field = error.field if error.field in form.fields else None
    form.add_error(field, error.detail())


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def file_download(file: Any, *, filename: str, content_type: str) -> HttpResponse:
    """A stored file always as a download and never sniffed, so an uploaded page or script
    cannot run under the site's origin; never cached by shared caches."""
    from django.http import FileResponse

    response = FileResponse(
        file.open("rb"),
        as_attachment=True,
        filename=filename,
        content_type=content_type or "application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response  # type: ignore[return-value]
