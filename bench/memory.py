"""Resident memory of a web worker after 10,000 API requests, and of a task worker after
10,000 tasks, on PostgreSQL. Target: under 200 MB each.

    .venv/bin/python bench/memory.py [--requests 10000] [--tasks 10000]

Web: ``aftersales web --workers 1 --threads 4`` (gunicorn), an API token for a demo admin,
then a mix of ``GET /api/v1/users``, ``GET /api/v1/me`` and ``POST /api/v1/business-lines``
from 4 keep-alive connections. The RSS measured is the gunicorn worker's, not the arbiter's.
Tasks: 10,000 outbox events for a DB-only subscriber (one delivery task each), drained by
one ``aftersales worker``; its RSS is read once the queue is empty.
"""

from __future__ import annotations

import argparse
import http.client
import json
import threading
import time
from collections import Counter
from pathlib import Path

import psutil
from _common import (
    configure_django,
    free_port,
    mebibytes,
    start,
    stop,
    temp_dir,
    throwaway_database,
    wait_for,
)


def make_token() -> str:
    from aftersales.accounts import services as accounts
    from aftersales.core import demo

    demo.load_demo()
    from aftersales.accounts.models import User

    admin = User.objects.get(username="admin")
    return accounts.create_token(actor=admin, user=admin, name="bench", scopes=["*"]).secret


def healthy(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False


def gunicorn_worker(arbiter: psutil.Process) -> psutil.Process:
    children = arbiter.children()
    if len(children) != 1:
        raise SystemExit(f"Expected one gunicorn worker, found {len(children)}.")
    return children[0]


def hammer(port: int, token: str, total: int, connections: int = 4) -> tuple[Counter, float]:
    """Send TOTAL requests over CONNECTIONS keep-alive connections; count statuses."""
    statuses: Counter = Counter()
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def client(offset: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        local: Counter = Counter()
        for number in range(offset, total, connections):
            kind = number % 5
            if kind in (0, 1):
                connection.request("GET", "/api/v1/users", headers=headers)
            elif kind in (2, 3):
                connection.request("GET", "/api/v1/me", headers=headers)
            else:
                body = json.dumps({"code": f"bench-{number}", "name": f"Bench line {number}"})
                connection.request("POST", "/api/v1/business-lines", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            local[
                f"{['GET users', 'GET users', 'GET me', 'GET me', 'POST line'][kind]} "
                f"{response.status}"
            ] += 1
        connection.close()
        with lock:
            statuses.update(local)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses, time.perf_counter() - started


def measure_web(env: dict[str, str], logs: Path, token: str, requests: int) -> None:
    port = free_port()
    web = start(
        ["web", "--workers", "1", "--threads", "4", "--bind", f"127.0.0.1:{port}"],
        env,
        logs / "web.log",
    )
    try:
        wait_for(lambda: healthy(port), 60, "gunicorn")
        worker = gunicorn_worker(psutil.Process(web.pid))
        before = worker.memory_info().rss
        statuses, seconds = hammer(port, token, requests)
        after = worker.memory_info().rss
    finally:
        stop(web)
    print(f"web: {requests} requests in {seconds:.1f} s ({requests / seconds:.0f} req/s)")
    print(f"web: statuses {dict(sorted(statuses.items()))}")
    print(f"web: gunicorn worker RSS before {mebibytes(before)}, after {mebibytes(after)}")


def measure_worker(env: dict[str, str], logs: Path, tasks: int) -> None:
    from django.db import transaction
    from django_tasks_db.models import DBTaskResult

    from aftersales.outbox import services
    from aftersales.outbox.models import EventDelivery

    started = time.perf_counter()
    for first in range(0, tasks, 500):
        with transaction.atomic():
            for number in range(first, min(first + 500, tasks)):
                services.emit("bench.happened", payload={"number": number})
    print(f"tasks: emitted {tasks} events in {time.perf_counter() - started:.1f} s")
    worker = start(["worker", "--interval", "0.2", "--id", "bench"], env, logs / "worker.log")
    try:
        process = psutil.Process(worker.pid)
        wait_for(lambda: process.memory_info().rss > 0, 10, "the worker")
        time.sleep(3)
        early = process.memory_info().rss
        started = time.perf_counter()
        wait_for(
            lambda: not DBTaskResult.objects.filter(status__in=["READY", "RUNNING"]).exists(),
            3600,
            "the queue to drain",
        )
        seconds = time.perf_counter() - started
        after = process.memory_info().rss
    finally:
        stop(worker)
    delivered = EventDelivery.objects.filter(status="delivered").count()
    print(f"tasks: {delivered} of {tasks} deliveries done in {seconds:.1f} s")
    print(f"tasks: worker RSS after start {mebibytes(early)}, after draining {mebibytes(after)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--database", default="aftersales_bench")
    options = parser.parse_args()
    with temp_dir("aftersales-bench-") as data_dir, throwaway_database(options.database) as url:
        env = configure_django(url, data_dir)
        token = make_token()
        measure_web(env, Path(data_dir), token, options.requests)
        measure_worker(env, Path(data_dir), options.tasks)


if __name__ == "__main__":
    main()
