"""Use cases of tickets: create, change, move through the lifecycle, take, link, merge, split.

Every function checks the actor's permission and scope, validates, writes under a row lock,
records the change on the ticket's timeline (:class:`TicketEvent`) and in the audit log, and
emits outbox events in the same transaction. Stale writes are refused: a caller passing
``expected_version`` gets :class:`PreconditionFailed` when the ticket moved on since it read it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from aftersales.accounts import authz
from aftersales.accounts.models import Team, User
from aftersales.audit import services as audit
from aftersales.audit.models import AuditEntry
from aftersales.core import richtext
from aftersales.core.errors import (
    Conflict,
    DomainError,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
)
from aftersales.customers.models import Customer, Organisation
from aftersales.customers.services import clean_tags
from aftersales.customfields import services as customfields
from aftersales.customfields.errors import FieldErrors
from aftersales.customfields.models import FieldDefinition
from aftersales.outbox import services as outbox
from aftersales.tickets import lifecycle, numbering, selectors
from aftersales.tickets.models import (
    Comment,
    Ticket,
    TicketEvent,
    TicketFollower,
    TicketLink,
    TicketStatus,
    TicketTag,
    TicketType,
    form_key_of,
)
from aftersales.tickets.permissions import (
    ADD_TICKET,
    CHANGE_TICKET,
    MERGE_TICKET,
    TAKE_TICKET,
    VIEW_TICKET,
    VIEW_TICKET_TYPE,
)

Action = AuditEntry.Action
Category = TicketStatus.Category
Kind = TicketEvent.Kind
TARGET = "tickets.ticket"
MAX_SUBJECT = 200
MAX_DESCRIPTION = 100_000

PRIORITY_KEYS: dict[int, str] = {
    Ticket.Priority.LOW: "low",
    Ticket.Priority.NORMAL: "normal",
    Ticket.Priority.HIGH: "high",
    Ticket.Priority.URGENT: "urgent",
}
PRIORITY_BY_KEY = {key: value for value, key in PRIORITY_KEYS.items()}

# Fields a change may name, and the built-in ones a transition may require.
EDITABLE = (
    "subject",
    "description",
    "priority",
    "team",
    "assignee",
    "requester",
    "organisation",
    "ticket_type",
    "status",
    "tags",
    "add_tags",
    "remove_tags",
    "followers",
    "custom_fields",
    "due_at",
    "parent",
)
BUILT_IN_REQUIRABLE = ("subject", "description", "team", "assignee", "organisation", "due_at")


# --- Small checks -------------------------------------------------------------------------------


def _subject(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DomainError("required", field="subject", message=_("This field is required."))
    value = " ".join(value.split())
    if len(value) > MAX_SUBJECT:
        raise DomainError(
            "too_long",
            field="subject",
            message=_("Enter at most %(max_length)s characters."),
            params={"max_length": MAX_SUBJECT},
        )
    return value


def _description(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DomainError("invalid", field="description", message=_("Enter text."))
    if len(value) > MAX_DESCRIPTION:
        raise DomainError(
            "too_long",
            field="description",
            message=_("Enter at most %(max_length)s characters."),
            params={"max_length": MAX_DESCRIPTION},
        )
    return richtext.clean_input(value) if value.strip() else ""


def _priority(value: Any) -> int:
    if isinstance(value, str) and value in PRIORITY_BY_KEY:
        return PRIORITY_BY_KEY[value]
    if isinstance(value, int) and not isinstance(value, bool) and value in Ticket.Priority.values:
        return value
    raise DomainError(
        "invalid_choice",
        field="priority",
        message=_("Choose one of: low, normal, high, urgent."),
    )


def _team(value: Any, line_id: int) -> Team | None:
    if value is None:
        return None
    if not isinstance(value, Team) or not value.is_active:
        raise DomainError("invalid", field="team", message=_("Choose an active team."))
    if value.business_line_id != line_id:
        raise DomainError(
            "team_of_other_line",
            field="team",
            message=_("Choose a team of the ticket's business line."),
        )
    return value


def _assignee(value: Any, team: Team | None) -> User | None:
    if value is None:
        return None
    if not isinstance(value, User) or not value.is_active or value.kind != User.Kind.STAFF:
        raise DomainError("invalid", field="assignee", message=_("Choose an active staff member."))
    if team is not None and not value.team_memberships.filter(team=team).exists():
        raise DomainError(
            "assignee_not_in_team",
            field="assignee",
            message=_("%(user)s is not a member of %(team)s."),
            params={"user": str(value), "team": team.name},
        )
    return value


def _requester(value: Any, line_id: int) -> Customer:
    if not isinstance(value, Customer):
        raise DomainError("required", field="requester", message=_("Choose the customer."))
    if not value.is_active:
        raise DomainError(
            "inactive_requester",
            field="requester",
            message=_("This customer is inactive or was merged into another."),
        )
    del line_id  # a customer of one line may raise tickets of another line's type
    return value


def _organisation(value: Any) -> Organisation | None:
    if value is None:
        return None
    if not isinstance(value, Organisation) or not value.is_active:
        raise DomainError(
            "invalid", field="organisation", message=_("Choose an active organisation.")
        )
    return value


def _due_at(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or timezone.is_naive(value):
        raise DomainError(
            "invalid", field="due_at", message=_("Enter a date and time with a time zone.")
        )
    return value


def _custom_fields(
    value: Any, *, ticket_type: TicketType, existing: dict[str, Any] | None, actor: Any,
    audience: str, partial: bool, definitions: Sequence[FieldDefinition] | None = None,
) -> dict[str, Any]:  # fmt: skip
    return customfields.clean_values(
        target=TARGET,
        subtarget=form_key_of(ticket_type.pk),
        values=value,
        existing=existing,
        actor=actor,
        audience="customer" if audience == "customer" else "staff",
        partial=partial,
        definitions=definitions,
    )


def _staff_followers(value: Any) -> list[User]:
    if not isinstance(value, list | tuple | set):
        raise DomainError("invalid", field="followers", message=_("Enter a list of people."))
    people: list[User] = []
    for person in value:
        if not isinstance(person, User) or not person.is_active or person.kind != User.Kind.STAFF:
            raise DomainError(
                "invalid", field="followers", message=_("Choose active staff members.")
            )
        if person not in people:
            people.append(person)
    return people


def _lock(ticket: Ticket) -> Ticket:
    return Ticket.objects.select_for_update().get(pk=ticket.pk)


def check_version(ticket: Ticket, expected: int | None) -> None:
    if expected is not None and ticket.version != expected:
        raise PreconditionFailed(
            "version_mismatch",
            field="If-Match",
            message=_("Someone changed this ticket since you opened it. Review their change."),
        )


def facts_of(ticket: Ticket) -> dict[str, Any]:
    """The ``ticket`` map guards and conditions see."""
    requester = ticket.requester
    return {
        "priority": PRIORITY_KEYS.get(ticket.priority, ""),
        "channel": ticket.channel,
        "category": ticket.status_category,
        "assignee_set": ticket.assignee_id is not None,
        "tier": requester.tier.key if requester is not None else "",
        "custom_fields": dict(ticket.custom_fields),
    }


def values_of(ticket: Ticket) -> dict[str, Any]:
    """Field key → value, for required-field checks (custom fields and built-in ones)."""
    values: dict[str, Any] = dict(ticket.custom_fields)
    for key in BUILT_IN_REQUIRABLE:
        values[key] = getattr(ticket, f"{key}_id", None) if key in {
            "team", "assignee", "organisation"
        } else getattr(ticket, key)  # fmt: skip
    return values


def tags_of(ticket: Ticket) -> list[str]:
    return list(TicketTag.objects.filter(ticket=ticket).values_list("name", flat=True))


def _set_tags(ticket: Ticket, tags: Sequence[str]) -> None:
    current = set(tags_of(ticket))
    wanted = set(tags)
    TicketTag.objects.filter(ticket=ticket, name__in=current - wanted).delete()
    TicketTag.objects.bulk_create(
        [TicketTag(ticket=ticket, name=name) for name in sorted(wanted - current)]
    )


def _set_followers(ticket: Ticket, people: Sequence[User]) -> None:
    current = set(TicketFollower.objects.filter(ticket=ticket).values_list("user_id", flat=True))
    wanted = {person.pk for person in people}
    TicketFollower.objects.filter(ticket=ticket, user_id__in=current - wanted).delete()
    TicketFollower.objects.bulk_create(
        [TicketFollower(ticket=ticket, user_id=pk) for pk in sorted(wanted - current)]
    )


def _label(value: Any) -> Any:
    """How a changed value reads on the timeline and in events."""
    if value is None:
        return None
    if isinstance(value, User):
        return {"id": value.pk, "name": str(value)}
    if isinstance(value, Team | Customer | Organisation):
        return {"id": value.pk, "name": value.name}
    if isinstance(value, TicketStatus | TicketType):
        return {"id": value.pk, "name_zh": value.name_zh, "name_en": value.name_en}
    if isinstance(value, Ticket):
        return {"id": value.pk, "number": value.number}
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def event_payload(ticket: Ticket, **extra: Any) -> dict[str, Any]:
    return {
        "ticket_id": ticket.pk,
        "number": ticket.number,
        "version": ticket.version,
        "business_line_id": ticket.business_line_id,
        "ticket_type_id": ticket.ticket_type_id,
        "status_id": ticket.status_id,
        "status_category": ticket.status_category,
        "priority": PRIORITY_KEYS.get(ticket.priority, ""),
        "team_id": ticket.team_id,
        "assignee_id": ticket.assignee_id,
        "requester_id": ticket.requester_id,
        "channel": ticket.channel,
        **extra,
    }


def status_payload(ticket: Ticket, old: Any, new: Any, **extra: Any) -> dict[str, Any]:
    """The payload of ``ticket.status_changed``: the move, also as the change list that
    ``ticket.updated`` carries, so readers of changes need no special case."""
    return event_payload(
        ticket, from_status=old, to_status=new, changes={"status": [old, new]}, **extra
    )


def _enter_status(ticket: Ticket, status: TicketStatus, now: datetime) -> None:
    ticket.status = status
    ticket.status_category = status.category
    ticket.status_changed_at = now
    if status.category == Category.SOLVED:
        ticket.solved_at = now
        ticket.closed_at = None
    elif status.category == Category.CLOSED:
        ticket.closed_at = now
        ticket.solved_at = ticket.solved_at or now
    else:
        ticket.solved_at = None
        ticket.closed_at = None


def status_of_category(ticket_type: TicketType, category: str) -> TicketStatus:
    """The first active status of a category in the type's lifecycle."""
    status = (
        TicketStatus.objects.filter(ticket_type=ticket_type, category=category, is_active=True)
        .order_by("position", "pk")
        .first()
    )
    if status is None:
        raise DomainError(
            "lifecycle_incomplete",
            field="status",
            message=_("The ticket type has no active status of this category."),
        )
    return status


