"""Plain-data input and output of the dispatcher's solver.

Times are whole minutes counted from ``RoutingProblem.origin_at`` (usually local midnight of
the planned day, as an aware datetime). A service converting DB rows calls
``minutes_since(problem_origin_at, row.window_start_at)`` for every instant and reads the
``*_at`` fields of the plan back as aware datetimes. Minutes keep the model exact and integer,
which is what OR-Tools needs, and let benchmarks use abstract time units.
"""

from __future__ import annotations

import enum
import math
from datetime import datetime, timedelta
from typing import Annotated

import msgspec

# Every figure of a plan carries both bounds for the OpenAPI document. Stored plans are decoded
# against them, so they are loose: they state what cannot happen, not what is sensible.
_YEAR_MINUTES = 366 * 24 * 60
# Minutes from the problem's origin; a re-plan may look back before it.
Minute = Annotated[int, msgspec.Meta(ge=-_YEAR_MINUTES, le=_YEAR_MINUTES)]
Minutes = Annotated[int, msgspec.Meta(ge=0, le=_YEAR_MINUTES)]
Km = Annotated[float, msgspec.Meta(ge=0, le=10_000_000)]
Percent = Annotated[float, msgspec.Meta(ge=0, le=100_000)]
Number = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]
# OR-Tools' objective is a 64-bit integer.
ObjectiveValue = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
Seconds = Annotated[float, msgspec.Meta(ge=0, le=10_000_000)]


