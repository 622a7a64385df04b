"""Where custom-field values should live for the inbox, sorting and reports: one JSON column
with a GIN index, B-tree expression indexes per field, generated columns, or a value table.

    .venv/bin/python bench/custom_field_storage.py [--samples 60] [--variants none,gin,...]
                                                   [--explain] [--database as_bench]

Uses the data set of ``tickets_inbox.py`` (1,000,000 tickets; loaded on first use and kept).
For each variant the script builds its indexes (or columns, or table), times the same questions
asked the way that variant has to ask them, then removes what it built:

* filter: "my teams' open tickets" with a common product model, with a rare one (first page),
  and with a broad region (page 200 by keyset);
* sort: all open tickets by purchase date (page 1 and page 200), and my teams' open tickets by
  purchase date (page 1);
* report: open tickets per product model;
* write: single-row insert transactions per second (the ticket row, plus its value rows for
  the value table).

Queries are single-table SQL like the one the ORM sends (no select_related joins, which cost
the same in every variant). Figures are p50 / p95 milliseconds over the samples, rotating over
the agents and values ``tickets_inbox.py`` uses.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from _common import temp_dir
from tickets_inbox import MODELS, UNSOLVED, fmt, pick_agents, prepare, raw_connection

OPEN = "status_category IN ('new', 'open', 'pending_customer', 'pending_internal')"
PAGE = 26  # 25 rows and one to know there is a next page
DEEP = 199 * 25  # rows before page 200


@dataclass
class Variant:
    """How one storage answers the questions: DDL to build and drop it, and SQL fragments."""

    name: str
    build: list[str]
    drop: list[str]
    equals: Callable[[str], str]  # key → condition with one %s parameter
    contains_top: Callable[[str], str]  # cascade key → "first level is %s"
    sort_expression: str
    sort_join: str = ""
    report: str = ""
    values_for_insert: bool = False
    notes: list[str] = field(default_factory=list)


def containment(key: str) -> str:
    # The ORM's filter (filtering._custom_field_condition) for a single-value field.
    del key  # the documents are parameters: see params()
    return "custom_fields @> %(d1)s::jsonb"


def list_containment(key: str) -> str:
    # The same for a list-valued field (a cascade: any level of the path).
    del key
    return "custom_fields @> %(d2)s::jsonb"


def params(key: str, value: str, **extra: Any) -> dict[str, Any]:
    """Parameters of a condition on ``key``, for every variant's way of asking."""
    return {
        "v": value,
        "d1": json.dumps({key: value}),
        "d2": json.dumps({key: [value]}),
        **extra,
    }


JSON_REPORT = (
    f"SELECT custom_fields->>'model', count(*) FROM tickets_ticket WHERE {OPEN} GROUP BY 1"  # noqa: S608
)


