"""Articles on the ticket page: suggestions, inserting into a reply, the recorded links,
"used in N tickets" and "create article from this ticket" (issue #8)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aftersales.audit.models import AuditEntry
from aftersales.core.errors import NotFound, PermissionDenied
from aftersales.customfields import services as customfields
from aftersales.knowledge import selectors, services
from aftersales.knowledge.models import Article, TicketArticleLink
from aftersales.outbox.models import OutboxEvent
from aftersales.tickets import services as ticket_services
from aftersales.tickets.models import Comment, Ticket
from aftersales.tickets.services import form_key_of
from tests.conftest import JsonClient

MakeArticle = Callable[..., Article]
MakeTicket = Callable[..., Ticket]
Method = TicketArticleLink.Method
QUERIES_FOR_LINKS = 7  # the same for one link or many (texts are prefetched)


@pytest.fixture
def client_for() -> Callable[..., JsonClient]:
    """A signed-in browser that asks for English pages."""

    def make(user: Any) -> JsonClient:
        client = JsonClient(HTTP_ACCEPT_LANGUAGE="en")
        client.force_login(user)
        return client

    return make


def _linked_events() -> int:
    return OutboxEvent.objects.filter(topic="article.linked").count()


# --- Services -----------------------------------------------------------------------------------


def test_linking_an_article_records_who_how_and_announces_it_once(
    desk: dict[str, Any], kb_article: MakeArticle, make_ticket: MakeTicket
) -> None:
    # given
    article = kb_article("洗衣机显示E3不排水怎么办")
    ticket = make_ticket(subject="洗衣机 E3")
    # when
    first = services.link_article(
        actor=desk["insider"], ticket=ticket, article=article, method=Method.MANUAL
    )
    again = services.link_article(
        actor=desk["insider"], ticket=ticket, article=article, method=Method.INSERTED_TEXT
    )
    # then
    assert again.pk == first.pk
    assert (first.method, first.linked_by, first.ticket, first.article) == (
        Method.MANUAL,
        desk["insider"],
        ticket,
        article,
    )
    assert TicketArticleLink.objects.count() == 1
    event = OutboxEvent.objects.get(topic="article.linked")
    assert event.payload["ticket_id"] == ticket.pk
    assert event.payload["method"] == "manual"
    assert AuditEntry.objects.filter(object_type="knowledge.ticketarticlelink").count() == 1


def test_an_agent_of_another_line_cannot_link_to_a_ticket_they_cannot_see(
    desk: dict[str, Any], kb_article: MakeArticle, make_ticket: MakeTicket
) -> None:
    # given
    article = kb_article("洗衣机显示E3不排水怎么办")
    ticket = make_ticket()
    # when
    with pytest.raises(NotFound):
        services.link_article(actor=desk["outsider"], ticket=ticket, article=article)
    # then
    assert TicketArticleLink.objects.count() == 0
    assert _linked_events() == 0


def test_a_customer_cannot_link_an_article_to_their_own_ticket(
    desk: dict[str, Any], kb_article: MakeArticle, make_ticket: MakeTicket
) -> None:
    # given
    article = kb_article("洗衣机显示E3不排水怎么办")
    ticket = make_ticket()
    # when
    with pytest.raises(PermissionDenied):
        services.link_article(actor=desk["contact_a"], ticket=ticket, article=article)
    # then
    assert TicketArticleLink.objects.count() == 0


def _reply(ticket: Ticket, actor: Any, body: str, *, is_public: bool = True) -> Comment:
    return ticket_services.add_comment(actor=actor, ticket=ticket, body=body, is_public=is_public)


def test_a_sent_reply_records_the_articles_inserted_into_it(
    desk: dict[str, Any], kb_article: MakeArticle, make_ticket: MakeTicket
) -> None:
    # given
    public = kb_article("洗衣机显示E3不排水怎么办")
    removed = kb_article("洗衣机噪音大")
    internal = kb_article("内部：排水泵更换流程", visibility="internal")
    ticket = make_ticket(subject="洗衣机 E3")
    body = f"请看 http://testserver/portal/help/{public.pk}/"
    comment = _reply(ticket, desk["insider"], body)
    # when
    links = services.record_inserted_articles(
        actor=desk["insider"],
        ticket=ticket,
        comment=comment,
        inserted=f"{public.pk}:link,{removed.pk}:link,{internal.pk}:link,junk,999999:text",
    )
    # then: the link taken out of the reply and the internal "link" are left out
    assert [(link.article, link.method, link.comment) for link in links] == [
        (public, Method.INSERTED_LINK, comment)
    ]
    assert TicketArticleLink.objects.count() == 1


def test_an_internal_articles_text_in_a_note_is_recorded_as_text(
    desk: dict[str, Any], kb_article: MakeArticle, make_ticket: MakeTicket
) -> None:
    # given
    internal = kb_article("内部：排水泵更换流程", visibility="internal")
    ticket = make_ticket()
    comment = _reply(ticket, desk["insider"], "内部：排水泵更换流程\n\n先断电。", is_public=False)
    # when
    services.record_inserted_articles(
        actor=desk["insider"], ticket=ticket, comment=comment, inserted=f"{internal.pk}:text"
    )
    # then
    link = TicketArticleLink.objects.get()
    assert (link.article, link.method) == (internal, Method.INSERTED_TEXT)


def test_an_article_written_from_a_ticket_is_linked_back_to_it(
    desk: dict[str, Any], make_ticket: MakeTicket
) -> None:
    # given
    ticket = make_ticket(subject="洗衣机 E3 不排水")
    # when
    article = services.create_article(
        actor=desk["manager"],
        business_line=desk["line_a"],
        texts={"zh-hans": {"title": "洗衣机 E3 不排水", "body": "清理过滤网。"}},
        source_ticket=ticket,
    )
    # then
    link = TicketArticleLink.objects.get()
    assert (link.ticket, link.article, link.method) == (ticket, article, Method.SOURCE)


def test_the_draft_from_a_ticket_holds_the_problem_and_the_public_answers_only(
    desk: dict[str, Any], make_ticket: MakeTicket
) -> None:
    # given
    ticket = make_ticket(subject="洗衣机 E3 不排水", description="显示 E3，水排不出去。")
    _reply(ticket, desk["insider"], "请清理排水过滤网。")
    _reply(ticket, desk["insider"], "客户很着急", is_public=False)
    # when
    draft = selectors.draft_from_ticket(ticket, "en")
    # then
    assert draft["title"] == "洗衣机 E3 不排水"
    assert draft["body"] == (
        "<h2>Problem</h2><p>显示 E3，水排不出去。</p><h2>Resolution</h2><p>请清理排水过滤网。</p>"
    )


def test_a_tickets_product_and_fault_become_suggestion_words(
    desk: dict[str, Any], make_ticket: MakeTicket
) -> None:
    # given
    customfields.create_definition(
        actor=desk["admin"],
        target="tickets.ticket",
        subtarget=form_key_of(desk["repair"].pk),
        key="fault",
        field_type="cascade",
        label_zh="产品与故障",
        label_en="Product and fault",
        config={
            "options": [
                {
                    "key": "washer",
                    "label_zh": "洗衣机",
                    "label_en": "Washing machine",
                    "children": [
                        {"key": "e3", "label_zh": "E3 不排水", "label_en": "E3 does not drain"}
                    ],
                }
            ]
        },
    )
    ticket = make_ticket(custom_fields={"fault": ["washer", "e3"]})
    # when
    words = selectors.ticket_products(ticket)
    # then
    assert words == ["washer", "e3", "洗衣机", "E3 不排水", "Washing machine", "E3 does not drain"]


# --- The panel on the ticket page ---------------------------------------------------------------


def test_the_ticket_page_loads_the_panel_lazily_and_carries_the_inserted_ids(
    desk: dict[str, Any], make_ticket: MakeTicket, client_for: Callable[..., JsonClient]
) -> None:
    # given
    ticket = make_ticket()
    # when
    html = client_for(desk["insider"]).get(f"/tickets/{ticket.number}/").content.decode()
    # then
    assert f'hx-get="/knowledge/tickets/{ticket.pk}/" hx-trigger="load"' in html
    assert '<input type="hidden" name="inserted_articles" id="id_inserted_articles">' in html


def test_the_panel_suggests_matching_articles_with_link_only_for_public_ones(
    desk: dict[str, Any],
    kb_article: MakeArticle,
    make_ticket: MakeTicket,
    client_for: Callable[..., JsonClient],
) -> None:
    # given
    public = kb_article("洗衣机显示E3不排水怎么办")
    internal = kb_article("洗衣机E3排水泵更换（内部）", visibility="internal")
    other_line = kb_article("洗衣机E3 西区流程", visibility="internal", line=desk["line_b"])
    kb_article("发票如何开具", "<p>在订单页申请电子发票。</p>")
    ticket = make_ticket(subject="洗衣机显示E3，不排水")
    # when
    response = client_for(desk["insider"]).get(f"/knowledge/tickets/{ticket.pk}/")
    # then
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('data-testid="kb-suggestion"') == 2
    assert f'data-kb-url="http://testserver/portal/help/{public.pk}/"' in html
    assert f"/portal/help/{internal.pk}/" not in html
    assert html.count('data-testid="kb-insert-link"') == 1
    assert html.count('data-testid="kb-insert-text"') == 2
    assert "检查排水泵和过滤网。" in html
    assert f'data-kb-article="{other_line.pk}"' not in html
    assert "发票如何开具" not in html
    assert 'data-testid="kb-from-ticket"' not in html  # agents do not write articles


def test_the_panel_search_finds_other_articles(
    desk: dict[str, Any],
    kb_article: MakeArticle,
    make_ticket: MakeTicket,
    client_for: Callable[..., JsonClient],
) -> None:
    # given
    kb_article("空调不制冷怎么办", "<p>清洗滤网。</p>")
    ticket = make_ticket(subject="洗衣机显示E3，不排水")
    # when
    html = (
        client_for(desk["insider"])
        .get(f"/knowledge/tickets/{ticket.pk}/", {"q": "空调 制冷"})
        .content.decode()
    )
    # then
    assert html.count('data-testid="kb-suggestion"') == 1
    assert "<mark>空调</mark>" in html


@pytest.mark.parametrize(
    ("_case", "who", "expected"),
    [
        ("anonymous", None, 302),
        ("customer", "contact_a", 403),
        ("agent of another line", "outsider", 404),
        ("agent of the team", "insider", 200),
        ("manager", "manager", 200),
    ],
)
def test_who_may_load_the_panel(
    _case: str,
    who: str | None,
    expected: int,
    desk: dict[str, Any],
    kb_article: MakeArticle,
    make_ticket: MakeTicket,
    client_for: Callable[..., JsonClient],
) -> None:
    # given
    kb_article("洗衣机显示E3不排水怎么办")
    ticket = make_ticket(subject="洗衣机显示E3")
    client = client_for(desk[who]) if who else JsonClient()
    # when
    response = client.get(f"/knowledge/tickets/{ticket.pk}/")
    # then
    assert response.status_code == expected
    if expected != 200:
        assert "洗衣机显示E3不排水怎么办" not in response.content.decode()


def test_sending_a_reply_with_an_inserted_link_records_it(
    desk: dict[str, Any],
    kb_article: MakeArticle,
    make_ticket: MakeTicket,
    client_for: Callable[..., JsonClient],
) -> None:
    # given
    article = kb_article("洗衣机显示E3不排水怎么办")
    ticket = make_ticket(subject="洗衣机显示E3")
    client = client_for(desk["insider"])
    # when
    response = client.post(
        f"/tickets/{ticket.pk}/comments/",
        {
            "body": f"您好，请参考：\nhttp://testserver/portal/help/{article.pk}/",
            "visibility": "public",
            "inserted_articles": f"{article.pk}:link",
        },
    )
    # then
    assert response.status_code == 302
    link = TicketArticleLink.objects.get()
    assert (link.ticket, link.article, link.method) == (ticket, article, Method.INSERTED_LINK)
    assert link.comment == Comment.objects.get(ticket=ticket)
    panel = client.get(f"/knowledge/tickets/{ticket.pk}/").content.decode()
    assert 'data-testid="kb-linked"' in panel
    assert "Inserted as a link" in panel


def test_an_agent_links_and_unlinks_an_article_by_hand(
    desk: dict[str, Any],
    kb_article: MakeArticle,
    make_ticket: MakeTicket,
    client_for: Callable[..., JsonClient],
) -> None:
    # given
    article = kb_article("洗衣机显示E3不排水怎么办")
    ticket = make_ticket(subject="洗衣机显示E3")
    client = client_for(desk["insider"])
    # when
    linked = client.post(f"/knowledge/tickets/{ticket.pk}/link/", {"article": article.pk})
    link = TicketArticleLink.objects.get()
    unlinked = client.post(f"/knowledge/tickets/{ticket.pk}/links/{link.pk}/delete/")
    # then
    assert linked.status_code == 200
    assert "Linked by hand" in linked.content.decode()
    assert unlinked.status_code == 200
    assert TicketArticleLink.objects.count() == 0
    assert OutboxEvent.objects.filter(topic="article.unlinked").count() == 1


def test_an_outsider_cannot_link_by_hand(
    desk: dict[str, Any],
    kb_article: MakeArticle,
    make_ticket: MakeTicket,
    client_for: Callable[..., JsonClient],
) -> None:
    # given
    article = kb_article("洗衣机显示E3不排水怎么办")
    ticket = make_ticket()
    # when
    response = client_for(desk["outsider"]).post(
        f"/knowledge/tickets/{ticket.pk}/link/", {"article": article.pk}
    )
    # then
    assert response.status_code == 404
    assert TicketArticleLink.objects.count() == 0
    assert _linked_events() == 0


def test_the_article_page_says_in_how_many_visible_tickets_it_was_used(
    desk: dict[str, Any],
    kb_article: MakeArticle,
    make_ticket: MakeTicket,
    make_type: Callable[..., Any],
    client_for: Callable[..., JsonClient],
) -> None:
    # given
    article = kb_article("洗衣机显示E3不排水怎么办")
    mine = make_ticket(subject="洗衣机 E3 第一单")
    west = make_type(line=desk["line_b"], key="west-repair", number_prefix="WST")
    theirs = make_ticket(subject="西区工单", ticket_type=west, team=desk["team_b"])
    for ticket in (mine, theirs):
        services.link_article(actor=desk["manager"], ticket=ticket, article=article)
    # when
    insider = client_for(desk["insider"]).get(f"/knowledge/{article.pk}/").content.decode()
    manager = client_for(desk["manager"]).get(f"/knowledge/{article.pk}/").content.decode()
    # then
    assert "Used in 1 ticket<" in insider
    assert mine.number in insider
    assert theirs.number not in insider
    assert "Used in 2 tickets<" in manager


def test_create_article_from_a_ticket_prefills_a_draft_linked_to_it(
    desk: dict[str, Any], make_ticket: MakeTicket, client_for: Callable[..., JsonClient]
) -> None:
    # given
    ticket = make_ticket(subject="洗衣机显示E3，不排水", description="水排不出去。", tags=["e3"])
    _reply(ticket, desk["insider"], "请清理排水过滤网。")
    client = client_for(desk["manager"])
    panel = client.get(f"/knowledge/tickets/{ticket.pk}/").content.decode()
    # when
    form = client.get("/knowledge/new/", {"ticket": ticket.pk}).content.decode()
    created = client.post(
        f"/knowledge/new/?ticket={ticket.pk}",
        {
            "business_line": desk["line_a"].pk,
            "title_zh": "洗衣机显示E3，不排水",
            "body_zh": "<p>请清理排水过滤网。</p>",
            "visibility": "internal",
            "source_ticket": ticket.pk,
        },
    )
    # then
    assert f'href="/knowledge/new/?ticket={ticket.pk}"' in panel
    assert 'value="洗衣机显示E3，不排水"' in form
    assert "请清理排水过滤网。" in form
    assert 'name="tags" value="e3"' in form
    assert created.status_code == 302
    article = Article.objects.get()
    assert article.status == Article.Status.DRAFT
    link = TicketArticleLink.objects.get()
    assert (link.ticket, link.article, link.method) == (ticket, article, Method.SOURCE)


def test_an_outsider_cannot_prefill_from_a_ticket_they_cannot_see(
    desk: dict[str, Any],
    make_ticket: MakeTicket,
    make_user: Callable[..., Any],
    client_for: Callable[..., JsonClient],
) -> None:
    # given
    ticket = make_ticket(subject="东区的秘密工单")
    outsider = make_user("west-writer", role="second-line", scope="teams", teams=[desk["team_b"]])
    # when
    response = client_for(outsider).get("/knowledge/new/", {"ticket": ticket.pk})
    # then
    assert response.status_code == 404
    assert "东区的秘密工单" not in response.content.decode()


# --- API ----------------------------------------------------------------------------------------


def test_api_lists_and_adds_links(
    desk: dict[str, Any], kb_article: MakeArticle, make_ticket: MakeTicket, login_client: Any
) -> None:
    # given
    article = kb_article("洗衣机显示E3不排水怎么办")
    ticket = make_ticket()
    client = login_client(desk["insider"])
    url = f"/api/v1/knowledge/tickets/{ticket.pk}/articles"
    # when
    first = client.post_json(url, {"article_id": article.pk, "method": "inserted_text"})
    second = client.post_json(url, {"article_id": article.pk})
    listed = client.get(url)
    # then
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["method"] == "inserted_text"
    assert [(item["article_id"], item["title"]) for item in listed.json()] == [
        (article.pk, "洗衣机显示E3不排水怎么办")
    ]
    assert _linked_events() == 1


@pytest.mark.parametrize(
    ("_case", "who", "expected"),
    [
        ("anonymous", None, 401),
        ("customer", "contact_a", 404),
        ("agent of another line", "outsider", 404),
    ],
)
def test_api_links_are_closed_to_outsiders(
    _case: str,
    who: str | None,
    expected: int,
    desk: dict[str, Any],
    kb_article: MakeArticle,
    make_ticket: MakeTicket,
    login_client: Any,
) -> None:
    # given
    article = kb_article("洗衣机显示E3不排水怎么办")
    ticket = make_ticket()
    services.link_article(actor=desk["insider"], ticket=ticket, article=article)
    client = login_client(desk[who]) if who else JsonClient()
    url = f"/api/v1/knowledge/tickets/{ticket.pk}/articles"
    # when
    listed = client.get(url)
    added = client.post_json(url, {"article_id": article.pk})
    # then
    assert (listed.status_code, added.status_code) == (expected, expected)
    assert "洗衣机" not in listed.content.decode()
    assert TicketArticleLink.objects.count() == 1
    assert _linked_events() == 1


def test_api_refuses_an_unknown_method_with_the_field_named(
    desk: dict[str, Any], kb_article: MakeArticle, make_ticket: MakeTicket, login_client: Any
) -> None:
    # given
    article = kb_article("洗衣机显示E3不排水怎么办")
    ticket = make_ticket()
    # when
    response = login_client(desk["insider"]).post_json(
        f"/api/v1/knowledge/tickets/{ticket.pk}/articles",
        {"article_id": article.pk, "method": "telepathy"},
    )
    # then
    assert response.status_code == 422
    assert response["Content-Type"].startswith("application/problem+json")
    assert "method" in response.content.decode()
    assert TicketArticleLink.objects.count() == 0


def test_an_engineer_who_cannot_reply_reads_the_suggestions_without_insert_buttons(
    desk: dict[str, Any],
    kb_article: MakeArticle,
    make_ticket: MakeTicket,
    make_user: Callable[..., Any],
    client_for: Callable[..., JsonClient],
) -> None:
    # given
    kb_article("洗衣机显示E3不排水怎么办")
    ticket = make_ticket(subject="洗衣机显示E3")
    engineer = make_user("engineer", role="field-engineer", scope="teams", teams=[desk["team_a"]])
    # when
    html = client_for(engineer).get(f"/knowledge/tickets/{ticket.pk}/").content.decode()
    # then
    assert html.count('data-testid="kb-suggestion"') == 1
    assert "data-kb-insert" not in html
    assert 'data-testid="kb-link"' not in html


def test_api_lists_links_in_a_fixed_number_of_queries(
    desk: dict[str, Any],
    kb_article: MakeArticle,
    make_ticket: MakeTicket,
    login_client: Any,
    django_assert_num_queries: Any,
) -> None:
    # given
    ticket = make_ticket()
    for title in ("洗衣机E3", "洗衣机噪音", "空调漏水"):
        services.link_article(actor=desk["manager"], ticket=ticket, article=kb_article(title))
    client = login_client(desk["insider"])
    url = f"/api/v1/knowledge/tickets/{ticket.pk}/articles"
    client.get(url)  # warm the session and permission caches
    # when
    with django_assert_num_queries(QUERIES_FOR_LINKS):
        response = client.get(url)
    # then
    assert [item["title"] for item in response.json()] == ["空调漏水", "洗衣机噪音", "洗衣机E3"]
