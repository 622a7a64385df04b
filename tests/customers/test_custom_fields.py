"""Customers and organisations keep custom-field values checked by the form engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aftersales.accounts.models import User
from aftersales.core.errors import DomainError
from aftersales.customers import services
from aftersales.customers.models import Customer
from aftersales.customfields import services as customfields
from aftersales.outbox.models import OutboxEvent


@pytest.fixture
def contract_field(admin_user: User) -> Any:
    """A required choice field on customers: which service contract they hold."""
    return customfields.create_definition(
        actor=admin_user,
        target="customers.customer",
        key="contract",
        field_type="single_choice",
        label_zh="服务合同",
        label_en="Service contract",
        config={
            "options": [
                {"key": "gold", "label_zh": "金牌", "label_en": "Gold"},
                {"key": "basic", "label_zh": "基础", "label_en": "Basic"},
            ]
        },
        is_required=True,
    )


def test_customer_is_created_with_a_valid_custom_field(
    contract_field: Any, make_customer: Callable[..., Customer]
) -> None:
    # when
    customer = make_customer(name="王芳", custom_fields={"contract": "gold"})
    # then
    customer.refresh_from_db()
    assert customer.custom_fields == {"contract": "gold"}


def test_customer_without_a_required_custom_field_is_refused_and_nothing_is_saved(
    contract_field: Any, admin_user: User, make_line: Callable[..., Any]
) -> None:
    # given
    line = make_line()
    events_before = OutboxEvent.objects.count()
    # when
    with pytest.raises(DomainError) as raised:
        services.create_customer(actor=admin_user, name="王芳", business_line=line)
    # then
    assert [(e["field"], e["code"]) for e in raised.value.errors()] == [
        ("custom_fields.contract", "required")
    ]
    assert Customer.objects.filter(name="王芳").exists() is False
    assert OutboxEvent.objects.count() == events_before


def test_api_reports_every_bad_custom_field_of_a_customer(
    contract_field: Any, admin_user: User, make_line: Callable[..., Any], login_client: Any
) -> None:
    # given
    line = make_line()
    # when
    response = login_client(admin_user).post_json(
        "/api/v1/customers",
        {
            "name": "王芳",
            "business_line_id": line.pk,
            "custom_fields": {"contract": "platinum", "colour": "red"},
        },
    )
    # then
    assert response.status_code == 422
    fields = sorted(error["field"] for error in response.json()["errors"])
    assert fields == ["custom_fields.colour", "custom_fields.contract"]
    assert Customer.objects.filter(name="王芳").exists() is False


def test_updating_one_custom_field_keeps_the_others(
    admin_user: User, contract_field: Any, make_customer: Callable[..., Customer]
) -> None:
    # given
    customfields.create_definition(
        actor=admin_user,
        target="customers.customer",
        key="region",
        field_type="text",
        label_zh="区域",
        label_en="Region",
    )
    customer = make_customer(custom_fields={"contract": "basic", "region": "华东"})
    # when
    services.update_customer(
        actor=admin_user, customer=customer, changes={"custom_fields": {"contract": "gold"}}
    )
    # then
    customer.refresh_from_db()
    assert customer.custom_fields == {"contract": "gold", "region": "华东"}


def test_customer_page_shows_custom_fields_with_their_labels(
    admin_user: User,
    contract_field: Any,
    make_customer: Callable[..., Customer],
    login_client: Any,
) -> None:
    # given
    customer = make_customer(name="王芳", custom_fields={"contract": "gold"})
    # when
    page = login_client(admin_user).get(
        f"/customers/{customer.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    # then
    assert page.status_code == 200
    assert "<dt>服务合同</dt><dd>金牌</dd>" in page.content.decode()
