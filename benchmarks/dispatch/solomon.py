"""Solomon VRPTW benchmark: the solver core against best-known values and stock OR-Tools.

Run ``python -m benchmarks.dispatch.solomon [--time-limit 10] [--only C101,R101]``.
Distances follow the DIMACS convention: every edge is ``floor(10 * d)`` tenths for both
distance and travel time, and totals are compared with ``dimacs_distance``.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from dispatch.solver import (
    Engineer,
    Location,
    MatrixTravel,
    NoPlanFound,
    Objective,
    RoutePlan,
    RoutingProblem,
    SearchSettings,
    TimeWindow,
    Visit,
    solve,
)
from dispatch.solver.model import ITERATED_LOCAL_SEARCH

DATA_DIR = Path(os.environ.get("FIELDLINE_VRP_DIR", "/work/shared/vrp"))
FAMILIES = ("C1", "C2", "R1", "R2", "RC1", "RC2")


@dataclass(frozen=True, slots=True)
class Instance:
    """A Solomon instance in DIMACS integer units (tenths)."""

    name: str
    vehicles: int
    capacity: int
    xy: npt.NDArray[np.float64]
    demand: list[int]
    ready: list[int]
    due: list[int]
    service: list[int]
    tenths: npt.NDArray[np.int64]

    @property
    def family(self) -> str:
        """C1, C2, R1, R2, RC1 or RC2."""
        return self.name[:-2]


def load_instance(name: str) -> Instance:
    """Read a Solomon text file; times and distances become integer tenths."""
    lines = (DATA_DIR / "solomon" / f"{name}.txt").read_text().splitlines()
    vehicles, capacity = (int(x) for x in lines[4].split())
    rows = [[float(x) for x in line.split()] for line in lines[9:] if line.strip()]
    data = np.array(rows)
    xy = data[:, 1:3]
    euclid = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(axis=2))
    # The epsilon keeps exact integers (e.g. 5.0 * 10) from flooring one tenth down.
    tenths = np.floor(10 * euclid + 1e-9).astype(np.int64)
    return Instance(
        name=name,
        vehicles=vehicles,
        capacity=capacity,
        xy=xy,
        demand=[int(x) for x in data[:, 3]],
        ready=[round(10 * x) for x in data[:, 4]],
        due=[round(10 * x) for x in data[:, 5]],
        service=[round(10 * x) for x in data[:, 6]],
        tenths=tenths,
    )


def best_known() -> dict[str, float | None]:
    """DIMACS distance-only best-known totals; None where the table has none."""
    with (DATA_DIR / "solomon_bks.csv").open() as f:
        return {
            row["instance"]: float(row["dimacs_distance"]) if row["dimacs_distance"] else None
            for row in csv.DictReader(f)
        }


def as_problem(instance: Instance) -> tuple[RoutingProblem, MatrixTravel]:
    """The instance as a routing problem: vehicles are engineers without skills."""
    # Coordinates only key the given matrix; they are not read as degrees.
    points = [Location(lat=float(x), lon=float(y)) for x, y in instance.xy]
    engineers = tuple(
        Engineer(
            id=f"vehicle-{k}",
            start_location=points[0],
            shift_start_minute=instance.ready[0],
            shift_end_minute=instance.due[0],
            capacity=instance.capacity,
        )
        for k in range(instance.vehicles)
    )
    visits = tuple(
        Visit(
            id=str(i),
            location=points[i],
            service_minutes=instance.service[i],
            time_windows=(TimeWindow(start_minute=instance.ready[i], end_minute=instance.due[i]),),
            demand=instance.demand[i],
        )
        for i in range(1, len(points))
    )
    problem = RoutingProblem(
        engineers=engineers, visits=visits, objective=Objective.DISTANCE, balance_weight=0
    )
    travel = MatrixTravel(locations=points, minutes=instance.tenths, metres=instance.tenths)
    return problem, travel


def check_routes(instance: Instance, routes: Sequence[Sequence[int]]) -> tuple[int, str | None]:
    """Total tenths of the routes, and what breaks feasibility if anything does."""
    seen: set[int] = set()
    total = 0
    for route in routes:
        if not route:
            continue
        t = instance.ready[0]
        load = 0
        previous = 0
        for customer in route:
            t = max(t + instance.tenths[previous, customer], instance.ready[customer])
            if t > instance.due[customer]:
                return total, f"customer {customer} starts late"
            t += instance.service[customer]
            load += instance.demand[customer]
            total += int(instance.tenths[previous, customer])
            seen.add(customer)
            previous = customer
        total += int(instance.tenths[previous, 0])
        if t + instance.tenths[previous, 0] > instance.due[0]:
            return total, "route returns after the depot closes"
        if load > instance.capacity:
            return total, "load above capacity"
    if len(seen) != len(instance.demand) - 1:
        return total, f"{len(instance.demand) - 1 - len(seen)} customers unserved"
    return total, None


@dataclass(frozen=True, slots=True)
class Result:
    """One solver's outcome on one instance."""

    vehicles: int | None
    distance: float | None
    seconds: float
    problem: str | None = None


