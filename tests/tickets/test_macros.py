"""Macros: who keeps, shares and edits them; checked placeholders and field changes; the
message rendered from an allowlist; applying one as a single all-or-nothing change; the API."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from django.utils import translation

from aftersales.accounts.models import User
from aftersales.audit.models import AuditEntry
from aftersales.core.errors import DomainError, NotFound, PermissionDenied, PreconditionFailed
from aftersales.outbox.models import OutboxEvent
from aftersales.tickets import selectors, services
from aftersales.tickets.models import Comment, Macro, Ticket, TicketEvent
from aftersales.tickets.services import macros
from tests.api.support import assert_problem, body_of
from tests.conftest import JsonClient
from tests.tickets.conftest import status, ticket_state


@pytest.fixture(autouse=True)
def _messages_in_english() -> Iterator[None]:
    """The messages below are the English ones, whatever an earlier test left active."""
    with translation.override("en"):
        yield


MakeTicket = Callable[..., Ticket]
T = TypeVar("T")
VALUE = "actions.0.value"
# Session, user, grants, team memberships, business lines, the macros.
QUERIES = 6


def macro_state() -> dict[str, Any]:
    """Everything a refused macro request must leave as it was."""
    return {
        "macros": list(
            Macro.objects.order_by("pk").values_list(
                "pk",
                "name",
                "owner_id",
                "is_shared",
                "business_line_id",
                "body",
                "actions",
                "is_active",
                "usage_count",
                "version",
            )
        ),
        "outbox": list(OutboxEvent.objects.order_by("created_at").values_list("topic", flat=True)),
        "audit": AuditEntry.objects.filter(object_type="tickets.macro").count(),
    }


def _topics(prefix: str) -> list[str]:
    return list(
        OutboxEvent.objects.filter(topic__startswith=prefix)
        .order_by("created_at")
        .values_list("topic", flat=True)
    )


@pytest.fixture
def make_macro(desk: dict[str, Any]) -> Callable[..., Macro]:
    """make_macro(actor=insider, name=..., **fields) → a macro made through the service."""

    def make(actor: User | None = None, **fields: Any) -> Macro:
        values: dict[str, Any] = {"name": "Ask for the serial", "body": "Hello!", **fields}
        return macros.create_macro(actor=actor or desk["insider"], **values)

    return make


# --- Keeping and sharing ---------------------------------------------------------------------


def test_agent_keeps_a_personal_macro_with_checked_changes(desk: dict[str, Any]) -> None:
    """Actions are stored in canonical form; creation is audited and announced."""
    # when
    macro = macros.create_macro(
        actor=desk["insider"],
        name="  Waiting   for part ",
        body="Hello {{ customer.name }}, ticket {{ ticket.number }} waits for a part.",
        actions=[
            {"field": "priority", "value": 3},
            {"field": "status", "value": "pending_internal"},
            {"field": "assignee", "value": "me"},
            {"field": "add_tags", "value": [" part ", "part", "waiting"]},
            {"field": "custom_fields.resolution_code", "value": "fixed"},
        ],
    )
    # then
    macro.refresh_from_db()
    assert (macro.name, macro.owner_id, macro.is_shared, macro.business_line_id) == (
        "Waiting for part",
        desk["insider"].pk,
        False,
        None,
    )
    assert macro.actions == [
        {"field": "priority", "value": "high"},
        {"field": "status", "value": "pending_internal"},
        {"field": "assignee", "value": "me"},
        {"field": "add_tags", "value": ["part", "waiting"]},
        {"field": "custom_fields.resolution_code", "value": "fixed"},
    ]
    assert _topics("macro.") == ["macro.created"]
    assert (
        AuditEntry.objects.filter(
            object_type="tickets.macro", object_id=str(macro.pk), verb="created"
        ).count()
        == 1
    )


@pytest.mark.parametrize(
    ("_case", "body", "code", "detail"),
    [
        (
            "unknown",
            "Dear {{ customer.name }}, {{ ticket.secret }}",
            "unknown_placeholder",
            "Unknown placeholder {{ ticket.secret }}.",
        ),
        (
            "template tag syntax",
            "{{ settings.SECRET_KEY }}",
            "unknown_placeholder",
            "Unknown placeholder {{ settings.SECRET_KEY }}.",
        ),
        (
            "unknown custom field",
            "{{ ticket.custom_fields.nothing }}",
            "unknown_placeholder",
            "Unknown placeholder {{ ticket.custom_fields.nothing }}.",
        ),
        (
            "unclosed",
            "Hello {{ customer.name",
            "placeholder_unclosed",
            "A placeholder opened with {{ is not closed with }}.",
        ),
        (
            "staff-only field in a public reply",
            "Code: {{ ticket.custom_fields.resolution_code }}",
            "placeholder_not_public",
            "The placeholder {{ ticket.custom_fields.resolution_code }} shows a field customers "
            "do not see; use it in internal notes only.",
        ),
    ],
)
def test_a_bad_placeholder_is_refused_by_name_and_nothing_is_kept(
    desk: dict[str, Any], _case: str, body: str, code: str, detail: str
) -> None:
    # given
    before = macro_state()
    # when
    with pytest.raises(DomainError) as refused:
        macros.create_macro(actor=desk["insider"], name="Bad", body=body)
    # then
    assert (refused.value.code, refused.value.field, refused.value.detail()) == (
        code,
        "body",
        detail,
    )
    assert macro_state() == before


def test_a_staff_only_field_may_appear_in_an_internal_note(desk: dict[str, Any]) -> None:
    # when
    macro = macros.create_macro(
        actor=desk["insider"],
        name="Note the code",
        reply_kind="internal",
        body="Code: {{ ticket.custom_fields.resolution_code }}",
    )
    # then
    assert macro.body == "Code: {{ ticket.custom_fields.resolution_code }}"


@pytest.mark.parametrize(
    ("_case", "actions", "field", "code"),
    [
        ("unknown field", [{"field": "subject", "value": "x"}], "actions.0.field", "unknown_field"),
        ("bad priority", [{"field": "priority", "value": "asap"}], VALUE, "invalid_choice"),
        ("unknown status", [{"field": "status", "value": "lost"}], VALUE, "unknown_status"),
        ("team not an id", [{"field": "team", "value": "A"}], "actions.0.value", "invalid"),
        ("unknown team", [{"field": "team", "value": 999999}], "actions.0.value", "invalid"),
        ("assignee word", [{"field": "assignee", "value": "you"}], "actions.0.value", "invalid"),
        ("no tags", [{"field": "add_tags", "value": [" "]}], "actions.0.value", "required"),
        (
            "unknown custom field",
            [{"field": "custom_fields.nothing", "value": 1}],
            "actions.0.field",
            "unknown_field",
        ),
        (
            "bad option",
            [{"field": "custom_fields.resolution_code", "value": "burnt"}],
            "actions.0.value",
            "invalid_choice",
        ),
        (
            "twice",
            [{"field": "priority", "value": "low"}, {"field": "priority", "value": "high"}],
            "actions.1.field",
            "duplicate",
        ),
        ("not a change", [{"field": "priority"}], "actions.0", "invalid"),
        ("not a list", {"priority": "low"}, "actions", "invalid"),
    ],
)  # fmt: skip
def test_a_bad_field_change_is_refused_at_its_index(
    desk: dict[str, Any], _case: str, actions: Any, field: str, code: str
) -> None:
    # given
    before = macro_state()
    # when
    with pytest.raises(DomainError) as refused:
        macros.create_macro(actor=desk["insider"], name="Bad", body="Hi", actions=actions)
    # then
    assert (refused.value.field, refused.value.code) == (field, code)
    assert macro_state() == before


def test_a_macro_must_write_or_change_something(desk: dict[str, Any]) -> None:
    # given
    before = macro_state()
    # when
    with pytest.raises(DomainError) as refused:
        macros.create_macro(actor=desk["insider"], name="Nothing", body="  ", actions=[])
    # then
    assert (refused.value.code, refused.value.field) == ("macro_empty", "body")
    assert macro_state() == before


def test_agent_without_share_right_cannot_share_and_nothing_is_kept(
    desk: dict[str, Any],
) -> None:
    # given
    before = macro_state()
    # when
    with pytest.raises(PermissionDenied) as refused:
        macros.create_macro(actor=desk["insider"], name="For all", body="Hi", is_shared=True)
    # then
    assert (refused.value.code, refused.value.field) == ("permission_denied", "is_shared")
    assert macro_state() == before


def test_a_contact_cannot_keep_macros(desk: dict[str, Any]) -> None:
    # given
    before = macro_state()
    # when
    with pytest.raises(PermissionDenied):
        macros.create_macro(actor=desk["contact_a"], name="Mine", body="Hi")
    # then
    assert macro_state() == before


def test_a_line_manager_shares_only_with_their_own_lines(
    desk: dict[str, Any], make_user: Callable[..., User]
) -> None:
    """A sharer scoped to "my business lines" names one of them; "every line" needs scope all."""
    # given
    east_manager = make_user("east-manager", role="service-manager", scope="business_lines",
                             lines=[desk["line_a"]])  # fmt: skip
    before = macro_state()
    # when
    with pytest.raises(PermissionDenied) as other_line:
        macros.create_macro(
            actor=east_manager, name="W", body="Hi", is_shared=True, business_line=desk["line_b"]
        )
    with pytest.raises(PermissionDenied) as every_line:
        macros.create_macro(actor=east_manager, name="All", body="Hi", is_shared=True)
    refused_state = macro_state()
    own = macros.create_macro(
        actor=east_manager, name="E", body="Hi", is_shared=True, business_line=desk["line_a"]
    )
    # then
    assert (other_line.value.code, other_line.value.field) == (
        "business_line_out_of_scope",
        "business_line",
    )
    assert every_line.value.code == "business_line_out_of_scope"
    assert refused_state == before
    assert (own.is_shared, own.business_line_id) == (True, desk["line_a"].pk)


def test_a_personal_macro_is_not_limited_to_a_line(desk: dict[str, Any]) -> None:
    # given
    before = macro_state()
    # when
    with pytest.raises(DomainError) as refused:
        macros.create_macro(
            actor=desk["manager"], name="Mine", body="Hi", business_line=desk["line_a"]
        )
    # then
    assert (refused.value.code, refused.value.field) == (
        "business_line_needs_sharing",
        "business_line",
    )
    assert macro_state() == before


# --- Editing ------------------------------------------------------------------------------------


def test_owner_edits_their_personal_macro_and_the_change_is_versioned(
    desk: dict[str, Any], make_macro: Callable[..., Macro]
) -> None:
    # given
    macro = make_macro()
    # when
    updated = macros.update_macro(
        actor=desk["insider"],
        macro=macro,
        changes={"name": "Serial please", "actions": [{"field": "priority", "value": "low"}]},
        expected_version=1,
    )
    # then
    updated.refresh_from_db()
    assert (updated.name, updated.actions, updated.version) == (
        "Serial please",
        [{"field": "priority", "value": "low"}],
        2,
    )
    assert _topics("macro.") == ["macro.created", "macro.updated"]
    entry = AuditEntry.objects.get(object_type="tickets.macro", verb="updated")
    assert (entry.before, entry.after) == (
        {"name": "Ask for the serial", "actions": []},
        {"name": "Serial please", "actions": [{"field": "priority", "value": "low"}]},
    )


def test_another_agent_cannot_find_a_personal_macro(
    desk: dict[str, Any], make_macro: Callable[..., Macro]
) -> None:
    """Someone else's personal macro does not exist for a colleague: 404, nothing changed."""
    # given
    macro = make_macro()
    before = macro_state()
    # when
    with pytest.raises(NotFound):
        macros.update_macro(actor=desk["colleague"], macro=macro, changes={"name": "Mine now"})
    with pytest.raises(NotFound):
        macros.deactivate_macro(actor=desk["manager"], macro=macro)
    # then
    assert macro_state() == before