# --- Creating -------------------------------------------------------------------------------


@transaction.atomic
def create_ticket(
    *,
    actor: Any,
    ticket_type: TicketType,
    requester: Customer,
    subject: Any,
    description: Any = "",
    channel: str = Ticket.Channel.WEB,
    priority: Any = Ticket.Priority.NORMAL,
    team: Team | None = None,
    assignee: User | None = None,
    organisation: Organisation | None = None,
    custom_fields: Any = None,
    tags: Any = (),
    followers: Any = (),
    due_at: Any = None,
    parent: Ticket | None = None,
    audience: str = "staff",
    files: Sequence[Any] = (),
) -> Ticket:
    """Open a ticket in its type's initial status with the next number of its prefix.

    Without a team, the ticket goes to the team that looks after the requester (when it serves
    the same line).

    ``files`` (photos and videos sent with the request) are checked like any attachment and
    stored as public files of the ticket.

    Staff need ``tickets.add_ticket`` and must be able to see the result; a customer contact
    (``audience="customer"``) may only file for their own customer record and fill the fields
    the form shows customers. The organisation defaults to the requester's.
    """
    if audience == "customer":
        if requester.portal_user_id is None or requester.portal_user_id != actor.pk:
            raise PermissionDenied("not_own_record", field="requester")
        team = assignee = None
        followers = ()
        tags = ()
        due_at = None
        parent = None
    elif actor is not None:
        authz.require_permission(actor, ADD_TICKET)
        if not _usable(actor, ticket_type):
            raise DomainError(
                "invalid", field="ticket_type", message=_("Choose a ticket type you may use.")
            )
    if not ticket_type.is_active:
        raise DomainError("invalid", field="ticket_type", message=_("This type is inactive."))
    _check_files(files)
    line_id = ticket_type.business_line_id
    if channel not in Ticket.Channel.values:
        raise DomainError("invalid_choice", field="channel", message=_("Choose a known channel."))
    status = lifecycle.initial_status(ticket_type)
    team = _team(team, line_id) or _account_team(requester, line_id)
    ticket = Ticket(
        ticket_type=ticket_type,
        business_line_id=line_id,
        subject=_subject(subject),
        description=_description(description),
        channel=channel,
        priority=_priority(priority),
        requester=_requester(requester, line_id),
        organisation=_organisation(organisation) or requester.organisation,
        team=team,
        assignee=_assignee(assignee, team),
        due_at=_due_at(due_at),
        parent=parent,
        created_by=actor if actor is not None and actor.is_authenticated else None,
    )
    # One read of the form's fields serves the check and the versions stored beside the values.
    definitions = customfields.definitions_for(
        TARGET, form_key_of(ticket_type.pk), include_inactive=True
    )
    ticket.custom_fields = _custom_fields(
        custom_fields or {},
        ticket_type=ticket_type,
        existing=None,
        actor=actor,
        audience=audience,
        partial=False,
        definitions=definitions,
    )
    ticket.custom_field_versions = {
        d.key: d.version for d in definitions if d.is_active and d.key in ticket.custom_fields
    }
    clean_tag_list = clean_tags(list(tags))
    people = _staff_followers(list(followers))
    now = timezone.now()
    ticket.created_at = ticket.updated_at = now
    _enter_status(ticket, status, now)
    if audience != "customer" and actor is not None:
        _require_reachable(actor, ticket)
    # From here to the commit the month's number row stays locked: keep the work short.
    ticket.number = numbering.next_number(ticket_type)
    ticket.save(force_insert=True)
    # A new ticket has no tags or followers yet: add them without reading the current ones.
    TicketTag.objects.bulk_create(
        [TicketTag(ticket=ticket, name=name) for name in sorted(set(clean_tag_list))]
    )
    TicketFollower.objects.bulk_create(
        [TicketFollower(ticket=ticket, user_id=pk) for pk in sorted({p.pk for p in people})]
    )
    TicketEvent.objects.create(
        ticket=ticket,
        actor=_person(actor),
        kind=Kind.CREATED,
        changes={"status": [None, _label(status)], "channel": [None, channel]},
        created_at=now,
    )
    _store_files(ticket, files, actor)
    audit.record(actor=actor, action=Action.CREATED, obj=ticket, after=audit.snapshot(ticket))
    outbox.emit("ticket.created", ticket, actor=actor, payload=event_payload(ticket))
    if ticket.assignee_id is not None:
        outbox.emit("ticket.assigned", ticket, actor=actor, payload=event_payload(ticket))
    return ticket


