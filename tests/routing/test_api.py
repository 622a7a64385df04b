"""The routing API: configuration CRUD with problem+json errors and If-Match, availability,
"get next" and team queues, each inside the caller's scope (404 outside, 403 without the
permission)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.utils import translation

from aftersales.accounts.models import Team, User
from aftersales.outbox.models import OutboxEvent
from aftersales.routing import services
from aftersales.routing.models import AgentProfile, Skill, TeamRouting, TicketTypeSkill
from aftersales.tickets.models import Ticket
from tests.api.support import assert_problem, body_of
from tests.conftest import JsonClient

pytestmark = pytest.mark.django_db
RoutedTeam = Callable[..., tuple[Team, list[User]]]
MakeTicket = Callable[..., Ticket]
Login = Callable[[User], JsonClient]
BASE = "/api/v1/routing"


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


# --- Skills and regions -----------------------------------------------------------------------


def test_an_admin_creates_a_skill(desk: dict[str, Any], login_client: Login) -> None:
    # when
    response = login_client(desk["admin"]).post_json(
        f"{BASE}/skills", {"key": "payment", "name_zh": "支付问题", "name_en": "Payments"}
    )
    # then
    assert response.status_code == 201
    assert body_of(response)["key"] == "payment"
    assert Skill.objects.get(key="payment").name_zh == "支付问题"


@pytest.mark.parametrize(
    ("_case", "body", "field", "code"),
    [
        ("bad key", {"key": "Pay ment", "name_zh": "支付", "name_en": "Pay"}, "key", "invalid_key"),
        ("blank name", {"key": "pay", "name_zh": " ", "name_en": "Pay"}, "name_zh", "required"),
    ],
)
def test_a_bad_skill_is_refused_with_the_field_named(
    desk: dict[str, Any], login_client: Login, _case: str, body: dict[str, Any], field: str,
    code: str,
) -> None:  # fmt: skip
    # when
    response = login_client(desk["admin"]).post_json(f"{BASE}/skills", body)
    # then
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["field"] == field
    assert problem["errors"][0]["code"] == code
    assert Skill.objects.exists() is False


def test_a_stale_skill_edit_is_refused(
    desk: dict[str, Any], login_client: Login, skill: Callable[[str], Skill]
) -> None:
    # given
    payment = skill("payment")
    client = login_client(desk["admin"])
    client.patch_json(f"{BASE}/skills/{payment.pk}", {"name_en": "Payments"}, HTTP_IF_MATCH='W/"1"')
    # when
    response = client.patch_json(
        f"{BASE}/skills/{payment.pk}", {"name_en": "Billing"}, HTTP_IF_MATCH='W/"1"'
    )
    # then
    assert_problem(response, 412)
    payment.refresh_from_db()
    assert (payment.name_en, payment.version) == ("Payments", 2)


def test_an_agent_neither_sees_nor_creates_skills(
    desk: dict[str, Any], login_client: Login, skill: Callable[[str], Skill]
) -> None:
    # given
    skill("payment")
    client = login_client(desk["insider"])
    # when
    listed = client.get(f"{BASE}/skills")
    created = client.post_json(f"{BASE}/skills", {"key": "x", "name_zh": "x", "name_en": "x"})
    # then
    assert body_of(listed)["items"] == []
    assert_problem(created, 403)
    assert list(Skill.objects.values_list("key", flat=True)) == ["payment"]


def test_the_seeded_regions_form_a_tree(desk: dict[str, Any], login_client: Login) -> None:
    # when
    response = login_client(desk["admin"]).get(f"{BASE}/regions?limit=100")
    # then
    regions = {r["code"]: r for r in body_of(response)["items"]}
    assert len(regions) == 38
    assert regions["shanghai"]["parent_id"] == regions["east-china"]["id"]
    assert regions["east-china"]["name_zh"] == "华东"


def test_a_region_cannot_move_inside_itself(desk: dict[str, Any], login_client: Login) -> None:
    # given
    client = login_client(desk["admin"])
    regions = {r["code"]: r for r in body_of(client.get(f"{BASE}/regions?limit=100"))["items"]}
    # when
    response = client.patch_json(
        f"{BASE}/regions/{regions['east-china']['id']}",
        {"parent_id": regions["shanghai"]["id"]},
    )
    # then
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["field"] == "parent"


# --- Team routing -----------------------------------------------------------------------------


def test_a_manager_configures_a_team(
    desk: dict[str, Any], login_client: Login, routed_team: RoutedTeam
) -> None:
    # given
    team, _agents = routed_team(["Li Lei"])
    # when
    response = login_client(desk["manager"]).patch_json(
        f"{BASE}/teams/{team.pk}",
        {"strategy": "least_loaded", "default_capacity": 5, "queue_mode": True},
    )
    # then
    assert response.status_code == 200, response.content
    body = body_of(response)
    assert (body["strategy"], body["default_capacity"], body["version"]) == ("least_loaded", 5, 2)
    assert response["ETag"] == 'W/"2"'
    assert TeamRouting.objects.get(team=team).queue_mode is True


def test_an_unknown_strategy_is_refused(
    desk: dict[str, Any], login_client: Login, routed_team: RoutedTeam
) -> None:
    # given
    team, _agents = routed_team(["Li Lei"])
    # when
    response = login_client(desk["manager"]).patch_json(
        f"{BASE}/teams/{team.pk}", {"strategy": "coin_flip"}
    )
    # then
    assert_problem(response, 422)
    assert TeamRouting.objects.filter(team=team).exists() is False


def test_a_stale_team_routing_edit_is_refused(
    desk: dict[str, Any], login_client: Login, routed_team: RoutedTeam
) -> None:
    # given
    team, _agents = routed_team(["Li Lei"], strategy="round_robin")
    # when
    response = login_client(desk["manager"]).patch_json(
        f"{BASE}/teams/{team.pk}", {"strategy": "least_loaded"}, HTTP_IF_MATCH='W/"1"'
    )
    # then
    assert_problem(response, 412)
    assert TeamRouting.objects.get(team=team).strategy == "round_robin"


def test_an_agent_reads_but_cannot_change_their_teams_routing(
    desk: dict[str, Any], login_client: Login
) -> None:
    # given
    client = login_client(desk["insider"])
    team = desk["team_a"]
    # when
    read = client.get(f"{BASE}/teams/{team.pk}")
    changed = client.patch_json(f"{BASE}/teams/{team.pk}", {"strategy": "round_robin"})
    # then
    assert body_of(read)["strategy"] == "manual"
    assert_problem(changed, 403)
    assert TeamRouting.objects.exists() is False
    assert OutboxEvent.objects.filter(topic__startswith="routing.").exists() is False


def test_another_teams_routing_is_not_found_for_an_agent(
    desk: dict[str, Any], login_client: Login
) -> None:
    # given
    client = login_client(desk["outsider"])
    # when
    read = client.get(f"{BASE}/teams/{desk['team_a'].pk}")
    listed = client.get(f"{BASE}/teams")
    # then
    assert_problem(read, 404)
    assert [t["team_id"] for t in body_of(listed)["items"]] == [desk["team_b"].pk]


# --- Agents -----------------------------------------------------------------------------------


def test_a_manager_gives_an_agent_skills_and_regions(
    desk: dict[str, Any], login_client: Login, skill: Callable[[str], Skill]
) -> None:
    # given
    skill("repair")
    agent = desk["insider"]
    # when
    response = login_client(desk["manager"]).patch_json(
        f"{BASE}/agents/{agent.pk}",
        {"skills": ["repair"], "regions": ["east-china"], "capacity": 4},
    )
    # then
    assert response.status_code == 200, response.content
    body = body_of(response)
    assert (body["skills"], body["regions"], body["capacity"]) == (["repair"], ["east-china"], 4)


def test_an_unknown_skill_on_a_profile_is_refused(
    desk: dict[str, Any], login_client: Login
) -> None:
    # when
    response = login_client(desk["manager"]).patch_json(
        f"{BASE}/agents/{desk['insider'].pk}", {"skills": ["telepathy"]}
    )
    # then
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["field"] == "skills"
    assert AgentProfile.objects.exists() is False


def test_an_agent_outside_the_team_does_not_see_its_agents(
    desk: dict[str, Any], login_client: Login
) -> None:
    # given
    client = login_client(desk["outsider"])
    # when
    read = client.get(f"{BASE}/agents/{desk['insider'].pk}")
    listed = client.get(f"{BASE}/agents")
    # then
    assert_problem(read, 404)
    assert [a["user_id"] for a in body_of(listed)["items"]] == [desk["outsider"].pk]


# --- Availability, queue, get next ------------------------------------------------------------


def test_an_agent_switches_their_availability(desk: dict[str, Any], login_client: Login) -> None:
    # given
    client = login_client(desk["insider"])
    # when
    response = client.put_json(f"{BASE}/me/availability", {"status": "away"})
    refused = client.put_json(f"{BASE}/me/availability", {"status": "asleep"})
    # then
    assert body_of(response)["availability"] == "away"
    assert_problem(refused, 422)
    assert AgentProfile.objects.get(user=desk["insider"]).availability == "away"


def test_anonymous_callers_are_refused(desk: dict[str, Any], api_client: JsonClient) -> None:
    # when
    response = api_client.put_json(f"{BASE}/me/availability", {"status": "away"})
    # then
    assert_problem(response, 401)
    assert AgentProfile.objects.exists() is False


def test_get_next_hands_the_first_queued_ticket_then_nothing(
    desk: dict[str, Any], login_client: Login, make_ticket: MakeTicket
) -> None:
    # given
    team = desk["team_a"]
    services.update_team_routing(actor=desk["admin"], team=team, changes={"queue_mode": True})
    queued = make_ticket(team=team, priority="high")
    client = login_client(desk["insider"])
    # when
    first = client.post_json(f"{BASE}/next")
    second = client.post_json(f"{BASE}/next")
    # then
    assert first.status_code == 200
    assert body_of(first)["id"] == queued.pk
    assert body_of(first)["assignee_id"] == desk["insider"].pk
    assert second.status_code == 204


def test_a_customer_cannot_get_next(
    desk: dict[str, Any], login_client: Login, make_ticket: MakeTicket
) -> None:
    # given
    services.update_team_routing(
        actor=desk["admin"], team=desk["team_a"], changes={"queue_mode": True}
    )
    queued = make_ticket()
    # when
    response = login_client(desk["contact_a"]).post_json(f"{BASE}/next")
    # then
    assert_problem(response, 403)
    queued.refresh_from_db()
    assert queued.assignee_id is None


def test_an_agent_sees_their_teams_queue_in_order(
    desk: dict[str, Any], login_client: Login, make_ticket: MakeTicket
) -> None:
    # given
    team = desk["team_a"]
    services.update_team_routing(actor=desk["admin"], team=team, changes={"queue_mode": True})
    normal = make_ticket(priority="normal")
    urgent = make_ticket(priority="urgent")
    # when
    response = login_client(desk["insider"]).get(f"{BASE}/teams/{team.pk}/queue")
    # then
    rows = body_of(response)
    assert [(r["position"], r["ticket_id"], r["priority"]) for r in rows] == [
        (1, urgent.pk, "urgent"),
        (2, normal.pk, "normal"),
    ]
    assert all(r["waiting_seconds"] >= 0 for r in rows)


def test_another_teams_queue_is_not_found(
    desk: dict[str, Any], login_client: Login, make_ticket: MakeTicket
) -> None:
    # given
    make_ticket()
    # when
    response = login_client(desk["outsider"]).get(f"{BASE}/teams/{desk['team_a'].pk}/queue")
    # then
    assert_problem(response, 404)


@pytest.mark.parametrize("waiting", [2, 5])
def test_the_queue_is_read_in_a_fixed_number_of_queries(
    desk: dict[str, Any],
    login_client: Login,
    make_ticket: MakeTicket,
    django_assert_num_queries: Any,
    waiting: int,
) -> None:
    # given
    team = desk["team_a"]
    services.update_team_routing(actor=desk["admin"], team=team, changes={"queue_mode": True})
    for _ in range(waiting):
        make_ticket()
    client = login_client(desk["insider"])
    # when
    with django_assert_num_queries(QUEUE_QUERIES):
        response = client.get(f"{BASE}/teams/{team.pk}/queue")
    # then
    assert len(body_of(response)) == waiting


# Session, user, grants, teams for the scope, the team, the queue page.
QUEUE_QUERIES = 6


def test_an_admin_sets_the_skills_a_ticket_type_needs(
    desk: dict[str, Any], login_client: Login, skill: Callable[[str], Skill]
) -> None:
    # given
    skill("repair")
    path = f"{BASE}/ticket-types/{desk['repair'].pk}/skills"
    client = login_client(desk["admin"])
    # when
    response = client.put_json(path, {"skills": ["repair"]})
    refused = client.put_json(path, {"skills": ["telepathy"]})
    # then
    assert body_of(response) == {"skills": ["repair"]}
    assert assert_problem(refused, 422)["errors"][0]["field"] == "skills"
    assert body_of(client.get(path)) == {"skills": ["repair"]}


def test_an_agent_at_my_teams_does_not_reach_a_types_skills(
    desk: dict[str, Any], login_client: Login, skill: Callable[[str], Skill]
) -> None:
    # given
    skill("repair")
    # when
    response = login_client(desk["insider"]).put_json(
        f"{BASE}/ticket-types/{desk['repair'].pk}/skills", {"skills": ["repair"]}
    )
    # then: ticket types are configuration of a business line, beyond "my teams"
    assert_problem(response, 404)
    assert TicketTypeSkill.objects.exists() is False


def test_plan_says_who_would_get_a_ticket_without_assigning_it(
    desk: dict[str, Any], login_client: Login, make_ticket: MakeTicket
) -> None:
    # given
    team = desk["team_a"]
    services.update_team_routing(
        actor=desk["admin"], team=team, changes={"strategy": "round_robin"}
    )
    ticket = make_ticket(team=None)
    # when
    response = login_client(desk["manager"]).get(
        f"{BASE}/teams/{team.pk}/plan/{ticket.pk}", HTTP_ACCEPT_LANGUAGE="en"
    )
    # then
    assert body_of(response) == {
        "team_id": team.pk,
        "assignee_id": desk["insider"].pk,
        "assignee": "insider",
        "strategy": "round_robin",
        "queued": False,
        "explanation": "round-robin → insider",
    }
    ticket.refresh_from_db()
    assert (ticket.team_id, ticket.assignee_id) == (None, None)


def test_plan_of_another_teams_ticket_is_not_found(
    desk: dict[str, Any], login_client: Login, make_ticket: MakeTicket
) -> None:
    # given
    ticket = make_ticket()
    # when
    response = login_client(desk["outsider"]).get(
        f"{BASE}/teams/{desk['team_b'].pk}/plan/{ticket.pk}"
    )
    # then
    assert_problem(response, 404)
