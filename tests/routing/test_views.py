"""The routing pages and controls: settings forms with errors next to the field, the queue
view, "Get next" in the inbox and the availability switch in the header, each scoped."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.utils import translation

from aftersales.accounts.models import User
from aftersales.routing import services
from aftersales.routing.models import AgentProfile, Skill, TeamRouting
from aftersales.tickets.models import Ticket
from tests.conftest import JsonClient

pytestmark = pytest.mark.django_db
MakeTicket = Callable[..., Ticket]
Login = Callable[[User], JsonClient]


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


@pytest.fixture
def queue_team(desk: dict[str, Any]) -> Any:
    services.update_team_routing(
        actor=desk["admin"], team=desk["team_a"], changes={"queue_mode": True}
    )
    return desk["team_a"]


def english(client: JsonClient) -> JsonClient:
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def test_the_inbox_shows_get_next_to_agents_of_a_queue_team(
    desk: dict[str, Any], login_client: Login, queue_team: Any
) -> None:
    # when
    insider = english(login_client(desk["insider"])).get("/tickets/")
    outsider = english(login_client(desk["outsider"])).get("/tickets/")
    # then
    assert 'data-testid="get-next"' in insider.content.decode()
    assert 'data-testid="get-next"' not in outsider.content.decode()


def test_get_next_opens_the_ticket_it_handed_out(
    desk: dict[str, Any], login_client: Login, queue_team: Any, make_ticket: MakeTicket
) -> None:
    # given
    ticket = make_ticket(priority="urgent")
    # when
    response = login_client(desk["insider"]).post("/routing/next/", {"next": "/tickets/"})
    # then
    assert response.status_code == 302
    assert response["Location"] == f"/tickets/{ticket.number}/"
    ticket.refresh_from_db()
    assert ticket.assignee_id == desk["insider"].pk


def test_get_next_with_an_empty_queue_goes_back_with_a_message(
    desk: dict[str, Any], login_client: Login, queue_team: Any
) -> None:
    # when
    response = english(login_client(desk["insider"])).post(
        "/routing/next/", {"next": "/tickets/"}, follow=True
    )
    # then
    assert "Nothing is waiting for you" in response.content.decode()


def test_the_header_switch_sets_the_agents_availability(
    desk: dict[str, Any], login_client: Login
) -> None:
    # given
    client = english(login_client(desk["insider"]))
    # when
    page = client.get("/tickets/")
    response = client.post("/routing/availability/", {"status": "away", "next": "/tickets/"})
    # then
    assert 'data-testid="availability"' in page.content.decode()
    assert response.status_code == 302
    assert AgentProfile.objects.get(user=desk["insider"]).availability == "away"


def test_the_queue_page_lists_waiting_tickets_in_order(
    desk: dict[str, Any], login_client: Login, queue_team: Any, make_ticket: MakeTicket
) -> None:
    # given
    normal = make_ticket(priority="normal")
    urgent = make_ticket(priority="urgent")
    # when
    response = english(login_client(desk["insider"])).get(f"/routing/queues/{queue_team.pk}/")
    # then
    html = response.content.decode()
    assert response.status_code == 200
    assert html.index(urgent.number) < html.index(normal.number)


def test_another_teams_queue_page_is_not_found(
    desk: dict[str, Any], login_client: Login, queue_team: Any
) -> None:
    # when
    response = login_client(desk["outsider"]).get(f"/routing/queues/{queue_team.pk}/")
    # then
    assert response.status_code == 404


def test_a_manager_sets_a_teams_strategy(desk: dict[str, Any], login_client: Login) -> None:
    # given
    team = desk["team_a"]
    # when
    response = login_client(desk["manager"]).post(
        f"/routing/settings/teams/{team.pk}/",
        {"strategy": "round_robin", "default_capacity": "3", "version": "1"},
    )
    # then
    assert response.status_code == 302
    routing = TeamRouting.objects.get(team=team)
    assert (routing.strategy, routing.default_capacity, routing.version) == ("round_robin", 3, 2)


def test_region_matching_without_a_field_is_shown_next_to_the_field(
    desk: dict[str, Any], login_client: Login
) -> None:
    # when
    response = english(login_client(desk["manager"])).post(
        f"/routing/settings/teams/{desk['team_a'].pk}/",
        {"strategy": "round_robin", "use_region": "on", "version": "1"},
    )
    # then
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["region_field"] == [
        "Name the ticket field that holds the location to match regions."
    ]
    assert TeamRouting.objects.exists() is False


def test_an_agent_cannot_change_their_teams_routing(
    desk: dict[str, Any], login_client: Login
) -> None:
    # when
    response = english(login_client(desk["insider"])).post(
        f"/routing/settings/teams/{desk['team_a'].pk}/",
        {"strategy": "round_robin", "version": "1"},
    )
    # then
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == ["You do not have permission to do this."]
    assert TeamRouting.objects.exists() is False


def test_another_teams_routing_page_is_not_found(desk: dict[str, Any], login_client: Login) -> None:
    # when
    response = login_client(desk["outsider"]).get(f"/routing/settings/teams/{desk['team_a'].pk}/")
    # then
    assert response.status_code == 404


def test_an_admin_adds_a_skill_and_a_duplicate_is_refused_at_the_field(
    desk: dict[str, Any], login_client: Login
) -> None:
    # given
    client = english(login_client(desk["admin"]))
    body = {"key": "payment", "name_zh": "支付", "name_en": "Payments", "is_active": "on"}
    # when
    created = client.post("/routing/settings/skills/", body)
    duplicate = client.post("/routing/settings/skills/", body)
    # then
    assert created.status_code == 302
    assert duplicate.context["form"].errors["key"] == ["A skill with this key exists."]
    assert Skill.objects.count() == 1


def test_the_region_tree_page_lists_the_seeded_regions(
    desk: dict[str, Any], login_client: Login
) -> None:
    # when
    response = english(login_client(desk["admin"])).get("/routing/settings/regions/")
    # then
    html = response.content.decode()
    assert html.index("east-china") < html.index("shanghai") < html.index("north-china")


def test_a_manager_edits_an_agents_profile(desk: dict[str, Any], login_client: Login) -> None:
    # given
    agent = desk["insider"]
    repair = services.create_skill(
        actor=desk["admin"], key="repair", name_zh="维修", name_en="Repair"
    )
    # when
    response = login_client(desk["manager"]).post(
        f"/routing/settings/agents/{agent.pk}/",
        {"availability": "on_leave", "capacity": "2", "skills": [str(repair.pk)], "version": "1"},
    )
    # then
    assert response.status_code == 302
    profile = AgentProfile.objects.get(user=agent)
    assert (profile.availability, profile.capacity) == ("on_leave", 2)
    assert list(profile.skills.values_list("key", flat=True)) == ["repair"]


def test_an_admin_moves_a_region_and_a_loop_is_refused_at_the_field(
    desk: dict[str, Any], login_client: Login
) -> None:
    # given
    from aftersales.routing.models import Region

    client = english(login_client(desk["admin"]))
    east, shanghai = Region.objects.get(code="east-china"), Region.objects.get(code="shanghai")
    jiangsu = Region.objects.get(code="jiangsu")
    north = Region.objects.get(code="north-china")
    # when
    moved = client.post(
        f"/routing/settings/regions/{shanghai.pk}/",
        {"name_zh": "上海", "name_en": "Shanghai", "parent": str(north.pk)},
    )
    looped = client.post(
        f"/routing/settings/regions/{east.pk}/",
        {"name_zh": "华东", "name_en": "East China", "parent": str(jiangsu.pk)},
    )
    # then
    assert moved.status_code == 302
    assert Region.objects.get(code="shanghai").parent_id == north.pk
    assert looped.context["form"].errors["parent"] == [
        "A region cannot lie inside itself, and the tree is at most 6 levels deep."
    ]
    assert Region.objects.get(code="east-china").parent_id is None
