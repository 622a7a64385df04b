"""API of the knowledge base: articles (+ texts, revisions, restore, submit, publish, verify),
votes, search and suggestions. Visibility is the selectors': a customer contact reaches only
published public articles, anything else answers 404 exactly like a missing article."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from ninja import Field, File, Query, Router, Schema, Status
from ninja.files import UploadedFile

from aftersales.accounts import authz
from aftersales.accounts.models import BusinessLine, Team
from aftersales.api.common import PageOut, etag_of, expected_version
from aftersales.api.pagination import paginate
from aftersales.core.errors import NotFound
from aftersales.knowledge import search, selectors, services
from aftersales.knowledge.models import (
    Article,
    ArticleAttachment,
    ArticleText,
    Section,
    TicketArticleLink,
)
from aftersales.tickets import selectors as ticket_selectors
from aftersales.tickets.models import Ticket

router = Router(tags=["knowledge"])

# --- Schemas -----------------------------------------------------------------------------------


class TextIn(Schema):
    title: str = Field(..., min_length=1, max_length=200)
    body: str = Field("", max_length=200_000)


class TextOut(Schema):
    language: str
    title: str
    body: str


class ArticleOut(Schema):
    id: int
    business_line_id: int
    section_id: int | None
    status: str
    visibility: str
    team_ids: list[int]
    texts: dict[str, TextOut]
    tags: list[str]
    products: list[str]
    author_id: int
    reviewer_id: int | None
    published_at: datetime | None
    last_verified_at: datetime | None
    helpful_count: int
    not_helpful_count: int
    view_count: int
    version: int
    created_at: datetime
    updated_at: datetime


class ArticleIn(Schema):
    business_line_id: int
    section_id: int | None = None
    texts: dict[str, TextIn]
    tags: list[str] = []
    products: list[str] = []
    visibility: Article.Visibility = Article.Visibility.INTERNAL
    team_ids: list[int] = []


class ArticlePatch(Schema):
    section_id: int | None = None
    texts: dict[str, TextIn] | None = None
    tags: list[str] | None = None
    products: list[str] | None = None
    visibility: Article.Visibility | None = None
    team_ids: list[int] | None = None
    note: str = Field("", max_length=200)


class ArticleListQuery(Schema):
    status: Article.Status | None = None
    visibility: Article.Visibility | None = None
    business_line: int | None = None
    section: int | None = None
    cursor: str | None = None
    limit: int | None = None


class RevisionOut(Schema):
    number: int
    author_id: int
    note: str
    created_at: datetime
    content: dict[str, Any]


class RevisionDiffOut(Schema):
    number: int
    compared_with: int | None
    changes: list[dict[str, Any]]


class VoteIn(Schema):
    is_helpful: bool
    comment: str = Field("", max_length=2000)


class VoteOut(Schema):
    article_id: int
    is_helpful: bool
    helpful_count: int
    not_helpful_count: int


class SearchQuery(Schema):
    q: str = Field(..., min_length=1, max_length=200)
    language: str = ""
    limit: int = Field(20, ge=1, le=50)


class SuggestIn(Schema):
    subject: str = Field("", max_length=500)
    description: str = Field("", max_length=20_000)
    products: list[str] = []
    language: str = ""
    limit: int = Field(5, ge=1, le=20)


class HitOut(Schema):
    article_id: int
    language: str
    title: str
    title_html: str
    snippet: str
    score: float
    visibility: str


class SearchOut(Schema):
    query: str
    items: list[HitOut]


# --- Helpers -----------------------------------------------------------------------------------


def _articles(user: Any) -> Any:
    return selectors.articles_visible_to(user).prefetch_related(
        Prefetch("texts", queryset=ArticleText.objects.order_by("language")), "teams"
    )


def _article(user: Any, article_id: int) -> Article:
    return get_object_or_404(_articles(user), pk=article_id)


def article_out(article: Article, user: Any) -> dict[str, Any]:
    staff = selectors.is_staff_reader(user)
    return {
        "id": article.pk,
        "business_line_id": article.business_line_id,
        "section_id": article.section_id,
        "status": article.status,
        "visibility": article.visibility,
        "team_ids": [t.pk for t in article.teams.all()] if staff else [],
        "texts": {
            t.language: {"language": t.language, "title": t.title, "body": t.body}
            for t in article.texts.all()
        },
        "tags": article.tags,
        "products": article.products,
        "author_id": article.author_id,
        "reviewer_id": article.reviewer_id,
        "published_at": article.published_at,
        "last_verified_at": article.last_verified_at,
        "helpful_count": article.helpful_count,
        "not_helpful_count": article.not_helpful_count,
        "view_count": article.view_count,
        "version": article.version,
        "created_at": article.created_at,
        "updated_at": article.updated_at,
    }


def _texts(texts: dict[str, TextIn] | None) -> dict[str, dict[str, str]] | None:
    if texts is None:
        return None
    return {language: text.dict() for language, text in texts.items()}


def _section(user: Any, section_id: int | None) -> Section | None:
    if section_id is None:
        return None
    return get_object_or_404(selectors.sections_visible_to(user), pk=section_id)


def _teams(team_ids: list[int]) -> list[Team]:
    teams = list(Team.objects.filter(pk__in=team_ids))
    if len(teams) != len(set(team_ids)):
        from aftersales.core.errors import DomainError

        raise DomainError("invalid_team", field="team_ids")
    return teams


# --- Articles ----------------------------------------------------------------------------------


@router.get("/knowledge/articles", response=PageOut[ArticleOut])
def list_articles(request: HttpRequest, filters: Query[ArticleListQuery]) -> dict[str, Any]:
    articles = _articles(request.user)
    if filters.status:
        articles = articles.filter(status=filters.status)
    if filters.visibility:
        articles = articles.filter(visibility=filters.visibility)
    if filters.business_line is not None:
        articles = articles.filter(business_line_id=filters.business_line)
    if filters.section is not None:
        articles = articles.filter(section_id=filters.section)
    page = paginate(articles, cursor=filters.cursor, limit=filters.limit)
    return {
        "items": [article_out(a, request.user) for a in page.items],
        "next_cursor": page.next_cursor,
    }


@router.post("/knowledge/articles", response={201: ArticleOut})
def create_article(request: HttpRequest, payload: ArticleIn) -> Any:
    authz.require_permission(request.user, "knowledge.add_article")
    line = get_object_or_404(BusinessLine.objects.all(), pk=payload.business_line_id)
    article = services.create_article(
        actor=request.user,
        business_line=line,
        section=_section(request.user, payload.section_id),
        texts=_texts(payload.texts) or {},
        tags=payload.tags,
        products=payload.products,
        visibility=payload.visibility,
        teams=_teams(payload.team_ids),
    )
    return Status(201, article_out(_article(request.user, article.pk), request.user))


@router.get("/knowledge/articles/{article_id}", response=ArticleOut)
def get_article(request: HttpRequest, response: HttpResponse, article_id: int) -> Any:
    article = _article(request.user, article_id)
    services.record_article_view(article=article)
    response["ETag"] = etag_of(article.version)
    return article_out(article, request.user)


@router.patch("/knowledge/articles/{article_id}", response=ArticleOut)
def update_article(
    request: HttpRequest, response: HttpResponse, article_id: int, payload: ArticlePatch
) -> Any:
    article = _article(request.user, article_id)
    data = payload.dict(exclude_unset=True)
    changes: dict[str, Any] = {}
    if "texts" in data:
        changes["texts"] = _texts(payload.texts)
    for field in ("tags", "products", "visibility"):
        if field in data and data[field] is not None:
            changes[field] = data[field]
    if "section_id" in data:
        changes["section"] = _section(request.user, payload.section_id)
    if "team_ids" in data and payload.team_ids is not None:
        changes["teams"] = _teams(payload.team_ids)
    article = services.update_article(
        actor=request.user,
        article=article,
        expected_version=expected_version(request),
        note=payload.note,
        **changes,
    )
    article = _article(request.user, article.pk)
    response["ETag"] = etag_of(article.version)
    return article_out(article, request.user)


def _transition(request: HttpRequest, article_id: int, action: Any) -> Any:
    article = action(actor=request.user, article=_article(request.user, article_id))
    return article_out(_article(request.user, article.pk), request.user)


@router.post("/knowledge/articles/{article_id}/submit", response=ArticleOut)
def submit_article(request: HttpRequest, article_id: int) -> Any:
    return _transition(request, article_id, services.submit_article)


@router.post("/knowledge/articles/{article_id}/publish", response=ArticleOut)
def publish_article(request: HttpRequest, article_id: int) -> Any:
    return _transition(request, article_id, services.publish_article)


@router.post("/knowledge/articles/{article_id}/unpublish", response=ArticleOut)
def unpublish_article(request: HttpRequest, article_id: int) -> Any:
    return _transition(request, article_id, services.return_article_to_draft)


@router.post("/knowledge/articles/{article_id}/verify", response=ArticleOut)
def verify_article(request: HttpRequest, article_id: int) -> Any:
    return _transition(request, article_id, services.verify_article)


@router.get("/knowledge/articles/{article_id}/versions", response=list[RevisionOut])
def list_versions(request: HttpRequest, article_id: int) -> Any:
    article = _article(request.user, article_id)
    authz.require_permission(request.user, "knowledge.change_article", obj=article)
    return list(selectors.revisions_of(article))


@router.get("/knowledge/articles/{article_id}/versions/{number}/diff", response=RevisionDiffOut)
def diff_version(request: HttpRequest, article_id: int, number: int) -> Any:
    article = _article(request.user, article_id)
    authz.require_permission(request.user, "knowledge.change_article", obj=article)
    revisions = selectors.revisions_of(article)
    revision = get_object_or_404(revisions, number=number)
    previous = revisions.filter(number__lt=number).first()
    return {
        "number": number,
        "compared_with": previous.number if previous else None,
        "changes": selectors.revision_diff(previous.content if previous else {}, revision.content),
    }


@router.post("/knowledge/articles/{article_id}/versions/{number}/restore", response=ArticleOut)
def restore_version(request: HttpRequest, article_id: int, number: int) -> Any:
    article = _article(request.user, article_id)
    authz.require_permission(request.user, "knowledge.change_article", obj=article)
    revision = get_object_or_404(selectors.revisions_of(article), number=number)
    article = services.restore_article_revision(
        actor=request.user, article=article, revision=revision
    )
    return article_out(_article(request.user, article.pk), request.user)


@router.post("/knowledge/articles/{article_id}/votes", response={201: VoteOut})
def vote(request: HttpRequest, article_id: int, payload: VoteIn) -> Any:
    article = _article(request.user, article_id)
    services.vote_article(
        actor=request.user, article=article, is_helpful=payload.is_helpful, comment=payload.comment
    )
    article.refresh_from_db(fields=["helpful_count", "not_helpful_count"])
    return Status(
        201,
        {
            "article_id": article.pk,
            "is_helpful": payload.is_helpful,
            "helpful_count": article.helpful_count,
            "not_helpful_count": article.not_helpful_count,
        },
    )


# --- Search ------------------------------------------------------------------------------------


@router.get("/knowledge/search", response=SearchOut)
def search_articles(request: HttpRequest, query: Query[SearchQuery]) -> Any:
    found = services.search_articles(
        viewer=request.user, query=query.q, language=query.language, limit=query.limit
    )
    return {"query": query.q, "items": [search.describe(r) for r in found]}


@router.post("/knowledge/suggest", response=SearchOut)
def suggest(request: HttpRequest, payload: SuggestIn) -> Any:
    """Articles for a ticket's subject and description, or what a customer is typing."""
    found = services.suggest_articles(
        viewer=request.user,
        subject=payload.subject,
        description=payload.description,
        products=payload.products,
        language=payload.language,
        limit=payload.limit,
    )
    return {"query": payload.subject, "items": [search.describe(r) for r in found]}