def variants() -> dict[str, Variant]:
    expression_report = JSON_REPORT
    return {
        "none": Variant(
            "none: JSON column, no index on it",
            build=[],
            drop=[],
            equals=containment,
            contains_top=list_containment,
            sort_expression="custom_fields->>'purchase_date'",
            report=expression_report,
        ),
        "gin": Variant(
            "gin: JSON column + GIN (jsonb_path_ops), containment",
            build=[
                "CREATE INDEX bench_cf_gin ON tickets_ticket"
                " USING gin (custom_fields jsonb_path_ops)"
            ],
            drop=["DROP INDEX bench_cf_gin"],
            equals=containment,
            contains_top=list_containment,
            sort_expression="custom_fields->>'purchase_date'",
            report=expression_report,
        ),
        "expression": Variant(
            "expression: B-tree per field on the extracted key",
            build=[
                "CREATE INDEX bench_cf_model ON tickets_ticket ((custom_fields->>'model'))",
                "CREATE INDEX bench_cf_region ON tickets_ticket ((custom_fields->'region'->>0))",
                "CREATE INDEX bench_cf_bought ON tickets_ticket"
                " ((custom_fields->>'purchase_date') DESC, id DESC) WHERE " + OPEN,
            ],
            drop=[
                "DROP INDEX bench_cf_model",
                "DROP INDEX bench_cf_region",
                "DROP INDEX bench_cf_bought",
            ],
            equals=lambda key: f"custom_fields->>'{key}' = %(v)s",
            contains_top=lambda key: f"custom_fields->'{key}'->>0 = %(v)s",
            sort_expression="custom_fields->>'purchase_date'",
            report=expression_report,
        ),
        "team_expression": Variant(
            "team_expression: B-tree (team, field, updated) per field",
            build=[
                "CREATE INDEX bench_cf_team_model ON tickets_ticket"
                " (team_id, (custom_fields->>'model'), updated_at DESC, id DESC) WHERE " + OPEN,
                "CREATE INDEX bench_cf_team_region ON tickets_ticket"
                " (team_id, (custom_fields->'region'->>0), updated_at DESC, id DESC) WHERE " + OPEN,
                "CREATE INDEX bench_cf_bought ON tickets_ticket"
                " ((custom_fields->>'purchase_date') DESC, id DESC) WHERE " + OPEN,
            ],
            drop=[
                "DROP INDEX bench_cf_team_model",
                "DROP INDEX bench_cf_team_region",
                "DROP INDEX bench_cf_bought",
            ],
            equals=lambda key: f"custom_fields->>'{key}' = %(v)s",
            contains_top=lambda key: f"custom_fields->'{key}'->>0 = %(v)s",
            sort_expression="custom_fields->>'purchase_date'",
            report=expression_report,
        ),
        "generated": Variant(
            "generated: stored generated column per field + B-tree",
            build=[
                "ALTER TABLE tickets_ticket"
                " ADD COLUMN cf_model text GENERATED ALWAYS AS (custom_fields->>'model') STORED,"
                " ADD COLUMN cf_region text"
                " GENERATED ALWAYS AS (custom_fields->'region'->>0) STORED,"
                " ADD COLUMN cf_purchase_date text"
                " GENERATED ALWAYS AS (custom_fields->>'purchase_date') STORED",
                "CREATE INDEX bench_cf_model ON tickets_ticket (cf_model)",
                "CREATE INDEX bench_cf_region ON tickets_ticket (cf_region)",
                "CREATE INDEX bench_cf_bought ON tickets_ticket (cf_purchase_date DESC, id DESC)"
                " WHERE " + OPEN,
                "CREATE INDEX bench_cf_open_model ON tickets_ticket (status_category, cf_model)",
                "VACUUM (ANALYZE) tickets_ticket",
            ],
            drop=[
                "ALTER TABLE tickets_ticket DROP COLUMN cf_model, DROP COLUMN cf_region,"
                " DROP COLUMN cf_purchase_date",
                "VACUUM FULL tickets_ticket",
                "VACUUM (ANALYZE) tickets_ticket",
            ],
            equals=lambda key: f"cf_{key} = %(v)s",
            contains_top=lambda key: f"cf_{key} = %(v)s",
            sort_expression="cf_purchase_date",
            report=(
                f"SELECT cf_model, count(*) FROM tickets_ticket WHERE {OPEN} GROUP BY 1"  # noqa: S608
            ),
        ),
        "eav": Variant(
            "eav: typed value table (ticket, key, value)",
            build=[
                "CREATE TABLE bench_cf_value (ticket_id bigint NOT NULL, key text NOT NULL,"
                " level smallint NOT NULL, value text NOT NULL)",
                "INSERT INTO bench_cf_value SELECT t.id, e.key, 0, e.value #>> '{}'"
                " FROM tickets_ticket t, jsonb_each(t.custom_fields) e"
                " WHERE jsonb_typeof(e.value) <> 'array'",
                "INSERT INTO bench_cf_value SELECT t.id, e.key, a.level - 1, a.value #>> '{}'"
                " FROM tickets_ticket t, jsonb_each(t.custom_fields) e,"
                " jsonb_array_elements(e.value) WITH ORDINALITY a(value, level)"
                " WHERE jsonb_typeof(e.value) = 'array'",
                "CREATE INDEX bench_cf_value_lookup ON bench_cf_value (key, value, ticket_id)",
                "CREATE INDEX bench_cf_value_ticket ON bench_cf_value (ticket_id)",
                "VACUUM (ANALYZE) bench_cf_value",
            ],
            drop=["DROP TABLE bench_cf_value"],
            equals=lambda key: (
                "EXISTS (SELECT 1 FROM bench_cf_value v WHERE v.ticket_id = tickets_ticket.id"  # noqa: S608
                f" AND v.key = '{key}' AND v.value = %(v)s)"
            ),
            contains_top=lambda key: (
                "EXISTS (SELECT 1 FROM bench_cf_value v WHERE v.ticket_id = tickets_ticket.id"  # noqa: S608
                f" AND v.key = '{key}' AND v.level = 0 AND v.value = %(v)s)"
            ),
            sort_expression="sv.value",
            sort_join=(
                " JOIN bench_cf_value sv ON sv.ticket_id = tickets_ticket.id"
                " AND sv.key = 'purchase_date'"
            ),
            report=(
                "SELECT v.value, count(*) FROM bench_cf_value v"  # noqa: S608
                " JOIN tickets_ticket ON tickets_ticket.id = v.ticket_id"
                f" WHERE v.key = 'model' AND {OPEN} GROUP BY 1"
            ),
            values_for_insert=True,
        ),
    }


