"""Who gets a ticket: the team's strategy applied to its eligible agents, atomically.

An agent is eligible for a ticket of a team when they are an active staff member of the team,
online, inside working hours (when the team respects them), below capacity, hold every skill
the ticket needs (when the team matches skills) and cover its region (when the team matches
regions). Among the eligible, round-robin takes the next after the last one served and
least-loaded the one with the fewest open tickets (ties: who waited longest since their last
ticket). Every decision that writes holds the team's :class:`TeamRouting` row, and the chosen
agent's profile row while their load is counted again, so capacity holds under concurrency.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from aftersales.accounts import authz
from aftersales.accounts.models import Team, User
from aftersales.audit import services as audit
from aftersales.audit.models import AuditEntry
from aftersales.core.errors import DomainError
from aftersales.outbox import services as outbox
from aftersales.routing import selectors
from aftersales.routing.models import (
    AgentProfile,
    Region,
    Skill,
    TeamRouting,
    TicketSkillRequirement,
)
from aftersales.routing.permissions import CHANGE_PROFILE, GET_NEXT, SET_OWN_AVAILABILITY
from aftersales.sla import businesstime
from aftersales.sla.models import Calendar
from aftersales.sla.selectors import load_calendar
from aftersales.tickets import services as tickets
from aftersales.tickets.models import Ticket
from aftersales.tickets.permissions import CHANGE_TICKET

__all__ = [
    "RoutingOutcome",
    "drain_push_queues",
    "escalate",
    "get_next",
    "hand_next_when_free",
    "plan_route",
    "require_skills",
    "route_to_team",
    "set_availability",
]

Availability = AgentProfile.Availability
Strategy = TeamRouting.Strategy
# How many queued tickets get_next looks at before it gives up finding one the agent may take.
QUEUE_SCAN_LIMIT = 50

STRATEGY_LABELS: dict[str, Promise] = {
    Strategy.ROUND_ROBIN: _("round-robin"),
    Strategy.LEAST_LOADED: _("least-loaded"),
}
REASON_LABELS: dict[str, Promise] = {
    Availability.AWAY: _("away"),
    Availability.OFF_SHIFT: _("off shift"),
    Availability.ON_LEAVE: _("on leave"),
    "outside_hours": _("outside working hours"),
    "at_capacity": _("at capacity"),
    "lacks_skills": _("lacking skills"),
    "outside_region": _("outside the region"),
}


@dataclass(frozen=True)
class RoutingOutcome:
    """What routing did (or would do) with a ticket, and why, in the active language.

    ``strategy`` is machine-readable (``round_robin``, ``skills+region→least_loaded``,
    ``queue``, ``manual``, ``lead``, ``kept``); ``explanation`` is what a person reads, e.g.
    "round-robin → Li Lei" or "no agent free: queued (position 3)".
    """

    team: Team
    assignee: User | None
    strategy: str
    queued: bool
    explanation: str


@dataclass
class _Candidate:
    user: User
    profile: AgentProfile | None
    load: int
    capacity: int | None
    reason: str | None = None  # why the agent cannot take the ticket; None: eligible


@dataclass
class _Decision:
    strategy: str
    ordered: list[_Candidate]  # eligible agents, best first
    rejected: list[_Candidate]
    routing: TeamRouting | None


# --- Eligibility ------------------------------------------------------------------------------


def _capacity(profile: AgentProfile | None, routing: TeamRouting | None) -> int | None:
    if profile is not None and profile.capacity is not None:
        return profile.capacity
    return routing.default_capacity if routing is not None else None


class _Hours:
    """Whether an agent is inside working hours now, each calendar read once per decision."""

    def __init__(self, team: Team, now: datetime) -> None:
        self.now = now
        self.team_calendar = (
            Calendar.objects.filter(team=team, is_active=True).order_by("pk").first()
        )
        self._answers: dict[int, bool] = {}

    def working(self, profile: AgentProfile | None) -> bool:
        calendar = profile.calendar if profile is not None and profile.calendar else None
        calendar = calendar or self.team_calendar
        if calendar is None or not calendar.is_active:
            return True
        if calendar.pk not in self._answers:
            self._answers[calendar.pk] = is_working_moment(calendar, self.now)
        return self._answers[calendar.pk]


def is_working_moment(calendar: Calendar, moment: datetime) -> bool:
    """Whether ``moment`` lies inside the calendar's working time.

    A calendar whose holiday set does not cover the date counts as working: routing a ticket
    to someone beats leaving it unassigned because next year's holidays are not loaded yet.
    """
    spec = load_calendar(calendar, since=moment)
    instant = int(moment.timestamp())
    instant -= instant % 60
    try:
        day = spec.day(spec.local_date(instant))
    except businesstime.CalendarNotCovered:
        return True
    return any(start <= instant < end for start, end in day.spans)


def _reason(
    candidate: _Candidate,
    routing: TeamRouting,
    hours: _Hours,
    required: Sequence[Skill],
    region_codes: set[str] | None,
) -> str | None:
    profile = candidate.profile
    availability = profile.availability if profile is not None else Availability.ONLINE
    if availability != Availability.ONLINE:
        return availability
    if routing.respect_working_hours and not hours.working(profile):
        return "outside_hours"
    if routing.use_skills and required:
        held = {s.pk for s in profile.skills.all()} if profile is not None else set()
        if not {s.pk for s in required} <= held:
            return "lacks_skills"
    if routing.use_region and region_codes is not None:
        covered = {r.code for r in profile.regions.all()} if profile is not None else set()
        if not covered & region_codes:
            return "outside_region"
    return None


def _candidates(team: Team, routing: TeamRouting) -> list[_Candidate]:
    members = list(selectors.team_members(team))
    profiles = {
        p.user_id: p
        for p in AgentProfile.objects.filter(user__in=members)
        .select_related("calendar")
        .prefetch_related("skills", "regions")
    }
    return [
        _Candidate(
            user=member,
            profile=profiles.get(member.pk),
            load=0,
            capacity=_capacity(profiles.get(member.pk), routing),
        )
        for member in members
    ]


def _count_loads(candidates: list[_Candidate], ticket: Ticket) -> None:
    """Count open tickets of the agents still in the running only: the count walks every open
    ticket of each agent counted, the dearest part of a decision on a busy team."""
    loads = selectors.load_of([c.user.pk for c in candidates], excluding=ticket.pk)
    for candidate in candidates:
        candidate.load = loads.get(candidate.user.pk, 0)
        if candidate.capacity is not None and candidate.load >= candidate.capacity:
            candidate.reason = "at_capacity"


def _strategy_name(routing: TeamRouting) -> str:
    flags = (("skills", routing.use_skills), ("region", routing.use_region))
    filters = [name for name, on in flags if on]
    return f"{'+'.join(filters)}→{routing.strategy}" if filters else routing.strategy


def _order(eligible: list[_Candidate], routing: TeamRouting) -> list[_Candidate]:
    if routing.strategy == Strategy.ROUND_ROBIN:
        pointer = routing.last_assignee_id or 0
        after = [c for c in eligible if c.user.pk > pointer]
        before = [c for c in eligible if c.user.pk <= pointer]
        return after + before
    never = datetime.min.replace(tzinfo=timezone.get_current_timezone())

    def key(candidate: _Candidate) -> tuple[int, datetime, int]:
        last = candidate.profile.last_assigned_at if candidate.profile is not None else None
        return (candidate.load, last or never, candidate.user.pk)

    return sorted(eligible, key=key)


def _decide(ticket: Ticket, team: Team, routing: TeamRouting | None) -> _Decision:
    if routing is None or routing.strategy == Strategy.MANUAL:
        return _Decision(Strategy.MANUAL, [], [], routing)
    required = selectors.required_skills(ticket) if routing.use_skills else []
    region = selectors.region_of(ticket, routing.region_field) if routing.use_region else None
    region_codes = selectors.region_codes_covering(region) if region is not None else None
    hours = _Hours(team, timezone.now())
    candidates = _candidates(team, routing)
    for candidate in candidates:
        candidate.reason = _reason(candidate, routing, hours, required, region_codes)
    _count_loads([c for c in candidates if c.reason is None], ticket)
    eligible = [c for c in candidates if c.reason is None]
    rejected = [c for c in candidates if c.reason is not None]
    return _Decision(_strategy_name(routing), _order(eligible, routing), rejected, routing)


# --- Explanations -----------------------------------------------------------------------------


def _how(strategy: str) -> str:
    filters, _arrow, base = strategy.rpartition("→")
    how = str(STRATEGY_LABELS.get(base, base))
    if not filters:
        return how
    names = {
        "skills": str(_("skills")),
        "region": str(_("region")),
        "skills+region": str(_("skills + region")),
    }
    return str(
        _("%(filters)s, then %(how)s") % {"filters": names.get(filters, filters), "how": how}
    )


def _picked(strategy: str, agent: User) -> str:
    return str(_("%(how)s → %(agent)s") % {"how": _how(strategy), "agent": str(agent)})


def _why_nobody(rejected: Iterable[_Candidate]) -> str:
    counts = Counter(c.reason for c in rejected if c.reason)
    if not counts:
        return str(_("the team has no active members"))
    parts = [
        str(_("%(count)s %(reason)s") % {"count": n, "reason": REASON_LABELS.get(r, r)})
        for r, n in sorted(counts.items())
    ]
    return ", ".join(parts)


def _queued_text(position: int) -> str:
    return str(_("no agent free: queued (position %(position)s)") % {"position": position})


def _unassigned_text(team: Team, rejected: Iterable[_Candidate]) -> str:
    return str(
        _("no agent free: left unassigned in %(team)s (%(why)s)")
        % {"team": team.name, "why": _why_nobody(rejected)}
    )


def _manual_text(team: Team, routing: TeamRouting | None) -> str:
    if routing is not None and routing.queue_mode:
        return str(_("manual: waits in the queue of %(team)s") % {"team": team.name})
    return str(_("manual: left in %(team)s for an agent to take") % {"team": team.name})


# --- Locks ------------------------------------------------------------------------------------


def _lock_routing(team: Team) -> TeamRouting | None:
    return TeamRouting.objects.select_for_update().filter(team=team).first()


def _lock_profile(user: User) -> AgentProfile:
    """The agent's profile row, locked; made on first use (a staff member needs none before)."""
    profile = AgentProfile.objects.select_for_update().filter(user=user).first()
    if profile is not None:
        return profile
    try:
        with transaction.atomic():
            AgentProfile.objects.create(user=user)
    except IntegrityError:
        pass  # made by a concurrent decision a moment ago
    return AgentProfile.objects.select_for_update().get(user=user)