def _account_team(requester: Customer, line_id: int) -> Team | None:
    """The team that looks after the customer, for a ticket that came in without one (from the
    portal or a channel), when it serves the ticket's line."""
    team = requester.team if requester.team_id is not None else None
    if team is None or not team.is_active or team.business_line_id != line_id:
        return None
    return team


def _check_files(files: Sequence[Any]) -> None:
    from aftersales.tickets.services import conversation

    if len(files) > conversation.MAX_FILES_PER_MESSAGE:
        raise DomainError(
            "too_many_files",
            field="files",
            message=_("Attach at most %(count)s files to one message."),
            params={"count": conversation.MAX_FILES_PER_MESSAGE},
        )
    for upload in files:
        conversation.check_upload(upload)


def _store_files(ticket: Ticket, files: Sequence[Any], actor: Any) -> None:
    from aftersales.tickets.services import conversation

    person = _person(actor)
    for upload in files:
        conversation.store_file(ticket=ticket, comment=None, upload=upload, actor=person)


def _usable(actor: Any, ticket_type: TicketType) -> bool:
    """Whether ``selectors.ticket_types_usable_by(actor)`` holds the type. An active type of
    an active line the actor belongs to always does, which is the usual case and is answered
    from what the request already knows; any other type is asked of the selector."""
    if (
        authz.scope_for(actor, VIEW_TICKET_TYPE) is not None
        and ticket_type.business_line_id in authz.business_line_ids(actor)
        and ticket_type.is_active
        and ticket_type.business_line.is_active
    ):
        return True
    return selectors.ticket_types_usable_by(actor).filter(pk=ticket_type.pk).exists()


def _versions_for(ticket_type: TicketType, values: dict[str, Any]) -> dict[str, int]:
    versions = customfields.current_versions(TARGET, form_key_of(ticket_type.pk))
    return {key: version for key, version in versions.items() if key in values}


