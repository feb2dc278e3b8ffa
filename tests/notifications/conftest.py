"""A database of its own for the worker tests: workers see only committed data."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from fsm.main.app import create_app
from fsm.main.localinfra import free_port
from fsm.main.mailsink import MailSink
from fsm.main.migrate import upgrade
from fsm.queue import InProcessQueue
from fsm.settings import Settings
from fsm.storage import ObjectStore
from tests.conftest import Infra


@dataclass
class Live:
    """A migrated database of this module's, the app on it, and settings naming both."""

    settings: Settings
    engine: AsyncEngine
    factory: async_sessionmaker[AsyncSession]
    database_url: str


@pytest.fixture(scope="package")
async def live(infra: Infra, settings: Settings) -> AsyncIterator[Live]:
    if infra.postgres is None:
        pytest.fail("the worker tests need the test run's own cluster")
    name = f"workers_{uuid.uuid4().hex[:8]}"
    infra.postgres.ensure_database(name)
    url = infra.postgres.dsn(name)
    upgrade(url)
    live_settings = dataclasses.replace(
        settings,
        database=dataclasses.replace(settings.database, url=url),
        mail=dataclasses.replace(settings.mail, smtp_port=free_port()),
        worker=dataclasses.replace(settings.worker, heartbeat_s=0.5, stalled_after_s=2.0),
    )
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        yield Live(
            settings=live_settings,
            engine=engine,
            factory=async_sessionmaker(engine, expire_on_commit=False),
            database_url=url,
        )
    finally:
        await engine.dispose()
        infra.postgres.psql(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
async def sink(live: Live) -> AsyncIterator[MailSink]:
    """The SMTP server the workers send to (a real one: aiosmtpd on loopback)."""
    server = MailSink(port=live.settings.mail.smtp_port)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def live_client(live: Live, object_store: ObjectStore) -> AsyncIterator[httpx.AsyncClient]:
    """The app on the live database: every request commits."""
    app = create_app(
        live.settings,
        session_factory=live.factory,
        object_store=object_store,
        job_queue=InProcessQueue({}),
    )
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 50000))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
