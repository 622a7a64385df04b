"""Fixtures for rules and automations: the service desk of the ticket tests, and a helper that
runs what a change sets off after its commit (the eager rule engine) the way production does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from django.test import TestCase

from aftersales.automation import services
from aftersales.automation.models import Automation, Rule
from tests.api.support import fast_hashing  # noqa: F401
from tests.tickets.conftest import (  # noqa: F401
    _fast_passwords,
    _media_in_tmp,
    desk,
    make_ticket,
    make_type,
)

T = TypeVar("T")


@pytest.fixture
def settle() -> Callable[[Callable[[], T]], T]:
    """settle(lambda: change()) → its result, after the reactions to its commit have run
    (each reaction's own reactions too), as they would after a real commit."""

    def run(change: Callable[[], T]) -> T:
        with TestCase.captureOnCommitCallbacks(execute=True):
            return change()

    return run


@pytest.fixture
def make_rule(desk: dict[str, Any]) -> Callable[..., Rule]:
    """make_rule(name, triggers, condition, actions, **values) → a rule saved by the admin."""

    def make(
        name: str,
        triggers: list[str],
        condition: dict[str, Any] | None,
        actions: list[dict[str, Any]],
        **values: Any,
    ) -> Rule:
        return services.create_rule(
            actor=desk["admin"],
            values={
                "name": name,
                "triggers": triggers,
                "condition": condition,
                "actions": actions,
                **values,
            },
        )

    return make


@pytest.fixture
def make_automation(desk: dict[str, Any]) -> Callable[..., Automation]:
    def make(name: str, **values: Any) -> Automation:
        defaults: dict[str, Any] = {
            "clock": "created_at",
            "hours": "2",
            "status_categories": ["new"],
            "condition": None,
        }
        return services.create_automation(
            actor=desk["admin"], values={"name": name, **defaults, **values}
        )

    return make


def leaf(field: str, op: str, value: Any = None) -> dict[str, Any]:
    if value is None:
        return {"field": field, "op": op}
    return {"field": field, "op": op, "value": value}


def all_of(*leaves: dict[str, Any]) -> dict[str, Any]:
    return {"all": list(leaves)}
