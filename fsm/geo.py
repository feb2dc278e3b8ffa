"""Geographic points: PostGIS POINTs in SRID 4326 on the database side, lat/lon on the wire."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from geoalchemy2 import Geometry, WKBElement
from geoalchemy2.shape import to_shape
from sqlalchemy import func
from sqlalchemy.sql.elements import ColumnElement

WGS84 = 4326


def point_column_type() -> Geometry:
    """The column type of every location: a 2D POINT in WGS 84."""
    return Geometry(geometry_type="POINT", srid=WGS84, spatial_index=False)


class GeoPoint(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A point on Earth in decimal degrees."""

    lat: Annotated[float, msgspec.Meta(ge=-90, le=90, description="Latitude, -90 to 90")]
    lon: Annotated[float, msgspec.Meta(ge=-180, le=180, description="Longitude, -180 to 180")]


def to_db_point(point: GeoPoint) -> ColumnElement[Any]:
    """A SQL expression building the PostGIS point (lon first, as PostGIS orders axes)."""
    return func.ST_SetSRID(func.ST_MakePoint(point.lon, point.lat), WGS84)


def from_db_point(value: WKBElement | None) -> GeoPoint | None:
    """The wire point of a stored geometry."""
    if value is None:
        return None
    shape = to_shape(value)
    return GeoPoint(lat=shape.y, lon=shape.x)
