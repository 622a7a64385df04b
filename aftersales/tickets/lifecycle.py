"""The lifecycle engine: which moves a ticket may make, and whether one move is allowed now.

Tickets call these functions before changing status; the check-transition API and the
configuration pages call them to try a lifecycle on sample data. Nothing here writes.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from aftersales.accounts import authz
from aftersales.core.errors import DomainError, PermissionDenied
from aftersales.tickets import guards
from aftersales.tickets.models import StatusTransition, TicketStatus, TicketType


def initial_status(ticket_type: TicketType) -> TicketStatus:
    """The status every new ticket of this type starts in."""
    return TicketStatus.objects.get(ticket_type=ticket_type, is_initial=True)


def has_value(value: Any) -> bool:
    """Whether a field counts as filled in: not None, not blank text, not an empty list/map.

    ``False`` and ``0`` are values (a yes/no field answered "no" is filled in).
    """
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list | tuple | set | dict):
        return bool(value)
    return True


def missing_fields(transition: StatusTransition, values: dict[str, Any]) -> list[str]:
    """The required fields of ``transition`` that ``values`` leaves empty, in declared order."""
    return [key for key in transition.required_fields if not has_value(values.get(key))]


def guard_result(transition: StatusTransition, facts: dict[str, Any]) -> guards.GuardResult:
    """Evaluate the transition's guard on already normalised facts (no guard: allowed)."""
    if not transition.guard:
        return guards.GuardResult(allowed=True)
    program = guards.program_for(transition.pk, transition.version, transition.guard)
    return guards.evaluate(program, facts)


def _outgoing(ticket_type: TicketType, from_status: TicketStatus) -> list[StatusTransition]:
    if from_status.ticket_type_id != ticket_type.pk:
        return []
    return list(
        StatusTransition.objects.filter(
            ticket_type=ticket_type, from_status=from_status, to_status__is_active=True
        )
        .select_related("from_status", "to_status")
        .order_by("position", "to_status__position", "pk")
    )


def _may_use(actor: Any, transition: StatusTransition) -> bool:
    return not transition.permission or authz.has_permission(actor, transition.permission)


def available_transitions(
    ticket_type: TicketType,
    from_status: TicketStatus,
    *,
    actor: Any,
    facts: dict[str, Any] | None,
) -> list[StatusTransition]:
    """The moves to offer as buttons: defined from ``from_status`` into an active status,
    permitted to ``actor``, and whose guard is true on ``facts``. Required fields are not
    checked here; the form asks for them when the button is pressed."""
    normalised = guards.normalise_facts(facts)
    return [
        transition
        for transition in _outgoing(ticket_type, from_status)
        if _may_use(actor, transition) and guard_result(transition, normalised).allowed
    ]


def check_transition(
    ticket_type: TicketType,
    from_status: TicketStatus,
    to_status: TicketStatus,
    *,
    actor: Any,
    facts: dict[str, Any] | None,
    values: dict[str, Any] | None,
) -> StatusTransition:
    """Refuse the move unless it is defined, permitted, its guard holds and its required fields
    are filled in, checked in that order. Returns the transition that allows it.

    Raises :class:`DomainError` ``transition_not_allowed`` (field ``to``),
    :class:`PermissionDenied` ``transition_permission_denied``, ``guard_refused`` (field
    ``guard``), or ``required_field_missing`` with ``field`` the first empty field's key.
    """
    transition = next(
        (t for t in _outgoing(ticket_type, from_status) if t.to_status_id == to_status.pk), None
    )
    if transition is None:
        raise DomainError(
            "transition_not_allowed",
            field="to",
            message=_("A ticket cannot move from %(from)s to %(to)s."),
            params={"from": from_status.name, "to": to_status.name},
        )
    if not _may_use(actor, transition):
        raise PermissionDenied(
            "transition_permission_denied",
            field="to",
            message=_("You may not move a ticket to %(to)s."),
            params={"to": to_status.name},
        )
    result = guard_result(transition, guards.normalise_facts(facts))
    if not result.allowed:
        if result.error:
            raise DomainError(
                "guard_refused",
                field="guard",
                message=_("The condition of this move could not be evaluated: %(error)s"),
                params={"error": result.error},
            )
        raise DomainError(
            "guard_refused",
            field="guard",
            message=_("This ticket does not meet the condition for moving to %(to)s."),
            params={"to": to_status.name},
        )
    missing = missing_fields(transition, values or {})
    if missing:
        raise DomainError(
            "required_field_missing",
            field=missing[0],
            message=_("Fill in %(field)s before moving to %(to)s."),
            params={"field": missing[0], "to": to_status.name},
        )
    return transition
