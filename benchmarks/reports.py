"""Monthly report speed at a real history: the SLA statement at 1 M work orders.

    python -m benchmarks.reports [--rows 1000000] [--repeats 30]

Starts its own throw-away PostgreSQL+PostGIS cluster, fills it like
`benchmarks.workorder_queue` (500 clients, three years of history), puts every order under
an SLA policy on a Mon-Fri 08:00-17:00 Berlin calendar, and makes one client large (2 % of
all orders, 20 000 at 1 M). Then it times the staff statement, the client's own version, the
support funnel and the first-time fix rate (all clients, and the large one) for the last two
full months (the last one holds most of the generated open backlog), for
a usual client and for the large one, and prints p50/p95 beside the target (p95 <= 300 ms
per monthly report).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from benchmarks.workorder_queue import fill
from equipment.service_periods.periods import add_months
from fsm.main.localinfra import LocalPostgres, free_port
from fsm.main.migrate import upgrade
from reports.first_time_fix import first_time_fix
from reports.funnel import funnel
from reports.sla import client_statement, sla_statement

TARGET_P95_MS = 300.0

_POLICY = """
WITH cal AS (
    INSERT INTO sla_calendars (id, family_id, name, timezone, hours, holidays)
    VALUES (md5('cal')::uuid, md5('cal')::uuid, 'Berlin office', 'Europe/Berlin',
            CAST(:hours AS jsonb), '[]'::jsonb)
    RETURNING id)
INSERT INTO sla_policies (id, family_id, name, calendar_id, targets, pause_statuses,
                          reaction_statuses, is_default)
SELECT md5('policy')::uuid, md5('policy')::uuid, 'Bench policy', cal.id, CAST(:targets AS jsonb),
       '["on_hold"]'::jsonb, '["scheduled","in_progress","resolved","closed"]'::jsonb, false
FROM cal
"""


def _uuid(value: str) -> uuid.UUID:
    return uuid.UUID(hashlib.md5(value.encode()).hexdigest())


async def prepare(factory: async_sessionmaker[AsyncSession]) -> None:
    """Every order under the policy; client 1 takes 2 % of all orders."""
    hours = [{"weekday": d, "start": "08:00", "end": "17:00"} for d in range(5)]
    targets = {
        p: {"reaction_minutes": r, "resolution_minutes": s}
        for p, r, s in (
            ("low", 240, 2400),
            ("normal", 120, 960),
            ("high", 60, 480),
            ("critical", 30, 240),
        )
    }
    async with factory() as session:
        await session.execute(
            text(_POLICY), {"hours": json.dumps(hours), "targets": json.dumps(targets)}
        )
        await session.execute(text("UPDATE clients SET timezone = 'Europe/Berlin'"))
        await session.execute(
            text(
                "UPDATE work_orders SET sla_policy_id = md5('policy')::uuid,"
                " client_id = CASE WHEN right(number, 2) IN ('00', '50') THEN md5('client1')::uuid"
                " ELSE client_id END"
            )
        )
        await session.commit()
        await session.execute(text("ANALYZE"))
        await session.commit()


async def _time(
    factory: async_sessionmaker[AsyncSession],
    call: Callable[[AsyncSession], Awaitable[int]],
    repeats: int,
) -> tuple[int, float, float]:
    async with factory() as session:
        await call(session)  # warm: connection, statement cache, pages in memory
    timings, size = [], 0
    for _ in range(repeats):
        async with factory() as session:
            started = time.perf_counter()
            size = await call(session)
            timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return size, statistics.median(timings), timings[min(len(timings) - 1, int(0.95 * repeats))]


async def run(database_url: str, rows: int, repeats: int) -> None:
    engine = create_async_engine(database_url, pool_size=2)
    factory = async_sessionmaker(engine, expire_on_commit=False)
    now = datetime.now(UTC)
    this_month = date(now.year, now.month, 1)
    months = [add_months(this_month, -1), add_months(this_month, -2)]
    try:
        seconds = await fill(engine, factory, rows)
        await prepare(factory)
        print(f"filled {rows:,} work orders in {seconds:.1f} s")
        usual, large = _uuid("client7"), _uuid("client1")

        def staff(client_id: uuid.UUID, month: date) -> Callable[[AsyncSession], Awaitable[int]]:
            async def call(session: AsyncSession) -> int:
                statement = await sla_statement(session, client_id, month, as_of=now)
                return sum(line.requests for line in statement.lines)

            return call

        def own(client_id: uuid.UUID, month: date) -> Callable[[AsyncSession], Awaitable[int]]:
            async def call(session: AsyncSession) -> int:
                statement = await client_statement(session, client_id, month, as_of=now)
                return sum(level.requests for level in statement.service_levels)

            return call

        def funnel_of(
            client_id: uuid.UUID | None, month: date
        ) -> Callable[[AsyncSession], Awaitable[int]]:
            async def call(session: AsyncSession) -> int:
                report = await funnel(session, month, now=now, client_id=client_id)
                return sum(c.opened for c in report.channels)

            return call

        def fix_of(
            client_id: uuid.UUID | None, month: date
        ) -> Callable[[AsyncSession], Awaitable[int]]:
            async def call(session: AsyncSession) -> int:
                report = await first_time_fix(session, month, client_id=client_id)
                return sum(g.resolved for g in report.work_types)

            return call

        cases: dict[str, Callable[[AsyncSession], Awaitable[int]]] = {}
        for month in months:
            for who, client_id in (("usual", usual), ("large", large)):
                cases[f"{month:%Y-%m} staff, {who} client"] = staff(client_id, month)
                cases[f"{month:%Y-%m} client's, {who} client"] = own(client_id, month)
            for who, scope in (("all clients", None), ("large client", large)):
                cases[f"{month:%Y-%m} funnel, {who}"] = funnel_of(scope, month)
                cases[f"{month:%Y-%m} first-time fix, {who}"] = fix_of(scope, month)
        results = [(name, *await _time(factory, call, repeats)) for name, call in cases.items()]
    finally:
        await engine.dispose()
    print(f"\nmonthly reports at {rows:,} work orders, {repeats} runs each")
    print(f"{'report':<40} {'requests':>9} {'p50 ms':>8} {'p95 ms':>8} {'target':>8}")
    for name, size, p50, p95 in results:
        verdict = "ok" if p95 <= TARGET_P95_MS else "OVER"
        print(f"{name:<40} {size:>9,} {p50:>8.1f} {p95:>8.1f} {TARGET_P95_MS:>6.0f} {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="fieldline-bench-"))
    base.chmod(0o755)
    postgres = LocalPostgres(data_dir=base / "postgres", port=free_port())
    try:
        postgres.start(fsync=False)
        postgres.ensure_database("bench")
        upgrade(postgres.dsn("bench"))
        asyncio.run(run(postgres.dsn("bench"), args.rows, args.repeats))
    finally:
        postgres.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
