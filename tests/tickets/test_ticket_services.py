"""Ticket services: numbers, changes through the lifecycle, stale writes, take, conversation,
reopen and auto-close, merge and split, and the move of tickets when customers merge."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from aftersales.core.errors import (
    Conflict,
    DomainError,
    NotFound,
    PreconditionFailed,
)
from aftersales.customers import services as customer_services
from aftersales.outbox import services as outbox_services
from aftersales.outbox.models import EventDelivery, OutboxEvent
from aftersales.tickets import selectors, services
from aftersales.tickets.models import Attachment, Comment, Ticket, TicketEvent, TicketLink
from tests.tickets.conftest import status, ticket_state

MakeTicket = Callable[..., Ticket]


def test_numbers_carry_the_prefix_and_month_and_never_repeat(
    desk: dict[str, Any], make_ticket: MakeTicket
) -> None:
    """Tickets get REP-<yyyymm>-0001, -0002… from the type's prefix."""
    # when
    with time_machine.travel("2026-11-20 10:00 +08:00", tick=False):
        first, second = make_ticket(), make_ticket()
    with time_machine.travel("2026-12-01 10:00 +08:00", tick=False):
        third = make_ticket()
    # then
    assert [first.number, second.number, third.number] == [
        "REP-202611-0001",
        "REP-202611-0002",
        "REP-202612-0001",
    ]


def test_a_new_ticket_starts_in_the_initial_status_and_is_announced(
    desk: dict[str, Any], make_ticket: MakeTicket
) -> None:
    """Creation records the timeline's first event and emits ticket.created (and .assigned)."""
    # when
    ticket = make_ticket(assignee=desk["insider"], tags=["漏水", "VIP"], priority="high")
    # then
    ticket.refresh_from_db()
    assert (ticket.status.key, ticket.status_category, ticket.priority) == ("new", "new", 3)
    assert ticket.organisation_id is None
    assert selectors.tags_of(ticket) == ["VIP", "漏水"]
    assert list(TicketEvent.objects.filter(ticket=ticket).values_list("kind", flat=True)) == [
        "created"
    ]
    topics = list(
        OutboxEvent.objects.filter(object_type="tickets.ticket", object_id=str(ticket.pk))
        .order_by("created_at")
        .values_list("topic", flat=True)
    )
    assert topics == ["ticket.created", "ticket.assigned"]


def test_creation_refuses_a_bad_custom_field_value_and_saves_nothing(
    desk: dict[str, Any], make_ticket: MakeTicket
) -> None:
    """The form engine checks the values of the type's form; nothing is written on refusal."""
    # given
    before = ticket_state()
    # when
    with pytest.raises(DomainError) as refused:
        make_ticket(custom_fields={"resolution_code": "burnt"})
    # then
    assert refused.value.errors()[0]["field"] == "custom_fields.resolution_code"
    assert ticket_state() == before


def test_an_agent_cannot_create_a_ticket_they_could_not_see(
    desk: dict[str, Any], make_ticket: MakeTicket
) -> None:
    """A "my teams" agent filing for another team of the line would lose the ticket: refused."""
    # given
    before = ticket_state()
    # when
    with pytest.raises(DomainError):
        make_ticket(actor=desk["outsider"])
    # then
    assert ticket_state() == before


def test_solving_requires_the_resolution_code_and_names_it(
    desk: dict[str, Any], make_ticket: MakeTicket
) -> None:
    """The open → solved transition asks for resolution_code; sent together it passes."""
    # given
    ticket = make_ticket()
    repair = desk["repair"]
    services.update_ticket(
        actor=desk["insider"], ticket=ticket, changes={"status": status(repair, "open")}
    )
    # when
    with pytest.raises(DomainError) as refused:
        services.update_ticket(
            actor=desk["insider"], ticket=ticket, changes={"status": status(repair, "solved")}
        )
    solved = services.update_ticket(
        actor=desk["insider"],
        ticket=ticket,
        changes={"status": status(repair, "solved"), "custom_fields": {"resolution_code": "fixed"}},
    )
    # then
    assert (refused.value.code, refused.value.field) == (
        "required_field_missing",
        "resolution_code",
    )
    assert solved.status_category == "solved"
    assert solved.solved_at is not None
    event = TicketEvent.objects.filter(ticket=ticket).order_by("pk").last()
    assert event is not None
    assert event.changes["status"][1]["name_en"] == "Solved"
    assert event.changes["custom_fields.resolution_code"] == [None, "fixed"]


