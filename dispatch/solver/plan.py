"""Turn a solver's answer into a plan: re-timed routes, breaks, explanations and totals."""

from __future__ import annotations

import time as clock
from collections.abc import Sequence
from typing import Any

import msgspec

from dispatch.solver.build import CompiledProblem, departure_minute
from dispatch.solver.explain import explain_stops
from dispatch.solver.model import (
    DroppedVisit,
    DropReason,
    Engineer,
    PlanMetrics,
    PlannedBreak,
    PlannedStop,
    Priority,
    Route,
    RoutePlan,
    RoutingProblem,
    SearchSettings,
    ShiftBreak,
    SolverInfo,
    Visit,
    at_minute,
)


def assemble(
    compiled: CompiledProblem,
    built: Any,
    solution: Any,
    settings: SearchSettings,
    seed: int,
    started: float,
    time_limit_s: float,
    status: str,
) -> RoutePlan:
    """The plan of an OR-Tools solution (or of no visits at all when ``built`` is None)."""
    problem = compiled.problem
    visits = problem.visits
    origin = problem.origin_at
    routes: list[Route] = []
    served: set[int] = set()
    node_routes: list[list[int]] = []
    for e, engineer in enumerate(problem.engineers):
        if built is None:
            node_routes.append([])
            routes.append(_route(compiled, e, engineer, [], [], (), None, None, origin))
            continue
        routing, manager, time = built.routing, built.manager, built.time
        nodes: list[int] = []
        starts: list[int] = []
        index = routing.Start(e)
        departure = solution.Value(time.CumulVar(index))
        index = solution.Value(routing.NextVar(index))
        while not routing.IsEnd(index):
            nodes.append(manager.IndexToNode(index))
            starts.append(solution.Value(time.CumulVar(index)))
            index = solution.Value(routing.NextVar(index))
        return_minute = solution.Value(time.CumulVar(index))
        breaks = tuple(
            PlannedBreak(
                start_minute=solution.StartValue(interval),
                duration_minutes=solution.DurationValue(interval),
                start_at=at_minute(origin, solution.StartValue(interval)),
            )
            for interval in built.break_intervals[e]
            if solution.PerformedValue(interval)
        )
        served.update(compiled.visit_rows[n] for n in nodes)
        node_routes.append(nodes)
        routes.append(
            _route(compiled, e, engineer, nodes, starts, breaks, departure, return_minute, origin)
        )
    dropped = list(compiled.dropped_before_solve)
    settled = {d.visit_id for d in dropped}
    for row, visit in enumerate(visits):
        if row not in served and visit.id not in settled:
            dropped.append(
                DroppedVisit(
                    visit_id=visit.id,
                    priority=visit.priority,
                    reason=DropReason.CAPACITY,
                    detail="a skilled engineer could reach it alone, but no shift had room "
                    "for it next to more valuable visits",
                )
            )
    routes = explain_stops(compiled, routes, node_routes)
    objective = 0 if solution is None else int(solution.ObjectiveValue())
    return RoutePlan(
        routes=tuple(routes),
        dropped=tuple(dropped),
        metrics=plan_metrics(problem, routes, dropped, objective),
        solver=SolverInfo(
            seed=seed,
            time_limit_s=time_limit_s,
            wall_seconds=clock.monotonic() - started,
            first_solution=settings.first_solution,
            metaheuristic=settings.metaheuristic,
            workers=settings.workers,
            status=status,
        ),
        origin_at=origin,
    )


def _route(
    compiled: CompiledProblem,
    e: int,
    engineer: Engineer,
    nodes: list[int],
    solver_starts: list[int],
    breaks: tuple[PlannedBreak, ...],
    departure: int | None,
    return_minute: int | None,
    origin: Any,
) -> Route:
    visits = compiled.problem.visits
    if not nodes:
        return finish_route(
            engineer,
            [],
            (),
            departure=departure_minute(engineer),
            return_minute=None,
            back_minutes=0,
            back_km=0.0,
        )
    # The solver's cumul values are feasible but not always the earliest: its scheduling
    # step may leave a visit late in a free afternoon. Re-time the same sequence, with the
    # breaks in the same gaps, as early as possible; every time only moves earlier, so
    # windows and break limits still hold and lateness can only shrink.
    gap_of_break: list[int] = []
    for brk in breaks:
        gap = sum(1 for s in solver_starts if s <= brk.start_minute)
        gap_of_break.append(gap)
    # Break intervals are created in the engineer's order and are never optional.
    performed: list[ShiftBreak | None] = (
        list(engineer.breaks) if len(engineer.breaks) == len(breaks) else [None] * len(breaks)
    )
    leave = departure_minute(engineer)
    previous = compiled.start_nodes[e]
    stops: list[PlannedStop] = []
    new_breaks: list[PlannedBreak] = []
    first_departure = leave
    for k, (node, solver_start) in enumerate(zip(nodes, solver_starts, strict=True)):
        visit = visits[compiled.visit_rows[node]]
        travel = int(compiled.minutes[previous, node])
        arrival = leave + travel
        ready = arrival
        for brk, gap, spec in zip(breaks, gap_of_break, performed, strict=True):
            if gap != k:
                continue
            earliest = spec.earliest_start_minute if spec else brk.start_minute
            break_start = min(brk.start_minute, max(leave, earliest))
            if break_start <= arrival:
                arrival += brk.duration_minutes
                ready = arrival
            else:
                ready = max(ready, break_start + brk.duration_minutes)
            new_breaks.append(
                msgspec.structs.replace(
                    brk, start_minute=break_start, start_at=at_minute(origin, break_start)
                )
            )
        start = _earliest_start(visit, ready, solver_start, node in _locked(compiled))
        start = _held_start(compiled.problem, engineer, visit, start, solver_start)
        if k == 0 and start > arrival and not new_breaks:
            # Leave home later instead of waiting on site.
            shift = start - arrival
            first_departure = leave + shift
            arrival += shift
        end = start + visit.service_minutes
        stops.append(
            PlannedStop(
                visit_id=visit.id,
                arrival_minute=arrival,
                start_minute=start,
                end_minute=end,
                wait_minutes=start - arrival,
                travel_minutes=travel,
                travel_km=float(compiled.metres[previous, node]) / 1000.0,
                lateness_minutes=_lateness(visit, start),
                is_locked=node in _locked(compiled),
                arrival_at=at_minute(origin, arrival),
                start_at=at_minute(origin, start),
                end_at=at_minute(origin, end),
            )
        )
        previous = node
        leave = end
    end_node = compiled.end_nodes[e]
    back_minutes = int(compiled.minutes[previous, end_node])
    back = leave + back_minutes
    for brk, gap in zip(breaks, gap_of_break, strict=True):
        if gap == len(nodes):
            break_start = max(leave, min(brk.start_minute, leave))
            back += brk.duration_minutes
            new_breaks.append(
                msgspec.structs.replace(
                    brk, start_minute=break_start, start_at=at_minute(origin, break_start)
                )
            )
    return finish_route(
        engineer,
        stops,
        tuple(sorted(new_breaks, key=lambda b: b.start_minute)),
        departure=first_departure,
        return_minute=back,
        back_minutes=back_minutes,
        back_km=float(compiled.metres[previous, end_node]) / 1000.0,
    )


