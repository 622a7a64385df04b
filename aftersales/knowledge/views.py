"""Staff pages of the knowledge base: list and search, article with history and diff, the
editor, review and publish, categories. Each view parses, fetches through a selector, calls
one service, renders."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from aftersales.accounts import authz
from aftersales.accounts import selectors as accounts_selectors
from aftersales.core.errors import DomainError
from aftersales.knowledge import forms, selectors, services
from aftersales.knowledge.models import Article
from aftersales.web.shortcuts import add_domain_error, require, signed_in

PAGE_SIZE = 50


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
        },
    )


def _editor(request: HttpRequest, article: Article | None) -> forms.ArticleForm:
    initial: dict[str, Any] = {"visibility": Article.Visibility.INTERNAL}
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
        }
    return forms.ArticleForm(
        request.POST or None,
        initial=initial,
        lines=accounts_selectors.business_lines_visible_to(request.user),
        sections=selectors.sections_visible_to(request.user),
        teams=accounts_selectors.teams_visible_to(request.user),
    )


@signed_in
def article_create(request: HttpRequest) -> HttpResponse:
    require(request, "knowledge.add_article")
    form = _editor(request, None)
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
            )
        except DomainError as error:
            add_domain_error(form, error, show_denied=True)
        else:
            messages.success(request, _("The article has been saved as a draft."))
            return redirect("knowledge:article_detail", pk=article.pk)
    return render(request, "knowledge/article_form.html", {"form": form, "article": None})


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
            )
        except DomainError as error:
            add_domain_error(form, error, show_denied=True)
        else:
            messages.success(request, _("The article has been saved."))
            return redirect("knowledge:article_detail", pk=article.pk)
    return render(request, "knowledge/article_form.html", {"form": form, "article": article})


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
