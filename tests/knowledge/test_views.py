"""Staff pages of the knowledge base: search, editor, publish, history with diff, categories."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aftersales.knowledge import services
from aftersales.knowledge.models import Article, Category
from tests.conftest import JsonClient


def test_agent_searches_and_sees_marked_results_and_the_nav_item(
    world: dict[str, Any],
    make_article: Callable[..., Article],
    login_client: Callable[..., JsonClient],
) -> None:
    # given
    make_article("洗衣机显示E3不排水")
    # when
    response = login_client(world["agent"]).get("/knowledge/", {"q": "E3 洗衣机"})
    # then
    assert response.status_code == 200
    html = response.content.decode()
    assert "<mark>洗衣机</mark>显示<mark>E3</mark>不排水" in html
    assert 'href="/knowledge/"' in html


def test_writer_drafts_publishes_and_reads_the_diff(
    world: dict[str, Any], login_client: Callable[..., JsonClient]
) -> None:
    # given
    client = login_client(world["writer"])
    # when
    created = client.post(
        "/knowledge/new/",
        {
            "business_line": world["line_a"].pk,
            "title_zh": "空调不制冷",
            "body_zh": "检查滤网。",
            "title_en": "",
            "body_en": "",
            "tags": "空调，制冷",
            "products": "KFR-35GW, E4",
            "visibility": "public",
        },
    )
    article = Article.objects.get()
    client.post(
        f"/knowledge/{article.pk}/edit/",
        {
            "title_zh": "空调不制冷",
            "body_zh": "检查滤网和冷媒。",
            "tags": "空调，制冷",
            "products": "KFR-35GW, E4",
            "visibility": "public",
            "note": "补充冷媒",
        },
    )
    client.post(f"/knowledge/{article.pk}/publish/")
    page = client.get(f"/knowledge/{article.pk}/", {"diff": 2})
    # then
    assert created.status_code == 302
    article.refresh_from_db()
    assert (article.status, article.tags, article.products) == (
        "published",
        ["空调", "制冷"],
        ["KFR-35GW", "E4"],
    )
    html = page.content.decode()
    assert "- 检查滤网。" in html
    assert "+ 检查滤网和冷媒。" in html


def test_agent_cannot_open_the_editor_and_customer_gets_no_page(
    world: dict[str, Any],
    make_article: Callable[..., Article],
    login_client: Callable[..., JsonClient],
) -> None:
    # given
    article = make_article("内部文章", visibility="internal")
    # when
    agent = login_client(world["agent"]).get(f"/knowledge/{article.pk}/edit/")
    contact = login_client(world["contact"]).get(f"/knowledge/{article.pk}/")
    # then
    assert agent.status_code == 403
    assert contact.status_code == 404


def test_writer_adds_a_category_and_a_section(
    world: dict[str, Any], login_client: Callable[..., JsonClient]
) -> None:
    # given
    client = login_client(world["writer"])
    # when
    client.post(
        "/knowledge/categories/",
        {"add_category": "1", "business_line": world["line_a"].pk, "name_zh": "洗衣机",
         "name_en": "Washers"},
    )  # fmt: skip
    category = Category.objects.get()
    client.post(
        "/knowledge/categories/",
        {"add_section": "1", "category": category.pk, "name_zh": "故障代码",
         "name_en": "Fault codes"},
    )  # fmt: skip
    # then
    assert [s.name_zh for s in category.sections.all()] == ["故障代码"]


def test_a_save_over_someone_elses_edit_is_caught_and_can_be_repeated(
    world: dict[str, Any],
    make_article: Callable[..., Article],
    login_client: Callable[..., JsonClient],
) -> None:
    # given: the writer opened the editor, then the admin saved
    article = make_article("空调不制冷", "<p>检查滤网。</p>")
    opened_at = article.version
    services.update_article(
        actor=world["admin"], article=article, texts={"zh-hans": {"title": "空调不制冷（新）"}}
    )
    client = login_client(world["writer"])
    form = {
        "title_zh": "空调不制冷",
        "body_zh": "检查滤网和冷媒。",
        "visibility": "public",
        "expected_version": opened_at,
    }
    # when
    refused = client.post(f"/knowledge/{article.pk}/edit/", form, HTTP_ACCEPT_LANGUAGE="en")
    article.refresh_from_db()
    kept = article.texts.get().title
    html = refused.content.decode()
    repeated = client.post(
        f"/knowledge/{article.pk}/edit/", {**form, "expected_version": article.version}
    )
    # then
    assert refused.status_code == 200
    assert "Someone else saved this article while you were editing it." in html
    assert f'name="expected_version" value="{article.version}"' in html
    assert "检查滤网和冷媒。" in html
    assert kept == "空调不制冷（新）"
    assert repeated.status_code == 302
    assert article.texts.get().title == "空调不制冷"
