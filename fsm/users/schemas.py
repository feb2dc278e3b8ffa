"""User wire types."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Annotated

import msgspec

from fsm.schemas import Email, Name
from fsm.users.models import Role, User

MAX_SITES = 500
# Client users only: the sites of their company they are limited to; empty: the whole company.
SiteIds = Annotated[list[uuid.UUID], msgspec.Meta(max_length=MAX_SITES)]


class UserCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new user; client users name their client. Engineers are created on /engineers."""

    email: Email
    full_name: Name
    password: Annotated[str, msgspec.Meta(min_length=10, max_length=200)]
    role: Role
    client_id: uuid.UUID | None = None
    # Client users only: they invite and remove their own company's users.
    is_client_admin: bool = False
    site_ids: SiteIds = msgspec.field(default_factory=list)


class UserInvite(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Someone to invite: they set their own password from the mailed link."""

    email: Email
    full_name: Name
    role: Role
    client_id: uuid.UUID | None = None
    is_client_admin: bool = False
    site_ids: SiteIds = msgspec.field(default_factory=list)


class UserUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Fields to change on a user; absent fields stay as they are."""

    full_name: Name | msgspec.UnsetType = msgspec.UNSET
    # Client users only: they manage their own company's users in the client app.
    is_client_admin: bool | msgspec.UnsetType = msgspec.UNSET
    # Client users only: replaces their sites; [] makes them see the whole company again.
    site_ids: SiteIds | msgspec.UnsetType = msgspec.UNSET


class UserRead(msgspec.Struct, kw_only=True):
    """A user, never with the password hash."""

    id: uuid.UUID
    email: str
    full_name: str
    role: Role
    client_id: uuid.UUID | None
    is_active: bool
    is_client_admin: bool
    # The sites a client user is limited to; empty: the whole company (every other role).
    site_ids: list[uuid.UUID]
    created_at: datetime


def user_read(user: User, site_ids: Collection[uuid.UUID]) -> UserRead:
    """Wire form of a user, with the sites it is limited to (`UserService.site_ids_of`)."""
    return UserRead(
        id=user.id,
        email=user.email,
        full_name=user.full_name,
        role=user.role,
        client_id=user.client_id,
        is_active=user.is_active,
        is_client_admin=user.is_client_admin,
        site_ids=sorted(site_ids),
        created_at=user.created_at,
    )
