"""The demo organisation a newcomer logs in to."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate

from aftersales.accounts.models import BusinessLine, RoleGrant, Team, User
from aftersales.core import demo
from aftersales.customers.models import Customer
from aftersales.tickets.models import TicketStatus, TicketType


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
