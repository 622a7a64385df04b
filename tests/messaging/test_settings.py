"""Settings pages and API of the platform accounts: permissions, secrets, errors, health."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from aftersales.audit.models import AuditEntry
from aftersales.messaging.models import InboundMessage, PlatformAccount
from aftersales.outbox.models import OutboxEvent
from tests.messaging.conftest import AES_KEY, FakePlatform, deliver_all, safe_mode_request, text_xml

pytestmark = pytest.mark.django_db


def account_state() -> list[Any]:
    return list(
        PlatformAccount.objects.order_by("pk").values_list("pk", "name", "version", "app_secret")
    )


def test_admin_connects_an_account_in_the_page_and_secrets_are_not_shown_back(
    desk: dict[str, Any], login_client: Any, fake_platform: FakePlatform
) -> None:
    client = login_client(desk["admin"])
    response = client.post(
        "/messaging/settings/new/",
        {
            "name": "售后服务号",
            "key": "aftersales-oa",
            "kind": "wechat_official",
            "app_id": "wxabc",
            "app_secret": "super-secret-value",
            "token": "tok",
            "encoding_aes_key": AES_KEY,
            "api_base_url": fake_platform.url,
            "business_line": desk["east"].pk,
            "team": desk["team"].pk,
            "ticket_type": desk["support"].pk,
            "conversation_hours": 48,
            "is_active": "on",
        },
    )
    account = PlatformAccount.objects.get()
    assert response.status_code == 302
    assert (account.app_secret, account.token, account.conversation_hours) == (
        "super-secret-value",
        "tok",
        48,
    )
    page = client.get(f"/messaging/settings/{account.pk}/", HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    assert "super-secret-value" not in html
    assert AES_KEY not in html
    assert f"/messaging/wechat/{account.key}/callback" in html
    audit = AuditEntry.objects.get(object_type="messaging.platformaccount", action="created")
    assert "super-secret-value" not in str(audit.after)
    assert audit.after["has_app_secret"] is True


def test_bad_input_is_shown_next_to_the_field(desk: dict[str, Any], login_client: Any) -> None:
    client = login_client(desk["admin"])
    response = client.post(
        "/messaging/settings/new/",
        {
            "name": "WeCom",
            "key": "wecom",
            "kind": "wecom",
            "app_id": "ww1",
            "token": "tok",
            "encoding_aes_key": "too-short",
            "business_line": desk["east"].pk,
            "ticket_type": desk["support"].pk,
            "conversation_hours": 72,
            "agent_id": "1000002",
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 200
    assert response.context["form"].errors == {
        "encoding_aes_key": ["The EncodingAESKey is 43 letters and digits."]
    }
    assert PlatformAccount.objects.count() == 0


def test_api_rejects_a_team_of_another_line_with_a_field_problem(
    desk: dict[str, Any], token_client: Any
) -> None:
    response = token_client(desk["admin"]).post_json(
        "/api/v1/messaging/accounts",
        {
            "key": "oa",
            "name": "OA",
            "kind": "wechat_official",
            "app_id": "wx1",
            "token": "tok",
            "business_line_id": desk["east"].pk,
            "team_id": desk["west_team"].pk,
            "ticket_type_id": desk["support"].pk,
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "team"
    assert PlatformAccount.objects.count() == 0


def test_api_update_needs_the_current_version(
    desk: dict[str, Any], account: PlatformAccount, token_client: Any
) -> None:
    client = token_client(desk["admin"])
    stale = client.patch_json(
        f"/api/v1/messaging/accounts/{account.pk}", {"name": "Renamed"}, HTTP_IF_MATCH='W/"99"'
    )
    assert stale.status_code == 409
    fresh = client.patch_json(
        f"/api/v1/messaging/accounts/{account.pk}",
        {"name": "Renamed", "app_secret": ""},
        HTTP_IF_MATCH=f'W/"{account.version}"',
    )
    assert fresh.status_code == 200
    body = fresh.json()
    assert (body["name"], body["has_app_secret"], body["version"]) == ("Renamed", True, 2)
    assert "app_secret" not in body
    assert "token" not in body
    account.refresh_from_db()
    assert account.app_secret == "appsecret"  # an empty secret keeps the stored one


def test_check_connection_records_health(
    desk: dict[str, Any], account: PlatformAccount, token_client: Any, login_client: Any
) -> None:
    client = token_client(desk["admin"])
    ok = client.post_json(f"/api/v1/messaging/accounts/{account.pk}/check")
    assert ok.json() == {"ok": True, "health": "ok", "detail": ""}
    PlatformAccount.objects.filter(pk=account.pk).update(app_secret="wrong-secret")
    failing = client.post_json(f"/api/v1/messaging/accounts/{account.pk}/check")
    assert failing.json() == {
        "ok": False,
        "health": "failing",
        "detail": "errcode 40125: invalid appsecret",
    }
    page = login_client(desk["admin"]).get("/messaging/settings/")
    listed = page.content.decode()
    assert 'data-health="failing"' in listed


def test_send_test_reaches_the_fake_platform(
    desk: dict[str, Any], account: PlatformAccount, login_client: Any, fake_platform: FakePlatform
) -> None:
    response = login_client(desk["admin"]).post(
        f"/messaging/settings/{account.pk}/test/", {"recipient": "o-admin", "text": "ping"}
    )
    assert response.status_code == 302
    assert fake_platform.sent == [
        {"touser": "o-admin", "msgtype": "text", "text": {"content": "ping"}}
    ]


@pytest.mark.parametrize(
    ("_case", "who", "statuses"),
    [
        ("anonymous", None, [302, 302, 302, 302]),
        # No permission at all: the lists say 403; one account is simply not there (404).
        ("agent", "agent", [403, 404, 404, 403]),
        ("admin", "admin", [200, 200, 200, 200]),
    ],
)
def test_settings_pages_need_the_permission(
    _case: str,
    who: str | None,
    statuses: list[int],
    desk: dict[str, Any],
    account: PlatformAccount,
    login_client: Any,
) -> None:
    client = Client() if who is None else login_client(desk[who])
    paths = [
        "/messaging/settings/",
        f"/messaging/settings/{account.pk}/",
        f"/messaging/settings/{account.pk}/qr/",
        "/messaging/messages/",
    ]
    assert [client.get(path).status_code for path in paths] == statuses


def test_qr_page_shows_the_portal_link(
    desk: dict[str, Any], account: PlatformAccount, login_client: Any
) -> None:
    page = login_client(desk["admin"]).get(f"/messaging/settings/{account.pk}/qr/")
    html = page.content.decode()
    assert "<svg" in html
    assert f"http://testserver/messaging/wechat/{account.key}/portal" in html


def test_manager_of_another_line_sees_no_accounts_or_messages(
    client: Client,
    desk: dict[str, Any],
    account: PlatformAccount,
    make_user: Any,
    token_client: Any,
    fake_platform: FakePlatform,
) -> None:
    query, body = safe_mode_request(text_xml("o-zed", "hello", 9301))
    client.post(f"/messaging/wechat/{account.key}/callback?{query}", body, content_type="text/xml")
    deliver_all()
    west_admin = make_user("west-admin", role="admin", scope="business_lines", lines=[desk["west"]])
    api = token_client(west_admin)
    assert api.get("/api/v1/messaging/accounts").json() == []
    assert api.get("/api/v1/messaging/inbound-messages").json()["items"] == []
    assert api.get(f"/api/v1/messaging/accounts/{account.pk}").status_code == 404
    before = account_state()
    refused = api.patch_json(f"/api/v1/messaging/accounts/{account.pk}", {"name": "Mine now"})
    assert refused.status_code == 404
    assert account_state() == before
    east_admin = token_client(desk["admin"])
    [row] = east_admin.get("/api/v1/messaging/inbound-messages").json()["items"]
    assert (row["sender_id"], row["state"]) == ("o-zed", "processed")
    assert InboundMessage.objects.count() == 1


def test_agent_api_is_refused(
    desk: dict[str, Any], account: PlatformAccount, token_client: Any
) -> None:
    api = token_client(desk["agent"])
    assert api.get("/api/v1/messaging/accounts").status_code == 403
    assert api.get("/api/v1/messaging/inbound-messages").status_code == 403
    assert api.post_json(f"/api/v1/messaging/accounts/{account.pk}/check").status_code == 404
    assert OutboxEvent.objects.filter(topic="messaging.account_updated").count() == 0


def test_failed_message_is_listed_and_filed_again_after_the_fix(
    client: Client,
    desk: dict[str, Any],
    account: PlatformAccount,
    fake_platform: FakePlatform,
    login_client: Any,
    token_client: Any,
) -> None:
    from aftersales.tickets.models import Ticket, TicketType

    TicketType.objects.filter(pk=desk["support"].pk).update(is_active=False)
    query, body = safe_mode_request(text_xml("o-lost", "anyone?", 9401))
    client.post(f"/messaging/wechat/{account.key}/callback?{query}", body, content_type="text/xml")
    deliver_all()
    message = InboundMessage.objects.get()
    assert message.state == "failed"
    assert message.detail.startswith("invalid:")
    page = login_client(desk["admin"]).get("/messaging/messages/?state=failed")
    assert "anyone?" in page.content.decode()

    TicketType.objects.filter(pk=desk["support"].pk).update(is_active=True)
    outsider = token_client(desk["outsider"]).post_json(
        f"/api/v1/messaging/inbound-messages/{message.pk}/retry"
    )
    assert outsider.status_code == 404
    retried = token_client(desk["admin"]).post_json(
        f"/api/v1/messaging/inbound-messages/{message.pk}/retry"
    )
    assert (retried.status_code, retried.json()["state"]) == (200, "received")
    deliver_all()
    message.refresh_from_db()
    assert message.state == "processed"
    assert Ticket.objects.get().subject == "anyone?"
    again = token_client(desk["admin"]).post_json(
        f"/api/v1/messaging/inbound-messages/{message.pk}/retry"
    )
    assert again.status_code == 422
