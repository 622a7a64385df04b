"""Use cases of the knowledge base. Every write to categories, sections, articles, their texts
and revisions, votes, synonyms and the search index happens here."""

from __future__ import annotations

import hashlib
import mimetypes
import re
from collections.abc import Sequence
from datetime import timedelta
from pathlib import PurePath
from typing import Any

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from aftersales.accounts import authz
from aftersales.accounts.models import BusinessLine, Team
from aftersales.audit import services as audit
from aftersales.audit.models import AuditEntry
from aftersales.core import richtext
from aftersales.core.errors import Conflict, DomainError, NotFound, PermissionDenied
from aftersales.knowledge import search, selectors
from aftersales.knowledge.models import (
    Article,
    ArticleAttachment,
    ArticleRevision,
    ArticleText,
    ArticleVote,
    Category,
    Deflection,
    SearchLog,
    Section,
    Synonym,
    TicketArticleLink,
    article_content,
)
from aftersales.outbox import services as outbox
from aftersales.tickets import selectors as ticket_selectors
from aftersales.tickets.models import Comment, Ticket
from aftersales.tickets.permissions import ADD_NOTE, CHANGE_TICKET, REPLY_TICKET
from aftersales.tickets.services import conversation as ticket_files

Action = AuditEntry.Action
Status = Article.Status
Visibility = Article.Visibility
LANGUAGES = tuple(ArticleText.Language.values)
MAX_TAGS = 30
MAX_TAG_LENGTH = 40
MAX_TITLE_LENGTH = 200
MAX_BODY_LENGTH = 200_000
MAX_QUERY_LENGTH = 200


def verify_after() -> timedelta:
    """How long a verification holds before the article is due again (default 180 days)."""
    return timedelta(days=getattr(settings, "KNOWLEDGE_VERIFY_AFTER_DAYS", 180))


# --- Checks -----------------------------------------------------------------------------------


def _text(value: Any, field: str, max_length: int, *, required: bool = True) -> str:
    if not isinstance(value, str) or (required and not value.strip()):
        raise DomainError("required", field=field, message=_("This field is required."))
    value = value.strip()
    if len(value) > max_length:
        raise DomainError(
            "too_long",
            field=field,
            message=_("Enter at most %(max_length)s characters."),
            params={"max_length": max_length},
        )
    return value


def clean_labels(value: Any, field: str) -> list[str]:
    """Trimmed, de-duplicated tags (or product codes) in their given order."""
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise DomainError("invalid", field=field, message=_("Enter a list of labels."))
    labels: list[str] = []
    for label in (v.strip() for v in value):
        if not label:
            continue
        if len(label) > MAX_TAG_LENGTH:
            raise DomainError(
                "tag_too_long",
                field=field,
                message=_("A label has at most %(max_length)s characters."),
                params={"max_length": MAX_TAG_LENGTH},
            )
        if label not in labels:
            labels.append(label)
    if len(labels) > MAX_TAGS:
        raise DomainError(
            "too_many_tags",
            field=field,
            message=_("Enter at most %(count)s labels."),
            params={"count": MAX_TAGS},
        )
    return labels


def clean_texts(value: Any) -> dict[str, dict[str, str]]:
    """``{"zh-hans": {"title": …, "body": …}, "en": {…}}``: at least one language, each with
    a title; bodies sanitised (HTML or plain text)."""
    if not isinstance(value, dict) or not value:
        raise DomainError(
            "required", field="texts", message=_("Write the article in at least one language.")
        )
    texts: dict[str, dict[str, str]] = {}
    for language, content in value.items():
        if language not in LANGUAGES:
            raise DomainError(
                "invalid_language",
                field=f"texts.{language}",
                message=_("Choose zh-hans or en."),
            )
        if not isinstance(content, dict):
            raise DomainError("invalid", field=f"texts.{language}", message=_("Enter a text."))
        title = _text(content.get("title"), f"texts.{language}.title", MAX_TITLE_LENGTH)
        body = _text(
            content.get("body", ""), f"texts.{language}.body", MAX_BODY_LENGTH, required=False
        )
        texts[language] = {"title": title, "body": richtext.clean_input(body) if body else ""}
    return texts


def _check_section(actor: Any, section: Section | None, line: BusinessLine) -> None:
    if section is not None and section.category.business_line_id != line.pk:
        raise DomainError(
            "invalid_section",
            field="section",
            message=_("Choose a section of the article's business line."),
        )


