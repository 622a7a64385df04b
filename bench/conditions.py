"""Condition evaluation: one 5-leaf condition per second, and 200 rules on one ticket event.

    .venv/bin/python bench/conditions.py [--evaluations 20000] [--repeats 5]

A throwaway PostgreSQL database holds one business line with a Chinese business calendar,
a repair type with custom fields (choice, cascade, decimal, multi-choice, text), a VIP
customer and one ticket with tags. Conditions are compiled once, as rules are when saved.

Figures, each the median of ``--repeats`` runs (min and max shown too):

* ``5-leaf evaluations/s``: one condition of five leaves (tier, any of fault or Chinese
  words, cascade, decimal range) on one activation.
* ``200 rules, activation reused``: 200 different compiled conditions (1-8 leaves, every
  operator family) on one activation converted once into CEL values - what the rule engine
  does per event.
* ``200 rules, dict per eval``: the same, handing the Python dict to every ``eval`` (CEL
  converts it each time) - the cost the reused activation avoids.
* ``build activation``: ``ticket_activation`` (one query for the tags; calendar cached).
"""

from __future__ import annotations

import argparse
import random
import secrets
import statistics
import time
from collections.abc import Callable
from typing import Any

from _common import configure_django, summary, temp_dir, throwaway_database

HOURS = [{"start": "09:00", "end": "12:00"}, {"start": "13:30", "end": "18:00"}]
FIVE_LEAVES = {
    "all": [
        {"field": "customer.tier", "op": "is", "value": "vip"},
        {
            "any": [
                {"field": "ticket.cf.fault", "op": "is", "value": "payment_failed"},
                {"field": "ticket.subject", "op": "contains_any_words", "value": ["支付", "付款"]},
            ]
        },
        {"field": "ticket.cf.product", "op": "is", "value": "washer"},
        {"field": "ticket.cf.amount", "op": "between", "value": [10, 500]},
    ]
}


def _setup() -> tuple[Any, Any]:
    from aftersales.accounts import services as accounts
    from aftersales.conditions.catalog import ticket_catalog
    from aftersales.customers import services as customers
    from aftersales.customers.models import CustomerTier
    from aftersales.customfields import services as customfields
    from aftersales.sla import services as sla
    from aftersales.sla.models import HolidaySet
    from aftersales.tickets import services as tickets
    from aftersales.tickets.models import Ticket, form_key_of

    accounts.sync_predefined_roles()
    admin = accounts.bootstrap_admin(
        username="bench-admin", password=secrets.token_urlsafe(16), email="bench@example.com"
    )
    line = accounts.create_business_line(actor=admin, code="east", name="East")
    team = accounts.create_team(actor=admin, name="Repair", business_line=line, members=[])
    sla.create_calendar(
        actor=admin,
        name="East office",
        business_line=line,
        holiday_set=HolidaySet.objects.filter(key="cn").first(),
        hours={str(day): HOURS for day in range(5)},
    )
    repair = tickets.create_ticket_type(
        actor=admin, business_line=line, key="repair", name_zh="维修", name_en="Repair"
    )
    form = form_key_of(repair.pk)

    def options(*keys: str) -> list[dict[str, str]]:
        return [{"key": key, "label_zh": key, "label_en": key} for key in keys]

    for key, field_type, config in (
        ("fault", "single_choice", {"options": options("payment_failed", "no_power", "other")}),
        ("parts", "multi_choice", {"options": options("pump", "belt", "board")}),
        ("amount", "decimal", {}),
        ("remark", "text", {}),
        (
            "product",
            "cascade",
            {
                "options": [
                    {"key": "washer", "label_zh": "洗衣机", "label_en": "Washer",
                     "children": options("e3", "noise")},
                    {"key": "aircon", "label_zh": "空调", "label_en": "Aircon",
                     "children": options("cold")},
                ]
            },
        ),
    ):  # fmt: skip
        customfields.create_definition(
            actor=admin,
            target="tickets.ticket",
            subtarget=form,
            key=key,
            field_type=field_type,
            label_zh=key,
            label_en=key,
            config=config,
        )
    carol = customers.create_customer(
        actor=admin,
        name="Carol",
        business_line=line,
        tier=CustomerTier.objects.get(key="vip"),
        tags=["key-account"],
    )
    ticket = tickets.create_ticket(
        actor=admin,
        ticket_type=repair,
        requester=carol,
        team=team,
        subject="扫码支付失败，洗衣机无法启动",
        description="客户说付款后没有反应。Payment failed twice.",
        priority=Ticket.Priority.HIGH,
        tags=["vip", "refund", "wechat"],
        custom_fields={
            "fault": "payment_failed",
            "parts": ["pump"],
            "amount": "128.50",
            "remark": "Call after 6pm",
            "product": ["washer", "e3"],
        },
    )
    loaded = Ticket.objects.select_related("requester__tier").get(pk=ticket.pk)
    return loaded, ticket_catalog(business_line_ids=[line.pk])


