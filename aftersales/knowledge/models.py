"""The knowledge base: categories and sections per business line, articles in zh-Hans and en,
their revisions, readers' votes, admin-maintained synonyms, the search index and the log of
searches that found nothing."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from aftersales.accounts.models import BusinessLine, Team


class Category(models.Model):
    """A top-level shelf of one business line's knowledge ("洗衣机", "Installation")."""

    business_line = models.ForeignKey(
        BusinessLine, on_delete=models.PROTECT, related_name="knowledge_categories"
    )
    name_zh = models.CharField(max_length=100)
    name_en = models.CharField(max_length=100)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["business_line_id", "position", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["business_line", "name_zh"], name="knowledge_category_unique_name"
            )
        ]

    def __str__(self) -> str:
        return self.name_zh


class Section(models.Model):
    """A group of articles inside a category ("故障代码", "Warranty")."""

    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="sections")
    name_zh = models.CharField(max_length=100)
    name_en = models.CharField(max_length=100)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["category_id", "position", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["category", "name_zh"], name="knowledge_section_unique_name"
            )
        ]

    def __str__(self) -> str:
        return self.name_zh


class Article(models.Model):
    """One piece of knowledge, written in one or both languages (see :class:`ArticleText`).

    Invariants: only a published article is ever shown to a customer, and only when its
    visibility is public; a restricted article reaches only staff of its teams (and "all"
    grants). ``business_line`` follows the section's category so data scopes apply.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        IN_REVIEW = "in_review", _("In review")
        PUBLISHED = "published", _("Published")
        ARCHIVED = "archived", _("Archived")

    class Visibility(models.TextChoices):
        PUBLIC = "public", _("Public")
        INTERNAL = "internal", _("Internal")
        RESTRICTED = "restricted", _("Restricted to teams")

    business_line = models.ForeignKey(
        BusinessLine, on_delete=models.PROTECT, related_name="knowledge_articles"
    )
    section = models.ForeignKey(
        Section, on_delete=models.PROTECT, null=True, blank=True, related_name="articles"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    visibility = models.CharField(
        max_length=20, choices=Visibility.choices, default=Visibility.INTERNAL
    )
    teams = models.ManyToManyField(Team, blank=True, related_name="knowledge_articles")
    tags = models.JSONField(default=list, blank=True)
    products = models.JSONField(default=list, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="knowledge_articles_written",
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="knowledge_articles_reviewed",
    )
    published_at = models.DateTimeField(null=True, blank=True)
    last_verified_at = models.DateTimeField(null=True, blank=True)
    verify_reminded_at = models.DateTimeField(null=True, blank=True)
    helpful_count = models.PositiveIntegerField(default=0)
    not_helpful_count = models.PositiveIntegerField(default=0)
    view_count = models.PositiveIntegerField(default=0)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-pk"]
        indexes = [models.Index(fields=["status", "visibility"], name="knowledge_article_status")]

    def __str__(self) -> str:
        text = self.texts.all()[0] if self.texts.all() else None
        return text.title if text is not None else f"#{self.pk}"

    @property
    def usefulness(self) -> int:
        return self.helpful_count - self.not_helpful_count


class ArticleText(models.Model):
    """The article in one language: title and sanitised HTML body (and its plain text)."""

    class Language(models.TextChoices):
        ZH_HANS = "zh-hans", _("Chinese (simplified)")
        EN = "en", _("English")

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="texts")
    language = models.CharField(max_length=10, choices=Language.choices)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    body_text = models.TextField(blank=True)

    class Meta:
        ordering = ["article_id", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["article", "language"], name="knowledge_text_one_per_language"
            )
        ]

    def __str__(self) -> str:
        return self.title


class ArticleRevision(models.Model):
    """A saved state of an article (texts, tags, products, visibility), one per change;
    restoring copies a revision's content into a new revision, so history only grows."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    content = models.JSONField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["article_id", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["article", "number"], name="knowledge_revision_unique_number"
            )
        ]

    def __str__(self) -> str:
        return f"{self.article_id} v{self.number}"


