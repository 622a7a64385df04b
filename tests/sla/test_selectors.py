"""Loading a calendar row for arithmetic: a fixed number of queries, whatever the span."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from aftersales.accounts.models import User
from aftersales.sla import services
from aftersales.sla.businesstime import add_business_minutes, business_minutes_between
from aftersales.sla.models import Calendar

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(("_case", "minutes"), [("four hours", 240), ("thirty workdays", 30 * 540)])
def test_a_computation_reads_the_calendar_in_four_queries_not_one_per_day(
    make_calendar: Callable[..., Calendar],
    admin_user: User,
    django_assert_num_queries: Callable[..., object],
    _case: str,
    minutes: int,
) -> None:
    """Intervals, the holiday set, its days and the calendar's own days: four queries."""
    # given
    calendar = make_calendar()
    services.set_calendar_day(
        actor=admin_user, calendar=calendar, day=date(2026, 10, 9), kind="holiday"
    )
    calendar = Calendar.objects.get(pk=calendar.pk)
    start = datetime(2026, 9, 30, 17, 30, tzinfo=SHANGHAI)
    # when
    with django_assert_num_queries(4):
        deadline = add_business_minutes(calendar, start, minutes)
    # then
    assert (
        business_minutes_between(Calendar.objects.get(pk=calendar.pk), start, deadline) == minutes
    )
