"""Routing decisions on PostgreSQL: how long one takes, and how many a team sustains at once.

    .venv/bin/python bench/routing.py [--agents 50] [--preload 20000] [--routes 300]
                                      [--queued 5000] [--threads 8] [--rounds 3]

A throwaway database gets, through the services, one business line with a repair type whose
form has a cascading ``location`` field, a team of ``--agents`` agents on least-loaded with
skills + region matching and a capacity of 1,000 (every agent holds the ``repair`` skill and
covers one of the seven seeded regions), and ``--preload`` open tickets assigned across the
agents (bulk-inserted copies, so load counts walk a realistic index). Then, per round:

* ``route``     ``route_to_team`` on ``--routes`` fresh tickets one after another (ms each),
  in its transaction and with the after-commit work (every eager subscriber's delivery);
* ``plan``      ``plan_route`` on the same number of tickets (the rule engine's dry run);
* ``parallel``  ``--threads`` threads routing ``--routes`` tickets between them (tickets/s):
  all of them contend for the team's routing row, which serialises the decisions;
* ``get next``  with ``--queued`` tickets waiting in a second team's queue, agents take
  ``--routes`` of them with ``get_next`` from ``--threads`` threads (tickets/s).
"""

from __future__ import annotations

import argparse
import itertools
import secrets
import threading
import time
from typing import Any

from _common import configure_django, summary, temp_dir, throwaway_database

PASSWORD = secrets.token_urlsafe(16)
_numbers = itertools.count(1)
CODES = ["shanghai", "beijing", "guangdong", "hubei", "sichuan", "shaanxi", "liaoning"]


def configure(agents: int) -> dict[str, Any]:
    from aftersales.accounts import services as accounts
    from aftersales.accounts.models import Role
    from aftersales.customers import services as customers
    from aftersales.customfields import services as customfields
    from aftersales.routing import services
    from aftersales.routing.models import Region
    from aftersales.tickets import services as tickets
    from aftersales.tickets.models import form_key_of

    accounts.sync_predefined_roles()
    admin = accounts.bootstrap_admin(username="admin", password=PASSWORD)
    line = accounts.create_business_line(actor=admin, code="repair", name="Repair")
    repair = tickets.create_ticket_type(
        actor=admin, business_line=line, key="repair", name_zh="维修", name_en="Repair"
    )
    customfields.create_definition(
        actor=admin,
        target="tickets.ticket",
        subtarget=form_key_of(repair.pk),
        key="location",
        field_type="cascade",
        label_zh="地区",
        label_en="Location",
        config={"require_leaf": False, "options": [{"key": c} for c in CODES]},
    )
    skill = services.create_skill(actor=admin, key="repair", name_zh="维修", name_en="Repair")
    role = Role.objects.get(key="agent")
    people = []
    for index in range(agents):
        user = accounts.create_user(actor=admin, username=f"agent{index}", password=PASSWORD)
        accounts.grant_role(actor=admin, user=user, role=role, scope="teams")
        people.append(user)
    routed = accounts.create_team(actor=admin, name="Field", business_line=line, members=people)
    queue = accounts.create_team(actor=admin, name="Queue", business_line=line, members=people)
    services.update_team_routing(
        actor=admin,
        team=routed,
        changes={
            "strategy": "least_loaded",
            "use_skills": True,
            "use_region": True,
            "region_field": "location",
            "default_capacity": 1000,
            "respect_working_hours": False,
        },
    )
    services.update_team_routing(actor=admin, team=queue, changes={"queue_mode": True})
    regions = {r.code: r for r in Region.objects.filter(code__in=CODES)}
    for index, user in enumerate(people):
        services.update_agent_profile(
            actor=admin,
            user=user,
            changes={"skills": [skill], "regions": [regions[CODES[index % len(CODES)]]]},
        )
    customer = customers.create_customer(actor=admin, name="Bench customer", business_line=line)
    services.set_ticket_type_skills(actor=admin, ticket_type=repair, skills=[skill])
    return {"admin": admin, "type": repair, "customer": customer, "agents": people,
            "routed": routed, "queue": queue}  # fmt: skip