def test_a_shared_macro_is_edited_by_a_sharer_not_by_an_agent(
    desk: dict[str, Any], make_macro: Callable[..., Macro], make_user: Callable[..., User]
) -> None:
    # given
    macro = make_macro(actor=desk["manager"], is_shared=True)
    other_manager = make_user("other-manager", role="service-manager", scope="all")
    before = macro_state()
    # when
    with pytest.raises(PermissionDenied):
        macros.update_macro(actor=desk["insider"], macro=macro, changes={"name": "Mine"})
    refused_state = macro_state()
    updated = macros.update_macro(actor=other_manager, macro=macro, changes={"body": "Hi all"})
    # then
    assert refused_state == before
    assert (updated.body, updated.owner_id, updated.version) == ("Hi all", desk["manager"].pk, 2)


def test_a_stale_edit_is_refused(desk: dict[str, Any], make_macro: Callable[..., Macro]) -> None:
    # given
    macro = make_macro()
    macros.update_macro(actor=desk["insider"], macro=macro, changes={"name": "Second"})
    before = macro_state()
    # when
    with pytest.raises(PreconditionFailed):
        macros.update_macro(
            actor=desk["insider"], macro=macro, changes={"name": "Third"}, expected_version=1
        )
    # then
    assert macro_state() == before


