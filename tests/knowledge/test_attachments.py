"""Images and files on articles: uploaded on the form and through the API, stored under random
names, served only to those who may read the article (issue #8)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from aftersales.knowledge import services
from aftersales.knowledge.models import Article, ArticleAttachment
from aftersales.outbox.models import OutboxEvent
from tests.conftest import JsonClient

MakeArticle = Callable[..., Article]
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture(autouse=True)
def _media(media_in_tmp: None) -> None:
    """Every test here stores files in its own folder."""


def _png(name: str = "排水泵.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PNG, content_type="image/png")


def _attach(world: dict[str, Any], article: Article, *files: Any) -> list[ArticleAttachment]:
    return services.add_article_attachments(actor=world["admin"], article=article, files=files)


def test_a_writer_uploads_an_image_with_the_article_form(
    world: dict[str, Any], login_client: Callable[..., JsonClient]
) -> None:
    # given
    client = login_client(world["writer"])
    # when
    response = client.post(
        "/knowledge/new/",
        {
            "business_line": world["line_a"].pk,
            "title_zh": "排水泵拆装",
            "body_zh": "见图。",
            "visibility": "internal",
            "attachments": [_png()],
        },
    )
    # then
    assert response.status_code == 302
    attachment = ArticleAttachment.objects.get()
    assert (attachment.filename, attachment.content_type, attachment.size) == (
        "排水泵.png",
        "image/png",
        len(PNG),
    )
    assert "排水泵" not in attachment.file.name
    assert attachment.file.name.startswith("knowledge/")
    page = client.get(f"/knowledge/{attachment.article_id}/").content.decode()
    assert f'src="/knowledge/files/{attachment.pk}/"' in page


def test_a_refused_file_type_is_shown_next_to_the_field_and_nothing_is_saved(
    world: dict[str, Any], login_client: Callable[..., JsonClient]
) -> None:
    # given
    client = login_client(world["writer"])
    # when
    response = client.post(
        "/knowledge/new/",
        {
            "business_line": world["line_a"].pk,
            "title_zh": "排水泵拆装",
            "visibility": "internal",
            "attachments": [SimpleUploadedFile("setup.exe", b"MZ", "application/octet-stream")],
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )
    # then
    assert response.status_code == 200
    html = response.content.decode()
    assert "Files of type .exe are not accepted." in html
    assert Article.objects.count() == 0
    assert ArticleAttachment.objects.count() == 0


@pytest.mark.parametrize(
    ("_case", "who", "public_status", "internal_status"),
    [
        ("anonymous visitor", None, 200, 404),
        ("customer", "contact", 200, 404),
        ("agent of another line", "outsider", 200, 404),
        ("agent of the line", "agent", 200, 200),
    ],
)
def test_files_are_served_to_whoever_may_read_the_article(
    _case: str,
    who: str | None,
    public_status: int,
    internal_status: int,
    world: dict[str, Any],
    make_article: MakeArticle,
) -> None:
    # given
    public = make_article("洗衣机E3", visibility="public")
    internal = make_article("排水泵拆装（内部）", visibility="internal")
    [public_file] = _attach(world, public, _png())
    [internal_file] = _attach(world, internal, _png("内部.png"))
    client = JsonClient()
    if who:
        client.force_login(world[who])
    # when
    public_response = client.get(f"/knowledge/files/{public_file.pk}/")
    internal_response = client.get(f"/knowledge/files/{internal_file.pk}/")
    # then
    assert (public_response.status_code, internal_response.status_code) == (
        public_status,
        internal_status,
    )
    assert public_response["Content-Type"] == "image/png"
    assert public_response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(public_response.streaming_content) == PNG  # type: ignore[attr-defined]


def test_a_draft_articles_files_stay_hidden_from_customers(
    world: dict[str, Any], make_article: MakeArticle
) -> None:
    # given
    draft = make_article("洗衣机E3", visibility="public", publish=False)
    [attachment] = _attach(world, draft, _png())
    client = JsonClient()
    client.force_login(world["contact"])
    # when
    response = client.get(f"/knowledge/files/{attachment.pk}/")
    # then
    assert response.status_code == 404


def test_a_file_that_is_not_an_image_is_always_a_download(
    world: dict[str, Any], make_article: MakeArticle
) -> None:
    # given
    article = make_article("洗衣机E3", visibility="public")
    [attachment] = _attach(
        world, article, SimpleUploadedFile("page.html", b"<script>x</script>", "text/html")
    )
    # when
    response = JsonClient().get(f"/knowledge/files/{attachment.pk}/")
    # then
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")


def test_an_agent_who_may_not_change_articles_cannot_attach_or_remove(
    world: dict[str, Any], make_article: MakeArticle, login_client: Callable[..., JsonClient]
) -> None:
    # given
    article = make_article("洗衣机E3")
    [attachment] = _attach(world, article, _png())
    client = login_client(world["agent"])
    # when
    added = client.post(
        f"/api/v1/knowledge/articles/{article.pk}/attachments", {"files": [_png("new.png")]}
    )
    removed = client.delete(f"/api/v1/knowledge/articles/{article.pk}/attachments/{attachment.pk}")
    page = client.post(f"/knowledge/{article.pk}/files/{attachment.pk}/delete/")
    # then
    assert (added.status_code, removed.status_code, page.status_code) == (403, 403, 403)
    assert list(ArticleAttachment.objects.values_list("pk", flat=True)) == [attachment.pk]
    assert OutboxEvent.objects.filter(topic="article.attachment_deleted").count() == 0


def test_api_uploads_lists_and_deletes_files(
    world: dict[str, Any], make_article: MakeArticle, login_client: Callable[..., JsonClient]
) -> None:
    # given
    article = make_article("洗衣机E3", visibility="internal")
    client = login_client(world["writer"])
    url = f"/api/v1/knowledge/articles/{article.pk}/attachments"
    # when
    added = client.post(url, {"files": [_png(), _png("second.png")]})
    listed = client.get(url)
    first = ArticleAttachment.objects.order_by("pk").first()
    assert first is not None
    deleted = client.delete(f"{url}/{first.pk}")
    # then
    assert added.status_code == 201
    assert [item["filename"] for item in added.json()] == ["排水泵.png", "second.png"]
    assert added.json()[0]["url"] == f"http://testserver/knowledge/files/{first.pk}/"
    assert [item["filename"] for item in listed.json()] == ["排水泵.png", "second.png"]
    assert deleted.status_code == 204
    assert list(ArticleAttachment.objects.values_list("filename", flat=True)) == ["second.png"]
    assert OutboxEvent.objects.filter(topic="article.attachments_added").count() == 1


def test_api_hides_an_internal_articles_files_from_a_customer(
    world: dict[str, Any], make_article: MakeArticle, login_client: Callable[..., JsonClient]
) -> None:
    # given
    article = make_article("排水泵拆装（内部）", visibility="internal")
    _attach(world, article, _png())
    # when
    response = login_client(world["contact"]).get(
        f"/api/v1/knowledge/articles/{article.pk}/attachments"
    )
    # then
    assert response.status_code == 404
    assert "排水泵" not in response.content.decode()


def test_api_refuses_a_file_too_large_with_the_field_named(
    world: dict[str, Any],
    make_article: MakeArticle,
    login_client: Callable[..., JsonClient],
    settings: Any,
) -> None:
    # given
    settings.ATTACHMENT_MAX_BYTES = 10
    article = make_article("洗衣机E3")
    # when
    response = login_client(world["writer"]).post(
        f"/api/v1/knowledge/articles/{article.pk}/attachments", {"files": [_png()]}
    )
    # then
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "attachments"
    assert ArticleAttachment.objects.count() == 0
