"""Outbox knobs, from settings (which read them from the environment).

Falls back to the environment variable, then the default, for settings modules that do not
define them (tests and benchmarks pass them as environment variables to worker subprocesses).
"""

from __future__ import annotations

import os

from django.conf import settings


def _int_setting(name: str, default: int) -> int:
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name) or default
    return int(value)


def sweep_seconds() -> int:
    """How often the sweep re-enqueues due and abandoned deliveries (``OUTBOX_SWEEP_SECONDS``)."""
    return _int_setting("OUTBOX_SWEEP_SECONDS", 30)


def stale_task_seconds() -> int:
    """After how long a RUNNING task is taken for one whose worker died
    (``OUTBOX_STALE_TASK_SECONDS``); it must exceed the longest task that really runs."""
    return _int_setting("OUTBOX_STALE_TASK_SECONDS", 3600)