class Priority(enum.StrEnum):
    """How much it hurts to leave a visit unplanned."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    CRITICAL = "critical"


class Objective(enum.StrEnum):
    """What the arc cost of a route counts."""

    TRAVEL_MINUTES = "travel_minutes"
    DISTANCE = "distance"


class DropReason(enum.StrEnum):
    """Why a visit is not on any route."""

    NO_SKILLED_ENGINEER = "no_skilled_engineer"
    PINNED_ENGINEER_UNAVAILABLE = "pinned_engineer_unavailable"
    WINDOW_UNREACHABLE = "window_unreachable"
    CAPACITY = "capacity"
    # The site has no coordinates (imported without them): there is no way to route to it.
    UNLOCATED_SITE = "unlocated_site"
    # The site is not open long enough for the work at any time the visit may start that day
    # (opening hours, or the visit's own weekly hours).
    SITE_CLOSED = "site_closed"


class Location(msgspec.Struct, frozen=True, kw_only=True):
    """A point on the map in WGS84 degrees."""

    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)]
    lon: Annotated[float, msgspec.Meta(ge=-180, le=180)]


class ServiceArea(msgspec.Struct, frozen=True, kw_only=True):
    """A circle on the map: the sites an on-call engineer answers for."""

    centre: Location
    radius_km: Annotated[float, msgspec.Meta(gt=0, le=20_000)]


class TimeWindow(msgspec.Struct, frozen=True, kw_only=True):
    """Minutes inside which the engineer must start the work on site."""

    start_minute: int
    end_minute: int


class ShiftBreak(msgspec.Struct, frozen=True, kw_only=True):
    """A break the engineer takes somewhere between two visits."""

    earliest_start_minute: int
    latest_start_minute: int
    duration_minutes: int


class Engineer(msgspec.Struct, frozen=True, kw_only=True):
    """A field engineer available to the plan: a vehicle of the routing model."""

    id: str
    start_location: Location
    shift_start_minute: int
    shift_end_minute: int
    # None: the engineer ends the day where the day started.
    end_location: Location | None = None
    skills: frozenset[str] = frozenset()
    breaks: tuple[ShiftBreak, ...] = ()
    max_visits: int | None = None
    # Travel plus time on site; waiting does not count.
    max_working_minutes: int | None = None
    # A running day: where the engineer is now and from when they are free again.
    current_location: Location | None = None
    available_from_minute: int | None = None
    # Load the engineer can carry (parts, vans); None means unlimited.
    capacity: int | None = None
    # On call rather than on shift: only visits of these priorities (None: any), and only
    # within `area` (None: anywhere).
    takes_priorities: frozenset[Priority] | None = None
    area: ServiceArea | None = None


class Visit(msgspec.Struct, frozen=True, kw_only=True):
    """An on-site appointment waiting for an engineer."""

    id: str
    location: Location
    service_minutes: int
    # Empty: any time inside the engineer's shift.
    time_windows: tuple[TimeWindow, ...] = ()
    required_skills: frozenset[str] = frozenset()
    priority: Priority = Priority.NORMAL
    # The work should start on site by this minute; later is allowed at a cost.
    sla_deadline_minute: int | None = None
    pinned_engineer_id: str | None = None
    # Visits pinned to the same engineer with a sequence are served in ascending order.
    sequence: int | None = None
    demand: int = 0
    # Already assigned: to whom and from when. Moving it costs the problem's stability cost.
    held_engineer_id: str | None = None
    held_start_minute: int | None = None


class RoutingProblem(msgspec.Struct, frozen=True, kw_only=True):
    """One planning run: who is available, what must be done, and how to weigh it."""

    engineers: tuple[Engineer, ...]
    visits: tuple[Visit, ...]
    origin_at: datetime | None = None
    objective: Objective = Objective.TRAVEL_MINUTES
    # Cost per minute of the busiest engineer's working time; 0 turns balancing off.
    balance_weight: int = 1
    # Cost of giving a held visit to another engineer (or leaving it out), in objective units
    # (travel minutes); each minute it starts away from its held start costs one more.
    stability_cost: int = 0


# Large-neighbourhood operators that rebuild routes with insertion heuristics. Each call
# costs as much as many small moves; switched off, guided local search runs more iterations
# in the same budget (Solomon, 8 instances x 3 seeds at 5 s: mean gap 2.85 % -> 2.14 %).
SLOW_OPERATORS = (
    "use_global_cheapest_insertion_path_lns",
    "use_local_cheapest_insertion_path_lns",
    "use_relocate_path_global_cheapest_insertion_insert_unperformed",
    "use_global_cheapest_insertion_visit_types_lns",
    "use_local_cheapest_insertion_visit_types_lns",
)


ITERATED_LOCAL_SEARCH = "ITERATED_LOCAL_SEARCH"


class SearchSettings(msgspec.Struct, frozen=True, kw_only=True):
    """How the OR-Tools search runs; the defaults are the ones measured best."""

    first_solution: str = "LOCAL_CHEAPEST_INSERTION"
    # An OR-Tools LocalSearchMetaheuristic, or ITERATED_LOCAL_SEARCH: ruin and recreate
    # (SISR: strings of nearby visits removed, reinserted cheapest-first), greedy descent,
    # and simulated annealing deciding which result to go on from.
    metaheuristic: str = ITERATED_LOCAL_SEARCH
    guided_local_search_lambda: float = 0.3
    # Iterated local search: visits removed per ruin on average, longest string removed.
    ruin_visits: int = 15
    ruin_string_length: int = 10
    # From this many visits on, the search starts from our own construction instead of the
    # OR-Tools first-solution strategy, which may not finish in budget on large days.
    own_construction_from: int = 300
    # Names of OR-Tools local_search_operators flags to switch off or on.
    disabled_operators: tuple[str, ...] = SLOW_OPERATORS
    enabled_operators: tuple[str, ...] = ()
    # Stop after this many improving solutions: with it the result no longer depends on the
    # machine's speed, so a seed reproduces a plan exactly. OR-Tools' iterated local search
    # does not count solutions, so a limited search runs guided local search instead.
    solution_limit: int | None = None
    # Solve in this many processes with different seeds and keep the best plan.
    workers: int = 1


class StopExplanation(msgspec.Struct, frozen=True, kw_only=True):
    """Why this visit went to this engineer, in the dispatcher's terms."""

    required_skills: tuple[str, ...]
    skilled_engineer_count: Number
    engineer_count: Number
    from_previous_km: Km
    from_engineer_start_km: Km
    nearest_skilled_engineer_id: str | None
    engineer_working_minutes: Minutes
    mean_working_minutes: Annotated[float, msgspec.Meta(ge=0, le=_YEAR_MINUTES)]
    text: str


