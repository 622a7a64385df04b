"""One customer across channels: verified phone and unionid matching, linking an unknown
identity, and the customer 360 timeline."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from aftersales.audit.models import AuditEntry
from aftersales.customers import services as customer_services
from aftersales.customers.models import Customer, CustomerIdentity
from aftersales.messaging.models import PlatformAccount
from aftersales.outbox.models import OutboxEvent
from aftersales.tickets import services as ticket_services
from aftersales.tickets.models import Ticket
from tests.messaging.conftest import FakePlatform, deliver_all, safe_mode_request, text_xml

pytestmark = pytest.mark.django_db


def post_message(
    client: Client, account: PlatformAccount, openid: str, text: str, msg_id: int
) -> Any:
    query, body = safe_mode_request(text_xml(openid, text, msg_id))
    return client.post(
        f"/messaging/wechat/{account.key}/callback?{query}", body, content_type="text/xml"
    )


@pytest.fixture
def email_customer(desk: dict[str, Any]) -> tuple[Customer, Ticket]:
    """Lin wrote by e-mail first; her record has her e-mail and her phone."""
    lin = customer_services.create_customer(
        actor=desk["admin"],
        name="Lin",
        business_line=desk["east"],
        team=desk["team"],
        identities=[("email", "lin@example.com"), ("phone", "138 0013 8000")],
    )
    ticket = ticket_services.create_ticket(
        actor=None,
        ticket_type=desk["support"],
        requester=lin,
        subject="Invoice missing",
        description="Sent by e-mail",
        channel=Ticket.Channel.EMAIL,
        team=desk["team"],
    )
    return lin, ticket


def test_email_then_wechat_with_the_same_verified_phone_is_one_customer(
    client: Client,
    make_account: Any,
    fake_platform: FakePlatform,
    email_customer: tuple[Customer, Ticket],
    desk: dict[str, Any],
    login_client: Any,
) -> None:
    lin, email_ticket = email_customer
    mini = make_account(key="mini", kind=PlatformAccount.Kind.WECHAT_MINIPROGRAM)
    fake_platform.codes["login-1"] = {"openid": "o-lin", "session_key": "k"}
    fake_platform.phones["phone-1"] = "13800138000"

    # The mini-program signs her in: WeChat vouches for her openid and phone.
    identified = client.post(
        f"/messaging/wechat/{mini.key}/identify",
        json.dumps({"login_code": "login-1", "phone_code": "phone-1"}),
        content_type="application/json",
    )
    assert (identified.status_code, identified.json()) == (200, {"customer_id": lin.pk})
    # Then she writes to customer service in the mini-program.
    assert post_message(client, mini, "o-lin", "发票还没收到", 9101).status_code == 200
    deliver_all()

    wechat_ticket = Ticket.objects.exclude(pk=email_ticket.pk).get()
    assert wechat_ticket.requester_id == lin.pk
    assert wechat_ticket.channel == Ticket.Channel.WECHAT
    assert Customer.objects.count() == 1
    assert sorted(lin.identities.values_list("kind", flat=True)) == [
        "email",
        "phone",
        "wechat_openid",
    ]

    # The customer 360 page shows both conversations with their channels.
    page = login_client(desk["agent"]).get(f"/customers/{lin.pk}/", HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    timeline = page.context["timeline"]
    assert [(e.kind, e.channel, e.ticket.pk) for e in timeline if e.kind == "opened"] == [
        ("opened", "wechat", wechat_ticket.pk),
        ("opened", "email", email_ticket.pk),
    ]
    html = page.content.decode()
    assert 'data-channel="email"' in html
    assert 'data-channel="wechat"' in html
    assert '<span class="badge badge-info">E-mail</span>' in html
    assert '<span class="badge badge-info">WeChat</span>' in html


def test_identify_with_a_forged_code_links_nothing(
    client: Client, make_account: Any, email_customer: tuple[Customer, Ticket]
) -> None:
    mini = make_account(key="mini", kind=PlatformAccount.Kind.WECHAT_MINIPROGRAM)
    response = client.post(
        f"/messaging/wechat/{mini.key}/identify",
        json.dumps({"login_code": "forged", "phone_code": "forged"}),
        content_type="application/json",
    )
    assert response.status_code == 403
    assert CustomerIdentity.objects.filter(kind="wechat_openid").count() == 0


def test_agent_links_an_unknown_wechat_sender_to_the_existing_customer(
    client: Client,
    account: PlatformAccount,
    fake_platform: FakePlatform,
    email_customer: tuple[Customer, Ticket],
    desk: dict[str, Any],
    login_client: Any,
) -> None:
    lin, _email_ticket = email_customer
    post_message(client, account, "o-unknown", "我是林女士", 9102)
    deliver_all()
    stranger = Ticket.objects.get(channel=Ticket.Channel.WECHAT).requester
    assert stranger.pk != lin.pk
    openid = stranger.identities.get(kind="wechat_openid")

    response = login_client(desk["agent"]).post(
        f"/customers/{stranger.pk}/identities/link/",
        {"identity": openid.pk, "customer_id": lin.pk},
    )
    assert response.status_code == 302
    assert response["Location"] == f"/customers/{lin.pk}/"
    deliver_all()  # tickets follow a merged customer through the outbox

    stranger.refresh_from_db()
    assert (stranger.is_active, stranger.merged_into_id) == (False, lin.pk)
    assert Ticket.objects.get(channel=Ticket.Channel.WECHAT).requester_id == lin.pk
    assert CustomerIdentity.objects.get(kind="wechat_openid", is_active=True).customer_id == lin.pk
    assert AuditEntry.objects.filter(object_id=str(lin.pk), verb="merged").count() == 1
    # A later message from that openid lands on Lin.
    post_message(client, account, "o-unknown", "还有一个问题", 9103)
    deliver_all()
    assert Ticket.objects.get(channel=Ticket.Channel.WECHAT).comments.get().author_customer == lin


def test_link_moves_only_the_identity_from_a_customer_known_otherwise(
    desk: dict[str, Any], email_customer: tuple[Customer, Ticket], token_client: Any
) -> None:
    lin, _ticket = email_customer
    other = customer_services.create_customer(
        actor=desk["admin"],
        name="Shared phone",
        business_line=desk["east"],
        team=desk["team"],
        identities=[("email", "front-desk@example.com"), ("wechat_openid", "o-shared")],
    )
    openid = other.identities.get(kind="wechat_openid")
    response = token_client(desk["agent"]).post_json(
        f"/api/v1/customers/{other.pk}/identities/{openid.pk}/link", {"customer_id": lin.pk}
    )
    assert response.status_code == 200
    assert response.json() == {
        "customer_id": lin.pk,
        "identity": "wechat_openid:o-shared",
        "merged_id": None,
    }
    other.refresh_from_db()
    assert other.is_active is True
    assert list(other.identities.values_list("kind", flat=True)) == ["email"]
    assert lin.identities.filter(kind="wechat_openid", value="o-shared").count() == 1
    assert OutboxEvent.objects.filter(topic="customer.identity_linked").count() == 1


def test_outsider_cannot_link_an_identity(
    desk: dict[str, Any], email_customer: tuple[Customer, Ticket], token_client: Any
) -> None:
    lin, _ticket = email_customer
    other = customer_services.create_customer(
        actor=desk["admin"],
        name="Someone",
        business_line=desk["east"],
        team=desk["team"],
        identities=[("wechat_openid", "o-someone")],
    )
    openid = other.identities.get()
    response = token_client(desk["outsider"]).post_json(
        f"/api/v1/customers/{other.pk}/identities/{openid.pk}/link", {"customer_id": lin.pk}
    )
    assert response.status_code == 404
    assert CustomerIdentity.objects.get(value="o-someone").customer_id == other.pk
    assert (
        OutboxEvent.objects.filter(
            topic__in=["customer.merged", "customer.identity_linked"]
        ).count()
        == 0
    )
