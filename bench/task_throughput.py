"""How many trivial tasks per second django-tasks-db drains on PostgreSQL, 1 and 2 workers.

    .venv/bin/python bench/task_throughput.py [--tasks 5000] [--repeats 3]

Each round enqueues N no-op tasks, starts 1 (then 2) ``aftersales worker --batch
--no-scheduler`` processes and waits for them to exit. The rate is N divided by the span from
the first task's start to the last task's finish (as recorded in the task table), so process
start-up is not counted. Rounds alternate 1 and 2 workers; figures are median, min and max.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _common import (
    configure_django,
    start,
    stop,
    summary,
    temp_dir,
    throwaway_database,
)


def enqueue(count: int) -> float:
    from django.db import transaction

    from bench.benchapp.handlers import noop

    started = time.perf_counter()
    with transaction.atomic():
        for number in range(count):
            noop.enqueue(number)
    return count / (time.perf_counter() - started)


def drain(workers: int, count: int, env: dict[str, str], logs: Path) -> float:
    from django.db.models import Max, Min
    from django_tasks_db.models import DBTaskResult

    processes = [
        start(
            ["worker", "--batch", "--no-scheduler", "--interval", "0.1", "--id", f"w{n}"],
            env,
            logs / f"worker-{workers}-{n}.log",
        )
        for n in range(workers)
    ]
    try:
        for process in processes:
            process.wait(timeout=1800)
    finally:
        for process in processes:
            stop(process)
    done = DBTaskResult.objects.filter(status="SUCCESSFUL")
    if done.count() != count:
        raise SystemExit(f"Expected {count} successful tasks, found {done.count()}.")
    span = done.aggregate(first=Min("started_at"), last=Max("finished_at"))
    seconds = (span["last"] - span["first"]).total_seconds()
    DBTaskResult.objects.all().delete()
    return count / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--database", default="aftersales_bench_tasks")
    options = parser.parse_args()
    rates: dict[int, list[float]] = {1: [], 2: []}
    enqueue_rates: list[float] = []
    with temp_dir("aftersales-bench-") as data_dir, throwaway_database(options.database) as url:
        env = configure_django(url, data_dir)
        for round_number in range(1, options.repeats + 1):
            for workers in (1, 2):
                enqueue_rates.append(enqueue(options.tasks))
                rate = drain(workers, options.tasks, env, Path(data_dir))
                rates[workers].append(rate)
                print(f"round {round_number}: {workers} worker(s) {rate:.0f} tasks/s", flush=True)
    print(f"PostgreSQL, {options.tasks} no-op tasks per run, {options.repeats} runs each")
    print(f"enqueue (one transaction): {summary(enqueue_rates)} tasks/s")
    for workers, values in rates.items():
        print(f"{workers} worker(s): {summary(values)} tasks/s")


if __name__ == "__main__":
    main()
