"""Generated field-service days: plan quality, solve time and re-plan latency.

Run ``python -m benchmarks.dispatch.field_days [--time-limit 10] [--sizes 15x100,30x200]``.
The last table re-drafts a settled day (every visit held by the engineer the first plan gave
it) after one engineer falls ill, with locks and ten new visits: moved visits, double-bookings
(checked on intervals, must be 0) and served.
Days are seeded: a city about 30 km across, engineers with skill mixes and lunch breaks,
visits with windows, priorities and SLA deadlines. The last column is the search's status;
``start_kept`` means the search found nothing better than our own construction in time.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec
import numpy as np

from dispatch.solver import (
    DropReason,
    Engineer,
    EngineerProgress,
    HaversineTravel,
    Location,
    Priority,
    RoutePlan,
    RoutingProblem,
    SearchSettings,
    ShiftBreak,
    TimeWindow,
    Visit,
    replan,
    solve,
)

CITY = Location(lat=50.11, lon=8.68)
CITY_RADIUS_KM = 15.0
SKILLS = ("hvac", "electrical", "plumbing", "lift", "gas")
TRAVEL = HaversineTravel(road_factor=1.35, speed_kmh=28.0)
PRIORITIES = (Priority.LOW, Priority.NORMAL, Priority.HIGH, Priority.CRITICAL)
PRIORITY_SHARE = (0.10, 0.60, 0.22, 0.08)


def _point(rng: np.random.Generator, radius_km: float = CITY_RADIUS_KM) -> Location:
    r = radius_km * float(np.sqrt(rng.random()))
    angle = 2 * np.pi * float(rng.random())
    north, east = r * np.cos(angle), r * np.sin(angle)
    return Location(
        lat=round(CITY.lat + north / 111.2, 6),
        lon=round(CITY.lon + east / (111.2 * np.cos(np.radians(CITY.lat))), 6),
    )


def generate_day(
    engineer_count: int, visit_count: int, seed: int, balance_weight: int = 1
) -> RoutingProblem:
    """A realistic, reproducible day for the given team and workload."""
    rng = np.random.default_rng(seed)
    engineers = []
    for k in range(engineer_count):
        count = int(rng.choice([1, 2, 3], p=[0.3, 0.5, 0.2]))
        skills = frozenset(str(s) for s in rng.choice(SKILLS, size=count, replace=False))
        early = bool(rng.random() < 0.3)
        start = 7 * 60 if early else 8 * 60
        engineers.append(
            Engineer(
                id=f"eng-{k:03d}",
                start_location=_point(rng),
                shift_start_minute=start,
                shift_end_minute=start + 9 * 60,
                skills=skills,
                breaks=(
                    ShiftBreak(
                        earliest_start_minute=12 * 60 - 30,
                        latest_start_minute=13 * 60 + 30,
                        duration_minutes=30,
                    ),
                ),
                max_visits=10,
                max_working_minutes=8 * 60,
            )
        )
    held = {s for e in engineers for s in e.skills}
    visits = []
    for k in range(visit_count):
        priority = PRIORITIES[int(rng.choice(4, p=PRIORITY_SHARE))]
        needs = frozenset({str(rng.choice(sorted(held)))}) if rng.random() < 0.7 else frozenset()
        draw = rng.random()
        windows: tuple[TimeWindow, ...] = ()
        if draw < 0.3:
            windows = (
                TimeWindow(start_minute=8 * 60, end_minute=12 * 60)
                if rng.random() < 0.5
                else TimeWindow(start_minute=12 * 60, end_minute=16 * 60),
            )
        elif draw < 0.5:
            slot = int(rng.integers(8, 15)) * 60
            windows = (TimeWindow(start_minute=slot, end_minute=slot + 120),)
        deadline = None
        if priority is Priority.CRITICAL:
            deadline = 8 * 60 + int(rng.integers(90, 300))
        elif priority is Priority.HIGH and rng.random() < 0.5:
            deadline = 8 * 60 + int(rng.integers(180, 480))
        visits.append(
            Visit(
                id=f"v-{k:04d}",
                location=_point(rng),
                service_minutes=int(rng.choice([30, 45, 60, 90], p=[0.3, 0.35, 0.25, 0.1])),
                time_windows=windows,
                required_skills=needs,
                priority=priority,
                sla_deadline_minute=deadline,
            )
        )
    return RoutingProblem(
        engineers=tuple(engineers), visits=tuple(visits), balance_weight=balance_weight
    )


@dataclass(frozen=True, slots=True)
class DayFigures:
    """What a dispatcher would look at for one planned day."""

    seconds: float
    served: int
    dropped: int
    critical: int
    critical_dropped: int
    critical_dropped_capacity: int
    on_time_percent: float
    travel_km: float
    imbalance_minutes: int
    mean_utilisation: float


def figures(problem: RoutingProblem, plan: RoutePlan, seconds: float) -> DayFigures:
    """Summarise a plan."""
    used = [r.utilisation_percent for r in plan.routes]
    return DayFigures(
        seconds=seconds,
        served=plan.metrics.served_count,
        dropped=plan.metrics.dropped_count,
        critical=sum(1 for v in problem.visits if v.priority is Priority.CRITICAL),
        critical_dropped=plan.metrics.dropped_critical_count,
        critical_dropped_capacity=sum(
            1
            for d in plan.dropped
            if d.priority is Priority.CRITICAL and d.reason is DropReason.CAPACITY
        ),
        on_time_percent=plan.metrics.on_time_percent,
        travel_km=plan.metrics.travel_km,
        imbalance_minutes=plan.metrics.imbalance_minutes,
        mean_utilisation=statistics.fmean(used) if used else 0.0,
    )


def running_day(
    problem: RoutingProblem, plan: RoutePlan, now: int, urgent: Sequence[Visit]
) -> tuple[RoutingProblem, list[EngineerProgress]]:
    """The day at minute ``now``: progress per engineer and the urgent visits added."""
    visits = {v.id: v for v in problem.visits}
    progress = []
    for route in plan.routes:
        engineer = next(e for e in problem.engineers if e.id == route.engineer_id)
        done = [s for s in route.stops if s.end_minute <= now]
        on_site = [s for s in route.stops if s.start_minute <= now < s.end_minute]
        where = engineer.start_location
        if on_site:
            where = visits[on_site[0].visit_id].location
            # The service passes the minutes still to work on a started visit.
            visits[on_site[0].visit_id] = msgspec.structs.replace(
                visits[on_site[0].visit_id], service_minutes=on_site[0].end_minute - now
            )
        elif done:
            where = visits[done[-1].visit_id].location
        progress.append(
            EngineerProgress(
                engineer_id=route.engineer_id,
                current_location=where,
                available_from_minute=now,
                done_visit_ids=tuple(s.visit_id for s in done),
                started_visit_ids=tuple(s.visit_id for s in on_site),
            )
        )
    updated = msgspec.structs.replace(problem, visits=(*visits.values(), *urgent))
    return updated, progress


def urgent_visits(problem: RoutingProblem, now: int, count: int, seed: int) -> list[Visit]:
    """New critical jobs phoned in at ``now``."""
    rng = np.random.default_rng(seed + 10_000)
    held = sorted({s for e in problem.engineers for s in e.skills})
    return [
        Visit(
            id=f"urgent-{k}",
            location=_point(rng),
            service_minutes=45,
            required_skills=frozenset({str(rng.choice(held))}),
            priority=Priority.CRITICAL,
            sla_deadline_minute=now + 120,
        )
        for k in range(count)
    ]


def held_day(
    problem: RoutingProblem, plan: RoutePlan, seed: int, *, absent: int = 1, new: int = 10
) -> tuple[RoutingProblem, set[str]]:
    """The planned day as engineers hold it, with ``absent`` engineers off sick, two visits
    locked (one to its engineer, one to its time) and ``new`` visits phoned in; and the ids
    of the locked visits."""
    placed = {s.visit_id: (r.engineer_id, s.start_minute) for r in plan.routes for s in r.stops}
    sick = {e.id for e in problem.engineers[:absent]}
    locked: set[str] = set()
    visits = []
    for visit in problem.visits:
        if visit.id in placed:
            holder, start = placed[visit.id]
            visit = msgspec.structs.replace(visit, held_engineer_id=holder, held_start_minute=start)
            if holder not in sick and len(locked) < 2:
                if not locked:
                    visit = msgspec.structs.replace(visit, pinned_engineer_id=holder)
                else:
                    window = TimeWindow(start_minute=start, end_minute=start)
                    visit = msgspec.structs.replace(visit, time_windows=(window,))
                locked.add(visit.id)
        visits.append(visit)
    fresh = generate_day(len(problem.engineers), new, seed + 30_000).visits
    visits += [msgspec.structs.replace(v, id=f"new-{v.id}") for v in fresh]
    engineers = tuple(e for e in problem.engineers if e.id not in sick)
    return (
        msgspec.structs.replace(
            problem, engineers=engineers, visits=tuple(visits), stability_cost=240
        ),
        locked,
    )


def double_bookings(plan: RoutePlan) -> int:
    """Pairs of one engineer's stops whose on-site intervals overlap, plus visits routed
    twice; read from the stops alone."""
    clashes = 0
    for route in plan.routes:
        stops = sorted(route.stops, key=lambda s: s.start_minute)
        for k, a in enumerate(stops):
            clashes += sum(1 for b in stops[k + 1 :] if b.start_minute < a.end_minute)
    ids = [s.visit_id for r in plan.routes for s in r.stops]
    return clashes + len(ids) - len(set(ids))


def main(argv: Sequence[str] | None = None) -> None:
    """Print the field-day table and the re-plan latency."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--time-limit", type=float, default=10.0, help="seconds per day")
    parser.add_argument(
        "--sizes", default="15x100,30x200,50x400,100x1000", help="engineers x visits, comma list"
    )
    parser.add_argument("--seeds", default="1,2", help="days per size")
    parser.add_argument("--replan-limit", type=float, default=0.8, help="re-plan budget, s")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--tables",
        default="days,replan,held",
        help="which tables: days, replan (urgent insert), held (re-draft of a settled day)",
    )
    parser.add_argument(
        "--balance-weight", type=int, default=1, help="cost per minute of the busiest day"
    )
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    tables = set(args.tables.split(","))
    search = SearchSettings(workers=args.workers)
    print(
        f"Field-service days, {args.time_limit:g} s per plan, "
        f"{search.first_solution} + {search.metaheuristic}, {search.workers} worker(s), "
        f"balance weight {args.balance_weight}"
    )
    header = (
        f"{'eng':>4} {'visits':>6} {'seed':>4} {'solve s':>7} {'served':>6} {'dropped':>7} "
        f"{'crit':>4} {'crit drop':>9} {'on-time%':>8} {'km':>8} {'imbal min':>9} {'util%':>6} "
        f"search"
    )
    print(header)
    print("-" * len(header))
    for size in args.sizes.split(",") if "days" in tables else ():
        engineer_count, visit_count = (int(x) for x in size.split("x"))
        for seed in seeds:
            problem = generate_day(engineer_count, visit_count, seed, args.balance_weight)
            started = time.monotonic()
            plan = solve(
                problem, time_limit_s=args.time_limit, seed=0, travel=TRAVEL, search=search
            )
            f = figures(problem, plan, time.monotonic() - started)
            print(
                f"{engineer_count:>4} {visit_count:>6} {seed:>4} {f.seconds:7.1f} {f.served:>6} "
                f"{f.dropped:>7} {f.critical:>4} "
                f"{f.critical_dropped:>4} ({f.critical_dropped_capacity} cap) "
                f"{f.on_time_percent:8.1f} {f.travel_km:8.1f} {f.imbalance_minutes:>9} "
                f"{f.mean_utilisation:6.1f} {plan.solver.status}",
                flush=True,
            )
    print()
    print(
        f"Re-plan at 11:00: insert 3 urgent visits into a running 15 x 100 day "
        f"(search {args.replan_limit:g} s)"
    )
    print(f"{'seed':>4} {'latency s':>9} {'urgent served':>13} {'locked kept':>11} {'moved':>5}")
    latencies = [0.0]
    for seed in seeds if "replan" in tables else ():
        problem = generate_day(15, 100, seed, args.balance_weight)
        plan = solve(problem, time_limit_s=args.time_limit, seed=0, travel=TRAVEL, search=search)
        now = 11 * 60
        urgent = urgent_visits(problem, now, 3, seed)
        day, progress = running_day(problem, plan, now, urgent)
        started = time.monotonic()
        new_plan = replan(
            day,
            plan,
            progress,
            time_limit_s=args.replan_limit,
            travel=TRAVEL,
            search=SearchSettings(),
        )
        latency = time.monotonic() - started
        latencies.append(latency)
        served = {s.visit_id: r.engineer_id for r in new_plan.routes for s in r.stops}
        before = {s.visit_id: r.engineer_id for r in plan.routes for s in r.stops}
        kept = all(
            [s.visit_id for s in r.stops][: len(p.done_visit_ids) + len(p.started_visit_ids)]
            == [*p.done_visit_ids, *p.started_visit_ids]
            for r, p in zip(new_plan.routes, progress, strict=True)
        )
        moved = sum(1 for v, e in before.items() if v in served and served[v] != e)
        print(
            f"{seed:>4} {latency:9.2f} {sum(1 for u in urgent if u.id in served):>11}/3 "
            f"{'yes' if kept else 'NO':>11} {moved:>5}",
            flush=True,
        )
    print(f"re-plan latency: mean {statistics.fmean(latencies):.2f} s, max {max(latencies):.2f} s")
    print()
    print(
        "Re-draft of a settled 15 x 100 day: every visit held, 1 engineer off sick, 2 locks, "
        f"10 new visits, stability cost 240 ({args.time_limit:g} s)"
    )
    print(
        f"{'seed':>4} {'held':>4} {'kept':>4} {'moved':>5} {'retimed':>7} {'held dropped':>12} "
        f"{'locks kept':>10} {'double-booked':>13} {'served':>6} {'target':>6}"
    )
    for seed in seeds if "held" in tables else ():
        problem = generate_day(15, 100, seed, args.balance_weight)
        plan = solve(problem, time_limit_s=args.time_limit, seed=0, travel=TRAVEL, search=search)
        day, locked = held_day(problem, plan, seed)
        redraft = solve(day, time_limit_s=args.time_limit, seed=0, travel=TRAVEL, search=search)
        at = {s.visit_id: (r.engineer_id, s.start_minute) for r in redraft.routes for s in r.stops}
        held = [v for v in day.visits if v.held_engineer_id is not None]
        stayed = [v for v in held if v.id in at and at[v.id][0] == v.held_engineer_id]
        same_time = sum(1 for v in stayed if at[v.id][1] == v.held_start_minute)
        moved = sum(1 for v in held if v.id in at and at[v.id][0] != v.held_engineer_id)
        by_id = {v.id: v for v in day.visits}
        locks_kept = sum(
            1
            for vid in locked
            if vid in at
            and (by_id[vid].pinned_engineer_id in (None, at[vid][0]))
            and all(w.start_minute <= at[vid][1] <= w.end_minute for w in by_id[vid].time_windows)
        )
        print(
            f"{seed:>4} {len(held):>4} {same_time:>4} {moved:>5} {len(stayed) - same_time:>7} "
            f"{sum(1 for v in held if v.id not in at):>12} {locks_kept:>8}/{len(locked)} "
            f"{double_bookings(redraft):>13} {redraft.metrics.served_count:>6} {'0 dbl':>6}",
            flush=True,
        )


if __name__ == "__main__":
    main()
