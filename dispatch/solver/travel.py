"""Travel-time and distance matrices between the points of a plan."""

from __future__ import annotations

import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import msgspec
import numpy as np
import numpy.typing as npt

from dispatch.solver.model import Location

EARTH_RADIUS_M = 6_371_008.8
# A pair the routing engine cannot connect costs more than any shift, so the model never
# uses it, yet sums of such values stay far from int64 overflow.
UNREACHABLE_MINUTES = 100_000
UNREACHABLE_METRES = 10_000_000

IntMatrix = npt.NDArray[np.int64]


class TravelMatrixError(RuntimeError):
    """The travel-time source could not give a matrix."""


@dataclass(frozen=True, slots=True)
class TravelMatrix:
    """Whole travel minutes and metres from row point to column point."""

    minutes: IntMatrix
    metres: IntMatrix

    def __post_init__(self) -> None:
        n = self.minutes.shape[0]
        if self.minutes.shape != (n, n) or self.metres.shape != (n, n):
            raise TravelMatrixError(
                f"matrices must be square and alike, got {self.minutes.shape} "
                f"and {self.metres.shape}"
            )


class TravelProvider(Protocol):
    """Anything that turns a list of points into a travel matrix."""

    def matrix(self, locations: Sequence[Location]) -> TravelMatrix:
        """Travel matrix between the given points, in their order."""
        ...


def haversine_metres(locations: Sequence[Location]) -> npt.NDArray[np.float64]:
    """Great-circle distances in metres between all pairs of points."""
    coords = np.radians(np.array([(p.lat, p.lon) for p in locations], dtype=np.float64))
    lat = coords[:, 0]
    lon = coords[:, 1]
    dlat = lat[:, None] - lat[None, :]
    dlon = lon[:, None] - lon[None, :]
    a = np.sin(dlat / 2) ** 2 + np.cos(lat)[:, None] * np.cos(lat)[None, :] * np.sin(dlon / 2) ** 2
    result: npt.NDArray[np.float64] = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0, 1)))
    return result


@dataclass(frozen=True, slots=True)
class HaversineTravel:
    """Straight-line distance stretched by a road factor and driven at an average speed."""

    road_factor: float = 1.3
    speed_kmh: float = 30.0

    def matrix(self, locations: Sequence[Location]) -> TravelMatrix:
        """Travel matrix estimated from great-circle distances."""
        if self.road_factor <= 0 or self.speed_kmh <= 0:
            raise TravelMatrixError("road_factor and speed_kmh must be positive")
        road_m = haversine_metres(locations) * self.road_factor
        # Rounded up: a short hop still takes a minute, and the plan is never optimistic.
        minutes = np.ceil(road_m / (self.speed_kmh * 1000.0 / 60.0) - 1e-9)
        return TravelMatrix(
            minutes=minutes.astype(np.int64), metres=np.rint(road_m).astype(np.int64)
        )


@dataclass(frozen=True, slots=True)
class MatrixTravel:
    """A matrix given in advance for a known list of points (benchmarks, cached tables)."""

    locations: Sequence[Location]
    minutes: IntMatrix
    metres: IntMatrix

    def matrix(self, locations: Sequence[Location]) -> TravelMatrix:
        """Rows and columns of the given matrix for the requested points."""
        index = {(p.lat, p.lon): i for i, p in enumerate(self.locations)}
        try:
            rows = np.array([index[(p.lat, p.lon)] for p in locations], dtype=np.int64)
        except KeyError as exc:
            raise TravelMatrixError(f"point {exc.args[0]} is not in the given matrix") from None
        pick = np.ix_(rows, rows)
        return TravelMatrix(
            minutes=np.asarray(self.minutes, dtype=np.int64)[pick],
            metres=np.asarray(self.metres, dtype=np.int64)[pick],
        )


class _OsrmTable(msgspec.Struct):
    code: str
    message: str | None = None
    durations: list[list[float | None]] | None = None
    distances: list[list[float | None]] | None = None


