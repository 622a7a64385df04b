"""The notifications API: the bell, preferences, templates (If-Match), the delivery log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aftersales.accounts.models import User
from aftersales.audit.models import AuditEntry
from aftersales.notifications import services
from aftersales.notifications.models import Notification, NotificationTemplate, Preference
from aftersales.tickets.models import Ticket
from tests.conftest import JsonClient

pytestmark = pytest.mark.django_db

Client = Callable[[User], JsonClient]


def _notify(ticket: Ticket, template: NotificationTemplate, *audiences: str) -> list[Any]:
    return list(services.notify_ticket(ticket=ticket, audiences=audiences, template=template))


# --- The bell ------------------------------------------------------------------------------------


def test_bell_lists_only_your_own_notifications(
    desk: dict[str, Any],
    make_ticket: Callable[..., Ticket],
    templates: dict[str, Any],
    login_client: Client,
    django_assert_num_queries: Any,
) -> None:
    """Two agents each get one; each sees exactly theirs, newest first, with the unread count."""
    # given
    ticket = make_ticket(assignee=desk["insider"])
    [mine] = _notify(ticket, templates["ticket-assigned"], "assignee")
    [theirs] = _notify(ticket, templates["ticket-assigned"], f"user:{desk['colleague'].pk}")
    client = login_client(desk["insider"])
    # when
    with django_assert_num_queries(4):
        response = client.get("/api/v1/notifications")
    # then
    assert response.status_code == 200
    body = response.json()
    assert [item["id"] for item in body["items"]] == [mine.pk]
    assert body["unread_count"] == 1
    assert body["items"][0]["subject"] == f"工单 {ticket.number} 已分配给您"
    assert theirs.pk not in [item["id"] for item in body["items"]]


def test_marking_another_persons_notification_read_is_404(
    desk: dict[str, Any],
    make_ticket: Callable[..., Ticket],
    templates: dict[str, Any],
    login_client: Client,
) -> None:
    ticket = make_ticket(assignee=desk["insider"])
    [notification] = _notify(ticket, templates["ticket-assigned"], "assignee")
    response = login_client(desk["colleague"]).post_json(
        f"/api/v1/notifications/{notification.pk}/read"
    )
    assert response.status_code == 404
    notification.refresh_from_db()
    assert notification.read_at is None


def test_mark_read_and_mark_all_read(
    desk: dict[str, Any],
    make_ticket: Callable[..., Ticket],
    templates: dict[str, Any],
    login_client: Client,
) -> None:
    ticket = make_ticket(assignee=desk["insider"])
    first = _notify(ticket, templates["ticket-assigned"], "assignee")[0]
    _notify(ticket, templates["mentioned"], "assignee")
    _notify(ticket, templates["sla-warning"], "assignee")
    client = login_client(desk["insider"])

    response = client.post_json(f"/api/v1/notifications/{first.pk}/read")
    assert (response.status_code, response.json()["is_read"]) == (200, True)
    assert client.get("/api/v1/notifications?unread=true").json()["unread_count"] == 2

    response = client.post_json("/api/v1/notifications/read-all")
    assert response.json() == {"marked": 2}
    assert client.get("/api/v1/notifications").json()["unread_count"] == 0


def test_anonymous_gets_401(api_client: JsonClient) -> None:
    assert api_client.get("/api/v1/notifications").status_code == 401


# --- Preferences ---------------------------------------------------------------------------------


def test_preferences_default_and_switch_off_email(
    desk: dict[str, Any],
    make_ticket: Callable[..., Ticket],
    templates: dict[str, Any],
    login_client: Client,
) -> None:
    """Assignments come by e-mail by default; switched off, only the bell rings."""
    insider = desk["insider"]
    User.objects.filter(pk=insider.pk).update(email="insider@example.com")
    client = login_client(insider)
    assert client.get("/api/v1/notification-preferences").json()["ticket_assigned"] == {
        "in_app": True,
        "email": True,
        "sms": False,
    }
    response = client.put_json(
        "/api/v1/notification-preferences", {"ticket_assigned": {"email": False}}
    )
    assert response.status_code == 200
    assert response.json()["ticket_assigned"]["email"] is False
    entry = AuditEntry.objects.get(verb="notification_preferences_changed")
    assert (entry.actor_id, entry.before, entry.after) == (
        insider.pk,
        {"ticket_assigned": {"in_app": True, "email": True, "sms": False}},
        {"ticket_assigned": {"in_app": True, "email": False, "sms": False}},
    )
    ticket = make_ticket(assignee=User.objects.get(pk=insider.pk))
    [notification] = _notify(ticket, templates["ticket-assigned"], "assignee")
    assert list(notification.deliveries.values_list("channel", flat=True)) == ["in_app"]


def test_preferences_refuse_unknown_channel(desk: dict[str, Any], login_client: Client) -> None:
    response = login_client(desk["insider"]).put_json(
        "/api/v1/notification-preferences", {"ticket_assigned": {"fax": True}}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "ticket_assigned.fax"
    assert Preference.objects.count() == 0


# --- Templates -----------------------------------------------------------------------------------

NEW_TEMPLATE = {
    "key": "visit-booked",
    "name": "Visit booked",
    "event": "custom",
    "audience": "customer",
    "content": {
        "email": {
            "en": {"subject": "Visit for {{ ticket.number }}", "body": "Dear {{ customer.name }}"},
            "zh-hans": {"subject": "上门 {{ ticket.number }}", "body": "{{ customer.name }}，您好"},
        }
    },
}


@pytest.mark.parametrize(
    ("_case", "who", "status"),
    [
        ("agent may not", "insider", 403),
        ("manager may not add", "manager", 403),
        ("admin may", "admin", 201),
    ],
)
def test_template_creation_permission_matrix(
    desk: dict[str, Any], login_client: Client, _case: str, who: str, status: int
) -> None:
    response = login_client(desk[who]).post_json("/api/v1/notification-templates", NEW_TEMPLATE)
    assert response.status_code == status
    assert NotificationTemplate.objects.filter(key="visit-booked").count() == (status == 201)


def test_customer_template_refuses_internal_placeholder(
    desk: dict[str, Any], login_client: Client
) -> None:
    payload = {
        **NEW_TEMPLATE,
        "content": {"email": {"en": {"subject": "x", "body": "{{ ticket.assignee }}"}}},
    }
    response = login_client(desk["admin"]).post_json(
        "/api/v1/notification-templates", payload, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "field": "content.email.en.body",
            "code": "placeholder_not_public",
            "detail": "The placeholder {{ ticket.assignee }} shows something customers do not "
            "see; a template for customers cannot use it.",
        }
    ]
    assert NotificationTemplate.objects.filter(key="visit-booked").exists() is False


def test_unknown_placeholder_is_refused_at_save(desk: dict[str, Any], login_client: Client) -> None:
    payload = {
        **NEW_TEMPLATE,
        "content": {"in_app": {"zh-hans": {"subject": "", "body": "{{ settings.SECRET_KEY }}"}}},
    }
    response = login_client(desk["admin"]).post_json("/api/v1/notification-templates", payload)
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "unknown_placeholder"


def test_template_patch_takes_if_match_and_is_audited(
    desk: dict[str, Any], templates: dict[str, Any], login_client: Client
) -> None:
    template = templates["mentioned"]
    client = login_client(desk["admin"])
    url = f"/api/v1/notification-templates/{template.pk}"
    etag = client.get(url)["ETag"]
    response = client.patch_json(url, {"name": "Mentions"}, HTTP_IF_MATCH=etag)
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["version"]) == ("Mentions", 2)
    stale = client.patch_json(url, {"name": "Again"}, HTTP_IF_MATCH=etag)
    assert stale.status_code == 412
    template.refresh_from_db()
    assert (template.name, template.version) == ("Mentions", 2)
    entry = AuditEntry.objects.filter(object_type="notifications.notificationtemplate").latest("pk")
    assert (entry.action, entry.after) == ("updated", {"name": "Mentions"})


def test_preview_shows_rendered_messages_and_writes_nothing(
    desk: dict[str, Any],
    make_ticket: Callable[..., Ticket],
    templates: dict[str, Any],
    login_client: Client,
) -> None:
    ticket = make_ticket(assignee=desk["insider"])
    response = login_client(desk["admin"]).post_json(
        f"/api/v1/notification-templates/{templates['ticket-assigned'].pk}/preview",
        {"ticket_id": ticket.pk, "audiences": ["assignee"]},
    )
    assert response.status_code == 200
    assert [(p["recipient"], p["channel"]) for p in response.json()] == [("insider", "in_app")]
    assert Notification.objects.count() == 0


# --- Delivery log --------------------------------------------------------------------------------


def test_delivery_log_follows_the_ticket_scope(
    desk: dict[str, Any],
    make_ticket: Callable[..., Ticket],
    templates: dict[str, Any],
    login_client: Client,
) -> None:
    """The manager (all lines) reads it; an agent without the permission gets 403."""
    User.objects.filter(pk=desk["insider"].pk).update(email="insider@example.com")
    ticket = make_ticket(assignee=User.objects.get(pk=desk["insider"].pk))
    [notification] = _notify(ticket, templates["ticket-assigned"], "assignee")
    url = f"/api/v1/notifications/{notification.pk}/deliveries"

    response = login_client(desk["manager"]).get(url)
    assert response.status_code == 200
    assert [(d["channel"], d["status"], d["address"]) for d in response.json()] == [
        ("in_app", "sent", ""),
        ("email", "pending", "insider@example.com"),
    ]
    assert login_client(desk["outsider"]).get(url).status_code == 403
