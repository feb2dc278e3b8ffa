"""The solver core: a hand-built problem in, a checked plan out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from dispatch.solver import (
    DropReason,
    Engineer,
    EngineerProgress,
    HaversineTravel,
    InvalidSearchSettings,
    Location,
    Priority,
    RoutePlan,
    RoutingProblem,
    SearchSettings,
    ShiftBreak,
    TimeWindow,
    Visit,
    minutes_since,
    replan,
    solve,
)

# A small city: 0.01 degree of latitude is about 1.1 km.
CENTRE = Location(lat=48.85, lon=2.35)
TRAVEL = HaversineTravel(road_factor=1.3, speed_kmh=30.0)
# Stop on a solution count, not the clock: results do not depend on machine speed.
QUICK = SearchSettings(solution_limit=300)
DAY_START = 8 * 60
DAY_END = 17 * 60


def at(north_km: float, east_km: float) -> Location:
    """A point this many km north and east of the centre."""
    return Location(lat=CENTRE.lat + north_km / 111.2, lon=CENTRE.lon + east_km / 73.1)


def engineer(id: str, home: Location = CENTRE, **kw: Any) -> Engineer:
    kw.setdefault("shift_start_minute", DAY_START)
    kw.setdefault("shift_end_minute", DAY_END)
    return Engineer(id=id, start_location=home, **kw)


def visit(id: str, where: Location, service_minutes: int = 30, **kw: Any) -> Visit:
    return Visit(id=id, location=where, service_minutes=service_minutes, **kw)


# The rules must hold however the search runs: guided local search stopped on a solution
# count, iterated local search (the default, stopped on the clock), and guided local search
# from our own construction (used on large days).
Mode = tuple[SearchSettings, float]
MODES: dict[str, Mode] = {
    "guided": (QUICK, 20.0),
    "iterated": (SearchSettings(), 1.0),
    "own-start": (SearchSettings(own_construction_from=1, solution_limit=300), 20.0),
}


@pytest.fixture(params=list(MODES))
def mode(request: pytest.FixtureRequest) -> Mode:
    return MODES[request.param]


def run(
    problem: RoutingProblem, *, seed: int = 0, time_limit_s: float = 20, mode: Mode | None = None
) -> RoutePlan:
    # Tiny problems never reach the solution limit; they stop on the clock instead.
    search, limit = mode or (QUICK, time_limit_s)
    return solve(
        problem,
        time_limit_s=min(limit, time_limit_s),
        seed=seed,
        travel=TRAVEL,
        search=search,
    )


def served_by(plan: RoutePlan) -> dict[str, str]:
    return {s.visit_id: r.engineer_id for r in plan.routes for s in r.stops}


def dropped(plan: RoutePlan) -> dict[str, DropReason]:
    return {d.visit_id: d.reason for d in plan.dropped}


class TestSkills:
    def test_visits_go_only_to_engineers_with_every_required_skill(self, mode: Mode) -> None:
        engineers = (
            engineer("gas", skills=frozenset({"gas"})),
            engineer("gas+elec", at(5, 5), skills=frozenset({"gas", "electric"})),
            engineer("none", at(-5, -5)),
        )
        visits = tuple(
            visit(
                f"v{k}",
                at(k - 4, 4 - k),
                required_skills=frozenset({"gas", "electric"} if k % 3 == 0 else {"gas"}),
            )
            for k in range(9)
        )
        plan = run(RoutingProblem(engineers=engineers, visits=visits), mode=mode)
        owner = served_by(plan)
        assert len(owner) == 9
        for v in visits:
            holder = next(e for e in engineers if e.id == owner[v.id])
            assert v.required_skills <= holder.skills

    def test_explanation_counts_skilled_engineers(self) -> None:
        engineers = (engineer("a", skills=frozenset({"lift"})), engineer("b"), engineer("c"))
        plan = run(
            RoutingProblem(
                engineers=engineers,
                visits=(visit("lift", at(2, 2), required_skills=frozenset({"lift"})),),
            )
        )
        stop = next(s for r in plan.routes for s in r.stops)
        assert stop.explanation is not None
        assert stop.explanation.skilled_engineer_count == 1
        assert stop.explanation.text.startswith("1 of 3 engineers hold lift")


class TestTimeWindows:
    def test_every_visit_starts_inside_one_of_its_windows(self, mode: Mode) -> None:
        windows = [
            (TimeWindow(start_minute=480, end_minute=540),),
            (TimeWindow(start_minute=600, end_minute=700),),
            (
                TimeWindow(start_minute=480, end_minute=490),
                TimeWindow(start_minute=840, end_minute=870),
            ),
        ]
        visits = tuple(
            visit(f"v{k}", at(k % 4, k // 4), time_windows=windows[k % 3]) for k in range(9)
        )
        plan = run(
            RoutingProblem(engineers=(engineer("a"), engineer("b")), visits=visits), mode=mode
        )
        by_id = {v.id: v for v in visits}
        stops = [s for r in plan.routes for s in r.stops]
        assert len(stops) == 9
        for s in stops:
            assert any(
                w.start_minute <= s.start_minute <= w.end_minute
                for w in by_id[s.visit_id].time_windows
            )

    def test_overlapping_windows_leave_no_hole(self, mode: Mode) -> None:
        # 525 lies inside the first window only; the later two overlap it.
        windows = (
            TimeWindow(start_minute=480, end_minute=600),
            TimeWindow(start_minute=500, end_minute=520),
            TimeWindow(start_minute=540, end_minute=560),
        )
        problem = RoutingProblem(
            engineers=(engineer("a", shift_start_minute=525, shift_end_minute=545),),
            visits=(visit("v", CENTRE, service_minutes=10, time_windows=windows),),
        )
        plan = run(problem, mode=mode, time_limit_s=2)
        assert [s.start_minute for s in plan.routes[0].stops] == [525]

    def test_stops_follow_in_time_and_routes_fit_the_shift(self, mode: Mode) -> None:
        visits = tuple(visit(f"v{k}", at(k, -k), service_minutes=60) for k in range(6))
        plan = run(
            RoutingProblem(engineers=(engineer("a"), engineer("b")), visits=visits), mode=mode
        )
        for route in plan.routes:
            clock = route.departure_minute
            for s in route.stops:
                assert s.arrival_minute >= clock + s.travel_minutes
                assert s.start_minute >= s.arrival_minute
                assert s.end_minute == s.start_minute + 60
                clock = s.end_minute
            assert route.return_minute <= DAY_END
            assert route.departure_minute >= DAY_START

    def test_planned_times_carry_the_origin(self) -> None:
        origin = datetime(2026, 11, 23, tzinfo=UTC)
        plan = run(
            RoutingProblem(
                engineers=(engineer("a"),),
                visits=(
                    visit(
                        "v",
                        at(1, 1),
                        time_windows=(
                            TimeWindow(
                                start_minute=minutes_since(
                                    origin, datetime(2026, 11, 23, 10, tzinfo=UTC)
                                ),
                                end_minute=minutes_since(
                                    origin, datetime(2026, 11, 23, 11, tzinfo=UTC)
                                ),
                            ),
                        ),
                    ),
                ),
                origin_at=origin,
            ),
            time_limit_s=1,
        )
        stop = plan.routes[0].stops[0]
        assert stop.start_at == datetime(2026, 11, 23, 10, tzinfo=UTC)


class TestPinnedVisits:
    def test_pinned_visit_stays_with_its_engineer_even_if_far(self, mode: Mode) -> None:
        engineers = (engineer("near", at(0, 0)), engineer("far", at(20, 20)))
        plan = run(
            RoutingProblem(
                engineers=engineers,
                visits=(
                    visit("pinned", at(0.5, 0.5), pinned_engineer_id="far"),
                    visit("free", at(0.6, 0.4)),
                ),
            ),
            mode=mode,
        )
        assert served_by(plan)["pinned"] == "far"

    def test_fixed_sequence_is_kept(self, mode: Mode) -> None:
        # Geography alone would serve them in the order c, b, a.
        visits = (
            visit("a", at(6, 0), pinned_engineer_id="x", sequence=1),
            visit("b", at(4, 0), pinned_engineer_id="x", sequence=2),
            visit("c", at(2, 0), pinned_engineer_id="x", sequence=3),
        )
        plan = run(RoutingProblem(engineers=(engineer("x"),), visits=visits), mode=mode)
        assert [s.visit_id for s in plan.routes[0].stops] == ["a", "b", "c"]


class TestDropReasons:
    def test_reasons_name_the_real_obstacle(self, mode: Mode) -> None:
        engineers = (engineer("a", max_visits=2),)
        visits = (
            visit("needs-lift", at(1, 0), required_skills=frozenset({"lift"})),
            visit(
                "too-early",
                at(30, 30),
                time_windows=(TimeWindow(start_minute=DAY_START, end_minute=DAY_START + 5),),
            ),
            visit("pinned-to-ghost", at(1, 1), pinned_engineer_id="ghost"),
            visit("v1", at(0, 1)),
            visit("v2", at(0, 2)),
            visit("v3", at(0, 3)),
        )
        plan = run(RoutingProblem(engineers=engineers, visits=visits), mode=mode)
        reasons = dropped(plan)
        assert reasons["needs-lift"] is DropReason.NO_SKILLED_ENGINEER
        assert reasons["too-early"] is DropReason.WINDOW_UNREACHABLE
        assert reasons["pinned-to-ghost"] is DropReason.PINNED_ENGINEER_UNAVAILABLE
        # Two of v1..v3 fit under max_visits; the third had no room.
        assert sorted(r for k, r in reasons.items() if k.startswith("v")) == [DropReason.CAPACITY]
        assert plan.metrics.served_count == 2


class TestUrgency:
    def test_critical_visit_is_served_at_the_cost_of_several_normal_ones(self, mode: Mode) -> None:
        # One engineer, room for about three hours: the far critical job crowds out the
        # cluster of normal jobs next door.
        engineers = (engineer("a", shift_end_minute=DAY_START + 180),)
        visits = (
            visit("critical", at(25, 0), priority=Priority.CRITICAL, service_minutes=45),
            *(visit(f"n{k}", at(0, 0.3 * k), service_minutes=40) for k in range(1, 5)),
        )
        plan = run(RoutingProblem(engineers=engineers, visits=visits), mode=mode)
        assert "critical" in served_by(plan)
        assert plan.metrics.dropped_critical_count == 0
        assert all(d.reason is DropReason.CAPACITY for d in plan.dropped)

    def test_high_priority_beats_low_when_only_one_fits(self) -> None:
        engineers = (engineer("a", shift_end_minute=DAY_START + 70),)
        visits = (
            visit("low", at(0, 1), priority=Priority.LOW, service_minutes=50),
            visit("high", at(0, -1), priority=Priority.HIGH, service_minutes=50),
        )
        plan = run(RoutingProblem(engineers=engineers, visits=visits))
        assert set(served_by(plan)) == {"high"}

    def test_sla_deadline_pulls_a_visit_forward(self) -> None:
        visits = (
            *(visit(f"v{k}", at(0, k), service_minutes=60) for k in range(1, 6)),
            visit(
                "due",
                at(0, 6),
                service_minutes=60,
                priority=Priority.HIGH,
                sla_deadline_minute=DAY_START + 60,
            ),
        )
        plan = run(RoutingProblem(engineers=(engineer("a"),), visits=visits))
        stop = next(s for s in plan.routes[0].stops if s.visit_id == "due")
        assert stop.start_minute <= DAY_START + 60
        assert stop.lateness_minutes == 0
        assert plan.metrics.on_time_percent == 100.0


class TestWorkload:
    def test_load_capacity_is_respected(self, mode: Mode) -> None:
        engineers = tuple(engineer(f"e{k}", capacity=10) for k in range(3))
        visits = tuple(visit(f"v{k}", at(k % 3, k // 3), demand=4) for k in range(7))
        plan = run(RoutingProblem(engineers=engineers, visits=visits), mode=mode)
        demand = {v.id: v.demand for v in visits}
        for route in plan.routes:
            assert sum(demand[s.visit_id] for s in route.stops) <= 10
        assert plan.metrics.served_count == 6

    def test_max_working_minutes_caps_a_day(self, mode: Mode) -> None:
        engineers = (engineer("a", max_working_minutes=150), engineer("b", at(30, 0)))
        visits = tuple(visit(f"v{k}", at(0, 0.2 * k), service_minutes=40) for k in range(6))
        plan = run(RoutingProblem(engineers=engineers, visits=visits), mode=mode)
        route = next(r for r in plan.routes if r.engineer_id == "a")
        assert route.working_minutes <= 150
        assert plan.metrics.served_count == 6

    def test_balance_spreads_work_between_equal_engineers(self) -> None:
        engineers = (engineer("a"), engineer("b"))
        visits = tuple(
            visit(f"v{k}", at(0.5 * (k % 2), 0.5 * k), service_minutes=45) for k in range(8)
        )
        balanced = run(RoutingProblem(engineers=engineers, visits=visits, balance_weight=5))
        loads = sorted(r.working_minutes for r in balanced.routes)
        assert loads[0] > 0
        assert balanced.metrics.imbalance_minutes <= 60

    def test_break_is_taken_inside_its_window_between_visits(self, mode: Mode) -> None:
        lunch = ShiftBreak(earliest_start_minute=720, latest_start_minute=750, duration_minutes=30)
        visits = tuple(visit(f"v{k}", at(0, k), service_minutes=55) for k in range(7))
        plan = run(
            RoutingProblem(engineers=(engineer("a", breaks=(lunch,)),), visits=visits), mode=mode
        )
        route = plan.routes[0]
        assert len(route.breaks) == 1
        brk = route.breaks[0]
        assert 720 <= brk.start_minute <= 750
        for s in route.stops:
            assert s.end_minute <= brk.start_minute or s.start_minute >= brk.start_minute + 30


class TestDeterminism:
    def test_same_seed_gives_the_same_plan(self) -> None:
        engineers = tuple(engineer(f"e{k}", at(k, -k)) for k in range(3))
        visits = tuple(
            visit(f"v{k}", at((k * 7) % 11 - 5, (k * 5) % 13 - 6), service_minutes=20 + k % 4 * 10)
            for k in range(25)
        )
        problem = RoutingProblem(engineers=engineers, visits=visits)
        first = run(problem, seed=3)
        second = run(problem, seed=3)
        assert msgspec.structs.replace(first, solver=second.solver) == second


class TestMultiStart:
    def test_two_processes_never_do_worse_than_one(self) -> None:
        engineers = tuple(engineer(f"e{k}", at(2 * k, -k)) for k in range(3))
        visits = tuple(
            visit(f"v{k}", at((k * 7) % 11 - 5, (k * 5) % 13 - 6), service_minutes=25)
            for k in range(30)
        )
        problem = RoutingProblem(engineers=engineers, visits=visits)
        alone = run(problem)
        together = solve(
            problem,
            time_limit_s=20,
            travel=TRAVEL,
            search=msgspec.structs.replace(QUICK, workers=2),
        )
        assert together.metrics.served_count == 30
        assert together.metrics.objective <= alone.metrics.objective
        assert together.solver.workers == 2


class TestSearchSettings:
    def test_unknown_strategy_is_a_clear_error(self) -> None:
        problem = RoutingProblem(engineers=(engineer("a"),), visits=(visit("v", at(1, 1)),))
        with pytest.raises(InvalidSearchSettings, match="FASTEST_ROUTE"):
            solve(
                problem,
                time_limit_s=1,
                travel=TRAVEL,
                search=SearchSettings(first_solution="FASTEST_ROUTE"),
            )


class TestPlanStorage:
    def test_plan_round_trips_through_json(self) -> None:
        plan = run(
            RoutingProblem(
                engineers=(engineer("a"),),
                visits=(visit("v", at(1, 1)),),
                origin_at=datetime(2026, 11, 23, tzinfo=UTC),
            ),
            time_limit_s=1,
        )
        assert msgspec.json.decode(msgspec.json.encode(plan), type=RoutePlan) == plan


class TestReplan:
    @pytest.fixture
    def day(self) -> tuple[RoutingProblem, RoutePlan]:
        engineers = (engineer("a", at(0, -3)), engineer("b", at(0, 3)))
        visits = tuple(
            visit(f"v{k}", at(k % 4 - 2, k // 4 * 2 - 3), service_minutes=40) for k in range(12)
        )
        problem = RoutingProblem(engineers=engineers, visits=visits)
        return problem, run(problem)

    def test_keeps_done_and_started_visits_and_inserts_the_urgent_one(
        self, day: tuple[RoutingProblem, RoutePlan]
    ) -> None:
        problem, committed = day
        route_a = next(r for r in committed.routes if r.engineer_id == "a")
        assert len(route_a.stops) >= 3
        done = [s.visit_id for s in route_a.stops[:2]]
        started = route_a.stops[2]
        now = started.arrival_minute + 10
        urgent = visit(
            "urgent", at(1, -2), priority=Priority.CRITICAL, sla_deadline_minute=now + 90
        )
        new_problem = msgspec.structs.replace(problem, visits=(*problem.visits, urgent))
        progress = [
            EngineerProgress(
                engineer_id="a",
                current_location=next(
                    v.location for v in problem.visits if v.id == started.visit_id
                ),
                available_from_minute=now,
                done_visit_ids=tuple(done),
                started_visit_ids=(started.visit_id,),
            )
        ]
        plan = replan(new_problem, committed, progress, time_limit_s=5, travel=TRAVEL, search=QUICK)
        new_a = next(r for r in plan.routes if r.engineer_id == "a")
        ids = [s.visit_id for s in new_a.stops]
        assert ids[:3] == [*done, started.visit_id]
        assert all(s.is_locked for s in new_a.stops[:3])
        assert [s.start_minute for s in new_a.stops[:2]] == [
            s.start_minute for s in route_a.stops[:2]
        ]
        assert "urgent" in served_by(plan)
        later = list(new_a.stops[3:])
        assert all(s.start_minute >= now for s in later)
        assert plan.metrics.served_count == 13

    def test_urgent_critical_visit_displaces_normal_work_in_a_full_day(self) -> None:
        short_day = (engineer("a", shift_end_minute=DAY_START + 240),)
        visits = tuple(visit(f"n{k}", at(0, 0.5 * k), service_minutes=50) for k in range(1, 5))
        problem = RoutingProblem(engineers=short_day, visits=visits)
        committed = run(problem)
        assert committed.metrics.served_count == 4
        urgent = visit("urgent", at(1, 1), service_minutes=60, priority=Priority.CRITICAL)
        plan = replan(
            msgspec.structs.replace(problem, visits=(*visits, urgent)),
            committed,
            [
                EngineerProgress(
                    engineer_id="a", current_location=CENTRE, available_from_minute=DAY_START
                )
            ],
            time_limit_s=5,
            travel=TRAVEL,
            search=QUICK,
        )
        assert "urgent" in served_by(plan)
        assert [d.reason for d in plan.dropped] == [DropReason.CAPACITY]
