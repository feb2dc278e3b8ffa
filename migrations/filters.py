"""What autogenerate compares: our tables, not those PostGIS and its companions own."""

from __future__ import annotations

from typing import Any

from geoalchemy2 import alembic_helpers

_FOREIGN_TABLES = {"spatial_ref_sys", "geography_columns", "geometry_columns", "topology", "layer"}


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Leave extension-owned tables out of autogenerate."""
    if type_ == "table" and name in _FOREIGN_TABLES:
        return False
    return bool(
        alembic_helpers.include_object(obj, name, type_, reflected, compare_to)  # type: ignore[no-untyped-call]
    )