class PlannedStop(msgspec.Struct, frozen=True, kw_only=True):
    """A visit on a route with its planned times."""

    visit_id: str
    arrival_minute: Minute
    start_minute: Minute
    end_minute: Minute
    wait_minutes: Minutes
    travel_minutes: Minutes
    travel_km: Km
    lateness_minutes: Minutes
    is_locked: bool = False
    arrival_at: datetime | None = None
    start_at: datetime | None = None
    end_at: datetime | None = None
    explanation: StopExplanation | None = None


class PlannedBreak(msgspec.Struct, frozen=True, kw_only=True):
    """When an engineer's break falls on the route."""

    start_minute: Minute
    duration_minutes: Minutes
    start_at: datetime | None = None


class Route(msgspec.Struct, frozen=True, kw_only=True):
    """One engineer's day: ordered stops from start to end location."""

    engineer_id: str
    stops: tuple[PlannedStop, ...]
    breaks: tuple[PlannedBreak, ...] = ()
    departure_minute: Minute
    return_minute: Minute
    travel_minutes: Minutes
    travel_km: Km
    service_minutes: Minutes
    working_minutes: Minutes
    utilisation_percent: Percent
    # A running day's re-plan: where the engineer was when it started (None: at home).
    replanned_from: Location | None = None


class DroppedVisit(msgspec.Struct, frozen=True, kw_only=True):
    """A visit left out of the plan and the reason."""

    visit_id: str
    priority: Priority
    reason: DropReason
    detail: str


class PlanMetrics(msgspec.Struct, frozen=True, kw_only=True):
    """Figures a dispatcher compares plans by."""

    served_count: Number
    dropped_count: Number
    dropped_critical_count: Number
    travel_minutes: Minutes
    travel_km: Km
    lateness_minutes: Minutes
    # Share of served visits that start by their SLA deadline (no deadline counts as on time).
    on_time_percent: Percent
    utilisation_percent_by_engineer: dict[str, Percent]
    # Busiest minus least busy engineer, in working minutes.
    imbalance_minutes: Minutes
    engineers_used: Number
    objective: ObjectiveValue


class SolverInfo(msgspec.Struct, frozen=True, kw_only=True):
    """How the plan was found, so it can be reproduced."""

    seed: int
    time_limit_s: float
    wall_seconds: float
    first_solution: str
    metaheuristic: str
    workers: int
    status: str


class RoutePlan(msgspec.Struct, frozen=True, kw_only=True):
    """The solver's answer: routes, dropped visits with reasons, and metrics."""

    routes: tuple[Route, ...]
    dropped: tuple[DroppedVisit, ...]
    metrics: PlanMetrics
    solver: SolverInfo
    origin_at: datetime | None = None


class EngineerProgress(msgspec.Struct, frozen=True, kw_only=True):
    """Where an engineer stands in a running day."""

    engineer_id: str
    current_location: Location
    available_from_minute: int
    # Finished visits leave the problem; they stay in the plan as locked stops.
    done_visit_ids: tuple[str, ...] = ()
    # En route or on site, in the order they are being worked: kept first on the route.
    started_visit_ids: tuple[str, ...] = ()


def minutes_since(origin_at: datetime, at: datetime) -> int:
    """Whole minutes from the plan origin to an instant, rounded down."""
    if origin_at.tzinfo is None or at.tzinfo is None:
        raise ValueError("origin_at and at must be timezone-aware")
    return math.floor((at - origin_at).total_seconds() / 60)


def at_minute(origin_at: datetime | None, minute: int) -> datetime | None:
    """The instant of a plan minute, or None when the problem has no origin."""
    if origin_at is None:
        return None
    return origin_at + timedelta(minutes=minute)
