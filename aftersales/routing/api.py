"""``/api/v1/routing``: skills, regions, agent profiles, team routing, availability, the queue
and "get next". Handlers fetch through scoped selectors (404 outside the scope) and call one
service each."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from ninja import Field, Query, Router, Schema, Status

from aftersales.accounts import authz
from aftersales.accounts.models import Team, User
from aftersales.accounts.selectors import teams_visible_to
from aftersales.api.common import PageOut, etag_of, expected_version
from aftersales.api.pagination import paginate
from aftersales.core.errors import DomainError
from aftersales.routing import selectors, services
from aftersales.routing.models import AgentProfile, Region, Skill, TeamRouting, TicketTypeSkill
from aftersales.routing.permissions import (
    GET_NEXT,
    VIEW_PROFILE,
    VIEW_QUEUE,
    VIEW_TEAM_ROUTING,
)
from aftersales.sla.selectors import calendars_visible_to
from aftersales.tickets.models import Ticket
from aftersales.tickets.selectors import ticket_types_visible_to, tickets_visible_to
from aftersales.tickets.services import PRIORITY_KEYS

router = Router(tags=["routing"])
MAX_QUEUE_PAGE = 200


# --- Schemas ----------------------------------------------------------------------------------


class PageQuery(Schema):
    cursor: str | None = None
    limit: int | None = None


class SkillOut(Schema):
    id: int
    key: str
    name_zh: str
    name_en: str
    is_active: bool
    version: int


class SkillIn(Schema):
    key: str = Field(..., max_length=60)
    name_zh: str = Field(..., max_length=120)
    name_en: str = Field(..., max_length=120)
    is_active: bool = True


class SkillPatch(Schema):
    name_zh: str | None = Field(None, max_length=120)
    name_en: str | None = Field(None, max_length=120)
    is_active: bool | None = None


class RegionOut(Schema):
    id: int
    code: str
    name_zh: str
    name_en: str
    parent_id: int | None
    position: int
    is_active: bool
    version: int


class RegionIn(Schema):
    code: str = Field(..., max_length=60)
    name_zh: str = Field(..., max_length=120)
    name_en: str = Field(..., max_length=120)
    parent_id: int | None = None
    position: int = 0
    is_active: bool = True


class RegionPatch(Schema):
    name_zh: str | None = Field(None, max_length=120)
    name_en: str | None = Field(None, max_length=120)
    parent_id: int | None = None
    position: int | None = None
    is_active: bool | None = None


class ProfileOut(Schema):
    user_id: int
    name: str
    availability: str
    capacity: int | None
    calendar_id: int | None
    skills: list[str]
    regions: list[str]
    open_tickets: int
    last_assigned_at: datetime | None
    version: int


class ProfilePatch(Schema):
    capacity: int | None = None
    calendar_id: int | None = None
    skills: list[str] | None = Field(None, description="Skill keys.")
    regions: list[str] | None = Field(None, description="Region codes.")


class AvailabilityIn(Schema):
    status: AgentProfile.Availability


class TeamRoutingOut(Schema):
    team_id: int
    team: str
    strategy: str
    use_skills: bool
    use_region: bool
    region_field: str
    default_capacity: int | None
    queue_mode: bool
    respect_working_hours: bool
    next_tier_id: int | None
    version: int


class TeamRoutingPatch(Schema):
    strategy: TeamRouting.Strategy | None = None
    use_skills: bool | None = None
    use_region: bool | None = None
    region_field: str | None = Field(None, max_length=64)
    default_capacity: int | None = None
    queue_mode: bool | None = None
    respect_working_hours: bool | None = None
    next_tier_id: int | None = None


class QueuedOut(Schema):
    position: int
    ticket_id: int
    number: str
    subject: str
    priority: str
    created_at: datetime
    waiting_seconds: int


class QueueQuery(Schema):
    limit: int = Field(50, ge=1, le=MAX_QUEUE_PAGE)


class OutcomeOut(Schema):
    team_id: int
    assignee_id: int | None
    assignee: str | None
    strategy: str
    queued: bool
    explanation: str


class TypeSkillsIO(Schema):
    skills: list[str] = Field(..., description="Skill keys every ticket of the type needs.")


class TicketBrief(Schema):
    id: int
    number: str
    subject: str
    priority: str
    team_id: int | None
    assignee_id: int | None
    version: int


# --- Helpers ----------------------------------------------------------------------------------


def _not_null(sent: dict[str, Any], fields: tuple[str, ...]) -> None:
    for field in fields:
        if field in sent and sent[field] is None:
            raise DomainError(
                "null_not_allowed", field=field, message=_("This field cannot be null.")
            )


def _unknown(field: str) -> DomainError:
    return DomainError(
        "unknown_reference",
        field=field,
        message=_("One or more of the referenced objects do not exist."),
    )


def profile_out(user: User, profile: AgentProfile | None) -> dict[str, Any]:
    profile = profile or AgentProfile(user=user)
    saved = profile.pk is not None
    return {
        "user_id": user.pk,
        "name": str(user),
        "availability": profile.availability,
        "capacity": profile.capacity,
        "calendar_id": profile.calendar_id,
        "skills": sorted(s.key for s in profile.skills.all()) if saved else [],
        "regions": sorted(r.code for r in profile.regions.all()) if saved else [],
        "open_tickets": selectors.load_of([user.pk]).get(user.pk, 0),
        "last_assigned_at": profile.last_assigned_at,
        "version": profile.version,
    }


def routing_out(team: Team, routing: TeamRouting | None) -> dict[str, Any]:
    routing = routing or TeamRouting(team=team)
    return {
        "team_id": team.pk,
        "team": team.name,
        "strategy": routing.strategy,
        "use_skills": routing.use_skills,
        "use_region": routing.use_region,
        "region_field": routing.region_field,
        "default_capacity": routing.default_capacity,
        "queue_mode": routing.queue_mode,
        "respect_working_hours": routing.respect_working_hours,
        "next_tier_id": routing.next_tier_id,
        "version": routing.version,
    }


def ticket_brief(ticket: Ticket) -> dict[str, Any]:
    return {
        "id": ticket.pk,
        "number": ticket.number,
        "subject": ticket.subject,
        "priority": PRIORITY_KEYS.get(ticket.priority, ""),
        "team_id": ticket.team_id,
        "assignee_id": ticket.assignee_id,
        "version": ticket.version,
    }


def _agent(request: HttpRequest, user_id: int) -> User:
    """A staff member whose routing profile the caller may see (404 otherwise)."""
    agents = authz.restrict(User.objects.filter(kind=User.Kind.STAFF), request.user, VIEW_PROFILE)
    return get_object_or_404(agents, pk=user_id)


def _routed_team(request: HttpRequest, team_id: int) -> Team:
    teams = authz.restrict(Team.objects.all(), request.user, VIEW_TEAM_ROUTING)
    return get_object_or_404(teams, pk=team_id)


def _skills(keys: list[str]) -> list[Skill]:
    found = {s.key: s for s in Skill.objects.filter(key__in=keys, is_active=True)}
    if set(keys) - set(found):
        raise _unknown("skills")
    return [found[k] for k in dict.fromkeys(keys)]


def _regions(codes: list[str]) -> list[Region]:
    found = {r.code: r for r in Region.objects.filter(code__in=codes, is_active=True)}
    if set(codes) - set(found):
        raise _unknown("regions")
    return [found[c] for c in dict.fromkeys(codes)]


def _parent(request: HttpRequest, parent_id: int | None) -> Region | None:
    if parent_id is None:
        return None
    parent = selectors.regions_visible_to(request.user).filter(pk=parent_id).first()
    if parent is None:
        raise _unknown("parent_id")
    return parent


def _page(items: QuerySet[Any], query: PageQuery) -> Any:
    return paginate(items, cursor=query.cursor, limit=query.limit)


# --- Skills -----------------------------------------------------------------------------------


@router.get("/skills", response=PageOut[SkillOut])
def list_skills(request: HttpRequest, query: Query[PageQuery]) -> dict[str, Any]:
    page = _page(selectors.skills_visible_to(request.user), query)
    return {"items": list(page.items), "next_cursor": page.next_cursor}


@router.post("/skills", response={201: SkillOut})
def create_skill(request: HttpRequest, payload: SkillIn) -> Status[Skill]:
    return Status(201, services.create_skill(actor=request.user, **payload.dict()))


@router.get("/skills/{skill_id}", response=SkillOut)
def get_skill(request: HttpRequest, skill_id: int, response: HttpResponse) -> Skill:
    skill = get_object_or_404(selectors.skills_visible_to(request.user), pk=skill_id)
    response["ETag"] = etag_of(skill.version)
    return skill


@router.patch("/skills/{skill_id}", response=SkillOut, summary="Change a skill (If-Match)")
def update_skill(
    request: HttpRequest, skill_id: int, payload: SkillPatch, response: HttpResponse
) -> Skill:
    skill = get_object_or_404(selectors.skills_visible_to(request.user), pk=skill_id)
    sent = payload.dict(exclude_unset=True)
    _not_null(sent, tuple(sent))
    skill = services.update_skill(
        actor=request.user, skill=skill, changes=sent, expected_version=expected_version(request)
    )
    response["ETag"] = etag_of(skill.version)
    return skill


@router.delete("/skills/{skill_id}", response={204: None})
def delete_skill(request: HttpRequest, skill_id: int) -> Status[None]:
    skill = get_object_or_404(selectors.skills_visible_to(request.user), pk=skill_id)
    services.delete_skill(actor=request.user, skill=skill)
    return Status(204, None)


# --- Regions ----------------------------------------------------------------------------------


@router.get("/regions", response=PageOut[RegionOut])
def list_regions(request: HttpRequest, query: Query[PageQuery]) -> dict[str, Any]:
    page = _page(selectors.regions_visible_to(request.user), query)
    return {"items": list(page.items), "next_cursor": page.next_cursor}


@router.post("/regions", response={201: RegionOut})
def create_region(request: HttpRequest, payload: RegionIn) -> Status[Region]:
    values = payload.dict()
    parent = _parent(request, values.pop("parent_id"))
    return Status(201, services.create_region(actor=request.user, parent=parent, **values))


@router.get("/regions/{region_id}", response=RegionOut)
def get_region(request: HttpRequest, region_id: int, response: HttpResponse) -> Region:
    region = get_object_or_404(selectors.regions_visible_to(request.user), pk=region_id)
    response["ETag"] = etag_of(region.version)
    return region


@router.patch("/regions/{region_id}", response=RegionOut, summary="Change a region (If-Match)")
def update_region(
    request: HttpRequest, region_id: int, payload: RegionPatch, response: HttpResponse
) -> Region:
    region = get_object_or_404(selectors.regions_visible_to(request.user), pk=region_id)
    sent = payload.dict(exclude_unset=True)
    _not_null(sent, ("name_zh", "name_en", "position", "is_active"))
    if "parent_id" in sent:
        sent["parent"] = _parent(request, sent.pop("parent_id"))
    region = services.update_region(
        actor=request.user, region=region, changes=sent, expected_version=expected_version(request)
    )
    response["ETag"] = etag_of(region.version)
    return region


@router.delete("/regions/{region_id}", response={204: None})
def delete_region(request: HttpRequest, region_id: int) -> Status[None]:
    region = get_object_or_404(selectors.regions_visible_to(request.user), pk=region_id)
    services.delete_region(actor=request.user, region=region)
    return Status(204, None)


# --- Agents -----------------------------------------------------------------------------------


@router.get("/agents", response=PageOut[ProfileOut])
def list_agents(request: HttpRequest, query: Query[PageQuery]) -> dict[str, Any]:
    agents = authz.restrict(
        User.objects.filter(kind=User.Kind.STAFF, is_active=True), request.user, VIEW_PROFILE
    )
    page = paginate(agents, cursor=query.cursor, limit=query.limit)
    profiles = {
        p.user_id: p
        for p in AgentProfile.objects.filter(user__in=page.items).prefetch_related(
            "skills", "regions"
        )
    }
    items = [profile_out(user, profiles.get(user.pk)) for user in page.items]
    return {"items": items, "next_cursor": page.next_cursor}


@router.get("/agents/{user_id}", response=ProfileOut)
def get_agent(request: HttpRequest, user_id: int, response: HttpResponse) -> dict[str, Any]:
    user = _agent(request, user_id)
    profile = AgentProfile.objects.filter(user=user).first()
    response["ETag"] = etag_of(profile.version if profile else 1)
    return profile_out(user, profile)


@router.patch("/agents/{user_id}", response=ProfileOut, summary="Change a profile (If-Match)")
def update_agent(
    request: HttpRequest, user_id: int, payload: ProfilePatch, response: HttpResponse
) -> dict[str, Any]:
    user = _agent(request, user_id)
    sent = payload.dict(exclude_unset=True)
    _not_null(sent, ("skills", "regions"))
    changes: dict[str, Any] = {}
    if "capacity" in sent:
        changes["capacity"] = sent["capacity"]
    if "calendar_id" in sent:
        calendar = None
        if sent["calendar_id"] is not None:
            calendar = calendars_visible_to(request.user).filter(pk=sent["calendar_id"]).first()
            if calendar is None:
                raise _unknown("calendar_id")
        changes["calendar"] = calendar
    if "skills" in sent:
        changes["skills"] = _skills(sent["skills"])
    if "regions" in sent:
        changes["regions"] = _regions(sent["regions"])
    profile = services.update_agent_profile(
        actor=request.user, user=user, changes=changes, expected_version=expected_version(request)
    )
    response["ETag"] = etag_of(profile.version)
    return profile_out(user, profile)


@router.get("/me", response=ProfileOut)
def get_me(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    if not isinstance(user, User) or user.kind != User.Kind.STAFF:
        raise DomainError("not_staff", message=_("Only staff members take tickets."))
    return profile_out(user, AgentProfile.objects.filter(user=user).first())


@router.put("/me/availability", response=ProfileOut)
def set_my_availability(request: HttpRequest, payload: AvailabilityIn) -> dict[str, Any]:
    user = request.user
    if not isinstance(user, User):
        raise DomainError("not_staff", message=_("Only staff members take tickets."))
    profile = services.set_availability(actor=user, user=user, status=payload.status)
    return profile_out(user, profile)


@router.post("/next", response={200: TicketBrief, 204: None})
def get_next(request: HttpRequest) -> Status[Any]:
    """Take the next ticket waiting in your teams' queues; 204 when there is none for you."""
    authz.require_permission(request.user, GET_NEXT)
    ticket = services.get_next(agent=request.user)  # type: ignore[arg-type]
    if ticket is None:
        return Status(204, None)
    return Status(200, ticket_brief(ticket))


