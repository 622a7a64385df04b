"""Reads of the knowledge base, already narrowed to what the reader may see.

Who sees which article (see ``docs/knowledge.md``):

* anyone without ``knowledge.view_article`` (anonymous visitors, customer contacts, staff
  without the permission): published public articles only;
* staff with it: every published public article, plus the articles their data scope
  reaches (an agent at "my teams" reaches the business lines of their teams, knowledge
  being shared per line), minus restricted articles
  of teams they are not in (unless their scope is "all" or they wrote it), and drafts only
  with ``knowledge.change_article`` or as the author.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from aftersales.accounts import authz
from aftersales.knowledge.models import (
    Article,
    ArticleAttachment,
    ArticleRevision,
    ArticleVote,
    Category,
    SearchLog,
    Section,
    Synonym,
    TicketArticleLink,
)

Status = Article.Status
Visibility = Article.Visibility


def public_articles() -> QuerySet[Article]:
    return Article.objects.filter(status=Status.PUBLISHED, visibility=Visibility.PUBLIC)


def is_staff_reader(viewer: Any) -> bool:
    return authz.scope_for(viewer, "knowledge.view_article") is not None


def articles_visible_to(viewer: Any, codename: str | None = None) -> QuerySet[Article]:
    """Articles ``viewer`` may ``codename`` (default: view), as the module docstring says."""
    if not is_staff_reader(viewer):
        if codename is not None and codename != "knowledge.view_article":
            return Article.objects.none()
        return public_articles()
    queryset = authz.restrict(Article.objects.all(), viewer, codename)
    if authz.scope_for(viewer, codename or "knowledge.view_article") != authz.Scope.ALL:
        queryset = queryset.filter(
            ~Q(visibility=Visibility.RESTRICTED)
            | Q(author=viewer)
            | Q(
                pk__in=Article.teams.through.objects.filter(
                    team_id__in=authz.team_ids(viewer)
                ).values("article_id")
            )
        )
    if authz.scope_for(viewer, "knowledge.change_article") is None:
        queryset = queryset.filter(Q(status=Status.PUBLISHED) | Q(author=viewer))
    if not queryset.query.where:
        # Scope "all" and allowed to change articles: every article, stated plainly so that
        # search can skip the visibility filter instead of testing 100,000 ids.
        return Article.objects.all()
    if codename is None or codename == "knowledge.view_article":
        # Whatever a customer may read, every staff reader may read too.
        return Article.objects.filter(
            Q(pk__in=queryset.values("pk"))
            | Q(status=Status.PUBLISHED, visibility=Visibility.PUBLIC)
        )
    return queryset


def categories_visible_to(viewer: Any) -> QuerySet[Category]:
    """Categories are shelves, not secrets: staff readers see those of lines they reach."""
    if not is_staff_reader(viewer):
        return Category.objects.filter(pk__in=public_articles().values("section__category_id"))
    return authz.restrict(Category.objects.select_related("business_line"), viewer)


def sections_visible_to(viewer: Any) -> QuerySet[Section]:
    return Section.objects.filter(category__in=categories_visible_to(viewer)).select_related(
        "category"
    )


def revisions_of(article: Article) -> QuerySet[ArticleRevision]:
    return article.revisions.select_related("author").order_by("-number")


def votes_of(article: Article) -> QuerySet[ArticleVote]:
    return article.votes.select_related("user")


def synonyms() -> QuerySet[Synonym]:
    return Synonym.objects.all()


def searches_without_result(viewer: Any) -> QuerySet[SearchLog]:
    if authz.scope_for(viewer, "knowledge.view_searchlog") is None:
        return SearchLog.objects.none()
    return SearchLog.objects.all()


def revision_diff(older: dict[str, Any], newer: dict[str, Any]) -> list[dict[str, Any]]:
    """Line differences between two revision contents, per field that changed:
    ``[{"field": "zh-hans.body", "lines": ["- old", "+ new", "  same"]}]``."""
    from aftersales.core.richtext import to_plain_text

    def flatten(content: dict[str, Any]) -> dict[str, str]:
        flat: dict[str, str] = {}
        for language, value in sorted(content.get("texts", {}).items()):
            flat[f"{language}.title"] = value.get("title", "")
            flat[f"{language}.body"] = to_plain_text(value.get("body", ""))
        flat["tags"] = "\n".join(content.get("tags", []))
        flat["products"] = "\n".join(content.get("products", []))
        flat["visibility"] = str(content.get("visibility", ""))
        return flat

    before, after = flatten(older), flatten(newer)
    changes = []
    for field in sorted(set(before) | set(after)):
        old, new = before.get(field, ""), after.get(field, "")
        if old == new:
            continue
        lines = [
            line
            for line in difflib.ndiff(old.splitlines(), new.splitlines())
            if not line.startswith("?")
        ]
        changes.append({"field": field, "lines": lines})
    return changes


def attachments_visible_to(viewer: Any) -> QuerySet[ArticleAttachment]:
    """Files of the articles ``viewer`` may read (a customer: published public ones only)."""
    return ArticleAttachment.objects.filter(
        article_id__in=articles_visible_to(viewer).values("pk")
    ).select_related("article")


# --- Tickets ------------------------------------------------------------------------------------

# Custom-field types whose values name a product, model or fault (the repair form's cascade).
PRODUCT_FIELD_TYPES = ("cascade", "single_choice", "multi_choice")


def ticket_products(ticket: Any) -> list[str]:
    """The product and fault a ticket names in its custom fields, as option keys and labels in
    both languages ("washer", "e3", "洗衣机", "E3 不排水", "Washing machine", …), so that they
    meet an article's product codes and words."""
    from aftersales.customfields import services as customfields

    words: list[str] = []
    for language in ("zh-hans", "en"):
        rows = customfields.render_values(
            "tickets.ticket",
            ticket.form_key,
            ticket.custom_fields,
            language,
            versions=ticket.custom_field_versions,
        )
        for row in rows:
            if row["field_type"] not in PRODUCT_FIELD_TYPES:
                continue
            raw = row["value"] if isinstance(row["value"], list) else [row["value"]]
            parts = [str(v) for v in raw if v] + [
                part.strip() for part in re.split(r" / |, ", row["display"]) if part.strip()
            ]
            words.extend(part for part in parts if part not in words)
    return words[:20]