# --- The questions ----------------------------------------------------------------------------


def scope(agent: dict[str, Any]) -> str:
    # "My teams' open tickets" as filtering.apply_filters sends it for a "my teams" agent.
    teams = ", ".join(str(t) for t in agent["teams"])
    return f"team_id IN ({teams}) AND {OPEN}"


def inbox_sql(agent: dict[str, Any], condition: str, after: tuple[Any, int] | None) -> str:
    keyset = ""
    if after is not None:
        keyset = (
            " AND updated_at <= %(u)s AND (updated_at < %(u)s OR (updated_at = %(u)s"
            " AND id < %(i)s))"
        )
    return (
        f"SELECT * FROM tickets_ticket WHERE {scope(agent)} AND {condition}{keyset}"  # noqa: S608
        f" ORDER BY updated_at DESC, id DESC LIMIT {PAGE}"
    )


def sort_sql(variant: Variant, where: str, after: tuple[Any, int] | None) -> str:
    expression = variant.sort_expression
    keyset = ""
    if after is not None:
        keyset = (
            f" AND {expression} <= %(u)s AND ({expression} < %(u)s"
            f" OR ({expression} = %(u)s AND tickets_ticket.id < %(i)s))"
        )
    null = "" if variant.sort_join else f" AND {expression} IS NOT NULL"
    return (
        f"SELECT tickets_ticket.* FROM tickets_ticket{variant.sort_join}"  # noqa: S608
        f" WHERE {where}{null}{keyset}"
        f" ORDER BY {expression} DESC, tickets_ticket.id DESC LIMIT {PAGE}"
    )


@dataclass
class Deep:
    """Cursors of page 200, found once with plain SQL (they are data, the same for all)."""

    region: dict[tuple[int, str], tuple[Any, int] | None]
    bought: tuple[Any, int]


def find_cursors(connection: Any, agents: list[dict[str, Any]], areas: list[str]) -> Deep:
    region = {}
    for agent in agents:
        for area in areas:
            row = connection.execute(
                f"SELECT updated_at, id FROM tickets_ticket WHERE {scope(agent)}"  # noqa: S608
                " AND custom_fields->'region'->>0 = %s"
                f" ORDER BY updated_at DESC, id DESC OFFSET {DEEP - 1} LIMIT 1",
                [area],
            ).fetchone()
            region[(agent["id"], area)] = tuple(row) if row else None
    bought = connection.execute(
        f"SELECT custom_fields->>'purchase_date', id FROM tickets_ticket WHERE {OPEN}"  # noqa: S608
        " AND custom_fields ? 'purchase_date'"
        f" ORDER BY custom_fields->>'purchase_date' DESC, id DESC OFFSET {DEEP - 1} LIMIT 1"
    ).fetchone()
    return Deep(region=region, bought=tuple(bought))


def backend_cpu_ns(connection: Any) -> int:
    with open(f"/proc/{connection.info.backend_pid}/schedstat") as stat:
        return int(stat.read().split()[0])


def timed(connection: Any, sql: str, params: dict[str, Any]) -> tuple[float, float]:
    """Wall ms, and CPU ms of the database backend (what the query costs on an idle machine)."""
    cpu, started = backend_cpu_ns(connection), time.perf_counter()
    connection.execute(sql, params).fetchall()
    return (time.perf_counter() - started) * 1000, (backend_cpu_ns(connection) - cpu) / 1e6


