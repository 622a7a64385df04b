"""Ticket filters: the allowlist refuses what it does not know; each filter narrows correctly,
custom fields included, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aftersales.accounts import services as accounts
from aftersales.accounts.models import User
from aftersales.core.errors import DomainError
from aftersales.customfields import services as customfields
from aftersales.tickets import filtering, selectors, services
from aftersales.tickets.models import Ticket, TicketType, form_key_of

MakeTicket = Callable[..., Ticket]


def _numbers(viewer: Any, raw: dict[str, Any]) -> list[str]:
    filters = filtering.clean_filters(raw)
    queryset = filtering.apply_filters(selectors.tickets_visible_to(viewer), filters, viewer)
    return sorted(queryset.values_list("number", flat=True))


@pytest.mark.parametrize(
    ("_case", "raw", "field"),
    [
        ("unknown key", {"password": "x"}, "password"),
        ("bad id", {"team": ["abc"]}, "team"),
        ("bad category", {"status_category": ["sleeping"]}, "status_category"),
        ("unknown custom field", {"cf.colour": ["red"]}, "cf.colour"),
        ("bad date", {"created_after": ["yesterday"]}, "created_after"),
        ("bad rating", {"satisfaction": ["11"]}, "satisfaction"),
    ],
)
def test_filters_outside_the_allowlist_are_refused_with_the_key(
    db: None, _case: str, raw: dict[str, Any], field: str
) -> None:
    with pytest.raises(DomainError) as refused:
        filtering.clean_filters(raw)
    assert refused.value.field == field


def test_built_in_views_narrow_to_what_they_say(
    desk: dict[str, Any], make_ticket: MakeTicket
) -> None:
    """Mine, my teams' unassigned, and a custom-field filter, seen by the insider."""
    insider = desk["insider"]
    mine = make_ticket(assignee=insider)
    unassigned = make_ticket()
    make_ticket(team=None)  # no team: not in "my teams"
    views = filtering.BUILT_IN_BY_KEY
    assert _numbers(insider, views["mine"].filters) == [mine.number]
    assert _numbers(insider, views["unassigned"].filters) == [unassigned.number]
    assert _numbers(insider, views["my_teams"].filters) == sorted([mine.number, unassigned.number])


def test_custom_field_filters_match_single_and_list_values(
    desk: dict[str, Any], make_ticket: MakeTicket
) -> None:
    """cf.resolution_code=fixed finds single-choice values; cf.parts=pump finds list members."""
    customfields.create_definition(
        actor=desk["admin"],
        target="tickets.ticket",
        subtarget=form_key_of(desk["repair"].pk),
        key="parts",
        field_type="multi_choice",
        label_zh="配件",
        label_en="Parts",
        config={"options": [{"key": "pump"}, {"key": "belt"}, {"key": "door"}]},
    )
    fixed = make_ticket(custom_fields={"resolution_code": "fixed", "parts": ["pump", "belt"]})
    replaced = make_ticket(custom_fields={"resolution_code": "replaced", "parts": ["door"]})
    manager = desk["manager"]
    assert _numbers(manager, {"cf.resolution_code": ["fixed"]}) == [fixed.number]
    assert _numbers(manager, {"cf.parts": ["door"]}) == [replaced.number]
    assert _numbers(manager, {"cf.parts": ["belt", "door"]}) == sorted(
        [fixed.number, replaced.number]
    )


def test_tag_tier_priority_and_text_filters(desk: dict[str, Any], make_ticket: MakeTicket) -> None:
    urgent = make_ticket(priority="urgent", tags=["漏水"], subject="E3 错误 不排水")
    make_ticket(priority="low", tags=["噪音"])
    manager = desk["manager"]
    assert _numbers(manager, {"priority": ["urgent"]}) == [urgent.number]
    assert _numbers(manager, {"tag": ["漏水"]}) == [urgent.number]
    assert _numbers(manager, {"q": "不排水"}) == [urgent.number]
    assert _numbers(manager, {"q": urgent.number.lower()}) == [urgent.number]
    assert len(_numbers(manager, {"tier": [desk["alice"].tier.key]})) == 2


def test_satisfaction_filter_finds_the_low_ratings(
    desk: dict[str, Any], make_ticket: MakeTicket
) -> None:
    unhappy = make_ticket()
    happy = make_ticket()
    make_ticket()  # not rated
    Ticket.objects.filter(pk=unhappy.pk).update(satisfaction=1)
    Ticket.objects.filter(pk=happy.pk).update(satisfaction=5)
    assert _numbers(desk["manager"], {"satisfaction": ["1", "2"]}) == [unhappy.number]


def test_filters_never_widen_the_scope(desk: dict[str, Any], make_ticket: MakeTicket) -> None:
    """Team B's agent asking for team A's tickets by id sees none."""
    make_ticket()
    outsider = desk["outsider"]
    assert _numbers(outsider, {"team": [str(desk["team_a"].pk)]}) == []


