"""Business-time arithmetic: deadlines and elapsed working time on a business calendar.

Both functions walk the calendar day by day and, inside a day, interval by interval, so a
computation costs O(days crossed), never O(minutes). A calendar is read once into a
:class:`CalendarSpec` (three queries, see :func:`aftersales.sla.selectors.load_calendar`);
nothing here touches the database.

Rules, documented in ``docs/sla.md``:

* Working intervals are local wall-clock times in the calendar's zone; each day's intervals are
  turned into UTC instants with ``zoneinfo``, so an interval that spans a DST change is as long
  as the real time it lasts (a 00:00-24:00 day is 23 h or 25 h). A wall time inside a DST gap
  is read with ``fold=0`` (shifted forward by the gap).
* Seconds are truncated: instants are floored to the whole minute before counting, and
  deadlines are whole minutes. A ticket created at 17:30:59 counts from 17:30.
* A deadline lands inside working time or exactly at the end of an interval; adding 0
  minutes gives back the (truncated) start.
* A dated exception (holiday, make-up workday, override) replaces the weekly intervals of that
  date. A calendar's own dated exceptions win over its holiday set's.
* A calendar with a holiday set is *covered* only for the years the set has been maintained
  for. Any computation that needs a day outside them raises :class:`CalendarNotCovered`:
  never a silent guess.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from aftersales.core.errors import DomainError

MINUTES_PER_DAY = 24 * 60
# A walk that finds no working minute in this many consecutive days gives up: the calendar
# has (almost) no working time, and looping on would never end.
MAX_IDLE_DAYS = 3 * 366

Interval = tuple[int, int]  # minutes from local midnight, end exclusive, 0 <= start < end <= 1440


class CalendarNotCovered(DomainError):
    """The computation reaches a date the calendar's holiday set does not cover yet."""

    status = 422
    default_message = gettext_lazy(
        "The calendar %(calendar)s covers %(first)s to %(last)s only; this computation needs "
        "%(date)s. Add the holiday schedule for %(year)s first."
    )


class CalendarHasNoWorkingTime(DomainError):
    """The calendar has no working minute within the search horizon."""

    status = 422
    default_message = gettext_lazy(
        "The calendar %(calendar)s has no working time within %(days)s days of %(date)s."
    )


class DayKind:
    """What a dated exception makes of its day (values match ``CalendarDay.Kind``)."""

    HOLIDAY = "holiday"
    WORKDAY = "workday"  # make-up workday (调休): a weekend day that is worked
    OVERRIDE = "override"  # any other dated change of hours, e.g. a half day


@dataclass(frozen=True)
class DayRule:
    """A dated exception of a calendar, already resolved to its intervals."""

    kind: str
    name: str = ""
    intervals: tuple[Interval, ...] = ()


