"""Knowledge settings pages: the synonyms the administrator maintains and the searches that
found nothing (issue #8)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aftersales.accounts.models import User
from aftersales.knowledge import services
from aftersales.knowledge.models import Article, SearchLog, Synonym
from aftersales.outbox.models import OutboxEvent
from tests.conftest import JsonClient

SYNONYMS = "/knowledge/settings/synonyms/"
SEARCHES = "/knowledge/settings/searches/"


@pytest.fixture
def client_for() -> Callable[..., JsonClient]:
    def make(user: User) -> JsonClient:
        client = JsonClient(HTTP_ACCEPT_LANGUAGE="en")
        client.force_login(user)
        return client

    return make


def test_the_admin_adds_a_group_of_synonyms_and_search_uses_it(
    world: dict[str, Any],
    make_article: Callable[..., Article],
    client_for: Callable[..., JsonClient],
) -> None:
    # given
    article = make_article("电视无法启动的处理", "<p>检查电源。</p>")
    client = client_for(world["admin"])
    # when
    response = client.post(SYNONYMS, {"terms": "不开机 \uff1d 无法启动 = 开不了机"})
    page = client.get(SYNONYMS).content.decode()
    found = services.search_articles(viewer=world["agent"], query="电视不开机")
    # then
    assert response.status_code == 302
    assert list(Synonym.objects.values_list("terms", flat=True)) == [
        ["不开机", "无法启动", "开不了机"]
    ]
    assert "不开机 = 无法启动 = 开不了机" in page
    assert [result.article for result in found] == [article]


def test_one_word_is_refused_next_to_the_field(
    world: dict[str, Any], client_for: Callable[..., JsonClient]
) -> None:
    # when
    response = client_for(world["admin"]).post(SYNONYMS, {"terms": "不开机"})
    # then
    assert response.status_code == 422
    html = response.content.decode()
    assert "Enter at least two words." in html
    assert 'aria-invalid="true"' in html or "field-errors" in html
    assert Synonym.objects.count() == 0


def test_the_admin_deletes_a_group(
    world: dict[str, Any], client_for: Callable[..., JsonClient]
) -> None:
    # given
    synonym = services.create_synonym(actor=world["admin"], terms=["不开机", "无法启动"])
    # when
    response = client_for(world["admin"]).post(f"{SYNONYMS}{synonym.pk}/delete/")
    # then
    assert response.status_code == 302
    assert Synonym.objects.count() == 0
    assert OutboxEvent.objects.filter(topic="knowledge_synonym.deleted").count() == 1


@pytest.mark.parametrize(
    ("_case", "who", "page", "write"),
    [
        ("anonymous", None, 302, 302),
        ("customer", "contact", 403, 403),
        ("agent who may only look", "agent", 200, 403),
        ("administrator", "admin", 200, 302),
    ],
)
def test_who_may_see_and_change_synonyms(
    _case: str,
    who: str | None,
    page: int,
    write: int,
    world: dict[str, Any],
    client_for: Callable[..., JsonClient],
) -> None:
    # given
    synonym = services.create_synonym(actor=world["admin"], terms=["不开机", "无法启动"])
    client = client_for(world[who]) if who else JsonClient()
    # when
    shown = client.get(SYNONYMS)
    added = client.post(SYNONYMS, {"terms": "漏水 = 渗水"})
    # then
    assert shown.status_code == page
    assert added.status_code == write
    assert Synonym.objects.count() == (2 if write == 302 and who else 1)
    if page != 200:
        assert "无法启动" not in shown.content.decode()
    if who != "admin":
        deleted = client.post(f"{SYNONYMS}{synonym.pk}/delete/")
        assert deleted.status_code in (302, 403)
        assert Synonym.objects.filter(pk=synonym.pk).exists()
        assert OutboxEvent.objects.filter(topic="knowledge_synonym.deleted").count() == 0


def test_the_manager_sees_the_searches_without_result_most_asked_first(
    world: dict[str, Any], client_for: Callable[..., JsonClient]
) -> None:
    # given
    for _ in range(2):
        services.search_articles(viewer=world["contact"], query="冰箱结霜")
    services.search_articles(viewer=world["agent"], query="冰箱结霜")
    services.search_articles(viewer=world["agent"], query="烤箱不加热")
    # when
    html = client_for(world["admin"]).get(SEARCHES).content.decode()
    # then
    assert SearchLog.objects.count() == 4
    assert html.index("冰箱结霜") < html.index("烤箱不加热")
    assert "<td>冰箱结霜</td><td>3</td><td>2</td>" in html
    assert "<td>烤箱不加热</td><td>1</td><td>0</td>" in html


@pytest.mark.parametrize(
    ("_case", "who", "expected"), [("anonymous", None, 302), ("customer", "contact", 403)]
)
def test_outsiders_do_not_see_the_searches(
    _case: str,
    who: str | None,
    expected: int,
    world: dict[str, Any],
    client_for: Callable[..., JsonClient],
) -> None:
    # given
    services.search_articles(viewer=world["agent"], query="冰箱结霜")
    client = client_for(world[who]) if who else JsonClient()
    # when
    response = client.get(SEARCHES)
    # then
    assert response.status_code == expected
    assert "冰箱结霜" not in response.content.decode()
