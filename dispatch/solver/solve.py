"""Plan a day, or re-plan the rest of a running day, with OR-Tools routing."""

from __future__ import annotations

import dataclasses
import multiprocessing
import multiprocessing.context
import threading
import time as clock
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import msgspec
import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2, routing_ils_pb2
from ortools.util import optional_boolean_pb2

from dispatch.solver.build import CompiledProblem, build_model, compile_problem
from dispatch.solver.construct import greedy_routes, held_routes
from dispatch.solver.model import (
    ITERATED_LOCAL_SEARCH,
    DropReason,
    Engineer,
    EngineerProgress,
    PlannedStop,
    Priority,
    Route,
    RoutePlan,
    RoutingProblem,
    SearchSettings,
    Visit,
)
from dispatch.solver.plan import assemble, available_minutes, finish_route, plan_metrics
from dispatch.solver.travel import HaversineTravel, TravelProvider

_STATUS = {
    0: "not_solved",
    1: "success",
    2: "partial_success_time_limit",
    3: "no_solution_found",
    4: "time_limit_reached",
    5: "invalid_parameters",
    6: "infeasible",
    7: "optimal",
}
# A second process searches from a different construction, which is what varies most.
_ALTERNATE_FIRST_SOLUTION = {
    "LOCAL_CHEAPEST_INSERTION": "SEQUENTIAL_CHEAPEST_INSERTION",
    "PARALLEL_CHEAPEST_INSERTION": "SEQUENTIAL_CHEAPEST_INSERTION",
    "SEQUENTIAL_CHEAPEST_INSERTION": "LOCAL_CHEAPEST_INSERTION",
}


_GLS = "GUIDED_LOCAL_SEARCH"
# Turning a solution into a plan (re-timing, explanations) takes about this long per visit.
_ASSEMBLE_S_PER_VISIT = 0.0005
# Checking a start of ours and scheduling its breaks takes about this long per visit.
_READ_START_S_PER_VISIT = 0.001


class NoPlanFound(RuntimeError):
    """The search ended without any plan (time budget too short or invalid settings)."""


class InvalidSearchSettings(ValueError):
    """A search setting names no OR-Tools strategy, metaheuristic or operator."""


class SearchProgress:
    """Live figures of a running search, written by the solving thread for others to read.

    Plain attributes: a reader may see a figure one solution old, never a torn one.
    """

    def __init__(self) -> None:
        self.solutions_found = 0
        self.best_objective: int | None = None


# OR-Tools holds the GIL for the whole search, so a search in a worker thread would freeze the
# event loop of a web process. A Python hook called on every evaluated move lets the
# interpreter hand over the GIL; sleep(0) every few milliseconds forces the hand-over.
_YIELD_EVERY_S = 0.02


class _YieldingMonitor(pywrapcp.SearchMonitor):  # type: ignore[misc]
    def __init__(self, cp_solver: Any) -> None:
        super().__init__(cp_solver)
        self._last = clock.monotonic()

    def AcceptDelta(self, delta: Any, deltadelta: Any) -> bool:  # OR-Tools' name
        now = clock.monotonic()
        if now - self._last >= _YIELD_EVERY_S:
            self._last = now
            clock.sleep(0)
        return True


def _watch(routing: Any, progress: SearchProgress) -> Any:
    """Count solutions into `progress` and let other threads run during the search."""

    def at_solution() -> None:
        cost = int(routing.CostVar().Max())
        progress.solutions_found += 1
        if progress.best_objective is None or cost < progress.best_objective:
            progress.best_objective = cost

    routing.AddAtSolutionCallback(at_solution)
    monitor = _YieldingMonitor(routing.solver())
    routing.AddSearchMonitor(monitor)
    # The caller keeps the monitor alive for the search: OR-Tools holds no Python reference.
    return monitor


def uses_iterated_local_search(settings: SearchSettings) -> bool:
    """Whether the search runs OR-Tools' iterated local search (ruin and recreate)."""
    return settings.metaheuristic == ITERATED_LOCAL_SEARCH and settings.solution_limit is None


