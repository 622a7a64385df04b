"""The rule engine's figures: added latency per ticket event with 200 active rules (target
under 2 ms), conditions evaluated per second, a time-based sweep over 1,000,000 open tickets
(target under 1 s when few match), and API ticket creation with 200 rules beside none (target
at least 80 %).

    .venv/bin/python bench/automation.py engine [--rules 200] [--events 1000] [--repeats 5]
    .venv/bin/python bench/automation.py sweep  [--repeats 5]
    .venv/bin/python bench/automation.py api    [--rules 200] [--seconds 20] [--rounds 3]

``engine`` and ``sweep`` use the 1,000,000-ticket data set of ``tickets_inbox.py`` (loaded into
``as_bench`` on first use and kept). ``engine`` saves 200 rules through the services (3-5
leaves each over tier, priority, channel, type, product model, region and Chinese words; each
adds a tag when it matches), then hands the engine ``ticket.updated`` events of open tickets,
each inside a transaction rolled back afterwards, with the rules active and with none.

``sweep`` copies the data set to ``as_bench_sweep`` (CREATE DATABASE … TEMPLATE) and opens all
1,000,000 tickets, then times an automation "open for more than 2 hours, urgent and model X"
(few match): its first sweep (a new automation looks at every ticket: the condition narrows
the query), a steady sweep (the window since the last one), and for comparison how fast a
condition that cannot narrow the query (words) pages through tickets.

``api`` is ``ticket_create.py``'s set-up (gunicorn, wrk, a throwaway database with --preload
tickets) with rounds alternating between no rules and 200 active rules listening to "ticket
created".
"""

from __future__ import annotations

import argparse
import random
import secrets
import statistics
import time
from pathlib import Path
from typing import Any

from _common import SERVER, _admin_connection, configure_django, summary, temp_dir

SEED = 20261125
WORDS = ["漏水", "噪音", "不制冷", "付款", "发票", "退货", "安装", "加急", "投诉", "重复"]


# --- 200 rules ----------------------------------------------------------------------------------


def _leaves(rng: random.Random, tiers: list[str], types: list[int]) -> list[dict[str, Any]]:
    from tickets_inbox import MODELS, REGIONS

    pool = [
        {"field": "customer.tier", "op": "is", "value": rng.choice(tiers)},
        {
            "field": "ticket.priority",
            "op": "in",
            "value": rng.sample(["low", "normal", "high", "urgent"], 2),
        },
        {
            "field": "ticket.channel",
            "op": "is",
            "value": rng.choice(["web", "email", "phone", "wechat"]),
        },
        {"field": "ticket.type", "op": "is", "value": rng.choice(types)},
        {"field": "ticket.text", "op": "contains_any_words", "value": rng.sample(WORDS, 2)},
    ]
    # Like a desk's routing rules: each is about some products in some region, plus a few
    # more conditions; a ticket event matches about one rule in a hundred.
    specific = [
        {"field": "ticket.cf.model", "op": "in", "value": rng.sample(MODELS, 3)},
        {"field": "ticket.cf.region", "op": "is", "value": rng.choice(list(REGIONS))},
    ]
    return specific + rng.sample(pool, rng.randint(1, 3))


def make_rules(count: int, *, triggers: list[str]) -> list[Any]:
    """``count`` rules saved through the services, as an administrator would."""
    from aftersales.accounts.models import BusinessLine, User
    from aftersales.automation import services
    from aftersales.customers.models import CustomerTier
    from aftersales.tickets.models import TicketType

    rng = random.Random(SEED)
    admin = User.objects.get(username="bench-admin")
    tiers = list(CustomerTier.objects.values_list("key", flat=True))
    lines = list(BusinessLine.objects.values_list("pk", flat=True))
    rules = []
    for number in range(count):
        line = None if number % 4 == 0 else rng.choice(lines)
        types = TicketType.objects.filter(**({"business_line_id": line} if line else {}))
        leaves = _leaves(rng, tiers, list(types.values_list("pk", flat=True)))
        condition = (
            {"all": leaves} if rng.random() < 0.7 else {"all": [*leaves[:2], {"any": leaves[2:]}]}
        )
        rules.append(
            services.create_rule(
                actor=admin,
                values={
                    "name": f"Bench rule {number}",
                    "triggers": triggers,
                    "business_lines": [line] if line else [],
                    "condition": condition,
                    "actions": [{"type": "add_tags", "tags": [f"bench-{number}"]}],
                },
            )
        )
    return rules