def run_core(instance: Instance, time_limit_s: float, search: SearchSettings, seed: int) -> Result:
    """Solve with the fieldline core and check the plan independently."""
    problem, travel = as_problem(instance)
    started = time.monotonic()
    try:
        plan: RoutePlan = solve(
            problem, time_limit_s=time_limit_s, seed=seed, travel=travel, search=search
        )
    except NoPlanFound:
        return Result(vehicles=None, distance=None, seconds=time.monotonic() - started)
    seconds = time.monotonic() - started
    routes = [[int(s.visit_id) for s in r.stops] for r in plan.routes]
    total, problem_text = check_routes(instance, routes)
    return Result(
        vehicles=sum(1 for r in routes if r),
        distance=total / 10,
        seconds=seconds,
        problem=problem_text,
    )


def run_stock(instance: Instance, time_limit_s: float) -> Result:
    """Solve as a newcomer would from the OR-Tools guide: Python callbacks, PCA + GLS."""
    n = len(instance.demand)
    manager = pywrapcp.RoutingIndexManager(n, instance.vehicles, 0)
    routing = pywrapcp.RoutingModel(manager)
    dist = instance.tenths.tolist()

    def distance_cb(i: int, j: int) -> int:
        return int(dist[manager.IndexToNode(i)][manager.IndexToNode(j)])

    def time_cb(i: int, j: int) -> int:
        a = manager.IndexToNode(i)
        return int(dist[a][manager.IndexToNode(j)] + instance.service[a])

    def demand_cb(i: int) -> int:
        return int(instance.demand[manager.IndexToNode(i)])

    routing.SetArcCostEvaluatorOfAllVehicles(routing.RegisterTransitCallback(distance_cb))
    horizon = instance.due[0]
    routing.AddDimension(routing.RegisterTransitCallback(time_cb), horizon, horizon, False, "T")
    dim = routing.GetDimensionOrDie("T")
    for customer in range(1, n):
        dim.CumulVar(manager.NodeToIndex(customer)).SetRange(
            instance.ready[customer], instance.due[customer]
        )
    routing.AddDimensionWithVehicleCapacity(
        routing.RegisterUnaryTransitCallback(demand_cb),
        0,
        [instance.capacity] * instance.vehicles,
        True,
        "C",
    )
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    params.time_limit.FromMilliseconds(round(time_limit_s * 1000))
    started = time.monotonic()
    solution = routing.SolveWithParameters(params)
    seconds = time.monotonic() - started
    if solution is None:
        return Result(vehicles=None, distance=None, seconds=seconds)
    routes = []
    for v in range(instance.vehicles):
        index = solution.Value(routing.NextVar(routing.Start(v)))
        route = []
        while not routing.IsEnd(index):
            route.append(manager.IndexToNode(index))
            index = solution.Value(routing.NextVar(index))
        routes.append(route)
    total, problem_text = check_routes(instance, routes)
    return Result(
        vehicles=sum(1 for r in routes if r),
        distance=total / 10,
        seconds=seconds,
        problem=problem_text,
    )


def gap(found: float | None, best: float | None) -> float | None:
    """Percent above the best-known value."""
    if found is None or best is None:
        return None
    return 100.0 * (found - best) / best


def _fmt(value: float | None, spec: str) -> str:
    if value is None:
        width = int("".join(c for c in spec.split(".")[0] if c.isdigit()) or 0)
        return "-".rjust(width)
    return format(value, spec)