def _check_reach(actor: Any, codename: str, line: BusinessLine) -> None:
    scope = authz.scope_for(actor, codename)
    if scope is None:
        raise PermissionDenied("permission_denied", params={"permission": codename})
    if scope == authz.Scope.ALL:
        return
    reachable = set(authz.business_line_ids(actor))
    if line.pk not in reachable:
        raise PermissionDenied(
            "outside_scope",
            field="business_line",
            message=_("Choose a business line within your reach."),
        )


def _check_teams(teams: list[Team], line: BusinessLine, visibility: str) -> None:
    if visibility == Visibility.RESTRICTED and not teams:
        raise DomainError(
            "teams_required",
            field="team_ids",
            message=_("Name the teams a restricted article is shown to."),
        )
    for team in teams:
        if not team.is_active:
            raise DomainError("invalid_team", field="team_ids", message=_("Choose active teams."))


def _check_visibility(visibility: Any) -> str:
    if visibility not in Visibility.values:
        raise DomainError(
            "invalid", field="visibility", message=_("Choose public, internal or restricted.")
        )
    return str(visibility)


def _check_version(article: Article, expected: int | None) -> None:
    if expected is not None and article.version != expected:
        raise Conflict("version_mismatch", field="version")


# --- Categories and sections ------------------------------------------------------------------


@transaction.atomic
def create_category(
    *, actor: Any, business_line: BusinessLine, name_zh: str, name_en: str, position: int = 0
) -> Category:
    """A shelf of one business line; needs ``knowledge.configure_category`` reaching the line."""
    _check_reach(actor, "knowledge.configure_category", business_line)
    name_zh = _text(name_zh, "name_zh", 100)
    if Category.objects.filter(business_line=business_line, name_zh=name_zh).exists():
        raise DomainError("name_taken", field="name_zh", message=_("This name is already used."))
    category = Category.objects.create(
        business_line=business_line,
        name_zh=name_zh,
        name_en=_text(name_en, "name_en", 100),
        position=position,
    )
    audit.record(actor=actor, action=Action.CREATED, obj=category, after=audit.snapshot(category))
    outbox.emit("knowledge_category.created", category, actor=actor)
    return category


@transaction.atomic
def create_section(
    *, actor: Any, category: Category, name_zh: str, name_en: str, position: int = 0
) -> Section:
    _check_reach(actor, "knowledge.configure_category", category.business_line)
    name_zh = _text(name_zh, "name_zh", 100)
    if Section.objects.filter(category=category, name_zh=name_zh).exists():
        raise DomainError("name_taken", field="name_zh", message=_("This name is already used."))
    section = Section.objects.create(
        category=category,
        name_zh=name_zh,
        name_en=_text(name_en, "name_en", 100),
        position=position,
    )
    audit.record(actor=actor, action=Action.CREATED, obj=section, after=audit.snapshot(section))
    outbox.emit("knowledge_section.created", section, actor=actor)
    return section


# --- Articles ---------------------------------------------------------------------------------


def _write_texts(article: Article, texts: dict[str, dict[str, str]]) -> None:
    existing = {t.language: t for t in article.texts.all()}
    for language, content in texts.items():
        current = existing.pop(language, None)
        body_text = richtext.to_plain_text(content["body"])
        if current is None:
            ArticleText.objects.create(
                article=article,
                language=language,
                title=content["title"],
                body=content["body"],
                body_text=body_text,
            )
        elif (current.title, current.body) != (content["title"], content["body"]):
            current.title, current.body, current.body_text = (
                content["title"],
                content["body"],
                body_text,
            )
            current.save(update_fields=["title", "body", "body_text"])
    for stale in existing.values():
        stale.delete()
    if hasattr(article, "_prefetched_objects_cache"):
        article._prefetched_objects_cache.pop("texts", None)


def _revise(article: Article, actor: Any, note: str = "") -> ArticleRevision:
    last = article.revisions.order_by("-number").values_list("number", flat=True).first()
    return ArticleRevision.objects.create(
        article=article,
        number=(last or 0) + 1,
        content=article_content(article),
        author=actor,
        note=note[:200],
    )


