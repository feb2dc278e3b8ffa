"""The client app: a client company's equipment, contracts, requests and visit reports.

Client users only. Another company's object answers 404 exactly like an unknown one. Lists
page by cursor; heavy reads carry an ETag; writes honour the `Idempotency-Key` header.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.auth.guards import requires_client
from fsm.auth.principal import Principal
from fsm.db import utcnow
from mobile_api.client.assets import ClientAssetService
from mobile_api.client.requests import ClientRequestService
from mobile_api.client.schemas import (
    CommentBodyIn,
    CommentItem,
    ContractDetail,
    ContractItem,
    EquipmentDetail,
    EquipmentItem,
    RatingCreate,
    RatingRead,
    ReopenBody,
    RequestCreate,
    RequestDetail,
    RequestItem,
    RequestState,
    VisitReport,
)
from mobile_api.cursor import CursorPage
from mobile_api.etag import conditional_json
from mobile_api.idempotency import Idempotency, provide_idempotency
from reports.controller import FILE_NOTE, FormatParam, Month, parse_month, report_response
from reports.formats import ReportFormat
from reports.sla import ClientStatement

Limit = Annotated[int, QueryParameter(ge=1, le=100, description="Page size, 1 to 100")]
Cursor = Annotated[
    str | None,
    QueryParameter(max_length=500, description="`next_cursor` of the previous page"),
]


async def provide_client_assets(
    db_session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]
) -> ClientAssetService:
    return ClientAssetService(db_session, viewer=principal)


class ClientAssetsController(Controller):
    """The company's installed base: equipment with its card, contracts with their periods."""

    path = "/mobile/v1/client"
    tags = ["client app"]
    guards = [requires_client]
    dependencies = {"assets": Provide(provide_client_assets)}

    @get("/equipment", operation_id="ClientListEquipment")
    async def list_equipment(
        self,
        assets: NamedDependency[ClientAssetService],
        site_id: Annotated[uuid.UUID | None, QueryParameter(description="At this site")] = None,
        q: Annotated[
            str | None,
            QueryParameter(max_length=100, description="Serial number or name contains"),
        ] = None,
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> CursorPage[EquipmentItem]:
        """The company's units by serial number."""
        page = await assets.list_equipment(limit=limit, cursor=cursor, site_id=site_id, text=q)
        return CursorPage(items=list(page.items), next_cursor=page.next_cursor)

    @get(
        "/equipment/{equipment_id:uuid}",
        operation_id="ClientGetEquipment",
        responses={200: ResponseSpec(EquipmentDetail, description="The card (ETag)")},
    )
    async def get_equipment(
        self,
        request: Request[Principal, Any, Any],
        assets: NamedDependency[ClientAssetService],
        equipment_id: FromPath[uuid.UUID],
    ) -> Response[bytes]:
        """The unit's card (`EquipmentDetail`); a matching `If-None-Match` gets a 304."""
        card: EquipmentDetail = await assets.equipment_detail(equipment_id, now=utcnow())
        return conditional_json(request, card)

    @get("/contracts", operation_id="ClientListContracts")
    async def list_contracts(
        self,
        assets: NamedDependency[ClientAssetService],
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> CursorPage[ContractItem]:
        """The company's contracts by number; no rates, no billing."""
        page = await assets.list_contracts(limit=limit, cursor=cursor, now=utcnow())
        return CursorPage(items=list(page.items), next_cursor=page.next_cursor)

    @get("/contracts/{contract_id:uuid}", operation_id="ClientGetContract")
    async def get_contract(
        self,
        assets: NamedDependency[ClientAssetService],
        contract_id: FromPath[uuid.UUID],
    ) -> ContractDetail:
        """A contract with its covered units and their service periods."""
        return await assets.contract_detail(contract_id, now=utcnow())


class ClientRequestController(Controller):
    """The company's requests: open, follow live, talk, reopen, rate; and visit reports."""

    path = "/mobile/v1/client"
    tags = ["client app"]
    guards = [requires_client]
    dependencies = {
        "idempotency": Provide(provide_idempotency),
    }

    @post(
        "/requests",
        operation_id="ClientOpenRequest",
        status_code=201,
        responses={201: ResponseSpec(RequestDetail, description="The new request")},
    )
    async def open_request(
        self,
        requests: NamedDependency[ClientRequestService],
        idempotency: NamedDependency[Idempotency],
        data: JSONBody[RequestCreate],
    ) -> Response[bytes]:
        """Open a request about a unit or a site (answers `RequestDetail`)."""

        async def act() -> RequestDetail:
            order = await requests.open_request(data)
            return await requests.request_detail(order.id)

        return await idempotency.respond(data, act, status_code=201)

    @get("/requests", operation_id="ClientListRequests")
    async def list_requests(
        self,
        requests: NamedDependency[ClientRequestService],
        request_state: Annotated[
            RequestState | None,
            QueryParameter(
                name="state", description="open: being worked on; closed: resolved or done"
            ),
        ] = None,
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> CursorPage[RequestItem]:
        """The company's requests, newest first."""
        page = await requests.list_requests(limit=limit, cursor=cursor, state=request_state)
        return CursorPage(items=list(page.items), next_cursor=page.next_cursor)

    @get(
        "/requests/{request_id:uuid}",
        operation_id="ClientGetRequest",
        responses={200: ResponseSpec(RequestDetail, description="The request (ETag)")},
    )
    async def get_request(
        self,
        request: Request[Principal, Any, Any],
        requests: NamedDependency[ClientRequestService],
        request_id: FromPath[uuid.UUID],
    ) -> Response[bytes]:
        """The request live (`RequestDetail`); a matching `If-None-Match` gets a 304."""
        return conditional_json(request, await requests.request_detail(request_id))

    @get("/requests/{request_id:uuid}/comments", operation_id="ClientListComments")
    async def list_comments(
        self,
        requests: NamedDependency[ClientRequestService],
        request_id: FromPath[uuid.UUID],
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> CursorPage[CommentItem]:
        """Public comments, oldest first."""
        page = await requests.list_comments(request_id, limit=limit, cursor=cursor)
        return CursorPage(items=list(page.items), next_cursor=page.next_cursor)

    @post(
        "/requests/{request_id:uuid}/comments",
        operation_id="ClientAddComment",
        status_code=201,
        responses={201: ResponseSpec(CommentItem, description="The comment")},
    )
    async def add_comment(
        self,
        requests: NamedDependency[ClientRequestService],
        idempotency: NamedDependency[Idempotency],
        request_id: FromPath[uuid.UUID],
        data: JSONBody[CommentBodyIn],
    ) -> Response[bytes]:
        """Comment on a request (answers `CommentItem`)."""

        async def act() -> CommentItem:
            return await requests.add_comment(request_id, data.body)

        return await idempotency.respond(data, act, status_code=201)

    @post(
        "/requests/{request_id:uuid}/reopen",
        operation_id="ClientReopenRequest",
        status_code=200,
        responses={200: ResponseSpec(RequestDetail, description="The reopened request")},
    )
    async def reopen_request(
        self,
        requests: NamedDependency[ClientRequestService],
        idempotency: NamedDependency[Idempotency],
        request_id: FromPath[uuid.UUID],
        data: JSONBody[ReopenBody],
    ) -> Response[bytes]:
        """Reopen resolved work within the reopen window; 409 after it (`RequestDetail`)."""

        async def act() -> RequestDetail:
            await requests.reopen(request_id, data.reason)
            return await requests.request_detail(request_id)

        return await idempotency.respond(data, act)

    @post(
        "/requests/{request_id:uuid}/rating",
        operation_id="ClientRateRequest",
        status_code=201,
        responses={201: ResponseSpec(RatingRead, description="The rating")},
    )
    async def rate_request(
        self,
        requests: NamedDependency[ClientRequestService],
        idempotency: NamedDependency[Idempotency],
        request_id: FromPath[uuid.UUID],
        data: JSONBody[RatingCreate],
    ) -> Response[bytes]:
        """Rate resolved or closed work 1 to 5, once (answers `RatingRead`)."""

        async def act() -> RatingRead:
            return await requests.rate(request_id, data.score, data.comment)

        return await idempotency.respond(data, act, status_code=201)

    @get("/visits/{visit_id:uuid}/report", operation_id="ClientGetVisitReport")
    async def get_visit_report(
        self,
        requests: NamedDependency[ClientRequestService],
        visit_id: FromPath[uuid.UUID],
    ) -> VisitReport:
        """What was done on a completed visit; 409 while it is not completed."""
        return await requests.visit_report(visit_id)

    @get(
        "/reports/service-levels",
        operation_id="ClientGetServiceReport",
        responses={200: ResponseSpec(ClientStatement, description=FILE_NOTE)},
    )
    async def get_service_report(
        self,
        requests: NamedDependency[ClientRequestService],
        month: Month = None,
        format: FormatParam = ReportFormat.JSON,
    ) -> Response[bytes]:
        """The month's service levels of the company's contract: targets met and missed."""
        statement, tables = await requests.service_report(parse_month(month))
        return report_response(statement, tables, format, f"service-report-{statement.month}")

    @get(
        "/visits/{visit_id:uuid}/report.pdf",
        operation_id="ClientGetVisitReportPdf",
        media_type="application/pdf",
    )
    async def get_visit_report_pdf(
        self,
        requests: NamedDependency[ClientRequestService],
        visit_id: FromPath[uuid.UUID],
    ) -> Response[bytes]:
        """The visit report as a PDF to forward, times in the site's zone; 409 until completed."""
        report, pdf = await requests.visit_report_pdf(visit_id)
        return Response(
            pdf,
            media_type="application/pdf",
            headers={
                "Content-Disposition": (
                    f'attachment; filename="{report.request_number}-visit-report.pdf"'
                )
            },
        )
