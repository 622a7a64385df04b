"""Knowledge search: one entry point over a pluggable backend.

``search(query_text, viewer=…)`` parses the query (jieba words, synonyms the admin maintains,
substrings, pinyin initials), asks the backend for hits among the articles the viewer may see,
keeps the best text per article, breaks ties by usefulness and recency, adds highlighted
snippets, and logs searches that found nothing. ``index_articles`` / ``remove_articles`` keep
the index in step; the services call them inside their transaction.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import QuerySet
from django.utils.module_loading import import_string

from aftersales.knowledge.models import Article, ArticleText, Synonym
from aftersales.knowledge.search import text
from aftersales.knowledge.search.base import Document, Hit, Query, SearchBackend

__all__ = [
    "Document",
    "Hit",
    "Query",
    "Result",
    "SearchBackend",
    "backend",
    "index_articles",
    "parse",
    "rank",
    "remove_articles",
    "set_backend",
]

SYNONYMS_CACHE_KEY = "knowledge:synonyms:v1"
SNIPPET_LENGTH = 120
_backend: SearchBackend | None = None


def backend() -> SearchBackend:
    """The configured backend (``KNOWLEDGE_SEARCH_BACKEND``, a dotted class path)."""
    global _backend
    if _backend is None:
        path = getattr(
            settings,
            "KNOWLEDGE_SEARCH_BACKEND",
            "aftersales.knowledge.search.database.DatabaseBackend",
        )
        _backend = import_string(path)()
    return _backend


def set_backend(new: SearchBackend | None) -> None:
    """Use ``new`` from now on (None: the configured one again); for benches and plugins."""
    global _backend
    _backend = new


# --- Keeping the index in step --------------------------------------------------------------


def documents_of(articles: list[Article]) -> list[Document]:
    return [
        Document(
            article_id=article.pk,
            language=t.language,
            title=t.title,
            tags=[*article.tags, *article.products],
            body=t.body_text,
        )
        for article in articles
        for t in article.texts.all()
    ]


def index_articles(articles: list[Article]) -> None:
    """Index (again) every text of these articles, whatever their status: the visibility
    filter applies at query time, so publishing needs no re-index."""
    engine = backend()
    engine.remove([a.pk for a in articles])
    engine.index(documents_of(articles))


def remove_articles(article_ids: list[int]) -> None:
    backend().remove(article_ids)


# --- Queries ----------------------------------------------------------------------------------


def synonym_groups() -> list[list[str]]:
    groups: list[list[str]] | None = cache.get(SYNONYMS_CACHE_KEY)
    if groups is None:
        groups = [
            [text.normalise(term) for term in s.terms] for s in Synonym.objects.order_by("pk")
        ]
        cache.set(SYNONYMS_CACHE_KEY, groups, 300)
    return groups


def forget_synonyms() -> None:
    cache.delete(SYNONYMS_CACHE_KEY)


def parse(query_text: str, *, language: str = "") -> Query:
    """Words of the query plus, for each synonym group one of whose terms the query contains,
    the words of the group's other terms."""
    normalised = text.normalise(query_text)
    words = text.words(normalised)
    chunks = text.chunks(normalised)
    groups = [g for g in (text.words(token) for token in text.tokens(normalised)) if g]
    for group in synonym_groups():
        if any(term in normalised for term in group):
            alternatives = [w for term in group for w in text.words(term)]
            words.extend(alternatives)
            for term in group:
                if term not in normalised:
                    chunks.append(term)
            merged = False
            for existing in groups:
                if any(w in term or term in w for w in existing for term in group if w and term):
                    existing.extend(a for a in alternatives if a not in existing)
                    merged = True
            if not merged:
                groups.append(alternatives)
    initials = normalised.strip() if text.is_initials_query(normalised) else ""
    return Query(
        text=query_text,
        words=words,
        chunks=chunks,
        initials=initials,
        language=language,
        groups=groups,
    )


@dataclass(frozen=True)
class Result:
    """One article found: the text in the best language, its score and a marked-up snippet."""

    article: Article
    text: ArticleText
    score: float
    snippet: str
    title_html: str


def rank(
    query: Query, *, visible: QuerySet[Article], limit: int = 20
) -> list[tuple[int, str, float]]:
    """Article ids best first, one per article (its best-scoring text, the asked language
    winning a tie), ties broken by usefulness, then by the most recent update."""
    hits = backend().search(query, visible=visible, limit=limit * 4)
    best: dict[int, Hit] = {}
    for hit in hits:
        current = best.get(hit.article_id)
        if (
            current is None
            or hit.score > current.score
            or (hit.score == current.score and hit.language == query.language)
        ):
            best[hit.article_id] = hit
    if not best:
        return []
    facts = {
        pk: (helpful - unhelpful, updated.timestamp())
        for pk, helpful, unhelpful, updated in Article.objects.filter(
            pk__in=list(best)
        ).values_list("pk", "helpful_count", "not_helpful_count", "updated_at")
    }
    ordered = sorted(
        best.values(),
        key=lambda h: (-round(h.score, 6), *(-v for v in facts.get(h.article_id, (0, 0.0)))),
    )
    return [(h.article_id, h.language, h.score) for h in ordered[:limit]]


def _marks(query: Query) -> list[str]:
    marks = {w for w in query.words if len(w) >= 2 or w.isascii()}
    marks.update(c for c in query.chunks if len(c) >= 2)
    return sorted(marks, key=len, reverse=True)


def highlight(value: str, query: Query, *, length: int | None = None) -> str:
    """Escaped ``value`` with the query's words in ``<mark>``; cut around the first match."""
    marks = _marks(query)
    lowered = text.normalise(value)
    if length is not None and len(value) > length:
        first = min((i for m in marks if (i := lowered.find(m)) >= 0), default=0)
        start = max(0, first - length // 4)
        value = ("…" if start else "") + value[start : start + length] + "…"
        lowered = text.normalise(value)
    if not marks:
        return html.escape(value)
    pattern = re.compile("|".join(re.escape(m) for m in marks))
    out, last = [], 0
    # NFKC keeps lengths for the characters that matter here (CJK, ASCII), so offsets align.
    if len(lowered) != len(value):
        return html.escape(value)
    for match in pattern.finditer(lowered):
        out.append(html.escape(value[last : match.start()]))
        out.append("<mark>" + html.escape(value[match.start() : match.end()]) + "</mark>")
        last = match.end()
    out.append(html.escape(value[last:]))
    return "".join(out)


def results(query: Query, *, visible: QuerySet[Article], limit: int = 20) -> list[Result]:
    ranked = rank(query, visible=visible, limit=limit)
    if not ranked:
        return []
    texts = {
        (t.article_id, t.language): t
        for t in ArticleText.objects.filter(
            article_id__in=[a for a, _l, _s in ranked]
        ).select_related("article", "article__section")
    }
    found = []
    for article_id, language, score in ranked:
        found_text = texts.get((article_id, language))
        if found_text is None:
            continue
        found.append(
            Result(
                article=found_text.article,
                text=found_text,
                score=score,
                snippet=highlight(found_text.body_text, query, length=SNIPPET_LENGTH),
                title_html=highlight(found_text.title, query),
            )
        )
    return found


def describe(result: Result) -> dict[str, Any]:
    return {
        "article_id": result.article.pk,
        "language": result.text.language,
        "title": result.text.title,
        "title_html": result.title_html,
        "snippet": result.snippet,
        "score": round(result.score, 4),
        "visibility": result.article.visibility,
    }