# --- Tickets -----------------------------------------------------------------------------------


class LinkIn(Schema):
    article_id: int
    method: TicketArticleLink.Method = TicketArticleLink.Method.MANUAL


class LinkOut(Schema):
    id: int
    ticket_id: int
    article_id: int
    title: str
    visibility: str
    method: str
    comment_id: int | None
    linked_by_id: int | None
    created_at: datetime


def link_out(link: TicketArticleLink) -> dict[str, Any]:
    return {
        "id": link.pk,
        "ticket_id": link.ticket_id,
        "article_id": link.article_id,
        "title": str(link.article),
        "visibility": link.article.visibility,
        "method": link.method,
        "comment_id": link.comment_id,
        "linked_by_id": link.linked_by_id,
        "created_at": link.created_at,
    }


def _staff_ticket(user: Any, ticket_id: int) -> Ticket:
    """A ticket the staff reader may see; customers and staff without knowledge get 404."""
    if not selectors.is_staff_reader(user):
        raise NotFound("not_found")
    return get_object_or_404(ticket_selectors.tickets_visible_to(user), pk=ticket_id)


@router.get("/knowledge/tickets/{ticket_id}/articles", response=list[LinkOut])
def list_ticket_links(request: HttpRequest, ticket_id: int) -> Any:
    """The articles used on a ticket that the caller may read, newest first."""
    ticket = _staff_ticket(request.user, ticket_id)
    return [link_out(link) for link in selectors.ticket_links_visible_to(request.user, ticket)]


