"""What autogenerate compares: our tables, not those PostGIS or APScheduler define."""

from __future__ import annotations

from typing import Any

from geoalchemy2 import alembic_helpers

# Tables owned by PostGIS, or defined by APScheduler (our migration 0005 creates its job
# store table; its model lives in APScheduler, not in our metadata).
_FOREIGN_TABLES = {
    "spatial_ref_sys",
    "geography_columns",
    "geometry_columns",
    "topology",
    "layer",
    "apscheduler_jobs",
    # procrastinate's job queue (migration 0013 applies its schema).
    "procrastinate_jobs",
    "procrastinate_workers",
    "procrastinate_events",
    "procrastinate_periodic_defers",
}


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Leave extension-owned tables out of autogenerate."""
    if type_ == "table" and name in _FOREIGN_TABLES:
        return False
    return bool(
        alembic_helpers.include_object(obj, name, type_, reflected, compare_to)  # type: ignore[no-untyped-call]
    )
