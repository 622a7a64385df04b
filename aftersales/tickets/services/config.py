"""Use cases of ticket-type configuration. Every write to types, statuses and transitions.

Each function checks ``tickets.configure_tickettype`` within the actor's scope on the type's
business line, validates, writes, records an audit entry and emits an outbox event, all in one
transaction.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.utils.translation import gettext_lazy as _

from aftersales.accounts import authz, catalog
from aftersales.accounts.models import BusinessLine
from aftersales.audit import services as audit
from aftersales.audit.models import AuditEntry
from aftersales.core.errors import Conflict, DomainError, PermissionDenied
from aftersales.outbox import services as outbox
from aftersales.tickets import guards
from aftersales.tickets.defaults import DEFAULT_STATUSES, DEFAULT_TRANSITIONS
from aftersales.tickets.models import (
    MAX_DAYS,
    StatusTransition,
    TicketStatus,
    TicketType,
)
from aftersales.tickets.permissions import CONFIGURE_TICKET_TYPE

Category = TicketStatus.Category
Action = AuditEntry.Action

KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,59}$")
FIELD_KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
PREFIX_PATTERN = re.compile(r"^[A-Z][A-Z0-9]{0,9}$")
COLOUR_PATTERN = re.compile(r"^#[0-9a-fA-F]{6}$")
MAX_REQUIRED_FIELDS = 30

# The engine needs a status of each of these to exist: tickets are worked in "open", a reply
# reopens into "open", solving lands in "solved" and auto-close in "closed". Waiting statuses
# are optional; "new" is covered by the initial status.
REQUIRED_CATEGORIES = frozenset({Category.OPEN, Category.SOLVED, Category.CLOSED})
# A ticket cannot be born solved or closed.
INITIAL_CATEGORIES = frozenset(
    {Category.NEW, Category.OPEN, Category.PENDING_CUSTOMER, Category.PENDING_INTERNAL}
)

TYPE_EDITABLE = (
    "on_portal",
    "name_zh",
    "name_en",
    "description",
    "number_prefix",
    "icon",
    "colour",
    "reopen_within_days",
    "auto_close_after_days",
    "is_active",
    "position",
)
STATUS_EDITABLE = ("name_zh", "name_en", "category", "is_initial", "is_active")
TRANSITION_EDITABLE = ("name_zh", "name_en", "required_fields", "guard", "permission", "position")


# --- Permission ---------------------------------------------------------------------------------


def _require_configure(actor: Any, ticket_type: TicketType) -> None:
    authz.require_permission(actor, CONFIGURE_TICKET_TYPE, ticket_type)


def _lock_lifecycle(ticket_type: TicketType) -> None:
    """Serialise changes to one type's lifecycle: the invariants (one initial status, a status
    in each needed category) span several rows, so two editors must not interleave."""
    TicketType.objects.select_for_update().filter(pk=ticket_type.pk).values_list("pk").get()


def _require_configure_in_line(actor: Any, line: BusinessLine) -> None:
    """Whether a type created in ``line`` would lie inside the actor's configure scope."""
    scope = authz.scope_for(actor, CONFIGURE_TICKET_TYPE)
    if scope is None:
        raise PermissionDenied("permission_denied", params={"permission": CONFIGURE_TICKET_TYPE})
    if scope == authz.Scope.ALL:
        return
    reaches_lines = authz.SCOPE_RANK[scope] >= authz.SCOPE_RANK[authz.Scope.BUSINESS_LINES]
    if not reaches_lines or line.pk not in authz.business_line_ids(actor):
        raise PermissionDenied(
            "business_line_out_of_scope",
            field="business_line",
            message=_("You may configure ticket types only of your own business lines."),
        )


# --- Validation ---------------------------------------------------------------------------------


def _text(value: Any, field: str, *, max_length: int, required: bool = True) -> str:
    if not isinstance(value, str):
        raise DomainError("invalid", field=field, message=_("Enter text."))
    value = value.strip()
    if required and not value:
        raise DomainError("required", field=field, message=_("This field is required."))
    if len(value) > max_length:
        raise DomainError(
            "too_long",
            field=field,
            message=_("Enter at most %(max)s characters."),
            params={"max": max_length},
        )
    return value


