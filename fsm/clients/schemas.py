"""Client wire types."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

from fsm.auth.principal import Principal
from fsm.clients.models import Client, ClientContact
from fsm.schemas import Email, Name, OptionalText, Phone

Timezone = Annotated[
    str, msgspec.Meta(min_length=1, max_length=64, description="IANA zone, e.g. Europe/Berlin")
]


class ContactCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A contact person to add to a client."""

    name: Name
    position: Name | None = None
    email: Email | None = None
    phone: Phone | None = None
    is_primary: bool = False
    # A site of this client the person looks after (its contact, shown to the engineer).
    site_id: uuid.UUID | None = None


class ContactRead(msgspec.Struct, kw_only=True):
    """A contact person of a client."""

    id: uuid.UUID
    name: str
    position: str | None
    email: str | None
    phone: str | None
    is_primary: bool
    site_id: uuid.UUID | None


class ClientCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new client with its first contacts."""

    name: Name
    tax_id: Name | None = None
    email: Email | None = None
    phone: Phone | None = None
    notes: OptionalText | None = None
    contacts: list[ContactCreate] = msgspec.field(default_factory=list)
    # Billing periods and monthly reports are cut in this zone.
    timezone: Timezone = "UTC"


class ClientUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Fields to change on a client; absent fields stay as they are."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    tax_id: Name | msgspec.UnsetType | None = msgspec.UNSET
    email: Email | msgspec.UnsetType | None = msgspec.UNSET
    phone: Phone | msgspec.UnsetType | None = msgspec.UNSET
    notes: OptionalText | msgspec.UnsetType | None = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET
    timezone: Timezone | msgspec.UnsetType = msgspec.UNSET


class ClientRead(msgspec.Struct, kw_only=True):
    """A client as the back office sees it, internal notes included."""

    id: uuid.UUID
    name: str
    tax_id: str | None
    email: str | None
    phone: str | None
    is_active: bool
    contacts: list[ContactRead]
    created_at: datetime
    notes: str | None = None
    timezone: str = "UTC"


def contact_read(contact: ClientContact) -> ContactRead:
    """Wire form of a contact."""
    return ContactRead(
        id=contact.id,
        name=contact.name,
        position=contact.position,
        email=contact.email,
        phone=contact.phone,
        is_primary=contact.is_primary,
        site_id=contact.site_id,
    )


def client_read(client: Client, *, viewer: Principal) -> ClientRead:
    """Wire form of a client; internal notes only for staff."""
    return ClientRead(
        id=client.id,
        name=client.name,
        tax_id=client.tax_id,
        email=client.email,
        phone=client.phone,
        is_active=client.is_active,
        contacts=[
            contact_read(c) for c in sorted(client.contacts, key=lambda c: (c.name, str(c.id)))
        ],
        created_at=client.created_at,
        notes=client.notes if viewer.is_staff else None,
        timezone=client.timezone,
    )
