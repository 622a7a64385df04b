"""The form builder: fields reordered and moved between sections (as a drop posts them), the
↑/↓ fallback within a section, and the field list narrowed to one form."""

from __future__ import annotations

from typing import Any

import pytest

from aftersales.audit.models import AuditEntry
from aftersales.core.errors import DomainError
from aftersales.customfields import services
from aftersales.customfields.models import FieldDefinition, FieldDefinitionVersion
from aftersales.outbox.models import OutboxEvent
from tests.customfields.conftest import TICKET

pytestmark = pytest.mark.django_db

REORDER = "/settings/fields/reorder/"


def layout() -> list[tuple[str, str, int, int]]:
    """(key, section, position, version) of every field, in form order."""
    return list(
        FieldDefinition.objects.order_by("section", "position", "pk").values_list(
            "key", "section", "position", "version"
        )
    )


def state() -> dict[str, Any]:
    return {
        "layout": layout(),
        "versions": FieldDefinitionVersion.objects.count(),
        "outbox": list(OutboxEvent.objects.order_by("created_at").values_list("topic", flat=True)),
        "audit": AuditEntry.objects.count(),
    }


@pytest.fixture
def form(make_definition: Any) -> list[FieldDefinition]:
    """A ticket form: a_field and b_field without a section, c_field and d_field in Device."""
    return [
        make_definition("a_field"),
        make_definition("b_field"),
        make_definition("c_field", section="Device"),
        make_definition("d_field", section="Device"),
    ]


# --- Service ------------------------------------------------------------------------------------


def test_reorder_moves_a_field_into_another_section_without_a_new_version(
    admin_user: Any, form: list[FieldDefinition]
) -> None:
    """Section and order are layout: positions and the section change, versions do not."""
    # when
    services.reorder_definitions(
        actor=admin_user,
        target=TICKET,
        keys=["b_field", "c_field", "a_field", "d_field"],
        sections={"b_field": "", "c_field": "", "a_field": "Device", "d_field": "Device"},
    )
    # then
    assert layout() == [
        ("b_field", "", 10, 1),
        ("c_field", "", 20, 1),
        ("a_field", "Device", 30, 1),
        ("d_field", "Device", 40, 1),
    ]
    assert [d.key for d in services.definitions_for(TICKET)] == [
        "b_field",
        "c_field",
        "a_field",
        "d_field",
    ]
    assert FieldDefinitionVersion.objects.count() == 4
    entry = AuditEntry.objects.get(verb="reordered")
    assert (entry.before, entry.after) == (
        {
            "order": ["a_field", "b_field", "c_field", "d_field"],
            "sections": {"a_field": "", "c_field": "Device"},
        },
        {
            "order": ["b_field", "c_field", "a_field", "d_field"],
            "sections": {"a_field": "Device", "c_field": ""},
        },
    )
    assert OutboxEvent.objects.get(topic="field_definition.reordered").payload == {
        "target": TICKET,
        "subtarget": "",
        "keys": ["b_field", "c_field", "a_field", "d_field"],
        "sections": {"a_field": "Device", "c_field": ""},
    }


@pytest.mark.parametrize(
    ("_case", "sections", "field", "code"),
    [
        ("unknown field", {"z_field": "Device"}, "sections", "invalid_order"),
        ("too long", {"a_field": "x" * 101}, "sections", "invalid_section"),
        ("not text", {"a_field": 3}, "sections", "invalid_section"),
    ],
)
def test_reorder_refuses_a_bad_section_and_changes_nothing(
    admin_user: Any,
    form: list[FieldDefinition],
    _case: str,
    sections: dict[str, Any],
    field: str,
    code: str,
) -> None:
    # given
    before = state()
    # when
    with pytest.raises(DomainError) as refused:
        services.reorder_definitions(
            actor=admin_user, target=TICKET, keys=["b_field"], sections=sections
        )
    # then
    assert (refused.value.field, refused.value.code) == (field, code)
    assert state() == before


def test_editing_only_the_section_makes_no_new_version(
    admin_user: Any, form: list[FieldDefinition]
) -> None:
    # when
    services.update_definition(actor=admin_user, definition=form[0], changes={"section": "Device"})
    # then
    form[0].refresh_from_db()
    assert (form[0].section, form[0].version) == ("Device", 1)


def test_move_stays_within_the_section_and_skips_inactive_fields(
    admin_user: Any, form: list[FieldDefinition], make_definition: Any
) -> None:
    """↑/↓ move among the active fields of the section as shown; at its edge nothing moves."""
    # given
    retired = make_definition("e_field", section="Device")
    services.deactivate_definition(actor=admin_user, definition=retired)
    a_field, b_field, c_field, d_field = form
    # when
    services.move_definition(actor=admin_user, definition=b_field, offset=1)  # edge: stays
    services.move_definition(actor=admin_user, definition=c_field, offset=-1)  # edge: stays
    edges = [(key, section) for key, section, _p, _v in layout()]
    services.move_definition(actor=admin_user, definition=d_field, offset=-1)
    services.move_definition(actor=admin_user, definition=a_field, offset=1)
    # then
    assert edges == [
        ("a_field", ""),
        ("b_field", ""),
        ("c_field", "Device"),
        ("d_field", "Device"),
        ("e_field", "Device"),
    ]
    assert [(key, section) for key, section, _p, _v in layout()] == [
        ("b_field", ""),
        ("a_field", ""),
        ("d_field", "Device"),
        ("c_field", "Device"),
        ("e_field", "Device"),
    ]


