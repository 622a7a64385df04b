"""Loading the generated corpus fast and scoring a search method on the checked-in queries.

Shared by ``tests/knowledge/test_relevance.py`` and ``bench/knowledge_relevance.py``. The
loader writes rows in bulk (1,000 articles through the services would spend most of the test
in audit entries and events); the search index is then built by the services' own
``rebuild_index``, so what is measured is what production searches.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.cache import cache
from django.utils import timezone

from aftersales.core import richtext
from aftersales.knowledge import search, services
from aftersales.knowledge.models import Article, ArticleText, Synonym
from tests.knowledge.corpus import SYNONYMS, Spec

QUERIES = Path(__file__).with_name("relevance_queries.tsv")


def load_queries() -> list[tuple[str, str]]:
    with QUERIES.open(encoding="utf-8") as handle:
        return [(row[0], row[1]) for row in csv.reader(handle, delimiter="\t") if row]


def load_corpus(specs: list[Spec], *, line: Any, author: Any, batch: int = 2000) -> dict[str, int]:
    """Create the articles (published) and synonyms; return key → article id. Does not index."""
    now = timezone.now()
    ids: dict[str, int] = {}
    for start in range(0, len(specs), batch):
        chunk = specs[start : start + batch]
        articles = Article.objects.bulk_create(
            [
                Article(
                    business_line=line,
                    status=Article.Status.PUBLISHED,
                    visibility=spec.visibility,
                    tags=spec.tags,
                    products=spec.products,
                    author=author,
                    published_at=now,
                    last_verified_at=now,
                )
                for spec in chunk
            ]
        )
        if not all(a.pk for a in articles):
            articles = list(Article.objects.order_by("-pk")[: len(chunk)])[::-1]
        texts = []
        for article, spec in zip(articles, chunk, strict=True):
            ids[spec.key] = article.pk
            texts.append(
                ArticleText(
                    article=article,
                    language="zh-hans",
                    title=spec.title_zh,
                    body=spec.body_zh,
                    body_text=richtext.to_plain_text(spec.body_zh),
                )
            )
            if spec.title_en:
                texts.append(
                    ArticleText(
                        article=article,
                        language="en",
                        title=spec.title_en,
                        body=spec.body_en,
                        body_text=richtext.to_plain_text(spec.body_en),
                    )
                )
        ArticleText.objects.bulk_create(texts)
    Synonym.objects.bulk_create([Synonym(terms=terms) for terms in SYNONYMS])
    cache.delete(search.SYNONYMS_CACHE_KEY)
    return ids


def build_index() -> int:
    return services.rebuild_index()


@dataclass(frozen=True)
class Score:
    method: str
    queries: int
    mrr: float
    recall_at_5: float
    misses: list[tuple[str, str, list[str]]]


def evaluate(method: str, ids: dict[str, int], queries: list[tuple[str, str]]) -> Score:
    """Mean reciprocal rank (over the top 10) and recall@5 of the expected article."""
    keys = {pk: key for key, pk in ids.items()}
    visible = Article.objects.all()
    reciprocal = 0.0
    found_in_5 = 0
    misses = []
    for query, expected in queries:
        ranked = search.rank(search.parse(query), visible=visible, limit=10)
        order = [keys.get(article_id, "?") for article_id, _language, _score in ranked]
        if expected in order:
            position = order.index(expected) + 1
            reciprocal += 1 / position
            found_in_5 += position <= 5
        if not order or order[0] != expected:
            misses.append((query, expected, order[:3]))
    count = len(queries)
    return Score(method, count, reciprocal / count, found_in_5 / count, misses)
