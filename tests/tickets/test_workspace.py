"""The agent workspace pages: inbox, ticket page, new ticket, bulk actions, files.

Each test reads the page as an agent would: what the list shows, which message appears next to
which field, and that nothing changed when something was refused.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils.timezone import localtime

from aftersales.accounts.models import User
from aftersales.customers import services as customer_services
from aftersales.customfields import services as customfields
from aftersales.tickets import services, workspace
from aftersales.tickets.models import Ticket, TicketType, form_key_of
from tests.conftest import JsonClient
from tests.tickets.conftest import status, ticket_state

MakeTicket = Callable[..., Ticket]
INBOX = "/tickets/"


@pytest.fixture
def login_client() -> Callable[[User], JsonClient]:
    """A signed-in browser that asks for English pages."""

    def make(user: User) -> JsonClient:
        client = JsonClient(HTTP_ACCEPT_LANGUAGE="en")
        client.force_login(user)
        return client

    return make


def _html(response: Any, status_code: int = 200) -> str:
    assert response.status_code == status_code, response.status_code
    text: str = response.content.decode()
    # The CSP allows no inline script or style.
    assert " style=" not in text
    assert "<script>" not in text
    return text


def _text(markup: str) -> str:
    """The words of a page, without tags, with entities decoded and spaces collapsed."""
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def _block(markup: str, marker: str) -> str:
    """The element that carries ``marker`` (an attribute), up to the next sibling of its kind."""
    start = markup.index(marker)
    opening = markup.rindex("<", 0, start)
    tag = re.match(r"<(\w+)", markup[opening:])
    assert tag is not None
    depth, position = 0, opening
    pattern = re.compile(rf"<(/?){tag.group(1)}\b")
    for found in pattern.finditer(markup, opening):
        depth += -1 if found.group(1) else 1
        position = markup.index(">", found.end()) + 1
        if depth == 0:
            break
    return markup[opening:position]


def _errors_of(markup: str, name: str) -> list[str]:
    """The errors shown in the form field whose label is for ``id_<name>``."""
    label = markup.index(f'for="id_{name}"')
    field = markup[markup.rindex('<div class="form-field', 0, label) :]
    return re.findall(r"<li>([^<]+)</li>", _block(field, 'class="form-field'))


def _numbers(markup: str) -> list[str]:
    return re.findall(
        r'data-open class="ticket-link"><span class="mono small">([^<]+)</span>', markup
    )


def _loaded(markup: str) -> str:
    found = re.search(r'name="loaded" value="([^"]+)"', markup)
    assert found is not None
    return found.group(1)


def _messages(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _properties(ticket: Ticket, loaded: str, **changes: Any) -> dict[str, Any]:
    """The side panel as the page posts it, with ``changes`` typed in."""
    data: dict[str, Any] = {
        "loaded": loaded,
        "status": "",
        "priority": ticket.priority,
        "ticket_type": ticket.ticket_type_id,
        "team": ticket.team_id or "",
        "assignee": ticket.assignee_id or "",
        "tags": ", ".join(services.tags_of(ticket)),
        "due_at": "",
    }
    data.update(changes)
    return data


# --- Scope ----------------------------------------------------------------------------------


def test_inbox_lists_and_counts_only_tickets_in_scope(
    desk: dict[str, Any], make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    """An agent of team A sees team A's tickets; an agent of team B sees none and zero counts."""
    # given
    first = make_ticket(subject="Drum noisy")
    second = make_ticket(subject="Door seal leaks", assignee=desk["insider"])
    # when
    inside = _html(login_client(desk["insider"]).get(f"{INBOX}?view=my_teams"))
    outside = _html(login_client(desk["outsider"]).get(f"{INBOX}?view=my_teams"))
    outside_all = _html(login_client(desk["outsider"]).get(f"{INBOX}?view=all"))
    # then
    assert _numbers(inside) == [second.number, first.number]
    assert _text(_block(inside, 'data-testid="count-my_teams"')) == "2"
    assert _text(_block(inside, 'data-testid="count-mine"')) == "1"
    assert _text(_block(inside, 'data-testid="count-unassigned"')) == "1"
    assert _numbers(outside) == []
    assert _numbers(outside_all) == []
    assert "No tickets here." in _text(outside)
    assert [_text(_block(outside, f'data-testid="count-{key}"')) for key in ("mine", "all")] == [
        "0",
        "0",
    ]


