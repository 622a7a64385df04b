"""Smoke tests of the ``aftersales worker``, ``run`` and ``web`` commands as real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django_tasks_db.models import DBTaskResult

from aftersales.outbox import services
from aftersales.outbox.models import EventDelivery
from tests.support import processes
from tests.support.fixtures import probe, trace_lines  # noqa: F401 - fixture

DEMO_USERS = ["admin", "manager", "agent1", "agent2", "engineer", "warehouse", "customer"]


def embedded_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """A fresh embedded installation: its own data folder and SQLite file."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "AFTERSALES_MODE"}}
    env.update(AFTERSALES_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1", TASK_BACKEND="database")
    env.update(extra)
    return env


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return 0, b""


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("probe")
def test_worker_batch_drains_queue_and_exits_zero(tmp_path: Path) -> None:
    """``worker --batch`` runs every queued delivery, then exits with status 0."""
    # given
    trace_file = tmp_path / "trace.txt"
    events = [
        services.emit("probe.quick", payload={"file": str(trace_file), "sleep": 0})
        for _ in range(3)
    ]
    assert DBTaskResult.objects.filter(status="READY").count() == 3
    # when
    completed = subprocess.run(
        [sys.executable, "-m", "aftersales", "worker", "--batch", "--id", "batch"],
        cwd=processes.REPO_ROOT,
        env=processes.process_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # then
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Worker batch started." in completed.stdout
    statuses = EventDelivery.objects.values_list("status", "attempts")
    assert sorted(statuses) == [("delivered", 1)] * 3
    assert sorted(trace_lines(trace_file)) == sorted(
        [f"{event.pk} start" for event in events] + [f"{event.pk} done" for event in events]
    )
    assert DBTaskResult.objects.filter(status__in=["READY", "RUNNING"]).count() == 0


@pytest.mark.parametrize("command", [pytest.param("worker", id="_case worker"), "run"])
def test_command_refuses_immediate_task_backend(command: str, tmp_path: Path) -> None:
    """Without the database task backend there is nothing to work on: exit 1 and say why."""
    # when
    completed = subprocess.run(
        [sys.executable, "-m", "aftersales", command],
        cwd=processes.REPO_ROOT,
        env=embedded_env(tmp_path, TASK_BACKEND="immediate"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # then
    assert completed.returncode == 1
    assert "needs TASK_BACKEND=database." in completed.stderr


@pytest.mark.slow
def test_run_serves_app_with_demo_logins_and_health_checks(tmp_path: Path) -> None:
    """``aftersales run`` on a fresh data folder migrates, loads the demo, prints the URL and
    the demo logins, and answers /healthz, /readyz and the OpenAPI document."""
    # given
    port = processes.free_port()
    base = f"http://127.0.0.1:{port}"
    env = embedded_env(tmp_path / "data")
    # when
    server = processes.start(["run", "--host", "127.0.0.1", "--port", str(port)], env)
    try:
        processes.wait_for(
            lambda: get(f"{base}/healthz")[0] == 200 or server.poll() is not None,
            timeout=120,
            interval=0.25,
            what="aftersales run to answer /healthz",
        )
        healthz = get(f"{base}/healthz")
        readyz = get(f"{base}/readyz")
        openapi = get(f"{base}/api/v1/openapi.json")
    finally:
        output = processes.stop(server)
    # then
    assert healthz[0] == 200, output
    assert json.loads(readyz[1])["status"] == "ok"
    assert readyz[0] == 200
    assert openapi[0] == 200
    assert json.loads(openapi[1])["openapi"].startswith("3.")
    assert f"Aftersales is running: http://localhost:{port}/" in output
    assert "Demo logins:" in output
    login_lines = output.split("Demo logins:", 1)[1].splitlines()
    shown = [line.split()[0] for line in login_lines if line.startswith("  ")]
    assert shown == DEMO_USERS
    assert (tmp_path / "data" / "demo_logins.json").exists()


@pytest.mark.slow
def test_web_serves_health_check_through_gunicorn(tmp_path: Path) -> None:
    """``aftersales web`` starts gunicorn, which answers /healthz and stops on SIGTERM."""
    # given
    port = processes.free_port()
    env = embedded_env(tmp_path / "data")
    # when
    server = processes.start(
        ["web", "--workers", "1", "--threads", "2", "--bind", f"127.0.0.1:{port}"], env
    )
    try:
        status = processes.wait_for(
            lambda: get(f"http://127.0.0.1:{port}/healthz")[0] == 200 or server.poll() is not None,
            timeout=60,
            interval=0.25,
            what="gunicorn to answer /healthz",
        )
    finally:
        output = processes.stop(server)
    # then
    assert status is True, output
    assert server.returncode == 0, output
    assert f"Starting gunicorn on 127.0.0.1:{port} with 1 processes." in output
