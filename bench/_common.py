"""Shared plumbing of the benchmarks: a throwaway PostgreSQL database, processes, timing.

Each script creates its own database on the local PostgreSQL (``BENCH_PG``, default
``postgres://postgres@127.0.0.1:5432``), points Django at it, migrates, and drops it at the
end; every process it starts is stopped in a ``finally``.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SERVER = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")


def _admin_connection():  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(f"{SERVER}/postgres", autocommit=True)


@contextmanager
def throwaway_database(name: str) -> Iterator[str]:
    """Create database NAME (dropping a leftover first), yield its URL, drop it afterwards."""
    with _admin_connection() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{SERVER}/{name}"
    finally:
        from django.db import connections

        connections.close_all()
        with _admin_connection() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def configure_django(database_url: str, data_dir: str) -> dict[str, str]:
    """Point this process's Django at the bench database; returns the env for children."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        AFTERSALES_DATA_DIR=data_dir,
        AFTERSALES_EXTRA_APPS="bench.benchapp",
        TASK_BACKEND="database",
        API_RATE_LIMIT="100000000/min",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
        DJANGO_SETTINGS_MODULE="aftersales.settings",
    )
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    return env


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "aftersales", *args],
        cwd=ROOT,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


def wait_for(probe: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise SystemExit(f"Timed out waiting for {what}.")
        time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mebibytes(rss: int) -> str:
    return f"{rss / 2**20:.1f} MB"


def summary(values: list[float], digits: int = 0) -> str:
    def show(value: float) -> str:
        return f"{value:.{digits}f}"

    return (
        f"median {show(statistics.median(values))}, min {show(min(values))},"
        f" max {show(max(values))} ({', '.join(show(v) for v in values)})"
    )


def temp_dir(prefix: str) -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix=prefix)
