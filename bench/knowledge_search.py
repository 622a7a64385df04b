"""Knowledge search latency over 100,000 articles, on SQLite and on PostgreSQL.

    .venv/bin/python bench/knowledge_search.py [--articles 100000] [--runs 5]
        [--database sqlite|postgresql|both] [--methods hybrid,bigram]

Loads the generated corpus padded to ``--articles`` (``tests/knowledge/corpus.py``), indexes it
with each method, then runs every query of ``tests/knowledge/relevance_queries.tsv`` through
the full search path (parse, backend, merge, tie-breaks, snippets) as two readers: a staff
member who sees everything and a customer (public articles only, the visibility subquery at
work). Each run reports p50/p95/max; the figures quoted are the median (min, max) over
``--runs`` runs of the p50 and of the p95. Target: p95 under 50 ms.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from _common import configure_django, temp_dir, throwaway_database


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def run(label: str, articles: int, runs: int, methods: list[str]) -> None:
    from django.contrib.auth.models import AnonymousUser
    from django.db import connection

    from aftersales.accounts import services as accounts
    from aftersales.knowledge import search, selectors
    from aftersales.knowledge.search.database import DatabaseBackend
    from tests.knowledge.corpus import build_corpus
    from tests.knowledge.relevance import build_index, load_corpus, load_queries

    accounts.sync_predefined_roles()
    admin = accounts.bootstrap_admin(username="bench", password="x" * 20, email="b@example.com")
    line = accounts.create_business_line(actor=admin, code="kb", name="KB")
    started = time.perf_counter()
    load_corpus(build_corpus(8, articles), line=line, author=admin)
    print(f"{label}: {articles} articles loaded in {time.perf_counter() - started:.0f} s")
    queries = [query for query, _key in load_queries()]
    readers = {"staff": admin, "customer": AnonymousUser()}
    for method in methods:
        search.set_backend(DatabaseBackend(method))
        started = time.perf_counter()
        build_index()
        print(f"  {method}: indexed in {time.perf_counter() - started:.0f} s")
        if connection.vendor == "postgresql":
            # What autovacuum does soon after a bulk load. Without statistics on
            # knowledge_articletext the planner reads all 100,000 texts sequentially to
            # fetch the 20 found (100 ms a search); VACUUM also empties the GIN pending lists.
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")
        for name, reader in readers.items():
            p50s, p95s = [], []
            for number in range(runs):
                timings = []
                for query in queries:
                    began = time.perf_counter()
                    search.results(
                        search.parse(query), visible=selectors.articles_visible_to(reader)
                    )
                    timings.append((time.perf_counter() - began) * 1000)
                p50s.append(percentile(timings, 0.5))
                p95s.append(percentile(timings, 0.95))
                print(
                    f"    {name:8} run {number + 1}: p50 {percentile(timings, 0.5):.1f} ms  "
                    f"p95 {percentile(timings, 0.95):.1f} ms  max {max(timings):.1f} ms"
                )
            for label, values in (("p50", p50s), ("p95", p95s)):
                print(
                    f"    {name:8} {label} over {runs} runs: median {statistics.median(values):.1f}"
                    f" ms, min {min(values):.1f}, max {max(values):.1f}"
                )
    search.set_backend(None)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--methods", default="hybrid,bigram")
    args = parser.parse_args()
    methods = args.methods.split(",")
    if args.database == "both":
        for database in ("sqlite", "postgresql"):
            subprocess.run(
                [sys.executable, __file__, "--database", database, "--articles",
                 str(args.articles), "--runs", str(args.runs), "--methods", args.methods],
                check=True,
            )  # fmt: skip
        return
    with temp_dir("as-kb-search-") as data_dir:
        if args.database == "sqlite":
            configure_django(f"sqlite:///{data_dir}/kb.sqlite3", str(data_dir))
            run("SQLite", args.articles, args.runs, methods)
            return
        with throwaway_database("as_bench_know_search") as url:
            configure_django(url, str(data_dir))
            run("PostgreSQL", args.articles, args.runs, methods)


if __name__ == "__main__":
    main()
