"""Our own first plan for large days: every rule kept, critical work fitted, accepted."""

from __future__ import annotations

from typing import Any

import numpy as np

from dispatch.solver import (
    Engineer,
    HaversineTravel,
    Location,
    Priority,
    RoutingProblem,
    SearchSettings,
    ShiftBreak,
    TimeWindow,
    Visit,
    solve,
)
from dispatch.solver.build import CompiledProblem, compile_problem
from dispatch.solver.construct import greedy_routes

CENTRE = Location(lat=52.52, lon=13.40)
TRAVEL = HaversineTravel(road_factor=1.3, speed_kmh=30.0)
SKILLS = ("lift", "hvac", "gas")
LUNCH = ShiftBreak(earliest_start_minute=690, latest_start_minute=780, duration_minutes=30)


def at(north_km: float, east_km: float) -> Location:
    return Location(lat=CENTRE.lat + north_km / 111.2, lon=CENTRE.lon + east_km / 67.8)


def busy_day(engineers: int, visits: int, seed: int) -> RoutingProblem:
    """More work than the team can do, with skills, windows, breaks and caps."""
    rng = np.random.default_rng(seed)

    def spot() -> Location:
        north, east = rng.uniform(-12, 12, size=2)
        return at(float(north), float(east))

    team = tuple(
        Engineer(
            id=f"e{k}",
            start_location=spot(),
            shift_start_minute=480,
            shift_end_minute=1020,
            skills=frozenset(str(s) for s in rng.choice(SKILLS, size=2, replace=False)),
            breaks=(LUNCH,),
            max_visits=8,
            max_working_minutes=450,
            capacity=10,
        )
        for k in range(engineers)
    )
    work = []
    for k in range(visits):
        start = int(rng.integers(8, 16)) * 60
        windows = (TimeWindow(start_minute=start, end_minute=start + 120),) if k % 3 else ()
        work.append(
            Visit(
                id=f"v{k}",
                location=spot(),
                service_minutes=int(rng.choice([30, 45, 60, 90])),
                time_windows=windows,
                required_skills=frozenset({str(rng.choice(SKILLS))}) if k % 2 else frozenset(),
                priority=Priority.CRITICAL if k % 10 == 0 else Priority.NORMAL,
                sla_deadline_minute=600 if k % 10 == 0 else None,
                demand=int(rng.integers(0, 3)),
            )
        )
    return RoutingProblem(engineers=team, visits=tuple(work))


def broken_rules(compiled: CompiledProblem, e: int, route: list[int]) -> list[str]:
    """An independent check of one route against the day's rules."""
    engineer = compiled.problem.engineers[e]
    problems = []
    now = engineer.shift_start_minute
    at_node = compiled.start_nodes[e]
    worked = load = 0
    brk = engineer.breaks[0]
    break_end: int | None = None
    for node in route:
        v = compiled.problem.visits[compiled.visit_rows[node]]
        if not v.required_skills <= engineer.skills:
            problems.append(f"{v.id} needs {sorted(v.required_skills)}")
        travel = int(compiled.minutes[at_node, node])
        arrive = now + travel
        start = arrive
        if break_end is None and arrive + v.service_minutes > brk.latest_start_minute:
            # The break has to come before this visit: at the latest, right on leaving.
            taken = max(now, brk.earliest_start_minute)
            if taken > brk.latest_start_minute:
                problems.append(f"{v.id} leaves no room for the break")
            break_end = taken + brk.duration_minutes
            start = break_end + travel
        if v.time_windows:
            fits = [
                max(start, w.start_minute)
                for w in v.time_windows
                if max(start, w.start_minute) <= w.end_minute
            ]
            if not fits:
                problems.append(f"{v.id} misses its window")
                return problems
            start = min(fits)
        now = start + v.service_minutes
        worked += travel + v.service_minutes
        load += v.demand
        at_node = node
    back = int(compiled.minutes[at_node, compiled.end_nodes[e]])
    if break_end is None:
        if now > brk.latest_start_minute:
            problems.append("no break")
        now = max(now, brk.earliest_start_minute) + brk.duration_minutes
    if now + back > engineer.shift_end_minute:
        problems.append("home after the shift")
    if worked + back > (engineer.max_working_minutes or 10**9):
        problems.append("over the working minutes")
    if len(route) > (engineer.max_visits or 10**9):
        problems.append("over max visits")
    if load > (engineer.capacity or 10**9):
        problems.append("over capacity")
    return problems


