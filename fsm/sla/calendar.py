"""The SLA clock: business calendars and the arithmetic of business minutes.

Pure functions, no database. Every instant going in must be timezone-aware; every instant
coming out is in UTC.

Working hours are local wall-clock times of the calendar's timezone, turned into instants
separately for each local date, so a daylight-saving change shifts them with the clock: an
08:00-17:00 day is 9 hours of real time on both sides of a change, while a 00:00-24:00 day
on a change day is 23 or 25 hours (or 23.5/24.5 on Australia/Lord_Howe).

Two rules settle the local times a change makes odd:

* A local time that does not exist (skipped by a spring-forward change) is the instant the
  clocks jump, so an opening inside the gap opens when the gap ends and an interval lying
  wholly inside the gap is empty.
* A local time that happens twice (repeated by a fall-back change) is its first occurrence
  (``fold=0``), so an interval spanning the change contains the repeated hour once per pass.

Both rules map later local times to later or equal instants, so the open stretches of a
calendar never overlap and always come out in order.

An open stretch includes its closing instant for the purpose of deadlines: a target that is
used up exactly at closing time is due at that closing instant, not at the next opening.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "BusinessCalendar",
    "Pause",
    "WorkingInterval",
    "add_business_minutes",
    "business_minutes_between",
    "due_at",
    "open_intervals",
    "paused_business_minutes",
]

WorkingInterval = tuple[time, time | None]
"""Local opening and closing time of one working stretch; a closing time of None is 24:00."""

Pause = tuple[datetime, datetime | None]
"""When the clock was paused and when it resumed; None while it is still paused."""

# Any search for open time gives up after this many local days: a calendar that is closed
# this long is misconfigured, and no SLA target is meant to run for a decade.
SEARCH_HORIZON_DAYS = 3653

_WEEKDAYS = range(7)
_CLOCK = re.compile(r"(?P<h>[01]\d|2[0-4]):(?P<m>[0-5]\d)(?::(?P<s>[0-5]\d))?")
_MINUTE = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    """When the SLA clock runs: working hours per weekday in a timezone, minus holidays.

    ``hours`` maps a weekday (Monday=0 ... Sunday=6) to its working intervals, each a
    ``(start, end)`` pair of naive local times with ``start`` included and ``end`` excluded;
    an ``end`` of None means midnight at the end of the day (24:00), so ``(time(0), None)``
    is a whole day. The stored mapping is read-only, has all seven weekdays (closed days
    map to an empty tuple) and each day's intervals sorted by start.

    A 24/7 calendar (``is_24x7``) is open at every instant, holidays included, and takes no
    hours or holidays of its own.

    Raises:
        ValueError: unknown timezone; weekday outside 0-6; a time with a timezone; an
            interval that is empty or overlaps another on the same weekday; a holiday that
            is a datetime rather than a date; hours or holidays on a 24/7 calendar.
    """

    timezone: str
    hours: Mapping[int, Sequence[WorkingInterval]] = field(hash=False)
    holidays: frozenset[date] = frozenset()
    is_24x7: bool = False

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
            raise ValueError(f"unknown timezone {self.timezone!r}") from exc
        object.__setattr__(self, "hours", _normalised_hours(self.hours))
        object.__setattr__(self, "holidays", _normalised_holidays(self.holidays))
        if self.is_24x7 and (self.has_hours or self.holidays):
            raise ValueError("a 24/7 calendar is always open and takes no hours or holidays")

    @classmethod
    def always_open(cls, timezone: str = "UTC") -> BusinessCalendar:
        """The 24/7 calendar: business minutes are plain elapsed minutes."""
        return cls(timezone=timezone, hours={}, is_24x7=True)

    @classmethod
    def from_json(
        cls, timezone: str, hours: Sequence[Mapping[str, Any]], holidays: Sequence[str]
    ) -> BusinessCalendar:
        """The calendar stored as JSON, checked entry by entry.

        Args:
            hours: entries like ``{"weekday": 0, "start": "08:00", "end": "17:00"}``; times
                are ``HH:MM`` or ``HH:MM:SS`` and ``end`` may be ``"24:00"``. A weekday may
                have several entries (a lunch break is two entries).
            holidays: ISO dates, ``"2026-12-25"``.

        Raises:
            ValueError: naming the first bad entry, e.g. ``hours[2]`` or ``holidays[0]``.
        """
        by_day: dict[int, list[tuple[WorkingInterval, int]]] = {day: [] for day in _WEEKDAYS}
        for index, entry in enumerate(hours):
            weekday, interval = _parse_hours_entry(index, entry)
            by_day[weekday].append((interval, index))
        for weekday, entries in by_day.items():
            entries.sort(key=lambda item: item[0][0])
            for (before, before_index), (after, after_index) in pairwise(entries):
                if _overlap(before, after):
                    raise ValueError(
                        f"hours[{after_index}] overlaps hours[{before_index}] on weekday {weekday}"
                    )
        parsed_holidays = [_parse_holiday(index, value) for index, value in enumerate(holidays)]
        return cls(
            timezone=timezone,
            hours={day: [interval for interval, _ in entries] for day, entries in by_day.items()},
            holidays=frozenset(parsed_holidays),
        )

    def to_json(self) -> dict[str, Any]:
        """The keyword arguments of ``from_json`` that rebuild this calendar.

        Raises:
            ValueError: for a 24/7 calendar, which the JSON form cannot express.
        """
        if self.is_24x7:
            raise ValueError("a 24/7 calendar has no JSON hours form")
        return {
            "timezone": self.timezone,
            "hours": [
                {"weekday": day, "start": _clock_text(start), "end": _clock_text(end)}
                for day in _WEEKDAYS
                for start, end in self.hours[day]
            ],
            "holidays": sorted(holiday.isoformat() for holiday in self.holidays),
        }

    @property
    def zone(self) -> ZoneInfo:
        """The calendar's timezone."""
        return ZoneInfo(self.timezone)

    @property
    def has_hours(self) -> bool:
        """Whether any weekday has working hours."""
        return any(self.hours[day] for day in _WEEKDAYS)