def test_unsharing_lifts_the_line_limit(
    desk: dict[str, Any], make_macro: Callable[..., Macro]
) -> None:
    # given
    macro = make_macro(actor=desk["manager"], is_shared=True, business_line=desk["line_a"])
    # when
    updated = macros.update_macro(actor=desk["manager"], macro=macro, changes={"is_shared": False})
    # then
    assert (updated.is_shared, updated.business_line_id) == (False, None)


def test_deactivated_macro_leaves_every_list(
    desk: dict[str, Any], make_macro: Callable[..., Macro]
) -> None:
    # given
    macro = make_macro()
    # when
    macros.deactivate_macro(actor=desk["insider"], macro=macro)
    # then
    macro.refresh_from_db()
    assert (macro.is_active, macro.version) == (False, 2)
    assert list(selectors.macros_usable_by(desk["insider"])) == []
    assert _topics("macro.") == ["macro.created", "macro.deactivated"]


# --- Rendering ----------------------------------------------------------------------------------


def test_render_fills_allowlisted_placeholders_with_escaped_values(
    desk: dict[str, Any], make_ticket: MakeTicket
) -> None:
    """Values are escaped and never read as placeholders; unknown braces stay as written."""
    # given
    ticket = make_ticket(subject="<b>Drain</b> {{ agent.email }}", priority="urgent")
    ticket = Ticket.objects.get(pk=ticket.pk)
    macro = Macro(
        owner=desk["insider"],
        reply_kind="public",
        body=(
            "Dear {{customer.name}},\n\nabout {{ ticket.number }} ({{ ticket.subject }}), "
            "{{ ticket.status }}/{{ ticket.priority }}/{{ ticket.type }}/{{ ticket.team }}."
            "\n\n{{ agent.name }} {{ not.allowed }}"
        ),
    )
    # when
    with_translation = _english(lambda: macros.render_macro(macro=macro, ticket=ticket,
                                                             actor=desk["insider"]))  # fmt: skip
    # then
    assert with_translation == (
        "<p>Dear Alice,</p>"
        f"<p>about {ticket.number} (&lt;b&gt;Drain&lt;/b&gt; {{{{ agent.email }}}}), "
        f"New/Urgent/{desk['repair'].name_en}/Repair East.</p>"
        "<p>insider {{ not.allowed }}</p>"
    )


