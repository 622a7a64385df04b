"""Business-time arithmetic on in-memory calendars: real Chinese dates, DST zones, and the
algebra (hypothesis). No database: a CalendarSpec is built from chinese-calendar's data the way
the loader builds it from the holiday-set table."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aftersales.sla.businesstime import (
    CalendarHasNoWorkingTime,
    CalendarNotCovered,
    CalendarSpec,
    DayRule,
    add_business_minutes,
    business_minutes_between,
    explain_deadline,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
NINE_TO_SIX = ((9 * 60, 18 * 60),)
WITH_LUNCH = ((9 * 60, 12 * 60), (13 * 60 + 30, 18 * 60))


def china_days(hours: tuple[tuple[int, int], ...]) -> dict[date, DayRule]:
    days = {d: DayRule("holiday", str(name)) for d, name in chinese_calendar.holidays.items()}
    for d, name in chinese_calendar.workdays.items():
        days[d] = DayRule("workday", str(name), hours)
    return days


def china(hours: tuple[tuple[int, int], ...] = NINE_TO_SIX) -> CalendarSpec:
    """A Monday-to-Friday calendar in Shanghai following the Chinese holiday set 2004-2026."""
    return CalendarSpec(
        name="Beijing service desk",
        time_zone="Asia/Shanghai",
        weekly=(hours,) * 5 + ((), ()),
        days=china_days(hours),
        covered=(date(2004, 1, 1), date(2026, 12, 31)),
    )


def weekdays(zone: str, hours: tuple[tuple[int, int], ...] = NINE_TO_SIX) -> CalendarSpec:
    return CalendarSpec(name=zone, time_zone=zone, weekly=(hours,) * 5 + ((), ()))


def at(zone: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=zone)  # type: ignore[misc]


def test_national_day_2026_done_means_case() -> None:
    """Created 2026-09-30 17:30 (Wednesday, the last workday before National Day), 4 business
    hours on a 9:00-18:00 calendar.

    By hand, from the State Council's 2026 notice (国办发明电 2025 No. 7) as chinese-calendar
    records it: National Day and the Mid-Autumn Festival are off from Thursday 10-01 to
    Wednesday 10-07 (7 days, weekend 10-03/10-04 inside); Sunday 09-20 and Saturday 10-10 are
    make-up workdays. So:

    * 09-30 17:30-18:00 counts 30 min (3 h 30 min left);
    * 10-01 ... 10-07 are holidays, nothing counts;
    * Thursday 10-08 is an ordinary workday: 09:00 + 3 h 30 min = 12:30.

    Deadline: 2026-10-08 12:30 Asia/Shanghai (04:30 UTC). The make-up Saturday 10-10 comes
    later and does not matter here.
    """
    deadline = add_business_minutes(china(), at(SHANGHAI, 2026, 9, 30, 17, 30), 4 * 60)

    assert deadline == datetime(2026, 10, 8, 4, 30, tzinfo=UTC)
    assert deadline.astimezone(SHANGHAI) == at(SHANGHAI, 2026, 10, 8, 12, 30)


def test_national_day_2026_explanation_names_the_holiday_in_plain_words() -> None:
    """The explanation lists the holiday run and renders it in one line of English."""
    explanation = explain_deadline(china(), at(SHANGHAI, 2026, 9, 30, 17, 30), 4 * 60)

    assert [(s.kind, s.first, s.last, s.name) for s in explanation.steps] == [
        ("holiday", date(2026, 10, 1), date(2026, 10, 7), "National Day")
    ]
    assert explanation.render("en") == (
        "due 10-08 12:30: 4 h from 09-30 17:30 (Asia/Shanghai); 10-01…10-07 holiday (National Day)"
    )


def test_explanation_counts_a_make_up_workday_and_the_lunch_breaks() -> None:
    """National Day 2025: off 10-01...10-08, Saturday 10-11 is a make-up workday. 16 business
    hours from Thursday 10-09 09:00 on a calendar with a lunch break (7.5 h a day): 10-09 7.5 h,
    10-10 7.5 h, then 1 h on the make-up Saturday 10-11: due 10-11 10:00."""
    explanation = explain_deadline(china(WITH_LUNCH), at(SHANGHAI, 2025, 10, 9, 9, 0), 16 * 60)

    assert explanation.deadline == at(SHANGHAI, 2025, 10, 11, 10, 0)
    assert explanation.render("en") == (
        "due 10-11 10:00: 16 h from 10-09 09:00 (Asia/Shanghai); "
        "10-11 make-up workday (National Day); break 12:00-13:30 skipped on 2 days"
    )


@pytest.mark.parametrize(
    ("_case", "start", "minutes", "expected"),
    [
        # Spring Festival 2025: off 01-28...02-04; Sunday 01-26 and Saturday 02-08 worked.
        ("sf2025_make_up_sunday_counts", (2025, 1, 25, 12, 0), 60, (2025, 1, 26, 10, 0)),
        ("sf2025_last_workday_to_after", (2025, 1, 27, 17, 0), 120, (2025, 2, 5, 10, 0)),
        ("sf2025_make_up_saturday", (2025, 2, 7, 17, 0), 120, (2025, 2, 8, 10, 0)),
        # Spring Festival 2026: off 02-15...02-23; Saturdays 02-14 and 02-28 worked.
        ("sf2026_make_up_saturday_before", (2026, 2, 13, 17, 0), 120, (2026, 2, 14, 10, 0)),
        ("sf2026_across_the_break", (2026, 2, 14, 17, 0), 120, (2026, 2, 24, 10, 0)),
        ("sf2026_make_up_saturday_after", (2026, 2, 27, 17, 0), 120, (2026, 2, 28, 10, 0)),
        # National Day 2025: off 10-01...10-08; Sunday 09-28 and Saturday 10-11 worked.
        ("nd2025_make_up_sunday", (2025, 9, 26, 17, 0), 120, (2025, 9, 28, 10, 0)),
        ("nd2025_across", (2025, 9, 30, 17, 30), 240, (2025, 10, 9, 12, 30)),
        # National Day 2026: off 10-01...10-07; Sunday 09-20 and Saturday 10-10 worked.
        ("nd2026_make_up_sunday", (2026, 9, 18, 17, 0), 120, (2026, 9, 20, 10, 0)),
        ("nd2026_two_days", (2026, 9, 30, 9, 0), 18 * 60, (2026, 10, 8, 18, 0)),
        ("nd2026_make_up_saturday", (2026, 10, 9, 17, 0), 120, (2026, 10, 10, 10, 0)),
        # Starting on a holiday waits for the next working minute.
        ("start_on_holiday", (2026, 10, 3, 11, 0), 30, (2026, 10, 8, 9, 30)),
        # Ending exactly at the end of a day stays on that day, not the next morning.
        ("ends_at_close", (2026, 10, 9, 17, 0), 60, (2026, 10, 9, 18, 0)),
    ],
)
def test_real_chinese_dates(
    _case: str,
    start: tuple[int, ...],
    minutes: int,
    expected: tuple[int, ...],
) -> None:
    """Deadlines around Spring Festival and National Day 2025/2026, worked out by hand."""
    deadline = add_business_minutes(china(), at(SHANGHAI, *start), minutes)

    assert deadline.astimezone(SHANGHAI) == at(SHANGHAI, *expected)
    assert business_minutes_between(china(), at(SHANGHAI, *start), deadline) == minutes


def test_business_minutes_between_spring_festival_2026() -> None:
    """From Friday 02-13 09:00 to Wednesday 02-25 09:00: 02-13 (9 h), make-up Saturday 02-14
    (9 h), holidays 02-15...02-23, 02-24 (9 h) = 27 h."""
    minutes = business_minutes_between(
        china(), at(SHANGHAI, 2026, 2, 13, 9, 0), at(SHANGHAI, 2026, 2, 25, 9, 0)
    )

    assert minutes == 27 * 60


def test_reaching_past_the_last_covered_year_is_refused() -> None:
    """2027's make-up days are not published: a deadline that needs 2027 raises, in words."""
    with pytest.raises(CalendarNotCovered) as raised:
        add_business_minutes(china(), at(SHANGHAI, 2026, 12, 31, 17, 0), 120)

    assert raised.value.code == "calendar_not_covered"
    assert raised.value.detail() == (
        "The calendar Beijing service desk covers 2004-01-01 to 2026-12-31 only; this "
        "computation needs 2027-01-01. Add the holiday schedule for 2027 first."
    )


