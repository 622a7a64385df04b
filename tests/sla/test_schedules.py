"""A deadline that needs a year whose holiday schedule is not loaded is refused, shown to the
admins, and computed as soon as the year is loaded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest
import time_machine
from django.test import TestCase

from aftersales.accounts.models import User
from aftersales.notifications.models import Notification
from aftersales.outbox import services as outbox
from aftersales.outbox.models import OutboxEvent
from aftersales.sla import services, timers
from aftersales.sla.models import Calendar, HolidaySet, MissingSchedule, TicketSlaTarget
from aftersales.tickets.models import Ticket
from tests.conftest import JsonClient
from tests.sla.timer_support import local, make_policy, target
from tests.tickets.conftest import _media_in_tmp, desk, make_ticket, make_type, status  # noqa: F401

T = TypeVar("T")
pytestmark = pytest.mark.django_db

THIRTY_DAYS = 30 * 9 * 60
SCHEDULE_2027 = [
    {"date": "2027-01-01", "kind": "holiday", "name": "New Year's Day"},
    {"date": "2027-02-06", "kind": "holiday", "name": "Spring Festival"},
    {"date": "2027-02-20", "kind": "workday", "name": "Spring Festival"},
]


@pytest.fixture
def settle() -> Callable[[Callable[[], T]], T]:
    def run(change: Callable[[], T]) -> T:
        with TestCase.captureOnCommitCallbacks(execute=True):
            return change()

    return run


@pytest.fixture
def calendar(make_calendar: Callable[..., Calendar], desk: dict[str, Any]) -> Calendar:
    """9:00-18:00 Monday to Friday in Shanghai with the Chinese holidays (loaded to 2026)."""
    timers.forget_specs()
    return make_calendar(name="East office", business_line=desk["line_a"])


def deliver(topic: str) -> None:
    """What a worker does: deliver every pending event of ``topic``."""
    for event_id in OutboxEvent.objects.filter(topic=topic).values_list("pk", flat=True):
        outbox.deliver_event(str(event_id))


def load_2027(settle: Any, admin: User, china: HolidaySet) -> None:
    with time_machine.travel(local("2026-12-22 10:00"), tick=False):
        settle(
            lambda: services.publish_holiday_year(
                actor=admin, holiday_set=china, year=2027, days=SCHEDULE_2027
            )
        )
        deliver("calendar.changed")


def _waiting_ticket(desk: dict[str, Any], make_ticket: Any, settle: Any) -> Ticket:
    make_policy(desk["admin"], targets=[{"metric": "resolution", "minutes": THIRTY_DAYS}])
    with time_machine.travel(local("2026-12-21 09:00"), tick=False):
        return settle(lambda: make_ticket())


def test_a_deadline_that_needs_an_unloaded_year_gets_no_due_time_and_says_why(
    desk: dict[str, Any], calendar: Calendar, make_ticket: Callable[..., Ticket], settle: Any
) -> None:
    # given the Chinese set is loaded to 2026; 30 business days from 12-21 reach 2027
    ticket = _waiting_ticket(desk, make_ticket, settle)
    # then
    resolution = target(ticket, "resolution")
    assert (resolution.due_at, resolution.warn_at, resolution.next_check_at) == (None, None, None)
    assert resolution.waiting_for_year == 2027
    assert resolution.condition_at(local("2026-12-21 10:00")) == "no_deadline"
    assert timers.explanation_text(resolution, "en") == (
        "no deadline: holiday schedule for 2027 not loaded; calendar East office; "
        "270 h from 2026-12-21 09:00"
    )
    # and the sweep never fires it, however late it gets
    assert timers.sweep(local("2027-06-01 12:00")).breached == 0


def test_the_api_and_the_ticket_page_show_the_missing_schedule(
    desk: dict[str, Any],
    calendar: Calendar,
    make_ticket: Callable[..., Ticket],
    settle: Any,
    login_client: Callable[[User], JsonClient],
) -> None:
    ticket = _waiting_ticket(desk, make_ticket, settle)
    with time_machine.travel(local("2026-12-21 10:00"), tick=False):
        client = login_client(desk["insider"])
        response = client.get(f"/api/v1/tickets/{ticket.pk}/sla")
        body = response.json()
        assert response.status_code == 200, body
        page = client.get(f"/tickets/{ticket.number}/").content.decode()
    (clock,) = body["targets"]
    assert (clock["due_at"], clock["waiting_for_year"], clock["condition"]) == (
        None,
        2027,
        "no_deadline",
    )
    assert clock["business_minutes_left"] is None
    assert clock["explanation"].startswith("no deadline: holiday schedule for 2027 not loaded")
    assert 'data-sla-condition="no_deadline"' in page
    assert "Resolution no deadline: holiday schedule for 2027 not loaded" in page


def test_admins_are_told_once_per_calendar_and_year_not_per_ticket(
    desk: dict[str, Any], calendar: Calendar, make_ticket: Callable[..., Ticket], settle: Any
) -> None:
    # given two tickets waiting for 2027 on the same calendar
    _waiting_ticket(desk, make_ticket, settle)
    with time_machine.travel(local("2026-12-21 11:00"), tick=False):
        settle(lambda: make_ticket())
    # when a worker delivers the notice (twice, as after a restart)
    with time_machine.travel(local("2026-12-21 12:00"), tick=False):
        deliver("sla.schedule_missing")
        deliver("sla.schedule_missing")
    # then one notice per person who may load the year or change the calendar
    assert OutboxEvent.objects.filter(topic="sla.schedule_missing").count() == 1
    (missing,) = MissingSchedule.objects.all()
    assert (missing.calendar_id, missing.year, missing.resolved_at) == (calendar.pk, 2027, None)
    assert missing.notified_at is not None
    told = sorted(
        Notification.objects.filter(object_type="sla.calendar").values_list(
            "recipient_user__username", flat=True
        )
    )
    assert told == sorted([desk["admin"].username, desk["manager"].username])
    notice = Notification.objects.get(recipient_user=desk["manager"])
    assert "East office 2027" in notice.subject + notice.body


def test_the_calendar_and_sla_pages_list_the_waiting_calendars_for_admins_only(
    desk: dict[str, Any],
    calendar: Calendar,
    make_ticket: Callable[..., Ticket],
    settle: Any,
    login_client: Callable[[User], JsonClient],
    make_user: Callable[..., User],
) -> None:
    _waiting_ticket(desk, make_ticket, settle)
    with time_machine.travel(local("2026-12-21 11:00"), tick=False):
        settle(lambda: make_ticket())
    manager = login_client(desk["manager"])
    for url in ("/settings/calendars/", "/sla/policies/", "/sla/at-risk/", "/sla/attainment/"):
        page = manager.get(url).content.decode()
        assert 'data-testid="missing-schedules"' in page, url
        assert "East office: 2027 not loaded, 2 tickets waiting" in page, url
    agent_page = login_client(desk["insider"]).get("/sla/at-risk/").content.decode()
    assert 'data-testid="missing-schedules"' not in agent_page
    # a manager of the other line's team does not see the East office calendar
    west = make_user("west-manager", role="service-manager", scope="teams", teams=[desk["team_b"]])
    west_page = login_client(west).get("/settings/calendars/").content.decode()
    assert west_page.count('data-testid="missing-schedules"') == 0
    assert "East office: 2027" not in west_page


def test_loading_the_year_gives_the_waiting_clocks_their_deadlines(
    desk: dict[str, Any],
    calendar: Calendar,
    china: HolidaySet,
    make_ticket: Callable[..., Ticket],
    settle: Any,
    login_client: Callable[[User], JsonClient],
) -> None:
    ticket = _waiting_ticket(desk, make_ticket, settle)
    # when the admin loads the State Council's 2027 schedule
    load_2027(settle, desk["admin"], china)
    # then by hand: 9 workdays in 2026 (12-21…12-31), 01-01 off, 21 more → 2027-02-01 18:00
    resolution = target(ticket, "resolution")
    assert resolution.due_at == local("2027-02-01 18:00")
    assert resolution.waiting_for_year is None
    assert resolution.next_check_at == local("2027-02-01 18:00")
    assert "01-01 holiday (New Year's Day)" in timers.explanation_text(resolution, "en")
    assert MissingSchedule.objects.get().resolved_at is not None
    page = login_client(desk["manager"]).get("/settings/calendars/").content.decode()
    assert 'data-testid="missing-schedules"' not in page


def test_a_clock_still_waits_for_a_later_year_after_one_year_is_loaded(
    desk: dict[str, Any],
    calendar: Calendar,
    china: HolidaySet,
    make_ticket: Callable[..., Ticket],
    settle: Any,
) -> None:
    # 300 business days from 12-21 reach 2028
    make_policy(desk["admin"], targets=[{"metric": "resolution", "minutes": 300 * 9 * 60}])
    with time_machine.travel(local("2026-12-21 09:00"), tick=False):
        ticket = settle(lambda: make_ticket())
    assert target(ticket, "resolution").waiting_for_year == 2027
    load_2027(settle, desk["admin"], china)
    resolution = target(ticket, "resolution")
    assert (resolution.due_at, resolution.waiting_for_year) == (None, 2028)
    assert {(row.year, row.resolved_at is None) for row in MissingSchedule.objects.all()} == {
        (2027, False),
        (2028, True),
    }


def test_a_pause_into_an_unloaded_year_is_counted_once_the_year_is_loaded(
    desk: dict[str, Any],
    calendar: Calendar,
    china: HolidaySet,
    make_ticket: Callable[..., Ticket],
    settle: Any,
) -> None:
    from tests.sla.test_timers import _move

    make_policy(desk["admin"], targets=[{"metric": "resolution", "minutes": 240}])
    with time_machine.travel(local("2026-12-30 10:00"), tick=False):
        ticket = settle(lambda: make_ticket())
        ticket = _move(settle, desk, ticket, "open")
    with time_machine.travel(local("2026-12-30 11:00"), tick=False):
        _move(settle, desk, ticket, "pending_customer")
    with time_machine.travel(local("2027-01-04 10:00"), tick=False):
        _move(settle, desk, ticket, "open")
    waiting = target(ticket, "resolution")
    assert (waiting.state, waiting.due_at, waiting.waiting_for_year) == ("active", None, 2027)
    assert "counted once the holiday schedule is loaded" in timers.explanation_text(waiting, "en")
    load_2027(settle, desk["admin"], china)
    # paused 12-30 11:00-18:00 (7 h), 12-31 (9 h), 01-01 off, 01-04 09:00-10:00 (1 h) = 17 h;
    # 3 h were left at 11:00, so 3 h after 10:00 on 01-04
    resolution = target(ticket, "resolution")
    assert resolution.paused_minutes == 17 * 60
    assert resolution.due_at == local("2027-01-04 13:00")


def test_a_clock_met_while_it_waited_learns_it_was_late_without_a_breach_event(
    desk: dict[str, Any],
    calendar: Calendar,
    china: HolidaySet,
    make_ticket: Callable[..., Ticket],
    settle: Any,
) -> None:
    from tests.sla.test_timers import _move

    make_policy(desk["admin"], targets=[{"metric": "resolution", "minutes": 8 * 9 * 60}])
    with time_machine.travel(local("2026-12-28 09:00"), tick=False):
        ticket = settle(lambda: make_ticket())
        ticket = _move(settle, desk, ticket, "open")
    with time_machine.travel(local("2027-01-08 12:00"), tick=False):
        _move(settle, desk, ticket, "solved", custom_fields={"resolution_code": "fixed"})
    met = target(ticket, "resolution")
    assert (met.state, met.due_at, met.waiting_for_year) == ("met", None, 2027)
    load_2027(settle, desk["admin"], china)
    # 12-28…12-31 (4 days), 01-01 off, 01-04…01-07 (4 days) → due 01-07 18:00; solved 01-08
    resolution = target(ticket, "resolution")
    assert resolution.due_at == local("2027-01-07 18:00")
    assert resolution.breached_at == local("2027-01-07 18:00")
    assert resolution.condition_at(local("2027-01-09 00:00")) == "met_late"
    assert OutboxEvent.objects.filter(topic="sla.breached").count() == 0


@pytest.mark.parametrize("_case", ["24x7", "no holiday set"])
def test_calendars_without_statutory_holidays_are_not_limited(
    _case: str,
    desk: dict[str, Any],
    make_calendar: Callable[..., Calendar],
    make_ticket: Callable[..., Ticket],
    settle: Any,
) -> None:
    timers.forget_specs()
    if _case == "24x7":
        make_calendar(
            name="Hotline", business_line=desk["line_a"], is_24x7=True, hours={}, holiday_set=None
        )
        expected = local("2027-01-01 15:00")  # 270 h of every hour
    else:
        make_calendar(name="Workshop", business_line=desk["line_a"], holiday_set=None)
        expected = local("2027-01-29 18:00")  # weekly hours only, 01-01 worked
    ticket = _waiting_ticket(desk, make_ticket, settle)
    resolution = target(ticket, "resolution")
    assert (resolution.due_at, resolution.waiting_for_year) == (expected, None)
    assert MissingSchedule.objects.count() == 0
    assert not TicketSlaTarget.objects.filter(waiting_for_year__isnull=False).exists()
