"""The Official Account's menu link opens the portal signed in as the follower."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from aftersales.customers import services as customer_services
from aftersales.customers.models import Customer
from aftersales.messaging.models import PlatformAccount
from tests.messaging.conftest import APP_ID, FakePlatform

pytestmark = pytest.mark.django_db


def test_menu_link_without_a_code_goes_to_wechat_authorisation(
    client: Client, account: PlatformAccount
) -> None:
    response = client.get(f"/messaging/wechat/{account.key}/portal")
    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert (target.netloc, target.path, target.fragment) == (
        "open.weixin.qq.com",
        "/connect/oauth2/authorize",
        "wechat_redirect",
    )
    query = parse_qs(target.query)
    assert query["appid"] == [APP_ID]
    assert query["scope"] == ["snsapi_base"]
    assert query["redirect_uri"] == [f"http://testserver/messaging/wechat/{account.key}/portal"]


def test_menu_link_signs_the_known_follower_in_to_the_portal(
    client: Client, account: PlatformAccount, fake_platform: FakePlatform, desk: dict[str, Any]
) -> None:
    known = customer_services.create_customer(
        actor=desk["admin"],
        name="Jack",
        business_line=desk["east"],
        identities=[("wechat_openid", "o-jack")],
    )
    fake_platform.codes["code-1"] = {
        "openid": "o-jack",
        "access_token": "web",
        "scope": "snsapi_base",
    }
    response = client.get(f"/messaging/wechat/{account.key}/portal", {"code": "code-1"})
    assert (response.status_code, response["Location"]) == (302, "/portal/")
    known.refresh_from_db()
    assert known.portal_user is not None
    assert int(client.session["_auth_user_id"]) == known.portal_user.pk
    assert Customer.objects.count() == 1


def test_menu_link_for_a_new_follower_creates_their_customer(
    client: Client, account: PlatformAccount, fake_platform: FakePlatform
) -> None:
    fake_platform.codes["code-2"] = {"openid": "o-kate", "unionid": "u-kate"}
    response = client.get(f"/messaging/wechat/{account.key}/portal", {"code": "code-2"})
    assert response.status_code == 302
    customer = Customer.objects.get()
    assert sorted(customer.identities.values_list("value", flat=True)) == ["o-kate", "u-kate"]
    assert customer.business_line == account.business_line


def test_menu_link_with_a_forged_code_signs_nobody_in(
    client: Client, account: PlatformAccount, fake_platform: FakePlatform
) -> None:
    response = client.get(f"/messaging/wechat/{account.key}/portal", {"code": "forged"})
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session
    assert Customer.objects.count() == 0


def test_wecom_menu_link_signs_the_member_in(
    client: Client, make_account: Any, fake_platform: FakePlatform
) -> None:
    wecom = make_account(key="wecom-portal", kind=PlatformAccount.Kind.WECOM, agent_id="1000002")
    first = client.get(f"/messaging/wecom/{wecom.key}/portal")
    query = parse_qs(urlsplit(first["Location"]).query)
    assert (query["agentid"], query["scope"]) == (["1000002"], ["snsapi_base"])
    fake_platform.codes["wc-1"] = {"errcode": 0, "userid": "zhangsan"}
    response = client.get(f"/messaging/wecom/{wecom.key}/portal", {"code": "wc-1"})
    assert (response.status_code, response["Location"]) == (302, "/portal/")
    customer = Customer.objects.get()
    assert list(customer.identities.values_list("kind", "value")) == [
        ("wecom_external_id", "zhangsan")
    ]
    assert int(client.session["_auth_user_id"]) == customer.portal_user_id
    forged = Client().get(f"/messaging/wecom/{wecom.key}/portal", {"code": "forged"})
    assert forged.status_code == 403
