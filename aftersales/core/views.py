"""Operational endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import hmac
import time

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from aftersales import __version__
from aftersales.core import metrics as core_metrics


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is alive and answering (no dependency is checked)."""
    return JsonResponse({"status": "ok", "version": __version__})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """The database and the task backend answer: this process can take traffic."""
    checks: dict[str, dict[str, object]] = {}
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        checks["database"] = {"status": "ok", "vendor": connection.vendor}
    except Exception as error:
        checks["database"] = {"status": "error", "error": type(error).__name__}
    checks["database"]["ms"] = round((time.perf_counter() - started) * 1000, 2)
    started = time.perf_counter()
    try:
        from django_tasks import task_backends
        from django_tasks_db.models import DBTaskResult

        backend = type(task_backends["default"]).__name__
        if backend == "DatabaseBackend":
            DBTaskResult.objects.ready().exists()
        checks["tasks"] = {"status": "ok", "backend": backend}
    except Exception as error:
        checks["tasks"] = {"status": "error", "error": type(error).__name__}
    checks["tasks"]["ms"] = round((time.perf_counter() - started) * 1000, 2)
    ready = all(check["status"] == "ok" for check in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "error", "checks": checks}, status=200 if ready else 503
    )


def _metrics_allowed(request: HttpRequest) -> bool:
    header = request.headers.get("Authorization", "")
    secret = header[7:].strip() if header.lower().startswith("bearer ") else ""
    if not secret:
        return False
    if settings.METRICS_TOKEN and hmac.compare_digest(secret, settings.METRICS_TOKEN):
        return True
    from aftersales.accounts import authz
    from aftersales.accounts import services as accounts

    token = accounts.authenticate_token(secret)
    if token is None:
        return False
    user = token.user
    user._token_scopes = list(token.scopes)
    return authz.has_permission(user, "core.view_metrics")


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format; needs METRICS_TOKEN or an API token with core.view_metrics."""
    if not _metrics_allowed(request):
        response = JsonResponse({"status": 401, "title": "Authentication required"}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(core_metrics.render(), content_type=CONTENT_TYPE_LATEST)
