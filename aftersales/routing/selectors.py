"""Reads of routing configuration and queues, narrowed to what the viewer may see, and the
small counts routing decisions are made of (an agent's load, a ticket's region and skills)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Count, Q, QuerySet

from aftersales.accounts import authz
from aftersales.accounts.models import Team, User
from aftersales.routing.models import (
    AgentProfile,
    Region,
    Skill,
    TeamRouting,
    TicketSkillRequirement,
    TicketTypeSkill,
)
from aftersales.routing.permissions import VIEW_QUEUE
from aftersales.tickets.models import Ticket, TicketStatus

Category = TicketStatus.Category
# A ticket counts towards its assignee's load until it is solved or closed.
OPEN_CATEGORIES = (
    Category.NEW,
    Category.OPEN,
    Category.PENDING_CUSTOMER,
    Category.PENDING_INTERNAL,
)


def skills_visible_to(viewer: Any) -> QuerySet[Skill]:
    return authz.restrict(Skill.objects.all(), viewer)


def regions_visible_to(viewer: Any) -> QuerySet[Region]:
    return authz.restrict(Region.objects.select_related("parent"), viewer)


def profiles_visible_to(viewer: Any, codename: str | None = None) -> QuerySet[AgentProfile]:
    return authz.restrict(
        AgentProfile.objects.select_related("user", "calendar").prefetch_related(
            "skills", "regions"
        ),
        viewer,
        codename,
    )


def team_routings_visible_to(viewer: Any, codename: str | None = None) -> QuerySet[TeamRouting]:
    return authz.restrict(
        TeamRouting.objects.select_related("team", "next_tier", "team__business_line"),
        viewer,
        codename,
    )


def queue_teams_visible_to(viewer: Any) -> QuerySet[Team]:
    """Teams whose queue the viewer may watch: their own teams at "my teams", and so on."""
    return authz.restrict(Team.objects.filter(is_active=True), viewer, VIEW_QUEUE)


def routing_of(team: Team) -> TeamRouting | None:
    return TeamRouting.objects.filter(team=team).first()


def queued_tickets(team_ids: Iterable[int]) -> QuerySet[Ticket]:
    """The tickets waiting in these teams' queues: open, unassigned, priority then age."""
    return Ticket.objects.filter(
        team_id__in=list(team_ids),
        assignee__isnull=True,
        merged_into__isnull=True,
        status_category__in=OPEN_CATEGORIES,
    ).order_by("-priority", "created_at", "pk")


def queue_position(ticket: Ticket, team_id: int | None = None) -> int:
    """1 for the ticket handed out next, counted in the queue of ``team_id`` (default: the
    ticket's team), whether or not the ticket waits there yet (a dry run asks before)."""
    team_id = team_id or ticket.team_id
    if team_id is None:
        return 0
    ahead = queued_tickets([team_id]).exclude(pk=ticket.pk)
    higher = ahead.filter(priority__gt=ticket.priority).count()
    same = ahead.filter(priority=ticket.priority, created_at__lt=ticket.created_at).count()
    tie = ahead.filter(
        priority=ticket.priority, created_at=ticket.created_at, pk__lt=ticket.pk
    ).count()
    return higher + same + tie + 1


def load_of(user_ids: Iterable[int], *, excluding: int | None = None) -> dict[int, int]:
    """Open tickets per agent, one grouped count over the (assignee, status_category) index."""
    rows = Ticket.objects.filter(
        assignee_id__in=list(user_ids), status_category__in=OPEN_CATEGORIES
    )
    if excluding is not None:
        rows = rows.exclude(pk=excluding)
    counts = (
        rows.values("assignee_id").annotate(open=Count("pk")).values_list("assignee_id", "open")
    )
    return dict(counts)


def team_members(team: Team) -> QuerySet[User]:
    """Active staff of the team, in a stable order (the round-robin order)."""
    return User.objects.filter(
        team_memberships__team=team, is_active=True, kind=User.Kind.STAFF
    ).order_by("pk")


def required_skills(ticket: Ticket) -> list[Skill]:
    """Active skills the ticket needs: its own requirements and its type's defaults."""
    own = TicketSkillRequirement.objects.filter(ticket=ticket).values("skill_id")
    by_type = TicketTypeSkill.objects.filter(ticket_type_id=ticket.ticket_type_id).values(
        "skill_id"
    )
    return list(
        Skill.objects.filter(Q(pk__in=own) | Q(pk__in=by_type), is_active=True).order_by("key")
    )


def region_of(ticket: Ticket, field_key: str) -> Region | None:
    """The ticket's region, read from its location field.

    A choice field holds one code; a cascading field a path (``["east-china", "shanghai"]``):
    its deepest element that is a known region wins, so a path may go below the region tree
    (down to a district) and still land on the province.
    """
    if not field_key:
        return None
    value = (ticket.custom_fields or {}).get(field_key)
    codes = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    codes = [c for c in codes if isinstance(c, str)]
    if not codes:
        return None
    known = {r.code: r for r in Region.objects.filter(code__in=codes, is_active=True)}
    for code in reversed(codes):
        if code in known:
            return known[code]
    return None


def region_codes_covering(region: Region) -> set[str]:
    """The region and its ancestors: an agent covering any of them covers the region."""
    codes = {region.code}
    parent_id = region.parent_id
    seen = {region.pk}
    while parent_id is not None and parent_id not in seen:
        seen.add(parent_id)
        parent = Region.objects.filter(pk=parent_id).values_list("code", "parent_id").first()
        if parent is None:
            break
        codes.add(parent[0])
        parent_id = parent[1]
    return codes