def _english(function: Callable[[], T]) -> T:
    with translation.override("en"):
        return function()


def test_render_shows_a_custom_field_by_its_label_in_a_note_only(
    desk: dict[str, Any], make_ticket: MakeTicket
) -> None:
    # given
    ticket = make_ticket(custom_fields={"resolution_code": "fixed"})
    note = Macro(reply_kind="internal", body="Code: {{ ticket.custom_fields.resolution_code }}")
    reply = Macro(reply_kind="public", body="Code: {{ ticket.custom_fields.resolution_code }}")
    # when
    rendered = _english(
        lambda: (
            macros.render_macro(macro=note, ticket=ticket, actor=desk["insider"])
            + "|"
            + macros.render_macro(macro=reply, ticket=ticket, actor=desk["insider"])
        )
    )
    # then
    assert rendered == "<p>Code: Fixed</p>|<p>Code: </p>"


def test_a_value_in_a_link_cannot_become_a_script(
    desk: dict[str, Any], make_ticket: MakeTicket
) -> None:
    # given
    ticket = make_ticket(subject="javascript:alert(1)")
    macro = Macro(reply_kind="public", body='<p><a href="{{ ticket.subject }}">open</a></p>')
    # when
    rendered = macros.render_macro(macro=macro, ticket=ticket, actor=desk["insider"])
    # then
    assert rendered == '<p><a rel="noopener noreferrer nofollow">open</a></p>'


# --- Applying -----------------------------------------------------------------------------------


def test_apply_changes_fields_replies_and_counts_the_use(
    desk: dict[str, Any], make_ticket: MakeTicket, make_macro: Callable[..., Macro]
) -> None:
    # given
    ticket = make_ticket()
    macro = make_macro(
        body="Hello {{ customer.name }}, {{ ticket.number }} is now {{ ticket.status }}.",
        actions=[
            {"field": "status", "value": "open"},
            {"field": "priority", "value": "high"},
            {"field": "assignee", "value": "me"},
            {"field": "add_tags", "value": ["serial"]},
        ],
    )
    OutboxEvent.objects.all().delete()
    # when
    result = _english(
        lambda: macros.apply_macro(
            actor=desk["insider"], ticket=ticket, macro=macro, expected_version=1
        )
    )
    # then
    ticket.refresh_from_db()
    macro.refresh_from_db()
    assert (ticket.status.key, ticket.priority, ticket.assignee_id, ticket.version) == (
        "open",
        3,
        desk["insider"].pk,
        2,
    )
    assert services.tags_of(ticket) == ["serial"]
    assert result.changed == ["assignee", "priority", "status", "tags"]
    assert result.ticket.version == 2
    comment = Comment.objects.get(ticket=ticket)
    assert result.comment == comment
    assert (comment.is_public, comment.author_id, comment.body) == (
        True,
        desk["insider"].pk,
        f"<p>Hello Alice, {ticket.number} is now Open.</p>",
    )
    assert macro.usage_count == 1
    assert macro.version == 1
    assert list(
        TicketEvent.objects.filter(ticket=ticket).order_by("pk").values_list("kind", flat=True)
    ) == ["created", "updated", "replied", "macro_applied"]
    applied = TicketEvent.objects.get(ticket=ticket, kind="macro_applied")
    assert (applied.changes, applied.comment_id) == (
        {"macro": [None, {"id": macro.pk, "name": "Ask for the serial"}]},
        comment.pk,
    )
    assert list(OutboxEvent.objects.order_by("created_at").values_list("topic", flat=True)) == [
        "ticket.updated",
        "ticket.status_changed",
        "ticket.assigned",
        "ticket.commented",
        "macro.applied",
    ]