@transaction.atomic
def create_article(
    *,
    actor: Any,
    business_line: BusinessLine,
    texts: dict[str, dict[str, str]],
    section: Section | None = None,
    tags: list[str] | None = None,
    products: list[str] | None = None,
    visibility: str = Visibility.INTERNAL,
    teams: list[Team] | None = None,
    source_ticket: Ticket | None = None,
    files: Sequence[Any] = (),
) -> Article:
    """Write a draft; it is searchable by staff at once and by customers once published.
    ``source_ticket``: the ticket whose resolution it was written from, linked back to it."""
    _check_reach(actor, "knowledge.add_article", business_line)
    if source_ticket is not None:
        _check_ticket(actor, source_ticket)
    cleaned = clean_texts(texts)
    _check_section(actor, section, business_line)
    visibility = _check_visibility(visibility)
    teams = list(teams or [])
    _check_teams(teams, business_line, visibility)
    _check_files(None, files)
    article = Article.objects.create(
        business_line=business_line,
        section=section,
        visibility=visibility,
        tags=clean_labels(tags or [], "tags"),
        products=clean_labels(products or [], "products"),
        author=actor,
    )
    article.teams.set(teams)
    _write_texts(article, cleaned)
    revision = _revise(article, actor)
    search.index_articles([article])
    audit.record(actor=actor, action=Action.CREATED, obj=article, after=revision.content)
    outbox.emit("article.created", article, actor=actor)
    _attach(article, files, actor)
    if source_ticket is not None:
        link_article(actor=actor, ticket=source_ticket, article=article, method=LinkMethod.SOURCE)
    return article


@transaction.atomic
def update_article(
    *,
    actor: Any,
    article: Article,
    expected_version: int | None = None,
    note: str = "",
    files: Sequence[Any] = (),
    **changes: Any,
) -> Article:
    """Change texts, labels, section, visibility or teams; each change is a new revision.
    Editing a published article keeps it published (the edit is live and audited). New
    ``files`` are attached alongside (files are not part of the revisions)."""
    authz.require_permission(actor, "knowledge.change_article", obj=article)
    article = Article.objects.select_for_update().get(pk=article.pk)
    _check_version(article, expected_version)
    _check_files(article, files)
    _attach(article, files, actor)
    before = article_content(article)
    fields: list[str] = []
    if "texts" in changes:
        merged = {**before["texts"], **clean_texts(changes.pop("texts"))}
        _write_texts(article, merged)
    if "tags" in changes:
        article.tags = clean_labels(changes.pop("tags"), "tags")
        fields.append("tags")
    if "products" in changes:
        article.products = clean_labels(changes.pop("products"), "products")
        fields.append("products")
    if "visibility" in changes:
        article.visibility = _check_visibility(changes.pop("visibility"))
        fields.append("visibility")
    if "section" in changes:
        section = changes.pop("section")
        _check_section(actor, section, article.business_line)
        article.section = section
        fields.append("section")
    teams = changes.pop("teams", None)
    if changes:
        raise DomainError("invalid", field=next(iter(changes)), message=_("Unknown field."))
    current_teams = list(article.teams.all()) if teams is None else list(teams)
    _check_teams(current_teams, article.business_line, article.visibility)
    if teams is not None:
        article.teams.set(teams)
    after = article_content(article)
    if after == before:
        return article
    article.version = F("version") + 1
    article.save(update_fields=[*fields, "version", "updated_at"])
    article.refresh_from_db(fields=["version", "updated_at"])
    _revise(article, actor, note)
    search.index_articles([article])
    changed_before, changed_after = audit.diff(before, after)
    audit.record(
        actor=actor, action=Action.UPDATED, obj=article, before=changed_before, after=changed_after
    )
    outbox.emit("article.updated", article, actor=actor)
    return article


def _transition(
    article: Article, actor: Any, to: str, allowed_from: tuple[str, ...], verb: str
) -> Article:
    if article.status not in allowed_from:
        raise DomainError(
            "invalid_transition",
            field="status",
            message=_("The article cannot move from %(status)s to %(target)s."),
            params={"status": article.get_status_display(), "target": Status(to).label},
        )
    before = article.status
    article.status = to
    fields = ["status", "version", "updated_at"]
    now = timezone.now()
    if to == Status.PUBLISHED:
        article.reviewer = actor
        article.published_at = now
        article.last_verified_at = now
        article.verify_reminded_at = None
        fields += ["reviewer", "published_at", "last_verified_at", "verify_reminded_at"]
    article.version = F("version") + 1
    article.save(update_fields=fields)
    article.refresh_from_db(fields=["version", "updated_at"])
    audit.record(
        actor=actor,
        action=Action.UPDATED,
        obj=article,
        verb=verb,
        before={"status": before},
        after={"status": to},
    )
    outbox.emit(f"article.{verb}", article, actor=actor)
    return article