def _claim(candidate: _Candidate, routing: TeamRouting, ticket: Ticket) -> bool:
    """Lock the agent and count their load again: another team's decision may have filled the
    last seat since the candidates were read."""
    profile = _lock_profile(candidate.user)
    capacity = _capacity(profile, routing)
    if capacity is None:
        return True
    load = selectors.load_of([candidate.user.pk], excluding=ticket.pk).get(candidate.user.pk, 0)
    return load < capacity


def _mark_assigned(agent: User, routing: TeamRouting | None, now: datetime) -> None:
    AgentProfile.objects.filter(user=agent).update(last_assigned_at=now)
    if routing is not None:
        routing.last_assignee = agent
        routing.save(update_fields=["last_assignee"])


def _cause(team: Team, reason: str) -> dict[str, Any]:
    return {**(outbox.current_cause() or {}), "routing": {"team_id": team.pk, "reason": reason}}


# --- Routing ----------------------------------------------------------------------------------


def plan_route(*, ticket: Ticket, team: Team) -> RoutingOutcome:
    """What :func:`route_to_team` would do now, without writing anything (a rule's dry run)."""
    routing = selectors.routing_of(team)
    kept = _kept(ticket, team)
    if kept is not None:
        return kept
    decision = _decide(ticket, team, routing)
    if decision.strategy == Strategy.MANUAL:
        return _manual(team, routing)
    if decision.ordered:
        return _assigned(team, decision, decision.ordered[0].user)
    return _nobody(ticket, team, decision)


