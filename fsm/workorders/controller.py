"""Work-order endpoints; clients get their own view, engineers read what they work on."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated

import msgspec
from litestar import Controller, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.auth.guards import requires_admin, requires_signed_in, requires_staff
from fsm.auth.principal import Principal
from fsm.db import utcnow
from fsm.errors import Forbidden, field_error
from fsm.pagination import PageRequest
from fsm.schemas import LimitQuery, OffsetQuery, aware
from fsm.workorders.custom_fields import (
    CustomFieldService,
    DefinitionCreate,
    DefinitionRead,
    DefinitionUpdate,
    definition_read,
)
from fsm.workorders.models import Channel, Priority, WorkOrder, WorkOrderStatus, WorkOrderType
from fsm.workorders.replies import (
    RenderedReply,
    ReplyTemplateService,
    TemplateCreate,
    TemplateRead,
    TemplateUpdate,
    template_read,
)
from fsm.workorders.schemas import (
    CommentCreate,
    CommentRead,
    EventRead,
    ReopenRequest,
    WorkOrderCreate,
    WorkOrderPage,
    WorkOrderRead,
    WorkOrderUpdate,
    comment_read,
    event_read,
    work_order_read,
)
from fsm.workorders.service import QueueFilter, SlaState, WorkOrderDraft, WorkOrderService

# Ten years: far more would put the cut-off before year 1 (an OverflowError, once a 500).
MAX_REACTION_MINUTES = 10 * 366 * 24 * 60


def _view(work_order: WorkOrder, viewer: Principal, warning: timedelta) -> WorkOrderRead:
    """The staff record. Client users read their requests in the client app only (the auth
    middleware refuses them here); should one get this far, it is refused, not shown."""
    if viewer.is_client:
        raise Forbidden("client users read their requests in the client app")
    return work_order_read(work_order, now=utcnow(), warning=warning)


class WorkOrderController(Controller):
    """Requests for work: opening, queues, status flow, timeline and comments."""

    path = "/api/v1/work-orders"
    tags = ["work orders"]
    guards = [requires_signed_in]

    @get("/", operation_id="ListWorkOrders")
    async def list_work_orders(
        self,
        work_orders: NamedDependency[WorkOrderService],
        principal: NamedDependency[Principal],
        status: Annotated[list[WorkOrderStatus] | None, QueryParameter()] = None,
        priority: Annotated[
            list[Priority] | None, QueryParameter(description="Staff only; ignored for clients")
        ] = None,
        type: Annotated[list[WorkOrderType] | None, QueryParameter()] = None,
        client_id: Annotated[uuid.UUID | None, QueryParameter()] = None,
        site_id: Annotated[uuid.UUID | None, QueryParameter()] = None,
        skill: Annotated[str | None, QueryParameter(description="Requires this skill code")] = None,
        engineer_id: Annotated[
            uuid.UUID | None, QueryParameter(description="Has a visit of this engineer")
        ] = None,
        sla_state: Annotated[SlaState | None, QueryParameter()] = None,
        created_from: Annotated[
            datetime | None, QueryParameter(description="With a UTC offset")
        ] = None,
        created_to: Annotated[
            datetime | None, QueryParameter(description="With a UTC offset")
        ] = None,
        no_reaction_within: Annotated[
            int | None,
            QueryParameter(
                ge=1,
                le=MAX_REACTION_MINUTES,
                description="Minutes since opening without a first reaction",
            ),
        ] = None,
        q: Annotated[str | None, QueryParameter(description="Number or title contains")] = None,
        sort: Annotated[str, QueryParameter(pattern="^(sla|created)$")] = "sla",
        limit: LimitQuery = 50,
        offset: OffsetQuery = 0,
        cursor: Annotated[
            str | None,
            QueryParameter(
                min_length=1,
                max_length=300,
                description="`next_cursor` of the previous page (instead of `offset`): "
                "pages by the sort key, as fast deep in the queue as at its head",
            ),
        ] = None,
    ) -> WorkOrderPage[WorkOrderRead]:
        """A queue of work orders, by next SLA deadline by default.

        The total is exact up to 1 000 matches, then a lower bound (`total_exact` false).
        """
        if cursor is not None and offset:
            raise field_error("offset", "cannot be combined with a cursor")
        internal = not principal.is_client
        queue = QueueFilter(
            statuses=status or (),
            priorities=(priority or ()) if internal else (),
            types=type or (),
            client_id=client_id,
            site_id=site_id,
            skill=skill,
            engineer_id=engineer_id if internal else None,
            sla_state=sla_state if internal else None,
            created_from=aware(created_from, "created_from"),
            created_to=aware(created_to, "created_to"),
            no_reaction_within_minutes=no_reaction_within if internal else None,
            text=q,
            sort=sort if internal else "created",
        )
        page = await work_orders.list(
            PageRequest(limit=limit, offset=offset), queue, viewer=principal, cursor=cursor
        )
        return WorkOrderPage(
            items=[_view(w, principal, work_orders.warning) for w in page.items],
            total=page.total,
            total_exact=page.total_exact,
            limit=page.limit,
            offset=page.offset,
            next_cursor=page.next_cursor,
        )

    @post("/", operation_id="CreateWorkOrder")
    async def create_work_order(
        self,
        work_orders: NamedDependency[WorkOrderService],
        principal: NamedDependency[Principal],
        data: JSONBody[WorkOrderCreate],
    ) -> WorkOrderRead:
        """Open a work order (staff for any client, a client user for its own sites)."""
        draft = WorkOrderDraft(
            site_id=data.site_id,
            type=data.type,
            title=data.title,
            description=data.description,
            equipment_id=data.equipment_id,
            required_skills=data.required_skills,
            custom_fields=data.custom_fields,
            priority=data.priority or Priority.NORMAL,
            channel=data.channel or Channel.PHONE,
            requester_contact_id=data.requester_contact_id,
        )
        work_order = await work_orders.create(draft, actor=principal)
        return _view(work_order, principal, work_orders.warning)

    @get("/{work_order_id:uuid}", operation_id="GetWorkOrder")
    async def get_work_order(
        self,
        work_orders: NamedDependency[WorkOrderService],
        principal: NamedDependency[Principal],
        work_order_id: FromPath[uuid.UUID],
    ) -> WorkOrderRead:
        """One work order."""
        work_order = await work_orders.get(work_order_id, viewer=principal)
        return _view(work_order, principal, work_orders.warning)

    @patch("/{work_order_id:uuid}", operation_id="UpdateWorkOrder", guards=[requires_staff])
    async def update_work_order(
        self,
        work_orders: NamedDependency[WorkOrderService],
        principal: NamedDependency[Principal],
        work_order_id: FromPath[uuid.UUID],
        data: JSONBody[WorkOrderUpdate],
    ) -> WorkOrderRead:
        """Edit details or change the priority (deadlines follow)."""
        fields = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        priority = fields.pop("priority", None)
        work_order = await work_orders.update_details(work_order_id, actor=principal, **fields)
        if priority is not None:
            work_order = await work_orders.change_priority(work_order_id, priority, actor=principal)
        return work_order_read(work_order, now=utcnow(), warning=work_orders.warning)

    @post("/{work_order_id:uuid}/reopen", operation_id="ReopenWorkOrder", status_code=200)
    async def reopen_work_order(
        self,
        work_orders: NamedDependency[WorkOrderService],
        principal: NamedDependency[Principal],
        work_order_id: FromPath[uuid.UUID],
        data: JSONBody[ReopenRequest],
    ) -> WorkOrderRead:
        """Reopen resolved work within the reopen window (client or staff)."""
        work_order = await work_orders.reopen(
            work_order_id, actor=principal, reason=data.reason, client_message=data.client_message
        )
        return _view(work_order, principal, work_orders.warning)

    @get("/{work_order_id:uuid}/timeline", operation_id="GetWorkOrderTimeline")
    async def get_timeline(
        self,
        work_orders: NamedDependency[WorkOrderService],
        principal: NamedDependency[Principal],
        work_order_id: FromPath[uuid.UUID],
    ) -> list[EventRead]:
        """Everything that happened to the work order; clients see public events only."""
        return [event_read(e) for e in await work_orders.timeline(work_order_id, viewer=principal)]

    @get("/{work_order_id:uuid}/comments", operation_id="ListWorkOrderComments")
    async def list_comments(
        self,
        work_orders: NamedDependency[WorkOrderService],
        principal: NamedDependency[Principal],
        work_order_id: FromPath[uuid.UUID],
    ) -> list[CommentRead]:
        """Comments; clients never see internal ones."""
        return [
            comment_read(c) for c in await work_orders.comments(work_order_id, viewer=principal)
        ]

    @post("/{work_order_id:uuid}/comments", operation_id="AddWorkOrderComment")
    async def add_comment(
        self,
        work_orders: NamedDependency[WorkOrderService],
        principal: NamedDependency[Principal],
        work_order_id: FromPath[uuid.UUID],
        data: JSONBody[CommentCreate],
    ) -> CommentRead:
        """Comment on a work order."""
        comment = await work_orders.add_comment(
            work_order_id, data.body, actor=principal, is_internal=data.is_internal
        )
        return comment_read(comment)


class CustomFieldController(Controller):
    """Admins define custom fields per work-order type; staff read them."""

    path = "/api/v1/custom-fields"
    tags = ["work orders"]
    guards = [requires_staff]

    @get("/", operation_id="ListCustomFields")
    async def list_custom_fields(
        self, db_session: NamedDependency[AsyncSession]
    ) -> list[DefinitionRead]:
        """Every custom field, by type and position."""
        return [definition_read(d) for d in await CustomFieldService(db_session).all_definitions()]

    @post("/", operation_id="DefineCustomField", guards=[requires_admin])
    async def define_custom_field(
        self, db_session: NamedDependency[AsyncSession], data: JSONBody[DefinitionCreate]
    ) -> DefinitionRead:
        """Add a custom field to a work-order type."""
        return definition_read(await CustomFieldService(db_session).define(data))

    @patch("/{definition_id:uuid}", operation_id="UpdateCustomField", guards=[requires_admin])
    async def update_custom_field(
        self,
        db_session: NamedDependency[AsyncSession],
        definition_id: FromPath[uuid.UUID],
        data: JSONBody[DefinitionUpdate],
    ) -> DefinitionRead:
        """Relabel, reorder, change when it is required, or deactivate (`is_active: false`)."""
        return definition_read(await CustomFieldService(db_session).update(definition_id, data))


async def provide_reply_service(
    work_orders: NamedDependency[WorkOrderService], db_session: NamedDependency[AsyncSession]
) -> ReplyTemplateService:
    return ReplyTemplateService(db_session, work_orders)


class ReplyTemplateController(Controller):
    """Canned staff replies with placeholders."""

    path = "/api/v1/reply-templates"
    tags = ["work orders"]
    guards = [requires_staff]
    dependencies = {
        "replies": Provide(provide_reply_service),
    }

    @get("/", operation_id="ListReplyTemplates")
    async def list_templates(
        self,
        replies: NamedDependency[ReplyTemplateService],
        include_inactive: Annotated[
            bool, QueryParameter(description="also the deactivated ones")
        ] = False,
    ) -> list[TemplateRead]:
        """Active templates by name (and deactivated ones when asked)."""
        return [template_read(t) for t in await replies.list(include_inactive=include_inactive)]

    @patch("/{template_id:uuid}", operation_id="UpdateReplyTemplate", guards=[requires_admin])
    async def update_template(
        self,
        replies: NamedDependency[ReplyTemplateService],
        template_id: FromPath[uuid.UUID],
        data: JSONBody[TemplateUpdate],
    ) -> TemplateRead:
        """Rename, rewrite or deactivate (`is_active: false`) a template."""
        return template_read(await replies.update(template_id, data))

    @post("/", operation_id="CreateReplyTemplate", guards=[requires_admin])
    async def create_template(
        self, replies: NamedDependency[ReplyTemplateService], data: JSONBody[TemplateCreate]
    ) -> TemplateRead:
        """Add a template; unknown placeholders are refused."""
        return template_read(await replies.create(data))

    @get("/{template_id:uuid}/render", operation_id="RenderReplyTemplate")
    async def render_template(
        self,
        replies: NamedDependency[ReplyTemplateService],
        principal: NamedDependency[Principal],
        template_id: FromPath[uuid.UUID],
        work_order_id: Annotated[uuid.UUID, QueryParameter()],
    ) -> RenderedReply:
        """The template filled in for a work order."""
        body = await replies.render_for(template_id, work_order_id, viewer=principal)
        return RenderedReply(body=body)
