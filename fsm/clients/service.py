"""Clients and their contacts; client users see only their own company."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.auth.principal import Principal
from fsm.clients.models import Client, ClientContact
from fsm.clients.schemas import ClientCreate, ClientUpdate, ContactCreate
from fsm.db import like_pattern
from fsm.errors import Conflict, NotFound, reference_error
from fsm.pagination import Page, PageRequest
from fsm.schemas import check_timezone
from fsm.sites.models import Site


class ClientNotFound(NotFound):
    """No such client, or not one the caller may see."""


class ContactNotFound(NotFound):
    """No such contact at this client."""


class TaxIdTaken(Conflict):
    """Another client is registered with this tax id."""


class ClientService:
    """Reads are scoped to the viewer; only staff reach the writes (guards say so)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, client_id: uuid.UUID, *, viewer: Principal) -> Client:
        """The client, if the viewer may see it: staff any, client users only their own."""
        if not viewer.may_see_client(client_id):
            raise ClientNotFound(f"client {client_id} not found")
        client = await self.session.get(Client, client_id)
        if client is None:
            raise ClientNotFound(f"client {client_id} not found")
        return client

    async def list(
        self, page: PageRequest, *, viewer: Principal, name_contains: str | None = None
    ) -> Page[Client]:
        """Clients by name; a client user's list holds only its own company."""
        conditions: list[Any] = []
        if viewer.is_client:
            conditions.append(Client.id == viewer.client_id)
        elif not viewer.is_staff:
            return Page(items=[], total=0, limit=page.limit, offset=page.offset)
        if name_contains:
            conditions.append(Client.name.ilike(like_pattern(name_contains)))
        total = await self.session.scalar(
            select(func.count()).select_from(Client).where(*conditions)
        )
        stmt = (
            select(Client)
            .where(*conditions)
            .order_by(Client.name, Client.id)
            .limit(page.limit)
            .offset(page.offset)
        )
        return Page(
            items=(await self.session.scalars(stmt)).all(),
            total=total or 0,
            limit=page.limit,
            offset=page.offset,
        )

    async def create(self, data: ClientCreate) -> Client:
        """Register a client with its contacts."""
        check_timezone(data.timezone)
        client = Client(
            timezone=data.timezone,
            name=data.name.strip(),
            tax_id=data.tax_id,
            email=data.email,
            phone=data.phone,
            notes=data.notes,
            contacts=[_new_client_contact(c) for c in data.contacts],
        )
        self.session.add(client)
        await self._flush_checking_tax_id(data.tax_id)
        return client

    async def update(
        self, client_id: uuid.UUID, data: ClientUpdate, *, viewer: Principal
    ) -> Client:
        """Change the given fields of a client."""
        client = await self.get(client_id, viewer=viewer)
        if data.timezone is not msgspec.UNSET:
            check_timezone(data.timezone)
        for name, value in msgspec.structs.asdict(data).items():
            if value is not msgspec.UNSET:
                setattr(client, name, value.strip() if name == "name" else value)
        await self._flush_checking_tax_id(client.tax_id)
        return client

    async def add_contact(
        self, client_id: uuid.UUID, data: ContactCreate, *, viewer: Principal
    ) -> ClientContact:
        """Add a contact person to a client."""
        client = await self.get(client_id, viewer=viewer)
        if data.site_id is not None:
            site = await self.session.get(Site, data.site_id)
            if site is None or site.client_id != client.id:
                raise reference_error("site_id", "no such site of this client")
        contact = _contact(data)
        client.contacts.append(contact)
        await self.session.flush()
        return contact

    async def remove_contact(
        self, client_id: uuid.UUID, contact_id: uuid.UUID, *, viewer: Principal
    ) -> None:
        """Remove a contact person from a client."""
        client = await self.get(client_id, viewer=viewer)
        contact = next((c for c in client.contacts if c.id == contact_id), None)
        if contact is None:
            raise ContactNotFound(f"contact {contact_id} not found at client {client_id}")
        client.contacts.remove(contact)
        await self.session.flush()

    async def _flush_checking_tax_id(self, tax_id: str | None) -> None:
        try:
            await self.session.flush()
        except IntegrityError as exc:
            if "uq_clients_tax_id" in str(exc.orig):
                raise TaxIdTaken(
                    f"a client with tax id {tax_id} exists", details={"field": "tax_id"}
                ) from exc
            raise


def _new_client_contact(data: ContactCreate) -> ClientContact:
    """A first contact of a client being created: it has no sites yet to look after."""
    if data.site_id is not None:
        raise reference_error("contacts.site_id", "a new client has no sites yet")
    return _contact(data)


def _contact(data: ContactCreate) -> ClientContact:
    return ClientContact(
        site_id=data.site_id,
        name=data.name.strip(),
        position=data.position,
        email=data.email,
        phone=data.phone,
        is_primary=data.is_primary,
    )