def _person(actor: Any) -> User | None:
    return actor if actor is not None and getattr(actor, "is_authenticated", False) else None


def _require_reachable(actor: Any, ticket: Ticket) -> None:
    """Refuse a write whose result the actor could no longer see (a "my teams" agent moving a
    ticket to another line's team would lose it), judged on the row as it stands in memory."""
    scope = authz.scope_for(actor, VIEW_TICKET)
    if scope is None:
        raise PermissionDenied("permission_denied", params={"permission": VIEW_TICKET})
    if scope == authz.Scope.ALL or ticket.assignee_id == actor.pk:
        return
    rank = authz.SCOPE_RANK[scope]
    if rank >= authz.SCOPE_RANK[authz.Scope.TEAMS] and ticket.team_id in authz.team_ids(actor):
        return
    if rank >= authz.SCOPE_RANK[authz.Scope.BUSINESS_LINES] and (
        ticket.business_line_id in authz.business_line_ids(actor)
    ):
        return
    if ticket.created_by_id == actor.pk:
        return
    raise PermissionDenied(
        "outside_scope",
        field="team",
        message=_("You could not see the ticket afterwards: choose a team within your reach."),
    )


# --- Changing -------------------------------------------------------------------------------


@dataclass
class _Change:
    """What one update did: timeline changes (display values) and what else to announce."""

    changes: dict[str, list[Any]] = field(default_factory=dict)
    status_changed: bool = False
    assigned: bool = False
    fields: list[str] = field(default_factory=list)

    def note(self, name: str, old: Any, new: Any, *, column: str | None = None) -> None:
        self.changes[name] = [_label(old), _label(new)]
        if column:
            self.fields.append(column)


@transaction.atomic
def update_ticket(
    *,
    actor: Any,
    ticket: Ticket,
    changes: dict[str, Any],
    expected_version: int | None = None,
    event_kind: str = Kind.UPDATED,
) -> Ticket:
    """Apply ``changes`` (keys from :data:`EDITABLE`) as one recorded change.

    A status change goes through the lifecycle: the transition must exist, the actor may need
    its permission, its guard must hold and its required fields must be filled in (values sent
    in the same change count). Moving to another type maps the status to the first status of
    the same category in the new type.
    """
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise DomainError(
            "unknown_field", field=unknown[0], message=_("This field cannot be changed.")
        )
    ticket = _lock(ticket)
    if actor is not None:
        authz.require_permission(actor, CHANGE_TICKET, ticket)
    check_version(ticket, expected_version)
    before = audit.snapshot(ticket)
    change = _Change()
    now = timezone.now()

    if "ticket_type" in changes and changes["ticket_type"].pk != ticket.ticket_type_id:
        _change_type(ticket, changes["ticket_type"], actor, change)
    if "subject" in changes:
        _set(ticket, change, "subject", _subject(changes["subject"]))
    if "description" in changes:
        _set(ticket, change, "description", _description(changes["description"]))
    if "priority" in changes:
        _set(ticket, change, "priority", _priority(changes["priority"]))
    if "due_at" in changes:
        _set(ticket, change, "due_at", _due_at(changes["due_at"]))
    if "requester" in changes:
        _set(ticket, change, "requester", _requester(changes["requester"], ticket.business_line_id))
    if "organisation" in changes:
        _set(ticket, change, "organisation", _organisation(changes["organisation"]))
    if "parent" in changes:
        _set(ticket, change, "parent", _parent(ticket, changes["parent"]))
    if "team" in changes or "assignee" in changes:
        team = _team(changes.get("team", ticket.team), ticket.business_line_id)
        assignee_value = changes.get("assignee", ticket.assignee)
        # Moving to another team unassigns unless the assignee belongs to it too.
        if (
            "team" in changes
            and "assignee" not in changes
            and assignee_value is not None
            and (team is None or not assignee_value.team_memberships.filter(team=team).exists())
        ):
            assignee_value = None
        assignee = _assignee(assignee_value, team)
        _set(ticket, change, "team", team)
        if assignee != ticket.assignee:
            change.assigned = assignee is not None
        _set(ticket, change, "assignee", assignee)
    if "custom_fields" in changes:
        values = _custom_fields(
            changes["custom_fields"],
            ticket_type=ticket.ticket_type,
            existing=ticket.custom_fields,
            actor=actor,
            audience="staff",
            partial=True,
        )
        _note_custom_fields(ticket, values, change)
    if "status" in changes and changes["status"].pk != ticket.status_id:
        target: TicketStatus = changes["status"]
        _check_transition(ticket, target, actor)
        change.note("status", ticket.status, target, column="status")
        change.status_changed = True
        _enter_status(ticket, target, now)
        change.fields += ["status_category", "status_changed_at", "solved_at", "closed_at"]

    tag_change = _apply_tags(ticket, changes, change)
    follower_change = _apply_followers(ticket, changes, change)
    if not change.changes:
        return ticket
    if actor is not None:
        _require_reachable(actor, ticket)
    ticket.version += 1
    ticket.updated_at = now
    ticket.save(update_fields=sorted({*change.fields, "version", "updated_at"}))
    if tag_change is not None:
        _set_tags(ticket, tag_change)
    if follower_change is not None:
        _set_followers(ticket, follower_change)
    kind = Kind.STATUS_CHANGED if change.status_changed and len(change.changes) == 1 else event_kind
    if change.assigned and set(change.changes) <= {"assignee", "team"}:
        kind = Kind.ASSIGNED
    TicketEvent.objects.create(
        ticket=ticket, actor=_person(actor), kind=kind, changes=change.changes, created_at=now
    )
    audit.record_change(actor=actor, obj=ticket, before=before)
    _announce(ticket, actor, change)
    return ticket


BUILT_IN_LABELS = {
    "subject": _("Subject"),
    "description": _("Description"),
    "team": _("Team"),
    "assignee": _("Assignee"),
    "organisation": _("Organisation"),
    "due_at": _("Due"),
}