def set_rules_active(active: bool) -> None:
    from aftersales.automation import engine
    from aftersales.automation.models import Rule

    Rule.objects.filter(name__startswith="Bench rule").update(is_active=active)
    engine.bump_generation()


def drop_rules() -> None:
    from aftersales.automation import engine
    from aftersales.automation.models import Rule

    Rule.objects.filter(name__startswith="Bench rule").delete()
    engine.bump_generation()


# --- engine -------------------------------------------------------------------------------------


def _events(count: int) -> list[Any]:
    """Unsaved ``ticket.updated`` events of open tickets, as ``update_ticket`` emits them."""
    from aftersales.outbox.models import OutboxEvent
    from aftersales.tickets.models import Ticket
    from aftersales.tickets.services.tickets import event_payload

    tickets = list(Ticket.objects.filter(status_category__in=["new", "open"]).order_by("?")[:count])
    return [
        OutboxEvent(
            topic="ticket.updated",
            object_type="tickets.ticket",
            object_id=str(t.pk),
            payload=event_payload(t, changes={"priority": [2, 3]}),
        )
        for t in tickets
    ]


class _Rollback(Exception):
    pass


def _time_events(events: list[Any]) -> tuple[list[float], list[float], int, list[float]]:
    """Per event: milliseconds the engine spends, and the same without the time inside the
    actions the matching rules do (rolled back afterwards); and how many rules fired."""
    from django.db import transaction

    from aftersales.automation import engine
    from aftersales.automation.models import Execution

    inside = [0.0]
    apply_all = engine.action_kinds.apply_all

    def timed_apply_all(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return apply_all(*args, **kwargs)
        finally:
            inside[0] += time.perf_counter() - started

    engine.action_kinds.apply_all = timed_apply_all  # type: ignore[assignment]
    totals, overheads, fired, idle = [], [], 0, []
    try:
        for event in events:
            try:
                with transaction.atomic():
                    inside[0] = 0.0
                    started = time.perf_counter()
                    engine.on_ticket_event(event)
                    total = time.perf_counter() - started
                    totals.append(1000 * total)
                    overheads.append(1000 * (total - inside[0]))
                    count = Execution.objects.filter(ticket_id=event.payload["ticket_id"]).count()
                    fired += count
                    if not count:
                        idle.append(1000 * total)
                    raise _Rollback
            except _Rollback:
                pass
    finally:
        engine.action_kinds.apply_all = apply_all  # type: ignore[assignment]
    return totals, overheads, fired, idle


def bench_engine(rules: int, events_count: int, repeats: int) -> None:
    from aftersales.automation import engine
    from aftersales.conditions import compiler
    from aftersales.conditions.activation import ticket_activation
    from aftersales.tickets.models import Ticket

    drop_rules()
    started = time.perf_counter()
    make_rules(rules, triggers=["updated"])
    print(
        f"engine: {rules} rules saved through the services in {time.perf_counter() - started:.1f} s"
    )
    events = _events(events_count)
    with_rules: list[float] = []
    overhead: list[float] = []
    without: list[float] = []
    p95: list[float] = []
    matched: list[float] = []
    no_match: list[float] = []
    for _ in range(repeats):
        set_rules_active(True)
        engine.active_rules()  # compile once, as a long-running process has
        totals, overheads, fired, idle = _time_events(events)
        no_match.append(statistics.median(idle))
        with_rules.append(statistics.median(totals))
        overhead.append(statistics.median(overheads))
        p95.append(statistics.quantiles(overheads, n=20)[18])
        matched.append(fired / len(events))
        set_rules_active(False)
        engine.active_rules()
        totals, _, _, _ = _time_events(events)
        without.append(statistics.median(totals))
    set_rules_active(True)
    loaded = engine.active_rules()
    ticket = Ticket.objects.select_related("requester__tier").get(pk=events[0].payload["ticket_id"])
    activation = ticket_activation(ticket)
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        rounds = 0
        while time.perf_counter() - started < 2:
            for rule in loaded:
                compiler.evaluate(rule.program, activation)
            rounds += 1
        rates.append(rounds * len(loaded) / (time.perf_counter() - started))
    added = [w - o for w, o in zip(overhead, without, strict=True)]
    print(
        f"{len(events)} ticket.updated events of open tickets, {rules} rules listening,"
        f" {repeats} repeats"
    )
    print(f"engine per event, no rules:          {summary(without, 3)} ms")
    print(f"engine per event, {rules} rules, total: {summary(with_rules, 3)} ms")
    print(f"  of which not in the actions:       {summary(overhead, 3)} ms (p95 {summary(p95, 3)})")
    print(f"added latency per event (rules):     {summary(added, 3)} ms (target < 2 ms)")
    print(f"rules fired per event:               {summary(matched, 2)}")
    print(f"events no rule fired on:             {summary(no_match, 3)} ms")
    print(f"conditions evaluated per second:     {summary(rates)}")
    drop_rules()


# --- sweep ----------------------------------------------------------------------------------------


def sweep_database(source: str, target: str) -> str:
    with _admin_connection() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [source]
        )
        admin.execute(f'CREATE DATABASE "{target}" TEMPLATE "{source}"')
    return f"{SERVER}/{target}"