def test_a_status_without_transition_is_refused(
    desk: dict[str, Any], make_ticket: MakeTicket
) -> None:
    """new → closed is not in the lifecycle."""
    ticket = make_ticket()
    before = ticket_state()
    with pytest.raises(DomainError) as refused:
        services.update_ticket(
            actor=desk["insider"],
            ticket=ticket,
            changes={"status": status(desk["repair"], "closed")},
        )
    assert refused.value.code == "transition_not_allowed"
    assert ticket_state() == before


def test_a_stale_version_is_refused_with_412(desk: dict[str, Any], make_ticket: MakeTicket) -> None:
    """Two edits from the same read: the first wins, the second gets PreconditionFailed."""
    # given
    ticket = make_ticket()
    read_version = ticket.version
    services.update_ticket(
        actor=desk["insider"],
        ticket=ticket,
        changes={"priority": "urgent"},
        expected_version=read_version,
    )
    before = ticket_state()
    # when
    with pytest.raises(PreconditionFailed) as stale:
        services.update_ticket(
            actor=desk["colleague"],
            ticket=ticket,
            changes={"priority": "low"},
            expected_version=read_version,
        )
    # then
    assert stale.value.status == 412
    assert ticket_state() == before
    assert Ticket.objects.get(pk=ticket.pk).priority == Ticket.Priority.URGENT


def test_an_agent_outside_the_scope_gets_not_found(
    desk: dict[str, Any], make_ticket: MakeTicket
) -> None:
    """Team B's agent cannot see nor change team A's ticket."""
    ticket = make_ticket()
    before = ticket_state()
    with pytest.raises(NotFound):
        services.update_ticket(actor=desk["outsider"], ticket=ticket, changes={"priority": 4})
    assert ticket_state() == before
    assert list(selectors.tickets_visible_to(desk["outsider"])) == []
    assert list(selectors.tickets_visible_to(desk["insider"])) == [ticket]


def test_moving_to_another_team_unassigns_a_non_member(
    desk: dict[str, Any], make_ticket: MakeTicket, make_team: Callable[..., Any]
) -> None:
    """The assignee stays only if they belong to the new team."""
    ticket = make_ticket(assignee=desk["insider"])
    other = make_team(name="Second line East", line=desk["line_a"])
    changed = services.update_ticket(actor=desk["manager"], ticket=ticket, changes={"team": other})
    assert (changed.team_id, changed.assignee_id) == (other.pk, None)


def test_take_is_atomic_and_tells_the_loser_who_has_it(
    desk: dict[str, Any], make_ticket: MakeTicket
) -> None:
    """The second agent to take a ticket is refused with the winner's name."""
    ticket = make_ticket()
    services.take_ticket(actor=desk["insider"], ticket=ticket)
    with pytest.raises(Conflict) as lost:
        services.take_ticket(actor=desk["colleague"], ticket=ticket)
    assert "insider" in lost.value.detail()
    assert Ticket.objects.get(pk=ticket.pk).assignee_id == desk["insider"].pk
    assert OutboxEvent.objects.filter(topic="ticket.assigned").count() == 1


def test_notes_stay_internal_and_replies_set_first_response(
    desk: dict[str, Any], make_ticket: MakeTicket
) -> None:
    """A contact reads public replies only; the first public staff reply is the first response."""
    ticket = make_ticket()
    services.add_comment(
        actor=desk["insider"], ticket=ticket, body="Check the pump @colleague", is_public=False
    )
    services.add_comment(actor=desk["insider"], ticket=ticket, body="We will call you.")
    ticket.refresh_from_db()
    seen_by_contact = list(
        selectors.comments_visible_to(desk["contact_a"], ticket).values_list("body_text", flat=True)
    )
    assert seen_by_contact == ["We will call you."]
    assert ticket.first_response_at is not None
    mention = OutboxEvent.objects.get(topic="ticket.mentioned")
    assert mention.payload["user_ids"] == [desk["colleague"].pk]


