"""Outbox-to-mail latency: events committed at a steady rate, delivered by two workers.

    python -m benchmarks.notifications [--events 1000] [--rate 100] [--workers 2]

Starts its own throw-away PostgreSQL+PostGIS cluster, migrates it, starts an SMTP sink
(aiosmtpd) in this process and `--workers` real `fsm worker` processes, then commits
`--events` outbox events (one per transaction, `--rate` a second), each for one client user.
The latency of an event is from its commit to the SMTP server's acceptance of its mail
(through the relay, the delivery row, the queue and SMTP); the sink runs as a process of
its own (`fsm mail-sink`). Prints p50/p95/max beside the target.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from fsm.db import utcnow
from fsm.main.localinfra import LocalPostgres, free_port
from fsm.main.migrate import upgrade
from fsm.notifications.models import DeliveryStatus, MailDelivery
from fsm.outbox import EventKind, OutboxEvent, record
from fsm.users.models import Role, User

TARGET_P95_S = 2.0


async def _all_sent(factory: async_sessionmaker[AsyncSession], count: int) -> None:
    async with asyncio.timeout(600):
        while True:
            async with factory() as session:
                sent = await session.scalar(
                    select(func.count())
                    .select_from(MailDelivery)
                    .where(MailDelivery.status == DeliveryStatus.SENT)
                )
            if sent == count:
                return
            await asyncio.sleep(0.2)


async def run(url: str, mail_dir: Path, *, events: int, rate: float, workers: int) -> None:
    engine = create_async_engine(url)
    factory = async_sessionmaker(engine, expire_on_commit=False)
    smtp_port = free_port()
    # The sink is a process of its own, as a real SMTP server would be.
    sink = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "fsm.main.cli", "mail-sink", "--port", str(smtp_port), "--dir", str(mail_dir)),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    async with factory() as session:
        from fsm.clients.models import Client

        company = Client(name="Bench GmbH", tax_id="BENCH-1")
        session.add(company)
        await session.flush()
        session.add(
            User(
                email="reader@bench.example",
                full_name="Bench Reader",
                password_hash="-",
                role=Role.CLIENT,
                client_id=company.id,
            )
        )
        await session.commit()
    env = {
        **os.environ,
        "FSM_ENV": "test",
        "FSM_DATABASE_URL": url,
        "FSM_SMTP_PORT": str(smtp_port),
    }
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "fsm.main.cli", "worker", "--name", f"bench-{n}"),
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for n in range(workers)
    ]
    try:
        await asyncio.sleep(3)  # the workers connect and start listening
        started = time.monotonic()
        for n in range(events):
            async with factory() as session:
                record(
                    session,
                    EventKind.REQUEST_RECEIVED,
                    client_id=company.id,
                    payload={"number": f"WO-B-{n:06d}", "title": "Benchmark"},
                )
                await session.commit()
            delay = started + (n + 1) / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        await _all_sent(factory, events)
        async with factory() as session:
            rows = (
                await session.execute(
                    select(
                        MailDelivery.id,
                        OutboxEvent.occurred_at,
                        MailDelivery.created_at,
                        MailDelivery.sent_at,
                    ).join(OutboxEvent, OutboxEvent.id == MailDelivery.event_id)
                )
            ).all()
        relayed = sorted((created - at).total_seconds() for _, at, created, _ in rows)
        # Sent = the SMTP server accepted the message (every one is, by now).
        done = [(at, created, sent_at) for _, at, created, sent_at in rows if sent_at]
        sent = sorted((sent_at - created).total_seconds() for _, created, sent_at in done)
        latencies = sorted((sent_at - at).total_seconds() for at, _, sent_at in done)
        received = len(os.listdir(mail_dir))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            await proc.wait()
        sink.terminate()
        await sink.wait()
        await engine.dispose()
    p50, p95 = _p50_p95(latencies)
    print(
        f"{len(latencies)} events at {rate:g}/s, {workers} workers, {received} mails in the sink "
        f"(measured {utcnow():%F})"
    )
    print(
        f"outbox-to-mail latency  p50 {p50 * 1000:7.0f} ms   p95 {p95 * 1000:7.0f} ms   "
        f"max {latencies[-1] * 1000:7.0f} ms   (target p95 < {TARGET_P95_S * 1000:.0f} ms)"
    )
    for name, part in (("  outbox to delivery row", relayed), ("  delivery row to sent", sent)):
        low, high = _p50_p95(part)
        print(f"{name:<24} p50 {low * 1000:7.0f} ms   p95 {high * 1000:7.0f} ms")


def _p50_p95(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), values[max(0, int(len(values) * 0.95) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="fieldline-bench-"))
    base.chmod(0o755)
    postgres = LocalPostgres(data_dir=base / "postgres", port=free_port())
    try:
        postgres.start(fsync=False)
        postgres.ensure_database("bench")
        upgrade(postgres.dsn("bench"))
        asyncio.run(
            run(
                postgres.dsn("bench"),
                base / "mail",
                events=args.events,
                rate=args.rate,
                workers=args.workers,
            )
        )
    finally:
        postgres.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
