"""Per-caller rate limits: each token (or session user, or address) has its own budget."""

from __future__ import annotations

import threading
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from ninja.throttling import BaseThrottle

_PERIODS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period.strip()]


class CallerRateThrottle(BaseThrottle):
    """Fixed-window counter in the cache; with Redis it holds across web processes."""

    def __init__(self, rate: str | None = None) -> None:
        self.rate = rate
        # One instance serves every request; under a threaded server (waitress) the wait of
        # one refused request must not be read as another's.
        self._local = threading.local()

    def caller(self, request: HttpRequest) -> str:
        token = getattr(request, "api_token", None)
        if token is not None:
            return f"token:{token.pk}"
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return f"user:{user.pk}"
        return f"ip:{self.get_ident(request)}"

    def allow_request(self, request: HttpRequest) -> bool:
        limit, period = parse_rate(self.rate or settings.API_RATE_LIMIT)
        now = time.time()
        window = int(now // period)
        key = f"aftersales:rate:{self.caller(request)}:{window}"
        if cache.add(key, 1, timeout=period + 1):
            count = 1
        else:
            try:
                count = cache.incr(key)
            except ValueError:
                cache.set(key, 1, timeout=period + 1)
                count = 1
        if count > limit:
            self._local.wait = (window + 1) * period - now
            return False
        self._local.wait = None
        return True

    def wait(self) -> float | None:
        return getattr(self._local, "wait", None)
