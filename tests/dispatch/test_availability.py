"""An engineer's working stretches on a day, less absences (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from dispatch.availability import available_stretches, start_windows

SHIFT = [(480, 1020)]  # 08:00-17:00


def test_an_absence_over_the_whole_shift_leaves_nothing() -> None:
    assert available_stretches(SHIFT, [(0, 1440)]) == []


def test_an_absence_inside_the_shift_splits_it() -> None:
    assert available_stretches(SHIFT, [(600, 720)]) == [(480, 600), (720, 1020)]


def test_an_absence_over_either_end_cuts_it() -> None:
    assert available_stretches(SHIFT, [(0, 540)]) == [(540, 1020)]
    assert available_stretches(SHIFT, [(900, 2000)]) == [(480, 900)]


def test_an_absence_outside_the_shift_changes_nothing() -> None:
    assert available_stretches([(480, 720), (780, 1020)], [(720, 780), (1100, 1200)]) == [
        (480, 720),
        (780, 1020),
    ]


def test_several_absences_over_a_split_shift() -> None:
    got = available_stretches([(780, 1020), (480, 720)], [(500, 510), (700, 800), (1000, 1300)])
    assert got == [(480, 500), (510, 700), (800, 1000)]


spans = st.tuples(st.integers(0, 2000), st.integers(1, 600)).map(lambda p: (p[0], p[0] + p[1]))


@given(st.lists(spans, max_size=3), st.lists(spans, max_size=4))
def test_every_available_minute_is_on_shift_and_not_away(
    shift: list[tuple[int, int]], away: list[tuple[int, int]]
) -> None:
    got = available_stretches(shift, away)
    for start, end in got:
        assert start < end
    for minute in range(0, 2600, 7):
        on_shift = any(s <= minute < e for s, e in shift)
        is_away = any(s <= minute < e for s, e in away)
        assert any(s <= minute < e for s, e in got) == (on_shift and not is_away)


BERLIN_TZ = "Europe/Berlin"
MON = datetime(2026, 11, 30, tzinfo=ZoneInfo(BERLIN_TZ))  # a Monday


def _hours(*stretches: tuple[int, str, str]) -> list[dict[str, object]]:
    return [{"weekday": d, "opens": o, "closes": c} for d, o, c in stretches]


def _at(hour: int, minute: int = 0, days: int = 0) -> datetime:
    return MON + timedelta(days=days, hours=hour, minutes=minute)


class TestStartWindows:
    def test_a_site_without_hours_takes_work_all_the_window(self) -> None:
        window = (_at(9), _at(15))
        assert start_windows(window, [], [], BERLIN_TZ, 60) == [window]

    def test_work_starts_only_while_the_site_stays_open_long_enough(self) -> None:
        site = _hours((0, "08:00", "12:00"), (0, "13:00", "17:00"))
        got = start_windows((_at(0), _at(24)), [], site, BERLIN_TZ, 90)
        assert got == [(_at(8), _at(10, 30)), (_at(13), _at(15, 30))]

    def test_the_visit_window_and_its_weekly_hours_narrow_it_further(self) -> None:
        site = _hours((0, "08:00", "17:00"))
        preferred = _hours((0, "10:00", "12:00"))
        got = start_windows((_at(9), _at(16)), preferred, site, BERLIN_TZ, 60)
        assert got == [(_at(10), _at(12))]

    def test_a_closed_day_gives_nothing(self) -> None:
        site = _hours((1, "08:00", "17:00"))  # open Tuesdays only
        assert start_windows((_at(0), _at(24)), [], site, BERLIN_TZ, 30) == []

    def test_a_job_longer_than_the_opening_never_fits(self) -> None:
        site = _hours((0, "08:00", "09:00"))
        assert start_windows((_at(0), _at(24)), [], site, BERLIN_TZ, 90) == []

    def test_a_site_open_through_midnight_takes_work_that_crosses_it(self) -> None:
        site = _hours((0, "20:00", "24:00"), (1, "00:00", "06:00"))
        got = start_windows((_at(20), _at(24)), [], site, BERLIN_TZ, 120)
        assert got == [(_at(20), _at(24))]