def ticket_links_visible_to(viewer: Any, ticket: Any) -> QuerySet[TicketArticleLink]:
    """The articles linked to ``ticket`` that ``viewer`` may read (newest first)."""
    return (
        TicketArticleLink.objects.filter(
            ticket=ticket, article_id__in=articles_visible_to(viewer).values("pk")
        )
        .select_related("article", "linked_by")
        .prefetch_related("article__texts")
    )


def tickets_using(viewer: Any, article: Article) -> QuerySet[Any]:
    """The tickets ``viewer`` may see that ``article`` was used on ("used in N tickets")."""
    from aftersales.tickets import selectors as ticket_selectors

    return (
        ticket_selectors.tickets_visible_to(viewer)
        .filter(knowledge_links__article=article)
        .order_by("-knowledge_links__created_at", "-pk")
    )


def draft_from_ticket(ticket: Any, language: str) -> dict[str, Any]:
    """An article draft from a solved ticket: the subject as title, the description as the
    problem and the staff's public replies as the resolution, the product words as products."""
    from django.utils import translation
    from django.utils.html import escape

    from aftersales.tickets.models import Comment

    replies = Comment.objects.filter(
        ticket=ticket, is_public=True, author__isnull=False, author_customer__isnull=True
    ).order_by("created_at", "pk")
    with translation.override(language):
        problem = escape(str(_("Problem")))
        resolution = escape(str(_("Resolution")))
    body = f"<h2>{problem}</h2>{ticket.description or ''}"
    answers = "".join(reply.body for reply in replies)
    if answers:
        body += f"<h2>{resolution}</h2>{answers}"
    return {
        "title": ticket.subject[:200],
        "body": body,
        "products": ticket_products(ticket),
        "business_line": ticket.business_line,
    }
