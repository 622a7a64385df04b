"""Search behaviour on a handful of articles: Chinese without spaces, mixed codes, synonyms,
substrings across word boundaries, pinyin initials, snippets, visibility, the index in step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aftersales.knowledge import search, selectors, services
from aftersales.knowledge.models import Article, SearchEntry
from aftersales.knowledge.search import database, text


def _titles(viewer: Any, query: str) -> list[str]:
    return [r.text.title for r in services.search_articles(viewer=viewer, query=query)]


def test_words_keep_model_numbers_whole_and_in_parts() -> None:
    assert text.words("XQB80-2 洗衣机 E3") == ["xqb802", "xqb80", "2", "洗衣", "洗衣机", "e3"]


def test_words_drop_single_characters_and_function_words() -> None:
    assert text.words("洗衣机的排水泵怎么办") == ["洗衣", "洗衣机", "排水", "水泵", "排水泵"]


def test_initials_of_a_title() -> None:
    assert text.initials("洗衣机不排水") == "xyj bps"


@pytest.fixture
def shelf(make_article: Callable[..., Article]) -> dict[str, Article]:
    return {
        "e3": make_article(
            "滚筒洗衣机显示E3：排水故障",
            body="<p>洗衣机不排水时，检查排水泵与过滤网。</p>",
            tags=["洗衣机", "故障代码"],
            products=["XQG100-14B", "E3"],
        ),
        "power": make_article("空调无法启动的排查", body="<p>检查电源与遥控器电池。</p>"),
        "printer": make_article("打印机卡纸处理", body="<p>打开后盖取出纸张。</p>"),
        "fridge": make_article(
            "冰箱不制冷", body="<p>检查温控器。</p>", en_title="Refrigerator not cooling"
        ),
    }


def test_mixed_query_finds_the_fault_article_first(
    world: dict[str, Any], shelf: dict[str, Article]
) -> None:
    assert _titles(world["agent"], "E3 错误 洗衣机 不排水")[0] == "滚筒洗衣机显示E3：排水故障"


def test_two_character_word_is_found(world: dict[str, Any], shelf: dict[str, Article]) -> None:
    """卡纸 has two characters: a trigram index alone cannot match it."""
    assert _titles(world["agent"], "卡纸") == ["打印机卡纸处理"]


def test_substring_across_word_boundaries_is_found(
    world: dict[str, Any], shelf: dict[str, Article]
) -> None:
    """印机卡 cuts through 打印机|卡纸: jieba alone finds nothing, the trigram pass does."""
    assert _titles(world["agent"], "印机卡") == ["打印机卡纸处理"]


def test_model_number_fragment_is_found(world: dict[str, Any], shelf: dict[str, Article]) -> None:
    assert _titles(world["agent"], "XQG100-14B") == ["滚筒洗衣机显示E3：排水故障"]


def test_synonym_maintained_by_the_admin_is_used(
    world: dict[str, Any], shelf: dict[str, Article]
) -> None:
    # given
    assert _titles(world["agent"], "空调不开机") == ["空调无法启动的排查"]
    # when
    services.create_synonym(actor=world["admin"], terms=["不开机", "无法启动"])
    search.forget_synonyms()
    # then
    titles = _titles(world["agent"], "不开机")
    assert titles == ["空调无法启动的排查"]


def test_pinyin_initials_find_the_title(world: dict[str, Any], shelf: dict[str, Article]) -> None:
    assert _titles(world["agent"], "dyj") == ["打印机卡纸处理"]


def test_english_text_is_found_in_english(world: dict[str, Any], shelf: dict[str, Article]) -> None:
    found = services.search_articles(viewer=world["agent"], query="refrigerator cooling")
    assert [(r.article.pk, r.text.language) for r in found] == [(shelf["fridge"].pk, "en")]


def test_title_outranks_body(world: dict[str, Any], make_article: Callable[..., Article]) -> None:
    # given
    in_body = make_article("热水器使用说明", body="<p>如遇漏水请关闭阀门。</p>")
    in_title = make_article("热水器漏水", body="<p>检查接口。</p>")
    # when
    found = services.search_articles(viewer=world["agent"], query="漏水")
    # then
    assert [r.article.pk for r in found] == [in_title.pk, in_body.pk]


def test_usefulness_breaks_a_tie(
    world: dict[str, Any], make_article: Callable[..., Article]
) -> None:
    # given
    first = make_article("燃气灶打不着火", body="<p>检查电池。</p>")
    second = make_article("燃气灶打不着火", body="<p>检查电池。</p>")
    services.vote_article(actor=world["contact"], article=second, is_helpful=True)
    # when
    found = services.search_articles(viewer=world["agent"], query="燃气灶打不着火")
    # then
    assert [r.article.pk for r in found] == [second.pk, first.pk]


def test_editing_an_article_reindexes_it(
    world: dict[str, Any], make_article: Callable[..., Article]
) -> None:
    # given
    article = make_article("旧标题 洗碗机")
    # when
    services.update_article(
        actor=world["admin"], article=article, texts={"zh-hans": {"title": "新标题 净水器"}}
    )
    # then
    assert _titles(world["agent"], "洗碗机") == []
    assert _titles(world["agent"], "净水器") == ["新标题 净水器"]
    assert SearchEntry.objects.filter(article=article).count() == 1


def test_customer_search_never_returns_internal_or_restricted_articles(
    world: dict[str, Any], make_article: Callable[..., Article]
) -> None:
    # given
    make_article("油烟机吸力变小 内部", visibility="internal")
    make_article("油烟机吸力变小 限定", visibility="restricted", teams=[world["team_a"]])
    make_article("油烟机吸力变小 草稿", visibility="public", publish=False)
    public = make_article("油烟机吸力变小 公开")
    # when
    customer = services.search_articles(viewer=world["contact"], query="油烟机吸力变小")
    teammate = services.search_articles(viewer=world["teammate"], query="油烟机吸力变小")
    # then
    assert [r.article.pk for r in customer] == [public.pk]
    assert sorted(r.text.title for r in teammate) == ["油烟机吸力变小 公开", "油烟机吸力变小 内部"]


def test_snippet_escapes_html_and_marks_words() -> None:
    query = search.Query(text="排水", words=["排水"], chunks=["排水"])
    assert search.highlight("<b>排水</b>泵", query) == "&lt;b&gt;<mark>排水</mark>&lt;/b&gt;泵"


def test_query_keeps_one_group_of_alternatives_per_word(world: dict[str, Any]) -> None:
    """The groups drive the all-words pass that runs before any-word matching."""
    # given
    services.create_synonym(actor=world["admin"], terms=["漏水", "渗水"])
    search.forget_synonyms()
    # when
    query = search.parse("洗衣机 漏水")
    # then
    assert query.groups == [["洗衣", "洗衣机"], ["漏水", "渗水"]]


def test_staff_reader_with_scope_all_searches_without_a_visibility_filter(
    world: dict[str, Any], make_article: Callable[..., Article]
) -> None:
    # given
    draft = make_article(
        "油烟机吸力变小 限定草稿", visibility="restricted", teams=[world["team_b"]], publish=False
    )
    # when
    visible = selectors.articles_visible_to(world["admin"])
    found = services.search_articles(viewer=world["admin"], query="油烟机吸力变小")
    # then
    assert str(visible.query) == str(Article.objects.all().query)
    assert [r.article.pk for r in found] == [draft.pk]
    assert _titles(world["agent"], "油烟机吸力变小") == []
    assert _titles(world["contact"], "油烟机吸力变小") == []


def test_common_words_on_a_large_index_match_titles_and_tags_first(
    world: dict[str, Any],
    make_article: Callable[..., Article],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What 100,000 articles sharing boilerplate words do, on three: the word passes look at
    titles and tags only; a body holding the query verbatim still comes through substrings;
    a customer still never gets the internal article."""
    # given
    make_article("热水器保外维修收费 内部", visibility="internal")
    in_title = make_article("热水器保外维修收费", body="<p>按标准收费。</p>")
    in_body = make_article("热水器使用说明", body="<p>保外维修收费见附表。</p>")
    only_words = make_article("热水器说明", body="<p>保外的维修按标准收费。</p>")
    monkeypatch.setattr(database, "SMALL_INDEX", 0)
    monkeypatch.setattr(database, "HEAD_ONLY_ABOVE", 1)
    # when
    customer = services.search_articles(viewer=world["contact"], query="保外维修收费")
    # then
    assert [r.article.pk for r in customer] == [in_title.pk, in_body.pk]
    assert only_words.pk not in [r.article.pk for r in customer]