def all_instances() -> list[str]:
    """Names of the instances in the data folder, in family order."""
    names = sorted(p.stem for p in (DATA_DIR / "solomon").glob("*.txt"))
    return sorted(names, key=lambda n: (FAMILIES.index(n[:-2]), n))


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def main(argv: Sequence[str] | None = None) -> None:
    """Print the benchmark table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--time-limit", type=float, default=10.0, help="seconds per instance")
    parser.add_argument("--only", default="", help="comma-separated instances, e.g. C101,R101")
    parser.add_argument("--workers", type=int, default=2, help="processes per solve")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--first-solution", default=SearchSettings().first_solution)
    parser.add_argument("--metaheuristic", default=SearchSettings().metaheuristic)
    parser.add_argument(
        "--gls-lambda", type=float, default=SearchSettings().guided_local_search_lambda
    )
    parser.add_argument("--ruin-visits", type=int, default=SearchSettings().ruin_visits)
    parser.add_argument("--no-stock", action="store_true", help="skip stock OR-Tools")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or all_instances()
    search = SearchSettings(
        first_solution=args.first_solution,
        metaheuristic=args.metaheuristic,
        guided_local_search_lambda=args.gls_lambda,
        ruin_visits=args.ruin_visits,
        workers=args.workers,
    )
    bks = best_known()
    print(
        f"Solomon VRPTW, DIMACS floor(10d) distances, {args.time_limit:g} s per instance; "
        f"core: {search.first_solution} + {search.metaheuristic} "
        f"(ruin {search.ruin_visits} visits; lambda {search.guided_local_search_lambda:g}), "
        f"{search.workers} worker(s){_second_worker(search)}, "
        f"seed {args.seed}; stock: PATH_CHEAPEST_ARC + GUIDED_LOCAL_SEARCH with callbacks"
    )
    header = (
        f"{'instance':<8} {'best':>8} | {'veh':>3} {'distance':>9} {'gap%':>6} {'s':>5} | "
        f"{'veh':>3} {'stock':>9} {'gap%':>6} {'s':>5}"
    )
    print(header)
    print("-" * len(header))
    ours: dict[str, Result] = {}
    stock: dict[str, Result] = {}
    for name in names:
        instance = load_instance(name)
        ours[name] = run_core(instance, args.time_limit, search, args.seed)
        if not args.no_stock:
            stock[name] = run_stock(instance, args.time_limit)
        o = ours[name]
        s = stock.get(name, Result(vehicles=None, distance=None, seconds=0.0))
        flag = f"  !{o.problem}" if o.problem else ""
        flag += f"  stock!{s.problem}" if s.problem else ""
        print(
            f"{name:<8} {_fmt(bks.get(name), '8.1f')} | {_fmt(o.vehicles, '3d')} "
            f"{_fmt(o.distance, '9.1f')} {_fmt(gap(o.distance, bks.get(name)), '6.2f')} "
            f"{o.seconds:5.1f} | {_fmt(s.vehicles, '3d')} {_fmt(s.distance, '9.1f')} "
            f"{_fmt(gap(s.distance, bks.get(name)), '6.2f')} {s.seconds:5.1f}{flag}",
            flush=True,
        )
    _summary(names, ours, stock, bks, has_stock=not args.no_stock)


def _second_worker(search: SearchSettings) -> str:
    if search.workers < 2 or search.metaheuristic != ITERATED_LOCAL_SEARCH:
        return ""
    return " (the second runs GUIDED_LOCAL_SEARCH)"


def _valid_gap(result: Result | None, best: float | None) -> float | None:
    if result is None or result.problem is not None:
        return None
    return gap(result.distance, best)


def _summary(
    names: Sequence[str],
    ours: dict[str, Result],
    stock: dict[str, Result],
    bks: dict[str, float | None],
    *,
    has_stock: bool,
) -> None:
    print()
    print(
        f"{'family':<8} {'n':>3} {'core gap%':>10} {'stock gap%':>11} "
        f"{'core gap% where stock has a plan':>33}"
    )
    groups = [(f, [n for n in names if n[:-2] == f]) for f in FAMILIES]
    groups.append(("all", list(names)))
    for family, members in groups:
        if not members:
            continue
        core_gaps = [g for n in members if (g := _valid_gap(ours[n], bks.get(n))) is not None]
        stock_gaps = [g for n in members if (g := _valid_gap(stock.get(n), bks.get(n))) is not None]
        paired = [
            g
            for n in members
            if _valid_gap(stock.get(n), bks.get(n)) is not None
            and (g := _valid_gap(ours[n], bks.get(n))) is not None
        ]
        print(
            f"{family:<8} {len(core_gaps):>3} {_fmt(_mean(core_gaps), '10.2f')} "
            f"{_fmt(_mean(stock_gaps), '11.2f')} {_fmt(_mean(paired), '33.2f')}"
        )
    no_plan = [n for n in names if ours[n].distance is None or ours[n].problem]
    print(f"core: no valid plan on {len(no_plan)} instance(s): {', '.join(no_plan) or 'none'}")
    if has_stock:
        stock_none = [n for n in names if stock[n].distance is None or stock[n].problem]
        print(
            f"stock: no valid plan on {len(stock_none)} instance(s): "
            f"{', '.join(stock_none) or 'none'}"
        )
        paired_names = [
            n
            for n in names
            if _valid_gap(stock[n], bks.get(n)) is not None
            and _valid_gap(ours[n], bks.get(n)) is not None
        ]
        if paired_names:
            core_mean = statistics.fmean(
                _valid_gap(ours[n], bks.get(n)) or 0.0 for n in paired_names
            )
            stock_mean = statistics.fmean(
                _valid_gap(stock[n], bks.get(n)) or 0.0 for n in paired_names
            )
            ratio = core_mean / stock_mean if stock_mean else math.nan
            print(
                f"on the {len(paired_names)} instances where both have a plan: core "
                f"{core_mean:.2f} % vs stock {stock_mean:.2f} % (core/stock = {ratio:.2f})"
            )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
