"""Ticket creation through the HTTP API on the production server, against the raw rate of
single-row insert transactions of the same row shape. Target: the API at least half the raw rate.

    .venv/bin/python bench/ticket_create.py [--seconds 20] [--connections 8] [--rounds 3]
                                            [--preload 100000] [--workers 2] [--threads 4]

A throwaway database gets the configuration and custom fields of ``tickets_inbox.py`` (through
the services) and ``--preload`` tickets by COPY, so indexes have a realistic depth. Then
``aftersales web --workers 2 --threads 4`` (gunicorn, ``AFTERSALES_MODE=production``) serves
``POST /api/v1/tickets`` to wrk (``apt-get install wrk``): a Lua script sends the JSON body of a
repair ticket with five custom fields and a bearer token of an integration user, from
``--connections`` keep-alive connections. In the same round, as many Python threads insert
copies of an API-made ticket row with psycopg, one row per transaction (no timeline event,
audit entry or outbox event: that is the "raw" part), once from one connection (one insert
after another) and once from as many connections as wrk uses. Rounds alternate; figures are
medians with min and max, and the API rate as a share of each raw rate.
"""

from __future__ import annotations

import argparse
import http.client
import json
import secrets
import shutil
import statistics
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import psutil
from _common import (
    configure_django,
    free_port,
    start,
    stop,
    summary,
    temp_dir,
    throwaway_database,
    wait_for,
)
from tickets_inbox import MODELS, load, raw_connection

LUA = """
local token = "%(token)s"
local type_id = %(type_id)d
local requesters = {%(requesters)s}
local models = {%(models)s}
local counter = math.random(1, 1000000000)

function init(args)
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-Forwarded-Proto"] = "https"
end

function request()
  counter = counter + 1
  local n = counter
  local body = string.format(
    '{"ticket_type_id": %%d, "requester_id": %%d, "subject": "Bench %%d does not drain",'
    .. ' "description": "<p>Water stays in the drum after the cycle.</p>",'
    .. ' "priority": "normal", "custom_fields": {"model": "%%s", "region": ["east", "zj"],'
    .. ' "serial": "SN%%010d", "fault": ["elec", "e03"], "purchase_date": "2025-03-14"}}',
    type_id, requesters[(n %% #requesters) + 1], n, models[(n %% #models) + 1], n)
  return wrk.format("POST", "/api/v1/tickets", nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %%d %%d %%d %%d %%d\\n", summary.requests, summary.duration,
    e.status, e.connect + e.read + e.write + e.timeout, latency:percentile(50)))
end
"""


