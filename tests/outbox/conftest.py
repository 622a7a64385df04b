"""Fixtures for outbox tests: subscribers registered for one test only, the file probe."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aftersales.outbox import registry
from aftersales.outbox.models import OutboxEvent
from tests.support.probe import handlers as probe_handlers

Handler = Callable[[OutboxEvent], None]


@pytest.fixture
def subscribe() -> Iterator[Callable[..., str]]:
    """subscribe(key, handler, topics=("test.*",), transactional=True) → key; removed after."""
    keys: list[str] = []

    def add(
        key: str,
        handler: Handler,
        topics: tuple[str, ...] = ("test.*",),
        *,
        transactional: bool = True,
    ) -> str:
        registry.register_subscriber(key, topics, handler, transactional=transactional)
        keys.append(key)
        return key

    yield add
    for key in keys:
        registry.unregister_subscriber(key)


@pytest.fixture
def probe() -> Iterator[None]:
    """The file probe (``probe.*`` topics), as worker subprocesses load it."""
    probe_handlers.register()
    yield
    probe_handlers.unregister()


@pytest.fixture
def trace_file(tmp_path: Path) -> Path:
    return tmp_path / "trace.txt"


def trace_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []
