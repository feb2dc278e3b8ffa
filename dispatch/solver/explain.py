"""Per-visit explanations: why the plan gave this visit to this engineer."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import numpy as np

from dispatch.solver.build import CompiledProblem
from dispatch.solver.model import Route, StopExplanation


def explain_stops(
    compiled: CompiledProblem, routes: Sequence[Route], node_routes: Sequence[Sequence[int]]
) -> list[Route]:
    """Routes whose stops carry an explanation of skills, distance and load."""
    problem = compiled.problem
    engineers = problem.engineers
    loads = [r.working_minutes for r in routes]
    mean_load = float(np.mean(loads)) if loads else 0.0
    explained: list[Route] = []
    for e, (route, nodes) in enumerate(zip(routes, node_routes, strict=True)):
        stops = []
        previous_km = None
        for stop, node in zip(route.stops, nodes, strict=True):
            row = compiled.visit_rows[node]
            visit = problem.visits[row]
            skilled = np.flatnonzero(compiled.is_skilled[:, row])
            nearest = None
            if skilled.size:
                nearest_k = int(skilled[np.argmin(compiled.minutes_from_start[skilled, row])])
                nearest = engineers[nearest_k].id
            home_km = float(compiled.metres_from_start[e, row]) / 1000.0
            skills = tuple(sorted(visit.required_skills))
            parts = [
                f"{skilled.size} of {len(engineers)} engineers hold "
                + (", ".join(skills) if skills else "the skills (none required)")
            ]
            if visit.pinned_engineer_id is not None:
                parts.append("pinned to this engineer by the dispatcher")
            if previous_km is None:
                parts.append(f"{stop.travel_km:.1f} km from their start")
            else:
                parts.append(
                    f"{stop.travel_km:.1f} km from the previous stop, "
                    f"{home_km:.1f} km from their start"
                )
            if nearest is not None and nearest != route.engineer_id:
                parts.append(f"nearest skilled start is {nearest}'s")
            parts.append(f"their load {route.working_minutes} min vs mean {mean_load:.0f} min")
            explanation = StopExplanation(
                required_skills=skills,
                skilled_engineer_count=int(skilled.size),
                engineer_count=len(engineers),
                from_previous_km=stop.travel_km,
                from_engineer_start_km=home_km,
                nearest_skilled_engineer_id=nearest,
                engineer_working_minutes=route.working_minutes,
                mean_working_minutes=round(mean_load, 1),
                text="; ".join(parts),
            )
            stops.append(msgspec.structs.replace(stop, explanation=explanation))
            previous_km = stop.travel_km
        explained.append(msgspec.structs.replace(route, stops=tuple(stops)))
    return explained
