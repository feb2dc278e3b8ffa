"""Weekly hours: when on each weekday work may happen, and the instants that gives.

A weekly pattern is a list of `{"weekday": 0-6, "opens": "HH:MM", "closes": "HH:MM"}` in a
site's local time, the shape of a site's opening hours. A visit carries one when only some
hours of its window are allowed (planned maintenance on the contract's preferred weekdays
and hours, on days the site is open); an empty pattern allows the whole window.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

Pattern = list[dict[str, Any]]
# Midnight at the end of a day, as a pattern stores it.
_END_OF_DAY = "24:00"


def _clock(value: str) -> time | None:
    """A stored clock time; None for the end of the day."""
    return None if value.startswith("24") else time.fromisoformat(value)


def _minutes(value: time | None) -> int:
    return 24 * 60 if value is None else value.hour * 60 + value.minute


def weekly_pattern(
    opening_hours: Sequence[dict[str, Any]],
    preferred_weekdays: Sequence[int],
    preferred_start: time | None,
    preferred_end: time | None,
) -> Pattern:
    """The hours a site is open that a contract prefers, per weekday.

    A site without opening hours is open all week; no preferred weekdays (or hours) means
    any. When the preferences leave no open hour at all (a preferred Saturday at a site
    closed on Saturdays), the site's own hours stand: the work still has to be done.
    """
    site: list[tuple[int, int, int]] = [
        (
            int(entry["weekday"]),
            _minutes(_clock(str(entry["opens"]))),
            _minutes(_clock(str(entry["closes"]))),
        )
        for entry in opening_hours
    ] or [(day, 0, 24 * 60) for day in range(7)]
    lo = _minutes(preferred_start) if preferred_start is not None else 0
    hi = _minutes(preferred_end) if preferred_end is not None else 24 * 60
    days = set(preferred_weekdays) or set(range(7))
    kept = [
        (day, max(opens, lo), min(closes, hi))
        for day, opens, closes in site
        if day in days and max(opens, lo) < min(closes, hi)
    ]
    if not kept:
        kept = site
    if kept == [(day, 0, 24 * 60) for day in range(7)]:
        return []  # open all the time: nothing to restrict
    return [
        {"weekday": day, "opens": _hhmm(opens), "closes": _hhmm(closes)}
        for day, opens, closes in sorted(kept)
    ]


def _hhmm(minutes: int) -> str:
    return _END_OF_DAY if minutes >= 24 * 60 else f"{minutes // 60:02d}:{minutes % 60:02d}"


def windows_between(
    pattern: Sequence[dict[str, Any]], timezone: str, starts_at: datetime, ends_at: datetime
) -> list[tuple[datetime, datetime]]:
    """The UTC stretches of [starts_at, ends_at) the pattern allows, in order.

    An empty pattern allows all of it.
    """
    if not pattern:
        return [(starts_at, ends_at)] if starts_at < ends_at else []
    zone = ZoneInfo(timezone)
    by_day: dict[int, list[tuple[str, str]]] = {}
    for entry in pattern:
        by_day.setdefault(int(entry["weekday"]), []).append(
            (str(entry["opens"]), str(entry["closes"]))
        )
    result: list[tuple[datetime, datetime]] = []
    day = starts_at.astimezone(zone).date() - timedelta(days=1)
    last = ends_at.astimezone(zone).date()
    while day <= last:
        for opens, closes in sorted(by_day.get(day.weekday(), ())):
            lo = _instant(day, opens, zone)
            hi = _instant(day, closes, zone)
            lo, hi = max(lo, starts_at), min(hi, ends_at)
            if lo < hi:
                result.append((lo, hi))
        day += timedelta(days=1)
    return result


def _instant(day: date, clock: str, zone: ZoneInfo) -> datetime:
    value = _clock(clock)
    if value is None:
        return datetime.combine(day + timedelta(days=1), time(), zone).astimezone(UTC)
    return datetime.combine(day, value, zone).astimezone(UTC)
