"""Test infrastructure: a throw-away PostgreSQL+PostGIS cluster and S3 server, started here.

The schema is built once with `alembic upgrade head` (so every run tests the migrations);
each test then runs inside an outer transaction that is rolled back at its end, and every
session the app or a service opens joins it through savepoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from fsm.main.app import create_app
from fsm.main.localinfra import LocalPostgres, LocalS3, free_port
from fsm.main.mailsink import MailSink
from fsm.main.migrate import upgrade
from fsm.main.worker import run_worker
from fsm.photos.jobs import THUMBNAIL_TASK, make_thumbnail
from fsm.queue import InProcessQueue
from fsm.settings import Settings, load_settings
from fsm.storage import ObjectStore


@dataclass(frozen=True)
class Infra:
    """Where the test database and object store are."""

    database_url: str
    postgres: LocalPostgres | None
    s3_endpoint: str
    s3_access_key: str
    s3_secret_key: str


def _s3_port() -> int:
    # SeaweedFS also takes port+1..+3 and each +10000 for gRPC: all must be free.
    for _ in range(200):
        port = free_port()
        if port < 50000 and all(
            _is_free(p + grpc) for p in range(port, port + 4) for grpc in (0, 10000)
        ):
            return port
    raise RuntimeError("no free port range for the S3 server")


def _is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    """Start PostgreSQL+PostGIS and SeaweedFS for this run; stop and remove them after."""
    external_db = os.environ.get("FSM_TEST_DATABASE_URL")
    base = Path(tempfile.mkdtemp(prefix="fieldline-test-"))
    base.chmod(0o755)  # the postgres user must reach its data folder inside
    postgres = None
    s3 = LocalS3(
        data_dir=base / "s3",
        port=_s3_port(),
        access_key="test-" + uuid.uuid4().hex[:8],
        secret_key=uuid.uuid4().hex,
    )
    try:
        if external_db:
            database_url = external_db
        else:
            postgres = LocalPostgres(data_dir=base / "postgres", port=free_port())
            postgres.start(fsync=False)
            postgres.ensure_database("fieldline_test")
            database_url = postgres.dsn("fieldline_test")
        s3.start()
        upgrade(database_url)
        yield Infra(
            database_url=database_url,
            postgres=postgres,
            s3_endpoint=s3.endpoint,
            s3_access_key=s3.access_key,
            s3_secret_key=s3.secret_key,
        )
    finally:
        s3.stop()
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
async def mail_sink() -> AsyncIterator[MailSink]:
    """A real SMTP server on loopback: the account mails (reset, invitation) of `client`."""
    sink = MailSink(port=0)
    await sink.start()
    yield sink
    await sink.stop()


@pytest.fixture(scope="session")
def settings(infra: Infra, mail_sink: MailSink) -> Settings:
    """Test settings pointing at the services this run started."""
    return load_settings(
        {
            "FSM_SMTP_PORT": str(mail_sink.port),
            "FSM_ENV": "test",
            "FSM_DATABASE_URL": infra.database_url,
            "FSM_S3_ENDPOINT_URL": infra.s3_endpoint,
            "FSM_S3_BUCKET": "fieldline-test",
            "FSM_S3_ACCESS_KEY": infra.s3_access_key,
            "FSM_S3_SECRET_KEY": infra.s3_secret_key,
            "FSM_JWT_SECRET": "test-secret-" + "x" * 32,
        }
    )


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(settings.database.url, poolclass=NullPool)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def object_store(settings: Settings) -> ObjectStore:
    store = ObjectStore(settings.s3)
    await store.ensure_bucket()
    return store


@pytest.fixture
async def session_factory(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions inside this test's outer transaction, rolled back when the test ends."""
    async with engine.connect() as conn:
        outer = await conn.begin()
        yield async_sessionmaker(
            bind=conn, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        if outer.is_active:
            await outer.rollback()


@pytest.fixture
async def session(
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    async with session_factory() as session:
        yield session


@pytest.fixture(scope="session")
def shared_app(settings: Settings) -> Litestar:
    """The app most tests talk to, built once: building one takes Litestar a quarter second.

    Everything a request reads of its surroundings comes from `app.state`, so `client` points
    the state at its own test's transaction and queue; nothing else lives in the app.
    """
    return create_app(settings)


@pytest.fixture
async def client(
    settings: Settings,
    shared_app: Litestar,
    session_factory: async_sessionmaker[AsyncSession],
    object_store: ObjectStore,
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the app, seeing exactly this test's data.

    The app runs on this test's event loop (httpx's ASGI transport), so it can share the
    test's connection; Litestar's own test client would run it on another loop.
    """
    # Jobs a request defers run at once, inside this test's transaction.
    queue = InProcessQueue(
        {
            THUMBNAIL_TASK: lambda photo_id: make_thumbnail(
                session_factory, object_store, settings.photos, uuid.UUID(photo_id)
            )
        }
    )
    state = shared_app.state
    state.session_factory = session_factory
    state.object_store = object_store
    state.job_queue = queue
    transport = httpx.ASGITransport(app=shared_app, client=("203.0.113.7", 50000))  # type: ignore[arg-type]
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http
    finally:
        state.session_factory = state.job_queue = None


@dataclass
class Live:
    """A migrated database of a test package's own, where every transaction commits for real
    (as workers need: they see only committed rows), and settings naming it."""

    settings: Settings
    engine: AsyncEngine
    factory: async_sessionmaker[AsyncSession]
    database_url: str


@contextlib.asynccontextmanager
async def live_database(infra: Infra, settings: Settings) -> AsyncIterator[Live]:
    """A migrated database of its own, dropped after: a package's `live` fixture."""
    if infra.postgres is None:
        pytest.fail("the live tests need the test run's own cluster")
    name = f"live_{uuid.uuid4().hex[:8]}"
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


@contextlib.asynccontextmanager
async def running_worker(settings: Settings, name: str = "test-worker") -> AsyncIterator[None]:
    """An `fsm worker` running in this process until the block ends."""
    task = asyncio.create_task(
        run_worker(settings, concurrency=2, name=name, install_signal_handlers=False)
    )
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
