"""The relevance set: 1,000 generated articles, the checked-in queries, the chosen method."""

from __future__ import annotations

from typing import Any

from aftersales.knowledge.models import Article
from tests.knowledge.corpus import build_corpus
from tests.knowledge.relevance import build_index, evaluate, load_corpus, load_queries


def test_corpus_is_deterministic_and_holds_every_expected_article() -> None:
    corpus = build_corpus(8, 1000)
    again = build_corpus(8, 1000)
    keys = {spec.key for spec in corpus}
    queries = load_queries()
    assert len(corpus) == 1000
    assert [s.title_zh for s in corpus] == [s.title_zh for s in again]
    assert len(queries) == 260
    assert {expected for _query, expected in queries} <= keys


def test_chosen_method_meets_the_relevance_target(world: dict[str, Any]) -> None:
    """The Done-means of #8: MRR ≥ 0.8 (a target, not a measurement; the measured figures
    per method are in bench/knowledge_relevance.py and docs/adr/0004-knowledge-search.md)."""
    # given
    ids = load_corpus(build_corpus(8, 1000), line=world["line_a"], author=world["admin"])
    assert build_index() == 1000
    # when
    score = evaluate("hybrid", ids, load_queries())
    # then
    assert Article.objects.count() == 1000
    assert score.mrr >= 0.8, score.misses[:10]
    assert score.recall_at_5 >= 0.9, score.misses[:10]