@router.post("/knowledge/tickets/{ticket_id}/articles", response={200: LinkOut, 201: LinkOut})
def add_ticket_link(request: HttpRequest, ticket_id: int, payload: LinkIn) -> Any:
    """Link an article to a ticket; 200 with the existing link when it was already linked."""
    ticket = _staff_ticket(request.user, ticket_id)
    article = _article(request.user, payload.article_id)
    existed = TicketArticleLink.objects.filter(ticket=ticket, article=article).exists()
    link = services.link_article(
        actor=request.user, ticket=ticket, article=article, method=payload.method
    )
    link = selectors.ticket_links_visible_to(request.user, ticket).get(pk=link.pk)
    return Status(200 if existed else 201, link_out(link))


@router.delete("/knowledge/tickets/{ticket_id}/articles/{link_id}", response={204: None})
def remove_ticket_link(request: HttpRequest, ticket_id: int, link_id: int) -> Any:
    ticket = _staff_ticket(request.user, ticket_id)
    link = get_object_or_404(selectors.ticket_links_visible_to(request.user, ticket), pk=link_id)
    services.unlink_article(actor=request.user, link=link)
    return Status(204, None)


# --- Attachments -------------------------------------------------------------------------------


class AttachmentOut(Schema):
    id: int
    article_id: int
    filename: str
    content_type: str
    size: int
    url: str
    created_at: datetime