def test_outsider_gets_404_on_the_ticket_page_and_every_action(
    desk: dict[str, Any], make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    # given
    ticket = make_ticket()
    comment = services.add_comment(
        actor=desk["insider"],
        ticket=ticket,
        body="Photo attached",
        files=[SimpleUploadedFile("drum.jpg", b"\xff\xd8\xff", content_type="image/jpeg")],
    )
    attachment = comment.attachments.get()
    client = login_client(desk["outsider"])
    before = ticket_state()
    base = f"{INBOX}{ticket.pk}"
    # when
    responses = [
        client.get(f"{INBOX}{ticket.number}/"),
        client.get(f"{INBOX}{ticket.pk}/"),
        client.post(f"{base}/take/"),
        client.post(f"{base}/properties/", {"priority": 4}),
        client.post(f"{base}/comments/", {"body": "hello", "visibility": "public"}),
        client.post(f"{base}/links/", {"number": ticket.number, "kind": "related"}),
        client.post(f"{base}/merge/", {"number": ticket.number}),
        client.post(f"{base}/split/{comment.pk}/", {"subject": "x"}),
        client.post(f"{INBOX}bulk/", {"action": "assign", "ticket": ticket.pk, "assignee": "none"}),
        client.get(f"{INBOX}attachments/{attachment.pk}/"),
    ]
    # then
    assert [r.status_code for r in responses] == [404] * 10
    assert ticket_state() == before


def test_customer_contacts_get_404_on_staff_pages(
    desk: dict[str, Any], make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    """Even on their own ticket: the contact's pages are the portal's."""
    # given
    ticket = make_ticket()
    client = login_client(desk["contact_a"])
    # when
    responses = [
        client.get(INBOX),
        client.get(f"{INBOX}new/"),
        client.get(f"{INBOX}new/customers/?requester_q=Al"),
        client.get(f"{INBOX}{ticket.number}/"),
        client.post(f"{INBOX}{ticket.pk}/take/"),
        client.post(f"{INBOX}{ticket.pk}/comments/", {"body": "hi", "visibility": "public"}),
    ]
    # then
    assert [r.status_code for r in responses] == [404] * 6
    assert ticket.comments.count() == 0


def test_attachments_download_with_a_check_and_never_inline(
    desk: dict[str, Any], make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    """Staff get the file as a download; the customer gets public files of their own ticket
    only; an internal note's file is a 404 for them."""
    # given
    ticket = make_ticket()
    reply = services.add_comment(
        actor=desk["insider"],
        ticket=ticket,
        body="The manual",
        files=[SimpleUploadedFile("manual.html", b"<h1>Manual</h1>", content_type="text/html")],
    )
    note = services.add_comment(
        actor=desk["insider"],
        ticket=ticket,
        body="Invoice",
        is_public=False,
        files=[SimpleUploadedFile("invoice.pdf", b"%PDF-1.4", content_type="application/pdf")],
    )
    public, internal = reply.attachments.get(), note.attachments.get()
    staff = login_client(desk["insider"])
    contact = login_client(desk["contact_a"])
    # when
    as_staff = staff.get(f"{INBOX}attachments/{public.pk}/")
    internal_as_staff = staff.get(f"{INBOX}attachments/{internal.pk}/")
    as_contact = contact.get(f"{INBOX}attachments/{public.pk}/")
    internal_as_contact = contact.get(f"{INBOX}attachments/{internal.pk}/")
    # then
    assert as_staff.status_code == 200
    assert as_staff["Content-Disposition"] == 'attachment; filename="manual.html"'
    assert as_staff["X-Content-Type-Options"] == "nosniff"
    assert b"".join(as_staff.streaming_content) == b"<h1>Manual</h1>"
    assert internal_as_staff.status_code == 200
    assert as_contact.status_code == 200
    assert internal_as_contact.status_code == 404


# --- Inbox: filters, sorting, pages, live refresh ---------------------------------------------


def test_a_bad_filter_is_named_next_to_its_field_and_the_others_still_apply(
    desk: dict[str, Any], make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    # given
    make_ticket(subject="Drum noisy")
    wanted = make_ticket(subject="Door seal leaks")
    client = login_client(desk["insider"])
    # when
    page = _html(client.get(f"{INBOX}?view=all&created_after=last+tuesday&q=seal"))
    # then
    field = _block(page, 'data-filter="created_after"')
    assert "has-error" in field
    assert "Enter a date (2026-11-24), a date-time, or -P7D for 7 days ago." in _text(field)
    assert _numbers(page) == [wanted.number]


def test_filters_by_priority_tag_and_a_custom_field_of_the_chosen_type(
    desk: dict[str, Any], make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    # given
    repair = desk["repair"]
    fixed = make_ticket(
        priority="urgent", tags=["漏水"], custom_fields={"resolution_code": "fixed"}
    )
    make_ticket(priority="urgent", tags=["漏水"], custom_fields={"resolution_code": "replaced"})
    make_ticket(priority="low", tags=["漏水"], custom_fields={"resolution_code": "fixed"})
    client = login_client(desk["insider"])
    query = f"view=all&priority=urgent&tag=漏水&ticket_type={repair.pk}&cf.resolution_code=fixed"
    # when
    page = _html(client.get(f"{INBOX}?{query}"))
    # then
    assert _numbers(page) == [fixed.number]
    assert 'name="cf.resolution_code"' in page


def test_pages_go_forward_and_back_by_cursor(
    desk: dict[str, Any],
    make_ticket: MakeTicket,
    login_client: Callable[[User], JsonClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given
    monkeypatch.setattr(workspace, "PAGE_SIZE", 2)
    tickets = [make_ticket(subject=f"Ticket {n}") for n in range(5)]
    newest_first = [t.number for t in reversed(tickets)]
    client = login_client(desk["insider"])
    # when
    first = _html(client.get(f"{INBOX}?view=all&sort=-created_at"))
    next_url = html_lib.unescape(re.search(r'href="([^"]+)" rel="next"', first).group(1))  # type: ignore[union-attr]
    second = _html(client.get(f"{INBOX}{next_url}"))
    previous_url = html_lib.unescape(
        re.search(r'href="([^"]+)" rel="prev"', second).group(1)  # type: ignore[union-attr]
    )
    back = _html(client.get(f"{INBOX}{previous_url}"))
    # then
    assert _numbers(first) == newest_first[:2]
    assert 'rel="prev"' not in first
    assert _numbers(second) == newest_first[2:4]
    assert _numbers(back) == newest_first[:2]
    assert 'rel="prev"' not in back


def test_the_list_refreshes_itself_as_a_fragment(
    desk: dict[str, Any], make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    """The page polls the list alone (every 20 s); the fragment carries the same poller."""
    # given
    ticket = make_ticket()
    client = login_client(desk["insider"])
    page = _html(client.get(f"{INBOX}?view=all"))
    poll = html_lib.unescape(re.search(r'id="ticket-list"[^>]* hx-get="([^"]+)"', page).group(1))  # type: ignore[union-attr]
    # when
    fragment = _html(client.get(f"{INBOX}{poll}", HTTP_HX_REQUEST="true"))
    # then
    assert 'hx-trigger="every 20s"' in page
    assert poll == "?view=all&partial=list"
    assert fragment.startswith('<div id="ticket-list"')
    assert "<html" not in fragment
    assert _numbers(fragment) == [ticket.number]


# --- Bulk actions ---------------------------------------------------------------------------


def test_bulk_assign_names_each_ticket_that_refused(
    desk: dict[str, Any],
    make_ticket: MakeTicket,
    make_type: Callable[..., TicketType],
    login_client: Callable[[User], JsonClient],
) -> None:
    """A ticket of a team the assignee is not in refuses and is named; the others change."""
    # given
    east = [make_ticket(subject="Drum noisy"), make_ticket(subject="Door seal leaks")]
    west_type = make_type(line=desk["line_b"], key="west-repair", number_prefix="WST")
    west = make_ticket(ticket_type=west_type, team=desk["team_b"])
    client = login_client(desk["manager"])
    # when
    response = client.post(
        f"{INBOX}bulk/",
        {
            "action": "assign",
            "assignee": desk["insider"].pk,
            "ticket": [east[0].pk, west.pk, east[1].pk],
            "next": "/tickets/?view=all",
        },
    )
    # then
    assert response.status_code == 302
    assert response["Location"] == "/tickets/?view=all"
    assert _messages(response) == [
        "2 tickets have been changed.",
        f"{west.number} was not changed: insider is not a member of Repair West.",
    ]
    assignees = dict(Ticket.objects.values_list("number", "assignee_id"))
    assert assignees == {
        east[0].number: desk["insider"].pk,
        east[1].number: desk["insider"].pk,
        west.number: None,
    }


def test_bulk_status_names_tickets_whose_lifecycle_refuses_the_move(
    desk: dict[str, Any], make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    """Solving needs a resolution code: the ticket without one is named with the reason."""
    # given
    with_code = make_ticket(custom_fields={"resolution_code": "fixed"})
    without = make_ticket()
    for ticket in (with_code, without):
        services.update_ticket(
            actor=desk["admin"], ticket=ticket, changes={"status": status(desk["repair"], "open")}
        )
    client = login_client(desk["insider"])
    # when
    response = client.post(
        f"{INBOX}bulk/",
        {"action": "status", "category": "solved", "ticket": [with_code.pk, without.pk]},
    )
    # then
    assert _messages(response) == [
        "1 ticket has been changed.",
        f"{without.number} was not changed: Fill in Resolution code before moving to Solved.",
    ]
    assert dict(Ticket.objects.values_list("number", "status_category")) == {
        with_code.number: "solved",
        without.number: "open",
    }


def test_bulk_merge_asks_which_ticket_continues_then_merges(
    desk: dict[str, Any], make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    # given
    older, newer = make_ticket(subject="Leak"), make_ticket(subject="Leak again")
    client = login_client(desk["insider"])
    picked = {"action": "merge", "ticket": [older.pk, newer.pk]}
    # when
    question = _html(client.post(f"{INBOX}bulk/", picked))
    done = client.post(f"{INBOX}bulk/", {**picked, "survivor": older.pk, "confirm": "on"})
    # then
    assert "Which ticket continues?" in _text(question)
    assert Ticket.objects.get(pk=newer.pk).merged_into_id == older.pk
    assert done["Location"] == f"/tickets/{older.number}/"
    assert _messages(done) == [f"{newer.number} have been merged into {older.number}."]


# --- The ticket page ------------------------------------------------------------------------


def test_ticket_page_shows_conversation_timeline_and_customer(
    desk: dict[str, Any], make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    """Replies and notes look different, files are checked links, the timeline is in words,
    and the requester's other tickets are listed."""
    # given
    earlier = make_ticket(subject="Installation")
    ticket = make_ticket()
    services.add_comment(actor=desk["insider"], ticket=ticket, body="We are on it.")
    note = services.add_comment(
        actor=desk["insider"],
        ticket=ticket,
        body="Part ordered",
        is_public=False,
        files=[SimpleUploadedFile("order.pdf", b"%PDF-1.4", content_type="application/pdf")],
    )
    services.update_ticket(actor=desk["insider"], ticket=ticket, changes={"priority": "urgent"})
    # when
    page = _html(login_client(desk["insider"]).get(f"{INBOX}{ticket.number}/"))
    # then
    comments = re.findall(r'<article id="comment-\d+" class="([^"]+)"', page)
    assert comments == ["comment comment-public", "comment comment-internal"]
    attachment = note.attachments.get()
    assert (
        f'href="/tickets/attachments/{attachment.pk}/" data-testid="attachment">order.pdf' in page
    )
    timeline = _text(_block(page, 'data-testid="timeline"'))
    assert "insider changed priority from Normal to Urgent." in timeline
    assert "insider added an internal note." in timeline
    assert "root-admin created the ticket (Agent workspace)." in timeline
    assert _text(_block(page, 'data-testid="previous"')) == f"{earlier.number} Installation New"
    assert _text(_block(page, 'data-testid="tier"')) == desk["alice"].tier.name


def test_ticket_page_by_id_redirects_to_its_number(
    desk: dict[str, Any], make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    # given
    ticket = make_ticket()
    # when
    response = login_client(desk["insider"]).get(f"{INBOX}{ticket.pk}/")
    # then
    assert response.status_code == 302
    assert response["Location"] == f"/tickets/{ticket.number}/"


def test_a_stale_edit_is_not_saved_and_says_what_the_other_person_changed(
    desk: dict[str, Any], make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    """Two agents edit at once: the second save is refused, keeps what they typed and lists
    the first agent's change; saving again then applies only the second agent's own change."""
    # given
    ticket = make_ticket()
    client = login_client(desk["insider"])
    loaded = _loaded(_html(client.get(f"{INBOX}{ticket.number}/")))
    services.update_ticket(actor=desk["colleague"], ticket=ticket, changes={"priority": "urgent"})
    before = ticket_state()
    # when
    refused = client.post(
        f"{INBOX}{ticket.pk}/properties/", _properties(ticket, loaded, tags="漏水, vip")
    )
    page = _html(refused, 409)
    after_refusal = ticket_state()
    again = client.post(
        f"{INBOX}{ticket.pk}/properties/",
        _properties(Ticket.objects.get(pk=ticket.pk), _loaded(page), tags="漏水, vip"),
    )
    # then
    notice = _text(_block(page, 'data-testid="stale-notice"'))
    assert "colleague changed priority from Normal to Urgent." in notice
    assert 'name="tags" value="漏水, vip"' in page
    assert '<option value="4" selected>Urgent</option>' in page
    assert after_refusal == before
    assert again.status_code == 302
    ticket.refresh_from_db()
    assert (ticket.priority, sorted(services.tags_of(ticket))) == (4, ["vip", "漏水"])


def test_take_tells_who_already_has_the_ticket(
    desk: dict[str, Any], make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    # given
    ticket = make_ticket()
    services.take_ticket(actor=desk["colleague"], ticket=ticket)
    before = ticket_state()
    # when
    response = login_client(desk["insider"]).post(f"{INBOX}{ticket.pk}/take/")
    # then
    assert response.status_code == 302
    assert response["Location"] == f"/tickets/{ticket.number}/"
    assert _messages(response) == ["colleague already has this ticket."]
    assert ticket_state() == before


def test_take_assigns_an_unassigned_ticket(
    desk: dict[str, Any], make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    # given
    ticket = make_ticket()
    # when
    response = login_client(desk["insider"]).post(f"{INBOX}{ticket.pk}/take/")
    # then
    assert _messages(response) == [f"You have taken {ticket.number}."]
    ticket.refresh_from_db()
    assert ticket.assignee_id == desk["insider"].pk


def test_a_status_change_names_the_fields_its_transition_needs(
    desk: dict[str, Any], make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    """Choosing "Solve" shows that it needs the resolution code; saving without it puts the
    reason next to that field and changes nothing."""
    # given
    ticket = make_ticket()
    services.update_ticket(
        actor=desk["admin"], ticket=ticket, changes={"status": status(desk["repair"], "open")}
    )
    ticket.refresh_from_db()
    client = login_client(desk["insider"])
    loaded = _loaded(_html(client.get(f"{INBOX}{ticket.number}/")))
    solved = status(desk["repair"], "solved")
    data = _properties(ticket, loaded, status=solved.pk, cf_resolution_code="")
    before = ticket_state()
    # when
    preview = _html(
        client.post(
            f"{INBOX}{ticket.pk}/properties/", {**data, "preview": "1"}, HTTP_HX_REQUEST="true"
        )
    )
    refused = _html(client.post(f"{INBOX}{ticket.pk}/properties/", data), 422)
    after_refusal = ticket_state()
    solved_page = client.post(
        f"{INBOX}{ticket.pk}/properties/", {**data, "cf_resolution_code": "fixed"}
    )
    # then
    assert _text(_block(preview, 'data-testid="needed"')) == (
        "To move to Solved, fill in: Resolution code."
    )
    assert "field-errors" not in preview
    label = _block(refused, 'for="id_cf_resolution_code"')
    assert label.startswith(
        '<label for="id_cf_resolution_code">Resolution code<span class="required-mark"'
    )
    assert _errors_of(refused, "cf_resolution_code") == [
        "Fill in Resolution code to move to Solved."
    ]
    errors = re.findall(r'<ul class="field-errors"><li>([^<]+)</li></ul>', refused)
    assert errors == ["Fill in Resolution code to move to Solved."]
    assert after_refusal == before
    assert solved_page.status_code == 302
    ticket.refresh_from_db()
    assert (ticket.status_category, ticket.custom_fields) == (
        "solved",
        {"resolution_code": "fixed"},
    )


def test_reply_and_note_with_files(
    desk: dict[str, Any], make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    # given
    ticket = make_ticket()
    client = login_client(desk["insider"])
    # when
    reply = client.post(
        f"{INBOX}{ticket.pk}/comments/",
        {
            "body": "Please send a photo.",
            "visibility": "public",
            "attachments": [
                SimpleUploadedFile("a.txt", b"one"),
                SimpleUploadedFile("b.txt", b"two"),
            ],
        },
    )
    note = client.post(
        f"{INBOX}{ticket.pk}/comments/", {"body": "Customer sounds upset", "visibility": "internal"}
    )
    empty = client.post(f"{INBOX}{ticket.pk}/comments/", {"body": " ", "visibility": "public"})
    # then
    comments = list(ticket.comments.order_by("pk"))
    assert [(c.is_public, c.body_text, c.attachments.count()) for c in comments] == [
        (True, "Please send a photo.", 2),
        (False, "Customer sounds upset", 0),
    ]
    assert reply["Location"] == f"/tickets/{ticket.number}/#comment-{comments[0].pk}"
    assert _messages(note) == ["Your reply has been sent.", "Your note has been added."]
    errors = re.findall(r'<ul class="field-errors"><li>([^<]+)</li></ul>', _html(empty, 422))
    assert errors == ["Write a message."]


def test_link_merge_and_split_from_the_ticket_page(
    desk: dict[str, Any], make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    # given
    ticket, other = make_ticket(subject="Leak"), make_ticket(subject="Leak again")
    comment = services.add_comment(actor=desk["insider"], ticket=ticket, body="Also the dryer")
    client = login_client(desk["insider"])
    # when
    unknown = _html(
        client.post(f"{INBOX}{ticket.pk}/links/", {"number": "NOPE-1", "kind": "related"}), 422
    )
    linked = client.post(f"{INBOX}{ticket.pk}/links/", {"number": other.number, "kind": "related"})
    split = client.post(f"{INBOX}{ticket.pk}/split/{comment.pk}/", {"subject": "Dryer"})
    merged = client.post(f"{INBOX}{other.pk}/merge/", {"number": ticket.number})
    # then
    assert "No ticket you can see has this number." in _text(unknown)
    assert linked.status_code == 302
    new = Ticket.objects.get(subject="Dryer")
    assert split["Location"] == f"/tickets/{new.number}/"
    assert merged["Location"] == f"/tickets/{ticket.number}/"
    assert Ticket.objects.get(pk=other.pk).merged_into_id == ticket.pk
    page = _text(_block(_html(client.get(f"{INBOX}{ticket.number}/")), 'id="links"'))
    assert f"Related to {other.number}" in page
    assert f"Related to {new.number}" in page


def test_customer_360_lists_the_tickets_the_viewer_may_see(
    desk: dict[str, Any],
    make_ticket: MakeTicket,
    make_type: Callable[..., TicketType],
    make_user: Callable[..., User],
    login_client: Callable[[User], JsonClient],
) -> None:
    """An agent of line A sees Alice's line-A tickets on her page, not her line-B one."""
    # given
    older = make_ticket(subject="Drum noisy")
    newer = make_ticket(subject="Door seal leaks")
    west_type = make_type(line=desk["line_b"], key="west-repair", number_prefix="WST")
    make_ticket(ticket_type=west_type, team=desk["team_b"], subject="Elsewhere")
    agent = make_user("east-agent", role="agent", scope="business_lines", lines=[desk["line_a"]])
    # when
    page = _html(login_client(agent).get(f"/customers/{desk['alice'].pk}/"))
    everything = _html(login_client(desk["manager"]).get(f"/customers/{desk['alice'].pk}/"))
    # then
    assert _text(_block(page, 'data-testid="customer-tickets"')) == (
        f"{newer.number} Door seal leaks New {localtime(newer.created_at):%Y-%m-%d} "
        f"{older.number} Drum noisy New {localtime(older.created_at):%Y-%m-%d}"
    )
    assert f'href="/tickets/new/?requester={desk["alice"].pk}"' in page
    assert "Elsewhere" in _text(_block(everything, 'data-testid="customer-tickets"'))


# --- Saved views and macros -----------------------------------------------------------------


def test_the_current_filters_are_saved_as_a_personal_view(
    desk: dict[str, Any], make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    """The view keeps the filters and sort on screen, shows with its count, and only for its
    owner."""
    # given
    urgent = make_ticket(priority="urgent")
    make_ticket(priority="low")
    client = login_client(desk["insider"])
    page = _html(client.get(f"{INBOX}?view=all&priority=urgent&sort=created_at"))
    form = _block(page, 'data-testid="save-view"')
    filters = html_lib.unescape(re.search(r'name="filters" value="([^"]+)"', form).group(1))  # type: ignore[union-attr]
    # when
    saved = client.post(
        f"{INBOX}views/new/",
        {"name": "Urgent ones", "filters": filters, "sort": "created_at", "next": INBOX},
    )
    view_url = saved["Location"]
    shown = _html(client.get(view_url))
    colleague = _html(login_client(desk["colleague"]).get(INBOX))
    # then
    assert filters == '{"priority": ["urgent"]}'
    assert view_url.startswith("/tickets/?view=saved-")
    assert _numbers(shown) == [urgent.number]
    key = view_url.removeprefix("/tickets/?view=")
    assert _text(_block(shown, f'data-view="{key}"')) == "Urgent ones 1"
    assert "Urgent ones" not in colleague
    assert "Delete view" in shown


def test_applying_a_macro_changes_the_ticket_and_adds_its_message(
    desk: dict[str, Any], make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    # given
    ticket = make_ticket()
    macro = services.create_macro(
        actor=desk["insider"],
        name="Ask for a photo",
        body="Please send a photo of the error, {{ ticket.number }}.",
        actions=[{"field": "priority", "value": "high"}, {"field": "add_tags", "value": ["photo"]}],
    )
    client = login_client(desk["insider"])
    page = _html(client.get(f"{INBOX}{ticket.number}/"))
    # when
    response = client.post(
        f"{INBOX}{ticket.pk}/macro/", {"macro": macro.pk, "version": ticket.version}
    )
    stale = client.post(
        f"{INBOX}{ticket.pk}/macro/", {"macro": macro.pk, "version": ticket.version}
    )
    # then
    assert f'<option value="{macro.pk}">Ask for a photo</option>' in page
    assert response["Location"] == f"/tickets/{ticket.number}/"
    ticket.refresh_from_db()
    assert (ticket.priority, services.tags_of(ticket)) == (3, ["photo"])
    assert [c.body_text for c in ticket.comments.all()] == [
        f"Please send a photo of the error, {ticket.number}."
    ]
    assert _messages(stale)[-1] == (
        "Someone changed this ticket since you opened it. Check it, then apply the macro."
    )
    assert ticket.comments.count() == 1
    timeline = _text(
        _block(_html(client.get(f"{INBOX}{ticket.number}/")), 'data-testid="timeline"')
    )
    assert "insider applied the macro Ask for a photo." in timeline


def test_the_list_costs_the_same_queries_for_few_and_many_tickets(
    desk: dict[str, Any],
    make_ticket: MakeTicket,
    login_client: Callable[[User], JsonClient],
    django_assert_num_queries: Any,
) -> None:
    """Eight: session, user, grants, saved views, the agent's teams (their scope), the custom
    fields the filters may name, one page of tickets with what a row shows, and their tags."""
    # given
    client = login_client(desk["insider"])
    url = f"{INBOX}?view=all&partial=list"
    for _number in range(3):
        make_ticket(tags=["漏水"], assignee=desk["insider"])
    # when
    with django_assert_num_queries(8):
        few = client.get(url)
    for _number in range(7):
        make_ticket(tags=["vip", "漏水"])
    with django_assert_num_queries(8):
        many = client.get(url)
    # then
    assert len(_numbers(_html(few))) == 3
    assert len(_numbers(_html(many))) == 10


def test_saving_the_panel_keeps_followers_the_agent_cannot_see(
    desk: dict[str, Any], make_ticket: MakeTicket, login_client: Callable[[User], JsonClient]
) -> None:
    """The manager follows a team ticket; an agent who cannot see the manager changes the
    priority: the manager still follows it."""
    # given
    ticket = make_ticket(followers=[desk["manager"]])
    client = login_client(desk["insider"])
    page = _html(client.get(f"{INBOX}{ticket.number}/"))
    followers = _block(page, 'name="followers"')
    # when
    response = client.post(
        f"{INBOX}{ticket.pk}/properties/",
        _properties(ticket, _loaded(page), priority=4, followers=[desk["manager"].pk]),
    )
    # then
    assert f'<option value="{desk["manager"].pk}" selected>manager</option>' in followers
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.priority == 4
    assert list(ticket.followers.values_list("username", flat=True)) == ["manager"]


# --- New ticket -----------------------------------------------------------------------------


@pytest.fixture
def repair_form(desk: dict[str, Any]) -> dict[str, Any]:
    """The repair type's form: a product cascade, a kind and a reason shown for refunds."""
    subtarget = form_key_of(desk["repair"].pk)
    common = {"actor": desk["admin"], "target": "tickets.ticket", "subtarget": subtarget}
    customfields.create_definition(
        **common,
        key="product",
        field_type="cascade",
        label_en="Product",
        is_required=True,
        config={
            "options": [
                {
                    "key": "washer",
                    "label_en": "Washer",
                    "children": [
                        {"key": "e3", "label_en": "E3"},
                        {"key": "noise", "label_en": "Noise"},
                    ],
                },
                {
                    "key": "dryer",
                    "label_en": "Dryer",
                    "children": [{"key": "heat", "label_en": "No heat"}],
                },
            ]
        },
    )
    customfields.create_definition(
        **common,
        key="kind",
        field_type="single_choice",
        label_en="Kind",
        config={
            "options": [
                {"key": "repair", "label_en": "Repair"},
                {"key": "refund", "label_en": "Refund"},
            ]
        },
    )
    customfields.create_definition(
        **common,
        key="refund_reason",
        field_type="text",
        label_en="Refund reason",
        is_required=True,
        visible_when={"field": "kind", "op": "equals", "value": "refund"},
    )
    return {
        "ticket_type": desk["repair"].pk,
        "requester": desk["alice"].pk,
        "subject": "Washer stops",
        "description": "Water stays in the drum.",
        "priority": 2,
        "team": desk["team_a"].pk,
        "tags": "漏水, vip",
    }


def test_the_new_ticket_form_shows_a_conditional_field_only_when_it_applies(
    desk: dict[str, Any], repair_form: dict[str, Any], login_client: Callable[[User], JsonClient]
) -> None:
    # given
    client = login_client(desk["manager"])

    def preview(**values: str) -> str:
        response = client.post(
            f"{INBOX}new/", {**repair_form, **values, "preview": "1"}, HTTP_HX_REQUEST="true"
        )
        return _html(response)

    # when
    for_repair = preview(cf_kind="repair", cf_product__0="washer")
    for_refund = preview(cf_kind="refund", cf_product__0="washer", cf_product__1="e3")
    other_parent = preview(cf_product__0="dryer", cf_product__1="e3")
    # then
    assert for_repair.startswith('<section class="card" id="type-fields"')
    assert "cf_refund_reason" not in for_repair
    assert 'name="cf_refund_reason"' in for_refund
    assert "field-errors" not in for_refund
    levels = re.findall(
        r'name="cf_product__\d".*?<option value="(\w+)" selected>', for_refund, re.S
    )
    assert levels == ["washer", "e3"]
    assert (
        re.findall(r'name="cf_product__1".*?</select>', other_parent, re.S)[0].count("selected")
        == 0
    )
    assert Ticket.objects.count() == 0


def test_a_new_ticket_is_created_or_its_errors_named_next_to_the_fields(
    desk: dict[str, Any], repair_form: dict[str, Any], login_client: Callable[[User], JsonClient]
) -> None:
    # given
    client = login_client(desk["manager"])
    incomplete = {**repair_form, "subject": "", "cf_product__0": "washer", "cf_kind": "refund"}
    # when
    refused = _html(client.post(f"{INBOX}new/", incomplete), 422)
    created = client.post(
        f"{INBOX}new/",
        {
            **repair_form,
            "cf_product__0": "washer",
            "cf_product__1": "e3",
            "cf_kind": "refund",
            "cf_refund_reason": "Broke twice",
        },
    )
    # then
    assert "has-error" in _block(refused, 'data-field="cf_product"')
    assert "Choose down to the last level." in _text(_block(refused, 'data-field="cf_product"'))
    subject = refused[
        refused.index('for="id_subject"') - 40 : refused.index('id="id_subject"') + 400
    ]
    assert "This field is required." in subject
    assert "This field is required." in _text(
        refused[refused.index('for="id_cf_refund_reason"') - 40 :][:600]
    )
    ticket = Ticket.objects.get()
    assert created["Location"] == f"/tickets/{ticket.number}/"
    assert ticket.custom_fields == {
        "product": ["washer", "e3"],
        "kind": "refund",
        "refund_reason": "Broke twice",
    }
    assert (ticket.team_id, sorted(services.tags_of(ticket))) == (
        desk["team_a"].pk,
        ["vip", "漏水"],
    )


def test_the_requester_search_finds_only_customers_in_scope(
    desk: dict[str, Any], login_client: Callable[[User], JsonClient]
) -> None:
    # given
    carol = customer_services.create_customer(
        actor=desk["admin"], name="Carol", business_line=desk["line_a"], team=desk["team_a"]
    )
    # when
    inside = _html(login_client(desk["insider"]).get(f"{INBOX}new/customers/?requester_q=a"))
    outside = _html(login_client(desk["outsider"]).get(f"{INBOX}new/customers/?requester_q=a"))
    # then
    assert re.findall(r'name="requester" value="(\d+)"', inside) == [str(carol.pk)]
    assert "No customer you can see matches." in _text(outside)


def test_a_reader_without_change_rights_sees_the_panel_read_only(
    desk: dict[str, Any],
    make_ticket: MakeTicket,
    make_user: Callable[..., User],
    login_client: Callable[[User], JsonClient],
) -> None:
    """A field engineer reads tickets: no Save, no reply box, no Take; a forged save is a 403."""
    # given
    ticket = make_ticket()
    engineer = make_user("engineer", role="field-engineer", scope="teams", teams=[desk["team_a"]])
    client = login_client(engineer)
    before = ticket_state()
    # when
    page = _html(client.get(f"{INBOX}{ticket.number}/"))
    forged = client.post(
        f"{INBOX}{ticket.pk}/properties/", _properties(ticket, _loaded(page), priority=4)
    )
    # then
    panel = _block(page, 'id="properties"')
    assert '<fieldset class="plain-fieldset" disabled>' in panel
    assert "You may read this ticket but not change it." in _text(panel)
    assert 'id="composer"' not in page
    assert 'data-shortcut="take"' not in page
    assert forged.status_code == 403
    assert ticket_state() == before
