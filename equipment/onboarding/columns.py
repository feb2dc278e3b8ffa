"""The cells of an import file: one parser and one formatter per column type.

A parser takes the stripped text of a non-empty cell and returns the value or raises
`ValueError` with the message the row's problem will carry. A formatter turns the value back
into the text a parser reads, so export then import is the identity (the round trip).
Lists (skill codes, weekdays, opening hours, shifts) are written `a; b; c`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fsm.errors import ValidationFailed
from fsm.schemas import check_timezone

__all__ = [
    "WEEKDAYS",
    "Column",
    "boolean",
    "choice",
    "clock",
    "country",
    "currency",
    "day",
    "hours",
    "integer",
    "latitude",
    "longitude",
    "skill_codes",
    "text",
    "timezone",
    "weekdays",
]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Column:
    """One column of a kind: its header, what it holds, how to read and write it."""

    name: str
    doc: str
    parse: Callable[[str], Any]
    fmt: Callable[[Any], str] = str
    required: bool = False


def text(max_length: int) -> Callable[[str], str]:
    """Free text of at most `max_length` characters."""

    def parse(value: str) -> str:
        if len(value) > max_length:
            raise ValueError(f"at most {max_length} characters (has {len(value)})")
        return value

    return parse


def integer(low: int, high: int) -> Callable[[str], int]:
    """A whole number from `low` to `high`."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise ValueError(f"not a whole number: {value!r}") from None
        if not low <= number <= high:
            raise ValueError(f"must be from {low} to {high}")
        return number

    return parse


def _degrees(limit: int) -> Callable[[str], float]:
    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"not a number: {value!r}") from None
        if not -limit <= number <= limit:
            raise ValueError(f"must be from -{limit} to {limit}")
        return number

    return parse


latitude = _degrees(90)
longitude = _degrees(180)


def coordinate(value: float) -> str:
    """The shortest text that reads back as exactly this float."""
    return repr(value)


def boolean(value: str) -> bool:
    """`true`/`false` (also yes/no, 1/0)."""
    lowered = value.lower()
    if lowered in {"true", "yes", "1"}:
        return True
    if lowered in {"false", "no", "0"}:
        return False
    raise ValueError(f"not true or false: {value!r}")


def yes_no(value: bool) -> str:
    """The text `boolean` reads."""
    return "true" if value else "false"


def choice(options: Sequence[str]) -> Callable[[str], str]:
    """One of `options`."""

    def parse(value: str) -> str:
        if value not in options:
            raise ValueError(f"one of {', '.join(options)}")
        return value

    return parse


def day(value: str) -> dt.date:
    """A date as YYYY-MM-DD."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not a date (YYYY-MM-DD): {value!r}") from None


def clock(value: str) -> dt.time:
    """A time of day as HH:MM."""
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        raise ValueError(f"not a time (HH:MM): {value!r}")
    return dt.time.fromisoformat(value)


def hhmm(value: dt.time) -> str:
    """The text `clock` reads."""
    return value.strftime("%H:%M")


def country(value: str) -> str:
    """An ISO 3166-1 alpha-2 code such as DE."""
    if not re.fullmatch(r"[A-Z]{2}", value):
        raise ValueError("a two-letter country code such as DE")
    return value


def currency(value: str) -> str:
    """An ISO 4217 code such as EUR."""
    if not re.fullmatch(r"[A-Z]{3}", value):
        raise ValueError("a three-letter currency code such as EUR")
    return value


def timezone(value: str) -> str:
    """An IANA time zone such as Europe/Berlin."""
    try:
        return check_timezone(value)
    except ValidationFailed as exc:
        raise ValueError(
            f"unknown time zone {value!r}; use an IANA name like Europe/Berlin"
        ) from exc


def _items(value: str) -> list[str]:
    return [item.strip() for item in value.split(";") if item.strip()]


def skill_codes(value: str) -> tuple[str, ...]:
    """Skill codes separated by `;`, kept sorted and unique."""
    codes = _items(value)
    for code in codes:
        if len(code) > 50:
            raise ValueError(f"skill code {code[:20]!r}... is longer than 50 characters")
    return tuple(sorted(set(codes)))


def joined(values: Sequence[str]) -> str:
    """The text a `;`-separated list parser reads."""
    return "; ".join(values)


def _weekday(name: str) -> int:
    try:
        return WEEKDAYS.index(name.lower())
    except ValueError:
        raise ValueError(f"unknown weekday {name!r}; use {', '.join(WEEKDAYS)}") from None


def weekdays(value: str) -> tuple[int, ...]:
    """Weekdays such as `mon; wed` (Monday is 0), sorted and unique."""
    return tuple(sorted({_weekday(name) for name in _items(value)}))


def weekday_names(values: Sequence[int]) -> str:
    """The text `weekdays` reads."""
    return joined([WEEKDAYS[v] for v in values])


Stretch = tuple[int, dt.time, dt.time]


def hours(value: str) -> tuple[Stretch, ...]:
    """Stretches such as `mon 08:00-17:00; sat 09:00-12:00`, sorted; none may overlap."""
    stretches: list[Stretch] = []
    for item in _items(value):
        match = re.fullmatch(r"(\w+)\s+(\d\d:\d\d)\s*-\s*(\d\d:\d\d)", item)
        if match is None:
            raise ValueError(f"{item!r} is not like 'mon 08:00-17:00'")
        weekday = _weekday(match.group(1))
        starts, ends = clock(match.group(2)), clock(match.group(3))
        if starts >= ends:
            raise ValueError(f"{item!r} must end after it starts")
        stretches.append((weekday, starts, ends))
    stretches.sort()
    for (day_a, _, end_a), (day_b, start_b, _) in itertools.pairwise(stretches):
        if day_a == day_b and start_b < end_a:
            raise ValueError(f"two stretches overlap on {WEEKDAYS[day_a]}")
    return tuple(stretches)


def hours_text(values: Sequence[Stretch]) -> str:
    """The text `hours` reads."""
    return joined([f"{WEEKDAYS[d]} {hhmm(s)}-{hhmm(e)}" for d, s, e in values])