def test_a_contact_cannot_reply_on_someone_elses_ticket(
    desk: dict[str, Any], make_ticket: MakeTicket
) -> None:
    """Bob's login cannot write on Alice's ticket, nor see it."""
    ticket = make_ticket()
    before = ticket_state()
    with pytest.raises(NotFound):
        services.add_comment(actor=desk["contact_b"], ticket=ticket, body="hello")
    assert ticket_state() == before
    assert list(selectors.tickets_visible_to(desk["contact_b"])) == []
    assert list(selectors.tickets_visible_to(desk["contact_a"])) == [ticket]


def test_a_customer_reply_reopens_within_the_window_only(
    desk: dict[str, Any], make_ticket: MakeTicket
) -> None:
    """Solved + reply within reopen_within_days (7) → open; after it, the ticket stays solved."""
    repair = desk["repair"]

    def solved_ticket() -> Ticket:
        ticket = make_ticket()
        for key, extra in (("open", {}), ("solved", {"resolution_code": "fixed"})):
            services.update_ticket(
                actor=desk["insider"],
                ticket=ticket,
                changes={"status": status(repair, key), "custom_fields": extra},
            )
        return ticket

    recent, old = solved_ticket(), solved_ticket()
    Ticket.objects.filter(pk=old.pk).update(solved_at=timezone.now() - timedelta(days=8))
    for ticket in (recent, old):
        services.add_comment(actor=desk["contact_a"], ticket=ticket, body="Still broken")
    assert Ticket.objects.get(pk=recent.pk).status_category == "open"
    assert Ticket.objects.get(pk=old.pk).status_category == "solved"


def test_auto_close_closes_only_tickets_solved_long_enough(
    desk: dict[str, Any], make_ticket: MakeTicket
) -> None:
    """The periodic job closes solved tickets older than auto_close_after_days (7)."""
    repair = desk["repair"]
    tickets = [make_ticket(), make_ticket()]
    for ticket in tickets:
        services.update_ticket(
            actor=desk["insider"], ticket=ticket, changes={"status": status(repair, "open")}
        )
        services.update_ticket(
            actor=desk["insider"],
            ticket=ticket,
            changes={
                "status": status(repair, "solved"),
                "custom_fields": {"resolution_code": "fixed"},
            },
        )
    Ticket.objects.filter(pk=tickets[0].pk).update(
        solved_at=timezone.now() - timedelta(days=7, hours=1)
    )
    assert services.close_solved_tickets() == 1
    assert [Ticket.objects.get(pk=t.pk).status_category for t in tickets] == ["closed", "solved"]
    assert TicketEvent.objects.filter(kind="auto_closed").count() == 1


def test_merge_moves_the_conversation_and_closes_the_merged_ticket(
    desk: dict[str, Any], make_ticket: MakeTicket
) -> None:
    """The survivor gets the comments (and files); the merged ticket points to it, closed."""
    survivor, duplicate = make_ticket(), make_ticket()
    upload = SimpleUploadedFile("photo.jpg", b"\xff\xd8 jpeg bytes", content_type="image/jpeg")
    services.add_comment(
        actor=desk["contact_a"], ticket=duplicate, body="Here is a photo", files=[upload]
    )
    result = services.merge_tickets(actor=desk["manager"], survivor=survivor, merged=[duplicate])
    duplicate.refresh_from_db()
    assert result.comments_moved == 1
    assert (duplicate.merged_into_id, duplicate.status_category) == (survivor.pk, "closed")
    texts = list(Comment.objects.filter(ticket=survivor).values_list("body_text", flat=True))
    assert texts[0] == "Here is a photo"
    assert duplicate.number in texts[1]
    assert Attachment.objects.get().ticket_id == survivor.pk
    assert OutboxEvent.objects.filter(topic="ticket.merged").count() == 1


