"""An engineer's working stretches on a day, less absences (pure)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dispatch.availability import available_stretches

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
