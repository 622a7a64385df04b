"""The probe's subscriber and periodic job.

Subscriber ``probe.file`` (topics ``probe.*``), for an event with payload
``{"file": PATH, "sleep": SECONDS, "retry_sleep": SECONDS}``: appends ``"<event id> start"`` to
PATH, sleeps, appends ``"<event id> done"``. It sleeps ``sleep`` seconds on the first attempt
and ``retry_sleep`` (default: ``sleep``) once PATH already shows a start for this event, so a
test can make the first attempt hang (and kill it) while the retry finishes quickly.
It is not transactional: like a real call-out, its effect (the file) survives a crash.

Periodic job ``probe.heartbeat``, registered only when ``PROBE_HEARTBEAT_FILE`` is set, every
``PROBE_HEARTBEAT_SECONDS`` (default 1): appends ``"<pid> <unix time>"`` to that file.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aftersales.outbox.models import OutboxEvent

SUBSCRIBER = "probe.file"
HEARTBEAT = "probe.heartbeat"


def _append(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def write_trace(event: OutboxEvent) -> None:
    path = Path(event.payload["file"])
    retried = path.exists() and f"{event.pk} start" in path.read_text(encoding="utf-8")
    sleep = float(event.payload.get("sleep", 0))
    if retried:
        sleep = float(event.payload.get("retry_sleep", sleep))
    _append(path, f"{event.pk} start")
    time.sleep(sleep)
    _append(path, f"{event.pk} done")


def heartbeat() -> int:
    _append(Path(os.environ["PROBE_HEARTBEAT_FILE"]), f"{os.getpid()} {time.time():.3f}")
    return os.getpid()


def register() -> None:
    from aftersales.outbox import registry, scheduler

    registry.register_subscriber(SUBSCRIBER, ("probe.*",), write_trace, transactional=False)
    if os.environ.get("PROBE_HEARTBEAT_FILE"):
        every = timedelta(seconds=float(os.environ.get("PROBE_HEARTBEAT_SECONDS", "1")))
        scheduler.register_periodic(HEARTBEAT, every=every, function=heartbeat)


def unregister() -> None:
    from aftersales.outbox import registry, scheduler

    registry.unregister_subscriber(SUBSCRIBER)
    scheduler.unregister_periodic(HEARTBEAT)
