"""The audit log page: who may read it, filters, keyset paging, IP column, export link."""

from __future__ import annotations

import pytest

from aftersales.accounts import services as accounts
from aftersales.audit import services as audit
from aftersales.audit.models import AuditEntry
from aftersales.audit.views import PAGE_SIZE

URL = "/settings/audit/"


@pytest.fixture(autouse=True)
def english(settings):  # type: ignore[no-untyped-def]
    """Assertions read the English source strings; a browser without a preference gets them."""
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def auditor(make_user, admin_user):  # type: ignore[no-untyped-def]
    """Reads the audit log, without IP addresses and without export."""
    role = accounts.create_role(
        actor=admin_user, key="auditor", name="Auditor", permissions=["audit.view_auditentry"]
    )
    user = make_user("auditor")
    accounts.grant_role(actor=admin_user, user=user, role=role, scope="all")
    return user


def test_agent_without_the_permission_gets_403(make_user, login_client):
    # given
    client = login_client(make_user("mei", role="agent"))
    # when
    response = client.get(URL)
    # then
    assert response.status_code == 403


def test_anonymous_is_sent_to_login(client, db):
    # when
    response = client.get(URL)
    # then
    assert response["Location"] == "/accounts/login/?next=/settings/audit/"


def test_admin_sees_entries_newest_first_with_before_and_after(admin_user, make_line, login_client):
    # given
    line = make_line(code="print", name="Print")
    accounts.update_business_line(actor=admin_user, line=line, changes={"name": "Printing"})
    client = login_client(admin_user)
    # when
    response = client.get(URL, {"object_type": "accounts.businessline"})
    # then
    entries = response.context["entries"]
    assert [(e.action, e.object_repr) for e in entries] == [
        ("updated", "Printing"),
        ("created", "Print"),
    ]
    assert entries[0].before == {"name": "Print"}
    assert entries[0].after == {"name": "Printing"}
    page = response.content.decode()
    assert (
        '<dt>name</dt>\n                    <dd><span class="change-before">Print</span> → '
        '<span class="change-after">Printing</span></dd>'
    ) in page
    assert response.context["show_ip"] is True
    assert response.context["export_url"] == (
        "/api/v1/audit/export?object_type=accounts.businessline"
    )


def test_filters_by_action_text_and_actor(admin_user, make_user, login_client):
    # given
    make_user("mei")
    client = login_client(admin_user)
    # when
    by_text = client.get(URL, {"q": "mei", "action": "created"})
    by_actor = client.get(URL, {"actor": admin_user.pk, "object_type": "accounts.user", "q": "mei"})
    nobody = client.get(URL, {"q": "no-such-thing"})
    # then
    assert [(e.action, e.object_repr) for e in by_text.context["entries"]] == [("created", "mei")]
    assert [e.verb for e in by_actor.context["entries"]] == ["created"]
    assert list(nobody.context["entries"]) == []


def test_older_pages_follow_the_last_id(admin_user, login_client):
    # given
    for number in range(PAGE_SIZE + 3):
        audit.record(
            actor=admin_user,
            action=AuditEntry.Action.UPDATED,
            object_type="test.thing",
            object_repr=f"thing {number}",
        )
    client = login_client(admin_user)
    # when
    first = client.get(URL, {"object_type": "test.thing"})
    older = client.get(URL + first.context["older_url"])
    # then
    assert len(first.context["entries"]) == PAGE_SIZE
    assert first.context["entries"][0].object_repr == f"thing {PAGE_SIZE + 2}"
    assert first.context["older_url"].startswith("?object_type=test.thing&before=")
    assert [e.object_repr for e in older.context["entries"]] == ["thing 2", "thing 1", "thing 0"]
    assert older.context["older_url"] == ""


def test_ip_column_and_export_need_their_own_permissions(auditor, login_client):
    # given
    client = login_client(auditor)
    # when
    response = client.get(URL)
    # then
    assert response.status_code == 200
    assert response.context["show_ip"] is False
    assert response.context["export_url"] == ""
    assert "IP address" not in response.content.decode()


def test_the_page_offers_no_way_to_change_entries(admin_user, login_client):
    # given
    client = login_client(admin_user)
    count = AuditEntry.objects.count()
    # when
    response = client.post(URL, {"action": "deleted"})
    # then
    assert response.status_code == 405
    assert AuditEntry.objects.count() == count