# --- Reorder endpoint ---------------------------------------------------------------------------


def _drop(client: Any, keys: list[str], sections: list[str], **extra: Any) -> Any:
    return client.post(
        REORDER,
        {"target": TICKET, "subtarget": "", "keys": keys, "sections": sections},
        **extra,
    )


def test_a_drop_is_stored_and_answered_with_the_form_re_rendered(
    login_client: Any, admin_user: Any, form: list[FieldDefinition]
) -> None:
    # when
    response = _drop(
        login_client(admin_user),
        ["b_field", "a_field", "d_field", "c_field"],
        ["", "Device", "Device", "Device"],
        HTTP_HX_REQUEST="true",
    )
    # then
    assert response.status_code == 200
    html = response.content.decode()
    assert html.startswith('<section class="card" id="form-ticketsticket-all"')
    rows = [part.split('"')[0] for part in html.split('data-key="')[1:]]
    assert rows == ["b_field", "a_field", "d_field", "c_field"]
    assert '<th colspan="7" scope="rowgroup">Device</th>' in html
    assert [(key, section) for key, section, _p, _v in layout()] == [
        ("b_field", ""),
        ("a_field", "Device"),
        ("d_field", "Device"),
        ("c_field", "Device"),
    ]


def test_a_drop_without_htmx_redirects_to_the_list(
    login_client: Any, admin_user: Any, form: list[FieldDefinition]
) -> None:
    # when
    response = _drop(login_client(admin_user), ["b_field"], [""])
    # then
    assert (response.status_code, response["Location"]) == (302, "/settings/fields/")
    assert [key for key, *_rest in layout()] == ["b_field", "a_field", "c_field", "d_field"]


def test_an_unreadable_drop_shows_an_error_and_changes_nothing(
    login_client: Any, admin_user: Any, form: list[FieldDefinition]
) -> None:
    # given
    before = state()
    client = login_client(admin_user)
    # when
    mismatched = _drop(client, ["b_field", "a_field"], [""], HTTP_HX_REQUEST="true")
    unknown = _drop(client, ["z_field"], [""], HTTP_HX_REQUEST="true")
    # then
    assert (
        '<ul class="form-errors" role="alert"><li>The new order could not be read. Reload the '
        "page and try again.</li></ul>"
    ) in mismatched.content.decode()
    assert (
        '<ul class="form-errors" role="alert"><li>Name each field of this form at most once.'
        "</li></ul>"
    ) in unknown.content.decode()
    assert state() == before


@pytest.mark.parametrize(
    ("_case", "role"), [("agent", "agent"), ("service manager (view only)", "service-manager")]
)
def test_only_a_configurer_may_drop(
    login_client: Any, make_user: Any, form: list[FieldDefinition], _case: str, role: str
) -> None:
    # given
    person = make_user(role=role)
    before = state()
    # when
    response = _drop(login_client(person), ["b_field"], [""], HTTP_HX_REQUEST="true")
    listed = login_client(person).get("/settings/fields/")
    # then
    assert response.status_code == 403
    assert state() == before
    if role == "service-manager":
        assert "data-form-builder" not in listed.content.decode()


def test_anonymous_drop_is_sent_to_sign_in(client: Any, form: list[FieldDefinition]) -> None:
    # given
    before = state()
    # when
    response = _drop(client, ["b_field"], [""])
    # then
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert state() == before


# --- The list -----------------------------------------------------------------------------------


def test_list_groups_by_section_with_handles_and_edge_buttons_disabled(
    login_client: Any, admin_user: Any, form: list[FieldDefinition]
) -> None:
    # when
    html = login_client(admin_user).get("/settings/fields/").content.decode()
    # then
    assert 'data-reorder-url="/settings/fields/reorder/"' in html
    assert html.count('class="drag-handle"') == 4
    assert '<tbody data-section="Device">' in html
    assert '<th colspan="7" scope="rowgroup">No section</th>' in html
    device = html.split('<tbody data-section="Device">')[1].split("</tbody>")[0]
    assert device.count(" disabled>") == 2  # c_field ↑ and d_field ↓
    assert " style=" not in html


def test_list_narrowed_to_one_form_offers_adding_to_it(
    login_client: Any, admin_user: Any, form: list[FieldDefinition], make_definition: Any
) -> None:
    """A ticket type's "Form" link: its fields and the common ones, even before it has any."""
    # given
    make_definition("other_field", subtarget="type-99")
    # when
    html = (
        login_client(admin_user)
        .get("/settings/fields/?target=tickets.ticket&subtarget=type-7")
        .content.decode()
    )
    # then
    assert 'data-testid="form-tickets.ticket-all"' in html
    assert 'data-testid="form-tickets.ticket-type-7"' in html
    assert "other_field" not in html
    assert "No fields on this form yet." in html
    assert 'href="/settings/fields/new/?target=tickets.ticket&amp;subtarget=type-7"' in html
