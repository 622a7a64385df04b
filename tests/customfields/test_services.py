"""Managing definitions, and the engine: clean_values, visibility, versions, rendering."""

from __future__ import annotations

import pytest

from aftersales.audit.models import AuditEntry
from aftersales.core.errors import DomainError, NotFound, PermissionDenied
from aftersales.customfields import services
from aftersales.customfields.errors import FieldErrors
from aftersales.customfields.models import FieldDefinition, FieldDefinitionVersion
from aftersales.outbox.models import OutboxEvent
from tests.customfields.conftest import CHOICES, TICKET, TREE

pytestmark = pytest.mark.django_db


def errors_of(caught: pytest.ExceptionInfo[FieldErrors]) -> list[tuple[str, str]]:
    return [(e.field, e.code) for e in caught.value.field_errors]


# --- Definitions -------------------------------------------------------------------------------


def test_create_definition_records_version_audit_and_event(admin_user):
    # when
    definition = services.create_definition(
        actor=admin_user,
        target=TICKET,
        subtarget="repair",
        key="serial",
        field_type="text",
        label_zh="序列号",
        label_en="Serial number",
        config={"max_length": 20},
    )
    # then
    assert definition.version == 1
    assert definition.position == 10
    assert definition.config == {"max_length": 20}
    assert list(definition.versions.values_list("version", flat=True)) == [1]
    assert definition.versions.get().snapshot["label_en"] == "Serial number"
    entry = AuditEntry.objects.get(object_type="customfields.fielddefinition")
    assert (entry.action, entry.object_id) == ("created", str(definition.pk))
    event = OutboxEvent.objects.get(topic="field_definition.created")
    assert event.payload == {"target": TICKET, "subtarget": "repair", "key": "serial", "version": 1}


def test_agent_cannot_create_a_definition_and_nothing_is_written(make_user):
    # given
    agent = make_user("agent-x", role="agent")
    audit_before = AuditEntry.objects.count()
    # when
    with pytest.raises(PermissionDenied):
        services.create_definition(
            actor=agent, target=TICKET, key="serial", field_type="text", label_en="Serial"
        )
    # then
    assert FieldDefinition.objects.count() == 0
    assert OutboxEvent.objects.filter(topic__startswith="field_definition.").count() == 0
    assert AuditEntry.objects.count() == audit_before


@pytest.mark.parametrize(
    ("_case", "arguments", "code", "field"),
    [
        ("unknown target", {"target": "nowhere.thing"}, "unknown_target", "target"),
        ("bad key", {"key": "Serial No"}, "invalid_key", "key"),
        ("bad subtarget", {"subtarget": "Repair Type"}, "invalid_subtarget", "subtarget"),
        ("unknown type", {"field_type": "colour"}, "unknown_type", "field_type"),
        ("no label", {"label_en": "", "label_zh": ""}, "label_required", "label_zh"),
        ("bad config", {"config": {"max_length": 0}}, "invalid_config", "config.max_length"),
        (
            "bad default",
            {"config": {"max_length": 3}, "default": "abcd"},
            "invalid_default",
            "default",
        ),
        (
            "unknown permission",
            {"edit_permission": "tickets.fly"},
            "unknown_permission",
            "edit_permission",
        ),
        (
            "customer fills hidden",
            {"customer_editable": True},
            "customer_editable_hidden",
            "customer_editable",
        ),
    ],
)
def test_create_definition_refuses_invalid_input(admin_user, _case, arguments, code, field):
    # given
    values = {"target": TICKET, "key": "serial", "field_type": "text", "label_en": "Serial"}
    # when
    with pytest.raises(DomainError) as caught:
        services.create_definition(actor=admin_user, **{**values, **arguments})
    # then
    assert (caught.value.code, caught.value.field) == (code, field)
    assert FieldDefinition.objects.count() == 0


def test_key_is_unique_across_a_target_and_its_subtargets(make_definition, admin_user):
    # given
    make_definition("serial", target=TICKET)
    # when
    with pytest.raises(DomainError) as caught:
        services.create_definition(
            actor=admin_user,
            target=TICKET,
            subtarget="repair",
            key="serial",
            field_type="text",
            label_en="Serial again",
        )
    # then
    assert caught.value.code == "key_taken"
    assert FieldDefinition.objects.count() == 1


def test_default_is_normalised_at_save(make_definition):
    # when
    definition = make_definition("amount", "decimal", default="12.5")
    # then
    assert definition.default == "12.50"