def search_parameters(
    settings: SearchSettings, time_limit_s: float, *, from_start: bool = False
) -> Any:
    """OR-Tools search parameters for the given settings and time budget.

    ``from_start``: the search improves a given start, where iterated local search (which
    builds its own) gives way to guided local search.
    """
    params = pywrapcp.DefaultRoutingSearchParameters()
    ils = uses_iterated_local_search(settings) and not from_start
    metaheuristic = settings.metaheuristic
    if metaheuristic == ITERATED_LOCAL_SEARCH:
        # Iterated local search improves each perturbed plan by greedy descent.
        metaheuristic = "GREEDY_DESCENT" if ils else _GLS
    try:
        params.first_solution_strategy = getattr(
            routing_enums_pb2.FirstSolutionStrategy, settings.first_solution
        )
        params.local_search_metaheuristic = getattr(
            routing_enums_pb2.LocalSearchMetaheuristic, metaheuristic
        )
        operators = params.local_search_operators
        for name in settings.disabled_operators:
            setattr(operators, name, optional_boolean_pb2.BOOL_FALSE)
        for name in settings.enabled_operators:
            setattr(operators, name, optional_boolean_pb2.BOOL_TRUE)
    except AttributeError as exc:
        raise InvalidSearchSettings(f"unknown OR-Tools search setting: {exc}") from None
    params.guided_local_search_lambda_coefficient = settings.guided_local_search_lambda
    if ils:
        if settings.ruin_visits < 1 or settings.ruin_string_length < 1:
            raise InvalidSearchSettings("ruin_visits and ruin_string_length must be positive")
        params.use_iterated_local_search = True
        ils = params.iterated_local_search_parameters
        ils.perturbation_strategy = routing_ils_pb2.PerturbationStrategy.RUIN_AND_RECREATE
        ruin = ils.ruin_recreate_parameters.ruin_strategies.add().sisr
        ruin.avg_num_removed_visits = settings.ruin_visits
        ruin.max_removed_sequence_size = settings.ruin_string_length
        ruin.bypass_factor = 0.01
        ils.ruin_recreate_parameters.recreate_strategy.heuristic = (
            routing_enums_pb2.FirstSolutionStrategy.LOCAL_CHEAPEST_INSERTION
        )
        ils.improve_perturbed_solution = True
        annealing = ils.reference_solution_acceptance_strategy.simulated_annealing
        annealing.cooling_schedule_strategy = routing_ils_pb2.CoolingScheduleStrategy.EXPONENTIAL
        annealing.automatic_temperatures = True
        ils.best_solution_acceptance_strategy.greedy_descent.SetInParent()
    params.time_limit.FromMilliseconds(max(1, round(time_limit_s * 1000)))
    if settings.solution_limit is not None:
        params.solution_limit = settings.solution_limit
    return params


def solve(
    problem: RoutingProblem,
    *,
    time_limit_s: float,
    seed: int = 0,
    travel: TravelProvider | None = None,
    search: SearchSettings | None = None,
    search_progress: SearchProgress | None = None,
) -> RoutePlan:
    """Plan routes for the engineers that serve the most important visits at least cost.

    With `search_progress`, the search reports solutions into it and shares the interpreter with
    other threads (for runs inside a web process).
    """
    started = clock.monotonic()
    settings = search or SearchSettings()
    compiled = compile_problem(problem, travel or HaversineTravel(), seed=seed)
    # A day half booked already: the search starts from what engineers hold.
    compiled.hint_routes = held_routes(compiled)
    return _solve_compiled(
        compiled, settings, seed, started + time_limit_s, started, time_limit_s, search_progress
    )


