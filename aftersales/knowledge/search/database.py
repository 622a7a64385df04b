# The SQL below is assembled from constants and a Django-compiled subquery; every value is
# a parameter.
# ruff: noqa: S608
"""Search in the application's own database: SQLite FTS5 or PostgreSQL tsvector + pg_trgm.

Both keep :class:`~aftersales.knowledge.models.SearchEntry` rows (terms per field, raw text);
SQLite mirrors them into two FTS5 tables with the same row ids (``knowledge_fts_words`` over the
space-separated terms, ``knowledge_fts_raw`` with the trigram tokenizer over the raw text);
PostgreSQL keeps a generated, weighted ``document`` tsvector and pg_trgm indexes on the raw text
(migration 0002), and a ``head`` tsvector of title, initials and tags (migration 0003) for
queries of words too common to rank every text holding them (``HEAD_ONLY_ABOVE``). The
services call :meth:`index` and :meth:`remove` in their transaction: no signals, so a
rolled-back write leaves the index as it was.

``method`` selects how text becomes terms, so ``bench/knowledge_relevance.py`` can measure the
rejected methods through the same code: ``hybrid`` (the chosen one: jieba words + substring
bonus), ``jieba`` (words only), ``bigram`` (character bigrams), ``trigram`` (trigrams only).
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from typing import Any

from django.db import connection
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

from aftersales.knowledge.models import Article, SearchEntry
from aftersales.knowledge.search import text
from aftersales.knowledge.search.base import Document, Hit, Query

METHODS = ("hybrid", "jieba", "bigram", "trigram")
# How much a query substring found verbatim adds, relative to the word ranking (hybrid).
SUBSTRING_WEIGHT = 0.5
CANDIDATES = 200
# A word pass expected to match more index rows than this (going by the words' document
# frequencies) matches titles, tags and initials only: ranking tens of thousands of texts
# that share a common word (维修, 保外 in a boilerplate sentence) is what made search slow at
# 100,000 articles, and a text holding the query only in its body ranks low among so many.
HEAD_ONLY_ABOVE = 3000
# Below this many index rows every word is kept and every pass searches whole texts.
SMALL_INDEX = 2000


def _terms(method: str, value: str) -> list[str]:
    if method == "bigram":
        return text.bigrams(value)
    if method == "trigram":
        return []
    return text.words(value)


def _trigrams(chunk: str) -> list[str]:
    if len(chunk) <= 3:
        return [chunk] if len(chunk) == 3 else []
    return [chunk[i : i + 3] for i in range(len(chunk) - 2)]


def _quote_fts(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _quote_tsquery(term: str) -> str:
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"


def _visibility(visible: QuerySet[Any]) -> tuple[str, tuple[Any, ...]]:
    """The SQL condition on index rows ``e`` that keeps the articles ``visible`` yields:
    nothing to test when it is every article (a staff reader with scope "all"), otherwise
    ``EXISTS (<the selector's query> AND pk = e.article_id)``. Correlated on purpose: with
    ``e.article_id IN (<query>)`` SQLite builds the set of every visible id (50,000 for a
    customer at 100,000 articles, ~10 ms) in each pass, however few rows the pass matched."""
    if visible.model is Article and not visible.query.where and not visible.query.is_sliced:
        return "TRUE", ()
    correlated = visible.order_by().filter(pk=RawSQL("e.article_id", ())).values("pk")
    subquery, params = correlated.query.sql_with_params()
    return f"EXISTS ({subquery})", tuple(params)


class DatabaseBackend:
    """The default backend: the site's own SQLite or PostgreSQL database."""

    def __init__(self, method: str = "hybrid") -> None:
        if method not in METHODS:
            raise ValueError(method)
        self.method = method
        self.name = f"{connection.vendor}-{method}"

    # --- Writing ---------------------------------------------------------------------------

    def index(self, documents: list[Document]) -> None:
        if not documents:
            return
        self.remove_texts([(d.article_id, d.language) for d in documents])
        entries = [
            SearchEntry(
                article_id=d.article_id,
                language=d.language,
                title_terms=" ".join(_terms(self.method, d.title)),
                tag_terms=" ".join(t for tag in d.tags for t in _terms(self.method, tag)),
                body_terms=" ".join(_terms(self.method, d.body)),
                initials=text.initials(d.title) if self.method == "hybrid" else "",
                title_raw=text.normalise(d.title + " " + " ".join(d.tags)),
                body_raw=text.normalise(d.body),
            )
            for d in documents
        ]
        created = SearchEntry.objects.bulk_create(entries)
        if connection.vendor == "sqlite":
            if not all(entry.pk for entry in created):  # old SQLite without RETURNING
                created = list(
                    SearchEntry.objects.filter(
                        article_id__in={d.article_id for d in documents}
                    ).order_by("pk")
                )
            with connection.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO knowledge_fts_words(rowid, title, tags, body, initials) "
                    "VALUES (%s, %s, %s, %s, %s)",
                    [(e.pk, e.title_terms, e.tag_terms, e.body_terms, e.initials) for e in created],
                )
                cursor.executemany(
                    "INSERT INTO knowledge_fts_raw(rowid, title, body) VALUES (%s, %s, %s)",
                    [(e.pk, e.title_raw, e.body_raw) for e in created],
                )

    def remove_texts(self, keys: list[tuple[int, str]]) -> None:
        article_ids = {article_id for article_id, _language in keys}
        wanted = set(keys)
        ids = [
            pk
            for pk, article_id, language in SearchEntry.objects.filter(
                article_id__in=article_ids
            ).values_list("pk", "article_id", "language")
            if (article_id, language) in wanted
        ]
        self._delete(ids)

    def remove(self, article_ids: list[int]) -> None:
        self._delete(
            list(
                SearchEntry.objects.filter(article_id__in=article_ids).values_list("pk", flat=True)
            )
        )

    def _delete(self, ids: list[int]) -> None:
        if not ids:
            return
        if connection.vendor == "sqlite":
            marks = ",".join(["%s"] * len(ids))
            with connection.cursor() as cursor:
                cursor.execute(f"DELETE FROM knowledge_fts_words WHERE rowid IN ({marks})", ids)
                cursor.execute(f"DELETE FROM knowledge_fts_raw WHERE rowid IN ({marks})", ids)
        SearchEntry.objects.filter(pk__in=ids).delete()

    def clear(self) -> None:
        if connection.vendor == "sqlite":
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM knowledge_fts_words")
                cursor.execute("DELETE FROM knowledge_fts_raw")
        SearchEntry.objects.all().delete()

    # --- Reading ---------------------------------------------------------------------------

    def search(self, query: Query, *, visible: QuerySet[Any], limit: int) -> list[Hit]:
        if self.method == "hybrid":
            return self._hybrid(query, visible=visible, limit=limit)
        subquery, sub_params = _visibility(visible)
        scores: dict[tuple[int, str], float] = defaultdict(float)
        words = list(dict.fromkeys(query.words))
        if self.method == "bigram":
            words = list(dict.fromkeys(t for w in query.chunks for t in text.bigrams(w)))
        if self.method != "trigram" and words:
            for article_id, language, score in self._words(
                self._any(words), subquery, sub_params, words
            ):
                scores[(article_id, language)] += score
        if self.method == "trigram":
            patterns = list(dict.fromkeys(t for c in query.chunks for t in _trigrams(c)))
            if patterns:
                for article_id, language, score in self._raw(patterns, subquery, sub_params):
                    scores[(article_id, language)] += score
        ranked = sorted(scores.items(), key=lambda item: -item[1])[:limit]
        return [Hit(article_id=a, language=lang, score=s) for (a, lang), s in ranked]

    def _hybrid(self, query: Query, *, visible: QuerySet[Any], limit: int) -> list[Hit]:
        """All words first (cheap: few documents hold every word), then any word without the
        words most documents hold, then substrings; a query substring found verbatim in a
        candidate's title or body adds to its score."""
        subquery, sub_params = _visibility(visible)
        words = list(dict.fromkeys(query.words))
        scores: dict[tuple[int, str], float] = {}

        def add(rows: list[tuple[int, str, float]], weight: float = 1.0) -> None:
            for article_id, language, score in rows:
                key = (article_id, language)
                scores[key] = max(scores.get(key, 0.0), score * weight)

        groups = [list(dict.fromkeys(g)) for g in query.groups if g]
        if len(groups) > 1:
            expected = self._expected_rows(groups)
            head = expected > HEAD_ONLY_ABOVE
            add(self._words(self._all(groups, head=head), subquery, sub_params, words, head=head))
        if len(scores) < limit and (words or query.initials):
            kept = self._selective(words)
            head = self._expected_rows([[w] for w in kept], every=False) > HEAD_ONLY_ABOVE
            add(
                self._words(
                    self._any(kept, query.initials, head=head),
                    subquery,
                    sub_params,
                    kept,
                    head=head,
                )
            )
        patterns = [c for c in dict.fromkeys(query.chunks) if len(c) >= 3]
        # Substrings catch what segmentation split apart; a chunk that is itself one of the
        # query's words was looked up whole already, and scanning every text holding a
        # common one (洗衣机: one in twelve) would rank thousands of rows for nothing new.
        unsegmented = [p for p in patterns if p not in words]
        if unsegmented and len(scores) < limit:
            add(self._raw(unsegmented, subquery, sub_params), SUBSTRING_WEIGHT)
        if patterns and scores:
            self._substring_bonus(scores, patterns)
        ranked = sorted(scores.items(), key=lambda item: -item[1])[:limit]
        return [Hit(article_id=a, language=lang, score=s) for (a, lang), s in ranked]

    def _substring_bonus(self, scores: dict[tuple[int, str], float], patterns: list[str]) -> None:
        best = sorted(scores, key=lambda key: -scores[key])[:CANDIDATES]
        rows = SearchEntry.objects.filter(
            article_id__in={article_id for article_id, _language in best}
        ).values_list("article_id", "language", "title_raw", "body_raw")
        for article_id, language, title, body in rows:
            key = (article_id, language)
            if key in scores:
                found = sum(3 for p in patterns if p in title) + sum(
                    1 for p in patterns if p in body
                )
                scores[key] += SUBSTRING_WEIGHT * found

    # --- Query pieces --------------------------------------------------------------------

    def _expected_rows(self, groups: list[list[str]], *, every: bool = True) -> int:
        """At most how many index rows hold a word of every group (``every``) or of any
        group, by the words' document frequencies; 0 for a small index."""
        if not groups:
            return 0
        frequencies, total = self._frequencies(list(dict.fromkeys(w for g in groups for w in g)))
        if total < SMALL_INDEX:
            return 0
        per_group = [sum(frequencies[w] for w in group) for group in groups]
        return min(per_group) if every else sum(per_group)

    def _any(self, words: list[str], initials: str = "", *, head: bool = False) -> str:
        if connection.vendor == "sqlite":
            columns = "{title tags}" if head else "{title tags body}"
            parts = []
            if words:
                parts.append(columns + " : (" + " OR ".join(map(_quote_fts, words)) + ")")
            if initials:
                parts.append("initials : " + _quote_fts(initials) + "*")
            return " OR ".join(parts)
        terms = [_quote_tsquery(w) for w in words]
        if initials:
            terms.append(_quote_tsquery("py:" + initials) + ":*")
        return " | ".join(terms)

    def _all(self, groups: list[list[str]], *, head: bool = False) -> str:
        if connection.vendor == "sqlite":
            return (
                ("{title tags}" if head else "{title tags body}")
                + " : ("
                + " AND ".join("(" + " OR ".join(map(_quote_fts, group)) + ")" for group in groups)
                + ")"
            )
        return " & ".join("(" + " | ".join(map(_quote_tsquery, group)) + ")" for group in groups)

    def _selective(self, words: list[str]) -> list[str]:
        """The words without those in more than 5% of a large index (they would make an
        any-word search rank half the index); the rarest word stays if all are common."""
        if not words:
            return words
        frequencies, total = self._frequencies(words)
        if total < SMALL_INDEX:
            return words
        kept = [w for w in words if frequencies[w] <= total * 0.05]
        return kept or [min(words, key=lambda w: frequencies[w])]

    def _frequencies(self, words: list[str]) -> tuple[dict[str, int], int]:
        """How many index rows hold each word, and how many rows there are (cached 10 min)."""
        from django.core.cache import cache

        def key(word: str) -> str:
            return f"knowledge:df:{self.method}:" + hashlib.sha256(word.encode()).hexdigest()

        total_key = f"knowledge:df:{self.method}:total"
        known = cache.get_many([*(key(w) for w in words), total_key])
        sqlite = connection.vendor == "sqlite"
        with connection.cursor() as cursor:
            total = known.get(total_key)
            if total is None:
                cursor.execute("SELECT count(*) FROM knowledge_searchentry")
                total = int(cursor.fetchone()[0])
                cache.set(total_key, total, 600)
            result = {}
            for word in words:
                count = known.get(key(word))
                if count is None:
                    if sqlite:
                        cursor.execute(
                            "SELECT count(*) FROM knowledge_fts_words "
                            "WHERE knowledge_fts_words MATCH %s",
                            ["{title tags body} : " + _quote_fts(word)],
                        )
                    else:
                        cursor.execute(
                            "SELECT count(*) FROM knowledge_searchentry "
                            "WHERE document @@ CAST(%s AS tsquery)",
                            [_quote_tsquery(word)],
                        )
                    count = int(cursor.fetchone()[0])
                    cache.set(key(word), count, 600)
                result[word] = count
        return result, total

    def _words(
        self,
        match: str,
        subquery: str,
        sub_params: tuple[Any, ...],
        words: list[str],
        *,
        head: bool = False,
    ) -> list[tuple[int, str, float]]:
        if not match:
            return []
        if connection.vendor == "sqlite":
            return self._sqlite_words(match, subquery, sub_params)
        return self._postgres_words(match, words, subquery, sub_params, head=head)

    def _raw(
        self, patterns: list[str], subquery: str, sub_params: tuple[Any, ...]
    ) -> list[tuple[int, str, float]]:
        if connection.vendor == "sqlite":
            return self._sqlite_raw(patterns, subquery, sub_params)
        return self._postgres_raw(patterns, subquery, sub_params)

    def _run(self, sql: str, params: list[Any]) -> list[tuple[int, str, float]]:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [(int(a), str(lang), float(s)) for a, lang, s in cursor.fetchall()]

    def _sqlite_words(
        self, match: str, subquery: str, sub_params: tuple[Any, ...]
    ) -> list[tuple[int, str, float]]:
        # The match runs first, materialised: joined directly, SQLite would test the MATCH
        # row by row inside the join (an order of magnitude slower at 100,000 articles).
        sql = (
            "WITH f AS MATERIALIZED (SELECT rowid AS id, "
            "bm25(knowledge_fts_words, 10.0, 5.0, 1.0, 8.0) AS rank "
            "FROM knowledge_fts_words WHERE knowledge_fts_words MATCH %s) "
            "SELECT e.article_id, e.language, -f.rank FROM f CROSS JOIN knowledge_searchentry e "
            "ON e.id = f.id "
            f"WHERE {subquery} ORDER BY f.rank LIMIT %s"
        )
        return self._run(sql, [match, *sub_params, CANDIDATES])

    def _sqlite_raw(
        self, patterns: list[str], subquery: str, sub_params: tuple[Any, ...]
    ) -> list[tuple[int, str, float]]:
        sql = (
            "WITH f AS MATERIALIZED (SELECT rowid AS id, "
            "bm25(knowledge_fts_raw, 10.0, 1.0) AS rank "
            "FROM knowledge_fts_raw WHERE knowledge_fts_raw MATCH %s) "
            "SELECT e.article_id, e.language, -f.rank FROM f CROSS JOIN knowledge_searchentry e "
            "ON e.id = f.id "
            f"WHERE {subquery} ORDER BY f.rank LIMIT %s"
        )
        match = " OR ".join(_quote_fts(p) for p in patterns)
        return self._run(sql, [match, *sub_params, CANDIDATES])

    def _postgres_words(
        self,
        match: str,
        words: list[str],
        subquery: str,
        sub_params: tuple[Any, ...],
        *,
        head: bool = False,
    ) -> list[tuple[int, str, float]]:
        # ts_rank knows no document frequency: a word in every washer article would weigh as
        # much as the fault code. Each word's rank is therefore scaled by its inverse
        # document frequency, which is what bm25 does on SQLite.
        frequencies, total = self._frequencies(words) if words else ({}, 1)
        weights = {w: math.log(1 + total / (1 + frequencies[w])) for w in words}
        parts = (
            " + ".join(
                ["ts_rank('{0.1, 0.2, 0.5, 1.0}', e.document, CAST(%s AS tsquery)) * %s"]
                * len(words)
            )
            or "ts_rank('{0.1, 0.2, 0.5, 1.0}', e.document, CAST(%s AS tsquery))"
        )
        # Weights {D, C, B, A}: body C, tags B, title A (see migration 0002).
        sql = (
            f"SELECT e.article_id, e.language, ({parts}) * 10 "
            "FROM knowledge_searchentry e "
            f"WHERE e.{'head' if head else 'document'} @@ CAST(%s AS tsquery) "
            f"AND {subquery} "
            "ORDER BY 3 DESC LIMIT %s"
        )
        rank_params: list[Any] = (
            [p for w in words for p in (_quote_tsquery(w), weights[w])] if words else [match]
        )
        return self._run(sql, [*rank_params, match, *sub_params, CANDIDATES])

    def _postgres_raw(
        self, patterns: list[str], subquery: str, sub_params: tuple[Any, ...]
    ) -> list[tuple[int, str, float]]:
        likes = [
            "%" + p.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%"
            for p in patterns
        ]
        title = " + ".join(["(e.title_raw LIKE %s)::int * 3"] * len(likes))
        body = " + ".join(["(e.body_raw LIKE %s)::int"] * len(likes))
        where = " OR ".join(["e.title_raw LIKE %s OR e.body_raw LIKE %s"] * len(likes))
        sql = (
            f"SELECT e.article_id, e.language, ({title} + {body})::float "
            "FROM knowledge_searchentry e "
            f"WHERE ({where}) AND {subquery} "
            "ORDER BY 3 DESC LIMIT %s"
        )
        where_params = [p for like in likes for p in (like, like)]
        return self._run(sql, [*likes, *likes, *where_params, *sub_params, CANDIDATES])