def test_update_bumps_version_and_keeps_old_snapshot_renderable(make_definition, admin_user):
    # given
    definition = make_definition("kind", "single_choice", config=CHOICES, label_en="Kind")
    renamed = {
        "options": [
            {"key": "repair", "label_zh": "维修", "label_en": "Fix"},
            {"key": "refund", "label_zh": "退款", "label_en": "Refund"},
        ]
    }
    # when
    updated = services.update_definition(
        actor=admin_user, definition=definition, changes={"config": renamed, "label_en": "Case"}
    )
    # then
    assert updated.version == 2
    assert list(updated.versions.values_list("version", flat=True)) == [1, 2]
    old = FieldDefinitionVersion.objects.get(definition=updated, version=1).as_definition()
    assert old.label("en") == "Kind"
    assert services.render_values(TICKET, None, {"kind": "other"}, "en", versions={"kind": 1}) == [
        {
            "key": "kind",
            "label": "Kind",
            "help": "",
            "section": "",
            "field_type": "single_choice",
            "value": "other",
            "display": "Other",
            "version": 1,
            "is_active": True,
        }
    ]
    assert services.render_values(TICKET, None, {"kind": "repair"}, "en")[0]["display"] == "Fix"
    assert OutboxEvent.objects.filter(topic="field_definition.updated").count() == 1
    entry = AuditEntry.objects.filter(object_type="customfields.fielddefinition").latest("pk")
    assert entry.before["label_en"] == "Kind"
    assert entry.after["label_en"] == "Case"


def test_update_without_change_keeps_the_version(make_definition, admin_user):
    # given
    definition = make_definition("serial", label_en="Serial")
    # when
    updated = services.update_definition(
        actor=admin_user, definition=definition, changes={"label_en": "Serial"}
    )
    # then
    assert updated.version == 1
    assert FieldDefinitionVersion.objects.filter(definition=definition).count() == 1


def test_type_cannot_change_and_the_reason_is_given(make_definition, admin_user):
    # given
    definition = make_definition("serial")
    # when
    with pytest.raises(DomainError) as caught:
        services.update_definition(
            actor=admin_user, definition=definition, changes={"field_type": "number"}
        )
    # then
    assert (caught.value.code, caught.value.field) == ("type_change_forbidden", "field_type")
    assert "values already stored" in caught.value.detail()
    definition.refresh_from_db()
    assert (definition.field_type, definition.version) == ("text", 1)


def test_stale_version_is_refused(make_definition, admin_user):
    # given
    definition = make_definition("serial")
    # when
    with pytest.raises(DomainError) as caught:
        services.update_definition(
            actor=admin_user, definition=definition, changes={"label_en": "X"}, expected_version=7
        )
    # then
    assert caught.value.code == "version_mismatch"


def test_agent_without_view_gets_not_found_on_update(make_definition, make_user):
    # given
    definition = make_definition("serial", label_en="Serial")
    agent = make_user("agent-y", role="agent")
    # when
    with pytest.raises(NotFound):
        services.update_definition(actor=agent, definition=definition, changes={"label_en": "X"})
    # then
    definition.refresh_from_db()
    assert (definition.label_en, definition.version) == ("Serial", 1)


def test_deactivate_keeps_values_renderable(make_definition, admin_user):
    # given
    definition = make_definition("serial", label_en="Serial")
    # when
    services.deactivate_definition(actor=admin_user, definition=definition)
    # then
    definition.refresh_from_db()
    assert (definition.is_active, definition.version) == (False, 2)
    assert [f.key for f in services.definitions_for(TICKET)] == []
    assert services.render_values(TICKET, None, {"serial": "SN1"}, "en")[0]["display"] == "SN1"
    assert OutboxEvent.objects.filter(topic="field_definition.deactivated").count() == 1


def test_deactivate_refused_while_another_condition_reads_it(make_definition, admin_user):
    # given
    kind = make_definition("kind", "single_choice", config=CHOICES)
    make_definition("reason", visible_when={"field": "kind", "op": "equals", "value": "refund"})
    # when
    with pytest.raises(DomainError) as caught:
        services.deactivate_definition(actor=admin_user, definition=kind)
    # then
    assert (caught.value.code, caught.value.params) == ("field_referenced", {"fields": "reason"})
    kind.refresh_from_db()
    assert kind.is_active is True


