"""Database helpers for tests that commit for real (``django_db(transaction=True)``).

On PostgreSQL the audit log refuses TRUNCATE with a statement trigger, and pytest-django empties
the database after a transactional test with TRUNCATE. :func:`audit_truncate_allowed` lifts that
one trigger for the duration of a test module and puts it back afterwards. Use it as
``pytestmark = pytest.mark.usefixtures("audit_truncate_allowed")`` after importing it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection

_TRIGGER = "audit_no_truncate"
_TABLE = "audit_auditentry"


def _set_trigger(enabled: bool) -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_trigger WHERE tgname = %s AND tgrelid = %s::regclass",
            [_TRIGGER, _TABLE],
        )
        if cursor.fetchone() is None:
            return
        action = "ENABLE" if enabled else "DISABLE"
        cursor.execute(f"ALTER TABLE {_TABLE} {action} TRIGGER {_TRIGGER}")


@pytest.fixture(scope="module")
def audit_truncate_allowed(django_db_setup: None, django_db_blocker) -> Iterator[None]:
    with django_db_blocker.unblock():
        _set_trigger(enabled=False)
    yield
    with django_db_blocker.unblock():
        _set_trigger(enabled=True)
