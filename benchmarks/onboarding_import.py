"""Equipment import at scale: a 10 000-row file checked, loaded and re-imported.

    python -m benchmarks.onboarding_import [--units 10000] [--format csv|xlsx]

Starts its own throw-away PostgreSQL+PostGIS cluster, migrates it and fills 200 clients with
three sites each and ten equipment models (set-based SQL, all with external keys). Then it
writes an equipment file of `--units` rows and times, each in one transaction as a request
runs it: the dry run, the real run (all rows created) and a re-import of the same file (all
rows unchanged). The target is the real run: 10 000 rows in at most 30 s.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from equipment.onboarding.service import OnboardingService
from equipment.onboarding.sheets import FileFormat, write_sheet
from fsm.auth.principal import Principal
from fsm.main.localinfra import LocalPostgres, free_port
from fsm.main.migrate import upgrade
from fsm.users.models import Role

TARGET_S = 30.0
ADMIN_ID = uuid.UUID(int=1)

_FILL = [
    f"""INSERT INTO users (id, email, full_name, password_hash, role)
        VALUES ('{ADMIN_ID}', 'admin@bench.example', 'Admin', 'x', 'admin')""",
    """INSERT INTO clients (id, name, external_key)
       SELECT md5('c' || g)::uuid, 'Client ' || g, 'C' || g FROM generate_series(1, 200) g""",
    """INSERT INTO sites (id, client_id, name, address, country, timezone, location,
                          external_key)
       SELECT md5('s' || g)::uuid, md5('c' || (1 + g % 200))::uuid, 'Site ' || g, 'Street',
              'DE', 'Europe/Berlin', ST_SetSRID(ST_MakePoint(13.4, 52.5), 4326), 'S' || g
       FROM generate_series(1, 600) g""",
    """INSERT INTO equipment_models (id, manufacturer, model, category, external_key)
       SELECT md5('m' || g)::uuid, 'Kone', 'Model ' || g, 'lift', 'M' || g
       FROM generate_series(1, 10) g""",
]

HEADER = ["external_key", "site_key", "model_key", "serial_number", "name", "installed_on"]


def equipment_file(units: int, file_format: FileFormat) -> bytes:
    rows = [
        [f"U{n}", f"S{1 + n % 600}", f"M{1 + n % 10}", f"SN-{n:06d}", f"Unit {n}", "2021-03-01"]
        for n in range(units)
    ]
    return write_sheet(HEADER, rows, file_format)


async def run(database_url: str, units: int, file_format: FileFormat) -> None:
    engine = create_async_engine(database_url)
    factory = async_sessionmaker(engine, expire_on_commit=False)
    admin = Principal(
        user_id=ADMIN_ID,
        session_id=uuid.uuid4(),
        role=Role.ADMIN,
        client_id=None,
        email="admin@bench.example",
        full_name="Admin",
    )
    try:
        async with factory() as session:
            for sql in _FILL:
                await session.execute(text(sql))
            await session.commit()
        data = equipment_file(units, file_format)
        print(f"{file_format} file of {units:,} equipment rows: {len(data) / 1e6:.1f} MB")
        results: dict[str, float] = {}
        for label, dry_run in (("dry run", True), ("real run", False), ("re-import", False)):
            started = time.monotonic()
            async with factory() as session:
                run = await OnboardingService(session).import_file(
                    "equipment", data, actor=admin, dry_run=dry_run
                )
                await session.commit()
            seconds = time.monotonic() - started
            results[label] = seconds
            print(
                f"{label:<10} {seconds:6.2f} s  created {run.created_rows:>6,}  "
                f"unchanged {run.unchanged_rows:>6,}  problems {len(run.problems)}"
            )
        verdict = "met" if results["real run"] <= TARGET_S else "MISSED"
        print(f"real run: {results['real run']:.2f} s, target <= {TARGET_S:.0f} s: {verdict}")
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--units", type=int, default=10_000)
    parser.add_argument("--format", choices=["csv", "xlsx"], default="csv")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="fieldline-bench-"))
    base.chmod(0o755)
    postgres = LocalPostgres(data_dir=base / "postgres", port=free_port())
    try:
        postgres.start(fsync=False)
        postgres.ensure_database("bench")
        upgrade(postgres.dsn("bench"))
        asyncio.run(run(postgres.dsn("bench"), args.units, FileFormat(args.format)))
    finally:
        postgres.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