def open_everything() -> int:
    from django.db import connection
    from tickets_inbox import raw_connection

    if connection.settings_dict["NAME"] != "as_bench_sweep":
        raise SystemExit("Refusing to open every ticket outside the as_bench_sweep copy.")

    with raw_connection() as connection:
        connection.execute(
            "UPDATE tickets_ticket t SET status_category = 'open', status_id = s.id,"
            " solved_at = NULL, closed_at = NULL FROM tickets_ticketstatus s"
            " WHERE s.ticket_type_id = t.ticket_type_id AND s.key = 'open'"
            " AND t.status_category <> 'open'"
        )
        connection.execute("VACUUM ANALYZE tickets_ticket")
        row = connection.execute(
            "SELECT count(*) FROM tickets_ticket WHERE status_category = 'open'"
        ).fetchone()
    return int(row[0])


def bench_sweep(repeats: int) -> None:
    from django.utils import timezone
    from tickets_inbox import MODELS

    from aftersales.accounts.models import User
    from aftersales.automation import services, timed
    from aftersales.automation.models import Automation, AutomationFiring
    from aftersales.tickets.models import Ticket

    opened = open_everything()
    admin = User.objects.get(username="bench-admin")
    model = MODELS[-1]  # the rarest model
    region = "northeast"
    matching = Ticket.objects.filter(
        priority=4, custom_fields__contains={"model": model, "region": [region]}
    ).count()
    automation = services.create_automation(
        actor=admin,
        values={
            "name": "Urgent model waits",
            "clock": "created_at",
            "hours": "2",
            "status_categories": ["new", "open"],
            "condition": {
                "all": [
                    {"field": "ticket.priority", "op": "is", "value": "urgent"},
                    {"field": "ticket.cf.model", "op": "is", "value": model},
                    {"field": "ticket.cf.region", "op": "is", "value": region},
                ]
            },
            "actions": [{"type": "add_tags", "tags": ["waited"]}],
        },
    )
    first: list[float] = []
    steady: list[float] = []
    fired: list[int] = []
    for _ in range(repeats):
        AutomationFiring.objects.filter(automation=automation).delete()
        Automation.objects.filter(pk=automation.pk).update(
            swept_until=None, swept_after_id=None, swept_at=None
        )
        started = time.perf_counter()
        fired.append(timed.sweep(Automation.objects.get(pk=automation.pk)))
        first.append(1000 * (time.perf_counter() - started))
        started = time.perf_counter()
        timed.sweep(Automation.objects.get(pk=automation.pk))
        steady.append(1000 * (time.perf_counter() - started))
    words = services.create_automation(
        actor=admin,
        values={
            "name": "Words wait",
            "clock": "created_at",
            "hours": "2",
            "status_categories": ["open"],
            "condition": {
                "all": [
                    {"field": "ticket.text", "op": "contains_any_words", "value": ["不存在的词"]}
                ]
            },
            "actions": [{"type": "add_tags", "tags": ["never"]}],
        },
    )
    budget = 5.0
    timed_budget = timed.budget_seconds
    timed.budget_seconds = lambda: budget  # type: ignore[assignment]
    started = time.perf_counter()
    timed.sweep(Automation.objects.get(pk=words.pk))
    elapsed = time.perf_counter() - started
    timed.budget_seconds = timed_budget  # type: ignore[assignment]
    reached = Automation.objects.get(pk=words.pk)
    looked_at = (
        Ticket.objects.filter(created_at__lte=reached.swept_until).count()
        if reached.swept_until
        else 0
    )
    print(
        f"{opened} open tickets; {matching} urgent tickets of model {model} in {region};"
        f" now {timezone.now():%Y-%m-%d %H:%M}"
    )
    print(
        f"first sweep of a new automation:   {summary(first)} ms, fired {fired[0]}"
        " (target < 1000 ms)"
    )
    print(f"steady sweep (nothing new):        {summary(steady, 1)} ms")
    print(
        "a condition that cannot narrow the query (words) evaluates"
        f" {looked_at / elapsed:.0f} tickets/s"
        f" ({looked_at} in {elapsed:.1f} s, then leaves the rest to the next sweep)"
    )


