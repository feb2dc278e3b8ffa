"""Engineer app under load: the real app in uvicorn, N engineers polling their day and visits.

    python -m benchmarks.mobile_api [--engineers 200 --seconds 20 --concurrency 16]

Starts its own throw-away PostgreSQL+PostGIS cluster, migrates it and fills demo-like data
set-based (clients with sites and equipment in Berlin, `--engineers` engineers, six assigned
visits each today with two comments per order, 25 completed visits each in the last half
year as equipment history, and a published checklist attached to today's visits). Then it
starts the real app (`fsm.main.asgi:app`) and a bare Litestar app with one JSON endpoint, each in
its own uvicorn process on loopback with the same options, signs every engineer in through
`POST /api/v1/auth/login`, and drives each endpoint for `--seconds` with `--concurrency`
httpx workers. Every worker speaks for its own engineers (no two workers share one) and
asks for full answers (no `If-None-Match`). It prints requests/s and p50/p99 per endpoint
and the ratio to the bare endpoint, which is the figure to track: the load generator runs on
the same machine, so absolute numbers say as much about the machine as about the app.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec
from litestar import Litestar, get
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from checklists.definition import Definition
from checklists.templates import TemplateInput, TemplateService
from fsm.auth.principal import Principal
from fsm.main.localinfra import LocalPostgres, free_port
from fsm.main.migrate import upgrade
from fsm.users.models import Role
from fsm.users.passwords import hash_password

PASSWORD = "bench-engineer-password"
VISITS_TODAY = 6
HISTORY_VISITS = 25
SITES_PER_CLIENT = 3
UNITS_PER_SITE = 2
CATEGORIES = ("boiler", "lift", "hvac", "refrigeration")
# The engineer app's goal (issue 18): half the bare endpoint's throughput, p99 within 50 ms.
TARGET_RATIO = 0.5
TARGET_P99_MS = 50.0


@get("/bare", sync_to_thread=False)
def bare_json() -> dict[str, Any]:
    """The baseline: a small JSON answer, no database, no auth."""
    return {"status": "ok", "items": [{"id": n, "name": f"item {n}"} for n in range(5)]}


# Served by uvicorn exactly as the real app: `benchmarks.mobile_api:bare_app`.
bare_app = Litestar(route_handlers=[bare_json], debug=False)


def _md5_uuid(value: str) -> uuid.UUID:
    """The uuid PostgreSQL's `md5(value)::uuid` gives."""
    return uuid.UUID(hashlib.md5(value.encode()).hexdigest())


# -- data -----------------------------------------------------------------------------------