def field_label(ticket_type: TicketType, key: str) -> str:
    """What a person calls a field of this type's tickets: its label in the active language."""
    if key in BUILT_IN_LABELS:
        return str(BUILT_IN_LABELS[key])
    language = translation.get_language() or settings.LANGUAGE_CODE
    for definition in customfields.definitions_for(TARGET, form_key_of(ticket_type.pk)):
        if definition.key == key:
            return definition.label(language)
    return key


def _check_transition(ticket: Ticket, target: TicketStatus, actor: Any) -> None:
    """The lifecycle's verdict, with a missing field named by its label, not its key."""
    try:
        lifecycle.check_transition(
            ticket.ticket_type,
            ticket.status,
            target,
            actor=actor,
            facts=facts_of(ticket),
            values=values_of(ticket),
        )
    except DomainError as error:
        if error.code != "required_field_missing" or error.field is None:
            raise
        raise DomainError(
            "required_field_missing",
            field=error.field,
            message=_("Fill in %(field)s before moving to %(to)s."),
            params={"field": field_label(ticket.ticket_type, error.field), "to": target.name},
        ) from None


def _set(ticket: Ticket, change: _Change, name: str, value: Any) -> None:
    column = f"{name}_id" if name in {
        "team", "assignee", "requester", "organisation", "parent", "status", "ticket_type"
    } else name  # fmt: skip
    old_value = getattr(ticket, column)
    new_value = getattr(value, "pk", value) if column.endswith("_id") else value
    if old_value == new_value:
        return
    change.note(name, getattr(ticket, name), value, column=name)
    setattr(ticket, name, value)


def _parent(ticket: Ticket, parent: Any) -> Ticket | None:
    if parent is None:
        return None
    if not isinstance(parent, Ticket):
        raise DomainError("invalid", field="parent", message=_("Choose a ticket."))
    node: Ticket | None = parent
    for _depth in range(20):
        if node is None:
            return parent
        if node.pk == ticket.pk:
            break
        node = node.parent
    raise DomainError(
        "parent_cycle",
        field="parent",
        message=_("A ticket cannot be the parent of one of its own parents."),
    )


def _note_custom_fields(ticket: Ticket, values: dict[str, Any], change: _Change) -> None:
    old = ticket.custom_fields or {}
    keys = sorted(set(old) | set(values))
    changed = {k: [old.get(k), values.get(k)] for k in keys if old.get(k) != values.get(k)}
    if not changed:
        return
    for key, (before_value, after_value) in changed.items():
        change.changes[f"custom_fields.{key}"] = [before_value, after_value]
    ticket.custom_fields = values
    ticket.custom_field_versions = {
        **{k: v for k, v in (ticket.custom_field_versions or {}).items() if k in values},
        **{k: v for k, v in _versions_for(ticket.ticket_type, values).items() if k in changed},
    }
    change.fields += ["custom_fields", "custom_field_versions"]


def _change_type(ticket: Ticket, new_type: TicketType, actor: Any, change: _Change) -> None:
    if not isinstance(new_type, TicketType) or not new_type.is_active:
        raise DomainError("invalid", field="ticket_type", message=_("Choose an active type."))
    if actor is not None and not (
        selectors.ticket_types_usable_by(actor).filter(pk=new_type.pk).exists()
    ):
        raise DomainError(
            "invalid", field="ticket_type", message=_("Choose a ticket type you may use.")
        )
    status = status_of_category(new_type, ticket.status_category)
    change.note("ticket_type", ticket.ticket_type, new_type, column="ticket_type")
    change.note("status", ticket.status, status, column="status")
    if new_type.business_line_id != ticket.business_line_id:
        change.note("business_line", ticket.business_line, new_type.business_line)
        change.fields.append("business_line")
        ticket.business_line_id = new_type.business_line_id
        if ticket.team is not None and ticket.team.business_line_id != new_type.business_line_id:
            change.note("team", ticket.team, None, column="team")
            ticket.team = None
    ticket.ticket_type = new_type
    ticket.status = status
    # The form changes with the type: keep the values the new form still has.
    kept = {d.key for d in customfields.definitions_for(TARGET, form_key_of(new_type.pk))}
    values = {k: v for k, v in (ticket.custom_fields or {}).items() if k in kept}
    _note_custom_fields(ticket, values, change)


def _apply_tags(ticket: Ticket, changes: dict[str, Any], change: _Change) -> list[str] | None:
    if not {"tags", "add_tags", "remove_tags"} & set(changes):
        return None
    current = tags_of(ticket)
    wanted = clean_tags(changes["tags"]) if "tags" in changes else list(current)
    for tag in clean_tags(changes.get("add_tags", []), "add_tags"):
        if tag not in wanted:
            wanted.append(tag)
    removed = set(clean_tags(changes.get("remove_tags", []), "remove_tags"))
    wanted = [tag for tag in wanted if tag not in removed]
    if sorted(wanted) == sorted(current):
        return None
    change.note("tags", sorted(current), sorted(wanted))
    return wanted


def _apply_followers(ticket: Ticket, changes: dict[str, Any], change: _Change) -> list[User] | None:
    if "followers" not in changes:
        return None
    people = _staff_followers(changes["followers"])
    current = list(User.objects.filter(follower_rows__ticket=ticket).order_by("pk"))
    if {p.pk for p in people} == {p.pk for p in current}:
        return None
    change.note(
        "followers",
        [_label(p) for p in current],
        [_label(p) for p in people],
    )
    return people


def _announce(ticket: Ticket, actor: Any, change: _Change) -> None:
    outbox.emit(
        "ticket.updated", ticket, actor=actor, payload=event_payload(ticket, changes=change.changes)
    )
    if change.status_changed:
        old, new = change.changes["status"]
        outbox.emit(
            "ticket.status_changed",
            ticket,
            actor=actor,
            payload=status_payload(ticket, old, new),
        )
    if change.assigned:
        outbox.emit("ticket.assigned", ticket, actor=actor, payload=event_payload(ticket))


