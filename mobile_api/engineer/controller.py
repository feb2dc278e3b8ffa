"""The engineer app's endpoints: engineers only, and only their own visits (others are 404)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post, put
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from checklists.schemas import AnswersIn, RunRead
from fsm.auth.guards import requires_engineer
from fsm.auth.principal import Principal
from fsm.photos.service import PhotoService
from mobile_api.engineer.schemas import (
    ChangesRead,
    CommentCreate,
    CommentRead,
    EngineerVisit,
    LocationBatch,
    LocationRead,
    StatusRequest,
    SyncRead,
    SyncRequest,
    TodayRead,
    VisitDetail,
)
from mobile_api.engineer.service import EngineerApp
from mobile_api.engineer.sync import PhotoConfirmer, SyncRunner
from mobile_api.etag import conditional_json
from mobile_api.idempotency import (
    Idempotency,
    IdempotencyStore,
    idempotency_ttl,
    provide_idempotency,
)
from mobile_api.photos import confirm_answer, fresh_links


def photo_confirmer(photos: PhotoService, principal: Principal) -> PhotoConfirmer:
    """Confirms photos exactly as POST /mobile/v1/engineer/photos/{id}/confirm does."""

    async def confirm(photo_id: uuid.UUID, sha256: str | None) -> tuple[int, Any]:
        return await confirm_answer(photos, principal, photo_id, sha256)

    return confirm


# These answers are encoded once, for their ETag or the idempotency store, and sent as bytes;
# the document states the type the bytes hold.
def _answer(kind: type[Any], status_code: int = 200) -> dict[int, ResponseSpec]:
    return {status_code: ResponseSpec(data_container=kind, description="The answer")}


def _conditional(kind: type[Any]) -> dict[int, ResponseSpec]:
    return {
        **_answer(kind),
        304: ResponseSpec(
            data_container=None, description="The caller's copy (If-None-Match) is current"
        ),
    }


class EngineerAppController(Controller):
    """Today's route, a visit's detail, field status, checklist, comments, sync and changes."""

    path = "/mobile/v1/engineer"
    tags = ["engineer app"]
    guards = [requires_engineer]
    dependencies = {
        "idempotency": Provide(provide_idempotency),
    }

    @get("/today", operation_id="EngineerToday", responses=_conditional(TodayRead))
    async def today(
        self,
        request: Request[Any, Any, Any],
        engineer_app: NamedDependency[EngineerApp],
        principal: NamedDependency[Principal],
        day: Annotated[
            date | None,
            QueryParameter(name="date", description="Local day (default: today where you are)"),
        ] = None,
    ) -> Response[bytes]:
        """The caller's visits of the day in route order, ready to render (ETag)."""
        return conditional_json(request, await engineer_app.today(principal, day))

    @get(
        "/visits/{visit_id:uuid}",
        operation_id="EngineerGetVisit",
        responses=_conditional(VisitDetail),
    )
    async def get_visit(
        self,
        request: Request[Any, Any, Any],
        engineer_app: NamedDependency[EngineerApp],
        principal: NamedDependency[Principal],
        visit_id: FromPath[uuid.UUID],
    ) -> Response[bytes]:
        """One visit with the unit's history, coverage, instructions, checklist, comments."""
        return conditional_json(request, await engineer_app.detail(principal, visit_id))

    @post(
        "/visits/{visit_id:uuid}/status",
        operation_id="EngineerReportStatus",
        status_code=200,
        responses=_answer(EngineerVisit),
    )
    async def report_status(
        self,
        engineer_app: NamedDependency[EngineerApp],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        visit_id: FromPath[uuid.UUID],
        data: JSONBody[StatusRequest],
    ) -> Response[bytes]:
        """En route, on site, completed (409 lists what is missing) or cannot complete."""

        async def act() -> EngineerVisit:
            return await engineer_app.report_status(principal, visit_id, data)

        return await idempotency.respond(data, act)

    @get("/visits/{visit_id:uuid}/checklist", operation_id="EngineerGetChecklist")
    async def get_checklist(
        self,
        engineer_app: NamedDependency[EngineerApp],
        principal: NamedDependency[Principal],
        visit_id: FromPath[uuid.UUID],
    ) -> RunRead:
        """The visit's checklist with its answers (404 when none applies)."""
        return await engineer_app.checklist(principal, visit_id)

    @put(
        "/visits/{visit_id:uuid}/checklist/answers",
        operation_id="EngineerSaveChecklistAnswers",
        status_code=200,
        responses=_answer(RunRead),
    )
    async def save_answers(
        self,
        engineer_app: NamedDependency[EngineerApp],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        visit_id: FromPath[uuid.UUID],
        data: JSONBody[AnswersIn],
    ) -> Response[bytes]:
        """Save answers item by item (422 names a bad item; nothing of the batch is saved)."""

        async def act() -> RunRead:
            return await engineer_app.save_answers(principal, visit_id, data)

        return await idempotency.respond(data, act)

    @get("/visits/{visit_id:uuid}/comments", operation_id="EngineerListComments")
    async def list_comments(
        self,
        engineer_app: NamedDependency[EngineerApp],
        principal: NamedDependency[Principal],
        visit_id: FromPath[uuid.UUID],
    ) -> list[CommentRead]:
        """Comments on the visit's work order, oldest first."""
        return await engineer_app.comments(principal, visit_id)

    @post(
        "/visits/{visit_id:uuid}/comments",
        operation_id="EngineerAddComment",
        status_code=201,
        responses=_answer(CommentRead, 201),
    )
    async def add_comment(
        self,
        engineer_app: NamedDependency[EngineerApp],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        visit_id: FromPath[uuid.UUID],
        data: JSONBody[CommentCreate],
    ) -> Response[bytes]:
        """Comment on the visit's work order; internal unless `is_public`."""

        async def act() -> CommentRead:
            return await engineer_app.add_comment(principal, visit_id, data)

        return await idempotency.respond(data, act, status_code=201)

    @post(
        "/location",
        operation_id="EngineerRecordLocation",
        status_code=200,
        responses=_answer(LocationRead),
    )
    async def record_location(
        self,
        engineer_app: NamedDependency[EngineerApp],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        data: JSONBody[LocationBatch],
    ) -> Response[bytes]:
        """Upload position fixes; the newest becomes the last known location."""

        async def act() -> LocationRead:
            return await engineer_app.record_location(principal, data)

        return await idempotency.respond(data, act)

    @post("/sync", operation_id="EngineerSync", status_code=200)
    async def sync(
        self,
        engineer_app: NamedDependency[EngineerApp],
        principal: NamedDependency[Principal],
        db_session: NamedDependency[AsyncSession],
        state: State,
        data: JSONBody[SyncRequest],
    ) -> SyncRead:
        """Apply actions queued offline, in order, each on its own (applied/duplicate/rejected)."""
        photos = PhotoService(db_session, state.object_store, state.settings.photos)
        runner = SyncRunner(
            engineer_app,
            IdempotencyStore(db_session, ttl=idempotency_ttl(state)),
            principal,
            photo_confirmer(photos, principal),
            fresh_links(photos, principal, reservation=False),
        )
        return await runner.apply(data)

    @get("/changes", operation_id="EngineerChanges")
    async def changes(
        self,
        engineer_app: NamedDependency[EngineerApp],
        principal: NamedDependency[Principal],
        state: State,
        since: Annotated[
            str | None,
            QueryParameter(description="Cursor of the previous answer; none for the current state"),
        ] = None,
        limit: Annotated[
            int, QueryParameter(ge=1, le=500, description="Change rows to read, 1 to 500")
        ] = 200,
    ) -> ChangesRead:
        """Visits new, changed or taken away, and new comments, since the cursor."""
        retention = timedelta(days=state.settings.mobile.change_feed_retention_days)
        return await engineer_app.changes(principal, since, limit=limit, retention=retention)
