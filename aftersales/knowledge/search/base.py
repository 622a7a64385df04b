"""The one interface every search engine implements, and what it is given and returns.

A backend knows how to store :class:`Document` rows and answer a :class:`Query` with
candidate :class:`Hit` rows, already limited to the article ids the caller may see. Merging,
tie-breaking, snippets and logging live above it (:mod:`aftersales.knowledge.search`), so an
OpenSearch or Meilisearch backend only has to implement these four methods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from django.db.models import QuerySet


@dataclass(frozen=True)
class Document:
    """One article text to index (the article in one language)."""

    article_id: int
    language: str
    title: str
    tags: list[str]
    body: str


@dataclass(frozen=True)
class Query:
    """A parsed query: words (synonyms expanded), substrings, maybe pinyin initials."""

    text: str
    words: list[str]
    chunks: list[str]
    initials: str = ""
    language: str = ""
    # Alternatives per query word (its sub-words and synonyms): a document with one term of
    # every group matches "all words"; searched first, before any-word matching.
    groups: list[list[str]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Hit:
    article_id: int
    language: str
    score: float


class SearchBackend(Protocol):
    """What :func:`aftersales.knowledge.search.search` needs from an engine."""

    name: str

    def index(self, documents: list[Document]) -> None:
        """Add or replace the documents (keyed by article id and language)."""

    def remove(self, article_ids: list[int]) -> None:
        """Forget every text of these articles."""

    def clear(self) -> None:
        """Forget everything (before a rebuild)."""

    def search(self, query: Query, *, visible: QuerySet[Any], limit: int) -> list[Hit]:
        """The best ``limit`` hits among articles whose ids ``visible`` yields, best first."""
