"""Fixtures of the knowledge tests: two business lines with a team each, readers of every kind,
and an article factory that goes through the services."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache

from aftersales.accounts.models import User
from aftersales.knowledge import search, services
from aftersales.knowledge.models import Article
from tests.api.support import fast_hashing  # noqa: F401  (fixture)


@pytest.fixture(autouse=True)
def _fast(fast_hashing: None) -> None:
    """Fast password hashing; no synonyms or term counts cached from another test."""
    cache.clear()
    search.set_backend(None)


@pytest.fixture
def world(
    admin_user: User,
    make_line: Callable[..., Any],
    make_team: Callable[..., Any],
    make_user: Callable[..., User],
) -> dict[str, Any]:
    """Line A with team A and team A2, line B with team B. ``agent`` reads at "my teams" in
    team A; ``outsider`` is an agent of team B; ``teammate`` an agent of team A2 (same line,
    other team); ``writer`` (second-line) writes and publishes in line A; ``contact`` is a
    customer login."""
    line_a = make_line(code="line-a", name="Line A")
    line_b = make_line(code="line-b", name="Line B")
    team_a = make_team(name="Team A", line=line_a)
    team_a2 = make_team(name="Team A2", line=line_a)
    team_b = make_team(name="Team B", line=line_b)
    return {
        "admin": admin_user,
        "line_a": line_a,
        "line_b": line_b,
        "team_a": team_a,
        "team_a2": team_a2,
        "team_b": team_b,
        "agent": make_user("agent", role="agent", scope="teams", teams=[team_a]),
        "teammate": make_user("teammate", role="agent", scope="teams", teams=[team_a2]),
        "outsider": make_user("outsider", role="agent", scope="teams", teams=[team_b]),
        "writer": make_user("writer", role="second-line", scope="business_lines", lines=[line_a]),
        "contact": make_user("contact", kind=User.Kind.CUSTOMER),
    }


@pytest.fixture
def make_article(world: dict[str, Any]) -> Callable[..., Article]:
    """make_article(title="…", body="…", visibility="public", publish=True, teams=[…])."""

    def make(
        title: str = "洗衣机显示E3不排水怎么办",
        body: str = "<p>检查排水泵和过滤网。</p>",
        *,
        visibility: str = Article.Visibility.PUBLIC,
        publish: bool = True,
        teams: list[Any] | None = None,
        tags: list[str] | None = None,
        products: list[str] | None = None,
        line: Any = None,
        en_title: str = "",
    ) -> Article:
        texts = {"zh-hans": {"title": title, "body": body}}
        if en_title:
            texts["en"] = {"title": en_title, "body": ""}
        article = services.create_article(
            actor=world["admin"],
            business_line=line or world["line_a"],
            texts=texts,
            visibility=visibility,
            teams=teams or [],
            tags=tags or [],
            products=products or [],
        )
        if publish:
            article = services.publish_article(actor=world["admin"], article=article)
        return article

    return make


# The ticket desk (line "East" with team "Repair East" and agent ``insider``, line "West" with
# ``outsider``, customers Alice and Bob) for the tests of articles on tickets.
from tests.tickets.conftest import desk, make_ticket, make_type  # noqa: E402, F401


@pytest.fixture
def media_in_tmp(settings: Any, tmp_path: Any) -> None:
    """Files stored by a test go to its own folder, never the shared data directory."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }


@pytest.fixture
def kb_article(desk: dict[str, Any]) -> Callable[..., Article]:
    """kb_article(title, visibility="public", publish=True) in the desk's line East."""

    def make(
        title: str,
        body: str = "<p>检查排水泵和过滤网。</p>",
        *,
        visibility: str = Article.Visibility.PUBLIC,
        publish: bool = True,
        products: list[str] | None = None,
        line: Any = None,
    ) -> Article:
        article = services.create_article(
            actor=desk["admin"],
            business_line=line or desk["line_a"],
            texts={"zh-hans": {"title": title, "body": body}},
            visibility=visibility,
            products=products or [],
        )
        if publish:
            article = services.publish_article(actor=desk["admin"], article=article)
        return article

    return make