@transaction.atomic
def submit_article(*, actor: Any, article: Article) -> Article:
    """Ask for review: draft → in review."""
    authz.require_permission(actor, "knowledge.change_article", obj=article)
    article = Article.objects.select_for_update().get(pk=article.pk)
    return _transition(article, actor, Status.IN_REVIEW, (Status.DRAFT,), "submitted")


@transaction.atomic
def publish_article(*, actor: Any, article: Article) -> Article:
    """Publish after review (or directly from a draft, for those who may publish): the actor
    becomes the reviewer and the article counts as verified today."""
    authz.require_permission(actor, "knowledge.publish_article", obj=article)
    article = Article.objects.select_for_update().get(pk=article.pk)
    return _transition(
        article, actor, Status.PUBLISHED, (Status.DRAFT, Status.IN_REVIEW), "published"
    )


@transaction.atomic
def return_article_to_draft(*, actor: Any, article: Article) -> Article:
    """Send back from review, or take a published article off the shelves."""
    authz.require_permission(actor, "knowledge.publish_article", obj=article)
    article = Article.objects.select_for_update().get(pk=article.pk)
    return _transition(
        article, actor, Status.DRAFT, (Status.IN_REVIEW, Status.PUBLISHED), "unpublished"
    )


@transaction.atomic
def verify_article(*, actor: Any, article: Article) -> Article:
    """Confirm the article is still right; resets the re-verification clock."""
    authz.require_permission(actor, "knowledge.change_article", obj=article)
    article.last_verified_at = timezone.now()
    article.verify_reminded_at = None
    article.save(update_fields=["last_verified_at", "verify_reminded_at"])
    audit.record(
        actor=actor,
        action=Action.UPDATED,
        obj=article,
        verb="verified",
        after={"last_verified_at": article.last_verified_at},
    )
    outbox.emit("article.verified", article, actor=actor)
    return article


@transaction.atomic
def restore_article_revision(*, actor: Any, article: Article, revision: ArticleRevision) -> Article:
    """Bring back an older revision's content as a new revision (history is never rewritten)."""
    authz.require_permission(actor, "knowledge.change_article", obj=article)
    if revision.article_id != article.pk:
        raise DomainError("invalid_revision", field="revision", message=_("Unknown revision."))
    content = revision.content
    teams = list(Team.objects.filter(pk__in=content.get("team_ids", [])))
    section = Section.objects.filter(pk=content.get("section_id")).first()
    article = Article.objects.get(pk=article.pk)
    current_texts = {t.language for t in article.texts.all()}
    texts = dict(content["texts"])
    restored = update_article(
        actor=actor,
        article=article,
        note=str(_("Restored revision %(number)s") % {"number": revision.number}),
        texts=texts,
        tags=content.get("tags", []),
        products=content.get("products", []),
        visibility=content.get("visibility", Visibility.INTERNAL),
        section=section,
        teams=teams,
    )
    # A language added after the revision goes away again with the restore.
    for language in current_texts - set(texts):
        ArticleText.objects.filter(article=restored, language=language).delete()
    search.index_articles([restored])
    outbox.emit("article.restored", restored, actor=actor, payload={"revision": revision.number})
    return restored


# --- Readers ------------------------------------------------------------------------------------


@transaction.atomic
def vote_article(
    *, actor: Any, article: Article, is_helpful: bool, comment: str = ""
) -> ArticleVote:
    """A reader's "did this help?". A signed-in reader has one vote per article (voting again
    replaces it); the counters on the article follow with ``F()``."""
    if not selectors.articles_visible_to(actor).filter(pk=article.pk).exists():
        raise NotFound("not_found")
    comment = _text(comment, "comment", 2000, required=False)
    user = actor if getattr(actor, "is_authenticated", False) else None
    previous = (
        ArticleVote.objects.select_for_update().filter(article=article, user=user).first()
        if user is not None
        else None
    )
    counters: dict[str, Any] = {}
    if previous is not None:
        if previous.is_helpful != is_helpful:
            old = "helpful_count" if previous.is_helpful else "not_helpful_count"
            counters[old] = F(old) - 1
            new = "helpful_count" if is_helpful else "not_helpful_count"
            counters[new] = F(new) + 1
        previous.is_helpful, previous.comment = is_helpful, comment
        previous.save(update_fields=["is_helpful", "comment"])
        vote = previous
    else:
        vote = ArticleVote.objects.create(
            article=article, user=user, is_helpful=is_helpful, comment=comment
        )
        field = "helpful_count" if is_helpful else "not_helpful_count"
        counters[field] = F(field) + 1
    if counters:
        Article.objects.filter(pk=article.pk).update(**counters)
    audit.record(
        actor=actor,
        action=Action.CREATED,
        obj=vote,
        after={"article": article.pk, "is_helpful": is_helpful},
    )
    outbox.emit("article.voted", article, actor=actor, payload={"is_helpful": is_helpful})
    return vote