def test_apply_as_internal_note_adds_a_note(
    desk: dict[str, Any], make_ticket: MakeTicket, make_macro: Callable[..., Macro]
) -> None:
    # given
    ticket = make_ticket(custom_fields={"resolution_code": "replaced"})
    macro = make_macro(
        reply_kind="internal", body="Was {{ ticket.custom_fields.resolution_code }}."
    )
    # when
    result = _english(lambda: macros.apply_macro(actor=desk["insider"], ticket=ticket, macro=macro))
    # then
    assert result.comment is not None
    assert (result.comment.is_public, result.comment.body, result.changed) == (
        False,
        "<p>Was Replaced.</p>",
        [],
    )
    assert result.ticket.version == 1


def test_solving_by_macro_without_resolution_code_names_it_and_changes_nothing(
    desk: dict[str, Any], make_ticket: MakeTicket, make_macro: Callable[..., Macro]
) -> None:
    """The lifecycle applies to macros: the whole macro is refused, no reply, no count."""
    # given
    ticket = make_ticket()
    services.update_ticket(
        actor=desk["insider"], ticket=ticket, changes={"status": status(desk["repair"], "open")}
    )
    macro = make_macro(body="Solved!", actions=[{"field": "status", "value": "solved"}])
    before, macros_before = ticket_state(), macro_state()
    # when
    with pytest.raises(DomainError) as refused:
        macros.apply_macro(actor=desk["insider"], ticket=ticket, macro=macro)
    # then
    assert (refused.value.code, refused.value.field) == (
        "required_field_missing",
        "resolution_code",
    )
    assert ticket_state() == before
    assert macro_state() == macros_before


def test_solving_by_macro_with_the_code_passes(
    desk: dict[str, Any], make_ticket: MakeTicket, make_macro: Callable[..., Macro]
) -> None:
    # given
    ticket = make_ticket()
    services.update_ticket(
        actor=desk["insider"], ticket=ticket, changes={"status": status(desk["repair"], "open")}
    )
    macro = make_macro(
        body="",
        actions=[
            {"field": "status", "value": "solved"},
            {"field": "custom_fields.resolution_code", "value": "fixed"},
        ],
    )
    # when
    result = macros.apply_macro(actor=desk["insider"], ticket=ticket, macro=macro)
    # then
    assert (result.ticket.status_category, result.ticket.custom_fields, result.comment) == (
        "solved",
        {"resolution_code": "fixed"},
        None,
    )
    assert result.changed == ["custom_fields.resolution_code", "status"]


def test_a_stale_ticket_refuses_the_macro(
    desk: dict[str, Any], make_ticket: MakeTicket, make_macro: Callable[..., Macro]
) -> None:
    # given
    ticket = make_ticket()
    services.update_ticket(actor=desk["colleague"], ticket=ticket, changes={"priority": "low"})
    macro = make_macro(body="Hi")
    before, macros_before = ticket_state(), macro_state()
    # when
    with pytest.raises(PreconditionFailed) as refused:
        macros.apply_macro(actor=desk["insider"], ticket=ticket, macro=macro, expected_version=1)
    # then
    assert (refused.value.code, refused.value.field) == ("version_mismatch", "If-Match")
    assert ticket_state() == before
    assert macro_state() == macros_before


def test_nobody_applies_someone_elses_personal_macro(
    desk: dict[str, Any], make_ticket: MakeTicket, make_macro: Callable[..., Macro]
) -> None:
    # given
    ticket = make_ticket()
    macro = make_macro(body="Hi")
    before, macros_before = ticket_state(), macro_state()
    # when
    with pytest.raises(NotFound):
        macros.apply_macro(actor=desk["colleague"], ticket=ticket, macro=macro)
    # then
    assert ticket_state() == before
    assert macro_state() == macros_before


