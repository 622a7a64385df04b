"""The knowledge API: who reaches which article, the write endpoints, problem+json."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aftersales.audit.models import AuditEntry
from aftersales.knowledge.models import Article, ArticleRevision, ArticleVote, SearchLog
from aftersales.outbox.models import OutboxEvent
from tests.conftest import JsonClient

URL = "/api/v1/knowledge/articles"


def _client(world: dict[str, Any], who: str, login_client: Callable[..., JsonClient]) -> Any:
    return JsonClient() if who == "anonymous" else login_client(world[who])


@pytest.mark.parametrize(
    ("who", "public", "internal", "restricted_a", "draft"),
    [
        pytest.param("anonymous", 401, 401, 401, 401, id="_case anonymous"),
        pytest.param("contact", 200, 404, 404, 404, id="_case customer contact"),
        pytest.param("outsider", 200, 404, 404, 404, id="_case agent of another line"),
        pytest.param("teammate", 200, 200, 404, 404, id="_case agent of the line, other team"),
        pytest.param("agent", 200, 200, 200, 404, id="_case agent of the restricted team"),
        pytest.param("writer", 200, 200, 404, 200, id="_case second-line writer of the line"),
        pytest.param("admin", 200, 200, 200, 200, id="_case admin"),
    ],
)
def test_article_detail_answers_each_kind_of_reader_as_the_matrix_says(
    world: dict[str, Any],
    make_article: Callable[..., Article],
    login_client: Callable[..., JsonClient],
    who: str,
    public: int,
    internal: int,
    restricted_a: int,
    draft: int,
) -> None:
    """Customers see published public articles only; restricted ones only their teams; drafts
    only those who may change articles. Anything else is a 404, like a guessed id."""
    # given
    articles = {
        "public": make_article("公开文章"),
        "internal": make_article("内部文章", visibility="internal"),
        "restricted_a": make_article("限定文章", visibility="restricted", teams=[world["team_a"]]),
        "draft": make_article("草稿文章", visibility="internal", publish=False),
    }
    client = _client(world, who, login_client)
    expected = {"public": public, "internal": internal, "restricted_a": restricted_a,
                "draft": draft}  # fmt: skip
    # when
    answers = {
        name: client.get(f"{URL}/{article.pk}").status_code for name, article in articles.items()
    }
    # then
    assert answers == expected


def test_customer_list_and_search_hold_only_public_articles(
    world: dict[str, Any],
    make_article: Callable[..., Article],
    login_client: Callable[..., JsonClient],
) -> None:
    # given
    public = make_article("洗衣机不排水 E3", visibility="public")
    make_article("洗衣机不排水 内部维修手册", visibility="internal")
    make_article("洗衣机不排水 限定", visibility="restricted", teams=[world["team_a"]])
    client = login_client(world["contact"])
    # when
    listed = client.get(URL).json()
    found = client.get("/api/v1/knowledge/search", {"q": "洗衣机 不排水"}).json()
    suggested = client.post_json("/api/v1/knowledge/suggest", {"subject": "洗衣机不排水"}).json()
    # then
    assert [a["id"] for a in listed["items"]] == [public.pk]
    assert [h["article_id"] for h in found["items"]] == [public.pk]
    assert [h["article_id"] for h in suggested["items"]] == [public.pk]


def test_search_marks_the_words_and_logs_nothing_when_found(
    world: dict[str, Any],
    make_article: Callable[..., Article],
    login_client: Callable[..., JsonClient],
) -> None:
    # given
    article = make_article("滚筒洗衣机显示E3", body="<p>E3 表示排水故障，洗衣机不排水。</p>")
    # when
    response = login_client(world["agent"]).get(
        "/api/v1/knowledge/search", {"q": "E3 错误 洗衣机 不排水"}
    )
    # then
    assert response.status_code == 200
    item = response.json()["items"][0]
    assert item["article_id"] == article.pk
    assert item["title_html"] == "滚筒<mark>洗衣机</mark>显示<mark>E3</mark>"
    assert item["snippet"] == (
        "<mark>E3</mark> 表示<mark>排水</mark>故障，<mark>洗衣机</mark><mark>不排水</mark>。"
    )
    assert SearchLog.objects.count() == 0


def test_search_without_result_is_logged(
    world: dict[str, Any], login_client: Callable[..., JsonClient]
) -> None:
    # when
    response = login_client(world["contact"]).get("/api/v1/knowledge/search", {"q": "冰箱结冰"})
    # then
    assert response.json() == {"query": "冰箱结冰", "items": []}
    assert list(SearchLog.objects.values_list("query", "user_id", "is_customer")) == [
        ("冰箱结冰", world["contact"].pk, True)
    ]


def test_writer_creates_edits_publishes_and_restores_an_article(
    world: dict[str, Any], login_client: Callable[..., JsonClient]
) -> None:
    """The whole editorial round trip, each step a revision, audited and announced."""
    client = login_client(world["writer"])
    # when
    created = client.post_json(
        URL,
        {
            "business_line_id": world["line_a"].pk,
            "texts": {
                "zh-hans": {"title": "热水器点不着火", "body": "检查燃气阀。"},
                "en": {"title": "Water heater will not ignite", "body": "Check the gas valve."},
            },
            "tags": ["热水器", "点火"],
            "products": ["JSQ25-13"],
            "visibility": "public",
        },
    )
    article_id = created.json()["id"]
    edited = client.patch_json(
        f"{URL}/{article_id}",
        {"texts": {"zh-hans": {"title": "热水器打不着火", "body": "先检查燃气阀和电池。"}}},
        HTTP_IF_MATCH='W/"1"',
    )
    published = client.post(f"{URL}/{article_id}/publish")
    diff = client.get(f"{URL}/{article_id}/versions/2/diff")
    restored = client.post(f"{URL}/{article_id}/versions/1/restore")
    # then
    assert created.status_code == 201
    assert created.json()["texts"]["zh-hans"]["body"] == "<p>检查燃气阀。</p>"
    assert created.json()["status"] == "draft"
    assert edited.status_code == 200
    assert edited.json()["version"] == 2
    assert published.json()["status"] == "published"
    assert published.json()["reviewer_id"] == world["writer"].pk
    assert diff.json()["changes"] == [
        {"field": "zh-hans.body", "lines": ["- 检查燃气阀。", "+ 先检查燃气阀和电池。"]},
        {"field": "zh-hans.title", "lines": ["- 热水器点不着火", "+ 热水器打不着火"]},
    ]
    assert restored.json()["texts"]["zh-hans"]["title"] == "热水器点不着火"
    assert restored.json()["status"] == "published"
    assert list(
        ArticleRevision.objects.filter(article_id=article_id).values_list("number", flat=True)
    ) == [3, 2, 1]
    assert list(
        OutboxEvent.objects.filter(object_type="knowledge.article", object_id=str(article_id))
        .order_by("created_at")
        .values_list("topic", flat=True)
    ) == [
        "article.created",
        "article.updated",
        "article.published",
        "article.updated",
        "article.restored",
    ]


def test_stale_if_match_is_refused_and_changes_nothing(
    world: dict[str, Any],
    make_article: Callable[..., Article],
    login_client: Callable[..., JsonClient],
) -> None:
    # given
    article = make_article("旧标题")
    events = OutboxEvent.objects.count()
    # when
    response = login_client(world["writer"]).patch_json(
        f"{URL}/{article.pk}", {"tags": ["x"]}, HTTP_IF_MATCH='W/"7"'
    )
    # then
    assert response.status_code == 409
    assert response.json()["code"] == "version_mismatch"
    article.refresh_from_db()
    assert article.tags == []
    assert OutboxEvent.objects.count() == events


@pytest.mark.parametrize(
    ("who", "status"),
    [
        pytest.param("contact", 403, id="_case customer contact"),
        pytest.param("agent", 403, id="_case agent reads only"),
        pytest.param("outsider", 403, id="_case agent of another line"),
    ],
)
def test_readers_cannot_create_articles_and_nothing_is_written(
    world: dict[str, Any], login_client: Callable[..., JsonClient], who: str, status: int
) -> None:
    # when
    response = login_client(world[who]).post_json(
        URL,
        {"business_line_id": world["line_a"].pk, "texts": {"zh-hans": {"title": "x"}}},
    )
    # then
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/problem+json"
    assert Article.objects.count() == 0
    assert OutboxEvent.objects.filter(topic="article.created").count() == 0


def test_writer_of_line_a_cannot_write_into_line_b(
    world: dict[str, Any], login_client: Callable[..., JsonClient]
) -> None:
    # when
    response = login_client(world["writer"]).post_json(
        URL,
        {"business_line_id": world["line_b"].pk, "texts": {"zh-hans": {"title": "x"}}},
    )
    # then
    assert response.status_code == 403
    assert response.json()["errors"][0]["field"] == "business_line"
    assert Article.objects.count() == 0


def test_agent_cannot_publish_and_nothing_changes(
    world: dict[str, Any],
    make_article: Callable[..., Article],
    login_client: Callable[..., JsonClient],
) -> None:
    # given
    article = make_article("内部草稿", visibility="internal")
    # when
    response = login_client(world["agent"]).post(f"{URL}/{article.pk}/unpublish")
    # then
    assert response.status_code == 403
    article.refresh_from_db()
    assert article.status == "published"
    assert OutboxEvent.objects.filter(topic="article.unpublished").count() == 0


def test_missing_title_is_a_field_error(
    world: dict[str, Any], login_client: Callable[..., JsonClient]
) -> None:
    # when
    response = login_client(world["writer"]).post_json(
        URL,
        {
            "business_line_id": world["line_a"].pk,
            "texts": {"zh-hans": {"title": "ok"}, "fr": {"title": "non"}},
        },
    )
    # then
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "texts.fr", "code": "invalid_language", "detail": "请选择 zh-hans 或 en。"}
    ]
    assert Article.objects.count() == 0


def test_restricted_article_needs_teams(
    world: dict[str, Any], login_client: Callable[..., JsonClient]
) -> None:
    # when
    response = login_client(world["writer"]).post_json(
        URL,
        {
            "business_line_id": world["line_a"].pk,
            "texts": {"zh-hans": {"title": "限定"}},
            "visibility": "restricted",
        },
    )
    # then
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "team_ids"
    assert AuditEntry.objects.filter(object_type="knowledge.article").count() == 0


def test_customer_vote_counts_once_and_can_change(
    world: dict[str, Any],
    make_article: Callable[..., Article],
    login_client: Callable[..., JsonClient],
) -> None:
    # given
    article = make_article("公开文章")
    client = login_client(world["contact"])
    # when
    first = client.post_json(f"{URL}/{article.pk}/votes", {"is_helpful": True})
    second = client.post_json(f"{URL}/{article.pk}/votes", {"is_helpful": False, "comment": "没用"})
    # then
    assert first.json()["helpful_count"] == 1
    assert second.json() == {
        "article_id": article.pk,
        "is_helpful": False,
        "helpful_count": 0,
        "not_helpful_count": 1,
    }
    assert list(ArticleVote.objects.values_list("is_helpful", "comment")) == [(False, "没用")]


def test_customer_cannot_vote_on_an_internal_article(
    world: dict[str, Any],
    make_article: Callable[..., Article],
    login_client: Callable[..., JsonClient],
) -> None:
    # given
    article = make_article("内部", visibility="internal")
    # when
    response = login_client(world["contact"]).post_json(
        f"{URL}/{article.pk}/votes", {"is_helpful": True}
    )
    # then
    assert response.status_code == 404
    assert ArticleVote.objects.count() == 0
    article.refresh_from_db()
    assert article.helpful_count == 0


def test_reading_an_article_counts_a_view(
    world: dict[str, Any],
    make_article: Callable[..., Article],
    login_client: Callable[..., JsonClient],
) -> None:
    # given
    article = make_article("公开")
    client = login_client(world["contact"])
    # when
    client.get(f"{URL}/{article.pk}")
    client.get(f"{URL}/{article.pk}")
    # then
    article.refresh_from_db()
    assert article.view_count == 2


def test_article_list_query_count_does_not_grow_with_rows(
    world: dict[str, Any],
    make_article: Callable[..., Article],
    login_client: Callable[..., JsonClient],
    django_assert_num_queries: Any,
) -> None:
    # given
    client = login_client(world["agent"])
    for number in range(3):
        make_article(f"文章{number}")
    client.get(URL)
    # when / then
    with django_assert_num_queries(7):
        assert len(client.get(URL).json()["items"]) == 3
    for number in range(6):
        make_article(f"更多{number}")
    with django_assert_num_queries(7):
        assert len(client.get(URL).json()["items"]) == 9
