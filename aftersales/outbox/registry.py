"""Subscribers to domain events, registered by key in ``AppConfig.ready``."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aftersales.outbox.models import OutboxEvent


@dataclass(frozen=True)
class Subscriber:
    key: str
    topics: tuple[str, ...]
    handler: Callable[[OutboxEvent], None]
    # Run the handler in the same transaction as marking the delivery done, so a handler that
    # only writes to the database takes effect exactly once. Handlers calling out (HTTP, SMTP)
    # set this False and must be idempotent on event.id themselves.
    transactional: bool = True
    # Deliver in the emitting process right after the commit, before the request or job goes
    # on; the worker only picks the delivery up if that attempt fails or the process dies.
    eager: bool = False

    def wants(self, topic: str) -> bool:
        return any(fnmatch.fnmatchcase(topic, pattern) for pattern in self.topics)


_SUBSCRIBERS: dict[str, Subscriber] = {}


def register_subscriber(
    key: str,
    topics: tuple[str, ...],
    handler: Callable[[OutboxEvent], None],
    *,
    transactional: bool = True,
    eager: bool = False,
) -> None:
    _SUBSCRIBERS[key] = Subscriber(key, topics, handler, transactional, eager)


def unregister_subscriber(key: str) -> None:
    """Forget a subscriber; for tests and plugins that come and go."""
    _SUBSCRIBERS.pop(key, None)


def subscribers_for(topic: str) -> list[Subscriber]:
    return [s for s in _SUBSCRIBERS.values() if s.wants(topic)]


def get(key: str) -> Subscriber | None:
    return _SUBSCRIBERS.get(key)