# --- Taking, bulk changes -------------------------------------------------------------------


def _team_for_taker(actor: User, ticket: Ticket) -> int | None:
    """The team the ticket is in once the actor takes it: unchanged when the actor belongs to
    it, has no team in the ticket's line (a manager helping out), or the ticket has none; else
    the actor's team in the line, as a helpdesk moves a ticket to the group of whoever takes it."""
    if ticket.team_id is None:
        return None
    memberships = actor.team_memberships.filter(
        team__is_active=True, team__business_line_id=ticket.business_line_id
    )
    if memberships.filter(team_id=ticket.team_id).exists():
        return ticket.team_id
    own = memberships.order_by("team__name", "team_id").values_list("team_id", flat=True).first()
    return own if own is not None else ticket.team_id


@transaction.atomic
def take_ticket(*, actor: Any, ticket: Ticket) -> Ticket:
    """Assign an unassigned ticket to the actor, atomically: of two agents taking the same
    ticket at once exactly one wins; the other is told who has it."""
    authz.require_permission(actor, TAKE_TICKET, ticket)
    if actor.kind != User.Kind.STAFF:
        raise PermissionDenied("permission_denied", params={"permission": TAKE_TICKET})
    now = timezone.now()
    before_team = ticket.team_id
    team_id = _team_for_taker(actor, ticket)
    taken = Ticket.objects.filter(pk=ticket.pk, assignee__isnull=True).update(
        assignee=actor, team_id=team_id, version=F("version") + 1, updated_at=now
    )
    if not taken:
        holder = Ticket.objects.select_related("assignee").get(pk=ticket.pk).assignee
        raise Conflict(
            "already_assigned",
            field="assignee",
            message=_("%(user)s already has this ticket."),
            params={"user": str(holder) if holder else "?"},
        )
    ticket = Ticket.objects.select_related("assignee", "team").get(pk=ticket.pk)
    changes: dict[str, list[Any]] = {"assignee": [None, _label(actor)]}
    if team_id != before_team:
        previous = Team.objects.filter(pk=before_team).first() if before_team else None
        changes["team"] = [_label(previous), _label(ticket.team)]
    TicketEvent.objects.create(
        ticket=ticket, actor=actor, kind=Kind.ASSIGNED, changes=changes, created_at=now
    )
    audit.record(
        actor=actor,
        action=Action.UPDATED,
        obj=ticket,
        verb="taken",
        before={"assignee": None},
        after={"assignee": actor.pk},
    )
    outbox.emit("ticket.assigned", ticket, actor=actor, payload=event_payload(ticket, taken=True))
    return ticket


@dataclass(frozen=True)
class BulkResult:
    updated: list[Ticket]
    failed: dict[int, str]


def bulk_update_tickets(
    *, actor: Any, tickets: Iterable[Ticket], changes: dict[str, Any]
) -> BulkResult:
    """Apply the same change to several tickets, each in its own transaction: one ticket
    that refuses (a required field, a missing permission) does not hold back the others."""
    updated: list[Ticket] = []
    failed: dict[int, str] = {}
    for ticket in tickets:
        try:
            updated.append(update_ticket(actor=actor, ticket=ticket, changes=changes))
        except FieldErrors as error:
            failed[ticket.pk] = "; ".join(e.message for e in error.field_errors)
        except DomainError as error:
            failed[ticket.pk] = error.detail()
    return BulkResult(updated=updated, failed=failed)


# --- Links, merge, split --------------------------------------------------------------------


@transaction.atomic
def link_tickets(*, actor: Any, source: Ticket, target: Ticket, kind: str) -> TicketLink:
    authz.require_permission(actor, CHANGE_TICKET, source)
    authz.require_permission(actor, VIEW_TICKET, target)
    if kind not in TicketLink.Kind.values:
        raise DomainError("invalid_choice", field="kind", message=_("Choose a kind of link."))
    if source.pk == target.pk:
        raise DomainError(
            "link_to_itself", field="target", message=_("A ticket cannot link to itself.")
        )
    link, created = TicketLink.objects.get_or_create(
        source=source, target=target, kind=kind, defaults={"created_by": _person(actor)}
    )
    if created:
        for one, other in ((source, target), (target, source)):
            TicketEvent.objects.create(
                ticket=one,
                actor=_person(actor),
                kind=Kind.LINKED,
                changes={"link": [None, {"kind": kind, **_label(other)}]},
            )
        audit.record(actor=actor, action=Action.CREATED, obj=link)
        outbox.emit(
            "ticket.linked",
            source,
            actor=actor,
            payload=event_payload(source, target_id=target.pk, kind=kind),
        )
    return link


@transaction.atomic
def unlink_tickets(*, actor: Any, link: TicketLink) -> None:
    authz.require_permission(actor, CHANGE_TICKET, link.source)
    for one, other in ((link.source, link.target), (link.target, link.source)):
        TicketEvent.objects.create(
            ticket=one,
            actor=_person(actor),
            kind=Kind.UNLINKED,
            changes={"link": [{"kind": link.kind, **_label(other)}, None]},
        )
    audit.record(actor=actor, action=Action.DELETED, obj=link)
    outbox.emit(
        "ticket.unlinked",
        link.source,
        actor=actor,
        payload=event_payload(link.source, target_id=link.target_id, kind=link.kind),
    )
    link.delete()


@dataclass(frozen=True)
class MergeResult:
    survivor: Ticket
    merged: list[Ticket]
    comments_moved: int


