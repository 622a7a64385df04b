"""The public form: a visitor on the company's site fills it in the iframe and gets a ticket."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from aftersales.customers.models import Customer, CustomerIdentity
from aftersales.customfields import services as customfields
from aftersales.notifications.defaults import sync_default_templates
from aftersales.notifications.models import Notification
from aftersales.outbox import services as outbox
from aftersales.outbox.models import OutboxEvent
from aftersales.tickets.models import Attachment, Ticket, form_key_of
from aftersales.webforms.models import WebForm
from tests.webforms.conftest import SITE, Visitor, later

pytestmark = pytest.mark.django_db


def test_form_page_may_be_framed_only_by_the_allowed_sites(
    web_form: WebForm, visitor: Visitor
) -> None:
    response = visitor.open(web_form)
    assert response.status_code == 200
    assert "X-Frame-Options" not in response
    policy = response["Content-Security-Policy"]
    assert f"frame-ancestors 'self' {SITE}" in policy
    assert "frame-ancestors 'none'" not in policy
    assert "Set-Cookie" not in str(response.cookies) or not response.cookies
    body = response.content.decode()
    assert 'name="token"' in body
    assert "Washing" not in body
    assert 'name="website"' in body  # the honeypot


def test_a_post_becomes_a_ticket_of_the_forms_type_team_and_channel(
    desk: dict[str, Any], web_form: WebForm, visitor: Visitor
) -> None:
    # when
    response = visitor.post(web_form, origin="http://testserver")
    # then: redirected to the answer (reloading it sends nothing again)
    assert response.status_code == 200
    [(answer_url, redirect_status)] = response.redirect_chain
    assert redirect_status == 303
    assert answer_url.startswith(f"/forms/{web_form.key}/done/?receipt=")
    ticket = Ticket.objects.get()
    body = response.content.decode()
    assert "Thanks! We will call you back." in body
    assert ticket.number in body
    assert (ticket.ticket_type_id, ticket.business_line_id, ticket.team_id) == (
        desk["repair"].pk,
        desk["line_a"].pk,
        desk["team_a"].pk,
    )
    assert (ticket.channel, ticket.priority, ticket.created_by_id) == ("web_form", 2, None)
    assert ticket.subject == "Washing machine does not drain"
    assert ticket.description == "<p>E3 on the display.<br>Water stays in the drum.</p>"
    requester = ticket.requester
    assert (requester.name, requester.business_line_id) == ("Wang Fang", desk["line_a"].pk)
    assert list(requester.identities.values_list("kind", "value")) == [
        ("email", "wang.fang@example.com")
    ]


def test_a_known_email_files_for_the_existing_customer_without_changing_them(
    desk: dict[str, Any], web_form: WebForm, visitor: Visitor
) -> None:
    from aftersales.customers import services as customer_services

    customer_services.add_identity(
        actor=desk["admin"], customer=desk["alice"], kind="email", value="alice@example.com"
    )
    customers_before = Customer.objects.count()
    response = visitor.post(
        web_form, {"name": "Not Alice", "email": "ALICE@example.com", "phone": "13812345678"}
    )
    assert response.status_code == 200
    ticket = Ticket.objects.get()
    assert ticket.requester_id == desk["alice"].pk
    assert Customer.objects.count() == customers_before
    assert list(
        CustomerIdentity.objects.filter(customer=desk["alice"]).values_list("kind", flat=True)
    ) == ["email"]
    desk["alice"].refresh_from_db()
    assert desk["alice"].name == "Alice"


def test_the_requester_is_told_the_request_was_received(
    web_form: WebForm, visitor: Visitor
) -> None:
    sync_default_templates()
    visitor.post(web_form)
    with later(60):  # the post happened a little later, as a person types
        for event in OutboxEvent.objects.filter(topic="ticket.created"):
            outbox.deliver_event(str(event.pk))
    [notification] = Notification.objects.all()
    ticket = Ticket.objects.get()
    assert (notification.event, notification.ticket_id) == ("ticket_received", ticket.pk)
    assert list(notification.deliveries.values_list("channel", "address")) == [
        ("email", "wang.fang@example.com")
    ]


def test_missing_contact_and_subject_are_shown_next_to_the_fields_and_kept(
    web_form: WebForm, visitor: Visitor
) -> None:
    response = visitor.post(
        web_form,
        {"name": "", "email": "", "subject": "", "description": "Typed with care"},
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert 'data-testid="error-name"' in body
    assert 'data-testid="error-email"' in body
    assert 'data-testid="error-subject"' in body
    assert "Enter your e-mail address or phone number." in body
    assert "Typed with care" in body
    assert Ticket.objects.count() == 0


def test_an_invalid_email_is_refused_next_to_it(web_form: WebForm, visitor: Visitor) -> None:
    response = visitor.post(web_form, {"email": "not-an-address", "subject": "Kept subject"})
    assert response.status_code == 422
    body = response.content.decode()
    assert 'data-testid="error-email"' in body
    assert 'value="Kept subject"' in body
    assert Ticket.objects.count() == 0


def test_a_phone_alone_is_enough_contact(web_form: WebForm, visitor: Visitor) -> None:
    response = visitor.post(web_form, {"email": "", "phone": "138 1234 5678"})
    assert response.status_code == 200
    ticket = Ticket.objects.get()
    assert list(ticket.requester.identities.values_list("kind", "value")) == [
        ("phone", "+8613812345678")
    ]


def test_without_required_contact_an_anonymous_post_is_accepted(
    make_form: Any, visitor: Visitor
) -> None:
    web_form = make_form(is_contact_required=False)
    response = visitor.post(web_form, {"name": "", "email": ""})
    assert response.status_code == 200
    assert Ticket.objects.get().requester.name == "Web visitor"


def test_a_filled_honeypot_gets_thanks_and_creates_nothing(
    web_form: WebForm, visitor: Visitor, caplog: Any
) -> None:
    customers_before = Customer.objects.count()
    response = visitor.post(web_form, {"website": "http://spam.example"})
    assert response.status_code == 200
    assert "Thanks! We will call you back." in response.content.decode()
    assert Ticket.objects.count() == 0
    assert Customer.objects.count() == customers_before
    assert "honeypot filled" in caplog.text


@pytest.mark.parametrize(
    ("_case", "token", "wait", "code_text"),
    [
        ("forged", "eyJmIjoxfQ:1u:forged", 10, "could not be verified"),
        ("missing", "", 10, "could not be verified"),
        ("too fast", None, 0, "quicker than a person types"),
        ("expired", None, 13 * 3600, "open for a long time"),
    ],
)
def test_a_bad_token_creates_nothing_and_keeps_the_entries(
    web_form: WebForm,
    visitor: Visitor,
    _case: str,
    token: str | None,
    wait: float,
    code_text: str,
) -> None:
    fields = {"subject": "Still here"}
    if token is not None:
        fields["token"] = token
    response = visitor.post(web_form, fields, wait=wait)
    assert response.status_code == 400
    body = response.content.decode()
    assert code_text in body
    assert 'value="Still here"' in body
    assert 'name="token" value="' in body  # a fresh token to send again
    assert Ticket.objects.count() == 0


def test_a_token_of_another_form_is_refused(make_form: Any, visitor: Visitor) -> None:
    first, second = make_form(), make_form(name="Other")
    response = visitor.post(second, token=visitor.token(first))
    assert response.status_code == 400
    assert Ticket.objects.count() == 0


@pytest.mark.parametrize(
    ("_case", "headers"),
    [
        ("origin", {"HTTP_ORIGIN": "https://evil.example.net"}),
        ("referer", {"HTTP_REFERER": "https://evil.example.net/page"}),
        ("lookalike", {"HTTP_ORIGIN": "https://shop.example.com.evil.net"}),
    ],
)
def test_a_post_from_a_site_not_allowed_is_refused(
    web_form: WebForm, visitor: Visitor, _case: str, headers: dict[str, str]
) -> None:
    token = visitor.token(web_form)
    response = visitor.client.post(
        f"/forms/{web_form.key}/",
        {"name": "X", "email": "x@example.com", "subject": "S", "token": token},
        **headers,
    )
    assert response.status_code == 403
    assert "does not accept posts from this website" in response.content.decode()
    assert Ticket.objects.count() == 0


def test_a_post_from_an_allowed_site_is_accepted(web_form: WebForm, visitor: Visitor) -> None:
    response = visitor.post(web_form, origin=SITE)
    assert response.status_code == 200


def test_an_inactive_or_unknown_form_is_not_found(
    desk: dict[str, Any], make_form: Any, visitor: Visitor
) -> None:
    inactive = make_form(is_active=False)
    assert visitor.client.get(f"/forms/{inactive.key}/").status_code == 404
    assert visitor.client.get("/forms/no-such-key/").status_code == 404
    assert visitor.client.get(f"/forms/{inactive.key}/embed.js").status_code == 404


def _conditional_fields(desk: dict[str, Any]) -> None:
    """The repair type asks customers for the fault (required) and, only for "other", a
    description of it; a staff-only field stays off the public form."""
    subtarget = form_key_of(desk["repair"].pk)
    customfields.create_definition(
        actor=desk["admin"],
        target="tickets.ticket",
        subtarget=subtarget,
        key="fault",
        field_type="single_choice",
        label_zh="故障",
        label_en="Fault",
        is_required=True,
        customer_visible=True,
        customer_editable=True,
        config={
            "options": [
                {"key": "e3", "label_zh": "E3", "label_en": "E3 error"},
                {"key": "other", "label_zh": "其他", "label_en": "Something else"},
            ]
        },
    )
    customfields.create_definition(
        actor=desk["admin"],
        target="tickets.ticket",
        subtarget=subtarget,
        key="other_fault",
        field_type="text",
        label_zh="其他故障",
        label_en="Describe the fault",
        is_required=True,
        customer_visible=True,
        customer_editable=True,
        visible_when={"field": "fault", "op": "equals", "value": "other"},
    )
    customfields.create_definition(
        actor=desk["admin"],
        target="tickets.ticket",
        subtarget=subtarget,
        key="internal_cost",
        field_type="number",
        label_zh="内部成本",
        label_en="Internal cost",
    )


def test_required_and_conditional_fields_of_the_type(
    desk: dict[str, Any], web_form: WebForm, visitor: Visitor
) -> None:
    # given
    _conditional_fields(desk)
    page = visitor.open(web_form).content.decode()
    assert "Fault" in page
    assert "Describe the fault" not in page
    assert "Internal cost" not in page
    assert "Resolution code" not in page
    # when the required field is missing
    missing = visitor.post(web_form, {})
    assert missing.status_code == 422
    assert "This field is required." in missing.content.decode()
    # when "other" is chosen, the conditional field appears (live re-render) and is required
    shown = visitor.client.post(f"/forms/{web_form.key}/fields/", {"cf_fault": "other"})
    assert "Describe the fault" in shown.content.decode()
    incomplete = visitor.post(web_form, {"cf_fault": "other"})
    assert incomplete.status_code == 422
    assert "Describe the fault" in incomplete.content.decode()
    assert Ticket.objects.count() == 0
    # then a complete post is accepted with the values
    done = visitor.post(web_form, {"cf_fault": "other", "cf_other_fault": "Door squeaks"})
    assert done.status_code == 200
    assert Ticket.objects.get().custom_fields == {"fault": "other", "other_fault": "Door squeaks"}


def test_a_staff_only_field_sent_anyway_is_refused(
    desk: dict[str, Any], web_form: WebForm, visitor: Visitor
) -> None:
    _conditional_fields(desk)
    response = visitor.post(web_form, {"cf_fault": "e3", "cf_internal_cost": "5"})
    assert response.status_code == 200  # not a field of the public form: ignored
    assert Ticket.objects.get().custom_fields == {"fault": "e3"}


def test_photos_are_stored_on_the_ticket(web_form: WebForm, visitor: Visitor) -> None:
    photo = SimpleUploadedFile("drum.jpg", b"\xff\xd8\xff\xe0fake-jpeg", content_type="image/jpeg")
    video = SimpleUploadedFile("noise.mp4", b"\x00\x00\x00\x18ftypmp42", content_type="video/mp4")
    response = visitor.post(web_form, {"photos": [photo, video]})
    assert response.status_code == 200
    ticket = Ticket.objects.get()
    assert sorted(
        Attachment.objects.filter(ticket=ticket).values_list("filename", "is_public")
    ) == [("drum.jpg", True), ("noise.mp4", True)]


def test_a_refused_file_type_is_shown_next_to_the_photos(
    web_form: WebForm, visitor: Visitor
) -> None:
    bad = SimpleUploadedFile("setup.exe", b"MZ\x90\x00", content_type="application/octet-stream")
    response = visitor.post(web_form, {"photos": [bad]})
    assert response.status_code == 422
    body = response.content.decode()
    assert 'data-testid="error-photos"' in body
    assert Ticket.objects.count() == 0
    assert Customer.objects.filter(name="Wang Fang").count() == 0


def test_chinese_page_and_message(web_form: WebForm, visitor: Visitor) -> None:
    page = visitor.open(web_form, lang="zh-hans")
    assert page["Content-Language"] == "zh-hans"
    response = visitor.post(web_form, {"lang": "zh-hans"})
    assert "谢谢！我们会尽快联系您。" in response.content.decode()


def test_embed_script_names_the_form_and_checks_the_message_origin(
    web_form: WebForm, visitor: Visitor
) -> None:
    response = visitor.client.get(f"/forms/{web_form.key}/embed.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    body = response.content.decode()
    assert f'"formUrl": "http://testserver/forms/{web_form.key}/"' in body
    assert "event.origin !== config.origin" in body
    assert "event.source !== frame.contentWindow" in body


def test_the_page_reports_its_height_only_to_an_allowed_parent(
    web_form: WebForm, visitor: Visitor
) -> None:
    allowed = visitor.open(web_form, parent=SITE).content.decode()
    assert f'data-parent-origin="{SITE}"' in allowed
    foreign = visitor.open(web_form, parent="https://evil.example.net").content.decode()
    assert 'data-parent-origin=""' in foreign


def test_a_required_staff_only_field_makes_the_form_say_so_and_creates_nothing(
    desk: dict[str, Any], web_form: WebForm, visitor: Visitor, caplog: Any
) -> None:
    customfields.create_definition(
        actor=desk["admin"],
        target="tickets.ticket",
        subtarget=form_key_of(desk["repair"].pk),
        key="serial",
        field_type="text",
        label_zh="序列号",
        label_en="Serial number",
        is_required=True,
    )
    customers_before = Customer.objects.count()
    response = visitor.post(web_form)
    assert response.status_code == 422
    assert "This form cannot be sent right now." in response.content.decode()
    assert 'value="Washing machine does not drain"' in response.content.decode()
    assert (Ticket.objects.count(), Customer.objects.count()) == (0, customers_before)
    assert "cannot create tickets" in caplog.text


def test_a_cascading_choice_is_chosen_level_by_level(
    desk: dict[str, Any], web_form: WebForm, visitor: Visitor
) -> None:
    customfields.create_definition(
        actor=desk["admin"],
        target="tickets.ticket",
        subtarget=form_key_of(desk["repair"].pk),
        key="product",
        field_type="cascade",
        label_zh="产品与故障",
        label_en="Product and fault",
        is_required=True,
        customer_visible=True,
        customer_editable=True,
        config={
            "options": [
                {
                    "key": "washer",
                    "label_zh": "洗衣机",
                    "label_en": "Washing machine",
                    "children": [
                        {"key": "e3", "label_zh": "E3 不排水", "label_en": "E3 does not drain"}
                    ],
                }
            ]
        },
    )
    # choosing the first level brings the second (live re-render)
    second = visitor.client.post(
        f"/forms/{web_form.key}/fields/", {"cf_product__0": "washer"}
    ).content.decode()
    assert 'name="cf_product__1"' in second
    assert "E3 does not drain" in second
    # an unfinished path is refused next to the field
    unfinished = visitor.post(web_form, {"cf_product__0": "washer"})
    assert unfinished.status_code == 422
    assert "Choose down to the last level." in unfinished.content.decode()
    done = visitor.post(web_form, {"cf_product__0": "washer", "cf_product__1": "e3"})
    assert done.status_code == 200
    assert Ticket.objects.get().custom_fields == {"product": ["washer", "e3"]}


def test_a_team_deactivated_since_does_not_block_visitors(
    desk: dict[str, Any], web_form: WebForm, visitor: Visitor
) -> None:
    from aftersales.accounts import services as accounts

    accounts.update_team(actor=desk["admin"], team=desk["team_a"], changes={"is_active": False})
    response = visitor.post(web_form)
    assert response.status_code == 200
    ticket = Ticket.objects.get()
    assert (ticket.business_line_id, ticket.team_id) == (desk["line_a"].pk, None)


def test_reloading_the_answer_sends_nothing_again(web_form: WebForm, visitor: Visitor) -> None:
    response = visitor.post(web_form)
    [(answer_url, _status)] = response.redirect_chain
    again = visitor.client.get(answer_url)
    assert again.status_code == 200
    number = Ticket.objects.get().number
    assert number in again.content.decode()
    assert Ticket.objects.count() == 1


def test_a_forged_receipt_shows_no_number(web_form: WebForm, visitor: Visitor) -> None:
    response = visitor.client.get(f"/forms/{web_form.key}/done/", {"receipt": "x:y:z"})
    assert response.status_code == 302
    assert response["Location"] == f"/forms/{web_form.key}/"