# --- api ----------------------------------------------------------------------------------------


def bench_api(rules: int, seconds: int, rounds: int, preload: int, connections: int) -> None:
    import ticket_create as creation
    from _common import free_port, start, stop, throwaway_database, wait_for

    with temp_dir("aftersales-bench-") as data_dir, throwaway_database("as_bench_rules") as url:
        env = configure_django(url, data_dir)
        desk = creation.prepare_desk(preload)
        make_rules(rules, triggers=["created"])
        set_rules_active(False)
        env.update(
            AFTERSALES_MODE="production",
            SECRET_KEY=secrets.token_urlsafe(48),
            ALLOWED_HOSTS="127.0.0.1,localhost",
            DEBUG="0",
        )
        env.pop("AFTERSALES_EXTRA_APPS", None)
        script = Path(data_dir) / "create.lua"
        script.write_text(
            creation.LUA
            % {
                "token": desk["token"],
                "type_id": desk["type_id"],
                "requesters": ", ".join(str(pk) for pk in desk["requesters"]),
                "models": ", ".join(f'"{m}"' for m in creation.MODELS),
            }
        )
        port = free_port()
        web = start(
            ["web", "--workers", "2", "--threads", "4", "--bind", f"127.0.0.1:{port}"],
            env,
            Path(data_dir) / "web.log",
        )
        none: list[float] = []
        some: list[float] = []
        try:
            wait_for(lambda: creation.healthy(port), 60, "gunicorn")
            creation.check_one(port, desk)
            creation.run_wrk(script, port, 3, connections)  # warm both workers
            for round_number in range(1, rounds + 1):
                for active, figures in ((False, none), (True, some)):
                    set_rules_active(active)
                    creation.run_wrk(script, port, 2, connections)  # workers reload the rules
                    result = creation.run_wrk(script, port, seconds, connections)
                    if result["bad"]:
                        raise SystemExit(f"{result['bad']} requests failed")
                    figures.append(result["rate"])
                    print(
                        f"round {round_number}: {'200 rules' if active else 'no rules'}"
                        f" {result['rate']:.0f} creates/s (p50 {result['p50_ms']:.0f} ms)",
                        flush=True,
                    )
        finally:
            stop(web)
        from django.db.models import Count

        from aftersales.automation.models import Execution

        per_ticket = Execution.objects.values("ticket").annotate(n=Count("pk"))
        ratios = [100 * s / n for s, n in zip(some, none, strict=True)]
        print(
            f"wrk {connections} connections, gunicorn 2 workers x 4 threads, {seconds} s per figure"
        )
        print(f"no rules:        {summary(none)} creates/s")
        print(f"{rules} rules:       {summary(some)} creates/s")
        print(f"with / without:  {summary(ratios, 1)} % (target >= 80 %)")
        print(f"tickets a rule fired on: {per_ticket.count()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["engine", "sweep", "api"])
    parser.add_argument("--rules", type=int, default=200)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--preload", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=8)
    options = parser.parse_args()
    if options.part == "api":
        bench_api(
            options.rules, options.seconds, options.rounds, options.preload, options.connections
        )
        return
    from tickets_inbox import prepare

    with temp_dir("aftersales-bench-") as data_dir:
        if options.part == "engine":
            prepare("as_bench", False, data_dir)
            bench_engine(options.rules, options.events, options.repeats)
            return
        prepare("as_bench", False, data_dir)
        from django.db import connections

        connections.close_all()
        sweep_database("as_bench", "as_bench_sweep")
        # Django read its settings once: point the open connection at the copy itself.
        connections["default"].settings_dict["NAME"] = "as_bench_sweep"
        try:
            bench_sweep(options.repeats)
        finally:
            connections.close_all()
            with _admin_connection() as admin:
                admin.execute('DROP DATABASE IF EXISTS "as_bench_sweep" WITH (FORCE)')


if __name__ == "__main__":
    main()