_FILL = [
    """INSERT INTO clients (id, name, tax_id)
       SELECT md5('c' || g)::uuid, 'Client ' || g, 'BENCH' || g
       FROM generate_series(1, CAST(:clients AS integer)) g""",
    """INSERT INTO sites (id, client_id, name, address, city, postal_code, country, timezone,
                          location, access_notes, opening_hours)
       SELECT md5('s' || g)::uuid,
              md5('c' || (1 + (g - 1) / CAST(:sites_per_client AS integer)))::uuid,
              'Site ' || g, g || ' Friedrichstraße', 'Berlin', '10117', 'DE', 'Europe/Berlin',
              ST_SetSRID(ST_MakePoint(13.405 + (random() - 0.5) * 0.35,
                                      52.52 + (random() - 0.5) * 0.2), 4326),
              'Report to the gatehouse',
              '[{"weekday": 0, "opens": "07:00", "closes": "19:00"},
                {"weekday": 1, "opens": "07:00", "closes": "19:00"},
                {"weekday": 2, "opens": "07:00", "closes": "19:00"},
                {"weekday": 3, "opens": "07:00", "closes": "19:00"},
                {"weekday": 4, "opens": "07:00", "closes": "19:00"}]'::jsonb
       FROM generate_series(1, CAST(:sites AS integer)) g""",
    """INSERT INTO equipment_models (id, manufacturer, model, category, instructions)
       SELECT md5('m' || g)::uuid, 'Maker ' || (1 + g % 4), 'Model ' || g,
              (ARRAY['boiler', 'lift', 'hvac', 'refrigeration'])[1 + g % 4],
              'Isolate the supply before opening the casing. Check the seals.'
       FROM generate_series(1, 12) g""",
    """INSERT INTO equipment (id, client_id, site_id, model_id, serial_number, name, status)
       SELECT md5('e' || g)::uuid,
              md5('c' || (1 + (1 + (g - 1) / CAST(:units_per_site AS integer) - 1)
                             / CAST(:sites_per_client AS integer)))::uuid,
              md5('s' || (1 + (g - 1) / CAST(:units_per_site AS integer)))::uuid,
              md5('m' || (1 + g % 12))::uuid, 'SN-' || lpad(g::text, 7, '0'), 'Unit ' || g,
              'active'
       FROM generate_series(1, CAST(:units AS integer)) g""",
    """INSERT INTO users (id, email, full_name, password_hash, role)
       SELECT md5('u' || g)::uuid, 'engineer' || g || '@bench.fieldline.dev',
              'Engineer' || g || ' Surname' || g, CAST(:password_hash AS text), 'engineer'
       FROM generate_series(1, CAST(:engineers AS integer)) g""",
    """INSERT INTO users (id, email, full_name, password_hash, role)
       VALUES (md5('admin')::uuid, 'admin@bench.fieldline.dev', 'Bench Admin',
               CAST(:password_hash AS text), 'admin')""",
    """INSERT INTO engineers (id, user_id, phone, timezone, home_base, max_visits_per_day)
       SELECT md5('g' || g)::uuid, md5('u' || g)::uuid, '+49 171 ' || (1000000 + g),
              'Europe/Berlin',
              ST_SetSRID(ST_MakePoint(13.405 + (random() - 0.5) * 0.4,
                                      52.52 + (random() - 0.5) * 0.25), 4326), 8
       FROM generate_series(1, CAST(:engineers AS integer)) g""",
    # Today's orders: VISITS_TODAY per engineer on units spread over the city.
    """INSERT INTO work_orders (id, number, client_id, site_id, equipment_id, type, priority,
                               channel, status, title, description, created_at, updated_at)
       SELECT md5('wt' || g)::uuid, 'WO-T-' || lpad(g::text, 8, '0'), u.client_id, u.site_id,
              u.id, (ARRAY['maintenance', 'repair'])[1 + g % 2]::work_order_type,
              (ARRAY['low', 'normal', 'normal', 'high', 'critical'])[1 + g % 5]
                  ::work_order_priority,
              'phone', 'scheduled', 'Service visit ' || g, 'Noise from the unit since Monday.',
              now() - interval '2 days', now() - interval '2 days'
       FROM generate_series(1, CAST(:today AS integer)) g
       JOIN equipment u ON u.id = md5('e' || (1 + (g * 7919) % CAST(:units AS integer)))::uuid""",
    """INSERT INTO visits (id, work_order_id, status, window_starts_at, window_ends_at,
                          estimated_minutes, engineer_id, planned_start_at, route_position)
       SELECT md5('vt' || g)::uuid, md5('wt' || g)::uuid, 'assigned',
              d.day_start + interval '8 hours' + p.pos * interval '75 minutes',
              d.day_start + interval '10 hours' + p.pos * interval '75 minutes',
              60, md5('g' || (1 + (g - 1) / CAST(:per_day AS integer)))::uuid,
              d.day_start + interval '8 hours' + p.pos * interval '75 minutes', p.pos + 1
       FROM generate_series(1, CAST(:today AS integer)) g
       CROSS JOIN LATERAL (SELECT (g - 1) % CAST(:per_day AS integer) AS pos) p
       CROSS JOIN LATERAL (
           SELECT (date_trunc('day', now() AT TIME ZONE 'Europe/Berlin')
                   AT TIME ZONE 'Europe/Berlin') AS day_start) d""",
    """INSERT INTO comments (id, work_order_id, body, is_internal, created_at)
       SELECT md5('ct' || g || '-' || k)::uuid, md5('wt' || g)::uuid,
              'Customer says the noise comes and goes (' || k || ').', k = 2,
              now() - interval '1 day' + k * interval '1 hour'
       FROM generate_series(1, CAST(:today AS integer)) g, generate_series(1, 2) k""",
    # History: closed orders with a completed visit each, on the same spread of units.
    """INSERT INTO work_orders (id, number, client_id, site_id, equipment_id, type, priority,
                               channel, status, title, created_at, updated_at, resolved_at,
                               closed_at)
       SELECT md5('wh' || g)::uuid, 'WO-H-' || lpad(g::text, 8, '0'), u.client_id, u.site_id,
              u.id, 'maintenance', 'normal', 'scheduled', 'closed', 'Planned maintenance ' || g,
              now() - (1 + g % 180) * interval '1 day',
              now() - (1 + g % 180) * interval '1 day',
              now() - (1 + g % 180) * interval '1 day' + interval '4 hours',
              now() - (1 + g % 180) * interval '1 day' + interval '1 day'
       FROM generate_series(1, CAST(:history AS integer)) g
       JOIN equipment u ON u.id = md5('e' || (1 + (g * 104729) % CAST(:units AS integer)))::uuid""",
    """INSERT INTO visits (id, work_order_id, status, window_starts_at, window_ends_at,
                          estimated_minutes, engineer_id, planned_start_at, labour_minutes,
                          completed_at)
       SELECT md5('vh' || g)::uuid, md5('wh' || g)::uuid, 'completed',
              w.created_at + interval '1 hour', w.created_at + interval '3 hours', 45,
              md5('g' || (1 + (g - 1) / CAST(:history_each AS integer)))::uuid,
              w.created_at + interval '1 hour', 40 + g % 30, w.created_at + interval '2 hours'
       FROM generate_series(1, CAST(:history AS integer)) g
       JOIN work_orders w ON w.id = md5('wh' || g)::uuid""",
]

