"""The form fields other apps embed: visibility, permissions, errors next to their inputs."""

from __future__ import annotations

import pytest

from aftersales.customfields import services
from aftersales.customfields.errors import FieldErrors
from aftersales.customfields.forms import CustomFieldsForm, build_form_fields, parse_tree
from tests.customfields.conftest import CHOICES, TICKET, TREE

pytestmark = pytest.mark.django_db


@pytest.fixture
def definitions(make_definition):
    make_definition("kind", "single_choice", config=CHOICES, is_required=True, label_en="Kind")
    make_definition(
        "refund_reason",
        label_en="Refund reason",
        visible_when={"field": "kind", "op": "equals", "value": "refund"},
        customer_visible=True,
        customer_editable=True,
    )
    make_definition("region", "cascade", config=TREE, label_en="Region", customer_visible=True)
    make_definition("serial", label_en="Serial", edit_permission="accounts.view_businessline")
    return services.definitions_for(TICKET)


def test_hidden_fields_are_left_out_and_shown_ones_get_initial_values(definitions):
    # when
    hidden = build_form_fields(definitions, {"kind": "repair"})
    shown = build_form_fields(definitions, {"kind": "refund", "region": ["gd", "sz"]})
    # then
    assert list(hidden) == ["cf_kind", "cf_region", "cf_serial"]
    assert list(shown) == ["cf_kind", "cf_refund_reason", "cf_region", "cf_serial"]
    assert shown["cf_region"].initial == "gd/sz"
    assert shown["cf_kind"].required is True


def test_fields_without_edit_permission_are_disabled(definitions, make_user):
    # given
    engineer = make_user("engineer", role="field-engineer")
    # when
    fields = build_form_fields(definitions, {}, actor=engineer)
    # then
    assert [name for name, field in fields.items() if field.disabled] == ["cf_serial"]


def test_customer_form_has_only_customer_fields_and_disables_read_only_ones(definitions):
    # when
    fields = build_form_fields(definitions, {"kind": "refund"}, "customer")
    # then
    assert {name: field.disabled for name, field in fields.items()} == {
        "cf_refund_reason": False,
        "cf_region": True,
    }


def test_bound_form_follows_the_typed_values_and_reports_engine_errors(definitions):
    # given
    form = CustomFieldsForm(
        {"cf_kind": "refund", "cf_region": "gd/sz", "cf_serial": ""},
        definitions=definitions,
    )
    # when
    values = form.submitted_values()
    with pytest.raises(FieldErrors) as caught:
        services.clean_values(target=TICKET, values={**values, "refund_reason": "x" * 300})
    form.add_field_errors(caught.value)
    # then
    assert values == {
        "kind": "refund",
        "refund_reason": None,
        "region": ["gd", "sz"],
        "serial": None,
    }
    assert form.errors == {"cf_refund_reason": ["Enter at most 255 characters."]}


def test_indented_lines_become_a_tree():
    # when
    tree = parse_tree("a|甲|A\n  b|乙|B\n    c|丙|C\n  d|丁|D\ne|戊|E")
    # then
    assert tree == [
        {
            "key": "a",
            "label_zh": "甲",
            "label_en": "A",
            "children": [
                {
                    "key": "b",
                    "label_zh": "乙",
                    "label_en": "B",
                    "children": [{"key": "c", "label_zh": "丙", "label_en": "C", "children": []}],
                },
                {"key": "d", "label_zh": "丁", "label_en": "D", "children": []},
            ],
        },
        {"key": "e", "label_zh": "戊", "label_en": "E", "children": []},
    ]


def test_fields_are_grouped_by_section(make_definition):
    # given
    make_definition("a_field", section="")
    make_definition("b_field", section="Device")
    make_definition("c_field", section="Device")
    form = CustomFieldsForm(definitions=services.definitions_for(TICKET))
    # when
    sections = form.sections()
    # then
    assert [(s["label"], [f.name for f in s["fields"]]) for s in sections] == [
        ("", ["cf_a_field"]),
        ("Device", ["cf_b_field", "cf_c_field"]),
    ]


@pytest.mark.parametrize(("stored", "selected"), [(True, "true"), (False, "false"), (None, "")])
def test_a_yes_no_answer_shows_as_chosen_so_saving_unchanged_keeps_it(
    make_definition, stored, selected
):
    # given
    make_definition("under_warranty", "yes_no", label_en="Under warranty")
    definitions = services.definitions_for(TICKET)
    values = {} if stored is None else {"under_warranty": stored}
    # when
    html = str(CustomFieldsForm(definitions=definitions, values=values)["cf_under_warranty"])
    resubmitted = CustomFieldsForm(
        {"cf_under_warranty": selected}, definitions=definitions, values=values
    )
    # then
    assert f'<option value="{selected}" selected>' in html
    assert resubmitted.is_valid()
    assert resubmitted.submitted_values().get("under_warranty") == stored
