"""The custom-field API: permission matrix, definitions, types and validation of values."""

from __future__ import annotations

import pytest

from aftersales.audit.models import AuditEntry
from aftersales.customfields.models import FieldDefinition
from aftersales.outbox.models import OutboxEvent
from tests.customfields.conftest import CHOICES, TICKET, TREE

pytestmark = pytest.mark.django_db

BASE = "/api/v1/custom-fields"
NEW_FIELD = {
    "target": TICKET,
    "subtarget": "repair",
    "key": "serial",
    "field_type": "text",
    "label_zh": "序列号",
    "label_en": "Serial number",
    "config": {"max_length": 20, "pattern": "SN-[0-9]+"},
}


def nothing_written() -> bool:
    return (
        FieldDefinition.objects.count() == 0
        and OutboxEvent.objects.filter(topic__startswith="field_definition.").count() == 0
        and AuditEntry.objects.filter(object_type="customfields.fielddefinition").count() == 0
    )


@pytest.fixture
def people(make_user):
    return {
        "contact": make_user("contact-a", kind="customer"),
        "agent": make_user("agent-a", role="agent"),
        "manager": make_user("manager-a", role="service-manager"),
    }


def test_anonymous_gets_401(api_client):
    # when
    listing = api_client.get(BASE)
    creating = api_client.post_json(BASE, NEW_FIELD)
    # then
    assert (listing.status_code, creating.status_code) == (401, 401)
    assert nothing_written()


@pytest.mark.parametrize("_case", ["contact", "agent", "manager"])
def test_create_refused_without_configure_and_nothing_written(login_client, people, _case):
    # when
    response = login_client(people[_case]).post_json(BASE, NEW_FIELD)
    # then
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert nothing_written()


@pytest.mark.parametrize(("_case", "status"), [("contact", 403), ("agent", 403), ("manager", 200)])
def test_list_needs_the_view_permission(login_client, people, make_definition, _case, status):
    # given
    make_definition("serial")
    # when
    response = login_client(people[_case]).get(BASE)
    # then
    assert response.status_code == status


def test_admin_creates_a_definition(login_client, admin_user):
    # when
    response = login_client(admin_user).post_json(BASE, NEW_FIELD)
    # then
    assert response.status_code == 201
    body = response.json()
    assert {k: body[k] for k in ("key", "subtarget", "version", "position", "config")} == {
        "key": "serial",
        "subtarget": "repair",
        "version": 1,
        "position": 10,
        "config": {"max_length": 20, "pattern": "SN-[0-9]+"},
    }
    assert OutboxEvent.objects.filter(topic="field_definition.created").count() == 1


def test_create_with_bad_config_is_422_on_config(login_client, admin_user):
    # when
    response = login_client(admin_user).post_json(
        BASE, {**NEW_FIELD, "config": {"max_length": "many"}}
    )
    # then
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "config.max_length"
    assert response.json()["code"] == "invalid_config"
    assert nothing_written()


def test_list_filters_by_target_and_subtarget(
    login_client, admin_user, make_definition, django_assert_num_queries
):
    # given
    make_definition("common")
    make_definition("fault", subtarget="repair")
    make_definition("tier", target="customers.customer")
    client = login_client(admin_user)
    client.get(BASE)  # warm the session and grants
    # when
    with django_assert_num_queries(4):
        response = client.get(BASE, {"target": TICKET, "subtarget": "repair"})
    # then
    assert [d["key"] for d in response.json()] == ["fault"]


def test_patch_bumps_version_and_sets_etag(login_client, admin_user, make_definition):
    # given
    definition = make_definition("serial", label_en="Serial")
    client = login_client(admin_user)
    # when
    response = client.patch_json(
        f"{BASE}/{definition.pk}", {"label_en": "Serial no."}, HTTP_IF_MATCH='W/"1"'
    )
    # then
    assert response.status_code == 200
    assert (response.json()["version"], response["ETag"]) == (2, 'W/"2"')
    versions = client.get(f"{BASE}/{definition.pk}/versions").json()
    assert [(v["version"], v["snapshot"]["label_en"]) for v in versions] == [
        (2, "Serial no."),
        (1, "Serial"),
    ]