def test_an_agent_outside_the_ticket_scope_cannot_apply(
    desk: dict[str, Any], make_ticket: MakeTicket, make_macro: Callable[..., Macro]
) -> None:
    # given
    ticket = make_ticket()
    macro = make_macro(actor=desk["outsider"], body="Hi")
    before, macros_before = ticket_state(), macro_state()
    # when
    with pytest.raises(NotFound):
        macros.apply_macro(actor=desk["outsider"], ticket=ticket, macro=macro)
    # then
    assert ticket_state() == before
    assert macro_state() == macros_before


def test_a_macro_of_one_line_is_not_applied_to_another_lines_ticket(
    desk: dict[str, Any], make_ticket: MakeTicket, make_macro: Callable[..., Macro]
) -> None:
    # given
    ticket = make_ticket()
    macro = make_macro(
        actor=desk["manager"], body="Hi", is_shared=True, business_line=desk["line_b"]
    )
    before, macros_before = ticket_state(), macro_state()
    # when
    with pytest.raises(DomainError) as refused:
        macros.apply_macro(actor=desk["manager"], ticket=ticket, macro=macro)
    # then
    assert (refused.value.code, refused.value.field) == ("macro_of_other_line", "macro")
    assert ticket_state() == before
    assert macro_state() == macros_before


# --- API ----------------------------------------------------------------------------------------

API = "/api/v1/macros"


@pytest.fixture
def client_of(login_client: Callable[[User], JsonClient]) -> Callable[[User], JsonClient]:
    """client_of(user) → a signed-in API client that reads English."""

    def make(user: User) -> JsonClient:
        client = login_client(user)
        client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
        return client

    return make


def test_api_permission_matrix_for_keeping_macros(
    desk: dict[str, Any], api_client: JsonClient, client_of: Callable[[User], JsonClient]
) -> None:
    """Anonymous 401; a contact lists nothing and keeps nothing; an agent keeps personal
    macros but cannot share; a sharer shares."""
    # given
    personal = {"name": "Mine", "body": "Hi {{ customer.name }}"}
    shared = {**personal, "name": "Ours", "is_shared": True}
    before = macro_state()
    # when
    anonymous = api_client.post_json(API, personal)
    contact = client_of(desk["contact_a"])
    contact_list, contact_create = contact.get(API), contact.post_json(API, personal)
    agent = client_of(desk["insider"])
    agent_share = agent.post_json(API, shared)
    refused_state = macro_state()
    agent_keep = agent.post_json(API, personal)
    sharer_share = client_of(desk["manager"]).post_json(
        API, {**shared, "business_line_id": desk["line_a"].pk}
    )
    # then
    assert assert_problem(anonymous, 401)["code"] == "not_authenticated"
    assert (contact_list.status_code, body_of(contact_list)) == (200, [])
    assert assert_problem(contact_create, 403)["code"] == "permission_denied"
    assert assert_problem(agent_share, 403)["errors"] == [
        {
            "field": "is_shared",
            "code": "permission_denied",
            "detail": "You do not have permission to do this.",
        }
    ]
    assert refused_state == before
    assert agent_keep.status_code == 201
    created = body_of(agent_keep)
    assert {k: created[k] for k in ("name", "owner_id", "is_shared", "may_edit", "version")} == {
        "name": "Mine",
        "owner_id": desk["insider"].pk,
        "is_shared": False,
        "may_edit": True,
        "version": 1,
    }
    assert sharer_share.status_code == 201
    assert (body_of(sharer_share)["is_shared"], body_of(sharer_share)["business_line_id"]) == (
        True,
        desk["line_a"].pk,
    )


def test_api_names_the_field_of_every_refusal(
    desk: dict[str, Any], client_of: Callable[[User], JsonClient]
) -> None:
    # given
    client = client_of(desk["insider"])
    before = macro_state()
    # when
    placeholder = client.post_json(API, {"name": "X", "body": "{{ ticket.secret }}"})
    action = client.post_json(
        API, {"name": "X", "actions": [{"field": "priority", "value": "asap"}]}
    )
    kind = client.post_json(API, {"name": "X", "body": "Hi", "reply_kind": "shout"})
    line = client.post_json(API, {"name": "X", "body": "Hi", "business_line_id": 999999})
    # then
    assert assert_problem(placeholder, 422)["errors"] == [
        {
            "field": "body",
            "code": "unknown_placeholder",
            "detail": "Unknown placeholder {{ ticket.secret }}.",
        }
    ]
    assert assert_problem(action, 422)["errors"] == [
        {
            "field": "actions.0.value",
            "code": "invalid_choice",
            "detail": "Choose one of: low, normal, high, urgent.",
        }
    ]
    assert [e["field"] for e in assert_problem(kind, 422)["errors"]] == ["reply_kind"]
    assert assert_problem(line, 422)["errors"][0]["field"] == "business_line_id"
    assert macro_state() == before