@dataclass
class Times:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{fmt(self.wall)} wall, {fmt(self.cpu)} cpu"


def run(
    connection: Any,
    samples: int,
    make: Callable[[int], tuple[str, dict[str, Any]] | None],
    explain: str | None,
) -> Times:
    times = Times()
    for n in range(samples + 3):
        made = make(n)
        if made is None:
            continue
        wall, cpu = timed(connection, *made)
        if n >= 3:
            times.wall.append(wall)
            times.cpu.append(cpu)
        if sum(times.wall) > 20_000:  # a hopeless variant is not worth a minute per figure
            break
    if explain:
        made = make(0)
        if made is not None:
            plan = connection.execute("EXPLAIN (ANALYZE, BUFFERS) " + made[0], made[1]).fetchall()
            print(f"--- EXPLAIN {explain}\n" + "\n".join(row[0] for row in plan), flush=True)
    return times


def insert_rate(connection: Any, variant: Variant, count: int) -> tuple[float, float]:
    """Single-row insert transactions per second (ticket row, plus value rows for EAV)."""
    template = connection.execute(
        "SELECT business_line_id, ticket_type_id, status_id, requester_id, team_id,"
        " custom_fields FROM tickets_ticket WHERE ticket_type_id IN"
        " (SELECT id FROM tickets_tickettype WHERE key = 'repair') ORDER BY id DESC LIMIT 1"
    ).fetchone()
    line, ticket_type, status, requester, team, values = template
    started, cpu = time.perf_counter(), backend_cpu_ns(connection)
    ids = []
    for number in range(count):
        with connection.transaction():
            ticket_id = connection.execute(
                "INSERT INTO tickets_ticket (number, subject, description, channel,"
                " status_category, priority, custom_fields, custom_field_versions, version,"
                " created_at, updated_at, status_changed_at, business_line_id, ticket_type_id,"
                " status_id, requester_id, team_id)"
                " VALUES (%s, 'Bench', '', 'web', 'new', 2, %s, '{}', 1, now(), now(), now(),"
                " %s, %s, %s, %s, %s) RETURNING id",
                [
                    f"BENCH-{number:07d}",
                    json.dumps(values),
                    line,
                    ticket_type,
                    status,
                    requester,
                    team,
                ],
            ).fetchone()[0]
            ids.append(ticket_id)
            if variant.values_for_insert:
                rows = []
                for key, value in values.items():
                    if isinstance(value, list):
                        rows += [(ticket_id, key, level, v) for level, v in enumerate(value)]
                    else:
                        rows.append((ticket_id, key, 0, str(value)))
                with connection.cursor() as cursor:
                    cursor.executemany("INSERT INTO bench_cf_value VALUES (%s, %s, %s, %s)", rows)
    rate = count / (time.perf_counter() - started)
    cpu_ms = (backend_cpu_ns(connection) - cpu) / 1e6 / count
    if variant.values_for_insert:
        connection.execute("DELETE FROM bench_cf_value WHERE ticket_id = ANY(%s)", [ids])
    connection.execute("DELETE FROM tickets_ticket WHERE id = ANY(%s)", [ids])
    return rate, cpu_ms