def _random_leaf(generator: random.Random, index: int) -> dict[str, Any]:
    choices: list[Callable[[], dict[str, Any]]] = [
        lambda: {"field": "ticket.priority", "op": "in", "value": generator.sample(
            ["low", "normal", "high", "urgent"], generator.randint(1, 3))},
        lambda: {"field": "customer.tier", "op": "is",
                 "value": generator.choice(["vip", "normal"])},
        lambda: {"field": "ticket.cf.fault", "op": "is_not", "value": "other"},
        lambda: {"field": "ticket.subject", "op": "contains_any_words",
                 "value": [f"词{index}", generator.choice(["支付", "退款", "安装", "噪音"])]},
        lambda: {"field": "ticket.text", "op": "contains_no_words", "value": [f"spam{index}"]},
        lambda: {"field": "ticket.cf.product", "op": "in",
                 "value": generator.sample(["washer", "washer/e3", "aircon", "aircon/cold"], 2)},
        lambda: {"field": "ticket.cf.amount", "op": "between",
                 "value": [generator.randint(0, 100), generator.randint(100, 1000)]},
        lambda: {"field": "ticket.tags", "op": "has_any",
                 "value": [f"tag{index}", generator.choice(["vip", "refund", "x"])]},
        lambda: {"field": "ticket.cf.parts", "op": "has_none", "value": ["board"]},
        lambda: {"field": "ticket.created_at", "op": "older_than_hours",
                 "value": generator.randint(1, 72)},
        lambda: {"field": "now.in_business_hours", "op": generator.choice(["is_true", "is_false"]),
                 "value": None},
        lambda: {"field": "now.hour", "op": "hour_between",
                 "value": [9, generator.randint(10, 23)]},
        lambda: {"field": "ticket.priority", "op": "changed_to", "value": "high"},
        lambda: {"field": "ticket.assignee", "op": "is_empty", "value": None},
    ]  # fmt: skip
    return generator.choice(choices)()


def _conditions(count: int) -> list[dict[str, Any]]:
    generator = random.Random(4)
    trees = []
    for index in range(count):
        leaves = [_random_leaf(generator, index) for _ in range(generator.randint(1, 8))]
        if len(leaves) > 2 and generator.random() < 0.5:
            leaves = [*leaves[:-2], {"any": leaves[-2:]}]
        trees.append({"all": leaves})
    return trees


def _median_of(repeats: int, measure: Callable[[], float]) -> list[float]:
    return [measure() for _ in range(repeats)]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=5)
    arguments = parser.parse_args()

    with temp_dir("as-bench-cond-") as data_dir, throwaway_database("as_bench_cond") as url:
        configure_django(url, data_dir)
        from aftersales.conditions.activation import EventFacts, ticket_activation
        from aftersales.conditions.compiler import compile_condition, evaluate

        ticket, catalog = _setup()
        event = EventFacts(type="updated", changes={"ticket.priority": (2, 3)}, actor_kind="agent")
        activation = ticket_activation(ticket, event=event)
        five = compile_condition(FIVE_LEAVES, catalog).program
        print(f"5-leaf condition holds: {evaluate(five, activation)}")

        def five_rate() -> float:
            started = time.perf_counter()
            for _ in range(arguments.evaluations):
                evaluate(five, activation)
            return arguments.evaluations / (time.perf_counter() - started)

        programs = [compile_condition(tree, catalog).program for tree in _conditions(200)]
        matching = sum(evaluate(program, activation) for program in programs)
        print(f"200 conditions compiled, {matching} hold on the ticket")

        def rules_reused() -> float:
            started = time.perf_counter()
            for program in programs:
                evaluate(program, activation)
            return (time.perf_counter() - started) * 1000

        def rules_dict() -> float:
            data = dict(activation.data)
            started = time.perf_counter()
            for program in programs:
                evaluate(program, data)
            return (time.perf_counter() - started) * 1000

        def build() -> float:
            started = time.perf_counter()
            ticket_activation(ticket, event=event)
            return (time.perf_counter() - started) * 1000

        def event_total() -> float:
            started = time.perf_counter()
            fresh = ticket_activation(ticket, event=event)
            for program in programs:
                evaluate(program, fresh)
            return (time.perf_counter() - started) * 1000

        for _ in range(3):  # warm up caches and the allocator
            rules_reused(), rules_dict(), build()
        figures = {
            "5-leaf evaluations/s": (_median_of(arguments.repeats, five_rate), 0),
            "200 rules, activation reused (ms)": (_median_of(arguments.repeats, rules_reused), 3),
            "200 rules, dict per eval (ms)": (_median_of(arguments.repeats, rules_dict), 3),
            "build activation (ms)": (
                [statistics.median(build() for _ in range(50)) for _ in range(arguments.repeats)],
                3,
            ),
            "event: build + 200 rules (ms)": (_median_of(arguments.repeats, event_total), 3),
        }
        for label, (values, digits) in figures.items():
            print(f"{label}: {summary(values, digits)}")


if __name__ == "__main__":
    main()
