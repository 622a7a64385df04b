"""The calendar API: CRUD, dated exceptions, compute with explanation, holiday sets, scopes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from aftersales.accounts.models import BusinessLine, Team, User
from aftersales.audit.models import AuditEntry
from aftersales.outbox.models import OutboxEvent
from aftersales.sla.models import Calendar, CalendarDay, HolidaySet, HolidaySetDay
from tests.api.support import assert_problem, body_of
from tests.conftest import JsonClient
from tests.sla.conftest import OFFICE_HOURS, sla_state

DONE_MEANS = "/compute?start=2026-09-30T17:30:00%2B08:00&minutes=240"


# --- Permission matrix ------------------------------------------------------------------------


def test_anonymous_gets_401_problems_and_nothing_changes(
    make_calendar: Callable[..., Calendar], api_client: JsonClient, china: HolidaySet
) -> None:
    # given
    calendar = make_calendar()
    before = sla_state()
    # when
    responses = [
        api_client.get("/api/v1/calendars"),
        api_client.post_json("/api/v1/calendars", {"name": "Mine"}),
        api_client.get(f"/api/v1/calendars/{calendar.pk}{DONE_MEANS}"),
        api_client.patch_json(f"/api/v1/calendars/{calendar.pk}", {"name": "Taken"}),
        api_client.get("/api/v1/holiday-sets"),
        api_client.put_json(
            f"/api/v1/holiday-sets/{china.pk}/years/2027", {"year": 2027, "days": []}
        ),
    ]
    # then
    assert [assert_problem(r, 401)["code"] for r in responses] == ["not_authenticated"] * 6
    assert sla_state() == before


@pytest.mark.parametrize(
    ("_case", "who", "read", "write"),
    [
        ("customer contact", "customer", 404, 404),
        ("agent without calendar permissions", "agent", 404, 404),
        ("manager of another line", "outsider", 404, 404),
        ("manager of the line", "insider", 200, 200),
        ("administrator", "admin", 200, 200),
    ],
)
def test_calendar_endpoints_answer_each_kind_of_caller_as_the_matrix_says(
    make_calendar: Callable[..., Calendar],
    make_user: Callable[..., User],
    make_line: Callable[..., BusinessLine],
    admin_user: User,
    login_client: Callable[[User], JsonClient],
    _case: str,
    who: str,
    read: int,
    write: int,
) -> None:
    # given
    line, other = make_line(), make_line()
    calendar = make_calendar(business_line=line)
    people = {
        "customer": lambda: make_user(kind="customer"),
        "agent": lambda: make_user(role="agent", scope="all"),
        "outsider": lambda: make_user(
            role="service-manager", scope="business_lines", lines=[other]
        ),
        "insider": lambda: make_user(role="service-manager", scope="business_lines", lines=[line]),
        "admin": lambda: admin_user,
    }
    client = login_client(people[who]())
    before = sla_state()
    # when
    got = client.get(f"/api/v1/calendars/{calendar.pk}")
    days = client.get(f"/api/v1/calendars/{calendar.pk}/days")
    computed = client.get(f"/api/v1/calendars/{calendar.pk}{DONE_MEANS}")
    patched = client.patch_json(f"/api/v1/calendars/{calendar.pk}", {"name": "Renamed"})
    # then
    assert [got.status_code, days.status_code, computed.status_code] == [read] * 3
    assert patched.status_code == write
    if write != 200:
        assert assert_problem(patched, write)["code"] == "not_found"
        assert sla_state() == before
    else:
        assert body_of(patched)["name"] == "Renamed"
        assert body_of(patched)["version"] == 2


def test_list_shows_only_calendars_in_scope_in_a_fixed_number_of_queries(
    make_calendar: Callable[..., Calendar],
    make_user: Callable[..., User],
    make_line: Callable[..., BusinessLine],
    make_team: Callable[..., Team],
    login_client: Callable[[User], JsonClient],
    django_assert_num_queries: Callable[..., object],
) -> None:
    # given
    line, other = make_line(), make_line()
    team = make_team(line=line)
    mine = [make_calendar(name=f"Line {n}", business_line=line) for n in range(3)]
    of_team = make_calendar(name="Team", team=team)
    make_calendar(name="Other", business_line=other)
    make_calendar(name="Nobody's")
    manager = make_user(role="service-manager", scope="business_lines", lines=[line])
    client = login_client(manager)
    client.get("/api/v1/calendars")  # warm the session and the permission cache
    # when
    with django_assert_num_queries(8):
        listed = body_of(client.get("/api/v1/calendars"))
    # then
    assert [item["id"] for item in listed["items"]] == [*(c.pk for c in mine), of_team.pk]
    assert listed["items"][0]["hours"]["0"] == [{"start": "09:00", "end": "18:00"}]
    assert listed["items"][0]["hours"]["6"] == []
    assert listed["items"][0]["covered_until"] == "2026-12-31"


def test_agent_without_calendar_permissions_cannot_create_and_nothing_changes(
    make_user: Callable[..., User],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    agent = make_user(role="agent", scope="all")
    before = sla_state()
    # when
    response = login_client(agent).post_json("/api/v1/calendars", {"name": "Mine"})
    # then
    assert assert_problem(response, 403)["code"] == "permission_denied"
    assert sla_state() == before


def test_manager_cannot_create_a_calendar_in_another_line_or_without_owner(
    make_user: Callable[..., User],
    make_line: Callable[..., BusinessLine],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    line, other = make_line(), make_line()
    client = login_client(make_user(role="service-manager", scope="business_lines", lines=[line]))
    before = sla_state()
    # when
    in_other = client.post_json("/api/v1/calendars", {"name": "X", "business_line_id": other.pk})
    ownerless = client.post_json("/api/v1/calendars", {"name": "X"})
    # then
    assert assert_problem(in_other, 422)["errors"] == [
        {
            "field": "business_line_id",
            "code": "unknown_reference",
            "detail": "One or more of the referenced objects do not exist.",
        }
    ]
    assert assert_problem(ownerless, 403)["errors"][0]["field"] == "business_line"
    assert sla_state() == before


# --- Create, change, delete -------------------------------------------------------------------


def test_manager_creates_a_calendar_of_their_line_audited_and_announced(
    make_user: Callable[..., User],
    make_line: Callable[..., BusinessLine],
    login_client: Callable[[User], JsonClient],
    china: HolidaySet,
) -> None:
    # given
    line = make_line()
    manager = make_user(role="service-manager", scope="business_lines", lines=[line])
    hours = {
        **OFFICE_HOURS,
        "0": [{"start": "13:30", "end": "18:00"}, {"start": "09:00", "end": "12:00"}],
    }
    # when
    response = login_client(manager).post_json(
        "/api/v1/calendars",
        {
            "name": "Shanghai repairs",
            "time_zone": "Asia/Shanghai",
            "business_line_id": line.pk,
            "holiday_set_id": china.pk,
            "hours": hours,
        },
    )
    # then
    assert response.status_code == 201, response.content
    body = body_of(response)
    calendar = Calendar.objects.get(pk=body["id"])
    assert body["hours"]["0"] == [
        {"start": "09:00", "end": "12:00"},
        {"start": "13:30", "end": "18:00"},
    ]
    assert (calendar.business_line_id, calendar.holiday_set_id) == (line.pk, china.pk)
    entry = AuditEntry.objects.get(object_type="sla.calendar", object_id=str(calendar.pk))
    assert (entry.action, entry.actor_id) == ("created", manager.pk)
    assert list(
        OutboxEvent.objects.filter(object_type="sla.calendar").values_list("topic", flat=True)
    ) == ["calendar.created"]


@pytest.mark.parametrize(
    ("_case", "payload", "field", "code"),
    [
        ("unknown zone", {"time_zone": "Asia/Peking"}, "time_zone", "invalid_time_zone"),
        (
            "bad time",
            {"hours": {"0": [{"start": "9", "end": "12:00"}]}},
            "hours.0[0].start",
            "invalid_time",
        ),
        (
            "overlap",
            {
                "hours": {
                    "1": [{"start": "09:00", "end": "12:30"}, {"start": "12:00", "end": "18:00"}]
                }
            },
            "hours.1",
            "intervals_overlap",
        ),
        (
            "end first",
            {"hours": {"2": [{"start": "18:00", "end": "09:00"}]}},
            "hours.2[0].end",
            "end_before_start",
        ),
        ("weekday", {"hours": {"7": []}}, "hours", "invalid_weekday"),
        ("24x7 with set", {"is_24x7": True}, "holiday_set", "holiday_set_on_24x7"),
        ("empty name", {"name": " "}, "name", "required"),
    ],
)
def test_invalid_changes_are_422_naming_the_field_and_nothing_changes(
    make_calendar: Callable[..., Calendar],
    admin_user: User,
    login_client: Callable[[User], JsonClient],
    _case: str,
    payload: dict[str, object],
    field: str,
    code: str,
) -> None:
    # given
    calendar = make_calendar()
    before = sla_state()
    # when
    response = login_client(admin_user).patch_json(f"/api/v1/calendars/{calendar.pk}", payload)
    # then
    errors = assert_problem(response, 422)["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [(field, code)]
    assert sla_state() == before


def test_changing_hours_bumps_the_version_audits_and_announces_calendar_changed(
    make_calendar: Callable[..., Calendar],
    admin_user: User,
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    calendar = make_calendar()
    client = login_client(admin_user)
    etag = client.get(f"/api/v1/calendars/{calendar.pk}")["ETag"]
    # when
    response = client.patch_json(
        f"/api/v1/calendars/{calendar.pk}",
        {"hours": {"4": [{"start": "09:00", "end": "15:00"}]}},
        HTTP_IF_MATCH=etag,
    )
    stale = client.patch_json(
        f"/api/v1/calendars/{calendar.pk}", {"name": "Late"}, HTTP_IF_MATCH=etag
    )
    # then
    assert response.status_code == 200, response.content
    assert body_of(response)["hours"]["4"] == [{"start": "09:00", "end": "15:00"}]
    assert body_of(response)["version"] == 2
    assert assert_problem(stale, 412)["code"] == "version_mismatch"
    entry = AuditEntry.objects.get(object_type="sla.calendar", action="updated")
    assert entry.before == {"hours": {**{str(d): [] for d in range(7)}, **OFFICE_HOURS}}
    assert entry.after["hours"]["4"] == [{"start": "09:00", "end": "15:00"}]
    event = OutboxEvent.objects.get(topic="calendar.changed")
    assert (event.object_id, event.payload) == (
        str(calendar.pk),
        {"version": 2, "reason": "calendar"},
    )


def test_a_patch_that_changes_nothing_writes_nothing(
    make_calendar: Callable[..., Calendar],
    admin_user: User,
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    calendar = make_calendar()
    before = sla_state()
    # when
    response = login_client(admin_user).patch_json(
        f"/api/v1/calendars/{calendar.pk}", {"name": "Beijing desk", "hours": OFFICE_HOURS}
    )
    # then
    assert body_of(response)["version"] == 1
    assert {k: v for k, v in sla_state().items() if k != "intervals"} == {
        k: v for k, v in before.items() if k != "intervals"
    }


def test_delete_removes_the_calendar_and_is_audited(
    make_calendar: Callable[..., Calendar],
    admin_user: User,
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    calendar = make_calendar()
    # when
    response = login_client(admin_user).delete(f"/api/v1/calendars/{calendar.pk}")
    # then
    assert response.status_code == 204
    assert Calendar.objects.filter(pk=calendar.pk).exists() is False
    assert AuditEntry.objects.filter(object_id=str(calendar.pk), action="deleted").count() == 1
    assert OutboxEvent.objects.filter(topic="calendar.deleted").count() == 1


# --- Dated exceptions and compute -------------------------------------------------------------


def test_done_means_national_day_2026_deadline_and_explanation(
    make_calendar: Callable[..., Calendar],
    admin_user: User,
    login_client: Callable[[User], JsonClient],
) -> None:
    """17:30 on 2026-09-30 + 4 business hours on 9:00-18:00 with the Chinese set: 10-08 12:30
    (hand computation in tests/sla/test_businesstime.py)."""
    # given
    calendar = make_calendar()
    # when
    body = body_of(login_client(admin_user).get(f"/api/v1/calendars/{calendar.pk}{DONE_MEANS}"))
    # then
    assert body["deadline"] == "2026-10-08T04:30:00Z"
    assert body["deadline_local"] == "2026-10-08T12:30:00+08:00"
    assert body["explanation"] == (
        "due 10-08 12:30: 4 h from 09-30 17:30 (Asia/Shanghai); 10-01…10-07 holiday (National Day)"
    )
    assert body["explanations"]["en"] == body["explanation"]
    assert body["steps"] == [
        {
            "kind": "holiday",
            "first": "2026-10-01",
            "last": "2026-10-07",
            "name": "National Day",
            "minutes": 0,
            "start": "",
            "end": "",
        }
    ]


def test_a_company_day_changes_the_deadline_and_is_announced(
    make_calendar: Callable[..., Calendar],
    admin_user: User,
    login_client: Callable[[User], JsonClient],
) -> None:
    """A half day on 10-08 (9:00-11:00) pushes the 4-hour deadline to 10-09 10:30."""
    # given
    calendar = make_calendar()
    client = login_client(admin_user)
    # when
    put = client.put_json(
        f"/api/v1/calendars/{calendar.pk}/days",
        {
            "date": "2026-10-08",
            "kind": "override",
            "name": "Stocktaking",
            "intervals": [{"start": "09:00", "end": "11:00"}],
        },
    )
    computed = body_of(client.get(f"/api/v1/calendars/{calendar.pk}{DONE_MEANS}"))
    listed = body_of(client.get(f"/api/v1/calendars/{calendar.pk}/days"))
    removed = client.delete(f"/api/v1/calendars/{calendar.pk}/days/2026-10-08")
    again = body_of(client.get(f"/api/v1/calendars/{calendar.pk}{DONE_MEANS}"))
    # then
    assert put.status_code == 200, put.content
    assert computed["deadline_local"] == "2026-10-09T10:30:00+08:00"
    assert computed["explanation"].endswith("10-08 special hours (2 h) (Stocktaking)")
    assert [(d["date"], d["kind"]) for d in listed] == [("2026-10-08", "override")]
    assert removed.status_code == 204
    assert again["deadline_local"] == "2026-10-08T12:30:00+08:00"
    assert CalendarDay.objects.count() == 0
    assert list(
        OutboxEvent.objects.filter(topic="calendar.changed")
        .order_by("created_at")
        .values_list("payload", flat=True)
    ) == [{"version": 2, "reason": "day"}, {"version": 3, "reason": "day"}]


def test_a_holiday_with_hours_is_refused_on_the_intervals_field(
    make_calendar: Callable[..., Calendar],
    admin_user: User,
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    calendar = make_calendar()
    before = sla_state()
    # when
    response = login_client(admin_user).put_json(
        f"/api/v1/calendars/{calendar.pk}/days",
        {
            "date": "2026-12-24",
            "kind": "holiday",
            "intervals": [{"start": "09:00", "end": "12:00"}],
        },
    )
    # then
    assert assert_problem(response, 422)["errors"][0]["field"] == "intervals"
    assert sla_state() == before


def test_compute_past_the_last_covered_year_is_a_clear_422(
    make_calendar: Callable[..., Calendar],
    admin_user: User,
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    calendar = make_calendar()
    # when
    response = login_client(admin_user).get(
        f"/api/v1/calendars/{calendar.pk}/compute?start=2026-12-31T17:00:00%2B08:00&minutes=120"
    )
    # then
    body = assert_problem(response, 422)
    assert body["code"] == "calendar_not_covered"
    assert body["errors"] == [
        {
            "field": "calendar",
            "code": "calendar_not_covered",
            "detail": "The calendar Beijing desk covers 2004-01-01 to 2026-12-31 only; this "
            "computation needs 2027-01-01. Add the holiday schedule for 2027 first.",
        }
    ]


def test_compute_refuses_a_start_without_offset(
    make_calendar: Callable[..., Calendar],
    admin_user: User,
    login_client: Callable[[User], JsonClient],
) -> None:
    calendar = make_calendar()

    response = login_client(admin_user).get(
        f"/api/v1/calendars/{calendar.pk}/compute?start=2026-09-30T17:30:00&minutes=10"
    )

    assert assert_problem(response, 422)["errors"][0]["field"] == "start"


# --- Holiday sets -----------------------------------------------------------------------------

SCHEDULE_2027 = [
    {"date": "2027-01-01", "kind": "holiday", "name": "New Year's Day"},
    {"date": "2027-02-06", "kind": "holiday", "name": "Spring Festival"},
    {"date": "2027-02-20", "kind": "workday", "name": "Spring Festival"},
]


def test_the_seeded_chinese_set_covers_2004_to_2026(
    admin_user: User, login_client: Callable[[User], JsonClient], china: HolidaySet
) -> None:
    # when
    listed = body_of(login_client(admin_user).get("/api/v1/holiday-sets"))
    year = body_of(login_client(admin_user).get(f"/api/v1/holiday-sets/{china.pk}/years/2026"))
    # then
    assert [(s["key"], s["first_year"], s["last_year"]) for s in listed] == [("cn", 2004, 2026)]
    workdays = [d["date"] for d in year["days"] if d["kind"] == "workday"]
    assert workdays == [
        "2026-01-04",
        "2026-02-14",
        "2026-02-28",
        "2026-05-09",
        "2026-09-20",
        "2026-10-10",
    ]


def test_admin_publishes_2027_and_calendars_following_the_set_are_announced(
    make_calendar: Callable[..., Calendar],
    admin_user: User,
    login_client: Callable[[User], JsonClient],
    china: HolidaySet,
) -> None:
    # given
    calendar = make_calendar()
    make_calendar(name="Own days only", holiday_set=None)
    client = login_client(admin_user)
    # when
    response = client.put_json(
        f"/api/v1/holiday-sets/{china.pk}/years/2027",
        {"year": 2027, "days": SCHEDULE_2027, "source": "国办发明电 2026"},
    )
    computed = client.get(
        f"/api/v1/calendars/{calendar.pk}/compute?start=2026-12-31T17:00:00%2B08:00&minutes=120"
    )
    # then
    assert response.status_code == 200, response.content
    assert (body_of(response)["last_year"], body_of(response)["version"]) == (2027, 2)
    assert body_of(computed)["deadline_local"] == "2027-01-04T10:00:00+08:00"
    assert HolidaySetDay.objects.filter(holiday_set=china, date__year=2027).count() == 3
    assert list(
        OutboxEvent.objects.filter(topic="calendar.changed").values_list("object_id", "payload")
    ) == [(str(calendar.pk), {"version": 2, "reason": "holiday_set"})]
    assert (
        AuditEntry.objects.filter(object_type="sla.holidayset", verb="year_published").count() == 1
    )


def test_a_year_with_a_gap_is_refused_and_nothing_changes(
    admin_user: User, login_client: Callable[[User], JsonClient], china: HolidaySet
) -> None:
    # given
    before = sla_state()
    # when
    response = login_client(admin_user).put_json(
        f"/api/v1/holiday-sets/{china.pk}/years/2028", {"year": 2028, "days": []}
    )
    # then
    assert assert_problem(response, 422)["errors"][0]["code"] == "year_not_adjacent"
    assert sla_state() == before


def test_a_scoped_manager_reads_but_cannot_change_holiday_sets(
    make_user: Callable[..., User],
    make_line: Callable[..., BusinessLine],
    login_client: Callable[[User], JsonClient],
    china: HolidaySet,
) -> None:
    # given
    manager = make_user(role="service-manager", scope="business_lines", lines=[make_line()])
    client = login_client(manager)
    before = sla_state()
    # when
    listed = client.get("/api/v1/holiday-sets")
    published = client.put_json(
        f"/api/v1/holiday-sets/{china.pk}/years/2027", {"year": 2027, "days": SCHEDULE_2027}
    )
    created = client.post_json(
        "/api/v1/holiday-sets", {"key": "hk", "name": "Hong Kong", "first_year": 2026}
    )
    # then
    assert [s["key"] for s in body_of(listed)] == ["cn"]
    assert assert_problem(published, 403)["code"] == "permission_denied"
    assert assert_problem(created, 403)["code"] == "permission_denied"
    assert sla_state() == before


def test_customer_and_agent_cannot_read_holiday_sets(
    make_user: Callable[..., User], login_client: Callable[[User], JsonClient], china: HolidaySet
) -> None:
    for person in (make_user(kind="customer"), make_user(role="agent", scope="all")):
        client = login_client(person)
        assert assert_problem(client.get("/api/v1/holiday-sets"), 403)["code"] == (
            "permission_denied"
        )
        assert client.get(f"/api/v1/holiday-sets/{china.pk}").status_code == 404
