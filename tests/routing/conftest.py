"""Fixtures for routing: the ticket desk of the tickets tests, plus routed teams of agents."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aftersales.accounts.models import Team, User
from aftersales.routing import services
from aftersales.routing.models import Region, Skill, TeamRouting
from tests.api.support import fast_hashing  # noqa: F401 - a fixture
from tests.tickets.conftest import (  # noqa: F401 - fixtures shared with the tickets tests
    _fast_passwords,
    _media_in_tmp,
    desk,
    make_ticket,
    make_type,
)

MakeTeam = Callable[..., Team]


@pytest.fixture
def routed_team(
    desk: dict[str, Any], make_team: Callable[..., Team], make_user: Callable[..., User]
) -> Callable[..., tuple[Team, list[User]]]:
    """routed_team(["li-lei", "han-meimei"], strategy="round_robin", **routing) → the team in
    line A and its agents (in creation order, which is the round-robin order)."""

    def make(names: list[str], **routing: Any) -> tuple[Team, list[User]]:
        team = make_team(line=desk["line_a"])
        agents = [
            make_user(name, role="agent", scope="teams", teams=[team], display_name=name)
            for name in names
        ]
        if routing:
            services.update_team_routing(actor=desk["admin"], team=team, changes=routing)
        return team, agents

    return make


@pytest.fixture
def skill(desk: dict[str, Any]) -> Callable[[str], Skill]:
    def make(key: str) -> Skill:
        found = Skill.objects.filter(key=key).first()
        return found or services.create_skill(
            actor=desk["admin"], key=key, name_zh=key, name_en=key.title()
        )

    return make


def region(code: str) -> Region:
    return Region.objects.get(code=code)


def routing_row(team: Team) -> TeamRouting:
    return TeamRouting.objects.get(team=team)