@dataclass
class CalendarSpec:
    """A business calendar in memory: everything a computation reads, loaded once.

    ``weekly[0]`` is Monday. ``covered`` is the first and last local date the holiday set
    knows; ``None`` means the calendar has no holiday set and is not limited.
    """

    name: str
    time_zone: str
    weekly: tuple[tuple[Interval, ...], ...]
    days: dict[date, DayRule] = field(default_factory=dict, repr=False)
    covered: tuple[date, date] | None = None
    _zone: ZoneInfo = field(init=False, repr=False)
    _cache: dict[date, _Day] = field(init=False, repr=False, default_factory=dict)
    # Prefix sums of working seconds over consecutive days from _base: _cumulative[i] is the
    # working time of the days before _base + i. Filled lazily, only as far as a computation
    # needs, so a coverage error is raised exactly when a day past the coverage is needed.
    _base: date | None = field(init=False, repr=False, default=None)
    _cumulative: list[int] = field(init=False, repr=False, default_factory=lambda: [0])

    def __post_init__(self) -> None:
        if len(self.weekly) != 7:
            raise ValueError("weekly needs 7 entries, Monday first")
        self._zone = ZoneInfo(self.time_zone)

    @property
    def zone(self) -> ZoneInfo:
        return self._zone

    def day(self, local_date: date) -> _Day:
        cached = self._cache.get(local_date)
        if cached is None:
            cached = self._cache[local_date] = self._build_day(local_date)
        return cached

    def position(self, local_date: date) -> int:
        """Index of ``local_date`` in the prefix sums, which then reach at least that day."""
        if self._base is None:
            self._base = local_date
        elif local_date < self._base:
            # Restart the sums from the earlier day; the days already built stay cached.
            reached = self._base + timedelta(days=len(self._cumulative) - 2)
            self._base, self._cumulative = local_date, [0]
            self._extend_to((reached - local_date).days)
        position = (local_date - self._base).days
        self._extend_to(position)
        return position

    def _extend_to(self, position: int) -> None:
        assert self._base is not None  # noqa: S101 - set by position()
        cumulative = self._cumulative
        while len(cumulative) - 1 <= position:
            day = self.day(self._base + timedelta(days=len(cumulative) - 1))
            cumulative.append(cumulative[-1] + day.minutes * 60)

    def seconds_before(self, position: int) -> int:
        return self._cumulative[position]

    def extend_until(self, target: int, since: date) -> None:
        """Extend the sums until they reach ``target`` seconds (or the search gives up)."""
        assert self._base is not None  # noqa: S101 - set by position()
        cumulative = self._cumulative
        idle = 0
        while cumulative[-1] < target:
            day = self.day(self._base + timedelta(days=len(cumulative) - 1))
            cumulative.append(cumulative[-1] + day.minutes * 60)
            idle = 0 if day.minutes else idle + 1
            if idle > MAX_IDLE_DAYS:
                raise CalendarHasNoWorkingTime(
                    "calendar_has_no_working_time",
                    field="calendar",
                    params={
                        "calendar": self.name,
                        "days": MAX_IDLE_DAYS,
                        "date": since.isoformat(),
                    },
                )

    def first_reaching(self, target: int) -> tuple[date, int]:
        """The day whose working time reaches ``target``, and the seconds still due in it."""
        assert self._base is not None  # noqa: S101 - set by position()
        index = bisect_left(self._cumulative, target) - 1
        return self._base + timedelta(days=index), target - self._cumulative[index]

    def _build_day(self, local_date: date) -> _Day:
        if self.covered is not None and not self.covered[0] <= local_date <= self.covered[1]:
            raise CalendarNotCovered(
                "calendar_not_covered",
                field="calendar",
                params={
                    "calendar": self.name,
                    "first": self.covered[0].isoformat(),
                    "last": self.covered[1].isoformat(),
                    "date": local_date.isoformat(),
                    "year": local_date.year,
                },
            )
        rule = self.days.get(local_date)
        local = rule.intervals if rule is not None else self.weekly[local_date.weekday()]
        spans: list[tuple[int, int]] = []
        previous_end: int | None = None
        for start, end in local:
            start_ts = self._instant(local_date, start)
            end_ts = self._instant(local_date, end)
            if previous_end is not None:
                start_ts = max(start_ts, previous_end)
            if end_ts > start_ts:
                spans.append((start_ts, end_ts))
                previous_end = end_ts
        minutes = sum(end - start for start, end in spans) // 60
        return _Day(local_date, tuple(spans), tuple(local), minutes, rule)

    def _instant(self, local_date: date, minute: int) -> int:
        """UTC seconds of a local wall time (minute 1440 is the next day's midnight)."""
        day = local_date + timedelta(days=minute // MINUTES_PER_DAY)
        minute %= MINUTES_PER_DAY
        wall = datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=self._zone)
        return int(wall.timestamp())

    def local_date(self, timestamp: int) -> date:
        return datetime.fromtimestamp(timestamp, tz=self._zone).date()

    def local(self, timestamp: int) -> datetime:
        return datetime.fromtimestamp(timestamp, tz=self._zone)


@dataclass(frozen=True)
class _Day:
    date: date
    spans: tuple[tuple[int, int], ...]  # UTC seconds, increasing, non-overlapping
    local: tuple[Interval, ...]  # the wall-clock intervals the spans came from
    minutes: int
    rule: DayRule | None


