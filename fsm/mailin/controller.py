"""Back-office endpoints for mail held by the mail-in endpoint: see it, assign it, discard it."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from fsm.auth.guards import requires_staff
from fsm.auth.principal import Principal
from fsm.mailin.models import InboundMailState
from fsm.mailin.schemas import InboundMailAssign, InboundMailRead, inbound_mail_read
from fsm.mailin.service import MailInService
from fsm.pagination import PageOut, PageRequest, page_out
from fsm.schemas import LimitQuery, OffsetQuery


class InboundMailController(Controller):
    """Received mail: dispatchers work through what was held for them."""

    path = "/api/v1/inbound-mail"
    tags = ["inbound mail"]
    guards = [requires_staff]

    @get("/", operation_id="ListInboundMail")
    async def list_inbound_mail(
        self,
        mail_in: NamedDependency[MailInService],
        principal: NamedDependency[Principal],
        # `state` is Litestar's app state; the query parameter keeps the name.
        mail_state: Annotated[
            InboundMailState | None,
            QueryParameter(name="state", description="Only messages in this state"),
        ] = None,
        limit: LimitQuery = 50,
        offset: OffsetQuery = 0,
    ) -> PageOut[InboundMailRead]:
        """Received messages, newest first; `state=held` is the dispatcher's queue."""
        page = await mail_in.list(
            PageRequest(limit=limit, offset=offset), state=mail_state, viewer=principal
        )
        return page_out(page, lambda m: inbound_mail_read(m, full=False))

    @get("/{mail_id:uuid}", operation_id="GetInboundMail")
    async def get_inbound_mail(
        self,
        mail_in: NamedDependency[MailInService],
        principal: NamedDependency[Principal],
        mail_id: FromPath[uuid.UUID],
    ) -> InboundMailRead:
        """One received message with its whole text."""
        return inbound_mail_read(await mail_in.get(mail_id, viewer=principal))

    @post("/{mail_id:uuid}/assign", operation_id="AssignInboundMail", status_code=200)
    async def assign_inbound_mail(
        self,
        mail_in: NamedDependency[MailInService],
        principal: NamedDependency[Principal],
        mail_id: FromPath[uuid.UUID],
        data: JSONBody[InboundMailAssign],
    ) -> InboundMailRead:
        """Open a work order at a site from a held message, or add it to a work order."""
        record = await mail_in.assign(
            mail_id, site_id=data.site_id, work_order_id=data.work_order_id, actor=principal
        )
        return inbound_mail_read(record)

    @post("/{mail_id:uuid}/discard", operation_id="DiscardInboundMail", status_code=200)
    async def discard_inbound_mail(
        self,
        mail_in: NamedDependency[MailInService],
        principal: NamedDependency[Principal],
        mail_id: FromPath[uuid.UUID],
    ) -> InboundMailRead:
        """Drop a held message; nothing is opened."""
        return inbound_mail_read(await mail_in.discard(mail_id, actor=principal))