def open_intervals(
    cal: BusinessCalendar, start: datetime, end: datetime
) -> Iterator[tuple[datetime, datetime]]:
    """The open stretches of the calendar within ``[start, end)``, in order, in UTC.

    Stretches that touch (a day open until 24:00 followed by one open from 00:00) come out
    as one. A calendar without any hours yields nothing.
    """
    start_at, end_at = _utc(start, "start"), _utc(end, "end")
    if end_at <= start_at:
        return
    if cal.is_24x7:
        yield start_at, end_at
        return
    last_day = end_at.astimezone(cal.zone).date() + timedelta(days=1)
    current: tuple[datetime, datetime] | None = None
    for opens_at, closes_at in _pieces(cal, start_at, until=last_day):
        if opens_at >= end_at:
            break
        piece = (max(opens_at, start_at), min(closes_at, end_at))
        if piece[0] >= piece[1]:
            continue
        if current is not None and piece[0] <= current[1]:
            current = (current[0], max(current[1], piece[1]))
            continue
        if current is not None:
            yield current
        current = piece
    if current is not None:
        yield current


def add_business_minutes(cal: BusinessCalendar, start: datetime, minutes: float) -> datetime:
    """The instant at which ``minutes`` of open time have elapsed since ``start``.

    Zero minutes give ``start`` itself when it is within open hours, an opening or closing
    instant included, and otherwise the next opening. A result that lands exactly on a
    closing time is that closing instant.

    Raises:
        ValueError: negative or non-finite ``minutes``; a calendar with no hours; not
            enough open time within ten years of ``start``.
    """
    start_at = _utc(start, "start")
    duration = _duration(minutes)
    if cal.is_24x7:
        return start_at + duration
    result = _advance(_pieces(cal, start_at), start_at, duration)
    if result is None:  # pragma: no cover - _pieces raises before it runs dry
        raise AssertionError("open time ran out without reaching the horizon")
    return result


