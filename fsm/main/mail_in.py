"""`fsm mail-in`: the inbound SMTP endpoint, each message one unit of work on the service graph."""

from __future__ import annotations

import asyncio
import signal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fsm.db import create_engine, create_session_factory, session_scope
from fsm.mailin.service import Receipt
from fsm.mailin.smtp import Deliver, start_server
from fsm.main.services import Services
from fsm.settings import Settings
from fsm.storage import ObjectStore


def delivery(
    settings: Settings,
    factory: async_sessionmaker[AsyncSession],
    object_store: ObjectStore,
) -> Deliver:
    """Take one message in its own transaction, committed before the SMTP answer."""

    async def deliver(raw: bytes, envelope_from: str | None) -> Receipt:
        async with session_scope(factory) as session:
            services = Services(session, settings, object_store=object_store)
            return await services.mail_in.receive(raw, envelope_from=envelope_from)

    return deliver


async def serve_mail_in(settings: Settings) -> None:
    """Run the endpoint until SIGINT or SIGTERM."""
    engine = create_engine(settings.database)
    store = ObjectStore(settings.s3)
    deliver = delivery(settings, create_session_factory(engine), store)
    server = await start_server(deliver, settings.mail_in)
    print(
        f"mail-in: taking mail for {settings.mail_in.address}"
        f" on {settings.mail_in.host}:{settings.mail_in.port}",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        server.close()
        await server.wait_closed()
        await engine.dispose()