def attachment_out(request: HttpRequest, attachment: ArticleAttachment) -> dict[str, Any]:
    return {
        "id": attachment.pk,
        "article_id": attachment.article_id,
        "filename": attachment.filename,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "url": request.build_absolute_uri(
            reverse("knowledge:attachment_download", kwargs={"pk": attachment.pk})
        ),
        "created_at": attachment.created_at,
    }


@router.get("/knowledge/articles/{article_id}/attachments", response=list[AttachmentOut])
def list_attachments(request: HttpRequest, article_id: int) -> Any:
    article = _article(request.user, article_id)
    return [attachment_out(request, a) for a in article.attachments.all()]


@router.post("/knowledge/articles/{article_id}/attachments", response={201: list[AttachmentOut]})
def add_attachments(request: HttpRequest, article_id: int, files: File[list[UploadedFile]]) -> Any:
    """Upload images and files to the article (multipart, field ``files``)."""
    article = _article(request.user, article_id)
    stored = services.add_article_attachments(actor=request.user, article=article, files=files)
    return Status(201, [attachment_out(request, a) for a in stored])


@router.delete("/knowledge/articles/{article_id}/attachments/{attachment_id}", response={204: None})
def delete_attachment(request: HttpRequest, article_id: int, attachment_id: int) -> Any:
    article = _article(request.user, article_id)
    attachment = get_object_or_404(article.attachments.all(), pk=attachment_id)
    services.delete_article_attachment(actor=request.user, attachment=attachment)
    return Status(204, None)