def business_minutes_between(cal: BusinessCalendar, start: datetime, end: datetime) -> float:
    """The open minutes within ``[start, end)``; 0 when ``end`` is not after ``start``."""
    total = sum(
        (closes_at - opens_at for opens_at, closes_at in open_intervals(cal, start, end)),
        timedelta(),
    )
    return total / _MINUTE


def due_at(
    cal: BusinessCalendar, start: datetime, minutes: float, pauses: Sequence[Pause]
) -> datetime | None:
    """When a target of ``minutes`` business minutes from ``start`` is due, pauses excluded.

    This is ``add_business_minutes`` with the paused time treated as closed hours, so open
    time inside any pause does not count. Pauses may be unsorted, overlap (overlapping time
    counts once) or begin before ``start``. A pause still running (resumed at None) stops
    the clock for good, so the result is None, unless the target was already used up when
    that pause began: a deadline already passed stays fixed.

    Raises:
        ValueError: as ``add_business_minutes``; a pause that resumes before it began.
    """
    start_at = _utc(start, "start")
    duration = _duration(minutes)
    paused = _merged_pauses(pauses)
    pieces = (
        iter([(start_at, datetime.max.replace(tzinfo=UTC))])
        if cal.is_24x7
        else _pieces(cal, start_at)
    )
    return _advance(_without(pieces, paused), start_at, duration)


def paused_business_minutes(
    cal: BusinessCalendar, start: datetime, pauses: Sequence[Pause], now: datetime
) -> float:
    """The open minutes from ``start`` to ``now`` during which the clock was paused.

    Pause time before ``start`` does not count, nor does any after ``now``; a pause still
    running counts up to ``now``; overlapping pauses count once.

    Raises:
        ValueError: a naive instant; a pause that resumes before it began.
    """
    start_at, now_at = _utc(start, "start"), _utc(now, "now")
    total = 0.0
    for paused_at, resumed_at in _merged_pauses(pauses):
        until = now_at if resumed_at is None else min(resumed_at, now_at)
        total += business_minutes_between(cal, max(paused_at, start_at), until)
    return total


# -- calendar normalisation and parsing ---------------------------------------------------


def _normalised_hours(
    hours: Mapping[int, Sequence[WorkingInterval]],
) -> Mapping[int, tuple[WorkingInterval, ...]]:
    if not isinstance(hours, Mapping):
        raise ValueError("hours must map weekdays to intervals")
    by_day: dict[int, tuple[WorkingInterval, ...]] = dict.fromkeys(_WEEKDAYS, ())
    for weekday, intervals in hours.items():
        if isinstance(weekday, bool) or weekday not in _WEEKDAYS:
            raise ValueError(f"weekday {weekday!r} is not 0 (Monday) to 6 (Sunday)")
        checked = sorted(
            (_checked_interval(weekday, interval) for interval in intervals),
            key=lambda interval: interval[0],
        )
        for before, after in pairwise(checked):
            if _overlap(before, after):
                raise ValueError(
                    f"weekday {weekday}: {_interval_text(after)} overlaps {_interval_text(before)}"
                )
        by_day[weekday] = tuple(checked)
    return MappingProxyType(by_day)


def _checked_interval(weekday: int, interval: WorkingInterval) -> WorkingInterval:
    try:
        start, end = interval
    except (TypeError, ValueError) as exc:
        raise ValueError(f"weekday {weekday}: {interval!r} is not a (start, end) pair") from exc
    for value in (start, end):
        if value is not None and (not isinstance(value, time) or value.tzinfo is not None):
            raise ValueError(f"weekday {weekday}: {value!r} is not a naive local time")
    if not isinstance(start, time):
        raise ValueError(f"weekday {weekday}: the start of {interval!r} is missing")
    # fold is meaningless in a weekly pattern; the module's own rule picks the occurrence.
    start = start.replace(fold=0)
    end = None if end is None else end.replace(fold=0)
    if end is not None and end <= start:
        raise ValueError(
            f"weekday {weekday}: {_interval_text((start, end))} does not end after it starts"
            " (write an end of 24:00 as None)"
        )
    return start, end