@transaction.atomic
def merge_tickets(*, actor: Any, survivor: Ticket, merged: Sequence[Ticket]) -> MergeResult:
    """Fold ``merged`` tickets into ``survivor``: their conversation and files move over
    (each comment remembers where it came from), each merged ticket is closed and points to
    the survivor, and the requester is told on both sides by a public note."""
    authz.require_permission(actor, MERGE_TICKET, survivor)
    for ticket in merged:
        authz.require_permission(actor, MERGE_TICKET, ticket)
    ids = sorted({survivor.pk, *(t.pk for t in merged)})
    if len(ids) != len(merged) + 1:
        raise DomainError(
            "merge_into_itself",
            field="merged_ids",
            message=_("A ticket cannot be merged into itself."),
        )
    locked = {t.pk: t for t in Ticket.objects.select_for_update().filter(pk__in=ids)}
    survivor = locked[survivor.pk]
    if survivor.merged_into_id is not None or survivor.status_category == Category.CLOSED:
        raise DomainError(
            "survivor_closed",
            field="survivor",
            message=_("Merge into an open ticket: %(number)s is closed or merged."),
            params={"number": survivor.number},
        )
    now = timezone.now()
    moved = 0
    sources = [locked[t.pk] for t in merged]
    for source in sources:
        if source.merged_into_id is not None:
            raise DomainError(
                "already_merged",
                field="merged_ids",
                message=_("%(number)s was already merged into another ticket."),
                params={"number": source.number},
            )
        if source.requester_id != survivor.requester_id:
            # The conversation and files move over: another customer's would become readable
            # by the survivor's requester. Two records of one person are merged as customers.
            raise DomainError(
                "merge_other_requester",
                field="merged_ids",
                message=_(
                    "%(number)s was raised by another customer; merge only tickets of the "
                    "same customer."
                ),
                params={"number": source.number},
            )
        before = audit.snapshot(source)
        moved += Comment.objects.filter(ticket=source).update(
            ticket=survivor, original_ticket=source
        )
        source.attachments.update(ticket=survivor)
        source.merged_into = survivor
        closed = status_of_category(source.ticket_type, Category.CLOSED)
        _enter_status(source, closed, now)
        source.version += 1
        source.updated_at = now
        source.save(
            update_fields=[
                "merged_into", "status", "status_category", "status_changed_at", "solved_at",
                "closed_at", "version", "updated_at",
            ]
        )  # fmt: skip
        TicketEvent.objects.create(
            ticket=source,
            actor=_person(actor),
            kind=Kind.MERGED,
            changes={"merged_into": [None, _label(survivor)]},
            created_at=now,
        )
        TicketEvent.objects.create(
            ticket=survivor,
            actor=_person(actor),
            kind=Kind.MERGED_IN,
            changes={"merged": [None, _label(source)]},
            created_at=now,
        )
        _merge_notice(source, survivor, actor, now)
        audit.record_change(actor=actor, obj=source, before=before, verb="merged")
    survivor.version += 1
    survivor.updated_at = now
    survivor.save(update_fields=["version", "updated_at"])
    outbox.emit(
        "ticket.merged",
        survivor,
        actor=actor,
        payload=event_payload(survivor, merged_ids=[s.pk for s in sources]),
    )
    return MergeResult(survivor=survivor, merged=sources, comments_moved=moved)


def _merge_notice(source: Ticket, survivor: Ticket, actor: Any, now: datetime) -> None:
    """A public note on the survivor telling the requester where the conversation went, in
    the site's language (the requester's own language is not known on every channel)."""
    with translation.override(settings.LANGUAGE_CODE):
        text = richtext.from_plain_text(
            str(
                _(
                    "Request %(merged)s was merged into %(survivor)s; "
                    "the conversation continues here."
                )
                % {"merged": source.number, "survivor": survivor.number}
            )
        )
    Comment.objects.create(
        ticket=survivor,
        original_ticket=source,
        author=_person(actor),
        is_public=True,
        body=text,
        body_text=richtext.to_plain_text(text),
        created_at=now,
    )


@transaction.atomic
def split_ticket(*, actor: Any, comment: Comment, subject: Any) -> Ticket:
    """Turn one comment into a new ticket for the same requester and type, linked to the
    original (a customer who raised a second problem in a reply)."""
    original = comment.ticket
    authz.require_permission(actor, CHANGE_TICKET, original)
    if not comment.is_public:
        # The message becomes the new ticket's description, which its requester reads.
        raise DomainError(
            "split_internal_note",
            field="comment",
            message=_("An internal note cannot become a customer's request."),
        )
    new = create_ticket(
        actor=actor,
        ticket_type=original.ticket_type,
        requester=original.requester,
        organisation=original.organisation,
        subject=subject,
        description=comment.body,
        channel=comment.channel,
        priority=original.priority,
        team=original.team,
    )
    TicketLink.objects.create(
        source=new, target=original, kind=TicketLink.Kind.RELATED, created_by=_person(actor)
    )
    for one, other in ((original, new), (new, original)):
        TicketEvent.objects.create(
            ticket=one,
            actor=_person(actor),
            kind=Kind.SPLIT,
            changes={"split": [None, _label(other)], "comment_id": [None, comment.pk]},
        )
    outbox.emit(
        "ticket.split",
        original,
        actor=actor,
        payload=event_payload(original, new_ticket_id=new.pk, comment_id=comment.pk),
    )
    return new


# --- Lifecycle automation -------------------------------------------------------------------


