"""Turn a routing problem into an OR-Tools routing model.

Two steps: ``compile_problem`` reduces the problem to integer arrays (picklable, so other
processes can solve the same thing) and settles the visits that no engineer could ever take;
``build_model`` creates the OR-Tools model from those arrays.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from ortools.constraint_solver import pywrapcp

from dispatch.solver.model import (
    DroppedVisit,
    DropReason,
    Engineer,
    Location,
    Objective,
    Priority,
    RoutingProblem,
    TimeWindow,
    Visit,
)
from dispatch.solver.travel import TravelMatrix, TravelProvider, haversine_metres

# Cost per minute late against the SLA deadline, and the drop penalty multiplier, by priority.
LATENESS_COST_PER_MINUTE = {
    Priority.LOW: 1,
    Priority.NORMAL: 2,
    Priority.HIGH: 5,
    Priority.CRITICAL: 10,
}
DROP_WEIGHT = {Priority.LOW: 1, Priority.NORMAL: 3, Priority.HIGH: 10}

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(slots=True)
class CompiledProblem:
    """The problem as integer arrays over model nodes: visits first, then route ends."""

    problem: RoutingProblem
    # Index into problem.visits of each visit node, in node order.
    visit_rows: list[int]
    # Per node: travel minutes and metres between nodes, service minutes.
    minutes: IntArray
    metres: IntArray
    service_minutes: IntArray
    start_nodes: list[int]
    end_nodes: list[int]
    # Per engineer x problem visit: holds every required skill and, on call, takes the
    # visit's priority in its area (pins ignored).
    is_skilled: BoolArray
    # Per engineer x problem visit: could serve it on an otherwise empty route.
    is_reachable: BoolArray
    # Per engineer x problem visit: travel minutes from the engineer's start.
    minutes_from_start: IntArray
    metres_from_start: IntArray
    dropped_before_solve: list[DroppedVisit]
    horizon_minutes: int
    # Per engineer: visit nodes that must open the route in this order (a running day).
    locked_nodes: list[list[int]] = field(default_factory=list)
    # Per engineer: visit nodes in a previous plan's order, to start the search from.
    hint_routes: list[list[int]] | None = None

    @property
    def visit_count(self) -> int:
        """Visit nodes in the model."""
        return len(self.visit_rows)


def _start_location(engineer: Engineer) -> Location:
    return engineer.current_location or engineer.start_location


def _end_location(engineer: Engineer) -> Location:
    return engineer.end_location or engineer.start_location


def departure_minute(engineer: Engineer) -> int:
    """When the engineer can leave: shift start, or later on a running day."""
    if engineer.available_from_minute is None:
        return engineer.shift_start_minute
    return max(engineer.shift_start_minute, engineer.available_from_minute)


def _skill_matrix(engineers: Sequence[Engineer], visits: Sequence[Visit]) -> BoolArray:
    skills = sorted({s for v in visits for s in v.required_skills})
    if not skills:
        return np.ones((len(engineers), len(visits)), dtype=np.bool_)
    column = {s: k for k, s in enumerate(skills)}
    held = np.zeros((len(engineers), len(skills)), dtype=np.bool_)
    for e, engineer in enumerate(engineers):
        for s in engineer.skills:
            if s in column:
                held[e, column[s]] = True
    needed = np.zeros((len(visits), len(skills)), dtype=np.bool_)
    for v, visit in enumerate(visits):
        for s in visit.required_skills:
            needed[v, column[s]] = True
    # Skilled when no required skill is missing.
    missing = (~held[:, None, :]) & needed[None, :, :]
    return np.asarray(~missing.any(axis=2), dtype=np.bool_)


def _may_serve(engineers: Sequence[Engineer], visits: Sequence[Visit]) -> BoolArray:
    """Per engineer x visit: holds every required skill, and, for an engineer on call, the
    visit is of a priority it takes and inside its area."""
    allowed = _skill_matrix(engineers, visits)
    for e, engineer in enumerate(engineers):
        if engineer.takes_priorities is not None:
            allowed[e] &= np.array([v.priority in engineer.takes_priorities for v in visits])
        if engineer.area is not None and visits:
            centre = engineer.area.centre
            metres = haversine_metres([centre, *(v.location for v in visits)])[0, 1:]
            allowed[e] &= metres <= engineer.area.radius_km * 1000
    return allowed


def compile_problem(
    problem: RoutingProblem,
    travel: TravelProvider,
    *,
    seed: int = 0,
    locked_visit_ids: Sequence[Sequence[str]] = (),
    hint_visit_ids: Sequence[Sequence[str]] | None = None,
) -> CompiledProblem:
    """Reduce a problem to model arrays and set aside visits nobody can take."""
    engineers = problem.engineers
    visits = problem.visits
    n_eng = len(engineers)
    n_vis = len(visits)
    if n_eng == 0:
        raise ValueError("a routing problem needs at least one engineer")
    ids = [v.id for v in visits]
    if len(set(ids)) != len(ids):
        raise ValueError("visit ids must be unique")
    eng_index = {e.id: k for k, e in enumerate(engineers)}
    if len(eng_index) != n_eng:
        raise ValueError("engineer ids must be unique")

    # One matrix request for all distinct points: homes are often shared.
    point_of: dict[tuple[float, float], int] = {}
    points: list[Location] = []

    def point(loc: Location) -> int:
        key = (loc.lat, loc.lon)
        if key not in point_of:
            point_of[key] = len(points)
            points.append(loc)
        return point_of[key]

    visit_point = np.array([point(v.location) for v in visits], dtype=np.int64)
    start_point = np.array([point(_start_location(e)) for e in engineers], dtype=np.int64)
    end_point = np.array([point(_end_location(e)) for e in engineers], dtype=np.int64)
    matrix: TravelMatrix = travel.matrix(points)
    if matrix.minutes.shape != (len(points), len(points)):
        raise ValueError("travel provider returned a matrix of the wrong size")

    locked_ids = {vid for chain in locked_visit_ids for vid in chain}
    service = np.array([v.service_minutes for v in visits], dtype=np.int64)
    depart = np.array([departure_minute(e) for e in engineers], dtype=np.int64)
    shift_end = np.array([e.shift_end_minute for e in engineers], dtype=np.int64)
    to_visit = matrix.minutes[np.ix_(start_point, visit_point)] if n_vis else np.zeros((n_eng, 0))
    from_visit = matrix.minutes[np.ix_(visit_point, end_point)].T if n_vis else to_visit
    arrive = depart[:, None] + to_visit

    # Earliest start inside any window, per engineer and visit; a huge value means none.
    never = np.iinfo(np.int64).max // 4
    start = np.full((n_eng, n_vis), never, dtype=np.int64)
    for v, visit in enumerate(visits):
        if not visit.time_windows or visit.id in locked_ids:
            start[:, v] = arrive[:, v]
            continue
        for window in visit.time_windows:
            begin = np.maximum(arrive[:, v], window.start_minute)
            fits = begin <= window.end_minute
            start[:, v] = np.where(fits & (begin < start[:, v]), begin, start[:, v])
    is_reachable = (start < never) & (start + service[None, :] + from_visit <= shift_end[:, None])
    work_cap = np.array(
        [never if e.max_working_minutes is None else e.max_working_minutes for e in engineers],
        dtype=np.int64,
    )
    is_reachable &= to_visit + service[None, :] + from_visit <= work_cap[:, None]
    visit_cap = np.array([1 if (e.max_visits or 1) > 0 else 0 for e in engineers], dtype=bool)
    is_reachable &= visit_cap[:, None]
    load_cap = np.array([never if e.capacity is None else e.capacity for e in engineers])
    demand = np.array([v.demand for v in visits], dtype=np.int64)
    is_reachable &= demand[None, :] <= load_cap[:, None]

    is_skilled = _may_serve(engineers, visits)
    dropped: list[DroppedVisit] = []
    rows: list[int] = []
    for v, visit in enumerate(visits):
        allowed = is_skilled[:, v].copy()
        if visit.pinned_engineer_id is not None:
            pinned = eng_index.get(visit.pinned_engineer_id)
            if pinned is None or not allowed[pinned]:
                dropped.append(
                    DroppedVisit(
                        visit_id=visit.id,
                        priority=visit.priority,
                        reason=DropReason.PINNED_ENGINEER_UNAVAILABLE,
                        detail=f"pinned to {visit.pinned_engineer_id}, who is not on this plan "
                        "or lacks a required skill",
                    )
                )
                continue
            allowed[:] = False
            allowed[pinned] = True
        if not allowed.any():
            dropped.append(
                DroppedVisit(
                    visit_id=visit.id,
                    priority=visit.priority,
                    reason=DropReason.NO_SKILLED_ENGINEER,
                    detail=(
                        "no engineer holds all of: " + ", ".join(sorted(visit.required_skills))
                        if visit.required_skills
                        else "only engineers on call are free, and they take other work"
                    ),
                )
            )
            continue
        if not (allowed & is_reachable[:, v]).any():
            dropped.append(
                DroppedVisit(
                    visit_id=visit.id,
                    priority=visit.priority,
                    reason=DropReason.WINDOW_UNREACHABLE,
                    detail="no skilled engineer can reach it inside its time window and "
                    "still end the shift in time, even with nothing else to do",
                )
            )
            continue
        rows.append(v)
    if seed:
        # Node order breaks ties in the search: a seed gives a different, reproducible start.
        rows = [rows[k] for k in np.random.default_rng(seed).permutation(len(rows))]

    # Route ends get their own nodes after the visits; shared homes share a node.
    end_points = sorted(set(start_point.tolist()) | set(end_point.tolist()))
    node_point = np.concatenate(
        [visit_point[np.array(rows, dtype=np.int64)], np.array(end_points, dtype=np.int64)]
    ).astype(np.int64)
    node_of_point = {p: len(rows) + k for k, p in enumerate(end_points)}
    pick = np.ix_(node_point, node_point)
    node_service = np.zeros(len(node_point), dtype=np.int64)
    node_service[: len(rows)] = service[np.array(rows, dtype=np.int64)]
    node_of_visit = {visits[r].id: k for k, r in enumerate(rows)}
    horizon = int(max(shift_end.max(), max(_latest_minute(v) for v in visits) if visits else 0))
    return CompiledProblem(
        problem=problem,
        visit_rows=rows,
        minutes=matrix.minutes[pick],
        metres=matrix.metres[pick],
        service_minutes=node_service,
        start_nodes=[node_of_point[int(p)] for p in start_point],
        end_nodes=[node_of_point[int(p)] for p in end_point],
        is_skilled=is_skilled,
        is_reachable=is_reachable,
        minutes_from_start=to_visit.astype(np.int64),
        metres_from_start=matrix.metres[np.ix_(start_point, visit_point)],
        dropped_before_solve=dropped,
        horizon_minutes=horizon,
        locked_nodes=[
            [node_of_visit[vid] for vid in chain if vid in node_of_visit]
            for chain in locked_visit_ids
        ],
        hint_routes=None
        if hint_visit_ids is None
        else [
            [node_of_visit[vid] for vid in route if vid in node_of_visit]
            for route in hint_visit_ids
        ],
    )


def _merged(windows: Sequence[TimeWindow]) -> list[tuple[int, int]]:
    """Windows sorted and joined where they overlap or touch, so gaps are real gaps."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted((w.start_minute, w.end_minute) for w in windows):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _latest_minute(visit: Visit) -> int:
    ends = [w.end_minute for w in visit.time_windows]
    return max(ends) if ends else 0


