"""A dispatch plan drawn as an SVG map."""

from __future__ import annotations

import math
from collections.abc import Set
from xml.sax.saxutils import escape

from dispatch import solver
from dispatch.on_call import engineer_of

_ROUTE_COLOURS = (
    "#1f77b4",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#17becf",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
)
_MAP_WIDTH = 800
_MAP_HEIGHT = 600
_MAP_MARGIN = 30


def plan_map_svg(
    routes: solver.RoutePlan | None,
    sites: dict[str, solver.Location],
    homes: dict[str, solver.Location],
    done: Set[str] = frozenset(),
) -> str:
    """An SVG map of a plan: homes as squares, sites as circles, one line per route in order.

    A re-planned route starts where its engineer was (a diamond), not at home; the visits
    `done` before it are a dashed line from home to there. Dropped visits carry a red cross.
    Points are projected equirectangularly, which is true enough at the scale of one region's
    day.
    """
    starts = [r.replanned_from for r in routes.routes if r.replanned_from] if routes else []
    points = [*sites.values(), *homes.values(), *starts]
    if points:
        min_lat, max_lat = min(p.lat for p in points), max(p.lat for p in points)
        min_lon, max_lon = min(p.lon for p in points), max(p.lon for p in points)
    else:
        min_lat = max_lat = min_lon = max_lon = 0.0
    stretch = math.cos(math.radians((min_lat + max_lat) / 2))
    span_x = max((max_lon - min_lon) * stretch, 1e-9)
    span_y = max(max_lat - min_lat, 1e-9)
    scale = min((_MAP_WIDTH - 2 * _MAP_MARGIN) / span_x, (_MAP_HEIGHT - 2 * _MAP_MARGIN) / span_y)

    def xy(p: solver.Location) -> tuple[float, float]:
        x = _MAP_MARGIN + (p.lon - min_lon) * stretch * scale
        y = _MAP_MARGIN + (max_lat - p.lat) * scale
        return round(x, 1), round(y, 1)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_MAP_WIDTH}" '
        f'height="{_MAP_HEIGHT}" viewBox="0 0 {_MAP_WIDTH} {_MAP_HEIGHT}">'
    ]

    def line(points: list[solver.Location]) -> str:
        return " ".join(f"{x},{y}" for x, y in map(xy, points))

    colour_of: dict[str, str] = {}
    markers: list[str] = []
    for k, route in enumerate(routes.routes if routes else ()):
        colour = _ROUTE_COLOURS[k % len(_ROUTE_COLOURS)]
        engineer = escape(route.engineer_id)
        home = homes.get(engineer_of(route.engineer_id))
        start = route.replanned_from or home
        ahead = [s for s in route.stops if s.visit_id in sites]
        if route.replanned_from is not None:
            behind = [sites[s.visit_id] for s in ahead if s.visit_id in done]
            ahead = [s for s in ahead if s.visit_id not in done]
            if behind:
                parts.append(
                    f'<polyline class="route-done" data-engineer-id="{engineer}" '
                    f'points="{line([*([home] if home else []), *behind, route.replanned_from])}" '
                    f'fill="none" stroke="{colour}" stroke-width="2" stroke-dasharray="6 4"/>'
                )
            x, y = xy(route.replanned_from)
            markers.append(
                f'<polygon class="start" data-engineer-id="{engineer}" '
                f'points="{x},{y - 8} {x + 8},{y} {x},{y + 8} {x - 8},{y}" '
                f'fill="{colour}" stroke="#333">'
                f"<title>engineer {engineer}: re-planned from here</title></polygon>"
            )
        path = [start] if start else []
        path += [sites[s.visit_id] for s in ahead]
        if home:
            path.append(home)
        for stop in route.stops:
            colour_of[stop.visit_id] = colour
        parts.append(
            f'<polyline class="route" data-engineer-id="{engineer}" '
            f'points="{line(path)}" fill="none" stroke="{colour}" stroke-width="3"/>'
        )
    for engineer_id, home in homes.items():
        x, y = xy(home)
        parts.append(
            f'<rect class="home" x="{x - 6}" y="{y - 6}" width="12" height="12" fill="#333">'
            f"<title>engineer {escape(engineer_id)}</title></rect>"
        )
    for visit_id, site in sites.items():
        x, y = xy(site)
        colour = colour_of.get(visit_id, "#ffffff")
        parts.append(
            f'<circle class="site" cx="{x}" cy="{y}" r="6" fill="{colour}" stroke="#333">'
            f"<title>visit {escape(visit_id)}</title></circle>"
        )
    # Drawn over the sites: an engineer on site starts from that site.
    parts += markers
    for dropped in routes.dropped if routes else ():
        if dropped.visit_id not in sites:
            continue
        x, y = xy(sites[dropped.visit_id])
        parts.append(
            f'<g class="dropped" stroke="#d62728" stroke-width="3">'
            f"<title>{escape(dropped.visit_id)}: {escape(dropped.reason.value)}</title>"
            f'<line x1="{x - 8}" y1="{y - 8}" x2="{x + 8}" y2="{y + 8}"/>'
            f'<line x1="{x - 8}" y1="{y + 8}" x2="{x + 8}" y2="{y - 8}"/></g>'
        )
    parts.append("</svg>")
    return "".join(parts)