def _solve_compiled(
    compiled: CompiledProblem,
    settings: SearchSettings,
    seed: int,
    deadline: float,
    started: float,
    time_limit_s: float,
    progress: SearchProgress | None = None,
) -> RoutePlan:
    if settings.workers <= 1:
        return _search(
            compiled, settings, seed, deadline - clock.monotonic(), started, time_limit_s, progress
        )
    # Multi-start: this process searches with the given settings while helper processes
    # search from other node orders and constructions; the best plan wins. Processes, not
    # threads: each OR-Tools search is single-threaded and holds its own model.
    with ProcessPoolExecutor(
        max_workers=settings.workers - 1, mp_context=_process_context()
    ) as pool:
        jobs = []
        for k in range(1, settings.workers):
            variant = _variant(settings, k)
            jobs.append(
                pool.submit(
                    _search_until,
                    _reseeded(compiled, seed + k),
                    variant,
                    seed + k,
                    deadline,
                    started,
                    time_limit_s,
                )
            )
        plans = [
            _search(
                compiled,
                settings,
                seed,
                deadline - clock.monotonic(),
                started,
                time_limit_s,
                progress,
            )
        ]
        plans.extend(job.result() for job in jobs)
    best = min(plans, key=lambda p: (p.metrics.dropped_critical_count, p.metrics.objective))
    return msgspec.structs.replace(
        best,
        solver=msgspec.structs.replace(
            best.solver, workers=settings.workers, wall_seconds=clock.monotonic() - started
        ),
    )


def _variant(settings: SearchSettings, k: int) -> SearchSettings:
    """The settings of helper process k: what varies most between searches."""
    if k % 2 == 0:
        return settings
    if settings.metaheuristic == ITERATED_LOCAL_SEARCH:
        # Ruin and recreate wins on tight windows and many short routes, guided local search
        # on wide windows and few long routes (Solomon R/RC against C2): run both.
        return msgspec.structs.replace(settings, metaheuristic=_GLS)
    return msgspec.structs.replace(
        settings,
        first_solution=_ALTERNATE_FIRST_SOLUTION.get(
            settings.first_solution, settings.first_solution
        ),
    )


def _process_context() -> multiprocessing.context.BaseContext:
    # Forking a single-threaded process starts a helper in milliseconds with everything
    # imported; with threads around (a web worker) forking is unsafe, so spawn instead.
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _reseeded(compiled: CompiledProblem, seed: int) -> CompiledProblem:
    if (compiled.locked_nodes and any(compiled.locked_nodes)) or compiled.hint_routes:
        # Locks and hints refer to node numbers; keep one order.
        return compiled
    order = np.random.default_rng(seed).permutation(compiled.visit_count)
    rows = [compiled.visit_rows[k] for k in order]
    n_vis = compiled.visit_count
    node_order = np.concatenate([order, np.arange(n_vis, compiled.minutes.shape[0])])
    pick = np.ix_(node_order, node_order)
    return CompiledProblem(
        problem=compiled.problem,
        visit_rows=rows,
        minutes=compiled.minutes[pick],
        metres=compiled.metres[pick],
        service_minutes=compiled.service_minutes[node_order],
        start_nodes=compiled.start_nodes,
        end_nodes=compiled.end_nodes,
        is_skilled=compiled.is_skilled,
        is_reachable=compiled.is_reachable,
        minutes_from_start=compiled.minutes_from_start,
        metres_from_start=compiled.metres_from_start,
        dropped_before_solve=compiled.dropped_before_solve,
        horizon_minutes=compiled.horizon_minutes,
        locked_nodes=compiled.locked_nodes,
        hint_routes=compiled.hint_routes,
    )


def _search_until(
    compiled: CompiledProblem,
    settings: SearchSettings,
    seed: int,
    deadline: float,
    started: float,
    time_limit_s: float,
) -> RoutePlan:
    # Monotonic clocks are shared between processes on one machine (CLOCK_MONOTONIC).
    return _search(compiled, settings, seed, deadline - clock.monotonic(), started, time_limit_s)


