"""Back-office and client-user endpoints for clients."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.auth.guards import requires_signed_in, requires_staff
from fsm.auth.principal import Principal
from fsm.clients.schemas import (
    ClientCreate,
    ClientRead,
    ClientUpdate,
    ContactCreate,
    ContactRead,
    client_read,
    contact_read,
)
from fsm.clients.service import ClientService
from fsm.pagination import PageOut, PageRequest, page_out
from fsm.schemas import LimitQuery, OffsetQuery


async def provide_client_service(db_session: NamedDependency[AsyncSession]) -> ClientService:
    return ClientService(db_session)


class ClientController(Controller):
    """Clients: staff manage them; a client user reads only its own company."""

    path = "/api/v1/clients"
    tags = ["clients"]
    guards = [requires_signed_in]
    dependencies = {"clients": Provide(provide_client_service)}

    @get("/", operation_id="ListClients")
    async def list_clients(
        self,
        clients: NamedDependency[ClientService],
        principal: NamedDependency[Principal],
        q: Annotated[str | None, QueryParameter(description="Name contains (any case)")] = None,
        limit: LimitQuery = 50,
        offset: OffsetQuery = 0,
    ) -> PageOut[ClientRead]:
        """List clients the caller may see."""
        page = await clients.list(
            PageRequest(limit=limit, offset=offset), viewer=principal, name_contains=q
        )
        return page_out(page, lambda c: client_read(c, viewer=principal))

    @post("/", operation_id="CreateClient", guards=[requires_staff])
    async def create_client(
        self,
        clients: NamedDependency[ClientService],
        principal: NamedDependency[Principal],
        data: JSONBody[ClientCreate],
    ) -> ClientRead:
        """Register a client."""
        return client_read(await clients.create(data), viewer=principal)

    @get("/{client_id:uuid}", operation_id="GetClient")
    async def get_client(
        self,
        clients: NamedDependency[ClientService],
        principal: NamedDependency[Principal],
        client_id: FromPath[uuid.UUID],
    ) -> ClientRead:
        """One client with its contacts."""
        return client_read(await clients.get(client_id, viewer=principal), viewer=principal)

    @patch("/{client_id:uuid}", operation_id="UpdateClient", guards=[requires_staff])
    async def update_client(
        self,
        clients: NamedDependency[ClientService],
        principal: NamedDependency[Principal],
        client_id: FromPath[uuid.UUID],
        data: JSONBody[ClientUpdate],
    ) -> ClientRead:
        """Change a client's details."""
        client = await clients.update(client_id, data, viewer=principal)
        return client_read(client, viewer=principal)

    @post("/{client_id:uuid}/contacts", operation_id="AddClientContact", guards=[requires_staff])
    async def add_contact(
        self,
        clients: NamedDependency[ClientService],
        principal: NamedDependency[Principal],
        client_id: FromPath[uuid.UUID],
        data: JSONBody[ContactCreate],
    ) -> ContactRead:
        """Add a contact person."""
        return contact_read(await clients.add_contact(client_id, data, viewer=principal))

    @delete(
        "/{client_id:uuid}/contacts/{contact_id:uuid}",
        operation_id="RemoveClientContact",
        guards=[requires_staff],
    )
    async def remove_contact(
        self,
        clients: NamedDependency[ClientService],
        principal: NamedDependency[Principal],
        client_id: FromPath[uuid.UUID],
        contact_id: FromPath[uuid.UUID],
    ) -> None:
        """Remove a contact person."""
        await clients.remove_contact(client_id, contact_id, viewer=principal)