# --- Teams ------------------------------------------------------------------------------------


@router.get("/teams", response=PageOut[TeamRoutingOut])
def list_team_routing(request: HttpRequest, query: Query[PageQuery]) -> dict[str, Any]:
    teams = authz.restrict(Team.objects.filter(is_active=True), request.user, VIEW_TEAM_ROUTING)
    page = paginate(teams, cursor=query.cursor, limit=query.limit)
    routings = {r.team_id: r for r in TeamRouting.objects.filter(team__in=page.items)}
    items = [routing_out(team, routings.get(team.pk)) for team in page.items]
    return {"items": items, "next_cursor": page.next_cursor}


@router.get("/teams/{team_id}", response=TeamRoutingOut)
def get_team_routing(request: HttpRequest, team_id: int, response: HttpResponse) -> dict[str, Any]:
    team = _routed_team(request, team_id)
    routing = selectors.routing_of(team)
    response["ETag"] = etag_of(routing.version if routing else 1)
    return routing_out(team, routing)


@router.patch("/teams/{team_id}", response=TeamRoutingOut, summary="Configure (If-Match)")
def update_team_routing(
    request: HttpRequest, team_id: int, payload: TeamRoutingPatch, response: HttpResponse
) -> dict[str, Any]:
    team = _routed_team(request, team_id)
    sent = payload.dict(exclude_unset=True)
    _not_null(
        sent,
        ("strategy", "use_skills", "use_region", "queue_mode", "respect_working_hours"),
    )
    if "next_tier_id" in sent:
        tier_id = sent.pop("next_tier_id")
        sent["next_tier"] = None
        if tier_id is not None:
            sent["next_tier"] = teams_visible_to(request.user).filter(pk=tier_id).first()
            if sent["next_tier"] is None:
                raise _unknown("next_tier_id")
    routing = services.update_team_routing(
        actor=request.user, team=team, changes=sent, expected_version=expected_version(request)
    )
    response["ETag"] = etag_of(routing.version)
    return routing_out(team, routing)