def prepare_desk(preload: int) -> dict[str, Any]:
    """Configuration, custom fields, customers and ``preload`` tickets; an integration user
    filing repair tickets for the first business line, with its token."""
    from aftersales.accounts import services as accounts
    from aftersales.accounts.models import BusinessLine, Role, User
    from aftersales.customers.models import Customer
    from aftersales.tickets.models import TicketType

    load(preload, max(2_000, preload // 5))
    admin = User.objects.get(username="bench-admin")
    line = BusinessLine.objects.order_by("pk").first()
    assert line is not None
    integration = accounts.create_user(
        actor=admin, username="bench-integration", kind=User.Kind.INTEGRATION, business_lines=[line]
    )
    accounts.grant_role(
        actor=admin, user=integration, role=Role.objects.get(key="agent"), scope="business_lines"
    )
    token = accounts.create_token(actor=admin, user=integration, name="bench", scopes=["*"])
    repair = TicketType.objects.get(business_line=line, key="repair")
    requesters = list(
        Customer.objects.filter(business_line=line)
        .order_by("pk")
        .values_list("pk", flat=True)[:500]
    )
    return {"token": token.secret, "type_id": repair.pk, "requesters": requesters}


def healthy(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False


def check_one(port: int, desk: dict[str, Any]) -> dict[str, Any]:
    """One create by hand: the contract answers 201 with the ticket (or the bench stops)."""
    body = {
        "ticket_type_id": desk["type_id"],
        "requester_id": desk["requesters"][0],
        "subject": "Bench check",
        "description": "<p>Check</p>",
        "priority": "normal",
        "custom_fields": {"model": MODELS[0], "region": ["east", "zj"], "serial": "SN0000000001"},
    }
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request(
        "POST",
        "/api/v1/tickets",
        body=json.dumps(body),
        headers={
            "Authorization": f"Bearer {desk['token']}",
            "Content-Type": "application/json",
            "X-Forwarded-Proto": "https",
        },
    )
    response = connection.getresponse()
    payload = response.read()
    if response.status != 201:
        raise SystemExit(f"POST /api/v1/tickets answered {response.status}: {payload[:500]!r}")
    return dict(json.loads(payload))


def run_wrk(script: Path, port: int, seconds: int, connections: int) -> dict[str, float]:
    output = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "30s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(row for row in output.splitlines() if row.startswith("RESULT"))
    requests, duration_us, bad_status, socket_errors, p50_us = map(int, line.split()[1:])
    return {
        "rate": (requests - bad_status - socket_errors) / (duration_us / 1e6),
        "requests": requests,
        "bad": bad_status + socket_errors,
        "p50_ms": p50_us / 1000,
    }


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far (those that ended count nothing)."""
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def server_pids(web_pid: int, database: str) -> list[int]:
    """The gunicorn processes and the PostgreSQL backends serving the bench database."""
    with raw_connection() as connection:
        backends = [
            row[0]
            for row in connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [database],
            ).fetchall()
        ]
    arbiter = psutil.Process(web_pid)
    return [arbiter.pid, *(child.pid for child in arbiter.children(recursive=True)), *backends]


def raw_inserts(
    template_id: int, seconds: float, connections: int, round_number: int
) -> tuple[float, float]:
    """Committed single-row insert transactions per second from ``connections`` threads, each
    a copy of the API-made ticket ``template_id`` under a new number; and the CPU milliseconds
    per insert of this process and its database backends."""
    with raw_connection() as connection:
        columns = [
            row[0]
            for row in connection.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_name = 'tickets_ticket' AND column_name NOT IN ('id', 'number')"
                " ORDER BY ordinal_position"
            ).fetchall()
        ]
        row = connection.execute(
            f"SELECT {', '.join(columns)} FROM tickets_ticket WHERE id = %s",  # noqa: S608
            [template_id],
        ).fetchone()
    # JSON columns come back as Python objects; send them as JSON text again.
    values = [json.dumps(v) if isinstance(v, dict | list) else v for v in row]
    sql = (
        f"INSERT INTO tickets_ticket (number, {', '.join(columns)})"  # noqa: S608
        f" VALUES (%s, {', '.join(['%s'] * len(columns))})"
    )
    counts = [0] * connections
    backend_cpu = [0.0] * connections
    deadline = time.perf_counter() + seconds

    def insert(slot: int) -> None:
        with raw_connection() as connection:
            backend = [connection.info.backend_pid]
            before = cpu_seconds(backend)
            number = 0
            while time.perf_counter() < deadline:
                number += 1
                with connection.transaction():
                    connection.execute(
                        sql, [f"RAW{round_number}x{connections}-{slot}-{number:07d}", *values]
                    )
                counts[slot] += 1
            backend_cpu[slot] = cpu_seconds(backend) - before

    started, own_cpu = time.perf_counter(), time.process_time()
    threads = [threading.Thread(target=insert, args=(slot,)) for slot in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed, own_cpu = time.perf_counter() - started, time.process_time() - own_cpu
    inserts = sum(counts)
    return inserts / elapsed, 1000 * (own_cpu + sum(backend_cpu)) / inserts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="as_bench_create")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4, help="per worker (aftersales web: 4)")
    parser.add_argument("--preload", type=int, default=100_000)
    options = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    with temp_dir("aftersales-bench-") as data_dir, throwaway_database(options.database) as url:
        env = configure_django(url, data_dir)
        desk = prepare_desk(options.preload)
        env.update(
            AFTERSALES_MODE="production",
            SECRET_KEY=secrets.token_urlsafe(48),
            ALLOWED_HOSTS="127.0.0.1,localhost",
            DEBUG="0",
        )
        env.pop("AFTERSALES_EXTRA_APPS", None)
        script = Path(data_dir) / "create.lua"
        script.write_text(
            LUA
            % {
                "token": desk["token"],
                "type_id": desk["type_id"],
                "requesters": ", ".join(str(pk) for pk in desk["requesters"]),
                "models": ", ".join(f'"{model}"' for model in MODELS),
            }
        )
        port = free_port()
        web = start(
            [
                "web",
                "--workers",
                str(options.workers),
                "--threads",
                str(options.threads),
                "--bind",
                f"127.0.0.1:{port}",
            ],
            env,
            Path(data_dir) / "web.log",
        )
        api: list[float] = []
        raw: list[float] = []
        raw_one: list[float] = []
        api_cpu: list[float] = []
        raw_cpu: list[float] = []
        try:
            wait_for(lambda: healthy(port), 60, "gunicorn")
            template = check_one(port, desk)
            run_wrk(script, port, 3, options.connections)  # warm both workers
            pids = server_pids(web.pid, options.database)
            for round_number in range(1, options.rounds + 1):
                before = cpu_seconds(pids)
                result = run_wrk(script, port, options.seconds, options.connections)
                served = result["requests"] - result["bad"]
                api_cpu.append(1000 * (cpu_seconds(pids) - before) / served)
                if result["bad"]:
                    log = (Path(data_dir) / "web.log").read_text()[-2000:]
                    raise SystemExit(f"{result['bad']} requests failed; server log:\n{log}")
                one, one_cpu = raw_inserts(template["id"], options.seconds, 1, round_number)
                rate, _ = raw_inserts(
                    template["id"], options.seconds, options.connections, round_number
                )
                api.append(result["rate"])
                raw.append(rate)
                raw_one.append(one)
                raw_cpu.append(one_cpu)
                print(
                    f"round {round_number}: API {result['rate']:.0f} creates/s"
                    f" (p50 {result['p50_ms']:.0f} ms, {api_cpu[-1]:.1f} ms CPU each), raw"
                    f" {one:.0f} inserts/s from one connection ({one_cpu:.2f} ms CPU each),"
                    f" {rate:.0f} from {options.connections}",
                    flush=True,
                )
        finally:
            stop(web)
        ratios = [100 * a / r for a, r in zip(api, raw, strict=True)]
        ratios_one = [100 * a / r for a, r in zip(api, raw_one, strict=True)]
        print(
            f"PostgreSQL, {options.preload} tickets preloaded, wrk {options.connections}"
            f" connections, gunicorn {options.workers} workers x {options.threads} threads,"
            f" {options.seconds} s per figure"
        )
        print(f"API POST /api/v1/tickets:          {summary(api)} creates/s")
        print(f"  CPU per create (web + database): {summary(api_cpu, 1)} ms")
        print(f"raw inserts, 1 connection:         {summary(raw_one)} inserts/s")
        print(f"  CPU per insert (client + db):    {summary(raw_cpu, 2)} ms")
        print(f"raw inserts, {options.connections} connections:        {summary(raw)} inserts/s")
        print(f"API / raw (1 connection):          {summary(ratios_one, 1)} %")
        print(f"API / raw ({options.connections} connections):         {summary(ratios, 1)} %")
        print(
            f"target API >= 50 % of raw: median {statistics.median(ratios_one):.1f} %"
            f" and {statistics.median(ratios):.1f} %"
        )


if __name__ == "__main__":
    main()