def measure(
    connection: Any, variant: Variant, agents: list[dict[str, Any]], deep: Deep, options: Any
) -> list[str]:
    samples = options.samples
    common, rare, areas = MODELS[:3], MODELS[-3:], ["east", "south", "central"]
    explain = options.explain

    def pick(n: int) -> tuple[dict[str, Any], int]:
        return agents[n % len(agents)], (n // len(agents)) % 3

    def common_page(n: int) -> tuple[str, dict[str, Any]]:
        agent, value = pick(n)
        return inbox_sql(agent, variant.equals("model"), None), params("model", common[value])

    def rare_page(n: int) -> tuple[str, dict[str, Any]]:
        agent, value = pick(n)
        return inbox_sql(agent, variant.equals("model"), None), params("model", rare[value])

    def region_deep(n: int) -> tuple[str, dict[str, Any]] | None:
        agent, value = pick(n)
        after = deep.region[(agent["id"], areas[value])]
        if after is None:
            return None
        sql = inbox_sql(agent, variant.contains_top("region"), after)
        return sql, params("region", areas[value], u=after[0], i=after[1])

    def bought_first(n: int) -> tuple[str, dict[str, Any]]:
        return sort_sql(variant, OPEN, None), {}

    def bought_deep(n: int) -> tuple[str, dict[str, Any]]:
        return sort_sql(variant, OPEN, deep.bought), {"u": deep.bought[0], "i": deep.bought[1]}

    def bought_mine(n: int) -> tuple[str, dict[str, Any]]:
        agent, _ = pick(n)
        return sort_sql(variant, scope(agent), None), {}

    def report(n: int) -> tuple[str, dict[str, Any]]:
        return variant.report, {}

    figures = {
        "filter common model, page 1": run(connection, samples, common_page, explain and "common"),
        "filter rare model, page 1": run(connection, samples, rare_page, explain and "rare"),
        "filter region area, page 200": run(
            connection, samples, region_deep, explain and "region deep"
        ),
        "sort open by purchase date, page 1": run(
            connection, samples, bought_first, explain and "sort"
        ),
        "sort open by purchase date, page 200": run(
            connection, samples, bought_deep, explain and "sort deep"
        ),
        "sort my teams' open by purchase date": run(
            connection, samples, bought_mine, explain and "sort mine"
        ),
        "report: open tickets per model": run(
            connection, max(10, samples // 6), report, explain and "report"
        ),
    }
    lines = [f"{name:38} {values}" for name, values in figures.items()]
    runs = [insert_rate(connection, variant, options.inserts) for _ in range(3)]
    rates = [rate for rate, _ in runs]
    cpus = [cpu for _, cpu in runs]
    lines.append(
        f"{'write: single-row insert transactions':38} {statistics.median(rates):5.0f}/s"
        f" (min {min(rates):.0f}, max {max(rates):.0f}),"
        f" {statistics.median(cpus):.2f} ms database CPU each"
    )
    return lines


def build(connection: Any, variant: Variant) -> str:
    started = time.perf_counter()
    before = connection.execute(
        "SELECT pg_total_relation_size('tickets_ticket')"
        " + coalesce(pg_total_relation_size(to_regclass('bench_cf_value')), 0)"
    ).fetchone()[0]
    for statement in variant.build:
        connection.execute(statement)
    after = connection.execute(
        "SELECT pg_total_relation_size('tickets_ticket')"
        " + coalesce(pg_total_relation_size(to_regclass('bench_cf_value')), 0)"
    ).fetchone()[0]
    return f"built in {time.perf_counter() - started:.1f} s, +{(after - before) / 2**20:.0f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="as_bench")
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--inserts", type=int, default=500)
    parser.add_argument("--variants", default="none,gin,expression,team_expression,eav,generated")
    parser.add_argument("--explain", action="store_true")
    options = parser.parse_args()
    chosen = options.variants.split(",")
    with temp_dir("aftersales-bench-") as data_dir:
        prepare(options.database, False, data_dir)
        agents = [
            {"id": user.pk, "teams": sorted(m.team_id for m in user.team_memberships.all())}
            for user in pick_agents(6)
        ]
        with raw_connection() as connection:
            connection.execute("SET maintenance_work_mem = '256MB'")
            # The migrations' own custom-field indexes (the GIN) step aside while variants
            # are compared, and come back afterwards.
            existing = connection.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'tickets_ticket'"
                " AND indexdef ILIKE '%custom_fields%'"
            ).fetchall()
            for name, _definition in existing:
                connection.execute(f'DROP INDEX "{name}"')
            try:
                deep = find_cursors(connection, agents, ["east", "south", "central"])
                print(
                    f"storage: {len(agents)} agents x 3 values, {options.samples} samples per"
                    f" figure, unsolved categories {UNSOLVED}; ms p50 / p95"
                )
                for key in chosen:
                    variant = variants()[key]
                    print(f"== {variant.name} ({build(connection, variant)})", flush=True)
                    try:
                        for line in measure(connection, variant, agents, deep, options):
                            print(f"   {line}", flush=True)
                    finally:
                        for statement in variant.drop:
                            connection.execute(statement)
            finally:
                for _name, definition in existing:
                    connection.execute(definition)


if __name__ == "__main__":
    main()
