"""The demo organisation a newcomer logs in to."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate

from aftersales.accounts.models import BusinessLine, RoleGrant, Team, User
from aftersales.core import demo
from aftersales.customers.models import Customer
from aftersales.tickets import selectors
from aftersales.tickets.models import Ticket, TicketStatus, TicketType


@pytest.mark.django_db
def test_demo_gives_one_person_per_role_with_working_passwords() -> None:
    # when
    logins = demo.load_demo()
    # then
    assert [(login.username, login.role) for login in logins] == [
        ("admin", "admin"),
        ("manager", "service-manager"),
        ("agent1", "agent"),
        ("agent2", "agent"),
        ("engineer", "field-engineer"),
        ("warehouse", "warehouse-keeper"),
        ("customer", "customer contact"),
    ]
    for login in logins:
        assert authenticate(username=login.username, password=login.password) is not None
    grants = sorted(RoleGrant.objects.values_list("user__username", "role__key", "scope"))
    assert grants == [
        ("admin", "admin", "all"),
        ("agent1", "agent", "teams"),
        ("agent2", "agent", "teams"),
        ("engineer", "field-engineer", "own"),
        ("manager", "service-manager", "business_lines"),
        ("warehouse", "warehouse-keeper", "business_lines"),
    ]


@pytest.mark.django_db
def test_demo_configures_a_business_line_with_ticket_types_and_customers() -> None:
    # when
    demo.load_demo()
    # then
    line = BusinessLine.objects.get()
    assert line.code == "appliances"
    assert Team.objects.filter(business_line=line).count() == 4
    assert sorted(TicketType.objects.values_list("key", "number_prefix")) == [
        ("complaint", "CMP"),
        ("consultation", "ASK"),
        ("repair", "REP"),
    ]
    assert TicketStatus.objects.filter(ticket_type__key="repair").count() == 6
    contact = User.objects.get(username="customer")
    assert Customer.objects.get(portal_user=contact).custom_fields == {"contract": "basic"}
    assert Customer.objects.count() == 2


@pytest.mark.django_db
def test_demo_refuses_to_load_twice() -> None:
    # given
    demo.load_demo()
    # when / then
    with pytest.raises(RuntimeError, match="already loaded"):
        demo.load_demo()
    assert User.objects.filter(username="admin").count() == 1


@pytest.mark.django_db
def test_demo_tickets_show_the_repair_form_and_a_contact_sees_only_their_own() -> None:
    """The repair tickets carry the cascade field, sit in several statuses, and Mr Liu's
    portal login sees his two tickets with public replies only."""
    # when
    demo.load_demo()
    # then
    tickets = Ticket.objects.order_by("pk")
    assert [t.status.key for t in tickets] == ["open", "new", "pending_customer", "solved"]
    assert tickets[0].custom_fields["fault"] == ["washer", "e3"]
    contact = User.objects.get(username="customer")
    own = selectors.tickets_visible_to(contact).order_by("pk")
    assert [t.subject for t in own] == ["洗衣机显示 E3，不排水", "洗衣机脱水时噪音很大"]
    assert [c.is_public for c in selectors.comments_visible_to(contact, own[0])] == [True]


@pytest.mark.django_db
def test_demo_has_rules_that_act_on_new_tickets(django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    from aftersales.automation.models import Automation, Rule
    from aftersales.tickets import services as tickets

    # given
    demo.load_demo()
    admin = User.objects.get(username="admin")
    vip = Customer.objects.get(name="周经理 Manager Zhou")
    # when
    with django_capture_on_commit_callbacks(execute=True):
        ticket = tickets.create_ticket(
            actor=admin,
            ticket_type=TicketType.objects.get(key="repair"),
            requester=vip,
            subject="洗衣机漏水",
            custom_fields={"fault": ["washer", "e3"], "in_warranty": False},
        )
    # then
    assert Rule.objects.count() == 3  # and the low-rating rule of the surveys
    assert Automation.objects.count() == 1
    ticket.refresh_from_db()
    assert vip.tier.key == "vip"
    assert ticket.priority == Ticket.Priority.HIGH
    assert "VIP" in tickets.tags_of(ticket)
