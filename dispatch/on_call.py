"""Engineers on call in an urgent insert: a vehicle of their own for critical work only.

An engineer on call (`fsm.engineers.on_call`) gets, beside any shift of theirs the plan
already routes, one more vehicle: the duty's stretch of the day from now on, less their
shifts and absences, starting from home, with the duty's skills and area, taking critical
visits only. Its id is the engineer's with `ON_CALL` after it, so the solver tells the two
apart; the routes of the answer carry the engineer's own id again (`folded`), which is all
that commit, the day view and the map need.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import msgspec

from dispatch import solver
from dispatch.availability import Stretch, available_stretches

ON_CALL = "#on-call"


def on_call_vehicle(
    engineer_id: str,
    *,
    home: solver.Location,
    duty: Stretch,
    busy: Sequence[Stretch],
    skills: frozenset[str],
    area: solver.ServiceArea | None,
    from_minute: int,
) -> solver.Engineer | None:
    """The on-call vehicle for one duty (minutes from the plan's origin), or None when
    nothing of it is left: its stretch from `from_minute` on, less `busy` (the engineer's
    own shifts and absences that day)."""
    start, end = max(duty[0], from_minute), duty[1]
    if end <= start:
        return None
    stretches = available_stretches([(start, end)], busy)
    if not stretches:
        return None
    return solver.Engineer(
        id=engineer_id + ON_CALL,
        start_location=home,
        shift_start_minute=stretches[0][0],
        shift_end_minute=stretches[-1][1],
        skills=skills,
        breaks=tuple(
            solver.ShiftBreak(
                earliest_start_minute=gap_start,
                latest_start_minute=gap_start,
                duration_minutes=gap_end - gap_start,
            )
            for (_, gap_start), (gap_end, _) in itertools.pairwise(stretches)
        ),
        takes_priorities=frozenset({solver.Priority.CRITICAL}),
        area=area,
    )


def folded(routes: solver.RoutePlan) -> solver.RoutePlan:
    """The plan with each on-call route under its engineer's own id; an on-call vehicle
    given nothing leaves no route. On-call routes come first, so a reader keeping one
    route per engineer keeps the shift's."""
    on_call = [
        msgspec.structs.replace(route, engineer_id=route.engineer_id.removesuffix(ON_CALL))
        for route in routes.routes
        if route.engineer_id.endswith(ON_CALL) and route.stops
    ]
    if not any(r.engineer_id.endswith(ON_CALL) for r in routes.routes):
        return routes
    shifts = tuple(r for r in routes.routes if not r.engineer_id.endswith(ON_CALL))
    utilisation = {
        key: value
        for key, value in routes.metrics.utilisation_percent_by_engineer.items()
        if not key.endswith(ON_CALL)
    }
    return msgspec.structs.replace(
        routes,
        routes=(*on_call, *shifts),
        metrics=msgspec.structs.replace(
            routes.metrics, utilisation_percent_by_engineer=utilisation
        ),
    )
