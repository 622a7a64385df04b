"""The REST API root: ``/api/v1/``, its OpenAPI document and the problem+json error handlers."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError

from aftersales.api.auth import api_auth
from aftersales.api.problems import problem, translate_validation_errors
from aftersales.api.throttle import CallerRateThrottle
from aftersales.core.errors import DomainError

logger = logging.getLogger(__name__)

api = NinjaAPI(
    title="Aftersales API",
    version="1",
    description=(
        "After-sales service management. Authenticate with a browser session or "
        "`Authorization: Bearer <token>`. Errors are RFC 9457 `application/problem+json`. "
        "Lists use cursor pagination (`cursor`, `limit`; follow `next_cursor`). "
        "Every POST accepts an `Idempotency-Key` header."
    ),
    urls_namespace="api",
    auth=api_auth,
    throttle=[CallerRateThrottle()],
    docs_url="/docs",
    openapi_url="/openapi.json",
)


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, error: ValidationError) -> HttpResponse:
    errors = translate_validation_errors(list(error.errors))
    return problem(
        request,
        status=422,
        code="validation_error",
        detail=_("The request has invalid fields."),
        errors=errors,
    )


@api.exception_handler(DomainError)
def on_domain_error(request: HttpRequest, error: DomainError) -> HttpResponse:
    return problem(
        request,
        status=error.status,
        code=error.code,
        detail=error.detail(),
        errors=error.errors() or None,
    )


@api.exception_handler(AuthenticationError)
def on_authentication_error(request: HttpRequest, error: AuthenticationError) -> HttpResponse:
    return problem(
        request,
        status=401,
        code="not_authenticated",
        detail=_("Sign in, or send a valid API token as 'Authorization: Bearer …'."),
        headers={"WWW-Authenticate": 'Bearer realm="aftersales"'},
    )


@api.exception_handler(Throttled)
def on_throttled(request: HttpRequest, error: Throttled) -> HttpResponse:
    return problem(
        request,
        status=429,
        code="rate_limited",
        detail=_("Too many requests. Wait before trying again."),
    )


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, error: Http404) -> HttpResponse:
    return problem(request, status=404, code="not_found", detail=_("Not found."))


@api.exception_handler(DjangoPermissionDenied)
def on_permission_denied(request: HttpRequest, error: DjangoPermissionDenied) -> HttpResponse:
    return problem(
        request,
        status=403,
        code="permission_denied",
        detail=_("You do not have permission to do this."),
    )


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, error: HttpError) -> HttpResponse:
    return problem(request, status=error.status_code, code="http_error", detail=str(error))


@api.exception_handler(Exception)
def on_unexpected(request: HttpRequest, error: Exception) -> HttpResponse:
    # Pass the error itself: the handler need not run inside the except block that caught it.
    logger.error("Unhandled API error on %s", request.path, exc_info=error)
    return problem(
        request,
        status=500,
        code="server_error",
        detail=_("Something went wrong on our side. The error was logged."),
    )


def _mount() -> None:
    from aftersales.accounts.api import router as accounts_router
    from aftersales.audit.api import router as audit_router
    from aftersales.customers.api import router as customers_router
    from aftersales.customfields.api import router as customfields_router
    from aftersales.knowledge.api import router as knowledge_router
    from aftersales.tickets.api import router as tickets_router

    api.add_router("/", accounts_router)
    api.add_router("/audit", audit_router)
    api.add_router("/", customers_router)
    api.add_router("/custom-fields", customfields_router)
    api.add_router("/", tickets_router)
    api.add_router("/", knowledge_router)
    api.add_router("/", "aftersales.tickets.macro_api.router")
    api.add_router("/", "aftersales.tickets.ticket_api.router")
    api.add_router("/", "aftersales.sla.api.router")
    api.add_router("/routing", "aftersales.routing.api.router")
    api.add_router("/", "aftersales.notifications.api.router")
    api.add_router("/", "aftersales.automation.api.router")
    api.add_router("/", "aftersales.conditions.api.router")
    api.add_router("/portal", "aftersales.portal.api.router")
    api.add_router("/", "aftersales.surveys.api.router")
    api.add_router("/", "aftersales.webforms.api.router")
    api.add_router("/", "aftersales.channels.api.router")
    api.add_router("/", "aftersales.messaging.api.router")
    api.add_router("/", "aftersales.calls.api.router")


_mount()
