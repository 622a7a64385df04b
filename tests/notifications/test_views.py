"""Pages: the bell and its list, mark read, preferences, templates, the delivery log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aftersales.accounts.models import User
from aftersales.notifications import services
from aftersales.notifications.models import (
    ChatRobot,
    Notification,
    NotificationTemplate,
    Reaction,
    SmsProvider,
)
from aftersales.tickets.models import Ticket
from tests.conftest import JsonClient

pytestmark = pytest.mark.django_db

Client = Callable[[User], JsonClient]


def _assign(ticket: Ticket, template: NotificationTemplate) -> Notification:
    [notification] = services.notify_ticket(
        ticket=ticket, audiences=["assignee"], template=template
    )
    assert isinstance(notification, Notification)
    return notification


def test_bell_shows_the_unread_count_on_every_page(
    desk: dict[str, Any],
    make_ticket: Callable[..., Ticket],
    templates: dict[str, Any],
    login_client: Client,
) -> None:
    ticket = make_ticket(assignee=desk["insider"])
    _assign(ticket, templates["ticket-assigned"])
    _assign(ticket, templates["mentioned"])
    page = login_client(desk["insider"]).get("/").content.decode()
    assert 'data-testid="notification-bell"' in page
    assert 'data-testid="unread-badge">2</span>' in page
    fragment = login_client(desk["insider"]).get("/notifications/bell/").content.decode()
    assert fragment.startswith('<a class="notification-bell"')
    assert 'data-testid="unread-badge">2</span>' in fragment
    other = login_client(desk["colleague"]).get("/").content.decode()
    assert 'data-testid="notification-bell"' in other
    assert 'data-testid="unread-badge"' not in other


def test_list_shows_only_own_notifications_and_marks_read(
    desk: dict[str, Any],
    make_ticket: Callable[..., Ticket],
    templates: dict[str, Any],
    login_client: Client,
) -> None:
    ticket = make_ticket(assignee=desk["insider"])
    notification = _assign(ticket, templates["ticket-assigned"])
    insider = login_client(desk["insider"])
    page = insider.get("/notifications/").content.decode()
    assert f"工单 {ticket.number} 已分配给您" in page
    assert (
        f"notification-{notification.pk}"
        not in login_client(desk["colleague"]).get("/notifications/").content.decode()
    )
    # Someone else cannot mark it read.
    assert (
        login_client(desk["colleague"]).post(f"/notifications/{notification.pk}/read/").status_code
        == 404
    )
    notification.refresh_from_db()
    assert notification.read_at is None
    # Opening it marks it read and leads to the ticket.
    response = insider.post(f"/notifications/{notification.pk}/read/", {"open": "1"})
    assert response.status_code == 302
    assert response["Location"] == f"/tickets/{ticket.number}/"
    notification.refresh_from_db()
    assert notification.read_at is not None


def test_mark_all_read_page(
    desk: dict[str, Any],
    make_ticket: Callable[..., Ticket],
    templates: dict[str, Any],
    login_client: Client,
) -> None:
    ticket = make_ticket(assignee=desk["insider"])
    _assign(ticket, templates["ticket-assigned"])
    _assign(ticket, templates["mentioned"])
    client = login_client(desk["insider"])
    assert client.post("/notifications/read-all/").status_code == 302
    assert 'data-testid="unread-badge"' not in client.get("/").content.decode()


def test_preferences_page_saves_choices(desk: dict[str, Any], login_client: Client) -> None:
    client = login_client(desk["insider"])
    page = client.get("/notifications/preferences/").content.decode()
    assert 'name="ticket_assigned__email" aria-label' in page
    response = client.post(
        "/notifications/preferences/", {"ticket_assigned__in_app": "on", "mentioned__sms": "on"}
    )
    assert response.status_code == 302
    matrix = client.get("/api/v1/notification-preferences").json()
    assert matrix["ticket_assigned"] == {"in_app": True, "email": False, "sms": False}
    assert matrix["mentioned"] == {"in_app": False, "email": False, "sms": True}


def test_template_pages_need_the_permission(
    desk: dict[str, Any], templates: dict[str, Any], login_client: Client
) -> None:
    template = templates["mentioned"]
    agent = login_client(desk["insider"])
    assert agent.get("/notifications/settings/templates/").status_code == 403
    assert agent.get(f"/notifications/settings/templates/{template.pk}/").status_code == 403
    manager = login_client(desk["manager"])
    assert manager.get("/notifications/settings/templates/").status_code == 200
    assert manager.get(f"/notifications/settings/templates/{template.pk}/").status_code == 403


def test_template_form_shows_an_unknown_placeholder_next_to_its_field(
    desk: dict[str, Any], templates: dict[str, Any], login_client: Client
) -> None:
    template = templates["mentioned"]
    client = login_client(desk["admin"])
    url = f"/notifications/settings/templates/{template.pk}/"
    form = client.get(url).context["form"]
    data = {name: value for name, value in form.initial.items() if value not in (None, False)}
    data["is_active"] = "on"
    data["email__en__body"] = "Hello {{ customer.secret }}"
    data["version"] = str(template.version)
    response = client.post(url, data)
    assert response.status_code == 200
    assert response.context["form"].errors["email__en__body"] == [
        "未知的占位符 {{ customer.secret }}。"
    ]
    template.refresh_from_db()
    assert template.version == 1
    # A valid change is saved.
    data["email__en__body"] = "Hello {{ recipient.name }}"
    assert client.post(url, data).status_code == 302
    template.refresh_from_db()
    assert (template.version, template.content["email"]["en"]["body"]) == (
        2,
        "Hello {{ recipient.name }}",
    )


def test_delivery_log_page_follows_scope(
    desk: dict[str, Any],
    make_ticket: Callable[..., Ticket],
    templates: dict[str, Any],
    login_client: Client,
) -> None:
    ticket = make_ticket(assignee=desk["insider"])
    notification = _assign(ticket, templates["ticket-assigned"])
    url = f"/notifications/{notification.pk}/log/"
    page = login_client(desk["admin"]).get(url)
    assert page.status_code == 200
    assert 'data-testid="delivery-in_app"' in page.content.decode()
    assert login_client(desk["insider"]).get(url).status_code == 403


# --- Channel settings ----------------------------------------------------------------------------


def test_channel_pages_are_for_administrators_only(
    desk: dict[str, Any], templates: dict[str, Any], login_client: Client
) -> None:
    for who in ("insider", "manager"):
        client = login_client(desk[who])
        assert client.get("/notifications/settings/channels/").status_code == 403
        assert client.post("/notifications/settings/channels/robots/new/", {}).status_code == 403
    assert login_client(desk["admin"]).get("/notifications/settings/channels/").status_code == 200
    assert ChatRobot.objects.count() == 0


def test_robot_page_keeps_the_secret_and_never_shows_it(
    desk: dict[str, Any], login_client: Client
) -> None:
    client = login_client(desk["admin"])
    secret = "SECdeadbeefdeadbeefdeadbeef1234"
    response = client.post(
        "/notifications/settings/channels/robots/new/",
        {
            "name": "East group",
            "kind": "dingtalk",
            "message_type": "text",
            "webhook_url": "https://oapi.dingtalk.com/robot/send?access_token=tok0123456789ab",
            "secret": secret,
            "team": desk["team_a"].pk,
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    robot = ChatRobot.objects.get()
    listing = client.get("/notifications/settings/channels/").content.decode()
    edit = client.get(f"/notifications/settings/channels/robots/{robot.pk}/").content.decode()
    for page in (listing, edit):
        assert secret not in page
        assert "tok0123456789ab" not in page
    assert "access_token=••••89ab" in listing
    # Saving the form without retyping them keeps the secret and the URL.
    response = client.post(
        f"/notifications/settings/channels/robots/{robot.pk}/",
        {
            "name": "East",
            "kind": "dingtalk",
            "message_type": "markdown",
            "team": desk["team_a"].pk,
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    robot.refresh_from_db()
    assert (robot.name, robot.message_type, robot.secret, robot.version) == (
        "East",
        "markdown",
        secret,
        2,
    )
    assert robot.webhook_url.endswith("access_token=tok0123456789ab")


def test_reaction_switch_on_the_page(
    desk: dict[str, Any], templates: dict[str, Any], login_client: Client
) -> None:
    reaction = Reaction.objects.get(trigger="ticket_created")
    response = login_client(desk["admin"]).post(
        f"/notifications/settings/channels/reactions/{reaction.pk}/",
        {"template": reaction.template_id},
    )
    assert response.status_code == 302
    reaction.refresh_from_db()
    assert (reaction.is_enabled, reaction.version) == (False, 2)


def test_sms_gateway_page_shows_a_url_key_masked_and_keeps_it(
    desk: dict[str, Any], login_client: Client
) -> None:
    client = login_client(desk["admin"])
    data = {
        "name": "Gateway",
        "url_template": "https://sms.example.com/send?apikey=k3y0123456789&to={{ phone }}",
        "method": "POST",
        "body_template": "{{ message }}",
        "content_type": "text/plain",
        "secret": "sms-secret-0123456",
        "signature_header": "X-Sign",
        "is_active": "on",
    }
    assert client.post("/notifications/settings/channels/sms/", data).status_code == 302
    page = client.get("/notifications/settings/channels/sms/").content.decode()
    assert "k3y0123456789" not in page
    assert "sms-secret-0123456" not in page
    data.update(url_template="", secret="", name="Gateway 2")
    assert client.post("/notifications/settings/channels/sms/", data).status_code == 302
    provider = SmsProvider.objects.get()
    assert (provider.name, provider.secret) == ("Gateway 2", "sms-secret-0123456")
    assert "apikey=k3y0123456789" in provider.url_template


def test_delivery_log_list_filters_failed_and_follows_scope(
    desk: dict[str, Any],
    make_ticket: Callable[..., Ticket],
    templates: dict[str, Any],
    login_client: Client,
) -> None:
    """The manager sees the failed e-mail of a ticket in scope; an agent gets 403."""
    User.objects.filter(pk=desk["insider"].pk).update(email="insider@example.com")
    ticket = make_ticket(assignee=User.objects.get(pk=desk["insider"].pk))
    failed = _assign(ticket, templates["ticket-assigned"])
    ok = _assign(ticket, templates["mentioned"])
    failed.deliveries.filter(channel="email").update(status="failed", attempts=8)
    manager = login_client(desk["manager"])
    page = manager.get("/notifications/log/?status=failed")
    assert page.status_code == 200
    rows = [n.pk for n in page.context["page"]]
    assert rows == [failed.pk]
    assert ok.pk in [n.pk for n in manager.get("/notifications/log/").context["page"]]
    assert login_client(desk["insider"]).get("/notifications/log/").status_code == 403
