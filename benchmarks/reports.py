"""Monthly report speed at a real history: every report of a month at 1 M work orders.

    python -m benchmarks.reports [--rows 1000000] [--repeats 30]

Starts its own throw-away PostgreSQL+PostGIS cluster, fills it like
`benchmarks.workorder_queue` (500 clients, three years of history), puts every order under
an SLA policy on a Mon-Fri 08:00-17:00 Berlin calendar, and makes one client large (2 % of
all orders, 20 000 at 1 M). Over the last four months it adds a visit history (60
engineers, a completed visit with its on-site event for each resolved order, a seventh with
a second), four units a site, a rating for every third resolved order, a monthly contract
per client covering its units with a service period a month each. Then, as the worker's
rollup job would, it folds the funnel's rollups, and times each report (SLA statement, the
client's own version, support funnel, first-time fix, satisfaction, labour margin,
maintenance compliance, utilisation) for the last two full months (the last one holds most
of the generated open backlog), for all clients, a usual one and the large one, printing
p50/p95 beside the target (p95 <= 300 ms per monthly report).
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
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from benchmarks.workorder_queue import fill
from equipment.service_periods.periods import add_months
from fsm.db import SERVER_SETTINGS
from fsm.main.localinfra import LocalPostgres, free_port
from fsm.main.migrate import upgrade
from reports.first_time_fix import first_time_fix
from reports.funnel import funnel
from reports.labour import labour_margin
from reports.maintenance import maintenance_compliance
from reports.rollups import fold_rollups
from reports.satisfaction import satisfaction
from reports.sla import client_statement, sla_statement
from reports.utilisation import utilisation

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


# A visit history for the first-time fix rate and the satisfaction report: 60 engineers; one
# completed visit (two for every seventh) with its on-site event for each order resolved in
# the last four months; a unit (of four a site) for every other order opened since; a rating
# for every third resolved.
_HISTORY = (
    """
    INSERT INTO users (id, email, full_name, password_hash, role)
    SELECT md5('engineer' || g)::uuid, 'engineer' || g || '@bench.example',
           'Engineer ' || g, 'x', 'engineer'
    FROM generate_series(1, 60) g
    """,
    """
    INSERT INTO engineers (id, user_id, timezone, home_base)
    SELECT md5('eng' || g)::uuid, md5('engineer' || g)::uuid, 'Europe/Berlin',
           ST_SetSRID(ST_MakePoint(13.4, 52.5), 4326)
    FROM generate_series(1, 60) g
    """,
    """
    INSERT INTO equipment_models (id, manufacturer, model, category)
    SELECT md5('model' || g)::uuid, 'Maker ' || g, 'M-' || g, 'lift'
    FROM generate_series(1, 40) g
    """,
    # Four units a site, so a unit's later request can be a follow-up.
    """
    INSERT INTO equipment (id, client_id, site_id, model_id, serial_number, status)
    SELECT DISTINCT md5('unit' || wo.site_id || k)::uuid, wo.client_id, wo.site_id,
           md5('model' || (1 + abs(hashtext(wo.site_id::text || k)) % 40))::uuid,
           'SN-' || md5(wo.site_id::text || k), 'active'::equipment_status
    FROM work_orders wo, generate_series(0, 3) k
    WHERE wo.created_at >= :since
    """,
    """
    UPDATE work_orders SET equipment_id = md5('unit' || site_id || abs(hashtext(number)) % 4)::uuid
    WHERE created_at >= :since AND right(number, 1) IN ('0', '2', '4', '6', '8')
    """,
    """
    INSERT INTO visits (id, work_order_id, engineer_id, status, window_starts_at,
                        window_ends_at, estimated_minutes, completed_at)
    SELECT md5('visit' || n || wo.id)::uuid, wo.id,
           md5('eng' || (1 + abs(hashtext(wo.id::text || n)) % 60))::uuid, 'completed',
           wo.created_at, wo.resolved_at, 60, wo.resolved_at - (n - 1) * interval '1 hour'
    FROM work_orders wo, generate_series(1, 2) n
    WHERE wo.resolved_at >= :since AND (n = 1 OR abs(hashtext(wo.id::text)) % 7 = 0)
    """,
    """
    INSERT INTO visit_status_events (visit_id, to_status, occurred_at)
    SELECT v.id, 'on_site', v.completed_at - interval '1 hour' FROM visits v
    """,
    """
    INSERT INTO work_order_ratings (id, work_order_id, score, created_at)
    SELECT md5('rating' || wo.id)::uuid, wo.id, 1 + abs(hashtext(wo.id::text)) % 5,
           wo.resolved_at + interval '1 day'
    FROM work_orders wo
    WHERE wo.resolved_at >= :since AND abs(hashtext(wo.number)) % 3 = 0
    """,
    # A monthly contract per client covering its units, with a service period a month for
    # each unit (done by the unit's first request resolved that month, else missed or open),
    # the orders with a unit under it, labour on every visit and a cost rate per engineer.
    """
    INSERT INTO contracts (id, client_id, number, valid_from, valid_to, status, billing_period,
                           included_labour_minutes, hourly_rate_cents, callout_fee_cents)
    SELECT md5('contract' || c.id)::uuid, c.id, 'C-' || left(md5(c.id::text), 12),
           DATE '2023-01-01', DATE '2027-12-31', 'active', 'month', 600, 9000, 5000
    FROM clients c
    """,
    """
    INSERT INTO contract_coverages (id, contract_id, equipment_id, period, is_active,
                                    interval_count, interval_unit, visit_minutes)
    SELECT md5('coverage' || e.id)::uuid, md5('contract' || e.client_id)::uuid, e.id,
           daterange(DATE '2023-01-01', DATE '2028-01-01'), true, 1, 'month', 60
    FROM equipment e
    """,
    """
    UPDATE work_orders SET contract_id = md5('contract' || client_id)::uuid
    WHERE equipment_id IS NOT NULL
    """,
    """
    INSERT INTO service_periods (id, coverage_id, contract_id, equipment_id, starts_on,
                                 ends_on, status, work_order_id)
    SELECT md5('period' || e.id || m.m)::uuid, md5('coverage' || e.id)::uuid,
           md5('contract' || e.client_id)::uuid, e.id, m.m::date,
           (m.m + interval '1 month' - interval '1 day')::date,
           CASE WHEN done.id IS NOT NULL THEN 'done'
                WHEN m.m + interval '1 month' <= now() THEN 'missed'
                ELSE 'planned' END::service_period_status,
           done.id
    FROM equipment e
    CROSS JOIN generate_series(CAST(:since AS date), now(), interval '1 month') AS m(m)
    LEFT JOIN LATERAL (
        SELECT wo.id FROM work_orders wo
        WHERE wo.equipment_id = e.id AND wo.resolved_at >= m.m
          AND wo.resolved_at < m.m + interval '1 month'
        ORDER BY wo.resolved_at, wo.id LIMIT 1) AS done ON true
    """,
    "UPDATE visits SET labour_minutes = 45",
    "UPDATE engineers SET cost_rate_cents = 4000 + 100 * (abs(hashtext(id::text)) % 20)",
)


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
        since = add_months(date.today().replace(day=1), -4)
        for statement in _HISTORY:
            await session.execute(text(statement), {"since": since})
        # What the worker's rollup job does every few minutes.
        await fold_rollups(session)
        await session.commit()


async def settle(engine: AsyncEngine) -> None:
    """What autovacuum does to a live table after all those writes (VACUUM cannot run in a
    transaction: a connection of its own, autocommitting)."""
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text("VACUUM ANALYZE"))


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
    # Sessions as the product opens them (JIT off: fsm.db.create_engine).
    engine = create_async_engine(
        database_url, pool_size=2, connect_args={"server_settings": SERVER_SETTINGS}
    )
    factory = async_sessionmaker(engine, expire_on_commit=False)
    now = datetime.now(UTC)
    this_month = date(now.year, now.month, 1)
    months = [add_months(this_month, -1), add_months(this_month, -2)]
    try:
        seconds = await fill(engine, factory, rows)
        await prepare(factory)
        await settle(engine)
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

        def ratings_of(
            client_id: uuid.UUID | None, month: date
        ) -> Callable[[AsyncSession], Awaitable[int]]:
            async def call(session: AsyncSession) -> int:
                report = await satisfaction(session, month, client_id=client_id)
                return sum(c.ratings for c in report.clients)

            return call

        def margin_of(
            client_id: uuid.UUID | None, month: date
        ) -> Callable[[AsyncSession], Awaitable[int]]:
            async def call(session: AsyncSession) -> int:
                report = await labour_margin(session, month, client_id=client_id)
                return sum(c.visits for c in report.contracts)

            return call

        def compliance_of(
            client_id: uuid.UUID | None, month: date
        ) -> Callable[[AsyncSession], Awaitable[int]]:
            async def call(session: AsyncSession) -> int:
                report = await maintenance_compliance(session, month, now=now, client_id=client_id)
                return sum(c.due for c in report.contracts)

            return call

        def use_in(month: date) -> Callable[[AsyncSession], Awaitable[int]]:
            async def call(session: AsyncSession) -> int:
                last = add_months(month, 1) - timedelta(days=1)
                report = await utilisation(session, month, last)
                return len(report.engineers)

            return call

        cases: dict[str, Callable[[AsyncSession], Awaitable[int]]] = {}
        for month in months:
            for who, client_id in (("usual", usual), ("large", large)):
                cases[f"{month:%Y-%m} staff, {who} client"] = staff(client_id, month)
                cases[f"{month:%Y-%m} client's, {who} client"] = own(client_id, month)
            for who, scope in (("all clients", None), ("large client", large)):
                cases[f"{month:%Y-%m} funnel, {who}"] = funnel_of(scope, month)
                cases[f"{month:%Y-%m} first-time fix, {who}"] = fix_of(scope, month)
                cases[f"{month:%Y-%m} satisfaction, {who}"] = ratings_of(scope, month)
                cases[f"{month:%Y-%m} labour margin, {who}"] = margin_of(scope, month)
                cases[f"{month:%Y-%m} maintenance, {who}"] = compliance_of(scope, month)
            cases[f"{month:%Y-%m} utilisation, 60 engineers"] = use_in(month)
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