def _manual(team: Team, routing: TeamRouting | None) -> RoutingOutcome:
    queued = routing is not None and routing.queue_mode
    strategy = "queue" if queued else Strategy.MANUAL
    return RoutingOutcome(team, None, strategy, queued, _manual_text(team, routing))


def _assigned(team: Team, decision: _Decision, agent: User) -> RoutingOutcome:
    return RoutingOutcome(team, agent, decision.strategy, False, _picked(decision.strategy, agent))


def _kept(ticket: Ticket, team: Team) -> RoutingOutcome | None:
    """A ticket already with an active member of the team stays with them."""
    if ticket.team_id != team.pk or ticket.assignee_id is None:
        return None
    assignee = selectors.team_members(team).filter(pk=ticket.assignee_id).first()
    if assignee is None:
        return None
    text = str(_("already with %(agent)s") % {"agent": str(assignee)})
    return RoutingOutcome(team, assignee, "kept", False, text)


def _nobody(ticket: Ticket, team: Team, decision: _Decision) -> RoutingOutcome:
    routing = decision.routing
    if routing is not None and routing.queue_mode:
        position = selectors.queue_position(ticket, team_id=team.pk)
        return RoutingOutcome(team, None, "queue", True, _queued_text(position))
    return RoutingOutcome(
        team, None, decision.strategy, False, _unassigned_text(team, decision.rejected)
    )


@transaction.atomic
def route_to_team(
    *, ticket: Ticket, team: Team, actor: Any = None, reason: str = ""
) -> RoutingOutcome:
    """Give the ticket to ``team`` and pick its agent by the team's strategy, atomically.

    The change goes through the tickets service as the system (timeline, audit, outbox), its
    events caused by routing so routing's own reactions leave them alone. Manual teams only
    get the ticket; a queue-mode team keeps it in its queue when nobody can take it.
    """
    if actor is not None:
        authz.require_permission(actor, CHANGE_TICKET, ticket)
    ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
    routing = _lock_routing(team)
    kept = _kept(ticket, team)
    if kept is not None:
        return kept
    decision = _decide(ticket, team, routing)
    agent = _first_claimable(decision, ticket)
    outcome: RoutingOutcome | None = None
    changes: dict[str, Any] = {"team": team, "assignee": agent}
    if decision.strategy == Strategy.MANUAL:
        outcome = _manual(team, routing)
        if not outcome.queued:
            del changes["assignee"]  # a member who has the ticket keeps it
    elif agent is not None:
        outcome = _assigned(team, decision, agent)
    with outbox.caused_by(_cause(team, reason)):
        ticket = tickets.update_ticket(actor=None, ticket=ticket, changes=changes)
        # The queue position counts the tickets ahead once this one waits too.
        outcome = outcome or _nobody(ticket, team, decision)
        if agent is not None:
            _mark_assigned(agent, routing, timezone.now())
        _announce(ticket, outcome, actor=actor, reason=reason)
    return outcome


def _first_claimable(decision: _Decision, ticket: Ticket) -> User | None:
    routing = decision.routing
    if routing is None:
        return None
    for candidate in decision.ordered:
        if _claim(candidate, routing, ticket):
            return candidate.user
        candidate.reason = "at_capacity"
        decision.rejected.append(candidate)
    return None


def _announce(ticket: Ticket, outcome: RoutingOutcome, *, actor: Any, reason: str) -> None:
    outbox.emit(
        "ticket.routed",
        ticket,
        actor=actor,
        payload=tickets.event_payload(
            ticket,
            strategy=outcome.strategy,
            queued=outcome.queued,
            explanation=outcome.explanation,
            reason=reason,
        ),
    )


@transaction.atomic
def escalate(*, ticket: Ticket, actor: Any = None) -> RoutingOutcome:
    """Move the ticket up: to the team's next tier (routed by that team's strategy) when one is
    set, else to the team's lead."""
    if actor is not None:
        authz.require_permission(actor, CHANGE_TICKET, ticket)
    team = ticket.team
    if team is None:
        raise DomainError(
            "no_team", field="team", message=_("Give the ticket a team before escalating it.")
        )
    routing = selectors.routing_of(team)
    next_tier = routing.next_tier if routing is not None else None
    if next_tier is not None and next_tier.is_active:
        outcome = route_to_team(ticket=ticket, team=next_tier, reason="escalated")
        text = _("escalated to %(team)s: %(explanation)s") % {
            "team": next_tier.name,
            "explanation": outcome.explanation,
        }
        return replace(outcome, explanation=str(text))
    lead = team.lead
    if lead is None or not selectors.team_members(team).filter(pk=lead.pk).exists():
        raise DomainError(
            "no_escalation_target",
            field="team",
            message=_("Give %(team)s an active lead or a next-tier team to escalate to."),
            params={"team": team.name},
        )
    with outbox.caused_by(_cause(team, "escalated")):
        ticket = tickets.update_ticket(actor=None, ticket=ticket, changes={"assignee": lead})
        text = str(_("escalated to the team lead → %(agent)s") % {"agent": str(lead)})
        outcome = RoutingOutcome(team, lead, "lead", False, text)
        _mark_assigned(lead, None, timezone.now())
        _announce(ticket, outcome, actor=actor, reason="escalated")
    return outcome


# --- Queue ------------------------------------------------------------------------------------


def get_next(*, agent: User) -> Ticket | None:
    """Hand the agent the highest-priority, oldest ticket waiting in their teams' queues that
    they may take (skills, region, capacity); ``None`` when there is none. Two agents pressing
    "get next" at once never receive the same ticket."""
    authz.require_permission(agent, GET_NEXT)
    return _hand_next(agent, automatic=False)


def hand_next_when_free(agent: User) -> list[Ticket]:
    """An agent became free: give them queued tickets of their push-queue teams while they are
    online, inside working hours and below capacity. Each ticket in its own transaction."""
    handed: list[Ticket] = []
    for _attempt in range(100):
        ticket = _hand_next(agent, automatic=True)
        if ticket is None:
            break
        handed.append(ticket)
    return handed


NOT_ONLINE = [a for a in Availability.values if a != Availability.ONLINE]


def drain_push_queues() -> int:
    """Hand waiting tickets of push-queue teams to whoever can take them now (the periodic
    job): a shift that starts, a capacity raised or a member added raises no event."""
    handed = 0
    teams = (
        TeamRouting.objects.filter(queue_mode=True, team__is_active=True)
        .exclude(strategy=Strategy.MANUAL)
        .values_list("team_id", flat=True)
    )
    for team_id in teams:
        if not selectors.queued_tickets([team_id]).exists():
            continue
        agents = User.objects.filter(
            team_memberships__team_id=team_id, is_active=True, kind=User.Kind.STAFF
        ).exclude(agent_profile__availability__in=NOT_ONLINE)
        for agent in agents.order_by("pk"):
            handed += len(hand_next_when_free(agent))
    return handed


@transaction.atomic
def _hand_next(agent: User, *, automatic: bool) -> Ticket | None:
    profile = _lock_profile(agent)
    now = timezone.now()
    routings = list(
        TeamRouting.objects.filter(
            queue_mode=True, team__is_active=True, team__memberships__user=agent
        ).select_related("team")
    )
    if automatic:
        routings = [r for r in routings if r.strategy != Strategy.MANUAL]
        if profile.availability != Availability.ONLINE:
            return None
    load = selectors.load_of([agent.pk]).get(agent.pk, 0)
    open_to: dict[int, TeamRouting] = {}
    for routing in routings:
        capacity = _capacity(profile, routing)
        if capacity is not None and load >= capacity:
            continue
        if (
            automatic
            and routing.respect_working_hours
            and not _Hours(routing.team, now).working(profile)
        ):
            continue
        open_to[routing.team_id] = routing
    if not open_to:
        return None
    found = _first_takeable(profile, open_to)
    if found is None:
        return None
    ticket, routing = found
    with outbox.caused_by(_cause(routing.team, "queue")):
        ticket = tickets.update_ticket(actor=None, ticket=ticket, changes={"assignee": agent})
        _mark_assigned(agent, None, now)
        how = _("queue → %(agent)s") % {"agent": str(agent)}
        outcome = RoutingOutcome(routing.team, agent, "queue", False, str(how))
        _announce(ticket, outcome, actor=None if automatic else agent, reason="queue")
        audit.record(
            actor=None if automatic else agent,
            action=AuditEntry.Action.UPDATED,
            obj=ticket,
            verb="handed_from_queue" if automatic else "taken_from_queue",
            after={"assignee": agent.pk},
        )
    return ticket


def _first_takeable(
    profile: AgentProfile, open_to: dict[int, TeamRouting]
) -> tuple[Ticket, TeamRouting] | None:
    """Lock the first queued ticket nobody else holds that the agent may take."""
    skills = {s.pk for s in profile.skills.all()}
    regions = {r.code for r in profile.regions.all()}
    passed: list[int] = []
    for _attempt in range(QUEUE_SCAN_LIMIT):
        ticket = (
            selectors.queued_tickets(open_to)
            .exclude(pk__in=passed)
            .select_for_update(skip_locked=True)
            .first()
        )
        if ticket is None:
            return None
        routing = open_to[ticket.team_id or 0]
        if _may_take(ticket, routing, skills, regions):
            return ticket, routing
        passed.append(ticket.pk)
    return None


