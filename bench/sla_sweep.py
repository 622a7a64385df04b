"""The SLA sweep's figure: one sweep for warnings and breaches over 1,000,000 open tickets
(target under 1 s when few are due).

    .venv/bin/python bench/sla_sweep.py [--repeats 5] [--due 100]

Uses the 1,000,000-ticket data set of ``tickets_inbox.py`` (``as_bench``, loaded on first use
and kept), copied to ``as_bench_sla`` (CREATE DATABASE … TEMPLATE; ``as_bench`` itself is not
changed beyond migrations). Every ticket is opened and given a running resolution clock by
SQL (1,000,000 ``sla_ticketslatarget`` rows due over the next 30 days); ``--due`` of them
have their warning time passed and as many their due time. Each repeat resets those rows and
times ``timers.sweep()``: one indexed range query on ``next_check_at`` plus, per due clock, the
conditional UPDATE, the ticket read and the outbox event (with its eager delivery to the rule
engine, which has no rules here). Also timed: a sweep when nothing is due.
"""

from __future__ import annotations

import argparse
import time

from _common import _admin_connection, configure_django, summary, temp_dir

TARGET_DB = "as_bench_sla"


def seed_targets(due: int) -> int:
    from tickets_inbox import raw_connection

    with raw_connection() as connection:
        connection.execute("TRUNCATE sla_ticketslatarget")
        connection.execute(
            "INSERT INTO sla_ticketslatarget (ticket_id, metric, minutes, is_business_time,"
            " warn_before_minutes, state, started_at, due_at, warn_at, next_check_at,"
            " paused_minutes, pauses, explanation)"
            " SELECT t.id, 'resolution', 480, false, 60, 'active', t.created_at, d.due,"
            " d.due - interval '60 minutes', d.due - interval '60 minutes', 0, '[]', '{}'"
            " FROM tickets_ticket t,"
            " LATERAL (SELECT now() + interval '2 hours' + random() * interval '30 days' AS due"
            " WHERE t.id IS NOT NULL) d"
        )
        connection.execute("VACUUM ANALYZE sla_ticketslatarget")
        row = connection.execute("SELECT count(*) FROM sla_ticketslatarget").fetchone()
    reset_due(due)
    return int(row[0])


def reset_due(due: int) -> None:
    """``due`` clocks whose warning time has passed and ``due`` whose due time has."""
    from tickets_inbox import raw_connection

    with raw_connection() as connection:
        connection.execute(
            "UPDATE sla_ticketslatarget SET due_at = now() + interval '50 minutes',"
            " warn_at = now() - interval '10 minutes', next_check_at = now() - interval"
            " '10 minutes', warned_at = NULL, breached_at = NULL"
            " WHERE id IN (SELECT id FROM sla_ticketslatarget ORDER BY id LIMIT %s)",
            [due],
        )
        connection.execute(
            "UPDATE sla_ticketslatarget SET due_at = now() - interval '5 minutes',"
            " warn_at = now() - interval '65 minutes', next_check_at = now() - interval"
            " '5 minutes', warned_at = now() - interval '65 minutes', breached_at = NULL"
            " WHERE id IN (SELECT id FROM sla_ticketslatarget ORDER BY id DESC LIMIT %s)",
            [due],
        )
        connection.execute(
            "DELETE FROM outbox_eventdelivery WHERE event_id IN"
            " (SELECT id FROM outbox_outboxevent WHERE topic LIKE 'sla.%%')"
        )
        connection.execute("DELETE FROM outbox_outboxevent WHERE topic LIKE 'sla.%%'")


def bench(repeats: int, due: int) -> None:
    from django.db import connection

    from aftersales.sla import timers

    assert connection.settings_dict["NAME"] == TARGET_DB, "never write to as_bench"
    opened = __import__("automation").open_everything()
    rows = seed_targets(10)
    timers.sweep()  # warm: imports, the ticket query plan
    print(f"{opened} open tickets, {rows} running SLA clocks")
    from aftersales.automation import engine
    from aftersales.outbox.registry import register_subscriber

    for each in sorted({10, due}):
        few, fired, idle = measure(repeats, each)
        print(
            f"{each} warnings + {each} breaches due, the rule engine's eager deliveries"
            f" included: {summary(few)} ms, fired {fired[0]}"
        )
        # The sweep alone: the rule engine's deliveries left to the workers, i.e. the range
        # query, the claiming UPDATEs, the tickets and the outbox rows.
        register_subscriber("automation.rules", engine.TOPICS, engine.on_ticket_event)
        few, fired, _idle = measure(repeats, each)
        register_subscriber("automation.rules", engine.TOPICS, engine.on_ticket_event, eager=True)
        print(
            f"{each} warnings + {each} breaches due, deliveries left to workers:"
            f" {summary(few)} ms, fired {fired[0]} (target < 1000 ms)"
        )
    print(f"sweep with none due: {summary(idle, 2)} ms")


def measure(repeats: int, due: int) -> tuple[list[float], list[tuple[int, int]], list[float]]:
    from aftersales.sla import timers

    few: list[float] = []
    fired: list[tuple[int, int]] = []
    idle: list[float] = []
    for _ in range(repeats):
        reset_due(due)
        started = time.perf_counter()
        result = timers.sweep()
        few.append(1000 * (time.perf_counter() - started))
        fired.append((result.warned, result.breached))
        started = time.perf_counter()
        timers.sweep()
        idle.append(1000 * (time.perf_counter() - started))
    return few, fired, idle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--due", type=int, default=100)
    options = parser.parse_args()
    from automation import sweep_database
    from tickets_inbox import prepare

    with temp_dir("aftersales-bench-") as data_dir:
        prepare("as_bench", False, data_dir)
        from django.db import connections

        connections.close_all()
        url = sweep_database("as_bench", TARGET_DB)
        configure_django(url, data_dir)
        # Django read its settings once (as_bench): point the connection at the copy.
        connections["default"].settings_dict["NAME"] = TARGET_DB
        connections.close_all()
        try:
            bench(options.repeats, options.due)
        finally:
            connections.close_all()
            with _admin_connection() as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{TARGET_DB}" WITH (FORCE)')


if __name__ == "__main__":
    main()
