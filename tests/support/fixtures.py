"""Fixtures shared by tests that use the probe app; import them into a test module or conftest."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.probe import handlers as probe_handlers


@pytest.fixture
def probe() -> Iterator[None]:
    """The file probe (``probe.*`` topics) in this process, as worker subprocesses load it."""
    probe_handlers.register()
    yield
    probe_handlers.unregister()


@pytest.fixture
def trace_file(tmp_path: Path) -> Path:
    """Where the probe writes ``<event id> start`` / ``<event id> done`` lines."""
    return tmp_path / "trace.txt"


def trace_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []
