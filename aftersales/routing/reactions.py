"""How routing reacts to other modules' events (outbox subscribers, delivered eagerly).

* A ticket that got a team but no assignee by any other path than routing (an agent moving it
  in the workspace, the API, a rule that sets the field) is routed by the team's strategy.
* In queue mode, an agent who becomes free (a ticket of theirs solved, closed or given to
  someone else; or they come online) receives the next queued ticket they may take.

Events whose ``cause`` says routing raised them are left alone, so routing never reacts to
itself. Both handlers look at the ticket as it is now: a repeated delivery finds nothing to do.
"""

from __future__ import annotations

import logging
from typing import Any

from aftersales.accounts.models import Team, User
from aftersales.core.errors import DomainError
from aftersales.outbox.models import OutboxEvent
from aftersales.routing import services
from aftersales.routing.models import TeamRouting
from aftersales.tickets.models import Ticket

logger = logging.getLogger(__name__)
CLOSED_CATEGORIES = ("solved", "closed")


def react(event: OutboxEvent) -> None:
    """The one subscriber: route a ticket that arrived in a team, then fill freed seats."""
    if event.topic in ("ticket.created", "ticket.updated"):
        on_team_set(event)
    if event.topic != "ticket.created":
        on_agent_freed(event)


def _from_routing(event: OutboxEvent) -> bool:
    return "routing" in (event.cause or {})


def on_team_set(event: OutboxEvent) -> None:
    """Route a ticket that arrived in a team without an assignee."""
    if _from_routing(event):
        return
    payload = event.payload
    if event.topic == "ticket.updated" and "team" not in (payload.get("changes") or {}):
        return
    if payload.get("team_id") is None or payload.get("assignee_id") is not None:
        return
    ticket = Ticket.objects.filter(pk=payload.get("ticket_id")).first()
    if ticket is None or ticket.team_id is None or ticket.assignee_id is not None:
        return
    routing = TeamRouting.objects.filter(team_id=ticket.team_id).first()
    if routing is None or routing.strategy == TeamRouting.Strategy.MANUAL:
        return
    team = Team.objects.get(pk=ticket.team_id)
    try:
        services.route_to_team(ticket=ticket, team=team, reason=event.topic)
    except DomainError as error:
        # A refusal (the team was deactivated meanwhile) will not change on a retry.
        logger.info("Ticket %s was not routed to team %s: %s", ticket.pk, team.pk, error)


def on_agent_freed(event: OutboxEvent) -> None:
    """Hand queued tickets to an agent who has room again."""
    agent_id = _freed_agent(event)
    if agent_id is None:
        return
    if not TeamRouting.objects.filter(
        queue_mode=True, team__memberships__user_id=agent_id
    ).exists():
        return
    agent = User.objects.filter(pk=agent_id, is_active=True, kind=User.Kind.STAFF).first()
    if agent is not None:
        services.hand_next_when_free(agent)


def _freed_agent(event: OutboxEvent) -> int | None:
    payload: dict[str, Any] = event.payload
    if event.topic == "routing.availability_changed":
        return payload.get("user_id") if payload.get("to") == "online" else None
    if event.topic == "ticket.status_changed":
        if payload.get("status_category") in CLOSED_CATEGORIES:
            return payload.get("assignee_id")
        return None
    # ticket.updated: the assignee changed, so the previous one has a seat more.
    change = (payload.get("changes") or {}).get("assignee")
    if not change or not isinstance(change[0], dict):
        return None
    previous = change[0].get("id")
    if previous is None or previous == payload.get("assignee_id"):
        return None
    return int(previous)


def drain_push_queues() -> int:
    """Periodic: queued tickets of push-queue teams go to agents free now."""
    return services.drain_push_queues()