def test_a_deadline_inside_the_last_covered_year_still_computes() -> None:
    """Up to the last covered date everything computes."""
    deadline = add_business_minutes(china(), at(SHANGHAI, 2026, 12, 31, 17, 0), 60)

    assert deadline.astimezone(SHANGHAI) == at(SHANGHAI, 2026, 12, 31, 18, 0)


def test_seconds_are_truncated() -> None:
    """17:30:59 counts from 17:30."""
    deadline = add_business_minutes(
        weekdays("Asia/Shanghai"), datetime(2026, 11, 24, 17, 30, 59, tzinfo=SHANGHAI), 20
    )

    assert deadline.astimezone(SHANGHAI) == at(SHANGHAI, 2026, 11, 24, 17, 50)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        add_business_minutes(weekdays("UTC"), datetime(2026, 1, 5, 9, 0), 10)  # noqa: DTZ001


def test_calendar_without_working_time_is_refused() -> None:
    empty = CalendarSpec(name="Empty", time_zone="UTC", weekly=((),) * 7)

    with pytest.raises(CalendarHasNoWorkingTime):
        add_business_minutes(empty, datetime(2026, 1, 5, tzinfo=UTC), 10)


def test_24x7_day_in_berlin_is_23_hours_on_spring_forward() -> None:
    """Berlin moves from 02:00 to 03:00 on 2026-03-29: that calendar day holds 23 h."""
    always = CalendarSpec(name="24x7", time_zone="Europe/Berlin", weekly=(((0, 1440),),) * 7)

    minutes = business_minutes_between(
        always, at(BERLIN, 2026, 3, 29, 0, 0), at(BERLIN, 2026, 3, 30, 0, 0)
    )

    assert minutes == 23 * 60


