"""The customer portal through Django's test client: sign-in, my requests, a new request with
a conditional field and a photo, the public conversation, close and reopen, tracking links,
and the knowledge base's "this solved it"."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from aftersales.customers import services as customer_services
from aftersales.customers.models import Customer
from aftersales.customfields import services as customfields
from aftersales.knowledge import services as knowledge_services
from aftersales.knowledge.models import Article, Deflection
from aftersales.notifications.defaults import sync_default_templates
from aftersales.notifications.models import Delivery
from aftersales.outbox import services as outbox
from aftersales.outbox.models import OutboxEvent
from aftersales.portal import services as portal
from aftersales.portal.models import SignInCode
from aftersales.tickets import services as ticket_services
from aftersales.tickets.models import Attachment, Ticket, TicketStatus, form_key_of

pytestmark = pytest.mark.django_db
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _as(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def warranty_fields(desk: dict[str, Any]) -> None:
    """The repair form asks customers whether the machine is under warranty and, only when it
    is, for the invoice number."""
    subtarget = form_key_of(desk["repair"].pk)
    customfields.create_definition(
        actor=desk["admin"], target="tickets.ticket", subtarget=subtarget,
        key="under_warranty", field_type="yes_no", label_zh="在保修期内", label_en="Under warranty",
        customer_visible=True, customer_editable=True,
    )  # fmt: skip
    customfields.create_definition(
        actor=desk["admin"], target="tickets.ticket", subtarget=subtarget,
        key="invoice_number", field_type="text", label_zh="发票号", label_en="Invoice number",
        customer_visible=True, customer_editable=True, is_required=True,
        visible_when={"field": "under_warranty", "op": "equals", "value": True},
    )  # fmt: skip


def test_a_signed_in_customer_files_a_request_with_a_photo_and_a_conditional_field(
    desk: dict[str, Any], warranty_fields: None
) -> None:
    client = _as(desk["contact_a"])
    form = {
        "ticket_type": desk["repair"].pk,
        "subject": "Washer shows E3",
        "description": "It stops and does not drain.",
        "cf_under_warranty": "true",
    }
    # The invoice number appears once "under warranty" is ticked, and is then required.
    refused = client.post("/portal/new/", form, **EN)
    assert refused.status_code == 422
    assert "Invoice number" in refused.content.decode()
    assert Ticket.objects.count() == 0

    photo = SimpleUploadedFile("washer.png", PNG, content_type="image/png")
    response = client.post(
        "/portal/new/", {**form, "cf_invoice_number": "FP-2026-001", "attachments": [photo]}, **EN
    )

    ticket = Ticket.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/portal/requests/{ticket.number}/"
    assert ticket.requester == desk["alice"]
    assert ticket.channel == Ticket.Channel.PORTAL
    assert ticket.custom_fields["invoice_number"] == "FP-2026-001"
    [attachment] = Attachment.objects.filter(ticket=ticket)
    assert attachment.is_public
    assert attachment.filename == "washer.png"
    page = client.get(response["Location"], **EN).content.decode()
    assert "Washer shows E3" in page
    assert "washer.png" in page
    assert client.get(f"/portal/files/{attachment.pk}/").status_code == 200


def test_the_conversation_shows_public_replies_and_never_internal_notes(
    desk: dict[str, Any], make_ticket: Any
) -> None:
    ticket = make_ticket()
    ticket_services.add_comment(
        actor=desk["insider"], ticket=ticket, body="Our engineer comes on Monday.", is_public=True
    )
    ticket_services.add_comment(
        actor=desk["insider"], ticket=ticket, body="Customer is difficult, VIP", is_public=False
    )
    page = _as(desk["contact_a"]).get(f"/portal/requests/{ticket.number}/", **EN)
    html = page.content.decode()
    assert "Our engineer comes on Monday." in html
    assert "Customer is difficult" not in html
    assert desk["insider"].username not in html  # staff by display name only


def test_another_customers_request_is_not_found_anywhere(
    desk: dict[str, Any], make_ticket: Any
) -> None:
    theirs = make_ticket(requester=desk["bob"])
    [photo] = ticket_services.add_attachments(
        actor=desk["admin"], ticket=theirs, is_public=True,
        files=[SimpleUploadedFile("bob.png", PNG, content_type="image/png")],
    )  # fmt: skip
    alice = _as(desk["contact_a"])
    number = theirs.number
    assert alice.get(f"/portal/requests/{number}/").status_code == 404
    assert alice.post(f"/portal/requests/{number}/reply/", {"body": "hi"}).status_code == 404
    assert alice.post(f"/portal/requests/{number}/close/").status_code == 404
    assert alice.post(f"/portal/requests/{number}/reopen/").status_code == 404
    assert alice.get(f"/portal/files/{photo.pk}/").status_code == 404
    assert number not in alice.get("/portal/?show=all").content.decode()
    assert theirs.comments.count() == 0
    theirs.refresh_from_db()
    assert theirs.status_category == TicketStatus.Category.NEW


def test_customer_replies_closes_and_reopens(desk: dict[str, Any], make_ticket: Any) -> None:
    ticket = make_ticket()
    client = _as(desk["contact_a"])
    client.post(f"/portal/requests/{ticket.number}/reply/", {"body": "Still broken"})
    assert ticket.comments.get().body_text == "Still broken"

    client.post(f"/portal/requests/{ticket.number}/close/")
    ticket.refresh_from_db()
    assert ticket.status_category == TicketStatus.Category.SOLVED

    client.post(f"/portal/requests/{ticket.number}/reopen/")
    ticket.refresh_from_db()
    assert ticket.status_category == TicketStatus.Category.OPEN
    timeline = _as(desk["insider"]).get(f"/tickets/{ticket.number}/", **EN).content.decode()
    assert "The customer closed the request" in timeline
    assert "The customer reopened the request" in timeline


def test_a_visitor_without_account_gets_a_tracking_link_that_opens_only_that_request(
    desk: dict[str, Any], make_ticket: Any
) -> None:
    other = make_ticket()
    visitor = Client()
    response = visitor.post(
        "/portal/new/",
        {
            "ticket_type": desk["repair"].pk,
            "subject": "Fridge is noisy",
            "name": "Carol",
            "email": "carol@example.com",
        },
        **EN,
    )
    assert response.status_code == 200
    ticket = Ticket.objects.get(subject="Fridge is noisy")
    assert ticket.requester.name == "Carol"
    link = re.search(r'href="https?://[^/]+(/portal/track/[^"]+)"', response.content.decode())
    assert link is not None
    path = link.group(1)
    assert "Fridge is noisy" in visitor.get(path, **EN).content.decode()
    visitor.post(path, {"body": "It got worse"})
    assert ticket.comments.get().author_customer == ticket.requester
    # The link opens nothing else: a forged token, or this one pointed at another ticket.
    assert visitor.get(path[:-3] + "abc/").status_code == 404
    forged = portal.tracking_path(other).replace("/portal/track/", "")
    assert visitor.get(path.replace(path.split("/")[3], forged[:10])).status_code == 404
    # …and it gives no session: the visitor's list is still the landing page.
    assert "Sign in" in visitor.get("/portal/", **EN).content.decode()


def test_sign_in_with_a_code_sent_by_email(desk: dict[str, Any], make_ticket: Any) -> None:
    make_ticket()
    customer_services.add_identity(
        actor=desk["admin"], customer=desk["alice"], kind="email", value="alice@example.com"
    )
    client = Client()
    client.post("/portal/sign-in/code/", {"address": "Alice@Example.com"})
    [message] = mail.outbox
    code = re.search(r"\b(\d{6})\b", message.body).group(1)  # type: ignore[union-attr]
    wrong = "000000" if code != "000000" else "111111"
    assert client.post("/portal/sign-in/code/verify/", {"code": wrong}).status_code == 200
    response = client.post("/portal/sign-in/code/verify/", {"code": code})
    assert response.status_code == 302
    assert "Washing machine does not drain" in client.get("/portal/", **EN).content.decode()
    # A code works once.
    assert portal.SignInCode.objects.get().used_at is not None


def test_an_unknown_address_gets_the_same_answer_and_no_mail(desk: dict[str, Any]) -> None:
    client = Client()
    response = client.post("/portal/sign-in/code/", {"address": "nobody@example.com"})
    assert response.status_code == 302
    assert mail.outbox == []
    assert SignInCode.objects.count() == 0


def test_five_wrong_codes_use_the_code_up(desk: dict[str, Any]) -> None:
    customer_services.add_identity(
        actor=desk["admin"], customer=desk["alice"], kind="email", value="alice@example.com"
    )
    portal.request_sign_in_code(address="alice@example.com")
    code = re.search(r"\b(\d{6})\b", mail.outbox[0].body).group(1)  # type: ignore[union-attr]
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(portal.CODE_ATTEMPTS):
        with pytest.raises(portal.DomainError):
            portal.verify_sign_in_code(address="alice@example.com", code=wrong)
    with pytest.raises(portal.DomainError):
        portal.verify_sign_in_code(address="alice@example.com", code=code)


def test_password_sign_in_is_for_customers_only(desk: dict[str, Any]) -> None:
    desk["contact_a"].set_password("secret-pass-123")
    desk["contact_a"].save()
    desk["insider"].set_password("secret-pass-123")
    desk["insider"].save()
    client = Client()
    staff = client.post(
        "/portal/sign-in/", {"username": "insider", "password": "secret-pass-123"}, **EN
    )
    assert staff.status_code == 200
    assert "not correct" in staff.content.decode()
    response = client.post(
        "/portal/sign-in/", {"username": "contact-a", "password": "secret-pass-123"}
    )
    assert response.status_code == 302
    assert client.get("/portal/").templates[0].name == "portal/home.html"


def _article(desk: dict[str, Any], title: str, visibility: str) -> Article:
    article = knowledge_services.create_article(
        actor=desk["admin"],
        business_line=desk["line_a"],
        visibility=visibility,
        texts={"zh-hans": {"title": title, "body": f"<p>{title}：先检查排水管是否堵塞。</p>"}},
    )
    knowledge_services.submit_article(actor=desk["admin"], article=article)
    return knowledge_services.publish_article(actor=desk["admin"], article=article)


def test_this_solved_it_counts_a_deflection_and_files_nothing(desk: dict[str, Any]) -> None:
    public = _article(desk, "洗衣机不排水 E3 错误", Article.Visibility.PUBLIC)
    internal = _article(desk, "洗衣机 E3 内部维修手册", Article.Visibility.INTERNAL)
    client = _as(desk["contact_a"])
    suggestions = client.get("/portal/suggest/", {"subject": "洗衣机 E3 不排水"}).content.decode()
    assert f"/portal/help/{public.pk}/" in suggestions
    assert f"/portal/help/{internal.pk}/" not in suggestions
    assert client.get(f"/portal/help/{internal.pk}/").status_code == 404

    client.post(
        f"/portal/help/{public.pk}/feedback/",
        {"helpful": "yes", "from": "request", "q": "洗衣机 E3 不排水"},
    )

    assert Deflection.objects.get().query == "洗衣机 E3 不排水"
    public.refresh_from_db()
    assert public.helpful_count == 1
    assert Ticket.objects.count() == 0


def test_a_customer_login_is_made_when_a_channel_opens_the_portal(desk: dict[str, Any]) -> None:
    carol = customer_services.create_customer(
        actor=None,
        name="Carol",
        business_line=desk["line_a"],
        identities=[("phone", "13800138000")],
    )
    user = portal.ensure_portal_login(customer=carol)
    assert user.kind == "customer"
    assert not user.has_usable_password()
    assert Customer.objects.get(pk=carol.pk).portal_user == user
    assert portal.ensure_portal_login(customer=carol) == user


def test_the_received_mail_links_to_the_request_on_the_portal(desk: dict[str, Any]) -> None:
    sync_default_templates()
    customer_services.add_identity(
        actor=desk["admin"], customer=desk["alice"], kind="email", value="alice@example.com"
    )
    ticket = portal.submit_request(
        actor=desk["contact_a"],
        ticket_type=desk["repair"],
        subject="Washer shows E3",
        description="",
        custom_fields={},
    )
    for event in OutboxEvent.objects.filter(topic="ticket.created"):
        outbox.deliver_event(str(event.pk))  # as a worker would
    mails = Delivery.objects.filter(channel="email", address="alice@example.com")
    assert any(f"/portal/requests/{ticket.number}/" in d.body for d in mails)


def test_a_customer_who_signed_in_with_a_code_sets_a_first_password(
    desk: dict[str, Any],
) -> None:
    desk["contact_a"].set_unusable_password()
    desk["contact_a"].save()
    client = _as(desk["contact_a"])
    page = client.get("/portal/account/", **EN).content.decode()
    assert "Current password" not in page
    response = client.post(
        "/portal/account/",
        {
            "form": "password",
            "new_password": "Washer-E3-fixed!",
            "confirm_password": "Washer-E3-fixed!",
        },
    )
    assert response.status_code == 302
    desk["contact_a"].refresh_from_db()
    assert desk["contact_a"].check_password("Washer-E3-fixed!")
    # Still signed in here; and the next change asks for the current password.
    page = client.get("/portal/account/", **EN).content.decode()
    assert "Current password" in page
    refused = client.post(
        "/portal/account/",
        {"form": "password", "current_password": "wrong", "new_password": "Another-1234!",
         "confirm_password": "Another-1234!"},
        **EN,
    )  # fmt: skip
    assert refused.status_code == 422
    assert "The current password is not correct." in refused.content.decode()


def test_types_kept_off_the_portal_are_not_offered_or_accepted(
    desk: dict[str, Any], make_type: Any
) -> None:
    internal = make_type(line=desk["line_a"], key="internal-task", name_en="Internal task")
    ticket_services.update_ticket_type(
        actor=desk["admin"], ticket_type=internal, changes={"on_portal": False}
    )
    client = _as(desk["contact_a"])
    page = client.get("/portal/new/", **EN).content.decode()
    refused = client.post("/portal/new/", {"ticket_type": internal.pk, "subject": "Sneaky"}, **EN)
    assert "Internal task" not in page
    assert desk["repair"].name_en in page
    assert refused.status_code == 422
    assert Ticket.objects.count() == 0


def test_a_public_articles_files_are_listed_and_readable_on_the_portal(
    desk: dict[str, Any],
) -> None:
    article = _article(desk, "洗衣机 E3 排水泵清洁步骤", Article.Visibility.PUBLIC)
    [manual] = knowledge_services.add_article_attachments(
        actor=desk["admin"],
        article=article,
        files=[
            SimpleUploadedFile("manual.pdf", b"%PDF-1.4 drain pump", content_type="application/pdf")
        ],
    )
    visitor = Client()
    page = visitor.get(f"/portal/help/{article.pk}/", **EN).content.decode()
    assert "manual.pdf" in page
    assert visitor.get(f"/knowledge/files/{manual.pk}/").status_code == 200