class TestGreedyRoutes:
    def test_every_route_keeps_every_rule_and_no_visit_is_served_twice(self) -> None:
        compiled = compile_problem(busy_day(12, 150, seed=3), TRAVEL)
        routes = greedy_routes(compiled)
        served = [n for r in routes for n in r]
        assert len(served) == len(set(served))
        # Busy, but the team does most of it.
        assert len(served) >= 60
        for e, route in enumerate(routes):
            assert broken_rules(compiled, e, route) == [], compiled.problem.engineers[e].id

    def test_every_critical_visit_that_fits_is_on_a_route(self) -> None:
        compiled = compile_problem(busy_day(12, 150, seed=4), TRAVEL)
        routes = greedy_routes(compiled)
        served = {compiled.visit_rows[n] for r in routes for n in r}
        critical = [
            row
            for row, v in enumerate(compiled.problem.visits)
            if v.priority is Priority.CRITICAL and row in compiled.visit_rows
        ]
        assert critical
        assert set(critical) <= served

    def test_a_critical_visit_takes_the_place_of_normal_work(self) -> None:
        # The only lift engineer fills both visit slots in the morning; the critical lift
        # job opens at two and can only get in by replacing one of them.
        engineers = (
            Engineer(
                id="lift",
                start_location=at(0, 0),
                shift_start_minute=480,
                shift_end_minute=1020,
                skills=frozenset({"lift"}),
                max_visits=2,
            ),
        )
        visits = (
            Visit(
                id="n1", location=at(0, 1), service_minutes=30, required_skills=frozenset({"lift"})
            ),
            Visit(
                id="n2", location=at(1, 0), service_minutes=30, required_skills=frozenset({"lift"})
            ),
            Visit(
                id="urgent",
                location=at(3, 3),
                service_minutes=60,
                required_skills=frozenset({"lift"}),
                priority=Priority.CRITICAL,
                time_windows=(TimeWindow(start_minute=840, end_minute=900),),
            ),
        )
        compiled = compile_problem(RoutingProblem(engineers=engineers, visits=visits), TRAVEL)
        route = greedy_routes(compiled)[0]
        ids = [compiled.problem.visits[compiled.visit_rows[n]].id for n in route]
        assert "urgent" in ids
        assert len(ids) == 2

    def test_a_visit_growth_passed_by_is_fitted_into_a_gap(self) -> None:
        # At eight the far visit is the nearer start (52 min against waiting an hour), and
        # after it the near visit's window has closed. It fits before the far one.
        engineers = (
            Engineer(
                id="x", start_location=at(0, 0), shift_start_minute=480, shift_end_minute=1020
            ),
        )
        visits = (
            Visit(
                id="near",
                location=at(0, 1),
                service_minutes=30,
                time_windows=(TimeWindow(start_minute=540, end_minute=550),),
            ),
            Visit(id="far", location=at(0, 20), service_minutes=30),
        )
        compiled = compile_problem(RoutingProblem(engineers=engineers, visits=visits), TRAVEL)

        def ids(fill_s: float) -> list[str]:
            route = greedy_routes(compiled, fill_s=fill_s)[0]
            return [compiled.problem.visits[compiled.visit_rows[n]].id for n in route]

        assert ids(fill_s=0) == ["far"]
        assert ids(fill_s=1) == ["near", "far"]

    def test_sequenced_visits_are_left_to_the_search(self) -> None:
        engineers = (
            Engineer(
                id="x", start_location=at(0, 0), shift_start_minute=480, shift_end_minute=1020
            ),
        )
        visits = (
            Visit(
                id="a", location=at(1, 0), service_minutes=30, pinned_engineer_id="x", sequence=1
            ),
            Visit(id="free", location=at(0, 1), service_minutes=30),
        )
        compiled = compile_problem(RoutingProblem(engineers=engineers, visits=visits), TRAVEL)
        ids = [
            compiled.problem.visits[compiled.visit_rows[n]].id
            for r in greedy_routes(compiled)
            for n in r
        ]
        assert ids == ["free"]


