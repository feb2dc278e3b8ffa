"""Cutting validity into service periods: month ends, leap years, weeks, days, clipping."""

from __future__ import annotations

import itertools
from datetime import date

import pytest

from equipment.contracts.models import IntervalUnit
from equipment.service_periods.periods import cut_periods

D = date


class TestCutPeriods:
    def test_plan_starting_mid_month(self) -> None:
        assert cut_periods(D(2026, 1, 15), D(2026, 4, 14), 1, IntervalUnit.MONTH) == [
            (D(2026, 1, 15), D(2026, 2, 14)),
            (D(2026, 2, 15), D(2026, 3, 14)),
            (D(2026, 3, 15), D(2026, 4, 14)),
        ]

    def test_month_end_clamps_and_recovers(self) -> None:
        assert cut_periods(D(2026, 1, 31), D(2026, 4, 29), 1, IntervalUnit.MONTH) == [
            (D(2026, 1, 31), D(2026, 2, 27)),
            (D(2026, 2, 28), D(2026, 3, 30)),
            (D(2026, 3, 31), D(2026, 4, 29)),
        ]

    def test_leap_year_february(self) -> None:
        starts = [s for s, _ in cut_periods(D(2028, 1, 31), D(2028, 3, 31), 1, IntervalUnit.MONTH)]
        assert starts == [D(2028, 1, 31), D(2028, 2, 29), D(2028, 3, 31)]

    def test_leap_day_yearly_plan(self) -> None:
        starts = [s for s, _ in cut_periods(D(2028, 2, 29), D(2033, 1, 1), 12, IntervalUnit.MONTH)]
        assert starts == [
            D(2028, 2, 29),
            D(2029, 2, 28),
            D(2030, 2, 28),
            D(2031, 2, 28),
            D(2032, 2, 29),
        ]

    def test_quarterly(self) -> None:
        assert cut_periods(D(2026, 1, 1), D(2026, 12, 31), 3, IntervalUnit.MONTH) == [
            (D(2026, 1, 1), D(2026, 3, 31)),
            (D(2026, 4, 1), D(2026, 6, 30)),
            (D(2026, 7, 1), D(2026, 9, 30)),
            (D(2026, 10, 1), D(2026, 12, 31)),
        ]

    def test_weeks(self) -> None:
        assert cut_periods(D(2026, 12, 21), D(2027, 1, 17), 2, IntervalUnit.WEEK) == [
            (D(2026, 12, 21), D(2027, 1, 3)),
            (D(2027, 1, 4), D(2027, 1, 17)),
        ]

    def test_days(self) -> None:
        assert cut_periods(D(2026, 2, 27), D(2026, 3, 2), 2, IntervalUnit.DAY) == [
            (D(2026, 2, 27), D(2026, 2, 28)),
            (D(2026, 3, 1), D(2026, 3, 2)),
        ]

    def test_contract_ending_mid_period_clips_the_last(self) -> None:
        assert cut_periods(D(2026, 1, 1), D(2026, 5, 10), 3, IntervalUnit.MONTH) == [
            (D(2026, 1, 1), D(2026, 3, 31)),
            (D(2026, 4, 1), D(2026, 5, 10)),
        ]

    def test_single_day_contract(self) -> None:
        assert cut_periods(D(2026, 1, 1), D(2026, 1, 1), 1, IntervalUnit.MONTH) == [
            (D(2026, 1, 1), D(2026, 1, 1))
        ]

    def test_windows_are_consecutive(self) -> None:
        periods = cut_periods(D(2026, 1, 31), D(2028, 12, 31), 1, IntervalUnit.MONTH)
        for (_, ends), (starts, _) in itertools.pairwise(periods):
            assert (starts - ends).days == 1

    def test_rejects_non_positive_count(self) -> None:
        with pytest.raises(ValueError):
            cut_periods(D(2026, 1, 1), D(2026, 2, 1), 0, IntervalUnit.DAY)
