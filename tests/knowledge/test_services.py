"""Knowledge services: the stale-article reminder, revisions and restore, synonyms, votes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from aftersales.core.errors import DomainError, PermissionDenied
from aftersales.knowledge import services
from aftersales.knowledge.models import Article, ArticleText, Synonym
from aftersales.outbox import scheduler
from aftersales.outbox.models import OutboxEvent


def test_reminder_is_registered_as_a_periodic_job() -> None:
    job = scheduler.jobs()["knowledge.remind_stale_articles"]
    assert job.every == timedelta(hours=6)


def test_stale_published_article_is_announced_once(
    world: dict[str, Any], make_article: Callable[..., Article]
) -> None:
    # given
    with time_machine.travel(timezone.now() - timedelta(days=200), tick=False):
        stale = make_article("旧文章")
    make_article("新文章")
    # when
    first = services.remind_stale_articles()
    second = services.remind_stale_articles()
    # then
    assert (first, second) == (1, 0)
    assert list(
        OutboxEvent.objects.filter(topic="article.verification_due").values_list(
            "object_id", flat=True
        )
    ) == [str(stale.pk)]


def test_verifying_resets_the_reminder(
    world: dict[str, Any], make_article: Callable[..., Article]
) -> None:
    # given
    with time_machine.travel(timezone.now() - timedelta(days=200), tick=False):
        article = make_article("旧文章")
    services.remind_stale_articles()
    # when
    services.verify_article(actor=world["writer"], article=article)
    # then
    article.refresh_from_db()
    assert article.verify_reminded_at is None
    assert services.remind_stale_articles() == 0


def test_restore_brings_back_texts_and_drops_a_language_added_later(
    world: dict[str, Any], make_article: Callable[..., Article]
) -> None:
    # given
    article = make_article("第一版", publish=False)
    services.update_article(
        actor=world["admin"],
        article=article,
        texts={"zh-hans": {"title": "第二版"}, "en": {"title": "Second"}},
    )
    revision = article.revisions.get(number=1)
    # when
    services.restore_article_revision(actor=world["admin"], article=article, revision=revision)
    # then
    assert list(ArticleText.objects.filter(article=article).values_list("language", "title")) == [
        ("zh-hans", "第一版")
    ]
    assert list(article.revisions.values_list("number", "note")) == [
        # The note is written in the site's language (Chinese by default).
        (3, "已恢复修订版本 1"),
        (2, ""),
        (1, ""),
    ]


def test_agent_cannot_edit_and_nothing_changes(
    world: dict[str, Any], make_article: Callable[..., Article]
) -> None:
    # given
    article = make_article("原文")
    # when
    with pytest.raises(PermissionDenied):
        services.update_article(
            actor=world["agent"], article=article, texts={"zh-hans": {"title": "改"}}
        )
    # then
    assert ArticleText.objects.get(article=article).title == "原文"
    assert article.revisions.count() == 1


def test_unchanged_edit_writes_no_revision(
    world: dict[str, Any], make_article: Callable[..., Article]
) -> None:
    # given
    article = make_article("原文")
    events = OutboxEvent.objects.count()
    # when
    services.update_article(actor=world["admin"], article=article, tags=[])
    # then
    assert article.revisions.count() == 1
    assert OutboxEvent.objects.count() == events


def test_synonym_needs_two_terms_and_the_permission(world: dict[str, Any]) -> None:
    with pytest.raises(DomainError) as too_few:
        services.create_synonym(actor=world["admin"], terms=["不开机"])
    with pytest.raises(PermissionDenied):
        services.create_synonym(actor=world["agent"], terms=["不开机", "无法启动"])
    assert too_few.value.code == "too_few_terms"
    assert Synonym.objects.count() == 0


def test_publishing_sets_reviewer_and_verification(
    world: dict[str, Any], make_article: Callable[..., Article]
) -> None:
    # given
    article = make_article("草稿", publish=False)
    services.submit_article(actor=world["writer"], article=article)
    # when
    published = services.publish_article(actor=world["writer"], article=article)
    # then
    assert (published.status, published.reviewer_id) == ("published", world["writer"].pk)
    assert published.last_verified_at == published.published_at
