"""The customer pages: they render, stay inside the viewer's scope and drive the services."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from aftersales.customers import services
from aftersales.customers.models import Customer, CustomerIdentity, CustomerNote, Organisation
from tests.conftest import JsonClient
from tests.customers.conftest import customer_state


@pytest.fixture
def li(
    world: dict[str, Any], make_customer: Callable[..., Any], make_organisation: Callable[..., Any]
) -> Customer:
    acme = make_organisation(name="Acme", code="acme", business_line=world["line_a"])
    customer = make_customer(
        name="Li Wei",
        team=world["team_a"],
        organisation=acme,
        tags=["vip-line"],
        identities=[("phone", "13812345678")],
    )
    services.add_note(actor=world["admin"], customer=customer, body="Prefers calls after 6pm")
    services.update_customer(
        actor=world["admin"], customer=customer, changes={"notes": "Key person"}
    )
    return customer


@pytest.mark.parametrize(
    "path",
    [
        "/customers/",
        "/customers/?q=li&tag=vip-line&active=1",
        "/customers/new/",
        "/customers/import/",
        "/customers/{pk}/",
        "/customers/{pk}/edit/",
        "/customers/{pk}/merge/",
        "/customers/organisations/",
        "/customers/organisations/new/",
        "/customers/organisations/{org}/",
        "/customers/organisations/{org}/edit/",
    ],
)
def test_pages_render_for_the_admin(
    world: dict[str, Any], li: Customer, login_client: Callable[..., JsonClient], path: str
) -> None:
    # given
    client = login_client(world["admin"])
    # when
    response = client.get(path.format(pk=li.pk, org=li.organisation_id))
    # then
    assert response.status_code == 200
    content = response.content.decode()
    assert "<script>" not in content
    assert " style=" not in content
    assert " onclick=" not in content


def test_customer_360_shows_profile_identities_notes_and_history(
    world: dict[str, Any], li: Customer, login_client: Callable[..., JsonClient]
) -> None:
    # given
    client = login_client(world["insider"])
    # when
    response = client.get(f"/customers/{li.pk}/")
    # then
    assert response.status_code == 200
    content = response.content.decode()
    assert "Li Wei" in content
    assert "Acme" in content
    assert "+8613812345678" in content
    assert "Prefers calls after 6pm" in content
    assert "vip-line" in content
    history = [(e.verb, e.actor_label) for e in response.context["history"]]
    assert history == [
        ("updated", "root-admin"),
        ("note_added", "root-admin"),
        ("created", "root-admin"),
    ]
    assert response.context["may_change"] is True
    assert response.context["may_merge"] is False


@pytest.mark.parametrize(
    ("actor", "detail_status"),
    [
        pytest.param("outsider", 404, id="_case_outsider"),
        pytest.param("contact", 403, id="_case_contact"),
    ],
)
def test_out_of_scope_customer_page_is_404(
    world: dict[str, Any],
    li: Customer,
    login_client: Callable[..., JsonClient],
    actor: str,
    detail_status: int,
) -> None:
    """An agent outside the scope cannot tell the customer exists; a contact holds no view
    permission at all (403 on the page), and every write is 404 for both."""
    # given
    client = login_client(world[actor])
    before = customer_state()
    # when
    pages = [
        client.get(f"/customers/{li.pk}/"),
        client.get(f"/customers/{li.pk}/edit/"),
        client.post(f"/customers/{li.pk}/notes/", {"body": "sneaky"}),
        client.post(f"/customers/{li.pk}/identities/", {"kind": "email", "value": "x@example.com"}),
    ]
    # then
    assert [p.status_code for p in pages] == [detail_status, 404, 404, 404]
    assert customer_state() == before


def test_list_shows_only_customers_in_scope(
    world: dict[str, Any],
    li: Customer,
    make_customer: Callable[..., Any],
    login_client: Callable[..., JsonClient],
) -> None:
    # given
    make_customer(name="Far Away", team=world["team_b"])
    # when
    inside = login_client(world["insider"]).get("/customers/")
    outside = login_client(world["outsider"]).get("/customers/")
    # then
    assert [c.name for c in inside.context["page"].object_list] == ["Li Wei"]
    assert [c.name for c in outside.context["page"].object_list] == ["Far Away"]
    assert login_client(world["contact"]).get("/customers/").status_code == 403


def test_agent_creates_a_customer_and_sees_errors_next_to_fields(
    world: dict[str, Any], li: Customer, login_client: Callable[..., JsonClient]
) -> None:
    # given
    client = login_client(world["insider"])
    client.cookies["django_language"] = "en"
    # when: a blank name is refused by the form
    blank = client.post(
        "/customers/new/",
        {"name": "", "business_line": world["line_a"].pk, "team": world["team_a"].pk},
    )
    created = client.post(
        "/customers/new/",
        {
            "name": "Wang Fang",
            "business_line": world["line_a"].pk,
            "team": world["team_a"].pk,
            "tags": "a, b",
            "owner": world["insider"].pk,
        },
    )
    # then
    assert blank.status_code == 200
    assert blank.context["form"].errors == {"name": ["This field is required."]}
    customer = Customer.objects.get(name="Wang Fang")
    assert created.status_code == 302
    assert created["Location"] == f"/customers/{customer.pk}/"
    assert (customer.team_id, customer.tags, customer.owner_id) == (
        world["team_a"].pk,
        ["a", "b"],
        world["insider"].pk,
    )


def test_duplicate_identity_error_appears_next_to_the_value_field(
    world: dict[str, Any],
    li: Customer,
    make_customer: Callable[..., Any],
    login_client: Callable[..., JsonClient],
) -> None:
    # given
    other = make_customer(name="Wang Fang", team=world["team_a"])
    client = login_client(world["insider"])
    client.cookies["django_language"] = "en"
    before = customer_state()
    # when
    response = client.post(
        f"/customers/{other.pk}/identities/", {"kind": "phone", "value": "138 1234 5678"}
    )
    # then
    assert response.status_code == 422
    assert response.context["identity_form"].errors == {
        "value": [f"Phone +8613812345678 already belongs to customer Li Wei (#{li.pk})."]
    }
    assert customer_state() == before


def test_identity_and_note_are_added_and_removed_through_the_page(
    world: dict[str, Any], li: Customer, login_client: Callable[..., JsonClient]
) -> None:
    # given
    client = login_client(world["insider"])
    phone = li.identities.get()
    # when
    client.post(f"/customers/{li.pk}/identities/", {"kind": "email", "value": "Li@Example.com"})
    client.post(f"/customers/{li.pk}/identities/{phone.pk}/remove/")
    client.post(f"/customers/{li.pk}/notes/", {"body": "Sent a new router"})
    # then
    assert list(li.identities.values_list("kind", "value")) == [("email", "li@example.com")]
    assert list(CustomerNote.objects.filter(customer=li).values_list("body", flat=True)) == [
        "Sent a new router",
        "Prefers calls after 6pm",
    ]


def test_stale_edit_form_is_refused_with_a_message(
    world: dict[str, Any], li: Customer, login_client: Callable[..., JsonClient]
) -> None:
    # given: the form was loaded at version 2, then someone saved version 3
    client = login_client(world["insider"])
    client.cookies["django_language"] = "en"
    services.update_customer(actor=world["admin"], customer=li, changes={"name": "Li Wei (BJ)"})
    # when
    response = client.post(
        f"/customers/{li.pk}/edit/",
        {
            "name": "Li Wei (SH)",
            "business_line": world["line_a"].pk,
            "team": world["team_a"].pk,
            "is_active": "on",
            "version": 2,
        },
    )
    # then
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [
        "Someone else changed this customer meanwhile. Reload the page and try again."
    ]
    assert Customer.objects.get(pk=li.pk).name == "Li Wei (BJ)"


def test_merge_page_previews_then_merges(
    world: dict[str, Any],
    li: Customer,
    make_customer: Callable[..., Any],
    login_client: Callable[..., JsonClient],
) -> None:
    # given
    twin = make_customer(name="Wei Li", team=world["team_a"], identities=[("email", "w@ex.com")])
    client = login_client(world["admin"])
    # when
    preview = client.get(f"/customers/{li.pk}/merge/?other={twin.pk}&survivor=this")
    merged = client.post(
        f"/customers/{li.pk}/merge/", {"other": twin.pk, "survivor": "this", "confirm": "1"}
    )
    # then
    assert preview.status_code == 200
    assert [i.value for i in preview.context["preview"].identities_moving] == ["w@ex.com"]
    assert Customer.objects.get(pk=twin.pk).merged_into_id is not None  # after the POST
    assert merged.status_code == 302
    assert merged["Location"] == f"/customers/{li.pk}/"
    assert sorted(li.identities.values_list("value", flat=True)) == ["+8613812345678", "w@ex.com"]


def test_import_page_lists_bad_rows_and_saves_nothing(
    world: dict[str, Any], login_client: Callable[..., JsonClient]
) -> None:
    # given
    content = (
        "\ufeffname,phone,business_line code\n"
        "Li,13812345678,line-a\n"
        ",13812345679,line-a\n"
        "Wang,13812345678,line-a\n"
    ).encode()
    client = login_client(world["admin"])
    before = customer_state()
    # when
    response = client.post("/customers/import/", {"file": SimpleUploadedFile("c.csv", content)})
    # then
    assert response.status_code == 422
    assert [(e.row, e.field) for e in response.context["report"].errors] == [
        (3, "name"),
        (4, "phone"),
    ]
    assert customer_state() == before


def test_import_page_imports_a_clean_sheet(
    world: dict[str, Any], login_client: Callable[..., JsonClient]
) -> None:
    # given
    content = b"name,email,business_line code\nLi,LI@example.com,line-a\n"
    # when
    response = login_client(world["admin"]).post(
        "/customers/import/", {"file": SimpleUploadedFile("c.csv", content)}
    )
    # then
    assert response.status_code == 302
    assert list(CustomerIdentity.objects.values_list("value", flat=True)) == ["li@example.com"]


def test_export_button_downloads_a_neutralised_csv(
    world: dict[str, Any],
    make_customer: Callable[..., Any],
    login_client: Callable[..., JsonClient],
) -> None:
    # given
    make_customer(name="=1+1", team=world["team_a"])
    # when
    response = login_client(world["admin"]).get("/customers/export/?format=csv")
    # then
    assert response.status_code == 200
    lines = response.content.decode("utf-8-sig").splitlines()
    assert lines[1].split(",")[1] == "'=1+1"
    assert login_client(world["insider"]).get("/customers/export/?format=csv").status_code == 403


def test_organisation_is_created_through_the_page(
    world: dict[str, Any], login_client: Callable[..., JsonClient]
) -> None:
    # given
    client = login_client(world["admin"])
    # when
    response = client.post(
        "/customers/organisations/new/",
        {"name": "Globex", "code": "globex", "business_line": world["line_b"].pk, "tags": "b2b"},
    )
    # then
    organisation = Organisation.objects.get(code="globex")
    assert response.status_code == 302
    assert (organisation.tier.key, organisation.tags, organisation.owner_id) == (
        "normal",
        ["b2b"],
        None,
    )