def _may_take(ticket: Ticket, routing: TeamRouting, skills: set[int], regions: set[str]) -> bool:
    if routing.use_skills and not {s.pk for s in selectors.required_skills(ticket)} <= skills:
        return False
    if routing.use_region:
        region = selectors.region_of(ticket, routing.region_field)
        if region is not None and not selectors.region_codes_covering(region) & regions:
            return False
    return True


# --- Availability and requirements ------------------------------------------------------------


@transaction.atomic
def set_availability(*, actor: Any, user: User, status: str) -> AgentProfile:
    """Set an agent online, away, off shift or on leave. Agents set their own; setting someone
    else's takes ``routing.change_agentprofile`` within the actor's scope."""
    if status not in Availability.values:
        raise DomainError(
            "invalid_choice",
            field="status",
            message=_("Choose one of: online, away, off_shift, on_leave."),
        )
    if user.kind != User.Kind.STAFF:
        raise DomainError("not_staff", field="user", message=_("Only staff members take tickets."))
    profile = _lock_profile(user)
    if getattr(actor, "pk", None) == user.pk:
        authz.require_permission(actor, SET_OWN_AVAILABILITY)
    else:
        authz.require_permission(actor, CHANGE_PROFILE, profile)
    before = profile.availability
    if before == status:
        return profile
    profile.availability = status
    profile.availability_changed_at = timezone.now()
    profile.version += 1
    profile.save(update_fields=["availability", "availability_changed_at", "version", "updated_at"])
    audit.record(
        actor=actor,
        action=AuditEntry.Action.UPDATED,
        obj=profile,
        verb="availability_changed",
        before={"availability": before},
        after={"availability": status},
    )
    outbox.emit(
        "routing.availability_changed",
        profile,
        actor=actor,
        payload={"user_id": user.pk, "from": before, "to": status},
    )
    return profile


def _skills(values: Iterable[Any]) -> list[Skill]:
    keys = [v.key if isinstance(v, Skill) else v for v in values]
    if not all(isinstance(k, str) for k in keys):
        raise DomainError("invalid", field="skills", message=_("Choose skills by their keys."))
    found = {s.key: s for s in Skill.objects.filter(key__in=keys, is_active=True)}
    missing = [k for k in keys if k not in found]
    if missing:
        raise DomainError(
            "unknown_skill",
            field="skills",
            message=_("%(key)s is not an active skill."),
            params={"key": missing[0]},
        )
    return [found[k] for k in dict.fromkeys(keys)]


@transaction.atomic
def require_skills(*, ticket: Ticket, skills: Iterable[Any], actor: Any = None) -> None:
    """Replace the skills the ticket itself needs (its type's defaults still apply)."""
    if actor is not None:
        authz.require_permission(actor, CHANGE_TICKET, ticket)
    wanted = _skills(skills)
    current = set(
        TicketSkillRequirement.objects.filter(ticket=ticket).values_list("skill__key", flat=True)
    )
    keys = {s.key for s in wanted}
    if keys == current:
        return
    TicketSkillRequirement.objects.filter(ticket=ticket).exclude(skill__key__in=keys).delete()
    TicketSkillRequirement.objects.bulk_create(
        [TicketSkillRequirement(ticket=ticket, skill=s) for s in wanted if s.key not in current]
    )
    audit.record(
        actor=actor,
        action=AuditEntry.Action.UPDATED,
        obj=ticket,
        verb="skills_required",
        before={"required_skills": sorted(current)},
        after={"required_skills": sorted(keys)},
    )
    outbox.emit(
        "ticket.skills_required",
        ticket,
        actor=actor,
        payload=tickets.event_payload(ticket, skills=sorted(keys)),
    )


def regions_below(region: Region) -> list[Region]:
    """The region and every region under it (for pickers and the tree page)."""
    result = [region]
    frontier = [region.pk]
    while frontier:
        children = list(Region.objects.filter(parent_id__in=frontier))
        result.extend(children)
        frontier = [c.pk for c in children]
    return result


__all__ += ["is_working_moment", "regions_below"]