def test_a_capped_count_says_when_there_are_more(
    desk: dict[str, Any], make_ticket: MakeTicket
) -> None:
    for _ in range(3):
        make_ticket()
    assert filtering.capped_count(Ticket.objects.all(), cap=2) == (2, True)
    assert filtering.capped_count(Ticket.objects.all(), cap=3) == (3, False)
    services.take_ticket(actor=desk["insider"], ticket=Ticket.objects.first())  # type: ignore[arg-type]
    assert filtering.capped_count(Ticket.objects.filter(assignee__isnull=False)) == (1, False)


def test_a_key_stored_as_a_value_in_one_type_and_a_list_in_another_is_found_in_both(
    desk: dict[str, Any], make_ticket: MakeTicket, make_type: Callable[..., TicketType]
) -> None:
    """The condition asks for the shapes the key's definitions store, all of them."""
    # given
    install = make_type(line=desk["line_a"], key="install")
    customfields.create_definition(
        actor=desk["admin"],
        target="tickets.ticket",
        subtarget=form_key_of(install.pk),
        key="resolution_code",
        field_type="multi_choice",
        label_en="Resolution codes",
        config={"options": [{"key": "fixed"}, {"key": "moved"}]},
    )
    single = make_ticket(custom_fields={"resolution_code": "fixed"})
    listed = make_ticket(ticket_type=install, custom_fields={"resolution_code": ["fixed"]})
    make_ticket(ticket_type=install, custom_fields={"resolution_code": ["moved"]})
    # when
    cleaned = filtering.clean_filters({"cf.resolution_code": ["fixed"]})
    # then
    values = cleaned["cf.resolution_code"]
    assert (list(values), values.lists, values.scalars) == (["fixed"], True, True)
    assert _numbers(desk["manager"], {"cf.resolution_code": ["fixed"]}) == sorted(
        [single.number, listed.number]
    )


def test_a_single_value_field_is_asked_for_as_a_single_value(
    db: None, desk: dict[str, Any]
) -> None:
    # when
    values = filtering.clean_filters({"cf.resolution_code": ["fixed"]})["cf.resolution_code"]
    # then
    assert (list(values), values.lists, values.scalars) == (["fixed"], False, True)


def test_a_view_inside_the_scope_drops_the_scope_condition_and_keeps_the_rows(
    desk: dict[str, Any], make_ticket: MakeTicket
) -> None:
    """My teams' tickets for a "my teams" agent need no "assignee or creator or team" test;
    PostgreSQL would only misjudge the rows with it."""
    # given
    insider = desk["insider"]
    in_team = make_ticket()
    make_ticket(team=None, assignee=None)
    views = filtering.BUILT_IN_BY_KEY
    # when
    filters = filtering.clean_filters(views["my_teams"].filters)
    queryset = filtering.apply_filters(selectors.tickets_visible_to(insider), filters, insider)
    # then
    assert "created_by_id" not in str(queryset.query).split(" WHERE ")[1]
    assert list(queryset.values_list("number", flat=True)) == [in_team.number]


def test_a_view_wider_than_an_own_scope_keeps_the_scope_condition(
    desk: dict[str, Any], make_ticket: MakeTicket, make_user: Callable[..., User]
) -> None:
    """An agent who sees only their own tickets asks for their team's: they get their own."""
    # given
    loner = make_user("loner", role="agent", scope="own", teams=[desk["team_a"]])
    own = make_ticket(assignee=loner)
    make_ticket()
    # when
    numbers = _numbers(loner, filtering.BUILT_IN_BY_KEY["my_teams"].filters)
    # then
    assert numbers == [own.number]


def test_a_narrower_condition_for_another_permission_is_kept(
    desk: dict[str, Any], make_ticket: MakeTicket, make_user: Callable[..., User]
) -> None:
    """Exporting at "own" while viewing at "my teams": my teams' tickets to export are still
    only the agent's own; only the viewing condition could have been left out."""
    # given
    exporter = accounts.create_role(
        actor=desk["admin"], key="exporter", name="Exporter", permissions=["tickets.export_ticket"]
    )
    agent = make_user("exporting-agent", role="agent", scope="teams", teams=[desk["team_a"]])
    accounts.grant_role(actor=desk["admin"], user=agent, role=exporter, scope="own")
    own = make_ticket(assignee=agent)
    make_ticket()
    filters = filtering.clean_filters(filtering.BUILT_IN_BY_KEY["my_teams"].filters)
    # when
    visible = selectors.tickets_visible_to(agent, "tickets.export_ticket")
    numbers = list(
        filtering.apply_filters(visible, filters, agent).values_list("number", flat=True)
    )
    # then
    assert numbers == [own.number]