def reopen_for_customer(ticket: Ticket, now: datetime) -> bool:
    """A customer replied: a ticket waiting on them, or solved within the type's reopen window,
    goes back to open. Called under the ticket's lock by the conversation service."""
    category = ticket.status_category
    if category == Category.PENDING_CUSTOMER:
        pass
    elif category == Category.SOLVED:
        days = ticket.ticket_type.reopen_within_days
        if not days or ticket.solved_at is None or now - ticket.solved_at > _days(days):
            return False
    else:
        return False
    target = status_of_category(ticket.ticket_type, Category.OPEN)
    old = ticket.status
    _enter_status(ticket, target, now)
    TicketEvent.objects.create(
        ticket=ticket,
        actor=None,
        kind=Kind.REOPENED,
        changes={"status": [_label(old), _label(target)]},
        created_at=now,
    )
    outbox.emit(
        "ticket.status_changed",
        ticket,
        payload=status_payload(ticket, _label(old), _label(target), reopened=True),
    )
    return True


def _own_request(actor: Any, ticket: Ticket) -> Ticket:
    """The contact's own (or organisation's) request, locked; anyone else gets not-found."""
    if not selectors.is_contact(actor):
        raise PermissionDenied("permission_denied")
    if not selectors.tickets_visible_to(actor).filter(pk=ticket.pk).exists():
        raise NotFound("not_found")
    return (
        Ticket.objects.select_for_update().select_related("ticket_type", "status").get(pk=ticket.pk)
    )


def _customer_move(actor: Any, ticket: Ticket, target: TicketStatus, kind: str) -> Ticket:
    now = timezone.now()
    old = ticket.status
    _enter_status(ticket, target, now)
    ticket.version += 1
    ticket.updated_at = now
    ticket.save(
        update_fields=[
            "status", "status_category", "status_changed_at", "solved_at", "closed_at",
            "version", "updated_at",
        ]
    )  # fmt: skip
    TicketEvent.objects.create(
        ticket=ticket,
        actor=_person(actor),
        kind=kind,
        changes={"status": [_label(old), _label(target)], "by": [None, "customer"]},
        created_at=now,
    )
    audit.record(
        actor=actor,
        action=Action.UPDATED,
        obj=ticket,
        verb=kind,
        before={"status": old.pk},
        after={"status": target.pk},
    )
    outbox.emit(
        "ticket.status_changed",
        ticket,
        actor=actor,
        payload=status_payload(ticket, _label(old), _label(target), by_customer=True),
    )
    return ticket


@transaction.atomic
def close_by_customer(*, actor: Any, ticket: Ticket) -> Ticket:
    """The customer says their problem is solved: the request moves to the type's first solved
    status (auto-close and the satisfaction survey follow as for any solved request).

    The fields a transition asks staff for (a resolution code…) are not asked of customers.
    """
    ticket = _own_request(actor, ticket)
    if ticket.status_category in (Category.SOLVED, Category.CLOSED):
        raise DomainError(
            "already_closed", field="status", message=_("This request is already closed.")
        )
    target = status_of_category(ticket.ticket_type, Category.SOLVED)
    return _customer_move(actor, ticket, target, Kind.STATUS_CHANGED)


@transaction.atomic
def reopen_by_customer(*, actor: Any, ticket: Ticket) -> Ticket:
    """The customer says the problem is back: a solved request opens again. A closed one does
    not (the customer submits a new request that can refer to it)."""
    ticket = _own_request(actor, ticket)
    if ticket.status_category == Category.CLOSED:
        raise DomainError(
            "ticket_closed",
            field="status",
            message=_("This request is closed. Please submit a new request."),
        )
    if ticket.status_category != Category.SOLVED:
        raise DomainError("not_solved", field="status", message=_("This request is still open."))
    target = status_of_category(ticket.ticket_type, Category.OPEN)
    return _customer_move(actor, ticket, target, Kind.REOPENED)


def _days(days: int) -> timedelta:
    return timedelta(days=days)


def close_solved_tickets(*, batch: int = 500) -> int:
    """Close solved tickets whose type's auto-close period has passed (the periodic job).

    Works in batches through the ``(status_category, solved_at)`` index; each ticket is closed
    in its own short transaction under its row lock, so a ticket reopened meanwhile stays open.
    """
    now = timezone.now()
    closed = 0
    for ticket_type in TicketType.objects.filter(auto_close_after_days__gt=0):
        cutoff = now - _days(ticket_type.auto_close_after_days)
        while True:
            ids = list(
                Ticket.objects.filter(
                    ticket_type=ticket_type,
                    status_category=Category.SOLVED,
                    solved_at__lte=cutoff,
                ).values_list("pk", flat=True)[:batch]
            )
            if not ids:
                break
            for pk in ids:
                closed += _auto_close(pk, cutoff, now)
            if len(ids) < batch:
                break
    return closed


def _auto_close(pk: int, cutoff: datetime, now: datetime) -> int:
    with transaction.atomic():
        ticket = (
            Ticket.objects.select_for_update()
            .filter(pk=pk, status_category=Category.SOLVED, solved_at__lte=cutoff)
            .first()
        )
        if ticket is None:
            return 0
        target = status_of_category(ticket.ticket_type, Category.CLOSED)
        old = ticket.status
        _enter_status(ticket, target, now)
        ticket.version += 1
        ticket.updated_at = now
        ticket.save(
            update_fields=[
                "status", "status_category", "status_changed_at", "solved_at", "closed_at",
                "version", "updated_at",
            ]
        )  # fmt: skip
        TicketEvent.objects.create(
            ticket=ticket,
            kind=Kind.AUTO_CLOSED,
            changes={"status": [_label(old), _label(target)]},
            created_at=now,
        )
        outbox.emit(
            "ticket.status_changed",
            ticket,
            payload=status_payload(ticket, _label(old), _label(target)),
        )
        return 1


def move_customer_tickets(*, survivor_id: int, merged_id: int) -> int:
    """After two customers were merged, the merged one's tickets belong to the survivor."""
    with transaction.atomic():
        moved = Ticket.objects.filter(requester_id=merged_id).update(
            requester_id=survivor_id, version=F("version") + 1
        )
        Comment.objects.filter(author_customer_id=merged_id).update(author_customer_id=survivor_id)
    return moved
