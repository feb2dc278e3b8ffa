"""A fast first plan of our own for large days, to start the OR-Tools search from.

OR-Tools' insertion heuristics try every visit at every position of every route; on a day of
1 000 visits and 100 engineers they may not finish inside a ten-second budget, and then the
dispatcher gets no plan at all. This construction grows all routes at once, time-ordered: the
engineer who is free earliest takes the cheapest next visit they can legally serve (travel and
waiting, with a head start for urgent work). Each step is a handful of numpy operations over
all visits, so a 1 000-visit day is built in well under a second. The search then improves it.

Every rule of the model is kept, so OR-Tools accepts the routes as a first solution: skills,
pins, windows, breaks (never during work on site), shift end, visit and working-minute caps
and load. Visits with a fixed sequence and locked chains are left to the search.
"""

from __future__ import annotations

import heapq
import time as clock

import numpy as np
import numpy.typing as npt

from dispatch.solver.build import CompiledProblem, departure_minute
from dispatch.solver.model import Engineer, Priority, ShiftBreak, Visit


def held_routes(
    compiled: CompiledProblem, locked: list[list[int]] | None = None
) -> list[list[int]] | None:
    """The day as engineers hold it, as a start for the search: per engineer, the visits they
    hold in held-start order after any locked chain, leaving out each one that would break a
    rule (a held day may be overbooked, or its engineer may lack a skill now). None when
    nothing is held."""
    problem = compiled.problem
    if not any(problem.visits[r].held_engineer_id is not None for r in compiled.visit_rows):
        return None
    chains = locked if locked is not None else compiled.locked_nodes
    in_chain = {n for chain in chains for n in chain}
    eng_index = {e.id: k for k, e in enumerate(problem.engineers)}
    held: list[list[tuple[int, int]]] = [[] for _ in problem.engineers]
    for node, row in enumerate(compiled.visit_rows):
        visit = problem.visits[row]
        e = eng_index.get(visit.held_engineer_id or "")
        if e is None or node in in_chain:
            continue
        if visit.pinned_engineer_id not in (None, visit.held_engineer_id):
            continue
        if not (compiled.is_skilled[e, row] and compiled.is_reachable[e, row]):
            continue
        held[e].append((visit.held_start_minute or 0, node))
    routes: list[list[int]] = []
    for e, items in enumerate(held):
        route = list(chains[e]) if e < len(chains) else []
        for _, node in sorted(items):
            if _route_minutes(compiled, e, [*route, node]) is not None:
                route.append(node)
        routes.append(route)
    return routes


# Minutes of travel and waiting an engineer accepts to take urgent work first.
HEAD_START_MINUTES = {
    Priority.LOW: -30,
    Priority.NORMAL: 0,
    Priority.HIGH: 45,
    Priority.CRITICAL: 240,
}
_IMPORTANCE = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2, Priority.CRITICAL: 3}
_NEVER = np.iinfo(np.int64).max // 4


