"""Engineers on call in an urgent insert: a vehicle of their own for critical work only.

An engineer on call (`fsm.engineers.on_call`) gets, beside any shift of theirs the plan
already routes, one more vehicle per duty: the duty's stretch of the day from now on, less
their shifts and absences, starting from home (or where they were last seen today), with
the duty's skills and area, taking critical visits only. Its id is the engineer's with
`ON_CALL` and the duty's id after it: the plan keeps it, so a later insert gives the visits
of that route back to the same vehicle, and every reader that needs the person asks
`engineer_of`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from dispatch import solver
from dispatch.availability import Stretch, available_stretches

ON_CALL = "#on-call:"


def vehicle_id(engineer_id: str, duty_id: str) -> str:
    """The vehicle of one engineer's duty."""
    return f"{engineer_id}{ON_CALL}{duty_id}"


def engineer_of(vehicle: str) -> str:
    """The engineer a route's vehicle is (itself, or the engineer of an on-call duty)."""
    return vehicle.split(ON_CALL, 1)[0]


def is_on_call(vehicle: str) -> bool:
    return ON_CALL in vehicle


def gaps_as_breaks(stretches: Sequence[Stretch]) -> tuple[solver.ShiftBreak, ...]:
    """The gaps between a day's stretches of work as unpaid breaks at fixed times (a split
    shift, or hours away), the way the solver takes them."""
    return tuple(
        solver.ShiftBreak(
            earliest_start_minute=end,
            latest_start_minute=end,
            duration_minutes=next_start - end,
        )
        for (_, end), (next_start, _) in itertools.pairwise(stretches)
        if next_start > end
    )


def on_call_vehicle(
    engineer_id: str,
    duty_id: str,
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
        id=vehicle_id(engineer_id, duty_id),
        start_location=home,
        shift_start_minute=stretches[0][0],
        shift_end_minute=stretches[-1][1],
        skills=skills,
        breaks=gaps_as_breaks(stretches),
        takes_priorities=frozenset({solver.Priority.CRITICAL}),
        area=area,
    )
