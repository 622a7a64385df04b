"""``/api/v1/conditions``: the catalog and checking a condition, with permission and scope."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aftersales.accounts import services as accounts
from aftersales.accounts.models import Role, User
from aftersales.tickets.models import Ticket
from tests.conftest import JsonClient

CHECK = "/api/v1/conditions/check"
CATALOG = "/api/v1/conditions/catalog"

VIP_PAYMENT = {
    "all": [
        {"field": "customer.tier", "op": "is", "value": "vip"},
        {
            "any": [
                {"field": "ticket.cf.fault", "op": "is", "value": "payment_failed"},
                {"field": "ticket.subject", "op": "contains_any_words", "value": ["支付", "付款"]},
            ]
        },
    ]
}


@pytest.fixture
def tryer(helpdesk: dict[str, Any], make_user: Callable[..., User]) -> User:
    """A staff member who may try conditions on the tickets of line A only."""
    role = accounts.create_role(
        actor=helpdesk["admin"],
        key="rule-designer",
        name="Rule designer",
        permissions=["conditions.try_condition", "tickets.view_ticket"],
    )
    user = make_user("designer", lines=[helpdesk["line_a"]])
    accounts.grant_role(actor=helpdesk["admin"], user=user, role=role, scope="business_lines")
    return User.objects.get(pk=user.pk)


@pytest.fixture
def vip_ticket(helpdesk: dict[str, Any], make_ticket: Callable[..., Ticket]) -> Ticket:
    return make_ticket(requester=helpdesk["carol"], subject="扫码付款失败")


def test_check_compiles_and_explains_on_a_ticket(
    helpdesk: dict[str, Any], login_client: Callable[[User], JsonClient], vip_ticket: Ticket
) -> None:
    client = login_client(helpdesk["admin"])

    response = client.post_json(
        CHECK, {"tree": VIP_PAYMENT, "ticket_id": vip_ticket.pk}, HTTP_ACCEPT_LANGUAGE="en"
    )

    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is True
    assert body["matched"] is True
    assert body["errors"] == []
    assert body["cel"].startswith('(customer.tier == "vip" && (')
    assert [(leaf["path"], leaf["matched"]) for leaf in body["leaves"]] == [
        ("condition.all.0", True),
        ("condition.all.1.any.0", False),
        ("condition.all.1.any.1", True),
    ]
    assert body["leaves"][0]["actual"] in {"VIP", "VIP客户"}


def test_check_reports_every_error_with_its_path(
    helpdesk: dict[str, Any], login_client: Callable[[User], JsonClient]
) -> None:
    client = login_client(helpdesk["admin"])
    tree = {
        "all": [
            {"field": "customer.tier", "op": "is", "value": "platinum"},
            {"field": "ticket.cf.fault", "op": "is", "value": "payment_failed"},
            {"field": "ticket.nope", "op": "is", "value": 1},
        ]
    }

    response = client.post_json(CHECK, {"tree": tree, "business_line": helpdesk["line_a"].pk})

    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is False
    assert body["cel"] == ""
    assert [(error["field"], error["code"]) for error in body["errors"]] == [
        ("condition.all.0.value", "unknown_option"),
        ("condition.all.2.field", "unknown_field"),
    ]
    assert "platinum" in body["errors"][0]["detail"]


def test_a_ticket_outside_the_scope_is_not_found(
    helpdesk: dict[str, Any],
    login_client: Callable[[User], JsonClient],
    tryer: User,
    make_ticket: Callable[..., Ticket],
) -> None:
    west = make_ticket(
        ticket_type=_west_type(helpdesk), requester=_west_customer(helpdesk), team=None
    )
    client = login_client(tryer)

    response = client.post_json(CHECK, {"tree": VIP_PAYMENT, "ticket_id": west.pk})

    assert response.status_code == 404
    assert "leaves" not in response.json()


def test_a_ticket_inside_the_scope_is_explained(
    login_client: Callable[[User], JsonClient], tryer: User, vip_ticket: Ticket
) -> None:
    response = login_client(tryer).post_json(
        CHECK, {"tree": VIP_PAYMENT, "ticket_id": vip_ticket.pk}
    )

    assert response.status_code == 200
    assert response.json()["matched"] is True


def test_a_catalog_of_a_line_outside_the_scope_is_not_found(
    helpdesk: dict[str, Any], login_client: Callable[[User], JsonClient], tryer: User
) -> None:
    client = login_client(tryer)

    assert client.get(CATALOG, {"business_line": helpdesk["line_b"].pk}).status_code == 404
    assert client.get(CATALOG, {"business_line": helpdesk["line_a"].pk}).status_code == 200


@pytest.mark.parametrize("who", ["anonymous", "customer", "agent"])
def test_without_the_permission_nothing_is_checked(
    helpdesk: dict[str, Any],
    login_client: Callable[[User], JsonClient],
    api_client: JsonClient,
    vip_ticket: Ticket,
    who: str,
) -> None:
    """The agent sees the ticket but may not try conditions: 403; anonymous: 401."""
    client = {
        "anonymous": lambda: api_client,
        "customer": lambda: login_client(helpdesk["contact_a"]),
        "agent": lambda: login_client(helpdesk["insider"]),
    }[who]()

    check = client.post_json(CHECK, {"tree": VIP_PAYMENT, "ticket_id": vip_ticket.pk})
    catalog = client.get(CATALOG)

    expected = {"anonymous": 401, "customer": 403, "agent": 403}[who]
    assert (check.status_code, catalog.status_code) == (expected, expected)
    assert "leaves" not in check.json()


def test_the_catalog_lists_fields_operators_and_options_in_the_request_language(
    helpdesk: dict[str, Any], login_client: Callable[[User], JsonClient]
) -> None:
    client = login_client(helpdesk["admin"])

    english = client.get(
        CATALOG, {"business_line": helpdesk["line_a"].pk}, HTTP_ACCEPT_LANGUAGE="en"
    ).json()
    chinese = client.get(
        CATALOG, {"business_line": helpdesk["line_a"].pk}, HTTP_ACCEPT_LANGUAGE="zh-hans"
    ).json()

    fields = {field["key"]: field for field in english["fields"]}
    fault = fields["ticket.cf.fault"]
    assert fault["label"] == "Fault"
    assert fault["value_type"] == "choice"
    assert [option["value"] for option in fault["options"]] == [
        "payment_failed",
        "no_power",
        "other",
    ]
    assert fault["options"][0]["label"] == "Payment failed"
    assert [op["key"] for op in fault["operators"]][:4] == ["is", "is_not", "in", "not_in"]
    assert "ticket.cf.resolution_code" in fields
    chinese_fault = next(f for f in chinese["fields"] if f["key"] == "ticket.cf.fault")
    assert chinese_fault["label"] == "故障"
    assert chinese_fault["options"][0]["label"] == "支付失败"


def test_the_catalog_of_a_line_has_only_its_custom_fields(
    helpdesk: dict[str, Any], login_client: Callable[[User], JsonClient]
) -> None:
    client = login_client(helpdesk["admin"])

    body = client.get(CATALOG, {"business_line": helpdesk["line_b"].pk}).json()

    keys = {field["key"] for field in body["fields"]}
    assert "ticket.priority" in keys
    assert "ticket.cf.fault" not in keys


def _west_type(helpdesk: dict[str, Any]) -> Any:
    from aftersales.tickets import services

    return services.create_ticket_type(
        actor=helpdesk["admin"],
        business_line=helpdesk["line_b"],
        key="west-repair",
        name_zh="西区维修",
        name_en="West repair",
    )


def _west_customer(helpdesk: dict[str, Any]) -> Any:
    from aftersales.customers import services as customers

    return customers.create_customer(
        actor=helpdesk["admin"], name="Wes", business_line=helpdesk["line_b"]
    )


def test_role_fixture_is_not_admin(tryer: User) -> None:
    assert not Role.objects.filter(key="admin", grants__user=tryer).exists()