class ArticleVote(models.Model):
    """A reader's "did this help?", with an optional comment; one per signed-in reader."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="votes")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, related_name="+"
    )
    is_helpful = models.BooleanField()
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["article", "user"],
                condition=Q(user__isnull=False),
                name="knowledge_vote_one_per_user",
            )
        ]

    def __str__(self) -> str:
        return f"{self.article_id}: {self.is_helpful}"


class Deflection(models.Model):
    """A customer read an article while about to ask for help and said it solved the problem,
    so no request was filed (a "self-service deflection"). ``query`` is what they had typed."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="deflections")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    query = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["article", "created_at"], name="knowledge_deflection_idx")]

    def __str__(self) -> str:
        return f"{self.article_id} @ {self.created_at:%Y-%m-%d}"


class Synonym(models.Model):
    """Words the admin declares equal for search (不开机 = 无法启动 = 开不了机)."""

    terms = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return " = ".join(self.terms)


class SearchEntry(models.Model):
    """The search index of one article text: normalised terms per field (title > tags > body)
    and raw text for substring matching. Written only by :mod:`aftersales.knowledge.search`,
    from the services; on SQLite it is mirrored into FTS5 tables of the same row ids."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="+")
    language = models.CharField(max_length=10)
    title_terms = models.TextField()
    tag_terms = models.TextField()
    body_terms = models.TextField()
    initials = models.TextField(blank=True)
    title_raw = models.TextField()
    body_raw = models.TextField()

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["article", "language"], name="knowledge_entry_one_per_text"
            )
        ]

    def __str__(self) -> str:
        return self.title_raw


class SearchLog(models.Model):
    """A search that found nothing, so managers see which knowledge is missing."""

    query = models.CharField(max_length=200)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    is_customer = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.query


def article_content(article: Article) -> dict[str, Any]:
    """The revisable content of an article, as stored in :class:`ArticleRevision`."""
    return {
        "texts": {
            text.language: {"title": text.title, "body": text.body} for text in article.texts.all()
        },
        "tags": list(article.tags),
        "products": list(article.products),
        "visibility": article.visibility,
        "section_id": article.section_id,
        "team_ids": sorted(team.pk for team in article.teams.all()),
    }


class TicketArticleLink(models.Model):
    """An article used on a ticket: inserted into a reply (as a link or as text), linked by
    hand, or written from the ticket's resolution. One row per ticket and article (the first
    use); "used in N tickets" on the article counts these."""

    class Method(models.TextChoices):
        INSERTED_LINK = "inserted_link", _("Inserted as a link")
        INSERTED_TEXT = "inserted_text", _("Inserted as text")
        MANUAL = "manual", _("Linked by hand")
        SOURCE = "source", _("Written from this ticket")

    ticket = models.ForeignKey(
        "tickets.Ticket", on_delete=models.CASCADE, related_name="knowledge_links"
    )
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="ticket_links")
    method = models.CharField(max_length=20, choices=Method.choices)
    comment = models.ForeignKey(
        "tickets.Comment", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    linked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["ticket", "article"], name="knowledge_link_one_per_ticket"
            )
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id} → {self.article_id}"


def attachment_path(instance: ArticleAttachment, filename: str) -> str:
    # The stored name never reuses what the uploader called the file.
    return f"knowledge/{timezone.now():%Y/%m}/{uuid.uuid4().hex}"


class ArticleAttachment(models.Model):
    """An image or file of an article, served only through the article's visibility check
    (a public article's files to anyone who may read it, an internal one's never to
    customers), never as a static file."""

    IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=attachment_path, max_length=200)
    filename = models.CharField(_("file name"), max_length=255)
    content_type = models.CharField(max_length=120)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return self.filename

    @property
    def is_image(self) -> bool:
        return self.content_type in self.IMAGE_TYPES