@transaction.atomic
def record_deflection(*, actor: Any, article: Article, query: str = "") -> Deflection:
    """The reader says the article solved what they were about to ask us: count it as helpful
    and as a request that was never needed. Only for articles the reader may see."""
    if not selectors.articles_visible_to(actor).filter(pk=article.pk).exists():
        raise NotFound("not_found")
    vote_article(actor=actor, article=article, is_helpful=True)
    user = actor if getattr(actor, "is_authenticated", False) else None
    deflection = Deflection.objects.create(
        article=article, user=user, query=str(query or "").strip()[:500]
    )
    outbox.emit("article.deflected", article, actor=actor, payload={"deflection_id": deflection.pk})
    return deflection


def record_article_view(*, article: Article) -> None:
    """Count one view. Not audited and no event: views are a statistic, not a change."""
    Article.objects.filter(pk=article.pk).update(view_count=F("view_count") + 1)


def search_articles(
    *, viewer: Any, query: str, language: str = "", limit: int = 20
) -> list[search.Result]:
    """Search what ``viewer`` may see; a search that finds nothing is logged for managers."""
    query = (query or "").strip()[:MAX_QUERY_LENGTH]
    if not query:
        return []
    parsed = search.parse(query, language=language)
    found = search.results(parsed, visible=selectors.articles_visible_to(viewer), limit=limit)
    if not found:
        user = viewer if getattr(viewer, "is_authenticated", False) else None
        SearchLog.objects.create(
            query=query,
            user=user,
            is_customer=not selectors.is_staff_reader(viewer),
        )
    return found


def suggest_articles(
    *,
    viewer: Any,
    subject: str = "",
    description: str = "",
    products: list[str] | None = None,
    language: str = "",
    limit: int = 5,
) -> list[search.Result]:
    """Articles matching a ticket's subject, description and products, or what a customer is
    typing on the portal; the subject weighs double. Nothing is logged (it is not a search)."""
    text = " ".join([subject, subject, description[:500], *(products or [])]).strip()
    if not text:
        return []
    parsed = search.parse(text[: MAX_QUERY_LENGTH * 4], language=language)
    return search.results(parsed, visible=selectors.articles_visible_to(viewer), limit=limit)


# --- Synonyms -----------------------------------------------------------------------------------


@transaction.atomic
def create_synonym(*, actor: Any, terms: list[str]) -> Synonym:
    """Declare words equal for search (不开机 = 无法启动); takes effect for the next query."""
    authz.require_permission(actor, "knowledge.configure_synonym")
    cleaned = clean_labels(terms, "terms")
    if len(cleaned) < 2:
        raise DomainError("too_few_terms", field="terms", message=_("Enter at least two words."))
    synonym = Synonym.objects.create(terms=cleaned)
    audit.record(actor=actor, action=Action.CREATED, obj=synonym, after={"terms": cleaned})
    outbox.emit("knowledge_synonym.created", synonym, actor=actor)
    transaction.on_commit(search.forget_synonyms)
    return synonym


@transaction.atomic
def delete_synonym(*, actor: Any, synonym: Synonym) -> None:
    authz.require_permission(actor, "knowledge.configure_synonym")
    audit.record(actor=actor, action=Action.DELETED, obj=synonym, before={"terms": synonym.terms})
    outbox.emit("knowledge_synonym.deleted", synonym, actor=actor)
    synonym.delete()
    transaction.on_commit(search.forget_synonyms)


# --- Tickets ----------------------------------------------------------------------------------

LinkMethod = TicketArticleLink.Method
# What the reply form carries for each article put into the message: "12:link,15:text".
_INSERTED = re.compile(r"^(\d{1,12}):(link|text)$")


