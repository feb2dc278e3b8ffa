"""Geographic points: PostGIS POINTs in SRID 4326 on the database side, lat/lon on the wire."""

from __future__ import annotations

import struct
from typing import Annotated, Any

import msgspec
from geoalchemy2 import Geometry, WKBElement
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


_EWKB_SRID_FLAG = 0x20000000
_POINT = 1


def from_db_point(value: WKBElement | None) -> GeoPoint | None:
    """The wire point of a stored POINT, decoded from its (E)WKB without a geometry library.

    Raises:
        ValueError: the value is not a 2D point.
    """
    if value is None:
        return None
    data = bytes(value.data) if not isinstance(value.data, str) else bytes.fromhex(value.data)
    order = "<" if data[0] == 1 else ">"
    (geometry_type,) = struct.unpack_from(f"{order}I", data, 1)
    offset = 5 + (4 if geometry_type & _EWKB_SRID_FLAG else 0)
    if geometry_type & 0xFFFF != _POINT or len(data) < offset + 16:
        raise ValueError("not a 2D point")
    lon, lat = struct.unpack_from(f"{order}dd", data, offset)
    return GeoPoint(lat=lat, lon=lon)