def _search(
    compiled: CompiledProblem,
    settings: SearchSettings,
    seed: int,
    budget_s: float,
    started: float,
    time_limit_s: float,
    progress: SearchProgress | None = None,
) -> RoutePlan:
    if compiled.visit_count == 0:
        return assemble(compiled, None, None, settings, seed, started, time_limit_s, "success")
    deadline = clock.monotonic() + budget_s
    hint_routes = compiled.hint_routes
    if (
        hint_routes is None
        and not any(compiled.locked_nodes)
        and compiled.visit_count >= settings.own_construction_from
    ):
        hint_routes = greedy_routes(compiled, fill_s=min(1.0, budget_s / 10), repair_s=budget_s / 3)
    built = build_model(compiled)
    routing = built.routing
    ils = uses_iterated_local_search(settings) and compiled.hint_routes is None
    # OR-Tools takes the time limit of every search (checking our start is one) from the
    # model's closing: keep back what checking the start and building the plan will take,
    # but never give less than the check needs.
    reserve = _ASSEMBLE_S_PER_VISIT * compiled.visit_count
    floor = 0.05
    if hint_routes is not None:
        floor = max(floor, _READ_START_S_PER_VISIT * compiled.visit_count)
        reserve += floor
    params = search_parameters(
        settings, max(floor, deadline - clock.monotonic() - reserve), from_start=not ils
    )
    # Restoring a start and every large-neighbourhood step must schedule the breaks of the
    # routes they touch; OR-Tools gives each 100 ms, which a day of 1 000 visits outgrows.
    params.lns_time_limit.FromMilliseconds(max(100, compiled.visit_count))
    routing.CloseModelWithParameters(params)
    monitor = _watch(routing, progress) if progress is not None else None

    initial = None
    if hint_routes is not None:
        # Read before any search: once a search has used up the time limit, OR-Tools refuses
        # to check a start.
        hint = [[built.manager.NodeToIndex(n) for n in route] for route in hint_routes]
        initial = routing.ReadAssignmentFromRoutes(hint, True)
    if ils:
        # Iterated local search builds its own start (handing it ours makes it worse). On a
        # large day that build may not finish in time, so our construction is the plan to
        # beat, and the plan when the search has none.
        solution = routing.SolveWithIteratedLocalSearch(params)
        status = _status(routing, solution)
        if initial is not None and (
            solution is None or initial.ObjectiveValue() < solution.ObjectiveValue()
        ):
            solution, status = initial, "start_kept"
    else:
        # A start of ours (a committed plan, or a large day's construction) is improved by
        # guided local search, which never returns anything worse.
        if initial is not None:
            solution = routing.SolveFromAssignmentWithParameters(initial, params)
            status = _status(routing, solution)
            if solution is None:
                solution, status = initial, "start_kept"
        else:
            # No start, or it broke a rule after all: construct as usual.
            solution = routing.SolveWithParameters(params)
            status = _status(routing, solution)
    del monitor
    if solution is None:
        raise NoPlanFound(f"no plan found within {time_limit_s:g} s (status {status})")
    if settings.metaheuristic == ITERATED_LOCAL_SEARCH and not ils:
        # Say what searched: guided local search stood in.
        settings = msgspec.structs.replace(settings, metaheuristic=_GLS)
    return assemble(compiled, built, solution, settings, seed, started, time_limit_s, status)


def _status(routing: Any, solution: Any) -> str:
    status = _STATUS.get(routing.status(), str(routing.status()))
    if solution is not None and status == "not_solved":
        # Iterated local search leaves the status unset when it stops on time.
        return "time_limit_reached"
    return status