def _check_ticket(actor: Any, ticket: Ticket) -> None:
    """Staff who work the ticket (reply, note or change) and read the knowledge base."""
    if not ticket_selectors.tickets_visible_to(actor).filter(pk=ticket.pk).exists():
        raise NotFound("not_found", field="ticket")
    if not selectors.is_staff_reader(actor) or not any(
        authz.has_permission(actor, codename, ticket)
        for codename in (REPLY_TICKET, ADD_NOTE, CHANGE_TICKET)
    ):
        raise PermissionDenied("permission_denied", params={"permission": REPLY_TICKET})


@transaction.atomic
def link_article(
    *,
    actor: Any,
    ticket: Ticket,
    article: Article,
    method: str = LinkMethod.MANUAL,
    comment: Comment | None = None,
) -> TicketArticleLink:
    """Record that ``article`` was used on ``ticket`` (how, by whom, in which message). An
    article already linked to the ticket keeps its first link: no new row and no event."""
    _check_ticket(actor, ticket)
    if not selectors.articles_visible_to(actor).filter(pk=article.pk).exists():
        raise NotFound("not_found", field="article_id")
    if method not in LinkMethod.values:
        raise DomainError("invalid", field="method", message=_("Choose how the article was used."))
    link, created = TicketArticleLink.objects.get_or_create(
        ticket=ticket,
        article=article,
        defaults={"method": method, "linked_by": actor, "comment": comment},
    )
    if created:
        audit.record(
            actor=actor,
            action=Action.CREATED,
            obj=link,
            after={"ticket": ticket.pk, "article": article.pk, "method": method},
        )
        outbox.emit(
            "article.linked",
            article,
            actor=actor,
            payload={
                "ticket_id": ticket.pk,
                "ticket_number": ticket.number,
                "method": method,
                "comment_id": comment.pk if comment is not None else None,
            },
        )
    return link


@transaction.atomic
def unlink_article(*, actor: Any, link: TicketArticleLink) -> None:
    """Take a wrongly linked article off the ticket (who linked it, or who changes tickets)."""
    _check_ticket(actor, link.ticket)
    if link.linked_by_id != actor.pk:
        authz.require_permission(actor, CHANGE_TICKET, obj=link.ticket)
    audit.record(
        actor=actor,
        action=Action.DELETED,
        obj=link,
        before={"ticket": link.ticket_id, "article": link.article_id, "method": link.method},
    )
    outbox.emit(
        "article.unlinked", link.article, actor=actor, payload={"ticket_id": link.ticket_id}
    )
    link.delete()


def parse_inserted(value: str) -> list[tuple[int, str]]:
    """``"12:link,15:text"`` → ``[(12, "link"), (15, "text")]``; malformed parts dropped."""
    parsed: list[tuple[int, str]] = []
    for part in (value or "").split(",")[:50]:
        match = _INSERTED.match(part.strip())
        if match and (int(match[1]), match[2]) not in parsed:
            parsed.append((int(match[1]), match[2]))
    return parsed


def record_inserted_articles(
    *, actor: Any, ticket: Ticket, comment: Comment, inserted: str
) -> list[TicketArticleLink]:
    """After a reply or note was sent: link the articles put into it from the suggestions.

    The message is already sent, so what cannot be recorded is left out rather than refused:
    an id the sender may not see, a link taken out of the message before sending, or a link
    to an article a customer cannot open in a public reply (the panel never offers that).
    """
    parsed = parse_inserted(inserted)
    if not parsed or not selectors.is_staff_reader(actor):
        return []
    links: list[TicketArticleLink] = []
    visible = selectors.articles_visible_to(actor)
    for pk, how in parsed:
        article = visible.filter(pk=pk).first()
        if article is None:
            continue
        method = LinkMethod.INSERTED_TEXT
        if how == "link":
            if f"/portal/help/{pk}/" not in comment.body:
                continue
            if comment.is_public and not selectors.public_articles().filter(pk=pk).exists():
                continue
            method = LinkMethod.INSERTED_LINK
        link = link_article(
            actor=actor, ticket=ticket, article=article, method=method, comment=comment
        )
        links.append(link)
    return links


# --- Attachments --------------------------------------------------------------------------------

MAX_ATTACHMENTS = 50


