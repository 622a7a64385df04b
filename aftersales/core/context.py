"""Who is acting, from where: set per request or job so audit entries can name them."""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RequestContext:
    ip_address: str | None = None
    user_agent: str = ""
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    via: str = "web"


_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "aftersales_request_context", default=None
)


def current() -> RequestContext:
    return _current.get() or RequestContext(via="system")


@contextmanager
def bound(context: RequestContext) -> Iterator[RequestContext]:
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)