@router.get("/teams/{team_id}/plan/{ticket_id}", response=OutcomeOut)
def plan_route(request: HttpRequest, team_id: int, ticket_id: int) -> dict[str, Any]:
    """Who would get the ticket if it were routed to the team now, and why; writes nothing."""
    team = _routed_team(request, team_id)
    ticket = get_object_or_404(tickets_visible_to(request.user), pk=ticket_id)
    outcome = services.plan_route(ticket=ticket, team=team)
    return {
        "team_id": outcome.team.pk,
        "assignee_id": outcome.assignee.pk if outcome.assignee else None,
        "assignee": str(outcome.assignee) if outcome.assignee else None,
        "strategy": outcome.strategy,
        "queued": outcome.queued,
        "explanation": outcome.explanation,
    }


@router.get("/teams/{team_id}/queue", response=list[QueuedOut])
def team_queue(request: HttpRequest, team_id: int, query: Query[QueueQuery]) -> list[Any]:
    """The team's queue in the order it is handed out, with how long each ticket has waited."""
    authz.require_permission(request.user, VIEW_QUEUE)
    team = get_object_or_404(selectors.queue_teams_visible_to(request.user), pk=team_id)
    now = timezone.now()
    rows = selectors.queued_tickets([team.pk])[: query.limit]
    return [
        {
            "position": index,
            "ticket_id": ticket.pk,
            "number": ticket.number,
            "subject": ticket.subject,
            "priority": PRIORITY_KEYS.get(ticket.priority, ""),
            "created_at": ticket.created_at,
            "waiting_seconds": int((now - ticket.created_at).total_seconds()),
        }
        for index, ticket in enumerate(rows, start=1)
    ]


# --- Ticket types -----------------------------------------------------------------------------


def _type_skills(ticket_type_id: int) -> dict[str, Any]:
    keys = TicketTypeSkill.objects.filter(ticket_type_id=ticket_type_id).values_list(
        "skill__key", flat=True
    )
    return {"skills": sorted(keys)}


@router.get("/ticket-types/{type_id}/skills", response=TypeSkillsIO)
def get_type_skills(request: HttpRequest, type_id: int) -> dict[str, Any]:
    ticket_type = get_object_or_404(ticket_types_visible_to(request.user), pk=type_id)
    return _type_skills(ticket_type.pk)


@router.put("/ticket-types/{type_id}/skills", response=TypeSkillsIO)
def set_type_skills(request: HttpRequest, type_id: int, payload: TypeSkillsIO) -> dict[str, Any]:
    """Replace the skills every ticket of the type needs (on top of each ticket's own)."""
    ticket_type = get_object_or_404(ticket_types_visible_to(request.user), pk=type_id)
    services.set_ticket_type_skills(
        actor=request.user, ticket_type=ticket_type, skills=_skills(payload.skills)
    )
    return _type_skills(ticket_type.pk)
