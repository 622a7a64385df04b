"""Deadline computations per second for 30-day targets on a Chinese business calendar.

    .venv/bin/python bench/sla_deadlines.py [--computations 2000] [--repeats 5]

The calendar is the realistic one: Monday to Friday 09:00-12:00 and 13:30-18:00 (7.5 h a
day) in Asia/Shanghai, following the Chinese holiday set seeded from chinese-calendar (with
its make-up workdays), stored in a throwaway PostgreSQL database. Starts are random minutes of
2025-01-01 ... 2026-05-31, so every deadline stays inside the covered years.

Targets: 30 business days (30 x 7.5 h = 13,500 business minutes, about six calendar weeks)
and 30 x 24 h = 43,200 business minutes (about 4.5 calendar months on this calendar).

Scenarios, each repeated ``--repeats`` times (median, min, max of the rates):

* ``warm``  one in-memory calendar shared by all computations (a sweep or a recompute of
  many tickets on one calendar): the day table fills once, then each deadline is a walk over
  cached days.
* ``cold``  a fresh in-memory calendar per computation (nothing cached), without the database.
* ``db``    ``add_business_minutes(calendar_row, ...)``: the calendar is read from PostgreSQL
  (four queries) for each computation, as a single API call does.
"""

from __future__ import annotations

import argparse
import random
import secrets
import time
from datetime import UTC, datetime, timedelta

from _common import configure_django, summary, temp_dir, throwaway_database

TARGETS = {"30 business days": 30 * 450, "30 x 24 h": 30 * 24 * 60}
HOURS = [{"start": "09:00", "end": "12:00"}, {"start": "13:30", "end": "18:00"}]


def starts(count: int, seed: int) -> list[datetime]:
    generator = random.Random(seed)
    first = datetime(2025, 1, 1, tzinfo=UTC)
    span = int((datetime(2026, 5, 31, tzinfo=UTC) - first).total_seconds() // 60)
    return [first + timedelta(minutes=generator.randrange(span)) for _ in range(count)]


def rate(function: object, instants: list[datetime], minutes: int) -> float:
    started = time.perf_counter()
    for instant in instants:
        function(instant, minutes)  # type: ignore[operator]
    return len(instants) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--computations", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    arguments = parser.parse_args()

    with temp_dir("as-bench-sla-") as data_dir, throwaway_database("as_bench_sla") as url:
        configure_django(url, data_dir)
        from aftersales.accounts import services as accounts
        from aftersales.sla import services
        from aftersales.sla.businesstime import add_business_minutes, business_minutes_between
        from aftersales.sla.models import HolidaySet
        from aftersales.sla.selectors import load_calendar

        accounts.sync_predefined_roles()
        admin = accounts.bootstrap_admin(
            username="bench-admin", password=secrets.token_urlsafe(16), email="bench@example.com"
        )
        calendar = services.create_calendar(
            actor=admin,
            name="Shanghai service desk",
            holiday_set=HolidaySet.objects.get(key="cn"),
            hours={str(day): HOURS for day in range(5)},
        )
        warm = load_calendar(calendar)
        print(
            f"calendar: {calendar.name}, {len(warm.days)} dated days, "
            f"covered {warm.covered[0] if warm.covered else '-'}"
            f"..{warm.covered[1] if warm.covered else '-'}"
        )
        instants = starts(arguments.computations, seed=5)
        db_instants = instants[: max(1, arguments.computations // 10)]
        for label, minutes in TARGETS.items():
            # Sanity: each deadline measures back to its target.
            for instant in instants[:50]:
                deadline = add_business_minutes(warm, instant, minutes)
                assert business_minutes_between(warm, instant, deadline) == minutes
            scenarios = {
                "warm": lambda s, m: add_business_minutes(warm, s, m),
                "cold": lambda s, m: add_business_minutes(load_calendar_copy(warm), s, m),
                "db": lambda s, m: add_business_minutes(calendar, s, m),
            }
            for name, function in scenarios.items():
                sample = db_instants if name == "db" else instants
                rates = [rate(function, sample, minutes) for _ in range(arguments.repeats)]
                print(f"{label:>17} ({minutes} min) {name:>4}: {summary(rates)} deadlines/s")


def load_calendar_copy(spec: object) -> object:
    """A new in-memory calendar with the same rules and an empty day cache."""
    from aftersales.sla.businesstime import CalendarSpec

    assert isinstance(spec, CalendarSpec)
    return CalendarSpec(
        name=spec.name,
        time_zone=spec.time_zone,
        weekly=spec.weekly,
        days=spec.days,
        covered=spec.covered,
    )


if __name__ == "__main__":
    main()