CHECKLIST: dict[str, Any] = {
    "sections": [
        {
            "title": "Safety",
            "items": [
                {"key": "isolated", "label": "Supply isolated", "kind": "yes_no"},
                {
                    "key": "pressure",
                    "label": "Pressure",
                    "kind": "number",
                    "unit": "bar",
                    "min": 1.0,
                    "max": 2.5,
                    "is_client_visible": True,
                },
                {"key": "notes", "label": "Notes", "kind": "text", "is_required": False},
            ],
        }
    ]
}


@dataclass(frozen=True)
class Fleet:
    """Who signs in and which visits each one has today."""

    emails: list[str]
    visits: list[list[uuid.UUID]]


def _admin() -> Principal:
    return Principal(
        user_id=_md5_uuid("admin"),
        session_id=uuid.uuid4(),
        role=Role.ADMIN,
        client_id=None,
        email="bench@bench.fieldline.dev",
        full_name="Bench Admin",
    )


async def fill(database_url: str, engineers: int) -> tuple[Fleet, float]:
    """Load the data set-based and attach checklists; the fleet and the seconds it took."""
    started = time.monotonic()
    clients = max(20, engineers // 2)
    sites = clients * SITES_PER_CLIENT
    params = {
        "clients": clients,
        "sites": sites,
        "sites_per_client": SITES_PER_CLIENT,
        "units": sites * UNITS_PER_SITE,
        "units_per_site": UNITS_PER_SITE,
        "engineers": engineers,
        "password_hash": hash_password(PASSWORD),
        "today": engineers * VISITS_TODAY,
        "per_day": VISITS_TODAY,
        "history": engineers * HISTORY_VISITS,
        "history_each": HISTORY_VISITS,
    }
    engine = create_async_engine(database_url, pool_size=2)
    factory = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with factory() as session:
            for statement in _FILL:
                names = {k: v for k, v in params.items() if f":{k}" in statement}
                await session.execute(text(statement), names)
            await session.commit()
        visit_ids = [_md5_uuid(f"vt{g}") for g in range(1, engineers * VISITS_TODAY + 1)]
        async with factory() as session:
            await _attach_checklists(session, visit_ids)
            await session.commit()
        async with factory() as session:
            await session.execute(text("ANALYZE"))
            await session.commit()
    finally:
        await engine.dispose()
    fleet = Fleet(
        emails=[f"engineer{g}@bench.fieldline.dev" for g in range(1, engineers + 1)],
        visits=[visit_ids[e * VISITS_TODAY : (e + 1) * VISITS_TODAY] for e in range(engineers)],
    )
    return fleet, time.monotonic() - started


async def _attach_checklists(session: AsyncSession, visit_ids: list[uuid.UUID]) -> None:
    """A published checklist for every category, attached to today's visits up front."""
    templates = TemplateService(session)
    template = await templates.create(
        TemplateInput(
            name="Annual service",
            definition=msgspec.convert(CHECKLIST, Definition),
            categories=list(CATEGORIES),
        ),
        actor=_admin(),
    )
    await templates.publish(template.id)  # attaches runs to the open visits


# -- servers --------------------------------------------------------------------------------


def _wait_for(url: str, process: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server for {url} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout_s:.0f} s")


@dataclass
class Server:
    """A uvicorn process serving one app."""

    base: str
    pid: int


@contextmanager
def uvicorn_server(
    target: str, env: dict[str, str], ready_path: str, log: Path
) -> Iterator[Server]:
    """`target` served by uvicorn on a free loopback port."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        target,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_for(base + ready_path, process)
            yield Server(base=base, pid=process.pid)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# -- load -----------------------------------------------------------------------------------


@dataclass
class Result:
    """What one endpoint did under load."""

    name: str
    latencies_ms: list[float]
    errors: int
    seconds: float

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.seconds

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def sign_in(base: str, emails: list[str], concurrency: int) -> list[str]:
    """An access token per engineer, through the real login endpoint."""
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60.0) as http:

        async def one(email: str) -> str:
            async with gate:
                response = await http.post(
                    "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
                )
            response.raise_for_status()
            return str(response.json()["access_token"])

        return list(await asyncio.gather(*(one(e) for e in emails)))


PathFor = Callable[[int, int], tuple[str, dict[str, str]]]


async def drive(
    base: str, name: str, path_for: PathFor, *, concurrency: int, seconds: float, warmup: float
) -> Result:
    """`concurrency` workers ask as fast as answers come for `seconds` after a warm-up.

    `path_for(worker, n)` gives the n-th request of a worker: its path and headers.
    """
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    errors = 0
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30.0) as http:

        async def worker(index: int, until: float, record: bool) -> None:
            nonlocal errors
            n = 0
            while time.perf_counter() < until:
                path, headers = path_for(index, n)
                n += 1
                started = time.perf_counter()
                response = await http.get(path, headers=headers)
                elapsed = (time.perf_counter() - started) * 1000
                if not record:
                    continue
                if response.status_code == 200:
                    latencies.append(elapsed)
                else:
                    errors += 1

        until = time.perf_counter() + warmup
        await asyncio.gather(*(worker(i, until, False) for i in range(concurrency)))
        started = time.perf_counter()
        until = started + seconds
        await asyncio.gather(*(worker(i, until, True) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
    return Result(name=name, latencies_ms=latencies, errors=errors, seconds=elapsed)


def _own_engineer(worker: int, n: int, workers: int, engineers: int) -> int:
    """The n-th engineer a worker speaks for: worker w owns w, w + workers, w + 2 workers, ..."""
    owned = max(1, (engineers - worker + workers - 1) // workers)
    return worker + workers * (n % owned)


class Profiler:
    """py-spy sampling the app server while an endpoint is driven: where its time goes."""

    def __init__(self, pid: int, folder: Path) -> None:
        self.pid = pid
        self.folder = folder
        self.exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if not Path(self.exe).exists():
            raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")

    def start(self, name: str, seconds: float) -> tuple[subprocess.Popen[bytes], Path]:
        out = self.folder / (hashlib.sha1(name.encode()).hexdigest()[:8] + ".txt")
        command = [self.exe, "record", "--pid", str(self.pid), "--rate", "250"]
        command += ["--duration", str(max(1, int(seconds))), "--format", "raw", "-o", str(out)]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return process, out

    @staticmethod
    def summary(name: str, out: Path, top: int = 30) -> None:
        """Share of samples per function, self and inclusive (each stack counted once)."""
        own: dict[str, int] = {}
        inclusive: dict[str, int] = {}
        total = 0
        for line in out.read_text().splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack:
                continue
            count = int(count_text)
            frames = [
                f.split(" (")[0] + " " + f.rsplit("/", 1)[-1].rstrip(")") for f in stack.split(";")
            ]
            total += count
            own[frames[-1]] = own.get(frames[-1], 0) + count
            for frame in set(frames):
                inclusive[frame] = inclusive.get(frame, 0) + count
        print(f"\nprofile of the app server while driving {name}: {total} samples")
        for title, table in (("inclusive", inclusive), ("self", own)):
            print(f"  top {top} by {title} time")
            for frame, count in sorted(table.items(), key=lambda kv: -kv[1])[:top]:
                print(f"    {100 * count / total:5.1f} %  {frame}")


async def measure(
    app_base: str,
    bare_base: str,
    fleet: Fleet,
    *,
    concurrency: int,
    seconds: float,
    profiler: Profiler | None = None,
) -> list[Result]:
    """Sign everyone in, then drive the bare endpoint and the two engineer reads in turn."""
    started = time.monotonic()
    tokens = await sign_in(app_base, fleet.emails, min(concurrency, 8))
    print(f"signed in {len(tokens)} engineers in {time.monotonic() - started:.1f} s")
    engineers = len(tokens)
    workers = min(concurrency, engineers)

    def bare(worker: int, n: int) -> tuple[str, dict[str, str]]:
        return "/bare", {}

    def today(worker: int, n: int) -> tuple[str, dict[str, str]]:
        who = _own_engineer(worker, n, workers, engineers)
        return "/mobile/v1/engineer/today", {"Authorization": f"Bearer {tokens[who]}"}

    def visit(worker: int, n: int) -> tuple[str, dict[str, str]]:
        who = _own_engineer(worker, n, workers, engineers)
        visit_id = fleet.visits[who][n % VISITS_TODAY]
        return (
            f"/mobile/v1/engineer/visits/{visit_id}",
            {"Authorization": f"Bearer {tokens[who]}"},
        )

    runs = [
        (bare_base, "GET /bare (Litestar, no DB, no auth)", bare),
        (app_base, "GET /mobile/v1/engineer/today", today),
        (app_base, "GET /mobile/v1/engineer/visits/{id}", visit),
    ]
    results = []
    for base, name, path_for in runs:
        print(f"driving {name} for {seconds:.0f} s with {workers} workers", file=sys.stderr)
        sampling = profiler.start(name, seconds + 2.0) if profiler and base == app_base else None
        results.append(
            await drive(base, name, path_for, concurrency=workers, seconds=seconds, warmup=2.0)
        )
        if profiler and sampling:
            process, out = sampling
            await asyncio.to_thread(process.wait)
            profiler.summary(name, out)
    return results


def report(results: list[Result], *, engineers: int, concurrency: int, seconds: float) -> None:
    """The table: throughput, latency percentiles and the ratio to the bare endpoint."""
    bare = results[0].rate
    print(
        f"\n{engineers} engineers x {VISITS_TODAY} visits today, {concurrency} workers, "
        f"{seconds:.0f} s per endpoint, one uvicorn process each, {os.cpu_count()} CPUs "
        "shared with the load generator and PostgreSQL"
    )
    print(
        f"{'endpoint':<40} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'errors':>7} {'vs bare':>8}"
    )
    for r in results:
        ratio = r.rate / bare if bare else float("nan")
        print(
            f"{r.name:<40} {len(r.latencies_ms):>9,} {r.rate:>8.1f} {r.percentile(0.5):>8.1f} "
            f"{r.percentile(0.99):>8.1f} {r.errors:>7} {ratio:>8.3f}"
        )
    for r in results[1:]:
        ratio = r.rate / bare if bare else float("nan")
        p99 = r.percentile(0.99)
        verdict = "ok" if ratio >= TARGET_RATIO and p99 <= TARGET_P99_MS else "MISSED"
        print(
            f"target {r.name}: >= {TARGET_RATIO}x bare and p99 <= {TARGET_P99_MS:.0f} ms at "
            f"16 workers; now {ratio:.3f}x, p99 {p99:.1f} ms: {verdict}"
        )
    medians = [statistics.median(r.latencies_ms) for r in results if r.latencies_ms]
    if len(medians) == len(results):
        print(f"(median latency ratio today/bare: {medians[1] / medians[0]:.1f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--engineers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample the app server with py-spy while each engineer endpoint is driven "
        "(the figures are then a little lower)",
    )
    args = parser.parse_args()
    # One log line per request would cost the load generator more than the requests.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if args.engineers < 1 or args.concurrency < 1 or args.seconds <= 0:
        parser.error("--engineers, --concurrency and --seconds must be positive")
    base = Path(tempfile.mkdtemp(prefix="fieldline-bench-"))
    base.chmod(0o755)
    postgres = LocalPostgres(data_dir=base / "postgres", port=free_port())
    try:
        postgres.start(fsync=False)
        postgres.ensure_database("bench")
        database_url = postgres.dsn("bench")
        upgrade(database_url)
        fleet, took = asyncio.run(fill(database_url, args.engineers))
        print(f"loaded {args.engineers} engineers' data in {took:.1f} s")
        env = {
            **os.environ,
            "FSM_ENV": "development",
            "FSM_DATABASE_URL": database_url,
            "FSM_DATABASE_POOL_SIZE": str(max(10, args.concurrency)),
            "FSM_JWT_SECRET": secrets.token_urlsafe(48),
            "FSM_SCHEDULER_ENABLED": "false",
        }
        with (
            uvicorn_server("fsm.main.asgi:app", env, "/health", base / "app.log") as app,
            uvicorn_server(
                "benchmarks.mobile_api:bare_app", env, "/bare", base / "bare.log"
            ) as bare,
        ):
            results = asyncio.run(
                measure(
                    app.base,
                    bare.base,
                    fleet,
                    concurrency=args.concurrency,
                    seconds=args.seconds,
                    profiler=Profiler(app.pid, base) if args.profile else None,
                )
            )
        report(
            results,
            engineers=args.engineers,
            concurrency=min(args.concurrency, args.engineers),
            seconds=args.seconds,
        )
    finally:
        postgres.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