def test_reorder_sets_positions_without_new_versions(make_definition, admin_user):
    # given
    for key in ("a_field", "b_field", "c_field"):
        make_definition(key)
    # when
    result = services.reorder_definitions(
        actor=admin_user, target=TICKET, keys=["c_field", "a_field"]
    )
    # then
    assert result.keys == ["c_field", "a_field", "b_field"]
    assert [d.key for d in services.definitions_for(TICKET)] == ["c_field", "a_field", "b_field"]
    assert set(FieldDefinition.objects.values_list("version", flat=True)) == {1}
    assert OutboxEvent.objects.get(topic="field_definition.reordered").payload["keys"] == [
        "c_field",
        "a_field",
        "b_field",
    ]


def test_move_definition_swaps_with_its_neighbour(make_definition, admin_user):
    # given
    first, second = make_definition("a_field"), make_definition("b_field")
    # when
    services.move_definition(actor=admin_user, definition=second, offset=-1)
    # then
    assert [d.key for d in services.definitions_for(TICKET)] == ["b_field", "a_field"]
    assert first.pk != second.pk


# --- Conditions at save ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("_case", "condition", "code"),
    [
        ("unknown field", {"field": "nope", "op": "not_empty"}, "unknown_condition_field"),
        ("unknown operator", {"field": "kind", "op": "gt", "value": 1}, "invalid_operator"),
        (
            "option not in list",
            {"field": "kind", "op": "equals", "value": "x"},
            "invalid_condition_value",
        ),
        (
            "in without list",
            {"field": "kind", "op": "in", "value": "repair"},
            "invalid_condition_value",
        ),
        ("value on presence", {"field": "kind", "op": "empty", "value": 1}, "unexpected_value"),
        (
            "operator for type",
            {"field": "notes", "op": "equals", "value": "x"},
            "operator_not_allowed",
        ),
        ("empty group", {"all": []}, "invalid_condition"),
        ("not an object", ["kind"], "invalid_condition"),
    ],
)
def test_condition_is_validated_at_save(make_definition, admin_user, _case, condition, code):
    # given
    make_definition("kind", "single_choice", config=CHOICES)
    make_definition("notes", "long_text")
    # when
    with pytest.raises(DomainError) as caught:
        services.create_definition(
            actor=admin_user,
            target=TICKET,
            key="reason",
            field_type="text",
            label_en="Reason",
            visible_when=condition,
        )
    # then
    assert (caught.value.code, caught.value.field) == (code, "visible_when")
    assert not FieldDefinition.objects.filter(key="reason").exists()


def test_condition_cycle_is_refused(make_definition, admin_user):
    # given: b shows when a is filled in, c when b is
    a = make_definition("a_field")
    make_definition("b_field", visible_when={"field": "a_field", "op": "not_empty"})
    make_definition("c_field", visible_when={"field": "b_field", "op": "not_empty"})
    # when: a would show only when c is filled in
    with pytest.raises(DomainError) as caught:
        services.update_definition(
            actor=admin_user,
            definition=a,
            changes={"visible_when": {"field": "c_field", "op": "not_empty"}},
        )
    # then
    assert caught.value.code == "condition_cycle"
    assert caught.value.params == {"cycle": "a_field → c_field → b_field → a_field"}
    a.refresh_from_db()
    assert (a.visible_when, a.version) == (None, 1)


def test_self_reference_is_a_cycle(make_definition, admin_user):
    # when
    with pytest.raises(DomainError) as caught:
        make_definition("a_field", visible_when={"field": "a_field", "op": "empty"})
    # then
    assert caught.value.code == "condition_cycle"


def test_field_for_all_subtargets_cannot_read_a_subtarget_field(make_definition):
    # given
    make_definition("fault", subtarget="repair")
    # when
    with pytest.raises(DomainError) as caught:
        make_definition("notes", visible_when={"field": "fault", "op": "not_empty"})
    # then
    assert caught.value.code == "unknown_condition_field"


def test_condition_value_is_normalised_like_the_field(make_definition):
    # given
    make_definition("count", "number")
    # when
    definition = make_definition(
        "extra", visible_when={"any": [{"field": "count", "op": "in", "value": ["3", 4]}]}
    )
    # then
    assert definition.visible_when == {"any": [{"field": "count", "op": "in", "value": [3, 4]}]}


# --- clean_values ------------------------------------------------------------------------------


@pytest.fixture
def repair_form(make_definition):
    """kind (required choice); refund_reason shown and required only when kind = refund;
    region (cascade) for the repair type only; serial editable only with a permission that the
    agent role holds and the field-engineer role lacks (accounts.view_businessline)."""
    make_definition("kind", "single_choice", config=CHOICES, is_required=True, label_en="Kind")
    make_definition(
        "refund_reason",
        is_required=True,
        visible_when={"field": "kind", "op": "equals", "value": "refund"},
        customer_visible=True,
        customer_editable=True,
    )
    make_definition("region", "cascade", config=TREE, subtarget="repair", customer_visible=True)
    make_definition("serial", edit_permission="accounts.view_businessline", default="SN-0")


