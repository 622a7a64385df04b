"""Changes to routing configuration: skills, regions, agent profiles, team routing, and the
skills a ticket type needs by default.

Each function checks the permission (skills and regions are shared, so only an "all" grant
changes them; profiles and team routing within the actor's scope), validates, writes under a
row lock, bumps ``version`` (stale edits with ``expected_version`` get 412), audits and emits
``routing.*`` events in the same transaction.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Model
from django.utils.translation import gettext_lazy as _

from aftersales.accounts import authz
from aftersales.accounts.models import Team, User
from aftersales.audit import services as audit
from aftersales.audit.models import AuditEntry
from aftersales.core.errors import DomainError, PermissionDenied, PreconditionFailed
from aftersales.outbox import services as outbox
from aftersales.routing.models import AgentProfile, Region, Skill, TeamRouting, TicketTypeSkill
from aftersales.routing.permissions import (
    ADD_REGION,
    ADD_SKILL,
    CHANGE_PROFILE,
    CHANGE_REGION,
    CHANGE_SKILL,
    CHANGE_TEAM_ROUTING,
    DELETE_REGION,
    DELETE_SKILL,
)
from aftersales.sla.models import Calendar
from aftersales.tickets.models import TicketType
from aftersales.tickets.permissions import CONFIGURE_TICKET_TYPE

__all__ = [
    "create_region",
    "create_skill",
    "delete_region",
    "delete_skill",
    "set_ticket_type_skills",
    "update_agent_profile",
    "update_region",
    "update_skill",
    "update_team_routing",
]

Action = AuditEntry.Action
KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,59}$")
MAX_CAPACITY = 10_000
MAX_REGION_DEPTH = 6


# --- Validation -------------------------------------------------------------------------------


def _key(value: Any, field: str) -> str:
    if not isinstance(value, str) or not KEY_PATTERN.match(value):
        raise DomainError(
            "invalid_key",
            field=field,
            message=_("Use lowercase letters, digits, - and _, starting with a letter or digit."),
        )
    return value


def _name(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DomainError("required", field=field, message=_("This field is required."))
    value = value.strip()
    if len(value) > 120:
        raise DomainError(
            "too_long",
            field=field,
            message=_("Enter at most %(max_length)s characters."),
            params={"max_length": 120},
        )
    return value


def _flag(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise DomainError("invalid", field=field, message=_("Enter true or false."))
    return value


def _capacity(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_CAPACITY:
        raise DomainError(
            "invalid_capacity",
            field=field,
            message=_("Enter a whole number from 0 to %(max)s, or leave it empty."),
            params={"max": MAX_CAPACITY},
        )
    return value


def _check_version(obj: Any, expected: int | None) -> None:
    if expected is not None and obj.version != expected:
        raise PreconditionFailed(
            "version_mismatch",
            field="If-Match",
            message=_("Someone changed this since you opened it. Reload and try again."),
        )


def _require_all(actor: Any, codename: str) -> None:
    """Skills and regions are shared by every team: only a grant at "all" changes them."""
    if authz.scope_for(actor, codename) != authz.Scope.ALL:
        raise PermissionDenied("permission_denied", params={"permission": codename})


def _unknown(field: str) -> DomainError:
    return DomainError(
        "unknown_field", field=field, message=_("This field cannot be changed here.")
    )


def _lock(obj: Model) -> Any:
    return type(obj)._default_manager.select_for_update().get(pk=obj.pk)


def _record(actor: Any, obj: Model, before: dict[str, Any], after: dict[str, Any]) -> bool:
    changed_before, changed_after = audit.diff(before, after)
    if not changed_after:
        return False
    audit.record(
        actor=actor, action=Action.UPDATED, obj=obj, before=changed_before, after=changed_after
    )
    return True


# --- Skills -----------------------------------------------------------------------------------


def _skill_snapshot(skill: Skill) -> dict[str, Any]:
    return audit.snapshot(skill, ["key", "name_zh", "name_en", "is_active"])


@transaction.atomic
def create_skill(
    *, actor: Any, key: Any, name_zh: Any, name_en: Any, is_active: bool = True
) -> Skill:
    """Add a skill agents can hold and tickets can require."""
    _require_all(actor, ADD_SKILL)
    key = _key(key, "key")
    if Skill.objects.filter(key=key).exists():
        raise DomainError("key_taken", field="key", message=_("A skill with this key exists."))
    skill = Skill.objects.create(
        key=key,
        name_zh=_name(name_zh, "name_zh"),
        name_en=_name(name_en, "name_en"),
        is_active=_flag(is_active, "is_active"),
    )
    audit.record(actor=actor, action=Action.CREATED, obj=skill, after=_skill_snapshot(skill))
    outbox.emit("routing.skill_created", skill, actor=actor, payload={"key": skill.key})
    return skill


@transaction.atomic
def update_skill(
    *, actor: Any, skill: Skill, changes: dict[str, Any], expected_version: int | None = None
) -> Skill:
    """Rename or (de)activate a skill; its key never changes."""
    _require_all(actor, CHANGE_SKILL)
    skill = _lock(skill)
    _check_version(skill, expected_version)
    before = _skill_snapshot(skill)
    for field, value in changes.items():
        if field in ("name_zh", "name_en"):
            setattr(skill, field, _name(value, field))
        elif field == "is_active":
            skill.is_active = _flag(value, field)
        else:
            raise _unknown(field)
    if not _record(actor, skill, before, _skill_snapshot(skill)):
        return skill
    skill.version += 1
    skill.save(update_fields=[*changes, "version", "updated_at"])
    outbox.emit("routing.skill_updated", skill, actor=actor, payload={"key": skill.key})
    return skill


@transaction.atomic
def delete_skill(*, actor: Any, skill: Skill) -> None:
    """Delete a skill: agents lose it and tickets no longer need it. Deactivate to keep it."""
    _require_all(actor, DELETE_SKILL)
    audit.record(actor=actor, action=Action.DELETED, obj=skill, before=_skill_snapshot(skill))
    outbox.emit("routing.skill_deleted", skill, actor=actor, payload={"key": skill.key})
    skill.delete()


# --- Regions ----------------------------------------------------------------------------------


def _region_snapshot(region: Region) -> dict[str, Any]:
    return audit.snapshot(region, ["code", "name_zh", "name_en", "parent", "position", "is_active"])


def _parent(region: Region | None, parent: Any) -> Region | None:
    """The parent, refused when it would make the tree loop or grow too deep."""
    if parent is None:
        return None
    if not isinstance(parent, Region):
        raise DomainError("invalid", field="parent", message=_("Choose a region."))
    node: Region | None = parent
    for _depth in range(MAX_REGION_DEPTH):
        if node is None:
            return parent
        if region is not None and node.pk == region.pk:
            break
        node = node.parent
    raise DomainError(
        "parent_cycle",
        field="parent",
        message=_("A region cannot lie inside itself, and the tree is at most 6 levels deep."),
    )


@transaction.atomic
def create_region(
    *,
    actor: Any,
    code: Any,
    name_zh: Any,
    name_en: Any,
    parent: Region | None = None,
    position: int = 0,
    is_active: bool = True,
) -> Region:
    """Add a region, at the top or under ``parent``; its code is what location fields hold."""
    _require_all(actor, ADD_REGION)
    code = _key(code, "code")
    if Region.objects.filter(code=code).exists():
        raise DomainError("code_taken", field="code", message=_("A region with this code exists."))
    region = Region.objects.create(
        code=code,
        name_zh=_name(name_zh, "name_zh"),
        name_en=_name(name_en, "name_en"),
        parent=_parent(None, parent),
        position=_capacity(position, "position") or 0,
        is_active=_flag(is_active, "is_active"),
    )
    audit.record(actor=actor, action=Action.CREATED, obj=region, after=_region_snapshot(region))
    outbox.emit("routing.region_created", region, actor=actor, payload={"code": region.code})
    return region


@transaction.atomic
def update_region(
    *, actor: Any, region: Region, changes: dict[str, Any], expected_version: int | None = None
) -> Region:
    """Rename, move (``parent``), reorder or (de)activate a region; its code never changes."""
    _require_all(actor, CHANGE_REGION)
    region = _lock(region)
    _check_version(region, expected_version)
    before = _region_snapshot(region)
    for field, value in changes.items():
        if field in ("name_zh", "name_en"):
            setattr(region, field, _name(value, field))
        elif field == "parent":
            region.parent = _parent(region, value)
        elif field == "position":
            region.position = _capacity(value, field) or 0
        elif field == "is_active":
            region.is_active = _flag(value, field)
        else:
            raise _unknown(field)
    if not _record(actor, region, before, _region_snapshot(region)):
        return region
    region.version += 1
    region.save(update_fields=[*changes, "version", "updated_at"])
    outbox.emit("routing.region_updated", region, actor=actor, payload={"code": region.code})
    return region


@transaction.atomic
def delete_region(*, actor: Any, region: Region) -> None:
    """Delete a region without sub-regions; agents covering it lose it."""
    _require_all(actor, DELETE_REGION)
    if Region.objects.filter(parent=region).exists():
        raise DomainError(
            "region_has_children",
            field="parent",
            message=_("Delete or move the regions inside %(region)s first."),
            params={"region": region.name},
        )
    audit.record(actor=actor, action=Action.DELETED, obj=region, before=_region_snapshot(region))
    outbox.emit("routing.region_deleted", region, actor=actor, payload={"code": region.code})
    region.delete()


# --- Agent profiles ---------------------------------------------------------------------------


def _profile_snapshot(profile: AgentProfile) -> dict[str, Any]:
    snapshot = audit.snapshot(profile, ["availability", "capacity", "calendar"])
    snapshot["skills"] = sorted(profile.skills.values_list("key", flat=True))
    snapshot["regions"] = sorted(profile.regions.values_list("code", flat=True))
    return snapshot


def _many(values: Any, model: type[Model], field: str) -> list[Any]:
    if not isinstance(values, list | tuple | set) or not all(isinstance(v, model) for v in values):
        raise DomainError("invalid", field=field, message=_("Choose from the list."))
    return list(values)


@transaction.atomic
def update_agent_profile(
    *,
    actor: Any,
    user: User,
    changes: dict[str, Any],
    expected_version: int | None = None,
) -> AgentProfile:
    """Set an agent's capacity, working-hours calendar, skills and regions (``changes`` keys
    ``capacity``, ``calendar``, ``skills``, ``regions``). Availability has its own service."""
    from aftersales.routing.services.routing import _lock_profile

    if user.kind != User.Kind.STAFF:
        raise DomainError("not_staff", field="user", message=_("Only staff members take tickets."))
    profile = _lock_profile(user)
    authz.require_permission(actor, CHANGE_PROFILE, profile)
    _check_version(profile, expected_version)
    before = _profile_snapshot(profile)
    fields: list[str] = []
    for field, value in changes.items():
        if field == "capacity":
            profile.capacity = _capacity(value, field)
        elif field == "calendar":
            if value is not None and not isinstance(value, Calendar):
                raise DomainError("invalid", field=field, message=_("Choose a calendar."))
            profile.calendar = value
        elif field == "skills":
            profile.skills.set(_many(value, Skill, field))
            continue
        elif field == "regions":
            profile.regions.set(_many(value, Region, field))
            continue
        else:
            raise _unknown(field)
        fields.append(field)
    if not _record(actor, profile, before, _profile_snapshot(profile)):
        return profile
    profile.version += 1
    profile.save(update_fields=[*fields, "version", "updated_at"])
    outbox.emit("routing.agent_profile_updated", profile, actor=actor, payload={"user_id": user.pk})
    return profile


# --- Team routing -----------------------------------------------------------------------------

ROUTING_FIELDS = (
    "strategy",
    "use_skills",
    "use_region",
    "region_field",
    "default_capacity",
    "queue_mode",
    "respect_working_hours",
    "next_tier",
)


def _routing_snapshot(routing: TeamRouting) -> dict[str, Any]:
    return audit.snapshot(routing, ROUTING_FIELDS)


def _lock_team_routing(team: Team) -> TeamRouting:
    routing = TeamRouting.objects.select_for_update().filter(team=team).first()
    if routing is None:
        TeamRouting.objects.get_or_create(team=team)
        routing = TeamRouting.objects.select_for_update().get(team=team)
    return routing


def _set_routing_field(routing: TeamRouting, field: str, value: Any) -> None:
    if field == "strategy":
        if value not in TeamRouting.Strategy.values:
            raise DomainError(
                "invalid_choice",
                field=field,
                message=_("Choose one of: manual, round_robin, least_loaded."),
            )
        routing.strategy = value
    elif field in ("use_skills", "use_region", "queue_mode", "respect_working_hours"):
        setattr(routing, field, _flag(value, field))
    elif field == "region_field":
        routing.region_field = "" if value in (None, "") else _key(value, field)
    elif field == "default_capacity":
        routing.default_capacity = _capacity(value, field)
    elif field == "next_tier":
        routing.next_tier = _next_tier(routing, value)
    else:
        raise _unknown(field)


def _next_tier(routing: TeamRouting, value: Any) -> Team | None:
    if value is None:
        return None
    if not isinstance(value, Team) or not value.is_active:
        raise DomainError("invalid", field="next_tier", message=_("Choose an active team."))
    if value.pk == routing.team_id:
        raise DomainError(
            "next_tier_itself",
            field="next_tier",
            message=_("A team cannot escalate to itself."),
        )
    return value


@transaction.atomic
def update_team_routing(
    *, actor: Any, team: Team, changes: dict[str, Any], expected_version: int | None = None
) -> TeamRouting:
    """Configure how ``team`` hands out tickets (keys of :data:`ROUTING_FIELDS`)."""
    routing = _lock_team_routing(team)
    authz.require_permission(actor, CHANGE_TEAM_ROUTING, routing)
    _check_version(routing, expected_version)
    before = _routing_snapshot(routing)
    for field, value in changes.items():
        _set_routing_field(routing, field, value)
    if routing.use_region and not routing.region_field:
        raise DomainError(
            "region_field_required",
            field="region_field",
            message=_("Name the ticket field that holds the location to match regions."),
        )
    if not _record(actor, routing, before, _routing_snapshot(routing)):
        return routing
    routing.version += 1
    routing.save(update_fields=[*changes, "version", "updated_at"])
    outbox.emit(
        "routing.team_routing_updated",
        routing,
        actor=actor,
        payload={"team_id": team.pk, "strategy": routing.strategy},
    )
    return routing


# --- Ticket types -----------------------------------------------------------------------------


@transaction.atomic
def set_ticket_type_skills(*, actor: Any, ticket_type: TicketType, skills: Iterable[Skill]) -> None:
    """The skills every ticket of ``ticket_type`` needs, replacing the previous ones."""
    authz.require_permission(actor, CONFIGURE_TICKET_TYPE, ticket_type)
    wanted = {s.pk: s for s in _many(list(skills), Skill, "skills")}
    current = set(
        TicketTypeSkill.objects.filter(ticket_type=ticket_type).values_list("skill_id", flat=True)
    )
    if set(wanted) == current:
        return
    TicketTypeSkill.objects.filter(ticket_type=ticket_type).exclude(skill_id__in=wanted).delete()
    TicketTypeSkill.objects.bulk_create(
        [
            TicketTypeSkill(ticket_type=ticket_type, skill_id=pk)
            for pk in wanted
            if pk not in current
        ]
    )
    audit.record(
        actor=actor,
        action=Action.UPDATED,
        obj=ticket_type,
        verb="default_skills_changed",
        before={"skills": sorted(current)},
        after={"skills": sorted(wanted)},
    )