def greedy_routes(
    compiled: CompiledProblem, *, fill_s: float = 1.0, repair_s: float = 5.0
) -> list[list[int]]:
    """Visit nodes per engineer, in route order, for a feasible first plan.

    Left-out critical visits are fitted until ``repair_s`` after the start (making room can
    take a while on an overbooked day), then other left-out visits until ``fill_s``.
    """
    began = clock.monotonic()
    problem = compiled.problem
    engineers = problem.engineers
    n_vis = compiled.visit_count
    visits = [problem.visits[r] for r in compiled.visit_rows]
    routes: list[list[int]] = [[] for _ in engineers]
    if n_vis == 0:
        return routes
    rows = np.array(compiled.visit_rows, dtype=np.int64)
    allowed = compiled.is_skilled[:, rows] & compiled.is_reachable[:, rows]
    eng_index = {e.id: k for k, e in enumerate(engineers)}
    open_ = np.ones(n_vis, dtype=np.bool_)
    for node, visit in enumerate(visits):
        if visit.pinned_engineer_id is not None:
            allowed[:, node] = False
            if visit.sequence is None:
                allowed[eng_index[visit.pinned_engineer_id], node] = True
        if visit.sequence is not None and visit.pinned_engineer_id is not None:
            open_[node] = False

    # Windows as a padded (visits x k) pair of arrays; no window means the whole horizon.
    k_max = max(1, max(len(v.time_windows) for v in visits))
    w_start = np.full((n_vis, k_max), _NEVER, dtype=np.int64)
    w_end = np.full((n_vis, k_max), -1, dtype=np.int64)
    for node, visit in enumerate(visits):
        if not visit.time_windows:
            w_start[node, 0], w_end[node, 0] = 0, _NEVER
        for k, w in enumerate(visit.time_windows):
            w_start[node, k], w_end[node, k] = w.start_minute, w.end_minute
    service = compiled.service_minutes[:n_vis]
    demand = np.array([v.demand for v in visits], dtype=np.int64)
    head_start = np.array([HEAD_START_MINUTES[v.priority] for v in visits], dtype=np.int64)
    deadline = np.array(
        [_NEVER if v.sla_deadline_minute is None else v.sla_deadline_minute for v in visits],
        dtype=np.int64,
    )
    minutes = compiled.minutes

    # Engineer state: where, from when, what is used, which break comes next.
    now = [departure_minute(e) for e in engineers]
    at = list(compiled.start_nodes)
    worked = [0] * len(engineers)
    load = [0] * len(engineers)
    next_break = [0] * len(engineers)
    breaks_of = [_breaks_ahead(e) for e in engineers]
    queue = [(now[e], e) for e in range(len(engineers))]
    heapq.heapify(queue)
    while queue:
        _, e = heapq.heappop(queue)
        engineer = engineers[e]
        candidates = open_ & allowed[e]
        if engineer.max_visits is not None and len(routes[e]) >= engineer.max_visits:
            continue
        if engineer.capacity is not None:
            candidates &= load[e] + demand <= engineer.capacity
        if not candidates.any():
            continue
        travel = minutes[at[e], :n_vis]
        owed = breaks_of[e][next_break[e] :]
        pending = owed[0] if owed else None
        # Without a break first: arrive, wait for a window, work.
        start = _window_start(now[e] + travel, w_start, w_end)
        end = start + service
        take_break = np.zeros(n_vis, dtype=np.bool_)
        if pending is not None:
            # The work must end by the break's latest start, or the break comes first: from
            # when it may start, before driving on.
            break_at = max(now[e], pending.earliest_start_minute)
            must_break = end > pending.latest_start_minute
            if break_at <= pending.latest_start_minute:
                after = _window_start(break_at + pending.duration_minutes + travel, w_start, w_end)
                start = np.where(must_break, after, start)
                take_break = must_break
            else:
                start = np.where(must_break, _NEVER, start)
            end = start + service
        back = minutes[:n_vis, compiled.end_nodes[e]]
        # After the visit, every break still owed must fit (each by its latest start, one
        # after the other) before the drive home.
        after_breaks = end.copy()
        breaks_fit = np.ones(n_vis, dtype=np.bool_)
        for k, brk in enumerate(owed):
            begin = np.maximum(after_breaks, brk.earliest_start_minute)
            taken_before = take_break if k == 0 else np.zeros(n_vis, dtype=np.bool_)
            breaks_fit &= taken_before | (begin <= brk.latest_start_minute)
            after_breaks = np.where(taken_before, after_breaks, begin + brk.duration_minutes)
        home = after_breaks + back
        candidates &= breaks_fit
        fits = candidates & (start < _NEVER) & (home <= engineer.shift_end_minute)
        if engineer.max_working_minutes is not None:
            fits &= worked[e] + travel + service + back <= engineer.max_working_minutes
        if not fits.any():
            continue
        late = np.maximum(0, start - deadline)
        score = (start - now[e]) - head_start + late
        score = np.where(fits, score, _NEVER)
        node = int(np.argmin(score))
        routes[e].append(node)
        open_[node] = False
        worked[e] += int(travel[node] + service[node])
        load[e] += int(demand[node])
        if take_break[node]:
            next_break[e] += 1
        at[e] = node
        now[e] = int(end[node])
        heapq.heappush(queue, (now[e], e))
    _repair_critical(compiled, visits, routes, allowed, open_, began + repair_s)
    _fill_gaps(compiled, visits, routes, allowed, open_, began + fill_s)
    return routes


