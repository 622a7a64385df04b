"""WeChat retrying while the first delivery is still being handled: still one message, one
ticket. Real threads and connections (transactional test)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from aftersales.accounts.models import User
from aftersales.customers import services as customer_services
from aftersales.customers.models import CustomerTier
from aftersales.messaging import services
from aftersales.messaging.models import InboundMessage, PlatformAccount
from aftersales.tickets.models import Ticket
from tests.messaging.conftest import FakePlatform, deliver_all, safe_mode_request, text_xml


@pytest.fixture
def default_tier(admin_user: User) -> None:
    """A transactional test starts from an empty database: put the seeded tier back."""
    if not CustomerTier.objects.filter(is_default=True).exists():
        customer_services.create_tier(
            actor=admin_user, key="normal", name_zh="普通客户", name_en="Normal", is_default=True
        )


@pytest.mark.django_db(transaction=True)
def test_simultaneous_retries_of_one_msgid_store_one_row_and_file_one_ticket(
    default_tier: None, account: PlatformAccount, fake_platform: FakePlatform
) -> None:
    query, body = safe_mode_request(text_xml("o-race", "同时到达", 9901))
    barrier = threading.Barrier(4)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def post() -> None:
        try:
            barrier.wait(timeout=10)
            response = Client().post(
                f"/messaging/wechat/{account.key}/callback?{query}",
                body,
                content_type="text/xml",
            )
            statuses.append(response.status_code)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert statuses == [200, 200, 200, 200]
    assert InboundMessage.objects.count() == 1

    # Two workers filing the same message at once: the row's state lets one through.
    message_id = InboundMessage.objects.get().pk
    results: list[Any] = []

    def file() -> None:
        try:
            barrier2.wait(timeout=10)
            results.append(services.process_inbound(message_id))
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    barrier2 = threading.Barrier(2)
    workers = [threading.Thread(target=file) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    deliver_all()
    assert errors == []
    assert sorted(results) == ["processed", "processed"]
    assert Ticket.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_first_messages_filed_at_once_make_one_customer_and_one_ticket(
    default_tier: None, account: PlatformAccount, fake_platform: FakePlatform
) -> None:
    client = Client()
    for msg_id, text in ((9902, "第一句"), (9903, "第二句")):
        query, body = safe_mode_request(text_xml("o-twin", text, msg_id))
        client.post(
            f"/messaging/wechat/{account.key}/callback?{query}", body, content_type="text/xml"
        )
    ids = list(InboundMessage.objects.order_by("pk").values_list("pk", flat=True))
    barrier = threading.Barrier(2)
    results: list[str] = []
    errors: list[BaseException] = []

    def file(message_id: int) -> None:
        try:
            barrier.wait(timeout=10)
            results.append(services.process_inbound(message_id))
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    workers = [threading.Thread(target=file, args=(pk,)) for pk in ids]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert errors == []
    assert results == ["processed", "processed"]
    ticket = Ticket.objects.get()
    assert ticket.comments.count() == 1
    assert ticket.requester.identities.get().value == "o-twin"
