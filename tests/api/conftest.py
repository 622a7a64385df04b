"""Fixtures for the API tests."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections

from tests.api.support import fast_hashing

__all__ = ["fast_hashing"]

_TRIGGERS = importlib.import_module("aftersales.audit.migrations.0002_append_only_triggers")


class _TriggerEditor:
    """Just enough of a schema editor for the trigger functions of the audit migration."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def execute(self, sql: str) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(sql)


@pytest.fixture(scope="session", autouse=True)
def audit_log_yields_to_test_flush() -> Iterator[None]:
    """Transactional tests end with a flush, which the append-only triggers refuse.

    Only that flush lifts the triggers, and puts them back at once; every test still runs
    against them. TODO(#2): move to tests/conftest.py so e2e and outbox tests get it too.
    """
    operations = type(connections["default"].ops)
    original = operations.execute_sql_flush

    def execute_sql_flush(self: Any, sql_list: list[str]) -> None:
        editor = _TriggerEditor(self.connection)
        _TRIGGERS.drop_triggers(None, editor)
        try:
            original(self, sql_list)
        finally:
            _TRIGGERS.create_triggers(None, editor)

    operations.execute_sql_flush = execute_sql_flush
    yield
    operations.execute_sql_flush = original
