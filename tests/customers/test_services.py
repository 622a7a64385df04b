"""Use cases of customers: identities stay unique, merges keep history, scopes hold."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.utils import translation

from aftersales.audit.models import AuditEntry
from aftersales.core.errors import DomainError, NotFound, PermissionDenied
from aftersales.customers import selectors, services
from aftersales.customers.models import Customer, CustomerIdentity, CustomerNote, CustomerTier
from aftersales.outbox.models import OutboxEvent
from tests.customers.conftest import customer_state


def test_seeded_tiers_are_vip_and_the_default_normal(db: None) -> None:
    # given / when
    tiers = list(CustomerTier.objects.values_list("key", "rank", "is_default"))
    # then
    assert tiers == [("vip", 100, False), ("normal", 0, True)]


def test_customer_takes_the_organisation_tier_or_the_default(
    make_organisation: Callable[..., Any], make_customer: Callable[..., Any]
) -> None:
    # given
    vip = CustomerTier.objects.get(key="vip")
    organisation = make_organisation(tier=vip)
    # when
    member = make_customer(organisation=organisation, business_line=organisation.business_line)
    loner = make_customer()
    # then
    assert member.tier.key == "vip"
    assert loner.tier.key == "normal"


def test_created_customer_stores_normalised_identities_and_is_audited(
    world: dict[str, Any], make_customer: Callable[..., Any]
) -> None:
    # given / when
    customer = make_customer(
        name="Li Wei",
        team=world["team_a"],
        identities=[("phone", "138 1234 5678"), ("email", "Li.Wei@Example.com")],
    )
    # then
    assert list(customer.identities.values_list("kind", "value")) == [
        ("email", "li.wei@example.com"),
        ("phone", "+8613812345678"),
    ]
    entry = AuditEntry.objects.get(object_type="customers.customer", object_id=str(customer.pk))
    assert entry.action == "created"
    assert entry.after["identities"] == ["phone:+8613812345678", "email:li.wei@example.com"]
    assert list(
        OutboxEvent.objects.filter(
            object_type="customers.customer", object_id=str(customer.pk)
        ).values_list("topic", flat=True)
    ) == ["customer.created"]


def test_second_customer_with_the_same_phone_is_refused_naming_the_holder(
    world: dict[str, Any], make_customer: Callable[..., Any]
) -> None:
    # given
    holder = make_customer(
        name="Li Wei", team=world["team_a"], identities=[("phone", "13812345678")]
    )
    other = make_customer(name="Wang Fang", team=world["team_a"])
    before = customer_state()
    # when
    with pytest.raises(DomainError) as caught:
        services.add_identity(
            actor=world["insider"], customer=other, kind="phone", value="+86 138-1234-5678"
        )
    # then
    assert caught.value.code == "identity_taken"
    assert caught.value.field == "value"
    with translation.override("en"):
        assert caught.value.detail() == (
            f"Phone +8613812345678 already belongs to customer Li Wei (#{holder.pk})."
        )
    assert customer_state() == before


def test_duplicate_identity_does_not_name_a_holder_the_actor_cannot_see(
    world: dict[str, Any], make_customer: Callable[..., Any]
) -> None:
    # given
    make_customer(name="Secret", team=world["team_b"], identities=[("email", "a@example.com")])
    mine = make_customer(name="Mine", team=world["team_a"])
    before = customer_state()
    # when
    with pytest.raises(DomainError) as caught:
        services.add_identity(
            actor=world["insider"], customer=mine, kind="email", value="A@example.com"
        )
    # then
    with translation.override("en"):
        assert caught.value.detail() == "E-mail a@example.com already belongs to another customer."
    assert customer_state() == before


def test_deactivating_a_customer_frees_its_identities(
    world: dict[str, Any], make_customer: Callable[..., Any]
) -> None:
    # given
    old = make_customer(team=world["team_a"], identities=[("phone", "13812345678")])
    services.update_customer(actor=world["admin"], customer=old, changes={"is_active": False})
    # when
    new = make_customer(team=world["team_a"], identities=[("phone", "13812345678")])
    # then
    assert services.find_customer_by_identity("phone", "138 1234 5678") == new
    with pytest.raises(DomainError) as caught:
        services.update_customer(actor=world["admin"], customer=old, changes={"is_active": True})
    assert caught.value.code == "identity_taken"
    old.refresh_from_db()
    assert old.is_active is False


def test_find_customer_by_identity_normalises_and_ignores_invalid_values(
    make_customer: Callable[..., Any],
) -> None:
    # given
    customer = make_customer(identities=[("wechat_openid", "oABC123456")])
    # when / then
    assert services.find_customer_by_identity("wechat_openid", " oABC123456 ") == customer
    assert services.find_customer_by_identity("wechat_openid", "oabc123456") is None
    assert services.find_customer_by_identity("phone", "not a phone") is None


def test_agent_cannot_create_a_customer_outside_their_reach(world: dict[str, Any]) -> None:
    # given
    before = customer_state()
    # when
    with pytest.raises(PermissionDenied) as caught:
        services.create_customer(
            actor=world["insider"],
            name="Stray",
            business_line=world["line_b"],
            team=world["team_b"],
        )
    # then
    assert caught.value.code == "outside_scope"
    assert customer_state() == before


def test_agent_cannot_move_a_customer_out_of_their_reach(
    world: dict[str, Any], make_customer: Callable[..., Any]
) -> None:
    # given
    customer = make_customer(team=world["team_a"])
    before = customer_state()
    # when
    with pytest.raises(PermissionDenied):
        services.update_customer(actor=world["insider"], customer=customer, changes={"team": None})
    # then
    assert customer_state() == before


def test_stale_version_is_refused(world: dict[str, Any], make_customer: Callable[..., Any]) -> None:
    # given
    customer = make_customer(team=world["team_a"])
    services.update_customer(actor=world["insider"], customer=customer, changes={"name": "New"})
    before = customer_state()
    # when
    with pytest.raises(DomainError) as caught:
        services.update_customer(
            actor=world["insider"], customer=customer, changes={"name": "Newer"}, expected_version=1
        )
    # then
    assert caught.value.code == "version_mismatch"
    assert customer_state() == before


def test_notes_are_append_only(world: dict[str, Any], make_customer: Callable[..., Any]) -> None:
    # given
    customer = make_customer(team=world["team_a"])
    note = services.add_note(actor=world["insider"], customer=customer, body="Prefers calls")
    # when
    note.body = "rewritten"
    with pytest.raises(PermissionError):
        note.save()
    # then
    assert CustomerNote.objects.get(pk=note.pk).body == "Prefers calls"
    assert note.author == world["insider"]


# --- Merge -------------------------------------------------------------------------------------


@pytest.fixture
def twins(world: dict[str, Any], make_customer: Callable[..., Any]) -> dict[str, Any]:
    survivor = make_customer(
        name="Li Wei",
        team=world["team_a"],
        tags=["vip", "beijing"],
        identities=[("phone", "13812345678")],
    )
    merged = make_customer(
        name="Wei Li",
        team=world["team_a"],
        tags=["beijing", "wechat"],
        identities=[("email", "li@example.com"), ("wechat_openid", "oLIWEI0001")],
    )
    services.add_note(actor=world["admin"], customer=merged, body="Called twice")
    return {"survivor": survivor, "merged": merged}


def test_merge_moves_identities_and_notes_unions_tags_and_keeps_the_merged_row(
    world: dict[str, Any], twins: dict[str, Any]
) -> None:
    # given
    survivor, merged = twins["survivor"], twins["merged"]
    # when
    result = services.merge_customers(actor=world["admin"], survivor=survivor, merged=merged)
    # then
    survivor.refresh_from_db()
    merged.refresh_from_db()
    assert sorted(survivor.identities.values_list("kind", "value")) == [
        ("email", "li@example.com"),
        ("phone", "+8613812345678"),
        ("wechat_openid", "oLIWEI0001"),
    ]
    assert list(survivor.customer_notes.values_list("body", flat=True)) == ["Called twice"]
    assert survivor.tags == ["vip", "beijing", "wechat"]
    assert merged.merged_into == survivor
    assert merged.is_active is False
    assert result.notes_moved == 1
    assert result.identities_moved == ["email:li@example.com", "wechat_openid:oLIWEI0001"]
    assert services.find_customer_by_identity("email", "li@example.com") == survivor
    entries = AuditEntry.objects.filter(verb__in=["merged", "merged_into"]).order_by("pk")
    assert [(e.object_id, e.verb) for e in entries] == [
        (str(survivor.pk), "merged"),
        (str(merged.pk), "merged_into"),
    ]
    event = OutboxEvent.objects.get(topic="customer.merged")
    assert event.payload == {"survivor_id": survivor.pk, "merged_id": merged.pk}


@pytest.mark.parametrize("case", ["_case_itself", "_case_already_merged"])
def test_merge_refuses_itself_and_already_merged_customers(
    world: dict[str, Any], twins: dict[str, Any], make_customer: Callable[..., Any], case: str
) -> None:
    # given
    survivor, merged = twins["survivor"], twins["merged"]
    if case == "_case_already_merged":
        third = make_customer(team=world["team_a"])
        services.merge_customers(actor=world["admin"], survivor=third, merged=merged)
        merged.refresh_from_db()
    else:
        merged = survivor
    before = customer_state()
    # when
    with pytest.raises(DomainError) as caught:
        services.merge_customers(actor=world["admin"], survivor=survivor, merged=merged)
    # then
    expected = {"_case_itself": "merge_into_itself", "_case_already_merged": "customer_merged"}
    assert caught.value.code == expected[case]
    assert customer_state() == before


def test_merge_needs_the_merge_permission(world: dict[str, Any], twins: dict[str, Any]) -> None:
    # given
    before = customer_state()
    # when
    with pytest.raises(PermissionDenied):
        services.merge_customers(
            actor=world["insider"], survivor=twins["survivor"], merged=twins["merged"]
        )
    # then
    assert customer_state() == before


def test_merge_across_lines_needs_both_lines(
    world: dict[str, Any],
    admin_user: Any,
    make_user: Callable[..., Any],
    make_customer: Callable[..., Any],
) -> None:
    # given: a manager allowed to merge in line A only, owning one customer in line B
    from aftersales.accounts import services as accounts

    role = accounts.create_role(
        actor=admin_user,
        key="merger",
        name="Merger",
        permissions=["customers.view_customer", "customers.merge_customer"],
    )
    merger = make_user("merger", lines=[world["line_a"]])
    accounts.grant_role(actor=admin_user, user=merger, role=role, scope="business_lines")
    in_a = make_customer(business_line=world["line_a"])
    in_b = make_customer(business_line=world["line_b"], owner=merger)
    outside = make_customer(business_line=world["line_b"])
    before = customer_state()
    # when / then
    with pytest.raises(PermissionDenied) as caught:
        services.merge_customers(actor=merger, survivor=in_a, merged=in_b)
    assert caught.value.code == "merge_across_lines"
    with pytest.raises(NotFound):
        services.merge_customers(actor=merger, survivor=in_a, merged=outside)
    assert customer_state() == before


# --- Portal contacts ---------------------------------------------------------------------------


def test_contact_sees_only_their_own_customer_or_their_organisation(
    world: dict[str, Any],
    make_user: Callable[..., Any],
    make_organisation: Callable[..., Any],
    make_customer: Callable[..., Any],
) -> None:
    # given
    acme = make_organisation(business_line=world["line_a"])
    colleague_login = make_user("colleague", kind="customer")
    boss_login = make_user("boss", kind="customer")
    boss_login.can_see_organisation = True
    boss_login.save(update_fields=["can_see_organisation"])
    me = make_customer(
        business_line=world["line_a"], organisation=acme, portal_user=world["contact"]
    )
    colleague = make_customer(
        business_line=world["line_a"], organisation=acme, portal_user=colleague_login
    )
    boss = make_customer(business_line=world["line_a"], organisation=acme, portal_user=boss_login)
    make_customer(business_line=world["line_a"])
    # when / then
    assert list(selectors.customers_visible_to_contact(world["contact"])) == [me]
    assert list(selectors.customers_visible_to_contact(colleague_login)) == [colleague]
    assert sorted(c.pk for c in selectors.customers_visible_to_contact(boss_login)) == sorted(
        [me.pk, colleague.pk, boss.pk]
    )
    assert list(selectors.organisations_visible_to_contact(boss_login)) == [acme]
    assert list(selectors.organisations_visible_to_contact(world["contact"])) == []
    assert list(selectors.customers_visible_to_contact(world["insider"])) == []
    assert list(selectors.customers_visible_to(world["contact"])) == []


def test_only_one_tier_is_default_and_it_cannot_be_deleted(world: dict[str, Any]) -> None:
    # given
    gold = services.create_tier(
        actor=world["admin"], key="gold", name_zh="金牌", name_en="Gold", rank=50, is_default=True
    )
    # when / then
    assert list(CustomerTier.objects.filter(is_default=True)) == [gold]
    with pytest.raises(DomainError) as caught:
        services.delete_tier(actor=world["admin"], tier=gold)
    assert caught.value.code == "default_required"
    with pytest.raises(PermissionDenied):
        services.create_tier(actor=world["insider"], key="x", name_zh="x", name_en="x")
    assert CustomerTier.objects.count() == 3


def test_customer_model_count_is_untouched_by_denied_creation(world: dict[str, Any]) -> None:
    # given / when
    with pytest.raises(PermissionDenied):
        services.create_customer(actor=world["contact"], name="Me", business_line=world["line_a"])
    # then
    assert Customer.objects.count() == 0
    assert CustomerIdentity.objects.count() == 0