@dataclass(frozen=True, slots=True)
class OsrmTravel:
    """Matrices from an OSRM-compatible ``table`` service over HTTP."""

    base_url: str
    profile: str = "driving"
    timeout_s: float = 10.0
    # OSRM refuses tables above its --max-table-size (100 by default): larger plans are
    # fetched in blocks of sources x destinations.
    max_points_per_request: int = 100

    def matrix(self, locations: Sequence[Location]) -> TravelMatrix:
        """Travel matrix fetched block by block from the routing engine."""
        n = len(locations)
        seconds = np.zeros((n, n), dtype=np.float64)
        metres = np.zeros((n, n), dtype=np.float64)
        block = max(1, self.max_points_per_request // 2) if n > self.max_points_per_request else n
        for i0 in range(0, n, block):
            for j0 in range(0, n, block):
                rows = list(range(i0, min(n, i0 + block)))
                cols = list(range(j0, min(n, j0 + block)))
                dur, dist = self._table(locations, rows, cols)
                seconds[i0 : i0 + len(rows), j0 : j0 + len(cols)] = dur
                metres[i0 : i0 + len(rows), j0 : j0 + len(cols)] = dist
        minutes = np.where(
            np.isnan(seconds), UNREACHABLE_MINUTES, np.ceil(np.nan_to_num(seconds) / 60 - 1e-9)
        )
        metres = np.where(np.isnan(metres), UNREACHABLE_METRES, np.rint(np.nan_to_num(metres)))
        return TravelMatrix(minutes=minutes.astype(np.int64), metres=metres.astype(np.int64))

    def _table(
        self, locations: Sequence[Location], rows: list[int], cols: list[int]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        is_square = rows == cols
        points = [locations[i] for i in rows] if is_square else [locations[i] for i in rows + cols]
        coords = ";".join(f"{p.lon:.6f},{p.lat:.6f}" for p in points)
        query: dict[str, str] = {"annotations": "duration,distance"}
        if not is_square:
            query["sources"] = ";".join(str(k) for k in range(len(rows)))
            query["destinations"] = ";".join(str(len(rows) + k) for k in range(len(cols)))
        url = (
            f"{self.base_url.rstrip('/')}/table/v1/{urllib.parse.quote(self.profile)}/"
            f"{coords}?{urllib.parse.urlencode(query, safe=';,')}"
        )
        if not url.startswith(("http://", "https://")):
            raise TravelMatrixError(f"routing engine URL must be http(s): {self.base_url!r}")
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as response:  # noqa: S310
                body = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:200].decode("utf-8", "replace")
            raise TravelMatrixError(
                f"routing engine at {self.base_url} answered HTTP {exc.code}: {detail}"
            ) from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise TravelMatrixError(
                f"routing engine at {self.base_url} unreachable: {exc}"
            ) from exc
        try:
            table = msgspec.json.decode(body, type=_OsrmTable)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise TravelMatrixError(f"routing engine sent an unreadable table: {exc}") from exc
        if table.code != "Ok":
            raise TravelMatrixError(
                f"routing engine refused the table: {table.code} {table.message or ''}".strip()
            )
        if table.durations is None or table.distances is None:
            raise TravelMatrixError("routing engine table lacks durations or distances")
        dur = _as_array(table.durations, (len(rows), len(cols)), "durations")
        dist = _as_array(table.distances, (len(rows), len(cols)), "distances")
        return dur, dist


def _as_array(
    values: list[list[float | None]], shape: tuple[int, int], name: str
) -> npt.NDArray[np.float64]:
    array = np.array(
        [[math.nan if v is None else v for v in row] for row in values], dtype=np.float64
    )
    if array.shape != shape:
        raise TravelMatrixError(f"routing engine {name} have shape {array.shape}, expected {shape}")
    return array


__all__ = [
    "EARTH_RADIUS_M",
    "HaversineTravel",
    "MatrixTravel",
    "OsrmTravel",
    "TravelMatrix",
    "TravelMatrixError",
    "TravelProvider",
    "haversine_metres",
]
