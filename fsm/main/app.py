"""The Litestar application: wiring of every controller, the auth middleware and error mapping."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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
from checklists.controller import (
    ChecklistFindingController,
    ChecklistTemplateController,
    EquipmentChecklistController,
    VisitChecklistController,
)
from dispatch.controller import (
    DispatchPlanController,
    start_dispatch_runs,
    stop_dispatch_runs,
)
from equipment.contracts.controller import ContractController
from equipment.equipment.controller import EquipmentController, EquipmentModelController
from equipment.service_periods.controller import MaintenanceController
from fsm.auth.controller import AuthController
from fsm.auth.middleware import PUBLIC_PATHS, BearerAuthMiddleware
from fsm.clients.controller import ClientController
from fsm.db import create_engine, create_session_factory
from fsm.engineers.controller import EngineerController
from fsm.main.health import health
from fsm.main.services import service_dependencies
from fsm.openapi import document_errors
from fsm.settings import Settings, get_settings
from fsm.sites.controller import SiteController
from fsm.skills.controller import SkillController
from fsm.sla.controller import SlaController
from fsm.storage import ObjectStore
from fsm.users.controller import UserController
from fsm.visits.controller import VisitController
from fsm.web import EXCEPTION_HANDLERS, provide_db_session, provide_principal
from fsm.workorders.controller import (
    CustomFieldController,
    ReplyTemplateController,
    WorkOrderController,
)
from mobile_api.client.controller import ClientAssetsController, ClientRequestController
from mobile_api.engineer.controller import EngineerAppController
from mobile_api.photos import (
    ClientPhotoController,
    EngineerPhotoController,
    StaffPhotoController,
)

log = logging.getLogger("fsm")


def create_app(
    settings: Settings | None = None,
    *,
    session_factory: async_sessionmaker[AsyncSession] | None = None,
    object_store: ObjectStore | None = None,
) -> Litestar:
    """Build the app; tests pass their own session factory and object store."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        engine = None
        if app.state.get("session_factory") is None:
            engine = create_engine(settings.database)
            app.state.session_factory = create_session_factory(engine)
        if app.state.get("object_store") is None:
            app.state.object_store = ObjectStore(settings.s3)
        scheduler = None
        if settings.scheduler.is_enabled:
            from fsm.main.scheduler import start_scheduler

            scheduler = start_scheduler(settings, app.state.session_factory)
        await start_dispatch_runs(app.state)
        try:
            yield
        finally:
            await stop_dispatch_runs(app.state)
            if scheduler is not None:
                scheduler.shutdown(wait=False)
            if engine is not None:
                await engine.dispose()

    state: dict[str, Any] = {
        "settings": settings,
        "session_factory": session_factory,
        "object_store": object_store,
    }
    app = Litestar(
        route_handlers=[
            health,
            AuthController,
            UserController,
            ClientController,
            SiteController,
            SkillController,
            EngineerController,
            SlaController,
            WorkOrderController,
            CustomFieldController,
            ReplyTemplateController,
            VisitController,
            MaintenanceController,
            EquipmentModelController,
            EquipmentController,
            ContractController,
            DispatchPlanController,
            EngineerPhotoController,
            ClientPhotoController,
            StaffPhotoController,
            ChecklistTemplateController,
            VisitChecklistController,
            ChecklistFindingController,
            EquipmentChecklistController,
            ClientAssetsController,
            ClientRequestController,
            EngineerAppController,
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