class TestBreaks:
    def engineer(self, **kw: object) -> Engineer:
        spec: dict[str, Any] = {
            "id": "x",
            "start_location": at(0, 0),
            "shift_start_minute": 480,
            "shift_end_minute": 1100,
            # A split shift: two fixed breaks.
            "breaks": (
                ShiftBreak(earliest_start_minute=720, latest_start_minute=720, duration_minutes=30),
                ShiftBreak(earliest_start_minute=840, latest_start_minute=840, duration_minutes=30),
            ),
        }
        spec.update(kw)
        return Engineer(**spec)

    def nodes(self, engineer: Engineer, *minutes: int) -> tuple[CompiledProblem, list[int]]:
        visits = tuple(
            Visit(id=f"v{k}", location=at(0, 1 + k), service_minutes=m)
            for k, m in enumerate(minutes)
        )
        compiled = compile_problem(RoutingProblem(engineers=(engineer,), visits=visits), TRAVEL)
        return compiled, greedy_routes(compiled)[0]

    def test_work_never_runs_through_the_second_break(self) -> None:
        # Five hours fit no stretch between the breaks, before them or after them.
        _, route = self.nodes(self.engineer(), 300)
        assert route == []

    def test_work_between_two_breaks_is_accepted_by_the_search(self) -> None:
        compiled, route = self.nodes(self.engineer(), 60)
        assert len(route) == 1
        plan = solve(
            compiled.problem,
            time_limit_s=5,
            travel=TRAVEL,
            search=SearchSettings(own_construction_from=1, solution_limit=1),
        )
        assert plan.solver.status != "no_solution_found"
        assert plan.metrics.served_count == 1

    def test_a_break_already_past_does_not_stop_a_running_day(self) -> None:
        # Back at work at three: both breaks lie before the rest of the day.
        late = self.engineer(available_from_minute=900)
        compiled, route = self.nodes(late, 45, 45)
        assert len(route) == 2
        plan = solve(
            compiled.problem,
            time_limit_s=5,
            travel=TRAVEL,
            search=SearchSettings(own_construction_from=1, solution_limit=1),
        )
        assert plan.metrics.served_count == 2


class TestLargeDayPlans:
    def test_the_status_says_what_the_search_did(self) -> None:
        plan = solve(
            busy_day(6, 40, seed=7),
            time_limit_s=1,
            travel=TRAVEL,
            search=SearchSettings(own_construction_from=10),
        )
        assert plan.solver.status in {"success", "time_limit_reached", "start_kept"}
        assert plan.solver.metaheuristic == "ITERATED_LOCAL_SEARCH"

    def test_a_plan_even_when_the_budget_is_too_short_for_the_search(self) -> None:
        problem = busy_day(20, 300, seed=5)
        plan = solve(
            problem,
            time_limit_s=0.3,
            travel=TRAVEL,
            search=SearchSettings(own_construction_from=100),
        )
        assert plan.metrics.served_count >= 100
        assert plan.metrics.dropped_critical_count == 0
        visits = {v.id: v for v in problem.visits}
        for engineer, route in zip(problem.engineers, plan.routes, strict=True):
            assert len(route.stops) <= 8
            assert route.working_minutes <= 450
            assert route.return_minute <= engineer.shift_end_minute
            assert sum(visits[s.visit_id].demand for s in route.stops) <= 10
            assert [(b.start_minute >= 690 and b.start_minute <= 780) for b in route.breaks] == [
                True
            ]
            for stop in route.stops:
                v = visits[stop.visit_id]
                assert v.required_skills <= engineer.skills
                assert not v.time_windows or any(
                    w.start_minute <= stop.start_minute <= w.end_minute for w in v.time_windows
                )
                lunch = route.breaks[0]
                assert (
                    stop.end_minute <= lunch.start_minute
                    or stop.start_minute >= lunch.start_minute + 30
                )

    def test_the_search_improves_on_the_construction(self) -> None:
        problem = busy_day(12, 150, seed=6)
        compiled = compile_problem(problem, TRAVEL)
        constructed = sum(len(r) for r in greedy_routes(compiled))
        plan = solve(
            problem,
            time_limit_s=30,
            travel=TRAVEL,
            search=SearchSettings(own_construction_from=100, solution_limit=200),
        )
        assert plan.metrics.served_count >= constructed
        assert plan.metrics.dropped_critical_count == 0