def _key(value: Any, field: str = "key") -> str:
    if not isinstance(value, str) or not KEY_PATTERN.match(value):
        raise DomainError(
            "invalid_key",
            field=field,
            message=_(
                "Use lowercase letters, digits, hyphens and underscores (at most 60), "
                "starting with a letter or digit."
            ),
        )
    return value


def _days(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DAYS:
        raise DomainError(
            "invalid_days",
            field=field,
            message=_("Enter a whole number of days from 0 to %(max)s."),
            params={"max": MAX_DAYS},
        )
    return value


def _position(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DomainError(
            "invalid_position", field="position", message=_("Enter a whole number of 0 or more.")
        )
    return value


def _clean_type_field(field: str, value: Any) -> Any:
    if field in ("name_zh", "name_en"):
        return _text(value, field, max_length=120)
    if field == "description":
        return _text(value, field, max_length=5000, required=False)
    if field == "number_prefix":
        prefix = _text(value, field, max_length=10, required=False)
        if prefix and not PREFIX_PATTERN.match(prefix):
            raise DomainError(
                "invalid_prefix",
                field=field,
                message=_("Use 1 to 10 uppercase letters or digits, starting with a letter."),
            )
        return prefix
    if field == "icon":
        return _text(value, field, max_length=40, required=False)
    if field == "colour":
        colour = _text(value, field, max_length=7, required=False)
        if colour and not COLOUR_PATTERN.match(colour):
            raise DomainError(
                "invalid_colour", field=field, message=_("Enter a colour as #RRGGBB.")
            )
        return colour.lower()
    if field in ("reopen_within_days", "auto_close_after_days"):
        return _days(value, field)
    if field in ("is_active", "on_portal"):
        if not isinstance(value, bool):
            raise DomainError("invalid", field=field, message=_("Enter true or false."))
        return value
    if field == "position":
        return _position(value)
    raise DomainError(  # pragma: no cover - callers pass only editable fields
        "unknown_field", field=field, message=_("This field cannot be changed here.")
    )


def _category(value: Any) -> str:
    if value not in Category.values:
        raise DomainError(
            "invalid_choice",
            field="category",
            message=_("Choose one of: %(expected)s."),
            params={"expected": ", ".join(Category.values)},
        )
    return str(value)


def clean_required_fields(value: Any) -> list[str]:
    """Field keys as a list without repeats; each must look like a field key."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise DomainError(
            "invalid", field="required_fields", message=_("Enter a list of field keys.")
        )
    keys: list[str] = []
    for item in value:
        if not isinstance(item, str) or not FIELD_KEY_PATTERN.match(item.strip()):
            raise DomainError(
                "invalid_field_key",
                field="required_fields",
                message=_(
                    "%(key)s is not a field key: use lowercase letters, digits and underscores, "
                    "starting with a letter."
                ),
                params={"key": str(item)[:80]},
            )
        if item.strip() not in keys:
            keys.append(item.strip())
    if len(keys) > MAX_REQUIRED_FIELDS:
        raise DomainError(
            "too_many",
            field="required_fields",
            message=_("Require at most %(max)s fields."),
            params={"max": MAX_REQUIRED_FIELDS},
        )
    return keys


def _permission(value: Any) -> str:
    codename = _text(value, "permission", max_length=100, required=False)
    if codename and not catalog.is_known(codename):
        raise DomainError(
            "unknown_permission", field="permission", message=_("No such permission.")
        )
    return codename


def _check_version(obj: Any, expected: int | None) -> None:
    if expected is not None and obj.version != expected:
        raise Conflict("version_mismatch", field="version")


def _unknown_fields(changes: dict[str, Any], allowed: Iterable[str]) -> None:
    unknown = set(changes) - set(allowed)
    if unknown:
        raise DomainError(
            "unknown_field",
            field=sorted(unknown)[0],
            message=_("This field cannot be changed here."),
        )


def _key_taken() -> DomainError:
    return DomainError(
        "key_taken", field="key", message=_("This business line already has a type with this key.")
    )


# --- Ticket types -------------------------------------------------------------------------------


def _seed_default_lifecycle(ticket_type: TicketType) -> None:
    statuses = TicketStatus.objects.bulk_create(
        [
            TicketStatus(
                ticket_type=ticket_type,
                key=template.key,
                name_zh=template.name_zh,
                name_en=template.name_en,
                category=template.category,
                is_initial=template.is_initial,
                position=index,
            )
            for index, template in enumerate(DEFAULT_STATUSES)
        ]
    )
    by_key = {status.key: status for status in TicketStatus.objects.filter(ticket_type=ticket_type)}
    assert len(by_key) == len(statuses)  # noqa: S101 - bulk_create wrote every template
    StatusTransition.objects.bulk_create(
        [
            StatusTransition(
                ticket_type=ticket_type,
                from_status=by_key[template.from_key],
                to_status=by_key[template.to_key],
                name_zh=template.name_zh,
                name_en=template.name_en,
                required_fields=list(template.required_fields),
                position=index,
            )
            for index, template in enumerate(DEFAULT_TRANSITIONS)
        ]
    )


def lifecycle_snapshot(ticket_type: TicketType) -> dict[str, Any]:
    """Statuses and transitions by key, for audit entries and copies."""
    statuses = TicketStatus.objects.filter(ticket_type=ticket_type).order_by("position", "pk")
    transitions = StatusTransition.objects.filter(ticket_type=ticket_type).select_related(
        "from_status", "to_status"
    )
    return {
        "statuses": [
            {"key": s.key, "category": s.category, "is_initial": s.is_initial} for s in statuses
        ],
        "transitions": [
            f"{t.from_status.key}->{t.to_status.key}" for t in transitions.order_by("pk")
        ],
    }


@transaction.atomic
def create_ticket_type(
    *,
    actor: Any,
    business_line: BusinessLine,
    key: str,
    name_zh: str,
    name_en: str,
    description: str = "",
    number_prefix: str = "",
    icon: str = "",
    colour: str = "",
    reopen_within_days: int = 7,
    auto_close_after_days: int = 7,
    position: int = 0,
    on_portal: bool = True,
) -> TicketType:
    """Add a ticket type to a business line, with the default lifecycle to adapt."""
    _require_configure_in_line(actor, business_line)
    values = {
        "name_zh": name_zh,
        "name_en": name_en,
        "description": description,
        "number_prefix": number_prefix,
        "icon": icon,
        "colour": colour,
        "reopen_within_days": reopen_within_days,
        "auto_close_after_days": auto_close_after_days,
        "position": position,
        "on_portal": on_portal,
    }
    key = _key(key)
    cleaned = {field: _clean_type_field(field, value) for field, value in values.items()}
    if not business_line.is_active:
        raise DomainError(
            "business_line_inactive",
            field="business_line",
            message=_("This business line is deactivated."),
        )
    if TicketType.objects.filter(business_line=business_line, key=key).exists():
        raise _key_taken()
    ticket_type = TicketType(business_line=business_line, key=key, **cleaned)
    try:
        with transaction.atomic():
            ticket_type.save()
    except IntegrityError:
        raise _key_taken() from None
    _seed_default_lifecycle(ticket_type)
    after = audit.snapshot(ticket_type)
    after["lifecycle"] = lifecycle_snapshot(ticket_type)
    audit.record(actor=actor, action=Action.CREATED, obj=ticket_type, after=after)
    outbox.emit(
        "tickettype.created",
        ticket_type,
        actor=actor,
        payload={"business_line": business_line.pk, "key": key},
    )
    return ticket_type


@transaction.atomic
def update_ticket_type(
    *,
    actor: Any,
    ticket_type: TicketType,
    changes: dict[str, Any],
    expected_version: int | None = None,
) -> TicketType:
    """Change a type's names, numbering, timers or order; a stale ``expected_version`` is
    refused so two editors do not overwrite each other."""
    _require_configure(actor, ticket_type)
    _unknown_fields(changes, TYPE_EDITABLE)
    ticket_type = TicketType.objects.select_for_update().get(pk=ticket_type.pk)
    _check_version(ticket_type, expected_version)
    cleaned = {field: _clean_type_field(field, value) for field, value in changes.items()}
    before = audit.snapshot(ticket_type)
    for field, value in cleaned.items():
        setattr(ticket_type, field, value)
    ticket_type.version = F("version") + 1
    ticket_type.save(update_fields=[*cleaned, "version", "updated_at"])
    ticket_type.refresh_from_db()
    if audit.record_change(actor=actor, obj=ticket_type, before=before):
        outbox.emit(
            "tickettype.updated", ticket_type, actor=actor, payload={"fields": sorted(cleaned)}
        )
    return ticket_type


@transaction.atomic
def deactivate_ticket_type(*, actor: Any, ticket_type: TicketType) -> TicketType:
    """Stop offering a type for new tickets. It is never deleted: tickets keep pointing to it."""
    _require_configure(actor, ticket_type)
    ticket_type = TicketType.objects.select_for_update().get(pk=ticket_type.pk)
    if not ticket_type.is_active:
        return ticket_type
    before = audit.snapshot(ticket_type)
    ticket_type.is_active = False
    ticket_type.version = F("version") + 1
    ticket_type.save(update_fields=["is_active", "version", "updated_at"])
    ticket_type.refresh_from_db()
    audit.record_change(actor=actor, obj=ticket_type, before=before, verb="deactivated")
    outbox.emit("tickettype.deactivated", ticket_type, actor=actor)
    return ticket_type


@transaction.atomic
def copy_ticket_type(
    *,
    actor: Any,
    ticket_type: TicketType,
    business_line: BusinessLine,
    key: str,
    name_zh: str | None = None,
    name_en: str | None = None,
) -> TicketType:
    """Duplicate a type with its whole lifecycle into a business line (the same or another)."""
    authz.require_permission(actor, authz.view_codename(TicketType), ticket_type)
    _require_configure_in_line(actor, business_line)
    key = _key(key)
    if not business_line.is_active:
        raise DomainError(
            "business_line_inactive",
            field="business_line",
            message=_("This business line is deactivated."),
        )
    if TicketType.objects.filter(business_line=business_line, key=key).exists():
        raise _key_taken()
    copy = TicketType(
        business_line=business_line,
        key=key,
        name_zh=_text(
            name_zh if name_zh is not None else ticket_type.name_zh, "name_zh", max_length=120
        ),
        name_en=_text(
            name_en if name_en is not None else ticket_type.name_en, "name_en", max_length=120
        ),
        description=ticket_type.description,
        number_prefix=ticket_type.number_prefix,
        icon=ticket_type.icon,
        colour=ticket_type.colour,
        reopen_within_days=ticket_type.reopen_within_days,
        auto_close_after_days=ticket_type.auto_close_after_days,
        position=ticket_type.position,
        on_portal=ticket_type.on_portal,
    )
    try:
        with transaction.atomic():
            copy.save()
    except IntegrityError:
        raise _key_taken() from None
    source_statuses = list(TicketStatus.objects.filter(ticket_type=ticket_type).order_by("pk"))
    TicketStatus.objects.bulk_create(
        [
            TicketStatus(
                ticket_type=copy,
                key=s.key,
                name_zh=s.name_zh,
                name_en=s.name_en,
                category=s.category,
                is_initial=s.is_initial,
                position=s.position,
                is_active=s.is_active,
            )
            for s in source_statuses
        ]
    )
    by_key = {s.key: s for s in TicketStatus.objects.filter(ticket_type=copy)}
    source_keys = {s.pk: s.key for s in source_statuses}
    StatusTransition.objects.bulk_create(
        [
            StatusTransition(
                ticket_type=copy,
                from_status=by_key[source_keys[t.from_status_id]],
                to_status=by_key[source_keys[t.to_status_id]],
                name_zh=t.name_zh,
                name_en=t.name_en,
                required_fields=list(t.required_fields),
                guard=t.guard,
                permission=t.permission,
                position=t.position,
            )
            for t in StatusTransition.objects.filter(ticket_type=ticket_type).order_by("pk")
        ]
    )
    after = audit.snapshot(copy)
    after["copied_from"] = ticket_type.pk
    after["lifecycle"] = lifecycle_snapshot(copy)
    audit.record(actor=actor, action=Action.CREATED, obj=copy, verb="copied", after=after)
    outbox.emit(
        "tickettype.created",
        copy,
        actor=actor,
        payload={"business_line": business_line.pk, "key": key, "copied_from": ticket_type.pk},
    )
    return copy


# --- Statuses -----------------------------------------------------------------------------------


def _category_in_use(ticket_type: TicketType, category: str) -> bool:
    """Whether the lifecycle needs at least one active status of ``category``.

    TODO(#3): also count a category as in use while tickets sit in one of its statuses.
    """
    return category in REQUIRED_CATEGORIES


def _refuse_emptying_category(status: TicketStatus, field: str) -> None:
    if not status.is_active or not _category_in_use(status.ticket_type, status.category):
        return
    others = (
        TicketStatus.objects.filter(
            ticket_type_id=status.ticket_type_id, category=status.category, is_active=True
        )
        .exclude(pk=status.pk)
        .exists()
    )
    if not others:
        raise DomainError(
            "last_status_of_category",
            field=field,
            message=_(
                "This is the last active status of the category %(category)s, which the "
                "lifecycle needs. Add another one first."
            ),
            params={"category": Category(status.category).label},
        )


def _emit_status(status: TicketStatus, actor: Any, change: str) -> None:
    outbox.emit(
        "ticketstatus.changed",
        status,
        actor=actor,
        payload={"ticket_type": status.ticket_type_id, "key": status.key, "change": change},
    )


@transaction.atomic
def add_status(
    *,
    actor: Any,
    ticket_type: TicketType,
    key: str,
    name_zh: str,
    name_en: str,
    category: str,
    is_initial: bool = False,
) -> TicketStatus:
    """Add a status at the end of the type's list; ``is_initial`` moves the initial flag to it."""
    _require_configure(actor, ticket_type)
    _lock_lifecycle(ticket_type)
    key = _key(key)
    status = TicketStatus(
        ticket_type=ticket_type,
        key=key,
        name_zh=_text(name_zh, "name_zh", max_length=120),
        name_en=_text(name_en, "name_en", max_length=120),
        category=_category(category),
    )
    if is_initial and status.category not in INITIAL_CATEGORIES:
        raise _initial_category_refused()
    if TicketStatus.objects.filter(ticket_type=ticket_type, key=key).exists():
        raise _status_key_taken()
    last = TicketStatus.objects.filter(ticket_type=ticket_type).aggregate(last=Max("position"))
    status.position = (last["last"] + 1) if last["last"] is not None else 0
    try:
        with transaction.atomic():
            status.save()
    except IntegrityError:
        raise _status_key_taken() from None
    if is_initial:
        _make_initial(status)
    audit.record(actor=actor, action=Action.CREATED, obj=status, after=audit.snapshot(status))
    _emit_status(status, actor, "created")
    return status


def _status_key_taken() -> DomainError:
    return DomainError(
        "key_taken", field="key", message=_("This ticket type already has a status with this key.")
    )


def _initial_category_refused() -> DomainError:
    return DomainError(
        "initial_category",
        field="is_initial",
        message=_("A ticket cannot start solved or closed: choose another status as initial."),
    )


def _make_initial(status: TicketStatus) -> None:
    # Clear the old flag first: the database allows one initial status per type at any moment.
    TicketStatus.objects.filter(ticket_type_id=status.ticket_type_id, is_initial=True).exclude(
        pk=status.pk
    ).update(is_initial=False)
    status.is_initial = True
    status.save(update_fields=["is_initial", "updated_at"])


@transaction.atomic
def update_status(*, actor: Any, status: TicketStatus, changes: dict[str, Any]) -> TicketStatus:
    """Rename, recategorise, make initial, or (de)activate a status, keeping the invariants:
    one active initial status, and a status in every category the lifecycle needs."""
    _require_configure(actor, status.ticket_type)
    _lock_lifecycle(status.ticket_type)
    status = TicketStatus.objects.select_related("ticket_type").get(pk=status.pk)
    _unknown_fields(changes, STATUS_EDITABLE)
    cleaned: dict[str, Any] = {}
    for field in ("name_zh", "name_en"):
        if field in changes:
            cleaned[field] = _text(changes[field], field, max_length=120)
    for field in ("is_initial", "is_active"):
        if field in changes and not isinstance(changes[field], bool):
            raise DomainError("invalid", field=field, message=_("Enter true or false."))
    if "category" in changes:
        category = _category(changes["category"])
        if category != status.category:
            _refuse_emptying_category(status, "category")
            if status.is_initial and category not in INITIAL_CATEGORIES:
                raise _initial_category_refused()
            cleaned["category"] = category
    becomes_initial = changes.get("is_initial") is True and not status.is_initial
    if changes.get("is_initial") is False and status.is_initial:
        raise DomainError(
            "initial_required",
            field="is_initial",
            message=_("A ticket type needs one initial status: make another status initial."),
        )
    if "is_active" in changes and changes["is_active"] != status.is_active:
        if not changes["is_active"]:
            _refuse_deactivating(status)
        cleaned["is_active"] = changes["is_active"]
    if becomes_initial:
        active = cleaned.get("is_active", status.is_active)
        category = cleaned.get("category", status.category)
        if not active:
            raise DomainError(
                "initial_inactive",
                field="is_initial",
                message=_("Activate the status before making it initial."),
            )
        if category not in INITIAL_CATEGORIES:
            raise _initial_category_refused()
    before = audit.snapshot(status)
    for field, value in cleaned.items():
        setattr(status, field, value)
    if cleaned:
        status.save(update_fields=[*cleaned, "updated_at"])
    if becomes_initial:
        _make_initial(status)
    if audit.record_change(actor=actor, obj=status, before=before):
        _emit_status(status, actor, "updated")
    return status


def _refuse_deactivating(status: TicketStatus) -> None:
    if status.is_initial:
        raise DomainError(
            "initial_status",
            field="is_active",
            message=_("The initial status cannot be deactivated: make another status initial."),
        )
    _refuse_emptying_category(status, "is_active")


@transaction.atomic
def deactivate_status(*, actor: Any, status: TicketStatus) -> TicketStatus:
    """Stop using a status: no transition leads into it any more; tickets in it can leave."""
    return update_status(actor=actor, status=status, changes={"is_active": False})


@transaction.atomic
def reorder_statuses(
    *, actor: Any, ticket_type: TicketType, order: list[int]
) -> list[TicketStatus]:
    """Put the type's statuses in the given order (every status id exactly once)."""
    _require_configure(actor, ticket_type)
    _lock_lifecycle(ticket_type)
    statuses = {
        s.pk: s for s in TicketStatus.objects.select_for_update().filter(ticket_type=ticket_type)
    }
    if sorted(order) != sorted(statuses) or len(set(order)) != len(order):
        raise DomainError(
            "invalid_order",
            field="order",
            message=_("List every status of this ticket type exactly once."),
        )
    before = [s.key for s in sorted(statuses.values(), key=lambda s: (s.position, s.pk))]
    changed = []
    for position, pk in enumerate(order):
        status = statuses[pk]
        if status.position != position:
            status.position = position
            changed.append(status)
    if changed:
        TicketStatus.objects.bulk_update(changed, ["position"])
        after = [statuses[pk].key for pk in order]
        audit.record(
            actor=actor,
            action=Action.UPDATED,
            obj=ticket_type,
            verb="statuses_reordered",
            before={"statuses": before},
            after={"statuses": after},
        )
        outbox.emit(
            "ticketstatus.reordered",
            ticket_type,
            actor=actor,
            payload={"order": after},
        )
    return [statuses[pk] for pk in order]


def move_status(*, actor: Any, status: TicketStatus, offset: int) -> list[TicketStatus]:
    """Move a status up (-1) or down (+1) in its type's list (the arrows on the page)."""
    ticket_type = status.ticket_type
    order = list(
        TicketStatus.objects.filter(ticket_type=ticket_type)
        .order_by("position", "pk")
        .values_list("pk", flat=True)
    )
    index = order.index(status.pk)
    target = min(max(index + offset, 0), len(order) - 1)
    order.insert(target, order.pop(index))
    return reorder_statuses(actor=actor, ticket_type=ticket_type, order=order)


# --- Transitions --------------------------------------------------------------------------------


def _clean_transition_field(field: str, value: Any) -> Any:
    if field in ("name_zh", "name_en"):
        return _text(value, field, max_length=120, required=False)
    if field == "required_fields":
        return clean_required_fields(value)
    if field == "guard":
        guard = _text(value, field, max_length=guards.MAX_GUARD_LENGTH, required=False)
        if guard:
            guards.compile_guard(guard)
        return guard
    if field == "permission":
        return _permission(value)
    if field == "position":
        return _position(value)
    raise DomainError(  # pragma: no cover - callers pass only editable fields
        "unknown_field", field=field, message=_("This field cannot be changed here.")
    )


def _status_of_type(ticket_type: TicketType, status: TicketStatus, field: str) -> TicketStatus:
    if status.ticket_type_id != ticket_type.pk:
        raise DomainError(
            "unknown_status", field=field, message=_("This status belongs to another ticket type.")
        )
    return status


def _transition_snapshot(transition: StatusTransition) -> dict[str, Any]:
    return audit.snapshot(transition)


def _emit_transition(transition: StatusTransition, actor: Any, topic: str) -> None:
    outbox.emit(
        topic,
        transition,
        actor=actor,
        payload={
            "ticket_type": transition.ticket_type_id,
            "from": transition.from_status.key,
            "to": transition.to_status.key,
        },
    )


@transaction.atomic
def add_transition(
    *,
    actor: Any,
    ticket_type: TicketType,
    from_status: TicketStatus,
    to_status: TicketStatus,
    name_zh: str = "",
    name_en: str = "",
    required_fields: Iterable[str] = (),
    guard: str = "",
    permission: str = "",
    position: int = 0,
) -> StatusTransition:
    """Allow a move between two statuses of the type. The guard is compiled now: an invalid
    one is refused on the field ``guard`` and nothing is stored."""
    _require_configure(actor, ticket_type)
    _lock_lifecycle(ticket_type)
    _status_of_type(ticket_type, from_status, "from_status")
    _status_of_type(ticket_type, to_status, "to_status")
    if from_status.pk == to_status.pk:
        raise DomainError(
            "same_status", field="to_status", message=_("Choose a different target status.")
        )
    values = {
        "name_zh": name_zh,
        "name_en": name_en,
        "required_fields": list(required_fields),
        "guard": guard,
        "permission": permission,
        "position": position,
    }
    cleaned = {field: _clean_transition_field(field, value) for field, value in values.items()}
    exists = StatusTransition.objects.filter(
        ticket_type=ticket_type, from_status=from_status, to_status=to_status
    ).exists()
    if exists:
        raise _transition_exists()
    transition = StatusTransition(
        ticket_type=ticket_type, from_status=from_status, to_status=to_status, **cleaned
    )
    try:
        with transaction.atomic():
            transition.save()
    except IntegrityError:
        raise _transition_exists() from None
    audit.record(
        actor=actor,
        action=Action.CREATED,
        obj=transition,
        after=_transition_snapshot(transition),
    )
    _emit_transition(transition, actor, "statustransition.created")
    return transition


def _transition_exists() -> DomainError:
    return DomainError(
        "transition_exists",
        field="to_status",
        message=_("This move is already defined; edit it instead."),
    )


@transaction.atomic
def update_transition(
    *, actor: Any, transition: StatusTransition, changes: dict[str, Any]
) -> StatusTransition:
    """Change a transition's labels, required fields, guard, permission or order."""
    transition = (
        StatusTransition.objects.select_for_update()
        .select_related("ticket_type", "from_status", "to_status")
        .get(pk=transition.pk)
    )
    _require_configure(actor, transition.ticket_type)
    _unknown_fields(changes, TRANSITION_EDITABLE)
    cleaned = {field: _clean_transition_field(field, value) for field, value in changes.items()}
    before = _transition_snapshot(transition)
    for field, value in cleaned.items():
        setattr(transition, field, value)
    transition.version = F("version") + 1
    transition.save(update_fields=[*cleaned, "version", "updated_at"])
    transition.refresh_from_db()
    if audit.record_change(actor=actor, obj=transition, before=before):
        _emit_transition(transition, actor, "statustransition.updated")
    return transition


@transaction.atomic
def delete_transition(*, actor: Any, transition: StatusTransition) -> None:
    """Forbid a move from now on. Tickets that made it earlier keep their history."""
    transition = StatusTransition.objects.select_related(
        "ticket_type", "from_status", "to_status"
    ).get(pk=transition.pk)
    _require_configure(actor, transition.ticket_type)
    before = _transition_snapshot(transition)
    audit.record(
        actor=actor,
        action=Action.DELETED,
        obj=transition,
        before=before,
    )
    _emit_transition(transition, actor, "statustransition.deleted")
    transition.delete()
