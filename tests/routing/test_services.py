"""Routing decisions: each strategy picks the right agent and says why; capacity,
availability, working hours, skills and regions narrow who may take a ticket."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from django.utils import translation

from aftersales.accounts.models import Team, User
from aftersales.core.errors import DomainError, NotFound, PermissionDenied
from aftersales.outbox.models import OutboxEvent
from aftersales.routing import services
from aftersales.routing.models import AgentProfile, TeamRouting
from aftersales.sla import services as sla
from aftersales.tickets.models import Ticket, TicketEvent
from tests.routing.conftest import region, routing_row

pytestmark = pytest.mark.django_db
RoutedTeam = Callable[..., tuple[Team, list[User]]]
MakeTicket = Callable[..., Ticket]


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


def route(ticket: Ticket, team: Team, **kwargs: Any) -> services.RoutingOutcome:
    return services.route_to_team(ticket=ticket, team=team, **kwargs)


def unassigned(make_ticket: MakeTicket, **fields: Any) -> Ticket:
    return make_ticket(team=None, **fields)


# --- Strategies -------------------------------------------------------------------------------


def test_round_robin_gives_tickets_to_each_agent_in_turn(
    routed_team: RoutedTeam, make_ticket: MakeTicket
) -> None:
    # given
    team, (li, han, wang) = routed_team(["Li Lei", "Han Meimei", "Wang"], strategy="round_robin")
    # when
    outcomes = [route(unassigned(make_ticket), team) for _ in range(4)]
    # then
    assert [o.assignee for o in outcomes] == [li, han, wang, li]
    assert outcomes[0].strategy == "round_robin"
    assert outcomes[0].explanation == "round-robin → Li Lei"
    assert outcomes[0].queued is False
    assert routing_row(team).last_assignee == li


def test_routing_writes_the_team_and_assignee_through_the_tickets_service(
    routed_team: RoutedTeam, make_ticket: MakeTicket
) -> None:
    # given
    team, (li,) = routed_team(["Li Lei"], strategy="round_robin")
    ticket = unassigned(make_ticket)
    # when
    route(ticket, team, reason="rule VIP payment")
    # then
    ticket.refresh_from_db()
    assert (ticket.team_id, ticket.assignee_id, ticket.version) == (team.pk, li.pk, 2)
    event = TicketEvent.objects.filter(ticket=ticket).latest("pk")
    assert event.kind == TicketEvent.Kind.ASSIGNED
    assert event.actor is None
    routed = OutboxEvent.objects.get(topic="ticket.routed")
    assert routed.payload["explanation"] == "round-robin → Li Lei"
    assert routed.payload["reason"] == "rule VIP payment"
    updated = OutboxEvent.objects.get(topic="ticket.updated")
    assert updated.cause["routing"]["team_id"] == team.pk


def test_least_loaded_picks_the_agent_with_fewest_open_tickets(
    routed_team: RoutedTeam, make_ticket: MakeTicket
) -> None:
    # given
    team, (li, han) = routed_team(["Li Lei", "Han Meimei"], strategy="least_loaded")
    make_ticket(team=team, assignee=li)
    make_ticket(team=team, assignee=li)
    make_ticket(team=team, assignee=han)
    # when
    outcome = route(unassigned(make_ticket), team)
    # then
    assert outcome.assignee == han
    assert outcome.explanation == "least-loaded → Han Meimei"


def test_least_loaded_counts_only_open_tickets(
    routed_team: RoutedTeam, make_ticket: MakeTicket, desk: dict[str, Any]
) -> None:
    # given: Li has two tickets, both solved; Han one open
    team, (li, han) = routed_team(["Li Lei", "Han Meimei"], strategy="least_loaded")
    for _ in range(2):
        Ticket.objects.filter(pk=make_ticket(team=team, assignee=li).pk).update(
            status_category="solved"
        )
    make_ticket(team=team, assignee=han)
    # when
    outcome = route(unassigned(make_ticket), team)
    # then
    assert outcome.assignee == li


def test_least_loaded_breaks_ties_by_who_waited_longest(
    routed_team: RoutedTeam, make_ticket: MakeTicket
) -> None:
    # given
    team, (li, han) = routed_team(["Li Lei", "Han Meimei"], strategy="least_loaded")
    # when: each ticket is solved at once, so loads stay equal
    picked = []
    for _ in range(3):
        outcome = route(unassigned(make_ticket), team)
        Ticket.objects.filter(assignee=outcome.assignee).update(status_category="closed")
        picked.append(outcome.assignee)
    # then
    assert picked == [li, han, li]


def test_manual_team_only_gets_the_ticket(routed_team: RoutedTeam, make_ticket: MakeTicket) -> None:
    # given
    team, _agents = routed_team(["Li Lei"])
    ticket = unassigned(make_ticket)
    # when
    outcome = route(ticket, team)
    # then
    ticket.refresh_from_db()
    assert (ticket.team_id, ticket.assignee_id) == (team.pk, None)
    assert outcome.strategy == "manual"
    assert outcome.explanation == f"manual: left in {team.name} for an agent to take"


def test_a_ticket_already_with_a_member_stays_with_them(
    routed_team: RoutedTeam, make_ticket: MakeTicket
) -> None:
    # given
    team, (_li, han) = routed_team(["Li Lei", "Han Meimei"], strategy="round_robin")
    ticket = make_ticket(team=team, assignee=han)
    # when
    outcome = route(ticket, team)
    # then
    assert (outcome.assignee, outcome.strategy) == (han, "kept")
    ticket.refresh_from_db()
    assert ticket.version == 1


# --- Capacity, availability, working hours ----------------------------------------------------


def test_capacity_caps_what_an_agent_receives(
    routed_team: RoutedTeam, make_ticket: MakeTicket
) -> None:
    # given
    team, (li, han) = routed_team(
        ["Li Lei", "Han Meimei"], strategy="least_loaded", default_capacity=1
    )
    # when
    outcomes = [route(unassigned(make_ticket), team) for _ in range(3)]
    # then
    assert [o.assignee for o in outcomes] == [li, han, None]
    assert outcomes[2].explanation == (
        f"no agent free: left unassigned in {team.name} (2 at capacity)"
    )
    assert Ticket.objects.filter(assignee=li).count() == 1


def test_an_agents_own_capacity_wins_over_the_team_default(
    routed_team: RoutedTeam, make_ticket: MakeTicket, desk: dict[str, Any]
) -> None:
    # given
    team, (li, han) = routed_team(
        ["Li Lei", "Han Meimei"], strategy="round_robin", default_capacity=1
    )
    services.update_agent_profile(actor=desk["admin"], user=li, changes={"capacity": 3})
    # when
    outcomes = [route(unassigned(make_ticket), team) for _ in range(4)]
    # then
    assert [o.assignee for o in outcomes] == [li, han, li, li]


def test_agents_who_are_not_online_get_nothing(
    routed_team: RoutedTeam, make_ticket: MakeTicket, desk: dict[str, Any]
) -> None:
    # given
    team, (li, han, wang) = routed_team(["Li Lei", "Han Meimei", "Wang"], strategy="round_robin")
    services.set_availability(actor=li, user=li, status="away")
    services.set_availability(actor=desk["admin"], user=wang, status="on_leave")
    # when
    outcomes = [route(unassigned(make_ticket), team) for _ in range(2)]
    services.set_availability(actor=han, user=han, status="off_shift")
    last = route(unassigned(make_ticket), team)
    # then
    assert [o.assignee for o in outcomes] == [han, han]
    assert last.assignee is None
    assert last.explanation == (
        f"no agent free: left unassigned in {team.name} (1 away, 1 off shift, 1 on leave)"
    )


@pytest.mark.parametrize(
    ("_case", "moment", "expected"),
    [
        ("weekday morning", datetime(2026, 11, 24, 2, 0, tzinfo=UTC), "Li Lei"),  # 10:00 CST
        ("weekday evening", datetime(2026, 11, 24, 12, 0, tzinfo=UTC), None),  # 20:00 CST
        ("saturday", datetime(2026, 11, 28, 2, 0, tzinfo=UTC), None),
    ],
)
def test_working_hours_of_the_agents_calendar_decide(
    routed_team: RoutedTeam,
    make_ticket: MakeTicket,
    desk: dict[str, Any],
    _case: str,
    moment: datetime,
    expected: str | None,
) -> None:
    # given
    team, (li,) = routed_team(["Li Lei"], strategy="round_robin")
    weekdays = {str(day): [{"start": "09:00", "end": "18:00"}] for day in range(5)}
    calendar = sla.create_calendar(actor=desk["admin"], name="Day shift", hours=weekdays)
    services.update_agent_profile(actor=desk["admin"], user=li, changes={"calendar": calendar})
    ticket = unassigned(make_ticket)
    # when
    with time_machine.travel(moment, tick=False):
        outcome = route(ticket, team)
    # then
    assert (str(outcome.assignee) if outcome.assignee else None) == expected


def test_working_hours_are_ignored_when_the_team_says_so(
    routed_team: RoutedTeam, make_ticket: MakeTicket, desk: dict[str, Any]
) -> None:
    # given
    team, (li,) = routed_team(["Li Lei"], strategy="round_robin", respect_working_hours=False)
    calendar = sla.create_calendar(actor=desk["admin"], name="Never", team=team, hours={})
    ticket = unassigned(make_ticket)
    # when
    outcome = route(ticket, team)
    # then
    assert calendar.team_id == team.pk
    assert outcome.assignee == li


def test_the_team_calendar_applies_to_agents_without_their_own(
    routed_team: RoutedTeam, make_ticket: MakeTicket, desk: dict[str, Any]
) -> None:
    # given: the team works Mondays only
    team, (_li,) = routed_team(["Li Lei"], strategy="round_robin")
    sla.create_calendar(
        actor=desk["admin"],
        name="Mondays",
        team=team,
        hours={"0": [{"start": "00:00", "end": "24:00"}]},
    )
    ticket = unassigned(make_ticket)
    # when: a Tuesday
    with time_machine.travel(datetime(2026, 11, 24, 2, 0, tzinfo=UTC), tick=False):
        outcome = route(ticket, team)
    # then
    assert outcome.assignee is None
    assert "1 outside working hours" in outcome.explanation


# --- Skills and regions -----------------------------------------------------------------------


@pytest.fixture
def location_field(desk: dict[str, Any]) -> str:
    """A cascading "location" field on the repair form whose keys are region codes."""
    from aftersales.customfields import services as customfields
    from aftersales.tickets.models import form_key_of

    customfields.create_definition(
        actor=desk["admin"],
        target="tickets.ticket",
        subtarget=form_key_of(desk["repair"].pk),
        key="location",
        field_type="cascade",
        label_zh="地区",
        label_en="Location",
        config={
            "require_leaf": False,
            "options": [
                {
                    "key": "east-china",
                    "label_zh": "华东",
                    "children": [{"key": "shanghai"}, {"key": "jiangsu"}],
                },
                {"key": "south-china", "label_zh": "华南", "children": [{"key": "guangdong"}]},
            ],
        },
    )
    return "location"


def test_urgent_repair_in_east_china_goes_to_the_east_china_repair_lead(
    routed_team: RoutedTeam,
    make_ticket: MakeTicket,
    desk: dict[str, Any],
    skill: Callable[[str], Any],
    location_field: str,
) -> None:
    """The seed example: skills + region, then least-loaded."""
    # given
    team, (south, east_lead, east_junior) = routed_team(
        ["South engineer", "East China repair lead", "East junior"],
        strategy="least_loaded",
        use_skills=True,
        use_region=True,
        region_field=location_field,
    )
    repair = skill("repair")
    for agent, regions, skills in (
        (south, ["south-china"], [repair]),
        (east_lead, ["east-china"], [repair]),
        (east_junior, ["shanghai"], []),
    ):
        services.update_agent_profile(
            actor=desk["admin"],
            user=agent,
            changes={"regions": [region(code) for code in regions], "skills": skills},
        )
    services.set_ticket_type_skills(
        actor=desk["admin"], ticket_type=desk["repair"], skills=[repair]
    )
    ticket = make_ticket(
        team=None, priority="urgent", custom_fields={"location": ["east-china", "shanghai"]}
    )
    # when
    outcome = route(ticket, team)
    # then
    assert outcome.assignee == east_lead
    assert outcome.strategy == "skills+region→least_loaded"
    assert outcome.explanation == ("skills + region, then least-loaded → East China repair lead")


def test_nobody_with_the_required_skill_leaves_the_ticket_unassigned(
    routed_team: RoutedTeam, make_ticket: MakeTicket, skill: Callable[[str], Any]
) -> None:
    # given
    team, _agents = routed_team(["Li Lei"], strategy="round_robin", use_skills=True)
    ticket = unassigned(make_ticket)
    services.require_skills(ticket=ticket, skills=[skill("payment").key])
    # when
    outcome = route(ticket, team)
    # then
    assert outcome.assignee is None
    assert outcome.strategy == "skills→round_robin"
    assert "1 lacking skills" in outcome.explanation


def test_a_ticket_without_location_is_not_held_back_by_regions(
    routed_team: RoutedTeam, make_ticket: MakeTicket, location_field: str
) -> None:
    # given
    team, (li,) = routed_team(
        ["Li Lei"], strategy="round_robin", use_region=True, region_field=location_field
    )
    # when
    outcome = route(unassigned(make_ticket), team)
    # then
    assert outcome.assignee == li


def test_an_agent_outside_the_region_is_passed_over(
    routed_team: RoutedTeam, make_ticket: MakeTicket, location_field: str, desk: dict[str, Any]
) -> None:
    # given
    team, (li,) = routed_team(
        ["Li Lei"], strategy="round_robin", use_region=True, region_field=location_field
    )
    services.update_agent_profile(
        actor=desk["admin"], user=li, changes={"regions": [region("shanghai")]}
    )
    ticket = make_ticket(team=None, custom_fields={"location": ["east-china", "jiangsu"]})
    # when
    outcome = route(ticket, team)
    # then
    assert outcome.assignee is None
    assert "1 outside the region" in outcome.explanation


def test_require_skills_refuses_an_unknown_skill(make_ticket: MakeTicket) -> None:
    # given
    ticket = unassigned(make_ticket)
    # when
    with pytest.raises(DomainError) as error:
        services.require_skills(ticket=ticket, skills=["telepathy"])
    # then
    assert (error.value.code, error.value.field) == ("unknown_skill", "skills")


# --- Dry run, escalation ----------------------------------------------------------------------


def test_plan_route_decides_without_writing(
    routed_team: RoutedTeam, make_ticket: MakeTicket
) -> None:
    # given
    team, (li, _han) = routed_team(["Li Lei", "Han Meimei"], strategy="round_robin")
    ticket = unassigned(make_ticket)
    events = OutboxEvent.objects.count()
    # when
    first = services.plan_route(ticket=ticket, team=team)
    second = services.plan_route(ticket=ticket, team=team)
    # then
    assert first == second
    assert (first.assignee, first.explanation) == (li, "round-robin → Li Lei")
    ticket.refresh_from_db()
    assert (ticket.team_id, ticket.assignee_id, ticket.version) == (None, None, 1)
    assert routing_row(team).last_assignee is None
    assert OutboxEvent.objects.count() == events
    assert AgentProfile.objects.count() == 0


def test_escalate_routes_to_the_next_tier_team(
    routed_team: RoutedTeam, make_ticket: MakeTicket, desk: dict[str, Any]
) -> None:
    # given
    senior, (expert,) = routed_team(["Senior expert"], strategy="round_robin")
    first, (li,) = routed_team(["Li Lei"], strategy="round_robin", next_tier=senior)
    ticket = make_ticket(team=first, assignee=li)
    # when
    outcome = services.escalate(ticket=ticket)
    # then
    ticket.refresh_from_db()
    assert (ticket.team_id, ticket.assignee_id) == (senior.pk, expert.pk)
    assert outcome.explanation == f"escalated to {senior.name}: round-robin → Senior expert"


def test_escalate_without_next_tier_goes_to_the_team_lead(
    routed_team: RoutedTeam, make_ticket: MakeTicket, desk: dict[str, Any]
) -> None:
    # given
    team, (li, lead) = routed_team(["Li Lei", "Lead"], strategy="round_robin")
    Team.objects.filter(pk=team.pk).update(lead=lead)
    team.refresh_from_db()
    ticket = make_ticket(team=team, assignee=li)
    # when
    outcome = services.escalate(ticket=ticket)
    # then
    ticket.refresh_from_db()
    assert ticket.assignee_id == lead.pk
    assert (outcome.strategy, outcome.explanation) == ("lead", "escalated to the team lead → Lead")


def test_escalate_with_nowhere_to_go_says_so(
    routed_team: RoutedTeam, make_ticket: MakeTicket
) -> None:
    # given
    team, (li,) = routed_team(["Li Lei"])
    ticket = make_ticket(team=team, assignee=li)
    # when
    with pytest.raises(DomainError) as error:
        services.escalate(ticket=ticket)
    # then
    assert (error.value.code, error.value.field) == ("no_escalation_target", "team")
    ticket.refresh_from_db()
    assert ticket.assignee_id == li.pk


def test_an_actor_outside_the_ticket_cannot_route_it(
    routed_team: RoutedTeam, make_ticket: MakeTicket, desk: dict[str, Any]
) -> None:
    # given
    team, _agents = routed_team(["Li Lei"], strategy="round_robin")
    ticket = unassigned(make_ticket)
    # when
    with pytest.raises(NotFound):
        route(ticket, team, actor=desk["outsider"])
    # then
    ticket.refresh_from_db()
    assert ticket.team_id is None


# --- Availability -----------------------------------------------------------------------------


def test_an_agent_sets_their_own_availability_and_it_is_audited(
    routed_team: RoutedTeam,
) -> None:
    # given
    _team, (li,) = routed_team(["Li Lei"])
    # when
    profile = services.set_availability(actor=li, user=li, status="away")
    # then
    assert (profile.availability, profile.version) == ("away", 2)
    event = OutboxEvent.objects.get(topic="routing.availability_changed")
    assert event.payload == {"user_id": li.pk, "from": "online", "to": "away"}


def test_an_agent_cannot_set_a_colleagues_availability(routed_team: RoutedTeam) -> None:
    # given
    _team, (li, han) = routed_team(["Li Lei", "Han Meimei"])
    # when
    with pytest.raises(PermissionDenied):
        services.set_availability(actor=li, user=han, status="on_leave")
    # then
    assert AgentProfile.objects.filter(user=han, availability="on_leave").exists() is False
    assert OutboxEvent.objects.filter(topic="routing.availability_changed").exists() is False


def test_an_unknown_availability_is_refused(routed_team: RoutedTeam) -> None:
    # given
    _team, (li,) = routed_team(["Li Lei"])
    # when
    with pytest.raises(DomainError) as error:
        services.set_availability(actor=li, user=li, status="sleeping")
    # then
    assert (error.value.code, error.value.field) == ("invalid_choice", "status")


def test_team_routing_refuses_region_matching_without_a_location_field(
    routed_team: RoutedTeam, desk: dict[str, Any]
) -> None:
    # given
    team, _agents = routed_team(["Li Lei"])
    # when
    with pytest.raises(DomainError) as error:
        services.update_team_routing(actor=desk["admin"], team=team, changes={"use_region": True})
    # then
    assert (error.value.code, error.value.field) == ("region_field_required", "region_field")
    assert TeamRouting.objects.filter(team=team).exists() is False


def test_vip_payment_failure_goes_to_the_senior_group_member_who_knows_payments(
    routed_team: RoutedTeam,
    make_ticket: MakeTicket,
    desk: dict[str, Any],
    skill: Callable[[str], Any],
) -> None:
    """The seed example: a rule raised the priority, required the payment skill and chose the
    senior group; routing picks the agent in it."""
    # given
    senior, (generalist, payments) = routed_team(
        ["Senior generalist", "Li Lei"], strategy="round_robin", use_skills=True
    )
    services.update_agent_profile(
        actor=desk["admin"], user=payments, changes={"skills": [skill("payment")]}
    )
    ticket = make_ticket(team=None, priority="urgent", subject="支付失败")
    services.require_skills(ticket=ticket, skills=["payment"])
    # when
    outcome = route(ticket, senior, reason="rule 'VIP payment'")
    # then
    assert (outcome.assignee, outcome.explanation) == (
        payments,
        "skills, then round-robin → Li Lei",
    )
    assert generalist != payments
