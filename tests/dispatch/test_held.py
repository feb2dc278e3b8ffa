"""The solver over a day half booked already: held visits stay unless moving them is worth
their stability cost; plans are checked on intervals, independently of the solver."""

from __future__ import annotations

import itertools

from dispatch.solver import RoutePlan, RoutingProblem, SearchSettings, TimeWindow, solve
from tests.dispatch.test_solver import TRAVEL, at, engineer, visit

QUICK = SearchSettings(solution_limit=200)
WHOLE_DAY = (TimeWindow(start_minute=8 * 60, end_minute=16 * 60),)


def _check_intervals(problem: RoutingProblem, plan: RoutePlan) -> None:
    """Each engineer's stops one after the other, inside windows and shift, never twice."""
    seen: list[str] = []
    by_id = {v.id: v for v in problem.visits}
    shifts = {e.id: e for e in problem.engineers}
    for route in plan.routes:
        shift = shifts[route.engineer_id]
        for stop in route.stops:
            wanted = by_id[stop.visit_id]
            assert stop.end_minute - stop.start_minute == wanted.service_minutes
            assert any(
                w.start_minute <= stop.start_minute <= w.end_minute for w in wanted.time_windows
            )
            assert shift.shift_start_minute <= stop.start_minute
            assert stop.end_minute <= shift.shift_end_minute
        for a, b in itertools.pairwise(route.stops):
            assert a.end_minute + b.travel_minutes <= b.start_minute
        seen += [s.visit_id for s in route.stops]
    assert len(seen) == len(set(seen))


def _held_day(stability_cost: int) -> RoutingProblem:
    # "a" lives far west but holds three visits next to "b"'s home in the east.
    held = tuple(
        visit(
            f"h{k}",
            at(0.5 * k, 10),
            60,
            time_windows=WHOLE_DAY,
            held_engineer_id="a",
            held_start_minute=9 * 60 + 90 * k,
        )
        for k in range(3)
    )
    fresh = (visit("n", at(0, 9), 30, time_windows=WHOLE_DAY),)
    return RoutingProblem(
        engineers=(engineer("a", home=at(0, -10)), engineer("b", home=at(0, 10))),
        visits=held + fresh,
        stability_cost=stability_cost,
    )


def _owner(plan: RoutePlan) -> dict[str, tuple[str, int]]:
    return {s.visit_id: (r.engineer_id, s.start_minute) for r in plan.routes for s in r.stops}


class TestHeldVisits:
    def test_a_large_stability_cost_keeps_held_visits_with_their_engineer_and_time(
        self,
    ) -> None:
        problem = _held_day(240)
        plan = solve(problem, time_limit_s=5, travel=TRAVEL, search=QUICK)
        _check_intervals(problem, plan)
        owner = _owner(plan)
        assert {owner[f"h{k}"] for k in range(3)} == {("a", 9 * 60 + 90 * k) for k in range(3)}
        assert plan.dropped == ()

    def test_without_a_stability_cost_they_go_to_the_nearer_engineer(self) -> None:
        problem = _held_day(0)
        plan = solve(problem, time_limit_s=5, travel=TRAVEL, search=QUICK)
        _check_intervals(problem, plan)
        assert {_owner(plan)[f"h{k}"][0] for k in range(3)} == {"b"}

    def test_an_overbooked_held_day_is_planned_without_overlaps(self) -> None:
        # Two held visits at the same time for one engineer: one must move.
        clash = tuple(
            visit(
                f"c{k}",
                at(k, 0),
                90,
                time_windows=WHOLE_DAY,
                held_engineer_id="a",
                held_start_minute=9 * 60,
            )
            for k in range(2)
        )
        problem = RoutingProblem(
            engineers=(engineer("a"), engineer("b", home=at(2, 2))),
            visits=clash,
            stability_cost=240,
        )
        plan = solve(problem, time_limit_s=5, travel=TRAVEL, search=QUICK)
        _check_intervals(problem, plan)
        assert plan.metrics.served_count == 2

    def test_a_held_visit_its_engineer_cannot_reach_in_shift_moves(self) -> None:
        late = visit(
            "late",
            at(1, 1),
            60,
            time_windows=(TimeWindow(start_minute=14 * 60, end_minute=15 * 60),),
            held_engineer_id="early",
            held_start_minute=14 * 60,
        )
        problem = RoutingProblem(
            engineers=(
                engineer("early", shift_start_minute=6 * 60, shift_end_minute=14 * 60),
                engineer("b"),
            ),
            visits=(late,),
            stability_cost=240,
        )
        plan = solve(problem, time_limit_s=5, travel=TRAVEL, search=QUICK)
        assert _owner(plan)["late"][0] == "b"