def test_api_hides_another_agents_personal_macro(
    desk: dict[str, Any],
    make_ticket: MakeTicket,
    make_macro: Callable[..., Macro],
    client_of: Callable[[User], JsonClient],
) -> None:
    # given
    ticket = make_ticket()
    macro = make_macro(body="Hi")
    colleague = client_of(desk["colleague"])
    before, tickets_before = macro_state(), ticket_state()
    # when
    responses = [
        colleague.get(f"{API}/{macro.pk}"),
        colleague.patch_json(f"{API}/{macro.pk}", {"name": "Mine"}),
        colleague.delete(f"{API}/{macro.pk}"),
        colleague.post_json(f"{API}/{macro.pk}/preview", {"ticket_id": ticket.pk}),
        colleague.post_json(f"{API}/{macro.pk}/apply", {"ticket_id": ticket.pk}),
    ]
    listed = body_of(colleague.get(API))
    # then
    assert [assert_problem(r, 404)["code"] for r in responses] == ["not_found"] * 5
    assert listed == []
    assert macro_state() == before
    assert ticket_state() == tickets_before


def test_api_sharer_edits_a_shared_macro_an_agent_may_not(
    desk: dict[str, Any], make_macro: Callable[..., Macro], client_of: Callable[[User], JsonClient]
) -> None:
    # given
    macro = make_macro(actor=desk["admin"], body="Hi", is_shared=True)
    agent = client_of(desk["insider"])
    before = macro_state()
    # when
    listed = body_of(agent.get(API))
    refused = agent.patch_json(f"{API}/{macro.pk}", {"name": "Mine"})
    refused_delete = agent.delete(f"{API}/{macro.pk}")
    refused_state = macro_state()
    edited = client_of(desk["manager"]).patch_json(
        f"{API}/{macro.pk}", {"name": "Greeting"}, HTTP_IF_MATCH='W/"1"'
    )
    # then
    assert [(m["id"], m["may_edit"]) for m in listed] == [(macro.pk, False)]
    assert assert_problem(refused, 403)["code"] == "permission_denied"
    assert assert_problem(refused_delete, 403)["code"] == "permission_denied"
    assert refused_state == before
    assert edited.status_code == 200
    assert (body_of(edited)["name"], body_of(edited)["version"], edited["ETag"]) == (
        "Greeting",
        2,
        'W/"2"',
    )


def test_api_refuses_a_stale_macro_edit(
    desk: dict[str, Any], make_macro: Callable[..., Macro], client_of: Callable[[User], JsonClient]
) -> None:
    # given
    macro = make_macro(body="Hi")
    client = client_of(desk["insider"])
    etag = client.get(f"{API}/{macro.pk}")["ETag"]
    client.patch_json(f"{API}/{macro.pk}", {"body": "Hello"}, HTTP_IF_MATCH=etag)
    before = macro_state()
    # when
    response = client.patch_json(f"{API}/{macro.pk}", {"body": "Hey"}, HTTP_IF_MATCH=etag)
    # then
    assert etag == 'W/"1"'
    assert assert_problem(response, 412)["code"] == "version_mismatch"
    assert macro_state() == before


def test_api_deactivates_a_macro(
    desk: dict[str, Any], make_macro: Callable[..., Macro], client_of: Callable[[User], JsonClient]
) -> None:
    # given
    macro = make_macro(body="Hi")
    client = client_of(desk["insider"])
    # when
    response = client.delete(f"{API}/{macro.pk}")
    # then
    assert response.status_code == 204
    assert assert_problem(client.get(f"{API}/{macro.pk}"), 404)["code"] == "not_found"
    assert _topics("macro.") == ["macro.created", "macro.deactivated"]


