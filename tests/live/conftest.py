"""A migrated database of its own on the suite's cluster, written with real commits.

The outbox reads only events of committed transactions older than every running one, so
these tests cannot run inside the rolled-back transaction the other tests use. Each test
makes its own clients and users, so they do not see each other's data.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from fsm.db import create_engine, create_session_factory
from fsm.main.localinfra import LocalPostgres, free_port
from fsm.main.migrate import upgrade
from fsm.settings import DatabaseSettings
from fsm.sla.models import SlaPolicy
from tests.conftest import Infra
from tests.factories import make_policy

LIVE_DATABASE = "fieldline_live"


@pytest.fixture(scope="package")
def live_database_url(infra: Infra) -> Iterator[str]:
    """A migrated database beside the suite's (or on a cluster of its own)."""
    own: LocalPostgres | None = None
    base: Path | None = None
    postgres = infra.postgres
    if postgres is None:  # the suite runs on an external database: start our own cluster
        base = Path(tempfile.mkdtemp(prefix="fieldline-live-"))
        base.chmod(0o755)
        own = postgres = LocalPostgres(data_dir=base / "postgres", port=free_port())
        own.start(fsync=False)
    try:
        postgres.ensure_database(LIVE_DATABASE)
        url = postgres.dsn(LIVE_DATABASE)
        upgrade(url)
        yield url
    finally:
        if own is not None:
            own.stop()
        if base is not None:
            shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="package")
async def live_engine(live_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(DatabaseSettings(url=live_database_url))
    yield engine
    await engine.dispose()


@pytest.fixture(scope="package")
def live_sessions(live_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that commit for real."""
    return create_session_factory(live_engine)


async def ensure_default_policy(session: AsyncSession) -> None:
    """The default SLA policy work orders open with, made once for the live database."""
    if await session.scalar(select(SlaPolicy.id).where(SlaPolicy.is_default.is_(True))) is None:
        await make_policy(session)
