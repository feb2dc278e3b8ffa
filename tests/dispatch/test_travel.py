"""Travel matrices: haversine estimates, given matrices, and an OSRM-style table service."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from dispatch.solver import (
    HaversineTravel,
    Location,
    MatrixTravel,
    OsrmTravel,
    TravelMatrixError,
)
from dispatch.solver.travel import UNREACHABLE_MINUTES, haversine_metres

PARIS = Location(lat=48.8566, lon=2.3522)
LONDON = Location(lat=51.5074, lon=-0.1278)
BERLIN = Location(lat=52.5200, lon=13.4050)
MADRID = Location(lat=40.4168, lon=-3.7038)


class TestHaversine:
    @pytest.mark.parametrize(
        ("a", "b", "km"),
        [(PARIS, LONDON, 343.6), (PARIS, BERLIN, 878.0), (LONDON, MADRID, 1264.0)],
    )
    def test_matches_known_city_distances(self, a: Location, b: Location, km: float) -> None:
        metres = haversine_metres([a, b])
        assert metres[0, 1] / 1000 == pytest.approx(km, rel=0.005)
        assert metres[1, 0] == pytest.approx(metres[0, 1])
        assert metres[0, 0] == 0

    def test_minutes_follow_road_factor_and_speed(self) -> None:
        matrix = HaversineTravel(road_factor=1.5, speed_kmh=60.0).matrix([PARIS, LONDON])
        road_km = 343.6 * 1.5
        assert matrix.metres[0, 1] / 1000 == pytest.approx(road_km, rel=0.005)
        # At 60 km/h a kilometre takes a minute.
        assert matrix.minutes[0, 1] == pytest.approx(road_km, rel=0.005)

    def test_short_hop_takes_at_least_a_minute(self) -> None:
        near = Location(lat=PARIS.lat + 0.0001, lon=PARIS.lon)
        matrix = HaversineTravel().matrix([PARIS, near])
        assert matrix.minutes[0, 1] == 1
        assert matrix.minutes[0, 0] == 0

    def test_thousand_points_give_a_full_square_matrix(self) -> None:
        rng = np.random.default_rng(7)
        points = [Location(lat=48.7 + 0.3 * a, lon=2.2 + 0.4 * b) for a, b in rng.random((1000, 2))]
        matrix = HaversineTravel().matrix(points)
        assert matrix.minutes.shape == (1000, 1000)
        assert (np.diag(matrix.minutes) == 0).all()
        assert (matrix.minutes == matrix.minutes.T).all()
        assert matrix.minutes.max() < 200

    def test_rejects_non_positive_speed(self) -> None:
        with pytest.raises(TravelMatrixError, match="positive"):
            HaversineTravel(speed_kmh=0).matrix([PARIS, LONDON])


class TestGivenMatrix:
    def test_picks_rows_for_requested_points(self) -> None:
        given = MatrixTravel(
            locations=[PARIS, LONDON, BERLIN],
            minutes=np.array([[0, 1, 2], [3, 0, 4], [5, 6, 0]]),
            metres=np.array([[0, 10, 20], [30, 0, 40], [50, 60, 0]]),
        )
        matrix = given.matrix([BERLIN, PARIS])
        assert matrix.minutes.tolist() == [[0, 5], [2, 0]]
        assert matrix.metres.tolist() == [[0, 50], [20, 0]]

    def test_unknown_point_is_a_clear_error(self) -> None:
        given = MatrixTravel(
            locations=[PARIS],
            minutes=np.zeros((1, 1), dtype=np.int64),
            metres=np.zeros((1, 1), dtype=np.int64),
        )
        with pytest.raises(TravelMatrixError, match="not in the given matrix"):
            given.matrix([PARIS, MADRID])


Responder = Callable[[str, dict[str, list[str]], list[tuple[float, float]]], tuple[int, bytes]]


def _osrm_answer(path: str, query: dict[str, list[str]], coords: list[tuple[float, float]]) -> Any:
    """Durations = 60 s per unit index difference; distances = 1000 m per unit."""
    sources = [int(x) for x in query["sources"][0].split(";")] if "sources" in query else None
    dests = (
        [int(x) for x in query["destinations"][0].split(";")] if "destinations" in query else None
    )
    rows = sources if sources is not None else list(range(len(coords)))
    cols = dests if dests is not None else list(range(len(coords)))
    # Each point's longitude encodes its index in the request the test sent.
    ids = [round(lon * 100) for lon, _ in coords]
    return {
        "code": "Ok",
        "durations": [[60.0 * abs(ids[i] - ids[j]) for j in cols] for i in rows],
        "distances": [[1000.0 * abs(ids[i] - ids[j]) for j in cols] for i in rows],
    }


@pytest.fixture
def routing_engine() -> Iterator[tuple[str, list[str], list[Responder]]]:
    """A fake OSRM on 127.0.0.1; tests may swap the responder."""
    seen: list[str] = []
    responders: list[Responder] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            url = urlsplit(self.path)
            coords_text = url.path.split("/")[-1]
            coords = [
                (float(c.split(",")[0]), float(c.split(",")[1])) for c in coords_text.split(";")
            ]
            query = parse_qs(url.query)
            if responders:
                status, body = responders[-1](url.path, query, coords)
            else:
                status, body = 200, json.dumps(_osrm_answer(url.path, query, coords)).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen, responders
    finally:
        server.shutdown()
        server.server_close()


def _indexed_points(n: int) -> list[Location]:
    return [Location(lat=48.0, lon=k / 100) for k in range(n)]


class TestOsrmTravel:
    def test_reads_durations_and_distances(
        self, routing_engine: tuple[str, list[str], list[Responder]]
    ) -> None:
        base, seen, _ = routing_engine
        matrix = OsrmTravel(base_url=base).matrix(_indexed_points(3))
        assert matrix.minutes.tolist() == [[0, 1, 2], [1, 0, 1], [2, 1, 0]]
        assert matrix.metres[0, 2] == 2000
        assert seen[0].startswith("/table/v1/driving/0.000000,48.000000;0.010000,48.000000;")
        assert "annotations=duration,distance" in seen[0]

    def test_large_plans_are_fetched_in_blocks_with_the_same_result(
        self, routing_engine: tuple[str, list[str], list[Responder]]
    ) -> None:
        base, seen, _ = routing_engine
        points = _indexed_points(9)
        whole = OsrmTravel(base_url=base).matrix(points)
        blocks = OsrmTravel(base_url=base, max_points_per_request=4).matrix(points)
        assert len(seen) > 2
        assert (blocks.minutes == whole.minutes).all()
        assert (blocks.metres == whole.metres).all()

    def test_unroutable_pairs_become_prohibitive(
        self, routing_engine: tuple[str, list[str], list[Responder]]
    ) -> None:
        base, _, responders = routing_engine
        body = {
            "code": "Ok",
            "durations": [[0, None], [60, 0]],
            "distances": [[0, None], [1000, 0]],
        }
        responders.append(lambda *_: (200, json.dumps(body).encode()))
        matrix = OsrmTravel(base_url=base).matrix(_indexed_points(2))
        assert matrix.minutes[0, 1] == UNREACHABLE_MINUTES
        assert matrix.minutes[1, 0] == 1

    def test_http_error_is_reported_with_status(
        self, routing_engine: tuple[str, list[str], list[Responder]]
    ) -> None:
        base, _, responders = routing_engine
        responders.append(lambda *_: (500, b'{"message": "boom"}'))
        with pytest.raises(TravelMatrixError, match="HTTP 500"):
            OsrmTravel(base_url=base).matrix(_indexed_points(2))

    def test_refused_table_is_reported_with_code(
        self, routing_engine: tuple[str, list[str], list[Responder]]
    ) -> None:
        base, _, responders = routing_engine
        body = {"code": "TooBig", "message": "Too many table coordinates"}
        responders.append(lambda *_: (200, json.dumps(body).encode()))
        with pytest.raises(TravelMatrixError, match="TooBig"):
            OsrmTravel(base_url=base).matrix(_indexed_points(2))

    def test_garbage_body_is_reported(
        self, routing_engine: tuple[str, list[str], list[Responder]]
    ) -> None:
        base, _, responders = routing_engine
        responders.append(lambda *_: (200, b"<html>proxy error</html>"))
        with pytest.raises(TravelMatrixError, match="unreadable"):
            OsrmTravel(base_url=base).matrix(_indexed_points(2))

    def test_wrong_shape_is_reported(
        self, routing_engine: tuple[str, list[str], list[Responder]]
    ) -> None:
        base, _, responders = routing_engine
        body = {"code": "Ok", "durations": [[0]], "distances": [[0]]}
        responders.append(lambda *_: (200, json.dumps(body).encode()))
        with pytest.raises(TravelMatrixError, match="shape"):
            OsrmTravel(base_url=base).matrix(_indexed_points(2))

    def test_unreachable_engine_is_reported(self) -> None:
        with pytest.raises(TravelMatrixError, match="unreachable"):
            OsrmTravel(base_url="http://127.0.0.1:9", timeout_s=2).matrix(_indexed_points(2))
