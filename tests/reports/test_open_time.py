"""The statement's index of open time counts exactly what the SLA calendar counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from fsm.sla.calendar import BusinessCalendar, business_minutes_between
from reports.sla import OpenTimeIndex

CALENDAR = BusinessCalendar.from_json(
    "Europe/Berlin",
    [{"weekday": d, "start": "08:00", "end": "12:00"} for d in range(5)]
    + [{"weekday": d, "start": "13:00", "end": "17:00"} for d in range(5)],
    ["2026-04-03"],
)
# Four weeks around the spring-forward change of 29 March 2026.
SPAN_START = datetime(2026, 3, 16, tzinfo=UTC)
SPAN_END = SPAN_START + timedelta(days=28)
INDEX = OpenTimeIndex(CALENDAR, SPAN_START, SPAN_END)
minutes = st.integers(min_value=0, max_value=28 * 24 * 60)


@settings(max_examples=200, deadline=None)
@given(minutes, minutes)
def test_open_minutes_between_any_two_instants_match_the_calendar(a: int, b: int) -> None:
    start, end = sorted((SPAN_START + timedelta(minutes=a), SPAN_START + timedelta(minutes=b)))

    assert INDEX.between(start, end) == business_minutes_between(CALENDAR, start, end)