def test_24x7_deadline_across_fall_back_in_new_york_is_real_time() -> None:
    """New York repeats 01:00-02:00 on 2026-11-01: 24 business hours from 10-31 12:00 end at
    11-01 11:00 local wall time (25 wall-clock hours later, 24 real hours)."""
    always = CalendarSpec(name="24x7", time_zone="America/New_York", weekly=(((0, 1440),),) * 7)

    deadline = add_business_minutes(always, at(NEW_YORK, 2026, 10, 31, 12, 0), 24 * 60)

    assert deadline.astimezone(NEW_YORK) == at(NEW_YORK, 2026, 11, 1, 11, 0)
    assert deadline - at(NEW_YORK, 2026, 10, 31, 12, 0) == timedelta(hours=24)


def test_office_hours_keep_their_wall_times_across_dst_in_new_york() -> None:
    """9:00-18:00 on Friday 2026-03-06 and Monday 2026-03-09 (DST starts on Sunday 03-08):
    2 hours from Friday 17:00 end Monday 10:00 EDT, which is 14:00 UTC (not 15:00)."""
    deadline = add_business_minutes(weekdays("America/New_York"), at(NEW_YORK, 2026, 3, 6, 17), 120)

    assert deadline == datetime(2026, 3, 9, 14, 0, tzinfo=UTC)


def test_start_given_in_another_zone_is_read_in_the_calendars_zone() -> None:
    """08:30 UTC is 16:30 in Shanghai: 1.5 h count until 18:00, the last 30 min spill over to
    the next morning."""
    deadline = add_business_minutes(
        weekdays("Asia/Shanghai"), datetime(2026, 11, 24, 8, 30, tzinfo=UTC), 120
    )

    assert deadline.astimezone(SHANGHAI) == at(SHANGHAI, 2026, 11, 25, 9, 30)


def test_a_half_day_override_and_a_company_holiday_replace_the_weekly_hours() -> None:
    """Friday 2026-11-27 is a half day (9-12), Monday 11-30 a company holiday."""
    spec = CalendarSpec(
        name="Company",
        time_zone="Asia/Shanghai",
        weekly=(NINE_TO_SIX,) * 5 + ((), ()),
        days={
            date(2026, 11, 27): DayRule("override", "Half day", ((9 * 60, 12 * 60),)),
            date(2026, 11, 30): DayRule("holiday", "Company day"),
        },
    )

    deadline = add_business_minutes(spec, at(SHANGHAI, 2026, 11, 27, 11, 0), 120)

    assert deadline.astimezone(SHANGHAI) == at(SHANGHAI, 2026, 12, 1, 10, 0)


# --- Algebra --------------------------------------------------------------------------------