def test_patch_with_stale_etag_is_412(login_client, admin_user, make_definition):
    # given
    definition = make_definition("serial", label_en="Serial")
    # when
    response = login_client(admin_user).patch_json(
        f"{BASE}/{definition.pk}", {"label_en": "X"}, HTTP_IF_MATCH='W/"5"'
    )
    # then
    assert response.status_code == 412
    definition.refresh_from_db()
    assert definition.label_en == "Serial"


def test_patch_of_type_is_refused_with_reason(login_client, admin_user, make_definition):
    # given
    definition = make_definition("serial")
    # when
    response = login_client(admin_user).patch_json(
        f"{BASE}/{definition.pk}", {"field_type": "number"}
    )
    # then
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "field": "field_type",
            "code": "type_change_forbidden",
            "detail": "The type of a field cannot change: values already stored were checked "
            "against the old type. Add a new field instead.",
        }
    ]


def test_agent_cannot_patch_and_nothing_changes(login_client, people, make_definition):
    # given
    definition = make_definition("serial", label_en="Serial")
    events_before = OutboxEvent.objects.count()
    # when
    response = login_client(people["agent"]).patch_json(
        f"{BASE}/{definition.pk}", {"label_en": "X"}
    )
    # then
    assert response.status_code == 403
    definition.refresh_from_db()
    assert (definition.label_en, definition.version) == ("Serial", 1)
    assert OutboxEvent.objects.count() == events_before


def test_deactivate_endpoint(login_client, admin_user, make_definition):
    # given
    definition = make_definition("serial")
    # when
    response = login_client(admin_user).post_json(f"{BASE}/{definition.pk}/deactivate")
    # then
    assert response.status_code == 200
    assert (response.json()["is_active"], response.json()["version"]) == (False, 2)


def test_reorder_endpoint(login_client, admin_user, make_definition):
    # given
    make_definition("a_field")
    make_definition("b_field")
    # when
    response = login_client(admin_user).post_json(
        f"{BASE}/reorder", {"target": TICKET, "keys": ["b_field", "a_field"]}
    )
    # then
    assert response.status_code == 200
    assert response.json() == {"target": TICKET, "subtarget": "", "keys": ["b_field", "a_field"]}


def test_types_lists_every_type_with_its_config_schema(login_client, admin_user):
    # when
    response = login_client(admin_user).get(f"{BASE}/types")
    # then
    types = {t["key"]: t for t in response.json()}
    assert response.status_code == 200
    assert len(types) == 18
    assert types["cascade"]["is_multiple"] is True
    assert types["location"]["operators"] == ["empty", "not_empty"]
    assert "options" in types["single_choice"]["config_schema"]["required"]


def test_validate_returns_normalised_values(login_client, admin_user, make_definition):
    # given
    make_definition("region", "cascade", config=TREE)
    make_definition("amount", "decimal")
    # when
    response = login_client(admin_user).post_json(
        f"{BASE}/validate",
        {"target": TICKET, "values": {"region": ["gd", "sz"], "amount": 3}},
    )
    # then
    assert response.status_code == 200
    assert response.json() == {"values": {"region": ["gd", "sz"], "amount": "3.00"}}


def test_validate_returns_every_field_error_at_once(login_client, admin_user, make_definition):
    # given
    make_definition("kind", "single_choice", config=CHOICES, is_required=True)
    make_definition("region", "cascade", config=TREE)
    make_definition("phone", "phone")
    # when
    response = login_client(admin_user).post_json(
        f"{BASE}/validate",
        {"target": TICKET, "values": {"region": ["zj", "sz"], "phone": "12", "colour": "red"}},
    )
    # then
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "invalid_custom_fields"
    assert body["errors"] == [
        {
            "field": "custom_fields.colour",
            "code": "unknown_field",
            "detail": "There is no such field.",
        },
        {
            "field": "custom_fields.region",
            "code": "invalid_path",
            "detail": "sz is not an option at level 2.",
        },
        {
            "field": "custom_fields.phone",
            "code": "invalid_phone",
            "detail": "Enter a phone number with its country code, e.g. +8613812345678.",
        },
        {"field": "custom_fields.kind", "code": "required", "detail": "This field is required."},
    ]


def test_validate_refuses_a_customer_contact(login_client, people):
    # when
    response = login_client(people["contact"]).post_json(
        f"{BASE}/validate", {"target": TICKET, "values": {}}
    )
    # then
    assert response.status_code == 403
