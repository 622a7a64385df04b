"""The settings pages: list, create, edit, reorder, deactivate and the live preview."""

from __future__ import annotations

import pytest

from aftersales.audit.models import AuditEntry
from aftersales.customfields import services
from aftersales.customfields.models import FieldDefinition
from aftersales.outbox.models import OutboxEvent
from tests.customfields.conftest import CHOICES, TICKET

pytestmark = pytest.mark.django_db

LIST = "/settings/fields/"
PREVIEW = "/settings/fields/preview/?target=tickets.ticket&subtarget=repair"


@pytest.fixture
def form_with_condition(make_definition):
    kind = make_definition("kind", "single_choice", config=CHOICES, label_en="Kind")
    reason = make_definition(
        "refund_reason",
        label_en="Refund reason",
        is_required=True,
        visible_when={"field": "kind", "op": "equals", "value": "refund"},
    )
    return kind, reason


@pytest.mark.parametrize(
    ("_case", "path"),
    [
        ("list", LIST),
        ("choose type", "/settings/fields/new/"),
        ("create", "/settings/fields/new/text/"),
        ("preview", PREVIEW),
    ],
)
def test_pages_refuse_people_without_permission(login_client, make_user, _case, path):
    # given
    agent = make_user("agent-z", role="agent")
    # when
    response = login_client(agent).get(path)
    # then
    assert response.status_code == 403


def test_anonymous_is_sent_to_sign_in(client):
    # when
    response = client.get(LIST)
    # then
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_edit_page_refuses_an_agent_and_changes_nothing(
    login_client, make_user, form_with_condition
):
    # given
    kind, _ = form_with_condition
    agent = make_user("agent-z", role="agent")
    # when
    response = login_client(agent).post(
        f"/settings/fields/{kind.pk}/", {"label_en": "Changed", "label_zh": "x"}
    )
    # then: the agent cannot even see definitions, so the field is not found
    assert response.status_code == 404
    kind.refresh_from_db()
    assert (kind.label_en, kind.version) == ("Kind", 1)


def test_service_manager_may_look_but_not_change(login_client, make_user, form_with_condition):
    # given
    manager = make_user("manager", role="service-manager")
    kind, _ = form_with_condition
    client = login_client(manager)
    # when
    listing = client.get(LIST)
    editing = client.get(f"/settings/fields/{kind.pk}/")
    # then
    assert listing.status_code == 200
    assert "Refund reason" in listing.content.decode()
    assert "New field" not in listing.content.decode()
    assert editing.status_code == 403


def test_list_groups_fields_and_describes_conditions(login_client, admin_user, form_with_condition):
    # when
    response = login_client(admin_user).get(LIST)
    # then
    page = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="form-tickets.ticket-all"' in page
    assert "Kind equals refund" in page
    assert "Custom fields" in page


def test_create_page_adds_a_choice_field(login_client, admin_user):
    # given
    client = login_client(admin_user)
    # when
    response = client.post(
        "/settings/fields/new/single_choice/",
        {
            "target": TICKET,
            "subtarget": "repair",
            "key": "kind",
            "label_zh": "类型",
            "label_en": "Kind",
            "config_options": "repair|维修|Repair\nrefund|退款|Refund\nold|旧|Old|inactive",
            "default": "repair",
            "is_required": "on",
        },
    )
    # then
    assert response.status_code == 302
    definition = FieldDefinition.objects.get(key="kind")
    assert definition.subtarget == "repair"
    assert definition.is_required is True
    assert definition.default == "repair"
    assert definition.config == {
        "options": [
            {"key": "repair", "label_zh": "维修", "label_en": "Repair", "is_active": True},
            {"key": "refund", "label_zh": "退款", "label_en": "Refund", "is_active": True},
            {"key": "old", "label_zh": "旧", "label_en": "Old", "is_active": False},
        ]
    }


def test_create_page_builds_a_cascade_from_indented_lines(login_client, admin_user):
    # when
    response = login_client(admin_user).post(
        "/settings/fields/new/cascade/",
        {
            "target": TICKET,
            "key": "region",
            "label_en": "Region",
            "config_options": (
                "gd|广东|Guangdong\n  sz|深圳|Shenzhen\nzj|浙江|Zhejiang\n  hz|杭州|Hangzhou"
            ),
            "config_require_leaf": "on",
            "config_max_depth": "3",
        },
    )
    # then
    assert response.status_code == 302
    config = FieldDefinition.objects.get(key="region").config
    assert config["options"][0] == {
        "key": "gd",
        "label_zh": "广东",
        "label_en": "Guangdong",
        "children": [{"key": "sz", "label_zh": "深圳", "label_en": "Shenzhen", "children": []}],
    }
    assert (config["require_leaf"], config["max_depth"]) == (True, 3)


def test_create_page_shows_errors_next_to_fields(login_client, admin_user, form_with_condition):
    # when
    response = login_client(admin_user).post(
        "/settings/fields/new/text/",
        {
            "target": TICKET,
            "key": "kind",
            "label_en": "Duplicate",
            "config_max_length": "0",
        },
    )
    # then
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert errors == {"key": ["Another field here already uses this key."]}
    assert FieldDefinition.objects.filter(label_en="Duplicate").exists() is False


