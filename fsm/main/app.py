"""The Litestar application: wiring of every controller, the auth middleware and error mapping."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import fsm.main.models  # noqa: F401 - every table on the metadata before the first query
from checklists.plugin import ChecklistsPlugin
from dispatch.plugin import DispatchPlugin
from equipment.plugin import EquipmentPlugin
from fsm.auth.middleware import PUBLIC_PATHS, BearerAuthMiddleware
from fsm.db import create_engine, create_session_factory
from fsm.main.health import health
from fsm.main.services import service_dependencies
from fsm.openapi import document_errors
from fsm.plugin import FsmPlugin
from fsm.queue import JobQueue, ProcrastinateQueue, create_queue_app
from fsm.settings import Settings, get_settings
from fsm.storage import ObjectStore
from fsm.web import EXCEPTION_HANDLERS, provide_db_session, provide_principal
from mobile_api.plugin import MobileApiPlugin

log = logging.getLogger("fsm")


def create_app(
    settings: Settings | None = None,
    *,
    session_factory: async_sessionmaker[AsyncSession] | None = None,
    object_store: ObjectStore | None = None,
    job_queue: JobQueue | None = None,
) -> Litestar:
    """Build the app; tests pass their own session factory, object store and job queue.

    Without `job_queue` the app defers jobs to the PostgreSQL queue, for `fsm worker`.
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        engine = None
        if app.state.get("session_factory") is None:
            engine = create_engine(settings.database)
            app.state.session_factory = create_session_factory(engine)
        if app.state.get("object_store") is None:
            app.state.object_store = ObjectStore(settings.s3)
        async with AsyncExitStack() as stack:
            if app.state.get("job_queue") is None:
                queue_app = create_queue_app(settings.database, pool_size=2)
                await stack.enter_async_context(queue_app.open_async())
                app.state.job_queue = ProcrastinateQueue(queue_app)
            try:
                yield
            finally:
                if engine is not None:
                    await engine.dispose()

    state: dict[str, Any] = {
        "settings": settings,
        "session_factory": session_factory,
        "object_store": object_store,
        "job_queue": job_queue,
    }
    app = Litestar(
        # Each package hands its routes (and lifespan, for dispatch) through its plugin.
        route_handlers=[health],
        plugins=[
            FsmPlugin(),
            EquipmentPlugin(),
            ChecklistsPlugin(),
            DispatchPlugin(),
            MobileApiPlugin(),
        ],
        dependencies={
            "db_session": Provide(provide_db_session),
            "principal": Provide(provide_principal, sync_to_thread=False),
            **service_dependencies(),
        },
        middleware=[
            DefineMiddleware(
                BearerAuthMiddleware,
                exclude=[f"^{p}" for p in PUBLIC_PATHS],
                # HEAD is authenticated like GET; only OPTIONS (the Allow header) is not.
                exclude_http_methods=["OPTIONS"],
                scopes={"http", "websocket"},
            )
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=[lifespan],
        state=State(state),
        openapi_config=OpenAPIConfig(
            title="fieldline",
            version="1.0.0",
            description="Field service management: clients, sites, engineers, dispatch, apps.",
            path="/schema",
            render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
                }
            ),
            security=[{"bearer": []}],
        ),
        debug=False,
    )
    return document_errors(app)