def test_split_turns_a_comment_into_a_linked_ticket(
    desk: dict[str, Any], make_ticket: MakeTicket
) -> None:
    """The new ticket has the comment as description and links back to the original."""
    original = make_ticket()
    comment = services.add_comment(
        actor=desk["contact_a"], ticket=original, body="Also the dryer is noisy"
    )
    new = services.split_ticket(actor=desk["insider"], comment=comment, subject="Noisy dryer")
    assert new.requester_id == original.requester_id
    assert "dryer is noisy" in new.description
    assert TicketLink.objects.filter(source=new, target=original, kind="related").exists()


def test_files_of_blocked_types_and_oversize_are_refused(
    desk: dict[str, Any], make_ticket: MakeTicket, settings: Any
) -> None:
    """An .exe, or a file beyond ATTACHMENT_MAX_BYTES, never lands; nor does its message."""
    settings.ATTACHMENT_MAX_BYTES = 10
    ticket = make_ticket()
    before = ticket_state()
    for upload, code in (
        (SimpleUploadedFile("setup.exe", b"MZ"), "file_type_refused"),
        (SimpleUploadedFile("big.pdf", b"x" * 11), "file_too_large"),
    ):
        with pytest.raises(DomainError) as refused:
            services.add_comment(actor=desk["insider"], ticket=ticket, body="x", files=[upload])
        assert refused.value.code == code
    assert ticket_state() == before
    assert Attachment.objects.count() == 0


def test_merging_customers_moves_their_tickets(
    desk: dict[str, Any], make_ticket: MakeTicket
) -> None:
    """customer.merged is delivered to tickets: the merged customer's tickets follow them."""
    ticket = make_ticket(requester=desk["bob"])
    customer_services.merge_customers(
        actor=desk["admin"], survivor=desk["alice"], merged=desk["bob"]
    )
    event = OutboxEvent.objects.get(topic="customer.merged")
    outbox_services.deliver_event(str(event.pk))
    assert (
        EventDelivery.objects.get(
            event=event, subscriber="tickets.move_merged_customer_tickets"
        ).status
        == "delivered"
    )
    assert Ticket.objects.get(pk=ticket.pk).requester_id == desk["alice"].pk


def test_the_sweep_removes_stored_files_without_a_row_and_keeps_the_rest(
    desk: dict[str, Any], make_ticket: MakeTicket, settings: Any, tmp_path: Any
) -> None:
    """A file whose transaction rolled back is deleted; attached and fresh files stay."""
    ticket = make_ticket()
    upload = SimpleUploadedFile("manual.pdf", b"%PDF-1.4 kept", content_type="application/pdf")
    services.add_comment(actor=desk["insider"], ticket=ticket, body="manual", files=[upload])
    kept = Attachment.objects.get()
    storage = kept.file.storage
    orphan = storage.save(f"tickets/{timezone.now():%Y/%m}/orphan", ContentFile(b"lost"))
    fresh = storage.save(f"tickets/{timezone.now():%Y/%m}/fresh", ContentFile(b"in flight"))
    old = (timezone.now() - timedelta(days=1)).timestamp()
    for name in (orphan, kept.file.name):
        os.utime(storage.path(name), (old, old))
    assert services.sweep_orphan_files() == 1
    assert (storage.exists(orphan), storage.exists(kept.file.name), storage.exists(fresh)) == (
        False,
        True,
        True,
    )


def test_taking_another_teams_ticket_moves_it_to_the_takers_team(
    desk: dict[str, Any], make_ticket: MakeTicket, make_team: Callable[..., Any],
    make_user: Callable[..., Any],
) -> None:  # fmt: skip
    """A line-wide agent of the second line takes a first-line ticket: it moves to their team;
    a manager without a team in the line takes one and it stays where it was."""
    second = make_team(name="Second line East", line=desk["line_a"])
    expert = make_user("expert", role="agent", scope="business_lines", teams=[second])
    ticket, other = make_ticket(), make_ticket()
    taken = services.take_ticket(actor=expert, ticket=ticket)
    helped = services.take_ticket(actor=desk["manager"], ticket=other)
    assert (taken.assignee_id, taken.team_id) == (expert.pk, second.pk)
    assert (helped.assignee_id, helped.team_id) == (desk["manager"].pk, desk["team_a"].pk)
    event = TicketEvent.objects.filter(ticket=ticket, kind="assigned").get()
    assert event.changes["team"][1]["name"] == "Second line East"
