"""A database of its own for the worker tests: workers see only committed data."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from fsm.main.app import create_app
from fsm.main.mailsink import MailSink
from fsm.queue import InProcessQueue
from fsm.settings import Settings
from fsm.storage import ObjectStore
from tests.conftest import Infra, Live, live_database


@pytest.fixture(scope="package")
async def live(infra: Infra, settings: Settings) -> AsyncIterator[Live]:
    """This package's live database: other packages' committed rows never show here."""
    async with live_database(infra, settings) as db:
        yield db


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