CALENDARS = [china(WITH_LUNCH), weekdays("Europe/Berlin", WITH_LUNCH), weekdays("America/New_York")]
BERLIN_24X7 = CalendarSpec(name="24x7", time_zone="Europe/Berlin", weekly=(((0, 1440),),) * 7)
CALENDARS.append(BERLIN_24X7)

instants = st.datetimes(
    min_value=datetime(2024, 1, 1),  # noqa: DTZ001 - hypothesis wants naive bounds
    max_value=datetime(2026, 3, 31),  # noqa: DTZ001 - leaves room before 2027
    timezones=st.just(UTC),
)
calendars = st.sampled_from(CALENDARS)
amounts = st.integers(min_value=0, max_value=60 * 24 * 20)


def _inside_working_time(spec: CalendarSpec, deadline: datetime) -> bool:
    timestamp = int(deadline.timestamp())
    for offset in (-1, 0):
        day = spec.day(spec.local_date(timestamp) + timedelta(days=offset))
        if any(start < timestamp <= end for start, end in day.spans):
            return True
    return False


@settings(max_examples=300, deadline=None)
@given(spec=calendars, start=instants, minutes=amounts)
def test_adding_then_measuring_gives_back_the_minutes(
    spec: CalendarSpec, start: datetime, minutes: int
) -> None:
    deadline = add_business_minutes(spec, start, minutes)

    assert business_minutes_between(spec, start, deadline) == minutes


@settings(max_examples=300, deadline=None)
@given(spec=calendars, start=instants, minutes=st.integers(min_value=1, max_value=60 * 24 * 20))
def test_deadline_falls_inside_working_time_or_at_an_interval_end(
    spec: CalendarSpec, start: datetime, minutes: int
) -> None:
    deadline = add_business_minutes(spec, start, minutes)

    assert _inside_working_time(spec, deadline)


@settings(max_examples=200, deadline=None)
@given(spec=calendars, start=instants, first=amounts, second=amounts)
def test_deadlines_are_monotonic_in_minutes(
    spec: CalendarSpec, start: datetime, first: int, second: int
) -> None:
    low, high = sorted((first, second))

    assert add_business_minutes(spec, start, low) <= add_business_minutes(spec, start, high)


@settings(max_examples=200, deadline=None)
@given(spec=calendars, first=instants, second=instants, minutes=amounts)
def test_deadlines_are_monotonic_in_start(
    spec: CalendarSpec, first: datetime, second: datetime, minutes: int
) -> None:
    early, late = sorted((first, second))

    assert add_business_minutes(spec, early, minutes) <= add_business_minutes(spec, late, minutes)


@settings(max_examples=300, deadline=None)
@given(spec=calendars, points=st.lists(instants, min_size=3, max_size=3))
def test_splitting_an_interval_adds_up(spec: CalendarSpec, points: list[datetime]) -> None:
    a, b, c = sorted(points)

    whole = business_minutes_between(spec, a, c)

    assert whole == business_minutes_between(spec, a, b) + business_minutes_between(spec, b, c)
    assert business_minutes_between(spec, c, a) == -whole


@settings(max_examples=200, deadline=None)
@given(spec=calendars, start=instants, first=amounts, second=amounts)
def test_adding_twice_is_adding_the_sum(
    spec: CalendarSpec, start: datetime, first: int, second: int
) -> None:
    once = add_business_minutes(spec, start, first + second)
    twice = add_business_minutes(spec, add_business_minutes(spec, start, first), second)

    assert once == twice


@settings(max_examples=300, deadline=None)
@given(spec=calendars, start=instants, minutes=amounts)
def test_the_prefix_sum_deadline_equals_the_day_by_day_walk_of_the_explanation(
    spec: CalendarSpec, start: datetime, minutes: int
) -> None:
    """add_business_minutes bisects cached prefix sums; explain_deadline walks every day.
    Both must agree, whatever order earlier examples filled the shared caches in."""
    fresh = CalendarSpec(
        name=spec.name,
        time_zone=spec.time_zone,
        weekly=spec.weekly,
        days=spec.days,
        covered=spec.covered,
    )

    walked = explain_deadline(fresh, start, minutes).deadline

    # Compared as instants: Python never calls an ambiguous wall time (the repeated hour of a
    # fall-back night) equal to a datetime of another zone.
    assert add_business_minutes(spec, start, minutes).timestamp() == walked.timestamp()
