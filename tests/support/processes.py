"""Helpers for tests that start real ``aftersales`` processes against the test database."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

from django.db import connection

REPO_ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def database_url() -> str:
    """The URL of the database this test runs on (the test database, not the configured one)."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    if connection.vendor == "postgresql":
        credentials = quote(settings["USER"] or "", safe="")
        if settings.get("PASSWORD"):
            credentials += ":" + quote(settings["PASSWORD"], safe="")
        host = settings.get("HOST") or "127.0.0.1"
        port = settings.get("PORT") or 5432
        return f"postgres://{credentials}@{host}:{port}/{settings['NAME']}"
    raise RuntimeError(f"Worker tests run on SQLite or PostgreSQL, not {connection.vendor}.")


def process_env(**extra: str) -> dict[str, str]:
    """The environment of a child process that shares this test's database."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url(),
        AFTERSALES_EXTRA_APPS="tests.support.probe",
        PYTHONUNBUFFERED="1",
        TASK_BACKEND="database",
    )
    env.update(extra)
    return env


class Child(subprocess.Popen[str]):
    """A started process whose output goes to a temporary file (a pipe nobody reads can fill
    up and block the child)."""

    def output(self) -> str:
        log = self.log  # type: ignore[attr-defined]
        log.flush()
        log.seek(0)
        return str(log.read())


def start(args: list[str], env: dict[str, str]) -> Child:
    """Start ``python -m aftersales ARGS`` from the repository root."""
    log = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115 - closed in stop()
    process = Child(
        [sys.executable, "-m", "aftersales", *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    process.log = log  # type: ignore[attr-defined]
    return process


def stop(process: Child, *, timeout: float = 10) -> str:
    """Terminate (then kill) a started process and wait for it; returns what it printed."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)
    output = process.output()
    process.log.close()  # type: ignore[attr-defined]
    return output


@contextmanager
def running(args: list[str], env: dict[str, str]) -> Iterator[Child]:
    """Run a process for the block; it is always stopped afterwards, even on failure."""
    process = start(args, env)
    try:
        yield process
    finally:
        stop(process)


def wait_for(
    probe: Callable[[], T], *, timeout: float, interval: float = 0.1, what: str = "condition"
) -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout} s waiting for {what}.")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
