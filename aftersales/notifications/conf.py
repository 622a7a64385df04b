"""Notification knobs: a setting, else the environment variable, else the default.

Worker subprocesses in tests receive them as environment variables.
"""

from __future__ import annotations

import os

from django.conf import settings


def _setting(name: str, default: int) -> int:
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name) or default
    return int(value)


def lease_seconds() -> int:
    """How long a worker holds a delivery it is sending (``NOTIFICATIONS_LEASE_SECONDS``); it
    must exceed the longest send (SMTP and HTTP time out after 15 s)."""
    return _setting("NOTIFICATIONS_LEASE_SECONDS", 120)


def retry_seconds() -> int:
    """How often the periodic job sends due retries (``NOTIFICATIONS_RETRY_SECONDS``)."""
    return _setting("NOTIFICATIONS_RETRY_SECONDS", 30)


def max_attempts() -> int:
    """After how many failed attempts a delivery is given up (``NOTIFICATIONS_MAX_ATTEMPTS``)."""
    return _setting("NOTIFICATIONS_MAX_ATTEMPTS", 8)


def retention_days() -> int:
    """How long notifications and their delivery logs are kept
    (``NOTIFICATIONS_RETENTION_DAYS``)."""
    return _setting("NOTIFICATIONS_RETENTION_DAYS", 180)


def allow_private_hosts() -> bool:
    """Whether SMS and robot webhooks may point at private or loopback addresses
    (``NOTIFICATIONS_ALLOW_PRIVATE_HOSTS``: tests and on-premises gateways)."""
    value = getattr(settings, "NOTIFICATIONS_ALLOW_PRIVATE_HOSTS", None)
    if value is None:
        value = os.environ.get("NOTIFICATIONS_ALLOW_PRIVATE_HOSTS", "")
    return str(value).lower() in ("1", "true", "yes", "on")