def make_tickets(desk: dict[str, Any], count: int, **fields: Any) -> list[Any]:
    """``count`` copies of one service-made ticket, inserted in bulk with fresh numbers."""
    from aftersales.tickets import services as tickets
    from aftersales.tickets.models import Ticket

    template = tickets.create_ticket(
        actor=desk["admin"],
        ticket_type=desk["type"],
        requester=desk["customer"],
        subject="Bench",
        custom_fields={"location": [CODES[0]]},
    )
    rows = []
    for index in range(count):
        row = Ticket.objects.get(pk=template.pk)  # a fresh copy of every field
        row.pk = None
        row.number = f"BENCH-{next(_numbers)}"
        row.custom_fields = {"location": [CODES[index % len(CODES)]]}
        for name, value in fields.items():
            setattr(row, name, value)
        rows.append(row)
    return Ticket.objects.bulk_create(rows, batch_size=2000)


def split_timed(calls: list[Any]) -> tuple[list[float], list[float]]:
    """Each call's time inside its transaction, and with the after-commit work (the eager
    outbox deliveries of every subscriber, routing's own reaction included)."""
    from django.db import transaction

    inside, total = [], []
    for call in calls:
        started = time.perf_counter()
        with transaction.atomic():
            call()
            inside.append((time.perf_counter() - started) * 1000)
        total.append((time.perf_counter() - started) * 1000)
    return inside, total


def timed(calls: list[Any]) -> list[float]:
    durations = []
    for call in calls:
        started = time.perf_counter()
        call()
        durations.append((time.perf_counter() - started) * 1000)
    return durations


def in_threads(calls: list[Any], threads: int) -> float:
    from django.db import connection

    chunks = [calls[i::threads] for i in range(threads)]
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def run(chunk: list[Any]) -> None:
        try:
            barrier.wait()
            for call in chunk:
                call()
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    workers = [threading.Thread(target=run, args=(c,)) for c in chunks]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]
    return len(calls) / (time.perf_counter() - started)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--preload", type=int, default=20_000)
    parser.add_argument("--routes", type=int, default=300)
    parser.add_argument("--queued", type=int, default=5_000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    with throwaway_database("bench_routing") as url, temp_dir("bench-routing-") as data:
        configure_django(url, data)
        from django.db import connection

        from aftersales.routing import services
        from aftersales.tickets.models import Ticket

        desk = configure(options.agents)
        agents = desk["agents"]
        started = time.perf_counter()
        for chunk in range(0, options.preload, 5000):
            make_tickets(desk, min(5000, options.preload - chunk), team=desk["routed"])
        ids = [a.pk for a in agents]
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE tickets_ticket SET assignee_id = (%s::bigint[])[1 + id %% %s]"
                " WHERE team_id = %s",
                [ids, len(ids), desk["routed"].pk],
            )
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        print(
            f"preload: {options.preload} assigned tickets in {time.perf_counter() - started:.1f} s"
        )
        routes, transactions, plans, parallel, pulls = [], [], [], [], []
        team, queue = desk["routed"], desk["queue"]
        for _round in range(options.rounds):
            fresh = make_tickets(desk, options.routes)
            plans += timed([lambda t=t: services.plan_route(ticket=t, team=team) for t in fresh])
            inside, total = split_timed(
                [lambda t=t: services.route_to_team(ticket=t, team=team) for t in fresh]
            )
            routes += total
            transactions += inside
            fresh = make_tickets(desk, options.routes)
            parallel.append(
                in_threads(
                    [lambda t=t: services.route_to_team(ticket=t, team=team) for t in fresh],
                    options.threads,
                )
            )
            waiting = Ticket.objects.filter(team=queue, assignee__isnull=True).count()
            make_tickets(desk, max(0, options.queued - waiting), team=queue)
            pullers = [agents[i % len(agents)] for i in range(options.routes)]
            parallel_pulls = [lambda a=a: services.get_next(agent=a) for a in pullers]
            pulls.append(in_threads(parallel_pulls, options.threads))
        print(
            f"route_to_team ms: median {percentile(routes, 0.5):.1f}, "
            f"p95 {percentile(routes, 0.95):.1f}, max {max(routes):.1f} ({len(routes)} calls)"
        )
        print(
            f"route_to_team ms in its transaction: median {percentile(transactions, 0.5):.1f}, "
            f"p95 {percentile(transactions, 0.95):.1f}"
        )
        print(
            f"plan_route ms: median {percentile(plans, 0.5):.1f}, "
            f"p95 {percentile(plans, 0.95):.1f} ({len(plans)} calls)"
        )
        print(f"route_to_team from {options.threads} threads, tickets/s: {summary(parallel)}")
        print(f"get_next from {options.threads} threads, {options.queued} queued, tickets/s: "
              f"{summary(pulls)}")  # fmt: skip


if __name__ == "__main__":
    main()