def test_api_previews_and_lists_placeholders(
    desk: dict[str, Any],
    make_ticket: MakeTicket,
    make_macro: Callable[..., Macro],
    client_of: Callable[[User], JsonClient],
) -> None:
    # given
    ticket = make_ticket()
    macro = make_macro(body="{{ ticket.number }} for {{ customer.name }}")
    outsiders = make_macro(actor=desk["outsider"])
    client = client_of(desk["insider"])
    before = ticket_state()
    # when
    preview = client.post_json(f"{API}/{macro.pk}/preview", {"ticket_id": ticket.pk})
    unseen = client_of(desk["outsider"]).post_json(
        f"{API}/{outsiders.pk}/preview", {"ticket_id": ticket.pk}
    )
    placeholders = body_of(client.get(f"{API}/placeholders"))
    # then
    assert body_of(preview) == {
        "ticket_id": ticket.pk,
        "reply_kind": "public",
        "body": f"<p>{ticket.number} for Alice</p>",
    }
    assert assert_problem(unseen, 422)["errors"][0]["field"] == "ticket_id"
    assert placeholders[0] == {"placeholder": "{{ ticket.number }}", "label": "The ticket's number"}
    assert len(placeholders) == len(macros.PLACEHOLDERS) + 1
    assert ticket_state() == before


def test_api_applies_a_macro_with_the_tickets_etag(
    desk: dict[str, Any],
    make_ticket: MakeTicket,
    make_macro: Callable[..., Macro],
    client_of: Callable[[User], JsonClient],
) -> None:
    # given
    ticket = make_ticket()
    macro = make_macro(
        body="Started.",
        actions=[{"field": "status", "value": "open"}, {"field": "assignee", "value": "me"}],
    )
    client = client_of(desk["insider"])
    # when
    response = client.post_json(
        f"{API}/{macro.pk}/apply", {"ticket_id": ticket.pk}, HTTP_IF_MATCH='W/"1"'
    )
    # then
    assert response.status_code == 200
    ticket.refresh_from_db()
    comment = Comment.objects.get(ticket=ticket)
    assert body_of(response) == {
        "ticket_id": ticket.pk,
        "version": 2,
        "status_id": status(desk["repair"], "open").pk,
        "comment_id": comment.pk,
        "changed": ["assignee", "status"],
    }
    assert response["ETag"] == 'W/"2"'
    assert (ticket.assignee_id, comment.body) == (desk["insider"].pk, "<p>Started.</p>")


def test_api_refuses_a_macro_on_a_stale_ticket(
    desk: dict[str, Any],
    make_ticket: MakeTicket,
    make_macro: Callable[..., Macro],
    client_of: Callable[[User], JsonClient],
) -> None:
    # given
    ticket = make_ticket()
    services.update_ticket(actor=desk["colleague"], ticket=ticket, changes={"priority": "low"})
    macro = make_macro(body="Hi", actions=[{"field": "priority", "value": "high"}])
    before, macros_before = ticket_state(), macro_state()
    # when
    response = client_of(desk["insider"]).post_json(
        f"{API}/{macro.pk}/apply", {"ticket_id": ticket.pk}, HTTP_IF_MATCH='W/"1"'
    )
    # then
    assert assert_problem(response, 412)["errors"][0]["field"] == "If-Match"
    assert ticket_state() == before
    assert macro_state() == macros_before


def test_api_names_the_missing_resolution_code_when_a_macro_solves(
    desk: dict[str, Any],
    make_ticket: MakeTicket,
    make_macro: Callable[..., Macro],
    client_of: Callable[[User], JsonClient],
) -> None:
    # given
    ticket = make_ticket()
    services.update_ticket(
        actor=desk["insider"], ticket=ticket, changes={"status": status(desk["repair"], "open")}
    )
    macro = make_macro(body="Solved.", actions=[{"field": "status", "value": "solved"}])
    before, macros_before = ticket_state(), macro_state()
    # when
    response = client_of(desk["insider"]).post_json(
        f"{API}/{macro.pk}/apply", {"ticket_id": ticket.pk}
    )
    # then
    body = assert_problem(response, 422)
    assert (body["code"], body["errors"][0]["field"]) == (
        "required_field_missing",
        "resolution_code",
    )
    assert ticket_state() == before
    assert macro_state() == macros_before


def test_api_macro_list_query_count_does_not_grow(
    desk: dict[str, Any],
    make_macro: Callable[..., Macro],
    client_of: Callable[[User], JsonClient],
    django_assert_num_queries: Any,
) -> None:
    # given
    client = client_of(desk["insider"])
    make_macro(body="One")
    make_macro(actor=desk["manager"], body="Shared", is_shared=True)
    client.get(API)
    with django_assert_num_queries(QUERIES):
        assert len(body_of(client.get(API))) == 2
    # when
    for number in range(5):
        make_macro(name=f"More {number}", body="Hi")
    # then
    with django_assert_num_queries(QUERIES):
        assert len(body_of(client.get(API))) == 7
