"""Staff pages of the knowledge base: list and search, article with history and diff, the
editor, review and publish, categories. Each view parses, fetches through a selector, calls
one service, renders."""

from __future__ import annotations

import re
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Max, Q
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from aftersales.accounts import authz
from aftersales.accounts import selectors as accounts_selectors
from aftersales.core import richtext
from aftersales.core.errors import Conflict, DomainError
from aftersales.knowledge import forms, selectors, services
from aftersales.knowledge.models import Article, ArticleAttachment
from aftersales.tickets import selectors as ticket_selectors
from aftersales.tickets.models import Ticket
from aftersales.tickets.permissions import ADD_NOTE, CHANGE_TICKET, REPLY_TICKET
from aftersales.web.shortcuts import add_domain_error, file_download, require, signed_in

PAGE_SIZE = 50
USED_IN_SHOWN = 20


def _article(request: HttpRequest, pk: int) -> Article:
    return get_object_or_404(
        selectors.articles_visible_to(request.user).prefetch_related("texts", "teams"), pk=pk
    )


@signed_in
def article_list(request: HttpRequest) -> HttpResponse:
    require(request, "knowledge.view_article")
    query = request.GET.get("q", "").strip()
    results = services.search_articles(viewer=request.user, query=query) if query else []
    articles = selectors.articles_visible_to(request.user).prefetch_related("texts")
    status = request.GET.get("status", "")
    if status in Article.Status.values:
        articles = articles.filter(status=status)
    page = Paginator(articles.order_by("-updated_at", "-pk"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "knowledge/article_list.html",
        {
            "query": query,
            "results": results,
            "page": page,
            "status": status,
            "statuses": Article.Status.choices,
            "may_add": authz.has_permission(request.user, "knowledge.add_article"),
            "may_synonyms": authz.has_permission(request.user, "knowledge.view_synonym"),
            "may_search_log": authz.has_permission(request.user, "knowledge.view_searchlog"),
        },
    )


@signed_in
def article_detail(request: HttpRequest, pk: int) -> HttpResponse:
    article = _article(request, pk)
    services.record_article_view(article=article)
    may_change = authz.has_permission(request.user, "knowledge.change_article", obj=article)
    revisions = list(selectors.revisions_of(article)) if may_change else []
    diff: list[dict[str, Any]] = []
    number = request.GET.get("diff", "")
    if may_change and number.isdigit():
        by_number = {r.number: r for r in revisions}
        current = by_number.get(int(number))
        previous = by_number.get(int(number) - 1)
        if current is not None:
            diff = selectors.revision_diff(previous.content if previous else {}, current.content)
    used_in = selectors.tickets_using(request.user, article)
    return render(
        request,
        "knowledge/article_detail.html",
        {
            "article": article,
            "texts": list(article.texts.all()),
            "revisions": revisions,
            "diff": diff,
            "diff_number": number,
            "may_change": may_change,
            "may_publish": authz.has_permission(
                request.user, "knowledge.publish_article", obj=article
            ),
            "attachments": list(article.attachments.all()),
            "used_in": used_in[:USED_IN_SHOWN],
            "used_in_count": used_in.count(),
        },
    )


_HAN = re.compile(r"[\u4e00-\u9fff]")


def _source_ticket(request: HttpRequest) -> Ticket | None:
    """The ticket an article is being written from (``?ticket=`` first, then the form's field)."""
    raw = request.GET.get("ticket") or request.POST.get("source_ticket") or ""
    if not raw.isdigit():
        return None
    return get_object_or_404(ticket_selectors.tickets_visible_to(request.user), pk=int(raw))


def _initial_from_ticket(ticket: Ticket) -> dict[str, Any]:
    language = "zh" if _HAN.search(ticket.subject) else "en"
    draft = selectors.draft_from_ticket(ticket, "zh-hans" if language == "zh" else "en")
    return {
        "business_line": draft["business_line"],
        f"title_{language}": draft["title"],
        f"body_{language}": draft["body"],
        "tags": ", ".join(ticket_selectors.tags_of(ticket)),
        "products": ", ".join(p for p in draft["products"] if len(p) <= services.MAX_TAG_LENGTH),
        "visibility": Article.Visibility.INTERNAL,
        "source_ticket": ticket.pk,
    }


def _editor(
    request: HttpRequest, article: Article | None, source: Ticket | None = None
) -> forms.ArticleForm:
    initial: dict[str, Any] = {"visibility": Article.Visibility.INTERNAL}
    if source is not None:
        initial = _initial_from_ticket(source)
    if article is not None:
        texts = {t.language: t for t in article.texts.all()}
        initial = {
            "business_line": article.business_line,
            "section": article.section,
            "title_zh": texts["zh-hans"].title if "zh-hans" in texts else "",
            "body_zh": texts["zh-hans"].body if "zh-hans" in texts else "",
            "title_en": texts["en"].title if "en" in texts else "",
            "body_en": texts["en"].body if "en" in texts else "",
            "tags": ", ".join(article.tags),
            "products": ", ".join(article.products),
            "visibility": article.visibility,
            "teams": list(article.teams.all()),
            "expected_version": article.version,
        }
    return forms.ArticleForm(
        request.POST or None,
        request.FILES or None,
        initial=initial,
        lines=accounts_selectors.business_lines_visible_to(request.user),
        sections=selectors.sections_visible_to(request.user),
        teams=accounts_selectors.teams_visible_to(request.user),
    )


@signed_in
def article_create(request: HttpRequest) -> HttpResponse:
    require(request, "knowledge.add_article")
    source = _source_ticket(request)
    form = _editor(request, None, source)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            article = services.create_article(
                actor=request.user,
                business_line=data["business_line"],
                section=data["section"],
                texts=form.texts(),
                tags=form.labels("tags"),
                products=form.labels("products"),
                visibility=data["visibility"],
                teams=list(data["teams"]),
                source_ticket=source,
                files=data["attachments"],
            )
        except DomainError as error:
            add_domain_error(form, error, show_denied=True)
        else:
            messages.success(request, _("The article has been saved as a draft."))
            return redirect("knowledge:article_detail", pk=article.pk)
    return render(
        request,
        "knowledge/article_form.html",
        {"form": form, "article": None, "source": source},
    )


@signed_in
def article_edit(request: HttpRequest, pk: int) -> HttpResponse:
    article = _article(request, pk)
    require(request, "knowledge.change_article")
    form = _editor(request, article)
    form.fields["business_line"].disabled = True
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.update_article(
                actor=request.user,
                article=article,
                note=data["note"],
                texts=form.texts(),
                section=data["section"],
                tags=form.labels("tags"),
                products=form.labels("products"),
                visibility=data["visibility"],
                teams=list(data["teams"]),
                files=data["attachments"],
                expected_version=data["expected_version"],
            )
        except Conflict:
            # Saving again (after comparing) is a deliberate overwrite of the newer version.
            posted = request.POST.copy()
            posted["expected_version"] = str(
                Article.objects.values_list("version", flat=True).get(pk=article.pk)
            )
            form.data = posted
            form.add_error(
                None,
                _(
                    "Someone else saved this article while you were editing it. Nothing of "
                    "yours was saved yet: open the article in another tab to compare, then "
                    "save again to keep your version."
                ),
            )
        except DomainError as error:
            add_domain_error(form, error, show_denied=True)
        else:
            messages.success(request, _("The article has been saved."))
            return redirect("knowledge:article_detail", pk=article.pk)
    return render(
        request,
        "knowledge/article_form.html",
        {"form": form, "article": article, "attachments": list(article.attachments.all())},
    )


_ACTIONS = {
    "submit": (services.submit_article, _("The article is waiting for review.")),
    "publish": (services.publish_article, _("The article has been published.")),
    "unpublish": (services.return_article_to_draft, _("The article is a draft again.")),
    "verify": (services.verify_article, _("The article has been marked as verified.")),
}


@require_POST
@signed_in
def article_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    article = _article(request, pk)
    if action not in _ACTIONS:
        return redirect("knowledge:article_detail", pk=pk)
    function, message = _ACTIONS[action]
    try:
        function(actor=request.user, article=article)
    except DomainError as error:
        if error.status in (403, 404):
            raise
        messages.error(request, error.detail())
    else:
        messages.success(request, str(message))
    return redirect("knowledge:article_detail", pk=pk)


@require_POST
@signed_in
def revision_restore(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    article = _article(request, pk)
    require(request, "knowledge.change_article")
    revision = get_object_or_404(selectors.revisions_of(article), number=number)
    services.restore_article_revision(actor=request.user, article=article, revision=revision)
    messages.success(request, _("Revision %(number)s has been restored.") % {"number": number})
    return redirect("knowledge:article_detail", pk=pk)


@signed_in
def category_list(request: HttpRequest) -> HttpResponse:
    require(request, "knowledge.view_article")
    lines = accounts_selectors.business_lines_visible_to(request.user)
    categories = selectors.categories_visible_to(request.user).prefetch_related("sections")
    may_configure = authz.has_permission(request.user, "knowledge.configure_category")
    category_form = forms.CategoryForm(
        request.POST if "add_category" in request.POST else None, lines=lines
    )
    section_form = forms.SectionForm(
        request.POST if "add_section" in request.POST else None, categories=categories
    )
    if request.method == "POST" and may_configure:
        try:
            if "add_category" in request.POST and category_form.is_valid():
                services.create_category(actor=request.user, **category_form.cleaned_data)
                messages.success(request, _("The category has been added."))
                return redirect("knowledge:category_list")
            if "add_section" in request.POST and section_form.is_valid():
                services.create_section(actor=request.user, **section_form.cleaned_data)
                messages.success(request, _("The section has been added."))
                return redirect("knowledge:category_list")
        except DomainError as error:
            target = category_form if "add_category" in request.POST else section_form
            add_domain_error(target, error, show_denied=True)
    return render(
        request,
        "knowledge/category_list.html",
        {
            "categories": categories,
            "category_form": category_form,
            "section_form": section_form,
            "may_configure": may_configure,
        },
    )


# --- On the ticket page -----------------------------------------------------------------------


def _ticket(request: HttpRequest, ticket_pk: int) -> Ticket:
    require(request, "knowledge.view_article")
    return get_object_or_404(ticket_selectors.tickets_visible_to(request.user), pk=ticket_pk)


def _ticket_panel(
    request: HttpRequest, ticket: Ticket, *, query: str = "", error: str = "", status: int = 200
) -> HttpResponse:
    """The "Suggested articles" panel: what matches the ticket (or the agent's own search),
    each with Insert link (public articles only) and Insert text, and the linked articles."""
    user = request.user
    language = translation.get_language() or ""
    if query:
        found = services.search_articles(viewer=user, query=query, language=language, limit=8)
    else:
        found = services.suggest_articles(
            viewer=user,
            subject=ticket.subject,
            description=richtext.to_plain_text(ticket.description or ""),
            products=selectors.ticket_products(ticket),
            language=language,
            limit=5,
        )
    may_change_ticket = authz.has_permission(user, CHANGE_TICKET, obj=ticket)
    may_insert = any(
        authz.has_permission(user, codename, obj=ticket) for codename in (REPLY_TICKET, ADD_NOTE)
    )
    links = list(selectors.ticket_links_visible_to(user, ticket))
    linked = {link.article_id for link in links}
    public = set(
        selectors.public_articles()
        .filter(pk__in=[r.article.pk for r in found] + list(linked))
        .values_list("pk", flat=True)
    )
    rows = [
        {
            "article": result.article,
            "title": result.text.title,
            "title_html": result.title_html,
            "snippet": result.snippet,
            "text": result.text.body_text,
            "is_public": result.article.pk in public,
            "portal_url": request.build_absolute_uri(
                reverse("portal:article", kwargs={"pk": result.article.pk})
            )
            if result.article.pk in public
            else "",
            "is_linked": result.article.pk in linked,
        }
        for result in found
    ]
    return render(
        request,
        "knowledge/_ticket_panel.html",
        {
            "ticket": ticket,
            "query": query,
            "rows": rows,
            "links": links,
            "public": public,
            "error": error,
            "may_add": authz.has_permission(user, "knowledge.add_article"),
            "may_change_ticket": may_change_ticket,
            "may_insert": may_insert,
            "may_link": may_insert or may_change_ticket,
        },
        status=status,
    )


@require_GET
@signed_in
def ticket_panel(request: HttpRequest, ticket_pk: int) -> HttpResponse:
    ticket = _ticket(request, ticket_pk)
    return _ticket_panel(request, ticket, query=request.GET.get("q", "").strip()[:200])


@require_POST
@signed_in
def ticket_link(request: HttpRequest, ticket_pk: int) -> HttpResponse:
    """Link an article to the ticket by hand (without putting it into a message)."""
    ticket = _ticket(request, ticket_pk)
    form = forms.ArticleLinkForm(request.POST)
    query = request.POST.get("q", "").strip()[:200]
    if not form.is_valid():
        return _ticket_panel(
            request, ticket, query=query, error=_("Choose an article."), status=422
        )
    article = get_object_or_404(
        selectors.articles_visible_to(request.user), pk=form.cleaned_data["article"]
    )
    services.link_article(
        actor=request.user, ticket=ticket, article=article, method=services.LinkMethod.MANUAL
    )
    return _ticket_panel(request, ticket, query=query)


@require_POST
@signed_in
def ticket_unlink(request: HttpRequest, ticket_pk: int, link_pk: int) -> HttpResponse:
    ticket = _ticket(request, ticket_pk)
    link = get_object_or_404(selectors.ticket_links_visible_to(request.user, ticket), pk=link_pk)
    services.unlink_article(actor=request.user, link=link)
    return _ticket_panel(request, ticket, query=request.POST.get("q", "").strip()[:200])


# --- Files ------------------------------------------------------------------------------------

# Served inline only for raster images (shown in the article); anything else is a download.
_INLINE_TYPES = frozenset(ArticleAttachment.IMAGE_TYPES)


@require_GET
def attachment_download(request: HttpRequest, pk: int) -> HttpResponse | FileResponse:
    """A file of an article the person may read: customers and visitors only reach files of
    published public articles; anything else answers 404 as if it did not exist."""
    attachment = get_object_or_404(selectors.attachments_visible_to(request.user), pk=pk)
    if attachment.content_type not in _INLINE_TYPES or request.GET.get("download"):
        return file_download(
            attachment.file, filename=attachment.filename, content_type=attachment.content_type
        )
    response = FileResponse(
        attachment.file.open("rb"),
        filename=attachment.filename,
        content_type=attachment.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@require_POST
@signed_in
def attachment_delete(request: HttpRequest, pk: int, attachment_pk: int) -> HttpResponse:
    article = _article(request, pk)
    attachment = get_object_or_404(article.attachments.all(), pk=attachment_pk)
    services.delete_article_attachment(actor=request.user, attachment=attachment)
    messages.success(request, _("The file has been removed."))
    return redirect("knowledge:article_detail", pk=article.pk)


# --- Settings: synonyms and the searches that found nothing -----------------------------------


@signed_in
def synonym_list(request: HttpRequest) -> HttpResponse:
    require(request, "knowledge.view_synonym")
    may_configure = authz.has_permission(request.user, "knowledge.configure_synonym")
    form = forms.SynonymForm(request.POST or None)
    if request.method == "POST":
        require(request, "knowledge.configure_synonym")
        if form.is_valid():
            try:
                services.create_synonym(actor=request.user, terms=form.cleaned_terms())
            except DomainError as error:
                error.field = "terms"
                add_domain_error(form, error)
            else:
                messages.success(request, _("The synonyms have been added."))
                return redirect("knowledge:synonym_list")
    return render(
        request,
        "knowledge/synonym_list.html",
        {
            "synonyms": selectors.synonyms(),
            "form": form,
            "may_configure": may_configure,
        },
        status=422 if form.is_bound and form.errors else 200,
    )


@require_POST
@signed_in
def synonym_delete(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, "knowledge.configure_synonym")
    synonym = get_object_or_404(selectors.synonyms(), pk=pk)
    services.delete_synonym(actor=request.user, synonym=synonym)
    messages.success(request, _("The synonyms have been deleted."))
    return redirect("knowledge:synonym_list")


@signed_in
def search_log(request: HttpRequest) -> HttpResponse:
    """What people searched for and did not find, most asked first: the articles to write."""
    require(request, "knowledge.view_searchlog")
    rows = (
        selectors.searches_without_result(request.user)
        .values("query")
        .annotate(
            count=Count("pk"),
            customers=Count("pk", filter=Q(is_customer=True)),
            last=Max("created_at"),
        )
        .order_by("-count", "-last")
    )
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "knowledge/search_log.html", {"page": page})