def _overlap(before: WorkingInterval, after: WorkingInterval) -> bool:
    """Whether ``after`` (starting no earlier) begins before ``before`` ends."""
    return before[1] is None or before[1] > after[0]


def _normalised_holidays(holidays: Iterable[date]) -> frozenset[date]:
    days = frozenset(holidays)
    for day in days:
        if isinstance(day, datetime) or not isinstance(day, date):
            raise ValueError(f"holiday {day!r} is not a date")
    return days


def _parse_hours_entry(index: int, entry: Mapping[str, Any]) -> tuple[int, WorkingInterval]:
    where = f"hours[{index}] {entry!r}"
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where}: not an object")
    if set(entry) != {"weekday", "start", "end"}:
        raise ValueError(f"{where}: needs exactly the keys weekday, start and end")
    weekday = entry["weekday"]
    if isinstance(weekday, bool) or not isinstance(weekday, int) or weekday not in _WEEKDAYS:
        raise ValueError(f"{where}: weekday must be 0 (Monday) to 6 (Sunday)")
    start = _parse_clock(where, "start", entry["start"])
    end = _parse_clock(where, "end", entry["end"])
    if start is None:
        raise ValueError(f"{where}: start cannot be 24:00")
    if end is not None and end <= start:
        raise ValueError(f"{where}: end must be after start")
    return weekday, (start, end)


def _parse_clock(where: str, key: str, value: object) -> time | None:
    """A local time from ``HH:MM`` or ``HH:MM:SS``; None for 24:00."""
    match = _CLOCK.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{where}: {key} must be HH:MM or HH:MM:SS")
    hour, minute, second = int(match["h"]), int(match["m"]), int(match["s"] or 0)
    if hour == 24:
        if minute or second:
            raise ValueError(f"{where}: {key} is after 24:00")
        return None
    return time(hour, minute, second)


def _parse_holiday(index: int, value: object) -> date:
    try:
        if not isinstance(value, str) or len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"holidays[{index}] {value!r}: not an ISO date YYYY-MM-DD") from exc


def _clock_text(value: time | None) -> str:
    if value is None:
        return "24:00"
    return value.isoformat(timespec="seconds" if value.second else "minutes")


def _interval_text(interval: WorkingInterval) -> str:
    return f"{_clock_text(interval[0])}-{_clock_text(interval[1])}"


# -- the clock ----------------------------------------------------------------------------


def _utc(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise ValueError(f"{name} must be a datetime, not {value!r}")
    if value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


def _duration(minutes: float) -> timedelta:
    if isinstance(minutes, bool) or not isinstance(minutes, int | float):
        raise ValueError(f"minutes must be a number, not {minutes!r}")
    if not math.isfinite(minutes) or minutes < 0:
        raise ValueError(f"minutes must be finite and not negative, got {minutes!r}")
    return timedelta(minutes=minutes)


def _instant(zone: ZoneInfo, day: date, clock: time | None) -> datetime:
    """The UTC instant of a local time on a local date, by the module's gap and fold rules."""
    if clock is None:  # 24:00 is the next day's midnight
        day, clock = day + timedelta(days=1), time()
    local = datetime.combine(day, clock, tzinfo=zone)  # fold=0: first of two occurrences
    instant = local.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None):
        return instant
    # Skipped by a spring-forward change: fold=0 reads it with the offset from before the
    # jump (an instant after it), fold=1 with the offset after (an instant before it).
    return _jump_between(zone, local.replace(fold=1).astimezone(UTC), instant)


def _jump_between(zone: ZoneInfo, before: datetime, after: datetime) -> datetime:
    """The first instant in ``(before, after]`` with the UTC offset in force at ``after``."""
    offset = after.astimezone(zone).utcoffset()
    while after - before > timedelta(microseconds=1):
        middle = before + (after - before) // 2
        if middle.astimezone(zone).utcoffset() == offset:
            after = middle
        else:
            before = middle
    return after


