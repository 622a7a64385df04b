"""Benchmark-only app: a trivial task and a DB-only outbox subscriber.

Loaded with ``AFTERSALES_EXTRA_APPS=bench.benchapp`` by the scripts in ``bench/``; never in
production.
"""
