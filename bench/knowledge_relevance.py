"""Relevance of the knowledge search methods: MRR and recall@5 on the checked-in queries.

    .venv/bin/python bench/knowledge_relevance.py [--database sqlite|postgresql|both]

Loads the generated corpus (``tests/knowledge/corpus.py``, seed 8, 1,000 articles), then for
each method rebuilds the index and runs every query of ``tests/knowledge/relevance_queries.tsv``
as a reader who sees everything. Methods: ``hybrid`` (chosen: jieba words + substring bonus),
``jieba`` (words only), ``bigram`` (character bigrams), ``trigram`` (trigrams only, what an
FTS5 trigram or pg_trgm index alone gives). Target: MRR ≥ 0.8 for the chosen method.
"""

from __future__ import annotations

import argparse
import time

from _common import configure_django, temp_dir, throwaway_database

METHODS = ("hybrid", "jieba", "bigram", "trigram")


def run(label: str, show_misses: int, methods: list[str]) -> None:
    from aftersales.accounts import services as accounts
    from aftersales.knowledge import search
    from aftersales.knowledge.search.database import DatabaseBackend
    from tests.knowledge.corpus import build_corpus
    from tests.knowledge.relevance import build_index, evaluate, load_corpus, load_queries

    accounts.sync_predefined_roles()
    admin = accounts.bootstrap_admin(username="bench", password="x" * 20, email="b@example.com")
    line = accounts.create_business_line(actor=admin, code="kb", name="KB")
    ids = load_corpus(build_corpus(8, 1000), line=line, author=admin)
    queries = load_queries()
    print(f"{label}: {len(ids)} articles, {len(queries)} queries")
    for method in methods:
        search.set_backend(DatabaseBackend(method))
        started = time.perf_counter()
        build_index()
        indexed = time.perf_counter() - started
        started = time.perf_counter()
        score = evaluate(method, ids, queries)
        per_query = (time.perf_counter() - started) / len(queries) * 1000
        print(
            f"  {method:8} MRR {score.mrr:.3f}  recall@5 {score.recall_at_5:.3f}  "
            f"(index {indexed:.1f} s, {per_query:.1f} ms/query)"
        )
        for query, expected, top in score.misses[:show_misses]:
            print(f"      miss: {query!r} → {top} (expected {expected})")
    search.set_backend(None)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--misses", type=int, default=0, help="print this many misses per method")
    parser.add_argument("--methods", default=",".join(METHODS))
    args = parser.parse_args()
    with temp_dir("as-kb-relevance-") as data_dir:
        if args.database in ("sqlite", "both") and args.database != "postgresql":
            if args.database == "both":
                import subprocess
                import sys

                subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--database",
                        "sqlite",
                        "--misses",
                        str(args.misses),
                        "--methods",
                        args.methods,
                    ],
                    check=True,
                )
                subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--database",
                        "postgresql",
                        "--misses",
                        str(args.misses),
                        "--methods",
                        args.methods,
                    ],
                    check=True,
                )
                return
            configure_django(f"sqlite:///{data_dir}/kb.sqlite3", str(data_dir))
            run("SQLite", args.misses, args.methods.split(","))
            return
        with throwaway_database("as_bench_know_relevance") as url:
            configure_django(url, str(data_dir))
            run("PostgreSQL", args.misses, args.methods.split(","))


if __name__ == "__main__":
    main()