def _store_attachment(article: Article, upload: Any, actor: Any) -> ArticleAttachment:
    hasher = hashlib.sha256()
    for chunk in upload.chunks():
        hasher.update(chunk)
    name = PurePath((upload.name or "file").replace("\\", "/")).name[:255]
    attachment = ArticleAttachment(
        article=article,
        filename=name,
        content_type=mimetypes.guess_type(name)[0] or "application/octet-stream",
        size=upload.size or 0,
        sha256=hasher.hexdigest(),
        uploaded_by=actor,
    )
    if hasattr(upload, "seek"):
        upload.seek(0)
    # The stored name is random (see models.attachment_path); the file's name stays in the row.
    attachment.file.save(name, upload if isinstance(upload, File) else File(upload), save=False)
    attachment.save(force_insert=True)
    return attachment


def _check_files(article: Article | None, files: Sequence[Any]) -> None:
    """At most :data:`MAX_ATTACHMENTS` per article, each checked like a ticket's files."""
    existing = article.attachments.count() if article is not None and files else 0
    if existing + len(files) > MAX_ATTACHMENTS:
        raise DomainError(
            "too_many_files",
            field="attachments",
            message=_("An article has at most %(count)s files."),
            params={"count": MAX_ATTACHMENTS},
        )
    for upload in files:
        try:
            ticket_files.check_upload(upload)
        except DomainError as error:
            error.field = "attachments"
            raise


def _attach(article: Article, files: Sequence[Any], actor: Any) -> list[ArticleAttachment]:
    """Store checked uploads, audit each and announce them together (nothing when none)."""
    stored = [_store_attachment(article, upload, actor) for upload in files]
    for attachment in stored:
        audit.record(
            actor=actor,
            action=Action.CREATED,
            obj=attachment,
            after={"article": article.pk, "filename": attachment.filename, "size": attachment.size},
        )
    if stored:
        outbox.emit(
            "article.attachments_added",
            article,
            actor=actor,
            payload={"attachment_ids": [a.pk for a in stored]},
        )
    return stored


@transaction.atomic
def add_article_attachments(
    *, actor: Any, article: Article, files: Sequence[Any]
) -> list[ArticleAttachment]:
    """Images and files of an article, checked like ticket files (size, type) and stored
    under random names; they are shown to whoever may read the article."""
    authz.require_permission(actor, "knowledge.change_article", obj=article)
    if not files:
        raise DomainError("required", field="attachments", message=_("Choose a file."))
    _check_files(article, files)
    return _attach(article, files, actor)


@transaction.atomic
def delete_article_attachment(*, actor: Any, attachment: ArticleAttachment) -> None:
    """Remove a file from the article; the stored file goes once the removal is committed."""
    authz.require_permission(actor, "knowledge.change_article", obj=attachment.article)
    audit.record(
        actor=actor,
        action=Action.DELETED,
        obj=attachment,
        before={"article": attachment.article_id, "filename": attachment.filename},
    )
    outbox.emit(
        "article.attachment_deleted",
        attachment.article,
        actor=actor,
        payload={"attachment_id": attachment.pk, "filename": attachment.filename},
    )
    stored, storage = attachment.file.name, attachment.file.storage
    attachment.delete()
    transaction.on_commit(lambda: storage.delete(stored))


# --- Periodic -----------------------------------------------------------------------------------


@transaction.atomic
def remind_stale_articles() -> int:
    """Announce ``article.verification_due`` once for each published article whose last
    verification is older than :func:`verify_after`; the owner's notification subscribes."""
    cutoff = timezone.now() - verify_after()
    due = list(
        Article.objects.select_for_update(skip_locked=True).filter(
            status=Status.PUBLISHED, last_verified_at__lt=cutoff, verify_reminded_at__isnull=True
        )[:500]
    )
    now = timezone.now()
    for article in due:
        article.verify_reminded_at = now
        article.save(update_fields=["verify_reminded_at"])
        outbox.emit(
            "article.verification_due",
            article,
            payload={
                "author_id": article.author_id,
                "last_verified_at": str(article.last_verified_at),
            },
        )
    return len(due)


def rebuild_index(*, batch: int = 500) -> int:
    """Re-index every article (after a change of method or backend); returns the count."""
    engine = search.backend()
    engine.clear()
    count = 0
    queryset = Article.objects.order_by("pk").prefetch_related("texts")
    for start in range(0, queryset.count(), batch):
        chunk = list(queryset[start : start + batch])
        engine.index(search.documents_of(chunk))
        count += len(chunk)
    return count
