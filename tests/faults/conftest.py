"""Fault tests: services of their own, stopped and started under a running app.

Each module gets a PostgreSQL cluster or an S3 server of its own, so stopping it never
disturbs the rest of the suite; the API runs as a real uvicorn process where the test kills
or outlives it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from fsm.db import create_engine, create_session_factory
from fsm.main.localinfra import LocalPostgres, free_port
from fsm.main.migrate import upgrade
from fsm.settings import DatabaseSettings
from fsm.storage import ObjectStore
from tests.conftest import Infra

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[LocalPostgres]:
    """A migrated cluster for this module alone."""
    base = Path(tempfile.mkdtemp(prefix="fieldline-fault-"))
    base.chmod(0o755)
    postgres = LocalPostgres(data_dir=base / "postgres", port=free_port())
    try:
        postgres.start(fsync=False)
        postgres.ensure_database("fieldline_fault")
        upgrade(postgres.dsn("fieldline_fault"))
        yield postgres
    finally:
        postgres.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
async def own_engine(own_postgres: LocalPostgres) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(DatabaseSettings(url=own_postgres.dsn("fieldline_fault")))
    yield engine
    await engine.dispose()


@pytest.fixture(scope="module")
def own_sessions(own_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that commit for real: the app process must see what the test wrote."""
    return create_session_factory(own_engine)


@dataclass
class ApiProcess:
    """`uvicorn fsm.main.asgi:app` on a port of its own, its log in a file the test reads."""

    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout_s: float = 30.0) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "fsm.main.asgi:app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the API exited:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code in (200, 503):
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"the API did not answer within {timeout_s} s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, as when the machine loses power."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
            self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture(scope="module")
def api_process(
    own_postgres: LocalPostgres,
    infra: Infra,
    object_store: ObjectStore,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ApiProcess]:
    """The API on this module's cluster and the suite's S3 server, started by the test."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FSM_")},
        "FSM_ENV": "test",
        "FSM_DATABASE_URL": own_postgres.dsn("fieldline_fault"),
        "FSM_S3_ENDPOINT_URL": infra.s3_endpoint,
        "FSM_S3_BUCKET": object_store.bucket,
        "FSM_S3_ACCESS_KEY": infra.s3_access_key,
        "FSM_S3_SECRET_KEY": infra.s3_secret_key,
        "FSM_JWT_SECRET": "fault-secret-" + "x" * 32,
    }
    api = ApiProcess(env=env, log_path=tmp_path_factory.mktemp("api") / "api.log")
    try:
        yield api
    finally:
        api.stop()