def test_create_page_condition_builder_writes_the_condition(
    login_client, admin_user, form_with_condition
):
    # when
    response = login_client(admin_user).post(
        "/settings/fields/new/text/",
        {
            "target": TICKET,
            "key": "other_detail",
            "label_en": "Other",
            "condition_field": "kind",
            "condition_op": "in",
            "condition_value": "other, refund",
        },
    )
    # then
    assert response.status_code == 302
    assert FieldDefinition.objects.get(key="other_detail").visible_when == {
        "field": "kind",
        "op": "in",
        "value": ["other", "refund"],
    }


def test_edit_page_refuses_a_cycle_next_to_the_condition(
    login_client, admin_user, form_with_condition
):
    # given
    kind, _ = form_with_condition
    # when
    response = login_client(admin_user).post(
        f"/settings/fields/{kind.pk}/",
        {
            "label_en": "Kind",
            "config_options": "repair|维修|Repair\nrefund|退款|Refund\nother|其他|Other",
            "condition_field": "refund_reason",
            "condition_op": "not_empty",
            "version": "1",
        },
    )
    # then
    assert response.status_code == 200
    assert response.context["form"].errors == {
        "condition_field": [
            "These conditions depend on each other in a circle: kind → refund_reason → kind"
        ]
    }
    kind.refresh_from_db()
    assert kind.version == 1


def test_edit_page_saves_a_new_version(login_client, admin_user, form_with_condition):
    # given
    kind, _ = form_with_condition
    client = login_client(admin_user)
    page = client.get(f"/settings/fields/{kind.pk}/")
    # when
    response = client.post(
        f"/settings/fields/{kind.pk}/",
        {
            "label_en": "Case kind",
            "label_zh": kind.label_zh,
            "config_options": page.context["form"].initial["config_options"],
            "version": "1",
        },
    )
    # then
    assert page.status_code == 200
    assert response.status_code == 302
    kind.refresh_from_db()
    assert (kind.label_en, kind.version, kind.config) == ("Case kind", 2, CHOICES_NORMALISED)


CHOICES_NORMALISED = {"options": [{**o, "is_active": True} for o in CHOICES["options"]]}


def test_move_up_reorders(login_client, admin_user, form_with_condition):
    # given
    _, reason = form_with_condition
    # when
    response = login_client(admin_user).post(
        f"/settings/fields/{reason.pk}/move/", {"direction": "up"}
    )
    # then
    assert response.status_code == 302
    assert [d.key for d in services.definitions_for(TICKET)] == ["refund_reason", "kind"]


def test_deactivate_from_the_page(login_client, admin_user, form_with_condition):
    # given
    _, reason = form_with_condition
    # when
    response = login_client(admin_user).post(f"/settings/fields/{reason.pk}/deactivate/")
    # then
    assert response.status_code == 302
    reason.refresh_from_db()
    assert reason.is_active is False


def test_agent_cannot_deactivate(login_client, make_user, form_with_condition):
    # given
    _, reason = form_with_condition
    agent = make_user("agent-z", role="agent")
    # when
    response = login_client(agent).post(f"/settings/fields/{reason.pk}/deactivate/")
    # then
    assert response.status_code == 404
    reason.refresh_from_db()
    assert reason.is_active is True
    assert OutboxEvent.objects.filter(topic="field_definition.deactivated").count() == 0
    assert AuditEntry.objects.filter(verb="deactivated").count() == 0


def test_preview_hides_the_conditional_field_until_its_condition_holds(
    login_client, admin_user, form_with_condition
):
    # given
    client = login_client(admin_user)
    # when
    first = client.get(PREVIEW)
    changed = client.post(PREVIEW, {"cf_kind": "refund"}, HTTP_HX_REQUEST="true")
    # then
    assert first.status_code == 200
    assert "cf_refund_reason" not in first.content.decode()
    assert changed.status_code == 200
    fragment = changed.content.decode()
    assert fragment.startswith('<section class="card" id="cf-preview">')
    assert 'name="cf_refund_reason"' in fragment
    assert changed.context["form"].errors == {"cf_refund_reason": ["This field is required."]}


def test_preview_shows_the_stored_form(login_client, admin_user, form_with_condition):
    # when
    response = login_client(admin_user).post(
        PREVIEW, {"cf_kind": "refund", "cf_refund_reason": "late"}, HTTP_HX_REQUEST="true"
    )
    # then
    assert response.context["cleaned"] == '{\n  "kind": "refund",\n  "refund_reason": "late"\n}'


def test_preview_as_customer_shows_only_customer_fields(login_client, admin_user, make_definition):
    # given
    make_definition("internal", label_en="Internal")
    make_definition(
        "contact_time", label_en="Best time", customer_visible=True, customer_editable=True
    )
    # when
    response = login_client(admin_user).get(PREVIEW + "&audience=customer")
    # then
    assert list(response.context["form"].fields) == ["cf_contact_time"]


def test_config_error_is_shown_next_to_its_input(login_client, admin_user):
    # when
    response = login_client(admin_user).post(
        "/settings/fields/new/single_choice/",
        {"target": TICKET, "key": "kind", "label_en": "Kind", "config_options": "a|A|A\na|B|B"},
    )
    # then
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["config_options"]
    assert FieldDefinition.objects.count() == 0