def test_clean_values_normalises_and_applies_defaults(repair_form):
    # when
    values = services.clean_values(
        target=TICKET, subtarget="repair", values={"kind": "repair", "region": ["gd", "sz"]}
    )
    # then
    assert values == {"kind": "repair", "region": ["gd", "sz"], "serial": "SN-0"}


def test_hidden_field_is_dropped_and_not_required(repair_form):
    # when
    values = services.clean_values(
        target=TICKET, values={"kind": "repair", "refund_reason": "broken"}
    )
    # then
    assert values == {"kind": "repair", "serial": "SN-0"}


def test_shown_field_becomes_required(repair_form):
    # when
    with pytest.raises(FieldErrors) as caught:
        services.clean_values(target=TICKET, values={"kind": "refund"})
    # then
    assert errors_of(caught) == [("custom_fields.refund_reason", "required")]


def test_every_field_error_is_reported_at_once(repair_form):
    # when
    with pytest.raises(FieldErrors) as caught:
        services.clean_values(
            target=TICKET,
            subtarget="repair",
            values={"colour": "red", "region": ["gd"], "serial": 5},
        )
    # then
    assert errors_of(caught) == [
        ("custom_fields.colour", "unknown_field"),
        ("custom_fields.region", "incomplete_path"),
        ("custom_fields.serial", "invalid_type"),
        ("custom_fields.kind", "required"),
    ]
    assert caught.value.errors()[1] == {
        "field": "custom_fields.region",
        "code": "incomplete_path",
        "detail": "Choose down to the last level.",
    }


def test_definitions_read_once_serve_many_objects_without_a_query(
    repair_form, django_assert_num_queries
):
    """An import checks thousands of rows against definitions it read once."""
    # given
    definitions = services.definitions_for(TICKET, "repair", include_inactive=True)
    # when
    with django_assert_num_queries(0):
        values = services.clean_values(
            target=TICKET,
            subtarget="repair",
            values={"kind": "repair", "serial": " SN-1 "},
            definitions=definitions,
        )
        with pytest.raises(FieldErrors) as caught:
            services.clean_values(
                target=TICKET, subtarget="repair", values={}, definitions=definitions
            )
    # then
    assert values == {"kind": "repair", "serial": "SN-1"}
    assert errors_of(caught) == [("custom_fields.kind", "required")]


def test_subtarget_field_is_unknown_without_its_subtarget(repair_form):
    # when
    with pytest.raises(FieldErrors) as caught:
        services.clean_values(target=TICKET, values={"kind": "repair", "region": ["gd", "sz"]})
    # then
    assert errors_of(caught) == [("custom_fields.region", "unknown_field")]


def test_partial_skips_required(repair_form):
    # when
    values = services.clean_values(target=TICKET, values={}, existing={}, partial=True)
    # then
    assert values == {}


def test_staff_without_edit_permission_cannot_change_the_field(repair_form, make_user):
    # given
    clerk = make_user("clerk", role="field-engineer")
    holder = make_user("holder", role="agent")
    # when
    with pytest.raises(FieldErrors) as caught:
        services.clean_values(
            target=TICKET,
            actor=clerk,
            values={"serial": "SN-9"},
            existing={"kind": "repair", "serial": "SN-1"},
        )
    # then
    assert errors_of(caught) == [("custom_fields.serial", "not_editable")]
    assert services.clean_values(
        target=TICKET,
        actor=holder,
        values={"serial": "SN-9"},
        existing={"kind": "repair", "serial": "SN-1"},
    ) == {"kind": "repair", "serial": "SN-9"}


def test_resending_an_unchanged_value_needs_no_edit_permission(repair_form, make_user):
    # given
    clerk = make_user("clerk", role="field-engineer")
    # when
    values = services.clean_values(
        target=TICKET,
        actor=clerk,
        values={"kind": "refund", "refund_reason": "late", "serial": "SN-1"},
        existing={"kind": "repair", "serial": "SN-1"},
    )
    # then
    assert values == {"kind": "refund", "refund_reason": "late", "serial": "SN-1"}