# --- Explanation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One thing a deadline computation skipped or counted, over a run of days.

    ``kind`` is one of ``holiday`` (skipped), ``workday`` (make-up workday, counted),
    ``override`` (a dated change of hours, counted as far as it has hours), ``break`` (the gap
    between two intervals of a day, skipped; ``start``/``end`` are wall times) and ``weekend``
    (a day without weekly hours, skipped; kept in the structure, left out of the text).
    """

    kind: str
    first: date
    last: date
    name: str = ""
    minutes: int = 0
    start: str = ""
    end: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "first": self.first.isoformat(),
            "last": self.last.isoformat(),
            "name": self.name,
            "minutes": self.minutes,
            "start": self.start,
            "end": self.end,
        }


@dataclass(frozen=True)
class Explanation:
    """How a deadline was computed, in a structure and in plain words (``render``)."""

    calendar: str
    time_zone: str
    start: datetime  # local, truncated to the minute
    minutes: int
    deadline: datetime  # local
    steps: tuple[Step, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "calendar": self.calendar,
            "time_zone": self.time_zone,
            "start": self.start.isoformat(),
            "minutes": self.minutes,
            "deadline": self.deadline.isoformat(),
            "steps": [step.as_dict() for step in self.steps],
        }

    def render(self, language: str | None = None) -> str:
        """The explanation as one line of plain words, in ``language`` (default: active)."""
        if language is not None:
            with translation.override(language):
                return self.render()
        same_year = self.start.year == self.deadline.year
        parts = [
            _("due %(deadline)s: %(duration)s from %(start)s (%(zone)s)")
            % {
                "deadline": _moment(self.deadline, same_year),
                "duration": format_duration(self.minutes),
                "start": _moment(self.start, same_year),
                "zone": self.time_zone,
            }
        ]
        breaks: dict[tuple[str, str], int] = {}
        for step in self.steps:
            days = _days(step.first, step.last, same_year)
            if step.kind == DayKind.HOLIDAY:
                text = _("%(days)s holiday") % {"days": days}
            elif step.kind == DayKind.WORKDAY:
                text = _("%(days)s make-up workday") % {"days": days}
            elif step.kind == DayKind.OVERRIDE:
                text = _("%(days)s special hours (%(duration)s)") % {
                    "days": days,
                    "duration": format_duration(step.minutes),
                }
            elif step.kind == "break":
                breaks[(step.start, step.end)] = breaks.get((step.start, step.end), 0) + (
                    (step.last - step.first).days + 1
                )
                continue
            else:
                continue
            if step.name:
                text = "%s (%s)" % (text, step.name)  # noqa: UP031 - joins translated parts
            parts.append(text)
        for (start, end), count in breaks.items():
            parts.append(
                translation.ngettext(
                    "break %(start)s-%(end)s skipped on %(count)s day",
                    "break %(start)s-%(end)s skipped on %(count)s days",
                    count,
                )
                % {"start": start, "end": end, "count": count}
            )
        return "; ".join(parts)


def format_duration(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    if hours and rest:
        return _("%(hours)s h %(minutes)s min") % {"hours": hours, "minutes": rest}
    if hours:
        return _("%(hours)s h") % {"hours": hours}
    return _("%(minutes)s min") % {"minutes": rest}


def _moment(value: datetime, same_year: bool) -> str:
    return value.strftime("%m-%d %H:%M" if same_year else "%Y-%m-%d %H:%M")


def _days(first: date, last: date, same_year: bool) -> str:
    pattern = "%m-%d" if same_year else "%Y-%m-%d"
    if first == last:
        return first.strftime(pattern)
    return "%s…%s" % (first.strftime(pattern), last.strftime(pattern))  # noqa: UP031


def _wall(minute: int) -> str:
    return "%02d:%02d" % divmod(minute, 60)  # noqa: UP031


class _Recorder:
    """Collects steps and merges runs of consecutive days of the same kind and name."""

    def __init__(self) -> None:
        self.steps: list[Step] = []

    def add(self, step: Step) -> None:
        if step.kind != "break":
            for index in range(len(self.steps) - 1, -1, -1):
                last = self.steps[index]
                if last.kind == "break":
                    continue
                if (
                    last.kind == step.kind
                    and last.name == step.name
                    and last.last + timedelta(days=1) == step.first
                ):
                    self.steps[index] = Step(
                        last.kind, last.first, step.last, last.name, last.minutes + step.minutes
                    )
                    return
                break
        self.steps.append(step)

    def day(self, day: _Day) -> None:
        if day.rule is not None:
            self.add(Step(day.rule.kind, day.date, day.date, day.rule.name, day.minutes))
        elif not day.spans:
            self.add(Step("weekend", day.date, day.date))


# --- Arithmetic -----------------------------------------------------------------------------


def _floor(instant: datetime) -> int:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("business-time arithmetic needs aware datetimes")
    seconds = int(instant.timestamp())
    return seconds - seconds % 60


def _days_from(spec: CalendarSpec, timestamp: int) -> Iterator[_Day]:
    current = spec.local_date(timestamp)
    idle = 0
    while True:
        day = spec.day(current)
        idle = 0 if day.minutes else idle + 1
        if idle > MAX_IDLE_DAYS:
            raise CalendarHasNoWorkingTime(
                "calendar_has_no_working_time",
                field="calendar",
                params={
                    "calendar": spec.name,
                    "days": MAX_IDLE_DAYS,
                    "date": spec.local_date(timestamp).isoformat(),
                },
            )
        yield day
        current += timedelta(days=1)


def _add_fast(spec: CalendarSpec, start: int, minutes: int) -> int:
    """Like :func:`_add` without the explanation: the start day by its intervals, the whole
    days after it by bisecting the prefix sums, the last day by its intervals again."""
    if minutes < 0:
        raise ValueError("minutes must be 0 or more")
    if minutes == 0:
        return start
    remaining = minutes * 60
    first = spec.local_date(start)
    for span_start, span_end in spec.day(first).spans:
        if span_end <= start:
            continue
        begin = max(span_start, start)
        if remaining <= span_end - begin:
            return begin + remaining
        remaining -= span_end - begin
    target = spec.seconds_before(spec.position(first) + 1) + remaining
    spec.extend_until(target, first)
    last, remaining = spec.first_reaching(target)
    for span_start, span_end in spec.day(last).spans:
        if remaining <= span_end - span_start:
            return span_start + remaining
        remaining -= span_end - span_start
    raise AssertionError("unreachable: the prefix sums promised enough time")  # pragma: no cover


def _add(spec: CalendarSpec, start: int, minutes: int, recorder: _Recorder | None) -> int:
    if minutes < 0:
        raise ValueError("minutes must be 0 or more")
    if minutes == 0:
        return start
    remaining = minutes * 60
    for day in _days_from(spec, start):
        if day.spans and day.spans[-1][1] <= start:
            continue  # the day's working time is already over at the start
        if recorder is not None:
            recorder.day(day)
        for index, (span_start, span_end) in enumerate(day.spans):
            if span_end <= start:
                continue
            begin = max(span_start, start)
            if recorder is not None and index and begin == span_start and begin > start:
                recorder.add(
                    Step(
                        "break",
                        day.date,
                        day.date,
                        start=_wall(day.local[index - 1][1]),
                        end=_wall(day.local[index][0]),
                    )
                )
            available = span_end - begin
            if remaining <= available:
                return begin + remaining
            remaining -= available
            start = span_end
    raise AssertionError("unreachable: _days_from never ends")  # pragma: no cover


def _resolve(calendar: Any, since: datetime) -> CalendarSpec:
    if isinstance(calendar, CalendarSpec):
        return calendar
    from aftersales.sla.selectors import load_calendar

    return load_calendar(calendar, since=since)


def add_business_minutes(calendar: Any, start: datetime, minutes: int) -> datetime:
    """The instant ``minutes`` business minutes after ``start`` (UTC, whole minutes).

    ``calendar`` is a :class:`CalendarSpec` or a ``Calendar`` row (loaded once here).
    """
    spec = _resolve(calendar, start)
    return datetime.fromtimestamp(_add_fast(spec, _floor(start), minutes), tz=UTC)


def explain_deadline(calendar: Any, start: datetime, minutes: int) -> Explanation:
    """The deadline of :func:`add_business_minutes` together with how it was reached."""
    spec = _resolve(calendar, start)
    recorder = _Recorder()
    begin = _floor(start)
    deadline = _add(spec, begin, minutes, recorder)
    return Explanation(
        calendar=spec.name,
        time_zone=spec.time_zone,
        start=spec.local(begin),
        minutes=minutes,
        deadline=spec.local(deadline),
        steps=tuple(recorder.steps),
    )


def business_minutes_between(calendar: Any, start: datetime, end: datetime) -> int:
    """Working minutes from ``start`` to ``end``; negative when ``end`` comes first."""
    if end < start:
        return -business_minutes_between(calendar, end, start)
    spec = _resolve(calendar, start)
    begin, finish = _floor(start), _floor(end)
    if finish == begin:
        return 0
    first, last = spec.local_date(begin), spec.local_date(finish - 1)
    total = 0
    for span_start, span_end in spec.day(first).spans:
        total += max(0, min(span_end, finish) - max(span_start, begin))
    if last > first:
        # Whole days in between from the prefix sums (first's position first: it may move the
        # base of the sums, last's cannot), then the part of the last day.
        first_position = spec.position(first)
        whole = spec.seconds_before(spec.position(last)) - spec.seconds_before(first_position + 1)
        total += whole
        for span_start, span_end in spec.day(last).spans:
            total += max(0, min(span_end, finish) - span_start)
    return total // 60