@dataclass(slots=True)
class BuiltModel:
    """An OR-Tools routing model with handles to its dimensions."""

    manager: Any
    routing: Any
    time: Any
    visit_count_dim: Any | None
    break_intervals: list[list[Any]]


def drop_penalties(compiled: CompiledProblem, arc_cost: IntArray) -> list[int]:
    """Penalty for leaving each visit node out of the plan, in objective units."""
    problem = compiled.problem
    visits = [problem.visits[r] for r in compiled.visit_rows]
    horizon = max(1, compiled.horizon_minutes)
    max_arc = int(arc_cost.max()) if arc_cost.size else 1
    # Serving any one visit adds at most two arcs; the base outweighs that.
    base = 4 * max(1, max_arc)
    penalties: list[int] = []
    for visit in visits:
        if visit.priority is Priority.CRITICAL:
            penalties.append(0)
            continue
        weight = DROP_WEIGHT[visit.priority]
        if visit.pinned_engineer_id is not None:
            weight = max(weight, DROP_WEIGHT[Priority.HIGH])
        deadline = visit.sla_deadline_minute
        # SLA closeness: due inside this plan doubles the penalty, already overdue triples it.
        if deadline is not None:
            weight *= 3 if deadline <= 0 else 2 if deadline <= horizon else 1
        lateness = LATENESS_COST_PER_MINUTE[visit.priority] * horizon
        penalties.append(weight * base + lateness + _stability_at_stake(problem, visit, horizon))
    # A critical visit outweighs every other penalty, all travel, lateness and balance put
    # together: it is dropped only when no engineer can legally serve it.
    n_arcs = len(visits) + len(problem.engineers)
    critical = (
        sum(penalties)
        + n_arcs * max(1, max_arc)
        + sum(LATENESS_COST_PER_MINUTE[Priority.CRITICAL] * horizon for _ in visits)
        + problem.balance_weight * horizon
        + sum(_stability_at_stake(problem, v, horizon) for v in visits)
        + 1
    )
    return [
        critical if v.priority is Priority.CRITICAL else p
        for v, p in zip(visits, penalties, strict=True)
    ]


