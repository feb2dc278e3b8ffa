"""Cutting a contract's validity into maintenance windows; pure date arithmetic."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from equipment.contracts.models import IntervalUnit


def add_months(day: date, months: int) -> date:
    """`day` moved by whole months, clamped to the end of a shorter month (Jan 31 -> Feb 28)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    last = calendar.monthrange(year, month)[1]
    return date(year, month, min(day.day, last))


def _nth_start(start: date, n: int, count: int, unit: IntervalUnit) -> date:
    # Always step from the anchor, so a clamped Feb 28 does not drag March to the 28th.
    if unit is IntervalUnit.MONTH:
        return add_months(start, n * count)
    days = count * (7 if unit is IntervalUnit.WEEK else 1)
    return start + timedelta(days=n * days)


def cut_periods(start: date, end: date, count: int, unit: IntervalUnit) -> list[tuple[date, date]]:
    """Consecutive inclusive windows `(starts_on, ends_on)` from `start`, the last clipped to `end`.

    Raises:
        ValueError: when `count` is not positive.
    """
    if count <= 0:
        raise ValueError("count must be positive")
    unit = IntervalUnit(unit)
    periods: list[tuple[date, date]] = []
    n = 0
    opens = start
    while opens <= end:
        next_opens = _nth_start(start, n + 1, count, unit)
        periods.append((opens, min(next_opens - timedelta(days=1), end)))
        n += 1
        opens = next_opens
    return periods