def test_customer_can_set_only_customer_editable_fields(repair_form):
    # when
    with pytest.raises(FieldErrors) as caught:
        services.clean_values(
            target=TICKET,
            subtarget="repair",
            audience="customer",
            values={"refund_reason": "late", "region": ["gd", "sz"], "kind": "refund"},
            existing={"kind": "refund"},
        )
    # then: region is visible but not editable; kind is not even visible to customers
    assert errors_of(caught) == [
        ("custom_fields.kind", "unknown_field"),
        ("custom_fields.region", "not_editable"),
    ]


def test_customer_is_not_asked_for_fields_they_cannot_fill(repair_form):
    # when
    values = services.clean_values(
        target=TICKET,
        audience="customer",
        values={"refund_reason": "late"},
        existing={"kind": "refund"},
    )
    # then
    assert values == {"kind": "refund", "refund_reason": "late"}


def test_clearing_a_controlling_field_drops_the_dependent_value(repair_form):
    # when
    values = services.clean_values(
        target=TICKET,
        values={"kind": "repair"},
        existing={"kind": "refund", "refund_reason": "late", "serial": "SN-1"},
    )
    # then
    assert values == {"kind": "repair", "serial": "SN-1"}


def test_values_of_deactivated_fields_stay_on_the_object(repair_form, admin_user):
    # given
    serial = FieldDefinition.objects.get(key="serial")
    services.deactivate_definition(actor=admin_user, definition=serial)
    # when
    values = services.clean_values(
        target=TICKET, values={"kind": "other"}, existing={"kind": "repair", "serial": "SN-1"}
    )
    # then
    assert values == {"kind": "other", "serial": "SN-1"}


def test_values_must_be_an_object(repair_form):
    # when
    with pytest.raises(FieldErrors) as caught:
        services.clean_values(target=TICKET, values=["kind"])
    # then
    assert errors_of(caught) == [("custom_fields", "invalid_type")]


def test_chained_conditions_hide_the_whole_chain(make_definition):
    # given: b shows when a = yes, c shows when b is filled in
    make_definition("a_field", "yes_no")
    make_definition("b_field", visible_when={"field": "a_field", "op": "equals", "value": True})
    make_definition(
        "c_field", is_required=True, visible_when={"field": "b_field", "op": "not_empty"}
    )
    # when: a is no, yet stale b and c values are sent
    values = services.clean_values(
        target=TICKET, values={"a_field": False, "b_field": "x", "c_field": "y"}
    )
    # then
    assert values == {"a_field": False}


def test_render_values_for_customers_shows_only_visible_fields(repair_form):
    # when
    rows = services.render_values(
        TICKET,
        "repair",
        {"kind": "refund", "refund_reason": "late", "region": ["gd", "sz"]},
        "zh-hans",
        audience="customer",
    )
    # then
    assert [(r["key"], r["display"]) for r in rows] == [
        ("refund_reason", "late"),
        ("region", "广东 / 深圳"),
    ]


def test_config_that_no_longer_fits_is_checked_on_load(make_definition):
    # given: a config written before its type's model changed (here: by hand)
    definition = make_definition("serial", config={"max_length": 5})
    FieldDefinition.objects.filter(pk=definition.pk).update(config={"max_len": 5})
    # when
    with pytest.raises(FieldErrors) as caught:
        services.clean_values(target=TICKET, values={"serial": "SN-1"})
    # then
    assert errors_of(caught) == [("custom_fields.serial", "field_misconfigured")]


def test_config_change_may_not_remove_an_option_a_condition_uses(make_definition, admin_user):
    # given
    kind = make_definition("kind", "single_choice", config=CHOICES)
    make_definition("reason", visible_when={"field": "kind", "op": "equals", "value": "refund"})
    without_refund = {"options": [o for o in CHOICES["options"] if o["key"] != "refund"]}
    retired_refund = {
        "options": [{**o, "is_active": o["key"] != "refund"} for o in CHOICES["options"]]
    }
    # when
    with pytest.raises(DomainError) as caught:
        services.update_definition(
            actor=admin_user, definition=kind, changes={"config": without_refund}
        )
    retired = services.update_definition(
        actor=admin_user, definition=kind, changes={"config": retired_refund}
    )
    # then
    assert (caught.value.code, caught.value.params) == ("breaks_condition", {"field": "reason"})
    assert retired.version == 2


def test_bad_value_of_a_hidden_field_is_dropped_without_error(repair_form):
    # when: refund_reason is hidden (kind is repair), and its value is not even text
    values = services.clean_values(target=TICKET, values={"kind": "repair", "refund_reason": 5})
    # then
    assert values == {"kind": "repair", "serial": "SN-0"}
