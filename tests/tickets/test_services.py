"""Ticket-type configuration services: the default lifecycle, invariants, audit and events."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from aftersales.accounts.models import BusinessLine, User
from aftersales.audit.models import AuditEntry
from aftersales.core.errors import DomainError, NotFound, PermissionDenied
from aftersales.outbox.models import OutboxEvent
from aftersales.tickets import services
from aftersales.tickets.models import StatusTransition, TicketStatus, TicketType
from tests.tickets.conftest import config_state, status


def _lifecycle(
    ticket_type: TicketType,
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    statuses = list(
        TicketStatus.objects.filter(ticket_type=ticket_type)
        .order_by("position")
        .values_list("key", "name_zh", "name_en", "category", "is_initial", "position", "is_active")
    )
    transitions = list(
        StatusTransition.objects.filter(ticket_type=ticket_type)
        .order_by("position")
        .values_list("from_status__key", "to_status__key", "name_en", "required_fields", "guard")
    )
    return statuses, transitions


def test_creating_a_type_seeds_the_default_lifecycle_exactly(
    admin_user: User, make_line: Callable[..., BusinessLine]
) -> None:
    """A new type starts with six statuses, one per category, and eight transitions."""
    # given
    line = make_line()
    # when
    ticket_type = services.create_ticket_type(
        actor=admin_user,
        business_line=line,
        key="repair",
        name_zh="维修",
        name_en="Repair",
        number_prefix="REP",
    )
    # then
    statuses, transitions = _lifecycle(ticket_type)
    assert statuses == [
        ("new", "新建", "New", "new", True, 0, True),
        ("open", "处理中", "Open", "open", False, 1, True),
        (
            "pending_customer",
            "等待客户",
            "Waiting for customer",
            "pending_customer",
            False,
            2,
            True,
        ),
        ("pending_internal", "等待内部", "Waiting internally", "pending_internal", False, 3, True),
        ("solved", "已解决", "Solved", "solved", False, 4, True),
        ("closed", "已关闭", "Closed", "closed", False, 5, True),
    ]
    assert transitions == [
        ("new", "open", "Start work", [], ""),
        ("open", "pending_customer", "Wait for customer", [], ""),
        ("open", "pending_internal", "Wait internally", [], ""),
        ("pending_customer", "open", "Resume", [], ""),
        ("pending_internal", "open", "Resume", [], ""),
        ("open", "solved", "Solve", ["resolution_code"], ""),
        ("solved", "open", "Reopen", [], ""),
        ("solved", "closed", "Close", [], ""),
    ]
    assert (
        ticket_type.version,
        ticket_type.reopen_within_days,
        ticket_type.auto_close_after_days,
    ) == (
        1,
        7,
        7,
    )
    assert list(
        OutboxEvent.objects.filter(topic="tickettype.created").values_list("payload", flat=True)
    ) == [{"business_line": line.pk, "key": "repair"}]
    entry = AuditEntry.objects.get(object_type="tickets.tickettype", object_id=str(ticket_type.pk))
    assert entry.action == "created"
    assert entry.after["number_prefix"] == "REP"
    assert entry.after["lifecycle"]["transitions"][5] == "open->solved"


@pytest.mark.parametrize(
    ("_case", "field", "value", "code"),
    [
        ("lowercase prefix", "number_prefix", "rep", "invalid_prefix"),
        ("prefix starting with a digit", "number_prefix", "1REP", "invalid_prefix"),
        ("bad colour", "colour", "red", "invalid_colour"),
        ("too many days", "reopen_within_days", 366, "invalid_days"),
        ("negative days", "auto_close_after_days", -1, "invalid_days"),
        ("empty name", "name_en", "  ", "required"),
    ],
)
def test_invalid_type_fields_are_refused_and_nothing_is_saved(
    admin_user: User,
    make_line: Callable[..., BusinessLine],
    _case: str,
    field: str,
    value: object,
    code: str,
) -> None:
    # given
    line = make_line()
    values: dict[str, object] = {"name_zh": "维修", "name_en": "Repair", field: value}
    before = config_state()
    # when
    with pytest.raises(DomainError) as raised:
        services.create_ticket_type(actor=admin_user, business_line=line, key="repair", **values)
    # then
    assert (raised.value.code, raised.value.field) == (code, field)
    assert config_state() == before


def test_a_key_is_unique_per_business_line_only(
    make_type: Callable[..., TicketType], make_line: Callable[..., BusinessLine]
) -> None:
    # given
    line_a, line_b = make_line(), make_line()
    make_type(line=line_a, key="repair")
    before = config_state()
    # when
    with pytest.raises(DomainError) as raised:
        make_type(line=line_a, key="repair")
    # then
    assert (raised.value.code, raised.value.field) == ("key_taken", "key")
    assert config_state() == before
    assert make_type(line=line_b, key="repair").key == "repair"


def test_update_with_a_stale_version_is_refused(
    admin_user: User, make_type: Callable[..., TicketType]
) -> None:
    # given
    ticket_type = make_type()
    services.update_ticket_type(
        actor=admin_user, ticket_type=ticket_type, changes={"icon": "wrench"}
    )
    before = config_state()
    # when
    with pytest.raises(DomainError) as raised:
        services.update_ticket_type(
            actor=admin_user,
            ticket_type=ticket_type,
            changes={"name_en": "Stale"},
            expected_version=1,
        )
    # then
    assert (raised.value.status, raised.value.code) == (409, "version_mismatch")
    assert config_state() == before


def test_update_records_only_the_changed_fields(
    admin_user: User, make_type: Callable[..., TicketType]
) -> None:
    # given
    ticket_type = make_type(auto_close_after_days=7)
    # when
    updated = services.update_ticket_type(
        actor=admin_user,
        ticket_type=ticket_type,
        changes={"auto_close_after_days": 3, "name_en": ticket_type.name_en},
        expected_version=1,
    )
    # then
    assert (updated.auto_close_after_days, updated.version) == (3, 2)
    entry = AuditEntry.objects.filter(object_type="tickets.tickettype", action="updated").get()
    assert (entry.before, entry.after) == (
        {"auto_close_after_days": 7},
        {"auto_close_after_days": 3},
    )
    assert OutboxEvent.objects.filter(topic="tickettype.updated").count() == 1


def test_deactivating_a_type_keeps_it_and_announces_it(
    admin_user: User, make_type: Callable[..., TicketType]
) -> None:
    # given
    ticket_type = make_type()
    # when
    services.deactivate_ticket_type(actor=admin_user, ticket_type=ticket_type)
    # then
    ticket_type.refresh_from_db()
    assert (ticket_type.is_active, ticket_type.version) == (False, 2)
    assert TicketStatus.objects.filter(ticket_type=ticket_type).count() == 6
    assert OutboxEvent.objects.filter(topic="tickettype.deactivated").count() == 1


# --- Statuses ---------------------------------------------------------------------------------


def test_making_another_status_initial_moves_the_flag(
    admin_user: User, make_type: Callable[..., TicketType]
) -> None:
    """Exactly one initial status: setting a new one clears the old."""
    # given
    ticket_type = make_type()
    opened = status(ticket_type, "open")
    # when
    services.update_status(actor=admin_user, status=opened, changes={"is_initial": True})
    # then
    assert list(
        TicketStatus.objects.filter(ticket_type=ticket_type, is_initial=True).values_list(
            "key", flat=True
        )
    ) == ["open"]
    assert list(
        OutboxEvent.objects.filter(topic="ticketstatus.changed").values_list("payload", flat=True)
    ) == [{"ticket_type": ticket_type.pk, "key": "open", "change": "updated"}]


def test_a_new_initial_status_takes_the_flag_from_the_old_one(
    admin_user: User, make_type: Callable[..., TicketType]
) -> None:
    # given
    ticket_type = make_type()
    # when
    triage = services.add_status(
        actor=admin_user,
        ticket_type=ticket_type,
        key="triage",
        name_zh="分诊",
        name_en="Triage",
        category="new",
        is_initial=True,
    )
    # then
    assert (triage.position, triage.is_initial) == (6, True)
    assert list(
        TicketStatus.objects.filter(ticket_type=ticket_type, is_initial=True).values_list(
            "key", flat=True
        )
    ) == ["triage"]


@pytest.mark.parametrize(
    ("_case", "key", "changes", "code", "field"),
    [
        ("unset the initial flag", "new", {"is_initial": False}, "initial_required", "is_initial"),
        ("deactivate the initial", "new", {"is_active": False}, "initial_status", "is_active"),
        ("solved as initial", "solved", {"is_initial": True}, "initial_category", "is_initial"),
        ("last open status", "open", {"is_active": False}, "last_status_of_category", "is_active"),
        (
            "last solved status",
            "solved",
            {"category": "pending_internal"},
            "last_status_of_category",
            "category",
        ),
        (
            "last closed status",
            "closed",
            {"is_active": False},
            "last_status_of_category",
            "is_active",
        ),
    ],
)
def test_status_changes_that_break_the_lifecycle_are_refused(
    admin_user: User,
    make_type: Callable[..., TicketType],
    _case: str,
    key: str,
    changes: dict[str, object],
    code: str,
    field: str,
) -> None:
    # given
    ticket_type = make_type()
    before = config_state()
    # when
    with pytest.raises(DomainError) as raised:
        services.update_status(actor=admin_user, status=status(ticket_type, key), changes=changes)
    # then
    assert (raised.value.code, raised.value.field) == (code, field)
    assert config_state() == before


def test_an_optional_category_may_lose_its_last_status(
    admin_user: User, make_type: Callable[..., TicketType]
) -> None:
    # given
    ticket_type = make_type()
    # when
    services.deactivate_status(actor=admin_user, status=status(ticket_type, "pending_internal"))
    # then
    assert status(ticket_type, "pending_internal").is_active is False


def test_a_second_open_status_lets_the_first_go(
    admin_user: User, make_type: Callable[..., TicketType]
) -> None:
    # given
    ticket_type = make_type()
    services.add_status(
        actor=admin_user,
        ticket_type=ticket_type,
        key="in_repair",
        name_zh="维修中",
        name_en="In repair",
        category="open",
    )
    # when
    services.deactivate_status(actor=admin_user, status=status(ticket_type, "open"))
    # then
    assert list(
        TicketStatus.objects.filter(
            ticket_type=ticket_type, category="open", is_active=True
        ).values_list("key", flat=True)
    ) == ["in_repair"]


def test_reorder_and_move_statuses(admin_user: User, make_type: Callable[..., TicketType]) -> None:
    # given
    ticket_type = make_type()
    # when
    services.move_status(actor=admin_user, status=status(ticket_type, "solved"), offset=-1)
    # then
    keys = list(
        TicketStatus.objects.filter(ticket_type=ticket_type)
        .order_by("position")
        .values_list("key", flat=True)
    )
    assert keys == ["new", "open", "pending_customer", "solved", "pending_internal", "closed"]
    assert list(
        OutboxEvent.objects.filter(topic="ticketstatus.reordered").values_list("payload", flat=True)
    ) == [{"order": keys}]


def test_an_order_missing_a_status_is_refused(
    admin_user: User, make_type: Callable[..., TicketType]
) -> None:
    # given
    ticket_type = make_type()
    ids = list(TicketStatus.objects.filter(ticket_type=ticket_type).values_list("pk", flat=True))
    before = config_state()
    # when
    with pytest.raises(DomainError) as raised:
        services.reorder_statuses(actor=admin_user, ticket_type=ticket_type, order=ids[:-1])
    # then
    assert (raised.value.code, raised.value.field) == ("invalid_order", "order")
    assert config_state() == before


# --- Transitions ---------------------------------------------------------------------------------


def test_a_guard_that_does_not_compile_is_refused_on_the_guard_field(
    admin_user: User, make_type: Callable[..., TicketType]
) -> None:
    # given
    ticket_type = make_type()
    before = config_state()
    # when
    with pytest.raises(DomainError) as raised:
        services.add_transition(
            actor=admin_user,
            ticket_type=ticket_type,
            from_status=status(ticket_type, "new"),
            to_status=status(ticket_type, "solved"),
            guard="ticket.priority ==",
        )
    # then
    assert (raised.value.code, raised.value.field) == ("guard_invalid", "guard")
    assert "Syntax error" in raised.value.detail()
    assert config_state() == before


@pytest.mark.parametrize(
    ("_case", "guard", "code"),
    [
        ("python", "__import__('os').system('true')", "guard_invalid"),
        ("unknown field", "ticket.prioirty == 'high'", "guard_unknown_field"),
        ("not a condition", "1 + 2", "guard_not_boolean"),
        ("type error", "1 + 'a' == 2", "guard_invalid"),
    ],
)
def test_guards_that_are_not_conditions_over_ticket_are_refused(
    admin_user: User, make_type: Callable[..., TicketType], _case: str, guard: str, code: str
) -> None:
    # given
    ticket_type = make_type()
    transition = StatusTransition.objects.get(
        ticket_type=ticket_type, from_status__key="new", to_status__key="open"
    )
    before = config_state()
    # when
    with pytest.raises(DomainError) as raised:
        services.update_transition(
            actor=admin_user, transition=transition, changes={"guard": guard}
        )
    # then
    assert (raised.value.code, raised.value.field) == (code, "guard")
    assert config_state() == before


@pytest.mark.parametrize(
    ("_case", "required_fields"),
    [
        ("uppercase", ["Resolution"]),
        ("space", ["resolution code"]),
        ("not a list", "resolution_code"),
        ("not text", [3]),
    ],
)
def test_malformed_required_field_keys_are_refused(
    admin_user: User,
    make_type: Callable[..., TicketType],
    _case: str,
    required_fields: object,
) -> None:
    # given
    ticket_type = make_type()
    transition = StatusTransition.objects.get(
        ticket_type=ticket_type, from_status__key="new", to_status__key="open"
    )
    before = config_state()
    # when
    with pytest.raises(DomainError) as raised:
        services.update_transition(
            actor=admin_user, transition=transition, changes={"required_fields": required_fields}
        )
    # then
    assert raised.value.field == "required_fields"
    assert config_state() == before


def test_transition_rules_on_pairs_and_permissions(
    admin_user: User, make_type: Callable[..., TicketType]
) -> None:
    # given
    ticket_type = make_type()
    other_type = make_type()
    new, opened = status(ticket_type, "new"), status(ticket_type, "open")
    before = config_state()
    cases = [
        ({"from_status": new, "to_status": opened}, "transition_exists", "to_status"),
        ({"from_status": new, "to_status": new}, "same_status", "to_status"),
        (
            {"from_status": new, "to_status": status(other_type, "solved")},
            "unknown_status",
            "to_status",
        ),
        (
            {"from_status": new, "to_status": status(ticket_type, "closed"), "permission": "x.y_z"},
            "unknown_permission",
            "permission",
        ),
    ]
    for arguments, code, field in cases:
        # when
        with pytest.raises(DomainError) as raised:
            services.add_transition(actor=admin_user, ticket_type=ticket_type, **arguments)  # type: ignore[arg-type]
        # then
        assert (raised.value.code, raised.value.field) == (code, field)
    assert config_state() == before


def test_a_transition_is_added_edited_and_deleted_with_audit_and_events(
    admin_user: User, make_type: Callable[..., TicketType]
) -> None:
    # given
    ticket_type = make_type()
    # when
    transition = services.add_transition(
        actor=admin_user,
        ticket_type=ticket_type,
        from_status=status(ticket_type, "new"),
        to_status=status(ticket_type, "closed"),
        name_en="Close as spam",
        required_fields=["close_reason", "close_reason"],
        guard="ticket.channel == 'email'",
        permission="tickets.configure_tickettype",
    )
    updated = services.update_transition(
        actor=admin_user, transition=transition, changes={"guard": "ticket.tier != 'vip'"}
    )
    services.delete_transition(actor=admin_user, transition=updated)
    # then
    assert transition.required_fields == ["close_reason"]
    assert updated.version == 2
    assert StatusTransition.objects.filter(pk=transition.pk).exists() is False
    assert list(
        OutboxEvent.objects.filter(topic__startswith="statustransition.")
        .order_by("created_at")
        .values_list("topic", flat=True)
    ) == ["statustransition.created", "statustransition.updated", "statustransition.deleted"]
    assert list(
        AuditEntry.objects.filter(object_type="tickets.statustransition")
        .order_by("pk")
        .values_list("action", flat=True)
    ) == ["created", "updated", "deleted"]


# --- Copy ---------------------------------------------------------------------------------


def test_copy_to_another_line_duplicates_statuses_and_transitions(
    admin_user: User,
    make_type: Callable[..., TicketType],
    make_line: Callable[..., BusinessLine],
) -> None:
    # given
    source = make_type(number_prefix="REP")
    services.add_transition(
        actor=admin_user,
        ticket_type=source,
        from_status=status(source, "new"),
        to_status=status(source, "closed"),
        guard="ticket.channel == 'email'",
    )
    services.deactivate_status(actor=admin_user, status=status(source, "pending_internal"))
    target_line = make_line()
    # when
    copy = services.copy_ticket_type(
        actor=admin_user, ticket_type=source, business_line=target_line, key="repair-copy"
    )
    # then
    assert (copy.business_line_id, copy.key, copy.name_en, copy.number_prefix) == (
        target_line.pk,
        "repair-copy",
        source.name_en,
        "REP",
    )
    assert _lifecycle(copy) == _lifecycle(source)
    assert not TicketStatus.objects.filter(
        ticket_type=copy, transitions_out__to_status__ticket_type=source
    ).exists()
    assert list(
        OutboxEvent.objects.filter(topic="tickettype.created", object_id=str(copy.pk)).values_list(
            "payload", flat=True
        )
    ) == [{"business_line": target_line.pk, "key": "repair-copy", "copied_from": source.pk}]


# --- Permission and scope -------------------------------------------------------------------------


def test_agent_without_configure_cannot_create_and_nothing_changes(
    make_user: Callable[..., User], make_line: Callable[..., BusinessLine]
) -> None:
    # given
    agent = make_user(role="agent", scope="all")
    line = make_line()
    before = config_state()
    # when
    with pytest.raises(PermissionDenied) as raised:
        services.create_ticket_type(
            actor=agent, business_line=line, key="repair", name_zh="维修", name_en="Repair"
        )
    # then
    assert raised.value.code == "permission_denied"
    assert config_state() == before


def test_manager_scoped_to_a_line_configures_only_that_line(
    make_user: Callable[..., User],
    make_line: Callable[..., BusinessLine],
    make_type: Callable[..., TicketType],
) -> None:
    # given
    line_a, line_b = make_line(), make_line()
    manager = make_user(role="service-manager", scope="business_lines", lines=[line_a])
    type_b = make_type(line=line_b)
    before = config_state()
    # when / then
    with pytest.raises(PermissionDenied) as create_raised:
        services.create_ticket_type(
            actor=manager, business_line=line_b, key="x", name_zh="维修", name_en="Repair"
        )
    with pytest.raises(NotFound):
        services.update_ticket_type(actor=manager, ticket_type=type_b, changes={"icon": "x"})
    with pytest.raises(NotFound):
        services.update_status(
            actor=manager, status=status(type_b, "open"), changes={"name_en": "Doing"}
        )
    assert (create_raised.value.code, create_raised.value.field) == (
        "business_line_out_of_scope",
        "business_line",
    )
    assert config_state() == before
    created = services.create_ticket_type(
        actor=manager, business_line=line_a, key="x", name_zh="维修", name_en="Repair"
    )
    assert created.business_line_id == line_a.pk
