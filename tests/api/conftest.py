"""Fixtures for the API tests."""

from __future__ import annotations

from tests.api.support import fast_hashing

__all__ = ["fast_hashing"]