def replan(
    problem: RoutingProblem,
    committed: RoutePlan | None,
    progress: Sequence[EngineerProgress],
    *,
    time_limit_s: float = 0.8,
    seed: int = 0,
    travel: TravelProvider | None = None,
    search: SearchSettings | None = None,
    search_progress: SearchProgress | None = None,
) -> RoutePlan:
    """Re-plan the rest of a running day around new visits, keeping finished and started work.

    ``problem`` holds the day's engineers and every visit still wanted (old and new);
    ``committed`` is the plan the engineers are working from. Done visits stay on their routes
    as locked stops, started ones stay first on their engineer's route, and the search starts
    from the committed order so the new plan moves as little as it must. Without a committed
    plan, done visits leave the routes and the search starts from the visits' held
    assignments.
    """
    started = clock.monotonic()
    settings = search or SearchSettings()
    by_engineer = {p.engineer_id: p for p in progress}
    committed_routes = {r.engineer_id: r for r in committed.routes} if committed else {}
    done_ids = {vid for p in progress for vid in p.done_visit_ids}
    started_owner = {vid: p.engineer_id for p in progress for vid in p.started_visit_ids}

    engineers: list[Engineer] = []
    done_stops: dict[str, list[PlannedStop]] = {}
    for engineer in problem.engineers:
        state = by_engineer.get(engineer.id)
        if state is None:
            engineers.append(engineer)
            continue
        route = committed_routes.get(engineer.id)
        finished = [s for s in route.stops if s.visit_id in done_ids] if route else []
        done_stops[engineer.id] = [msgspec.structs.replace(s, is_locked=True) for s in finished]
        worked = sum(s.travel_minutes + s.end_minute - s.start_minute for s in finished)
        engineers.append(
            msgspec.structs.replace(
                engineer,
                current_location=state.current_location,
                available_from_minute=state.available_from_minute,
                max_visits=None
                if engineer.max_visits is None
                else max(0, engineer.max_visits - len(finished)),
                max_working_minutes=None
                if engineer.max_working_minutes is None
                else max(0, engineer.max_working_minutes - worked),
            )
        )
    visits: list[Visit] = []
    for visit in problem.visits:
        if visit.id in done_ids:
            continue
        owner = started_owner.get(visit.id)
        if owner is not None:
            # Already under way: it stays with its engineer whatever its window said.
            visit = msgspec.structs.replace(visit, pinned_engineer_id=owner, time_windows=())
        visits.append(visit)
    remaining = msgspec.structs.replace(problem, engineers=tuple(engineers), visits=tuple(visits))
    locks = [
        list(by_engineer[e.id].started_visit_ids) if e.id in by_engineer else [] for e in engineers
    ]
    hints = []
    for e, engineer in enumerate(engineers):
        route = committed_routes.get(engineer.id)
        tail = [
            s.visit_id
            for s in (route.stops if route else ())
            if s.visit_id not in done_ids and s.visit_id not in locks[e]
        ]
        hints.append(locks[e] + tail)
    compiled = compile_problem(
        remaining,
        travel or HaversineTravel(),
        seed=seed,
        locked_visit_ids=locks,
        hint_visit_ids=hints if committed is not None else None,
    )
    if committed is None:
        compiled.hint_routes = held_routes(compiled)
    # Half the budget searches from the committed routes, which moves little. That start can
    # be a local optimum with no room for a new critical visit; then the other half searches
    # from scratch and the better plan wins, critical visits first.
    plan = _solve_compiled(
        compiled, settings, seed, started + time_limit_s / 2, started, time_limit_s, search_progress
    )
    if _has_servable_critical_dropped(plan):
        cold = _solve_compiled(
            dataclasses.replace(compiled, hint_routes=None),
            settings,
            seed,
            started + time_limit_s,
            started,
            time_limit_s,
            search_progress,
        )
        plan = min(
            (plan, cold), key=lambda p: (p.metrics.dropped_critical_count, p.metrics.objective)
        )
    routes = []
    for engineer, route in zip(engineers, plan.routes, strict=True):
        state = by_engineer.get(engineer.id)
        if state is not None:
            route = msgspec.structs.replace(route, replanned_from=state.current_location)
        finished = done_stops.get(engineer.id, [])
        if not finished:
            routes.append(route)
            continue
        back_minutes = route.travel_minutes - sum(s.travel_minutes for s in route.stops)
        back_km = route.travel_km - sum(s.travel_km for s in route.stops)
        full = msgspec.structs.replace(
            finish_route(
                engineer,
                [*finished, *route.stops],
                route.breaks,
                departure=committed_routes[engineer.id].departure_minute,
                return_minute=route.return_minute if route.stops else None,
                back_minutes=back_minutes if route.stops else 0,
                back_km=back_km if route.stops else 0.0,
            ),
            utilisation_percent=_day_utilisation(problem, engineer.id, finished, route),
            replanned_from=route.replanned_from,
        )
        routes.append(full)
    return msgspec.structs.replace(
        plan,
        routes=tuple(routes),
        metrics=plan_metrics(problem, routes, plan.dropped, plan.metrics.objective),
    )


def _has_servable_critical_dropped(plan: RoutePlan) -> bool:
    return any(
        d.priority is Priority.CRITICAL and d.reason is DropReason.CAPACITY for d in plan.dropped
    )


def _day_utilisation(
    problem: RoutingProblem, engineer_id: str, finished: Sequence[PlannedStop], route: Route
) -> float:
    engineer = next(e for e in problem.engineers if e.id == engineer_id)
    worked = sum(s.travel_minutes + s.end_minute - s.start_minute for s in finished)
    return round(100.0 * (worked + route.working_minutes) / available_minutes(engineer), 1)