def _stability_at_stake(problem: RoutingProblem, visit: Visit, horizon: int) -> int:
    """The most that moving a held visit can cost: another engineer, and its start shifted
    across the whole day. Leaving it out costs this much more than keeping it."""
    if visit.held_engineer_id is None or problem.stability_cost <= 0:
        return 0
    return problem.stability_cost + horizon


def _arc_costs_by_engineer(compiled: CompiledProblem, arc_cost: IntArray) -> list[IntArray] | None:
    """Per engineer, arc costs where arriving at a visit held by someone else costs the
    stability cost (each served visit is entered by exactly one arc, on its route); None when
    nothing is held."""
    problem = compiled.problem
    if problem.stability_cost <= 0:
        return None
    held_by: dict[str, list[int]] = {}
    for node, row in enumerate(compiled.visit_rows):
        holder = problem.visits[row].held_engineer_id
        if holder is not None:
            held_by.setdefault(holder, []).append(node)
    if not held_by:
        return None
    everyone = [n for nodes in held_by.values() for n in nodes]
    costs: list[IntArray] = []
    for engineer in problem.engineers:
        own = set(held_by.get(engineer.id, ()))
        matrix = arc_cost.copy()
        matrix[:, [n for n in everyone if n not in own]] += problem.stability_cost
        costs.append(matrix)
    return costs


