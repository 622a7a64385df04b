"""Fixtures for outbox tests: subscribers registered for one test only, the file probe."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from aftersales.outbox import registry
from aftersales.outbox.models import OutboxEvent
from tests.support.fixtures import probe, trace_file, trace_lines  # noqa: F401

Handler = Callable[[OutboxEvent], None]


@pytest.fixture
def subscribe() -> Iterator[Callable[..., str]]:
    """subscribe(key, handler, topics=("test.*",), transactional=True, eager=False) → key."""
    keys: list[str] = []

    def add(
        key: str,
        handler: Handler,
        topics: tuple[str, ...] = ("test.*",),
        *,
        transactional: bool = True,
        eager: bool = False,
    ) -> str:
        registry.register_subscriber(key, topics, handler, transactional=transactional, eager=eager)
        keys.append(key)
        return key

    yield add
    for key in keys:
        registry.unregister_subscriber(key)
