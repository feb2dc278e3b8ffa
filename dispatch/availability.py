"""When work can happen on a planned day: an engineer's shift less their absences, and the
times a visit may start given its window, its weekly hours and the site's opening hours."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from fsm.visits.windows import windows_between

# Minutes since the plan's origin, [start, end).
Stretch = tuple[int, int]
# Instants, [start, end] for start times.
Span = tuple[datetime, datetime]


def available_stretches(shift: Iterable[Stretch], away: Iterable[Stretch]) -> list[Stretch]:
    """The parts of the shift's stretches outside every absence, in order.

    An absence over a whole stretch removes it; one inside a stretch splits it (the gap then
    plans like the break between two stretches of a split shift); one over an end cuts it.
    """
    absences = sorted(away)
    result: list[Stretch] = []
    for start, end in sorted(shift):
        pieces = [(start, end)]
        for away_start, away_end in absences:
            kept: list[Stretch] = []
            for piece_start, piece_end in pieces:
                if away_end <= piece_start or away_start >= piece_end:
                    kept.append((piece_start, piece_end))
                    continue
                if piece_start < away_start:
                    kept.append((piece_start, away_start))
                if away_end < piece_end:
                    kept.append((away_end, piece_end))
            pieces = kept
        result.extend(pieces)
    return sorted(result)


def _merged(stretches: Sequence[Span]) -> list[Span]:
    """Touching or overlapping stretches as one (a site open through midnight)."""
    result: list[Span] = []
    for lo, hi in sorted(stretches):
        if result and lo <= result[-1][1]:
            result[-1] = (result[-1][0], max(hi, result[-1][1]))
        else:
            result.append((lo, hi))
    return result


def _without(stretches: Sequence[Span], closed: Sequence[Span]) -> list[Span]:
    """The parts of the stretches outside every closed span."""
    result = list(stretches)
    for shut_lo, shut_hi in closed:
        kept: list[Span] = []
        for lo, hi in result:
            if shut_hi <= lo or shut_lo >= hi:
                kept.append((lo, hi))
                continue
            if lo < shut_lo:
                kept.append((lo, shut_lo))
            if shut_hi < hi:
                kept.append((shut_hi, hi))
        result = kept
    return result


def start_windows(
    window: Span,
    weekly_hours: Sequence[dict[str, Any]],
    opening_hours: Sequence[dict[str, Any]],
    timezone: str,
    service_minutes: int,
    closed: Sequence[Span] = (),
) -> list[Span]:
    """The stretches in which work on a visit may start, in order (empty: never in `window`).

    Work starts inside the visit's window and its weekly hours (planned maintenance's
    preferred hours), and at a time the site is open until the work is done: a site open
    08:00-12:00 and 13:00-17:00 takes a 90-minute job starting 08:00-10:30 or 13:00-15:30.
    A site without opening hours is always open, but for its `closed` spans (closure days).
    """
    starts_at, ends_at = window
    allowed = windows_between(weekly_hours, timezone, starts_at, ends_at)
    if not opening_hours and not closed:
        return allowed
    work = timedelta(minutes=service_minutes)
    opened = (
        _merged(windows_between(opening_hours, timezone, starts_at, ends_at + work))
        if opening_hours
        else [(starts_at, ends_at + work)]
    )
    open_for_work = [(lo, hi - work) for lo, hi in _without(opened, closed) if hi - work >= lo]
    result: list[Span] = []
    for lo, hi in allowed:
        for open_lo, open_hi in open_for_work:
            a, b = max(lo, open_lo), min(hi, open_hi)
            if a <= b:
                result.append((a, b))
    return sorted(result)