def _day_pieces(cal: BusinessCalendar, day: date) -> Iterator[tuple[datetime, datetime]]:
    """The open stretches of one local date as UTC instants, in order, empty ones dropped."""
    if day in cal.holidays:
        return
    zone = cal.zone
    for start, end in cal.hours[day.weekday()]:
        opens_at, closes_at = _instant(zone, day, start), _instant(zone, day, end)
        if opens_at < closes_at:
            yield opens_at, closes_at


def _pieces(
    cal: BusinessCalendar, from_at: datetime, until: date | None = None
) -> Iterator[tuple[datetime, datetime]]:
    """The open stretches that close at or after ``from_at``, day by day, unmerged.

    Without ``until`` the search is the open-ended one of a deadline: it raises once it has
    gone ``SEARCH_HORIZON_DAYS`` local days without its consumer being satisfied.
    """
    if until is None and not cal.has_hours:
        raise ValueError("the calendar has no working hours, so no deadline is ever reached")
    # Two days back: a date's stretches can end on the next date's midnight, and that
    # midnight is where ``from_at``'s own date begins (or, on a skipped date, the one after).
    day = from_at.astimezone(cal.zone).date() - timedelta(days=2)
    last_day = until if until is not None else day + timedelta(days=SEARCH_HORIZON_DAYS + 2)
    while day <= last_day:
        for opens_at, closes_at in _day_pieces(cal, day):
            if closes_at >= from_at:
                yield opens_at, closes_at
        day += timedelta(days=1)
    if until is None:
        raise ValueError(
            f"not enough open time within {SEARCH_HORIZON_DAYS} days after "
            f"{from_at.isoformat()}: check the calendar's hours and holidays"
        )


def _merged_pauses(pauses: Sequence[Pause]) -> list[Pause]:
    """The pauses sorted and merged where they overlap or touch; a running one ends them."""
    checked: list[Pause] = []
    for index, (paused, resumed) in enumerate(pauses):
        paused_at = _utc(paused, f"pauses[{index}] paused_at")
        resumed_at = None if resumed is None else _utc(resumed, f"pauses[{index}] resumed_at")
        if resumed_at is not None and resumed_at < paused_at:
            raise ValueError(f"pauses[{index}] resumes before it was paused")
        checked.append((paused_at, resumed_at))
    checked.sort(key=lambda pause: pause[0])
    merged: list[Pause] = []
    for paused_at, resumed_at in checked:
        if merged:
            last_paused_at, last_resumed_at = merged[-1]
            if last_resumed_at is None:
                break  # paused for good from an earlier instant
            if paused_at <= last_resumed_at:
                merged[-1] = (
                    last_paused_at,
                    None if resumed_at is None else max(resumed_at, last_resumed_at),
                )
                continue
        merged.append((paused_at, resumed_at))
    return merged


def _without(
    pieces: Iterator[tuple[datetime, datetime]], paused: list[Pause]
) -> Iterator[tuple[datetime, datetime]]:
    """The open stretches with the (sorted, merged) pause intervals cut out."""
    index = 0
    for opens_at, closes_at in pieces:
        begin = opens_at
        while begin < closes_at:
            while (
                index < len(paused)
                and (resumed := paused[index][1]) is not None
                and (resumed <= begin)
            ):
                index += 1
            if index == len(paused) or paused[index][0] >= closes_at:
                yield begin, closes_at
                break
            paused_at, resumed_at = paused[index]
            if paused_at > begin:
                yield begin, paused_at
            if resumed_at is None:
                return  # the clock stays stopped from here on
            begin = resumed_at


def _advance(
    pieces: Iterator[tuple[datetime, datetime]], start_at: datetime, duration: timedelta
) -> datetime | None:
    """Where ``duration`` of the given open stretches runs out from ``start_at``, if it does.

    ``<=`` makes a target used up exactly at a closing instant due at that instant, and a
    zero target due at ``start_at`` itself when ``start_at`` is a closing instant.
    """
    remaining = duration
    for opens_at, closes_at in pieces:
        if closes_at < start_at:
            continue
        begin = max(opens_at, start_at)
        if remaining <= closes_at - begin:
            return begin + remaining
        remaining -= closes_at - begin
    return None
