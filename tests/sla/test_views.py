"""The calendar settings pages: list with the coverage warning, forms, scope, holiday years."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import time_machine

from aftersales.accounts.models import BusinessLine, User
from aftersales.sla.models import Calendar, CalendarDay, HolidaySet, HolidaySetDay
from tests.conftest import JsonClient
from tests.sla.conftest import sla_state

NOVEMBER_2026 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
JANUARY_2026 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("_case", "now", "warned"),
    [("six weeks left", NOVEMBER_2026, True), ("a year left", JANUARY_2026, False)],
)
def test_calendar_list_warns_when_the_holiday_set_ends_soon(
    make_calendar: Callable[..., Calendar],
    admin_user: User,
    login_client: Callable[[User], JsonClient],
    _case: str,
    now: datetime,
    warned: bool,
) -> None:
    # given
    make_calendar(name="Beijing desk")
    make_calendar(name="Round the clock", is_24x7=True, holiday_set=None, hours={})
    client = login_client(admin_user)
    # when
    with time_machine.travel(now, tick=False):
        page = client.get("/settings/calendars/").content.decode()
        sets = client.get("/settings/calendars/holiday-sets/").content.decode()
    # then
    assert ('data-testid="coverage-warning"' in page) is warned
    assert ("Beijing desk: covered until 2026-12-31" in page) is warned
    assert ("Round the clock: covered" in page) is False
    assert ('data-testid="coverage-warning"' in sets) is warned


def test_people_outside_the_scope_get_404_and_contacts_get_403(
    make_calendar: Callable[..., Calendar],
    make_user: Callable[..., User],
    make_line: Callable[..., BusinessLine],
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    line, other = make_line(), make_line()
    calendar = make_calendar(business_line=line)
    outsider = make_user(role="service-manager", scope="business_lines", lines=[other])
    contact = make_user(kind="customer")
    before = sla_state()
    # when
    outside = login_client(outsider)
    contact_client = login_client(contact)
    # then
    assert outside.get(f"/settings/calendars/{calendar.pk}/").status_code == 404
    assert outside.post(f"/settings/calendars/{calendar.pk}/delete/").status_code == 404
    assert (
        outside.post(
            f"/settings/calendars/{calendar.pk}/days/",
            {"day-date": "2026-12-24", "day-kind": "holiday"},
        ).status_code
        == 404
    )
    assert contact_client.get("/settings/calendars/").status_code == 403
    assert contact_client.get(f"/settings/calendars/{calendar.pk}/").status_code == 403
    assert sla_state() == before


def test_manager_creates_a_calendar_with_a_lunch_break_through_the_form(
    make_user: Callable[..., User],
    make_line: Callable[..., BusinessLine],
    login_client: Callable[[User], JsonClient],
    china: HolidaySet,
) -> None:
    # given
    line = make_line()
    manager = make_user(role="service-manager", scope="business_lines", lines=[line])
    hours = {f"hours_{day}": "09:00-12:00, 13:30-18:00" for day in range(5)}
    # when
    response = login_client(manager).post(
        "/settings/calendars/new/",
        {
            "name": "Shanghai desk",
            "time_zone": "Asia/Shanghai",
            "owner": f"line:{line.pk}",
            "holiday_set": china.pk,
            "is_active": "on",
            **hours,
        },
    )
    # then
    calendar = Calendar.objects.get(name="Shanghai desk")
    assert response.status_code == 302
    assert response["Location"] == f"/settings/calendars/{calendar.pk}/"
    assert calendar.business_line_id == line.pk
    assert list(calendar.intervals.values_list("weekday", "start_minute", "end_minute")) == [
        (day, start, end) for day in range(5) for start, end in ((540, 720), (810, 1080))
    ]


def test_an_invalid_interval_is_shown_next_to_its_weekday_and_nothing_is_saved(
    admin_user: User, login_client: Callable[[User], JsonClient]
) -> None:
    # given
    before = sla_state()
    # when
    response = login_client(admin_user).post(
        "/settings/calendars/new/",
        {"name": "Broken", "time_zone": "Asia/Shanghai", "hours_2": "09:00-25:00"},
    )
    # then
    assert response.status_code == 200
    assert response.context["form"].errors == {
        "hours_2": ["Enter a time as HH:MM, from 00:00 to 24:00."]
    }
    assert sla_state() == before


def test_a_day_added_on_the_page_shows_up_and_the_preview_explains_the_deadline(
    make_calendar: Callable[..., Calendar],
    admin_user: User,
    login_client: Callable[[User], JsonClient],
) -> None:
    # given
    calendar = make_calendar()
    client = login_client(admin_user)
    # when
    added = client.post(
        f"/settings/calendars/{calendar.pk}/days/",
        {"day-date": "2026-10-08", "day-kind": "holiday", "day-name": "Company outing"},
    )
    page = client.get(
        f"/settings/calendars/{calendar.pk}/", {"start": "2026-09-30T17:30", "minutes": "240"}
    ).content.decode()
    # then
    assert added.status_code == 302
    assert CalendarDay.objects.get().name == "Company outing"
    assert (
        "due 10-09 12:30: 4 h from 09-30 17:30 (Asia/Shanghai); 10-01…10-07 holiday "
        "(National Day); 10-08 holiday (Company outing)"
    ) in page


def test_admin_loads_next_year_on_the_holiday_set_page(
    admin_user: User, login_client: Callable[[User], JsonClient], china: HolidaySet
) -> None:
    # when
    response = login_client(admin_user).post(
        f"/settings/calendars/holiday-sets/{china.pk}/",
        {
            "year": "2027",
            "days": "2027-01-01 holiday 元旦\n2027-02-20 workday 春节\n",
            "source": "国务院办公厅通知",
        },
    )
    # then
    assert response.status_code == 302
    china.refresh_from_db()
    assert (china.last_year, china.source) == (2027, "国务院办公厅通知")
    assert list(
        HolidaySetDay.objects.filter(holiday_set=china, date__year=2027).values_list("kind", "name")
    ) == [("holiday", "元旦"), ("workday", "春节")]


def test_a_scoped_manager_sees_the_holiday_set_but_cannot_load_a_year(
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
    page = client.get(f"/settings/calendars/holiday-sets/{china.pk}/?year=2026")
    posted = client.post(
        f"/settings/calendars/holiday-sets/{china.pk}/", {"year": "2027", "days": ""}
    )
    # then
    assert page.status_code == 200
    assert "2026-10-10" in page.content.decode()
    assert "Load a year" not in page.content.decode()
    assert posted.status_code == 403
    assert sla_state() == before