def _locked(compiled: CompiledProblem) -> set[int]:
    return {node for chain in compiled.locked_nodes for node in chain}


def _earliest_start(visit: Visit, ready: int, solver_start: int, is_locked: bool) -> int:
    if is_locked or not visit.time_windows:
        return min(ready, solver_start) if ready <= solver_start else ready
    candidates = [
        max(ready, w.start_minute)
        for w in visit.time_windows
        if max(ready, w.start_minute) <= w.end_minute
    ]
    return min(candidates) if candidates else solver_start


def _held_start(
    problem: RoutingProblem, engineer: Engineer, visit: Visit, start: int, solver_start: int
) -> int:
    """A visit kept by the engineer who holds it starts at its held start where it can: no
    earlier than the solver put it is allowed to move it, so what follows still fits."""
    held = visit.held_start_minute
    if (
        problem.stability_cost <= 0
        or held is None
        or visit.held_engineer_id != engineer.id
        or not start < held <= solver_start
    ):
        return start
    if visit.time_windows and not any(
        w.start_minute <= held <= w.end_minute for w in visit.time_windows
    ):
        return start
    return held


def _lateness(visit: Visit, start_minute: int) -> int:
    if visit.sla_deadline_minute is None:
        return 0
    return max(0, start_minute - visit.sla_deadline_minute)


def available_minutes(engineer: Engineer) -> int:
    start = engineer.shift_start_minute
    if engineer.available_from_minute is not None:
        start = max(start, engineer.available_from_minute)
    breaks = sum(b.duration_minutes for b in engineer.breaks)
    return max(1, engineer.shift_end_minute - start - breaks)


def finish_route(
    engineer: Engineer,
    stops: Sequence[PlannedStop],
    breaks: tuple[PlannedBreak, ...],
    *,
    departure: int,
    return_minute: int | None,
    back_minutes: int,
    back_km: float,
) -> Route:
    """A route with its totals computed from its stops and the drive back."""
    travel_minutes = sum(s.travel_minutes for s in stops) + back_minutes
    service = sum(s.end_minute - s.start_minute for s in stops)
    working = travel_minutes + service
    if return_minute is None:
        return_minute = stops[-1].end_minute + back_minutes if stops else departure
    return Route(
        engineer_id=engineer.id,
        stops=tuple(stops),
        breaks=breaks,
        departure_minute=departure,
        return_minute=return_minute,
        travel_minutes=travel_minutes,
        travel_km=round(sum(s.travel_km for s in stops) + back_km, 3),
        service_minutes=service,
        working_minutes=working,
        utilisation_percent=round(100.0 * working / available_minutes(engineer), 1),
    )


def plan_metrics(
    problem: RoutingProblem,
    routes: Sequence[Route],
    dropped: Sequence[DroppedVisit],
    objective: int,
) -> PlanMetrics:
    """Totals over a plan: travel, lateness, on-time share, load per engineer."""
    stops = [s for r in routes for s in r.stops]
    on_time = sum(1 for s in stops if s.lateness_minutes == 0)
    loads = [r.working_minutes for r in routes]
    return PlanMetrics(
        served_count=len(stops),
        dropped_count=len(dropped),
        dropped_critical_count=sum(1 for d in dropped if d.priority is Priority.CRITICAL),
        travel_minutes=sum(r.travel_minutes for r in routes),
        travel_km=round(sum(r.travel_km for r in routes), 3),
        lateness_minutes=sum(s.lateness_minutes for s in stops),
        on_time_percent=round(100.0 * on_time / len(stops), 1) if stops else 100.0,
        utilisation_percent_by_engineer={r.engineer_id: r.utilisation_percent for r in routes},
        imbalance_minutes=(max(loads) - min(loads)) if loads else 0,
        engineers_used=sum(1 for r in routes if r.stops),
        objective=objective,
    )
