"""Idempotency-Key on API POSTs: a retried request never repeats its effect.

* same key, same body → the first response is replayed (``Idempotent-Replayed: true``);
* same key, other body or path → 422;
* two identical requests at the same moment → one runs, the other waits for its response
  (409 if it is still running after a few seconds).

The key is reserved in its own committed row before the handler runs; the unique constraint
on (caller, key) is what makes parallel duplicates impossible.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from aftersales.api.models import IdempotencyRecord
from aftersales.api.problems import problem

HEADER = "HTTP_IDEMPOTENCY_KEY"
WAIT_SECONDS = 8.0
ABANDONED_AFTER_SECONDS = 300
# Responses that say "try again" are not kept: the retry must run for real.
_NOT_STORED = {401, 409, 412, 429}
_REPLAYED_HEADERS = ("Location", "ETag", "Content-Language")


def owner_of(request: HttpRequest) -> str | None:
    authorization = request.META.get("HTTP_AUTHORIZATION", "")
    if authorization.lower().startswith("bearer "):
        return "token:" + hashlib.sha256(authorization[7:].strip().encode()).hexdigest()[:64]
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return None


def _replay(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(
        bytes(record.response_body or b""),
        status=record.status_code or 200,
        content_type=record.content_type or "application/json",
    )
    for name, value in (record.response_headers or {}).items():
        response[name] = value
    response["Idempotent-Replayed"] = "true"
    return response


class IdempotencyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        key = request.META.get(HEADER, "").strip()
        if request.method != "POST" or not key or not request.path.startswith("/api/"):
            return self.get_response(request)
        if len(key) > 255:
            return problem(
                request,
                status=422,
                code="idempotency_key_invalid",
                detail=_("The Idempotency-Key header is longer than 255 characters."),
                errors=[
                    {
                        "field": "Idempotency-Key",
                        "code": "too_long",
                        "detail": _("Enter at most 255 characters."),
                    }
                ],
            )
        owner = owner_of(request)
        if owner is None:
            return self.get_response(request)
        body_hash = hashlib.sha256(request.body).hexdigest()
        record = self._reserve(owner, key, request, body_hash)
        if isinstance(record, HttpResponse):
            return record
        try:
            response = self.get_response(request)
        except BaseException:
            IdempotencyRecord.objects.filter(pk=record.pk).delete()
            raise
        if (
            response.status_code >= 500
            or response.status_code in _NOT_STORED
            or getattr(response, "streaming", False)
        ):
            IdempotencyRecord.objects.filter(pk=record.pk).delete()
            return response
        IdempotencyRecord.objects.filter(pk=record.pk).update(
            state=IdempotencyRecord.State.COMPLETED,
            status_code=response.status_code,
            content_type=response.get("Content-Type", ""),
            response_body=response.content,
            response_headers={h: response[h] for h in _REPLAYED_HEADERS if h in response},
        )
        return response

    def _reserve(
        self, owner: str, key: str, request: HttpRequest, body_hash: str
    ) -> IdempotencyRecord | HttpResponse:
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            try:
                with transaction.atomic():
                    return IdempotencyRecord.objects.create(
                        owner=owner,
                        key=key,
                        method=request.method or "POST",
                        path=request.path[:500],
                        body_hash=body_hash,
                    )
            except IntegrityError:
                pass
            existing = IdempotencyRecord.objects.filter(owner=owner, key=key).first()
            if existing is None:
                continue  # the other request failed and released the key: take it
            if existing.body_hash != body_hash or existing.path != request.path[:500]:
                return problem(
                    request,
                    status=422,
                    code="idempotency_key_reused",
                    detail=_("This Idempotency-Key was already used for a different request."),
                    errors=[
                        {
                            "field": "Idempotency-Key",
                            "code": "reused",
                            "detail": _("Use a new key for a different request."),
                        }
                    ],
                )
            if existing.state == IdempotencyRecord.State.COMPLETED:
                return _replay(existing)
            if existing.created_at < timezone.now() - timedelta(seconds=ABANDONED_AFTER_SECONDS):
                # Its process died mid-request without releasing the key: let this one run.
                IdempotencyRecord.objects.filter(pk=existing.pk, state=existing.state).delete()
                continue
            if time.monotonic() > deadline:
                return problem(
                    request,
                    status=409,
                    code="idempotency_in_progress",
                    detail=_("A request with this Idempotency-Key is still being processed."),
                    headers={"Retry-After": "2"},
                )
            time.sleep(0.05)


def purge_expired() -> int:
    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    deleted, _unused = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