# Fitting a left-out visit tries the routes of this many nearest allowed engineers.
_FILL_ENGINEERS = 8


def _fill_gaps(
    compiled: CompiledProblem,
    visits: list[Visit],
    routes: list[list[int]],
    allowed: npt.NDArray[np.bool_],
    open_: npt.NDArray[np.bool_],
    deadline: float,
) -> None:
    """Fit left-out visits, most important first, at their cheapest legal place.

    Growing routes in time order leaves gaps (waiting for a window, an early finish) that a
    visit far from the route's last stop could use. Each visit tries the routes of the
    nearest engineers allowed to serve it, while time is left.
    """
    room = [10**9 if e.max_visits is None else e.max_visits for e in compiled.problem.engineers]
    left_out = sorted(
        (int(n) for n in np.flatnonzero(open_)), key=lambda n: (-_IMPORTANCE[visits[n].priority], n)
    )
    for node in left_out:
        if clock.monotonic() > deadline:
            return
        candidates = [
            e
            for e in (int(k) for k in np.flatnonzero(allowed[:, node]))
            if len(routes[e]) < room[e]
        ]
        if not candidates:
            continue
        # Nearest by the closest point of each route (its start or any stop).
        near = sorted(
            candidates,
            key=lambda e: int(compiled.minutes[[compiled.start_nodes[e], *routes[e]], node].min()),
        )[:_FILL_ENGINEERS]
        best = _cheapest_insertion(compiled, routes, node, near)
        if best is not None:
            routes[best[1]] = best[2]
            open_[node] = False


def _cheapest_insertion(
    compiled: CompiledProblem, routes: list[list[int]], node: int, engineers: list[int]
) -> tuple[int, int, list[int]] | None:
    """(added minutes, engineer, new route) of the cheapest legal place for ``node``."""
    best: tuple[int, int, list[int]] | None = None
    for e in engineers:
        base = _route_minutes(compiled, e, routes[e])
        if base is None:
            continue
        for pos in range(len(routes[e]) + 1):
            trial = [*routes[e][:pos], node, *routes[e][pos:]]
            cost = _route_minutes(compiled, e, trial)
            if cost is not None and (best is None or cost - base < best[0]):
                best = (cost - base, e, trial)
    return best


def _repair_critical(
    compiled: CompiledProblem,
    visits: list[Visit],
    routes: list[list[int]],
    allowed: npt.NDArray[np.bool_],
    open_: npt.NDArray[np.bool_],
    deadline: float,
) -> None:
    """Fit every critical visit the routes left out, making room by leaving out cheaper work.

    The time-ordered growth can fill a rare skill's engineers before a critical visit's window
    opens. Each left-out critical visit goes to its cheapest legal position; failing that, it
    replaces the least important non-critical visit whose removal makes it fit.
    """
    for node in (int(n) for n in np.flatnonzero(open_)):
        if visits[node].priority is not Priority.CRITICAL:
            continue
        if clock.monotonic() > deadline:
            return
        allowed_engineers = [int(k) for k in np.flatnonzero(allowed[:, node])]
        best = _cheapest_insertion(compiled, routes, node, allowed_engineers)
        if best is None:
            best = _make_room(compiled, visits, routes, allowed, node)
        if best is not None:
            _, e, trial = best
            for dropped in set(routes[e]) - set(trial):
                open_[dropped] = True
            routes[e] = trial
            open_[node] = False