def build_model(compiled: CompiledProblem) -> BuiltModel:
    """Create the OR-Tools routing model for a compiled problem."""
    problem = compiled.problem
    engineers = problem.engineers
    n_nodes = compiled.minutes.shape[0]
    n_eng = len(engineers)
    n_vis = compiled.visit_count
    visits = [problem.visits[r] for r in compiled.visit_rows]
    manager = pywrapcp.RoutingIndexManager(n_nodes, n_eng, compiled.start_nodes, compiled.end_nodes)
    routing = pywrapcp.RoutingModel(manager)
    solver = routing.solver()

    # Native matrices: evaluated in C++ without calling back into Python per arc.
    arc_cost = compiled.metres if problem.objective is Objective.DISTANCE else compiled.minutes
    costs_of = _arc_costs_by_engineer(compiled, arc_cost)
    if costs_of is None:
        cost_matrix = routing.RegisterTransitMatrix(arc_cost.tolist())
        routing.SetArcCostEvaluatorOfAllVehicles(cost_matrix)
    else:
        # Engineers who hold the same visits share one matrix.
        registered: dict[bytes, int] = {}
        for e, matrix in enumerate(costs_of):
            key = matrix.tobytes()
            if key not in registered:
                registered[key] = routing.RegisterTransitMatrix(matrix.tolist())
            routing.SetArcCostEvaluatorOfVehicle(registered[key], e)
    transit = compiled.minutes + compiled.service_minutes[:, None]
    np.fill_diagonal(transit, 0)
    time_matrix = routing.RegisterTransitMatrix(transit.tolist())

    horizon = int(
        max(
            compiled.horizon_minutes,
            max(e.shift_end_minute for e in engineers),
        )
    )
    routing.AddDimension(time_matrix, horizon, horizon, False, "time")
    time = routing.GetDimensionOrDie("time")
    for e, engineer in enumerate(engineers):
        start_var = time.CumulVar(routing.Start(e))
        start_var.SetRange(
            max(0, min(departure_minute(engineer), engineer.shift_end_minute)),
            max(0, engineer.shift_end_minute),
        )
        time.CumulVar(routing.End(e)).SetMax(max(0, engineer.shift_end_minute))

    locked = {node for chain in compiled.locked_nodes for node in chain}
    penalties = drop_penalties(compiled, arc_cost)
    eng_index = {e.id: k for k, e in enumerate(engineers)}
    for node, visit in enumerate(visits):
        index = manager.NodeToIndex(node)
        cumul = time.CumulVar(index)
        row = compiled.visit_rows[node]
        if visit.time_windows and node not in locked:
            windows = _merged(visit.time_windows)
            lo = max(0, windows[0][0])
            hi = max(lo, windows[-1][1])
            cumul.SetRange(lo, hi)
            for (_, gap_start), (gap_end, _) in itertools.pairwise(windows):
                if gap_end - 1 >= gap_start + 1:
                    cumul.RemoveInterval(gap_start + 1, gap_end - 1)
        held = visit.held_start_minute if problem.stability_cost > 0 else None
        if held is not None and visit.held_engineer_id is not None:
            # Every minute away from the held start costs one. A node takes one soft upper
            # bound: the earlier of the held start (one per minute) and the SLA deadline
            # (its lateness cost, plus one).
            time.SetCumulVarSoftLowerBound(index, max(0, held), 1)
            late = LATENESS_COST_PER_MINUTE[visit.priority]
            deadline = visit.sla_deadline_minute
            if deadline is None or held <= deadline:
                time.SetCumulVarSoftUpperBound(index, max(0, held), 1)
            else:
                time.SetCumulVarSoftUpperBound(index, max(0, deadline), late + 1)
        elif visit.sla_deadline_minute is not None:
            time.SetCumulVarSoftUpperBound(
                index,
                max(0, visit.sla_deadline_minute),
                LATENESS_COST_PER_MINUTE[visit.priority],
            )
        if node not in locked:
            routing.AddDisjunction([index], penalties[node])
        if visit.pinned_engineer_id is not None:
            allowed = [eng_index[visit.pinned_engineer_id]]
        else:
            allowed = [
                e
                for e in range(n_eng)
                if compiled.is_skilled[e, row] and compiled.is_reachable[e, row]
            ]
        if len(allowed) < n_eng:
            # SetAllowedVehiclesForIndex would say the same, but its Python binding rejects
            # every list in OR-Tools 9.15; -1 keeps the visit droppable.
            routing.VehicleVar(index).SetValues([-1, *allowed])

    demand = np.zeros(n_nodes, dtype=np.int64)
    demand[:n_vis] = [v.demand for v in visits]
    if demand.any() or any(e.capacity is not None for e in engineers):
        demand_vector = routing.RegisterUnaryTransitVector(demand.tolist())
        caps = [int(demand.sum()) if e.capacity is None else e.capacity for e in engineers]
        routing.AddDimensionWithVehicleCapacity(demand_vector, 0, caps, True, "load")

    has_sequences = any(v.sequence is not None and v.pinned_engineer_id for v in visits)
    visit_count_dim = None
    if has_sequences or any(e.max_visits is not None for e in engineers):
        ones = np.zeros(n_nodes, dtype=np.int64)
        ones[:n_vis] = 1
        count_vector = routing.RegisterUnaryTransitVector(ones.tolist())
        caps = [n_vis if e.max_visits is None else e.max_visits for e in engineers]
        routing.AddDimensionWithVehicleCapacity(count_vector, 0, caps, True, "visits")
        visit_count_dim = routing.GetDimensionOrDie("visits")

    if problem.balance_weight > 0 or any(e.max_working_minutes is not None for e in engineers):
        caps = [
            horizon if e.max_working_minutes is None else e.max_working_minutes for e in engineers
        ]
        routing.AddDimensionWithVehicleCapacity(time_matrix, 0, caps, True, "work")
        if problem.balance_weight > 0:
            # Minimising the busiest engineer's working minutes spreads the load.
            routing.GetDimensionOrDie("work").SetGlobalSpanCostCoefficient(problem.balance_weight)

    if visit_count_dim is not None and has_sequences:
        by_engineer: dict[str, list[tuple[int, int]]] = {}
        for node, visit in enumerate(visits):
            if visit.sequence is not None and visit.pinned_engineer_id is not None:
                by_engineer.setdefault(visit.pinned_engineer_id, []).append((visit.sequence, node))
        for chain in by_engineer.values():
            chain.sort()
            for (_, a), (_, b) in itertools.pairwise(chain):
                solver.Add(
                    visit_count_dim.CumulVar(manager.NodeToIndex(a))
                    < visit_count_dim.CumulVar(manager.NodeToIndex(b))
                )

    for e, locked_chain in enumerate(compiled.locked_nodes):
        previous = routing.Start(e)
        for node in locked_chain:
            index = manager.NodeToIndex(node)
            routing.NextVar(previous).SetValue(index)
            previous = index

    break_intervals: list[list[Any]] = [[] for _ in engineers]
    if any(e.breaks for e in engineers):
        # Breaks never cut into work on site; they may fall while driving or waiting.
        visit_transits = [
            int(compiled.service_minutes[manager.IndexToNode(i)]) if not routing.IsEnd(i) else 0
            for i in range(routing.Size())
        ]
        for e, engineer in enumerate(engineers):
            for k, brk in enumerate(engineer.breaks):
                interval = solver.FixedDurationIntervalVar(
                    max(0, brk.earliest_start_minute),
                    max(0, brk.latest_start_minute),
                    brk.duration_minutes,
                    False,
                    f"break {engineer.id} {k}",
                )
                break_intervals[e].append(interval)
            if break_intervals[e]:
                time.SetBreakIntervalsOfVehicle(break_intervals[e], e, visit_transits)

    return BuiltModel(
        manager=manager,
        routing=routing,
        time=time,
        visit_count_dim=visit_count_dim,
        break_intervals=break_intervals,
    )
