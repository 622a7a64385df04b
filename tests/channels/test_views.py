"""The mailbox pages and API: who may see them, errors next to fields, checks and tests
against real servers, write-only passwords, stale edits, the quarantine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aftersales.audit.models import AuditEntry
from aftersales.channels import intake
from aftersales.channels.models import InboundMessage, Mailbox
from tests.channels.conftest import PASSWORD, Dovecot, SmtpHandler, header, mail

pytestmark = pytest.mark.django_db
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
QUERIES = 4


@pytest.fixture
def mailbox(make_mailbox: Callable[..., Mailbox]) -> Mailbox:
    return make_mailbox(imap_host="imap.example.com", imap_user="support", imap_password="s3cr3t")


@pytest.mark.parametrize(
    ("_case", "who", "page", "api"),
    [
        ("anonymous", None, 302, 401),
        ("customer", "contact_a", 403, 403),
        ("agent", "insider", 403, 403),
        ("manager", "manager", 403, 403),
        ("admin", "admin", 200, 200),
    ],
)
def test_only_mailbox_managers_see_mailboxes(
    desk: dict[str, Any],
    mailbox: Mailbox,
    login_client: Callable[..., Any],
    api_client: Any,
    _case: str,
    who: str | None,
    page: int,
    api: int,
) -> None:
    # given
    client = login_client(desk[who]) if who else api_client
    # when
    listing = client.get("/settings/mailboxes/")
    answer = client.get("/api/v1/mailboxes")
    edit = client.get(f"/settings/mailboxes/{mailbox.pk}/")
    # then
    assert listing.status_code == page
    assert answer.status_code == api
    assert edit.status_code == page
    if page != 200:
        assert mailbox.address not in listing.content.decode()
        assert mailbox.address not in answer.content.decode()


def test_outsider_changes_nothing(
    desk: dict[str, Any], mailbox: Mailbox, login_client: Callable[..., Any]
) -> None:
    # given
    client = login_client(desk["insider"])
    entries = AuditEntry.objects.count()
    # when
    page = client.post(f"/settings/mailboxes/{mailbox.pk}/", {"address": "x@example.com"})
    api = client.patch_json(f"/api/v1/mailboxes/{mailbox.pk}", {"address": "x@example.com"})
    removed = client.post(f"/settings/mailboxes/{mailbox.pk}/delete/")
    # then
    assert (page.status_code, api.status_code, removed.status_code) == (403, 403, 403)
    mailbox.refresh_from_db()
    assert mailbox.address == "support@example.com"
    assert AuditEntry.objects.count() == entries


def test_page_shows_errors_next_to_fields_and_keeps_the_password(
    desk: dict[str, Any], mailbox: Mailbox, login_client: Callable[..., Any]
) -> None:
    """A ticket type of another line is refused at its field; the stored password is never
    rendered, and an empty password field keeps it."""
    # given
    client = login_client(desk["admin"])
    page = client.get(f"/settings/mailboxes/{mailbox.pk}/", **EN).content.decode()
    assert "s3cr3t" not in page
    form = {
        "address": "support@example.com",
        "display_name": "East",
        "business_line": desk["line_b"].pk,
        "ticket_type": desk["repair"].pk,
        "imap_host": "imap.example.com",
        "imap_port": 993,
        "imap_security": "tls",
        "imap_user": "support",
        "imap_password": "",
        "folders": "INBOX\nSupport",
        "after_fetch": "mark_seen",
        "smtp_port": 587,
        "smtp_security": "starttls",
        "poll_interval_seconds": 60,
        "auto_answer_limit": 10,
        "is_active": "on",
        "version": mailbox.version,
    }
    # when
    refused = client.post(f"/settings/mailboxes/{mailbox.pk}/", form, **EN)
    # then
    assert refused.status_code == 422
    assert "Choose an active ticket type of the business line." in refused.content.decode()

    # when
    form["business_line"] = desk["line_a"].pk
    saved = client.post(f"/settings/mailboxes/{mailbox.pk}/", form, **EN)
    # then
    assert saved.status_code == 302
    mailbox.refresh_from_db()
    assert (mailbox.display_name, mailbox.folders) == ("East", ["INBOX", "Support"])
    assert mailbox.imap_password == "s3cr3t"

    # when: someone else saved meanwhile
    form["version"] = mailbox.version - 1
    stale = client.post(f"/settings/mailboxes/{mailbox.pk}/", form, **EN)
    # then
    assert stale.status_code == 422
    assert "Someone else saved this mailbox meanwhile" in stale.content.decode()


def test_check_connection_and_send_test_report_the_servers_answers(
    desk: dict[str, Any],
    make_mailbox: Callable[..., Mailbox],
    imap: Dovecot,
    smtp_server: tuple[SmtpHandler, int],
    login_client: Callable[..., Any],
) -> None:
    # given
    handler, port = smtp_server
    mailbox = make_mailbox(
        imap_host="127.0.0.1",
        imap_port=imap.port,
        imap_user="support",
        imap_password=PASSWORD,
        smtp_host="127.0.0.1",
        smtp_port=port,
    )
    client = login_client(desk["admin"])
    # when
    checked = client.post(f"/settings/mailboxes/{mailbox.pk}/check/", **EN).content.decode()
    sent = client.post(
        f"/settings/mailboxes/{mailbox.pk}/test/", {"to": "admin@example.com"}, **EN
    ).content.decode()
    # then
    assert "Dovecot (Debian) ready. — INBOX: 0" in checked
    assert "SMTP 127.0.0.1: 250 OK" in checked
    assert checked.count('class="badge health-ok"') == 2
    assert "Sent to admin@example.com." in sent
    [message] = handler.messages
    assert header(message, "From") == "East Support <support@example.com>"
    assert header(message, "Auto-Submitted") == "auto-generated"
    mailbox.refresh_from_db()
    assert mailbox.health == Mailbox.Health.OK


def test_failed_login_is_reported_and_marks_the_mailbox_failing(
    desk: dict[str, Any],
    make_mailbox: Callable[..., Mailbox],
    imap: Dovecot,
    login_client: Callable[..., Any],
) -> None:
    # given
    mailbox = make_mailbox(
        imap_host="127.0.0.1", imap_port=imap.port, imap_user="support", imap_password="wrong"
    )
    # when
    answer = login_client(desk["admin"]).post_json(f"/api/v1/mailboxes/{mailbox.pk}/check")
    # then
    imap_result = answer.json()[0]
    assert imap_result["is_ok"] is False
    assert "AUTHENTICATIONFAILED" in imap_result["detail"]
    listing = login_client(desk["admin"]).get("/settings/mailboxes/", **EN).content.decode()
    assert "Failing" in listing
    assert "AUTHENTICATIONFAILED" in listing


def test_api_creates_with_field_errors_and_refuses_stale_changes(
    desk: dict[str, Any], login_client: Callable[..., Any]
) -> None:
    # given
    client = login_client(desk["admin"])
    body = {
        "address": "not-an-address",
        "business_line_id": desk["line_a"].pk,
        "ticket_type_id": desk["repair"].pk,
        "imap_password": "p",
    }
    # when
    refused = client.post_json("/api/v1/mailboxes", body, **EN)
    body["address"] = "Help@Example.com"
    created = client.post_json("/api/v1/mailboxes", body, **EN)
    # then
    assert refused.status_code == 422
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["errors"][0]["field"] == "address"
    assert created.status_code == 201
    data = created.json()
    assert data["address"] == "help@example.com"
    assert data["has_imap_password"] is True
    assert "p" not in {data.get("imap_password"), data.get("smtp_password")}

    # when
    mailbox_id = data["id"]
    fresh = client.patch_json(
        f"/api/v1/mailboxes/{mailbox_id}", {"display_name": "Help"}, HTTP_IF_MATCH='W/"1"'
    )
    stale = client.patch_json(
        f"/api/v1/mailboxes/{mailbox_id}", {"display_name": "Late"}, HTTP_IF_MATCH='W/"1"'
    )
    # then
    assert fresh.status_code == 200
    assert fresh["ETag"] == 'W/"2"'
    assert stale.status_code == 412
    assert Mailbox.objects.get(pk=mailbox_id).display_name == "Help"


def test_quarantine_lists_and_reprocesses(
    desk: dict[str, Any],
    make_mailbox: Callable[..., Mailbox],
    login_client: Callable[..., Any],
) -> None:
    # given
    mailbox = make_mailbox()
    row = intake.ingest(mailbox=mailbox, raw=b"Subject: lost\r\nMessage-ID: <lost@x>\r\n\r\nhi")
    client = login_client(desk["admin"])
    # when
    page = client.get("/settings/mailboxes/quarantine/", **EN).content.decode()
    api = client.get("/api/v1/inbound-emails?state=quarantined").json()
    raw = client.get(f"/settings/mailboxes/messages/{row.pk}/raw/")
    detail = client.get(f"/settings/mailboxes/messages/{row.pk}/", **EN).content.decode()
    again = client.post_json(f"/api/v1/inbound-emails/{row.pk}/reprocess")
    # then
    assert "lost" in page
    assert [m["message_id"] for m in api] == ["<lost@x>"]
    assert raw.content.startswith(b"Subject: lost")
    assert raw["Content-Type"] == "text/plain; charset=utf-8"
    assert "The message names no sender address (From)." in detail
    assert again.status_code == 200
    assert again.json()["state"] == "quarantined"
    assert login_client(desk["insider"]).get("/api/v1/inbound-emails").status_code == 403


def test_full_original_is_shown_to_who_may_see_the_ticket(
    desk: dict[str, Any],
    make_mailbox: Callable[..., Mailbox],
    login_client: Callable[..., Any],
) -> None:
    # given
    mailbox = make_mailbox()
    row = intake.ingest(
        mailbox=mailbox,
        raw=mail(body="New part\n\nOn Mon, Bob wrote:\n> old quoted words\n"),
    )
    assert row.state == InboundMessage.State.TICKET_CREATED
    url = f"/settings/mailboxes/messages/{row.pk}/original/"
    # when
    insider = login_client(desk["insider"]).get(url)
    outsider = login_client(desk["outsider"]).get(url)
    # then
    assert insider.status_code == 200
    assert "old quoted words" in insider.content.decode()
    assert outsider.status_code == 404


def test_mailbox_list_takes_the_same_queries_for_more_mailboxes(
    desk: dict[str, Any],
    make_mailbox: Callable[..., Mailbox],
    login_client: Callable[..., Any],
    django_assert_num_queries: Any,
) -> None:
    # given
    client = login_client(desk["admin"])
    make_mailbox(address="one@example.com")
    client.get("/api/v1/mailboxes")
    with django_assert_num_queries(QUERIES) as one:
        client.get("/api/v1/mailboxes")
    for n in range(3):
        make_mailbox(address=f"more{n}@example.com")
    # when / then
    with django_assert_num_queries(len(one.captured_queries)):
        answer = client.get("/api/v1/mailboxes")
    assert len(answer.json()) == 4


def test_mailbox_form_shows_every_field_once() -> None:
    from aftersales.channels.forms import MailboxForm

    grouped = [name for _legend, _help, names in MailboxForm.GROUPS for name in names]
    assert sorted(grouped) == sorted(MailboxForm.base_fields)