def _make_room(
    compiled: CompiledProblem,
    visits: list[Visit],
    routes: list[list[int]],
    allowed: npt.NDArray[np.bool_],
    node: int,
) -> tuple[int, int, list[int]] | None:
    """The cheapest route that takes ``node`` in place of one less important visit."""
    best: tuple[tuple[int, int], int, list[int]] | None = None
    for e in (int(k) for k in np.flatnonzero(allowed[:, node])):
        route = routes[e]
        for out in range(len(route)):
            loser = visits[route[out]].priority
            if loser is Priority.CRITICAL:
                continue
            rest = route[:out] + route[out + 1 :]
            for pos in range(len(rest) + 1):
                trial = [*rest[:pos], node, *rest[pos:]]
                cost = _route_minutes(compiled, e, trial)
                if cost is not None and (best is None or (_IMPORTANCE[loser], cost) < best[0]):
                    best = ((_IMPORTANCE[loser], cost), e, trial)
    return None if best is None else (best[0][1], best[1], best[2])


def _route_minutes(compiled: CompiledProblem, e: int, route: list[int]) -> int | None:
    """Travel and waiting minutes of a route, or None when it breaks a rule.

    The same rules as the construction: work starts inside a window, a break is taken before
    a visit that would end after the break's latest start, or on the way home.
    """
    engineer = compiled.problem.engineers[e]
    visits = compiled.problem.visits
    if engineer.max_visits is not None and len(route) > engineer.max_visits:
        return None
    minutes = compiled.minutes
    now = departure_minute(engineer)
    breaks = _breaks_ahead(engineer)
    at = compiled.start_nodes[e]
    worked = 0
    idle = 0
    load = 0
    for node in route:
        visit = visits[compiled.visit_rows[node]]
        travel = int(minutes[at, node])
        service = int(compiled.service_minutes[node])
        start = _first_start(visit, now + travel)
        if start is not None and breaks and start + service > breaks[0].latest_start_minute:
            brk = breaks.pop(0)
            break_at = max(now, brk.earliest_start_minute)
            if break_at > brk.latest_start_minute:
                return None
            start = _first_start(visit, break_at + brk.duration_minutes + travel)
        if start is None:
            return None
        idle += start - now - travel
        worked += travel + service
        load += visit.demand
        now = start + service
        at = node
    back = int(minutes[at, compiled.end_nodes[e]])
    worked += back
    for brk in breaks:
        if now > brk.latest_start_minute:
            return None
        now = max(now, brk.earliest_start_minute) + brk.duration_minutes
    if now + back > engineer.shift_end_minute:
        return None
    if engineer.max_working_minutes is not None and worked > engineer.max_working_minutes:
        return None
    if engineer.capacity is not None and load > engineer.capacity:
        return None
    return worked + idle


def _breaks_ahead(engineer: Engineer) -> list[ShiftBreak]:
    """The engineer's breaks in order, without those that must start before the route does
    (OR-Tools places them before the start)."""
    departure = departure_minute(engineer)
    return sorted(
        (b for b in engineer.breaks if b.latest_start_minute >= departure),
        key=lambda b: b.earliest_start_minute,
    )


def _first_start(visit: Visit, arrival: int) -> int | None:
    if not visit.time_windows:
        return arrival
    starts = [
        max(arrival, w.start_minute)
        for w in visit.time_windows
        if max(arrival, w.start_minute) <= w.end_minute
    ]
    return min(starts) if starts else None


def _window_start(arrival: np.ndarray, w_start: np.ndarray, w_end: np.ndarray) -> np.ndarray:
    """Earliest start inside any window from each arrival; _NEVER where none fits."""
    begin = np.maximum(arrival[:, None], w_start)
    begin = np.where(begin <= w_end, begin, _NEVER)
    return np.asarray(begin.min(axis=1), dtype=np.int64)
