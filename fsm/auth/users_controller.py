"""User administration endpoints (admin only): accounts, roles and the invitation link.

They sit with sign-in (`fsm.auth`), over the users they manage: an invitation is one of
sign-in's one-time links, and every guard names a user's role.
"""

from __future__ import annotations

import uuid

from litestar import Controller, Response, get, patch, post
from litestar.background_tasks import BackgroundTask
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.auth.guards import requires_admin
from fsm.auth.one_time import AccountMail, OneTimeTokens
from fsm.auth.principal import Principal
from fsm.errors import field_error
from fsm.pagination import PageOut, PageRequest, page_out
from fsm.schemas import LimitQuery, OffsetQuery
from fsm.users.models import Role
from fsm.users.schemas import UserCreate, UserInvite, UserRead, UserUpdate, user_read
from fsm.users.service import UserService


async def provide_user_service(db_session: NamedDependency[AsyncSession]) -> UserService:
    return UserService(db_session)


class UserController(Controller):
    """Admins create, list and deactivate users."""

    path = "/api/v1/users"
    tags = ["users"]
    guards = [requires_admin]
    dependencies = {"users": Provide(provide_user_service)}

    @get("/", operation_id="ListUsers")
    async def list_users(
        self,
        users: NamedDependency[UserService],
        role: FromQuery[Role | None] = None,
        client_id: FromQuery[uuid.UUID | None] = None,
        limit: LimitQuery = 50,
        offset: OffsetQuery = 0,
    ) -> PageOut[UserRead]:
        """List users, by email."""
        page = await users.list(
            PageRequest(limit=limit, offset=offset), role=role, client_id=client_id
        )
        sites = await users.site_ids_of([user.id for user in page.items])
        return page_out(page, lambda user: user_read(user, sites.get(user.id, ())))

    @post("/", operation_id="CreateUser")
    async def create_user(
        self, users: NamedDependency[UserService], data: JSONBody[UserCreate]
    ) -> UserRead:
        """Create an admin, dispatcher or client user; a client user may be limited to some
        of its company's sites (422 for a site of another company, a staff user or a client
        admin)."""
        if data.role is Role.ENGINEER:
            raise field_error("role", "create engineers with POST /api/v1/engineers")
        user = await users.create(
            email=data.email,
            full_name=data.full_name,
            password=data.password,
            role=data.role,
            client_id=data.client_id,
            is_client_admin=data.is_client_admin,
            site_ids=data.site_ids,
        )
        return user_read(user, await users.sites_of(user.id))

    @post("/invitations", operation_id="InviteUser")
    async def invite_user(
        self,
        users: NamedDependency[UserService],
        db_session: NamedDependency[AsyncSession],
        account_mail: NamedDependency[AccountMail],
        data: JSONBody[UserInvite],
    ) -> Response[UserRead]:
        """Create an admin, dispatcher or client user without a password and mail them a
        one-time link (7 days) to set one."""
        if data.role is Role.ENGINEER:
            raise field_error("role", "create engineers with POST /api/v1/engineers")
        user, link = await OneTimeTokens(db_session).invite_new_user(
            email=data.email,
            full_name=data.full_name,
            role=data.role,
            client_id=data.client_id,
            is_client_admin=data.is_client_admin,
            site_ids=data.site_ids,
        )
        # Mailed once the user and the link are committed.
        return Response(
            user_read(user, await users.sites_of(user.id)),
            status_code=201,
            background=BackgroundTask(account_mail, link),
        )

    @get("/{user_id:uuid}", operation_id="GetUser")
    async def get_user(
        self, users: NamedDependency[UserService], user_id: FromPath[uuid.UUID]
    ) -> UserRead:
        """One user."""
        user = await users.get(user_id)
        return user_read(user, await users.sites_of(user.id))

    @patch("/{user_id:uuid}", operation_id="UpdateUser")
    async def update_user(
        self,
        users: NamedDependency[UserService],
        user_id: FromPath[uuid.UUID],
        data: JSONBody[UserUpdate],
    ) -> UserRead:
        """Rename a user, make a client user its company's user admin (or not), or limit it to
        some of its company's sites (`[]`: the whole company); it counts from the user's next
        request."""
        user = await users.update(
            user_id,
            full_name=data.full_name if isinstance(data.full_name, str) else None,
            is_client_admin=data.is_client_admin
            if isinstance(data.is_client_admin, bool)
            else None,
            site_ids=data.site_ids if isinstance(data.site_ids, list) else None,
        )
        return user_read(user, await users.sites_of(user.id))

    @post("/{user_id:uuid}/deactivate", operation_id="DeactivateUser", status_code=200)
    async def deactivate_user(
        self,
        users: NamedDependency[UserService],
        principal: NamedDependency[Principal],
        user_id: FromPath[uuid.UUID],
    ) -> UserRead:
        """Stop a user from signing in; open sessions end at once (409 `own_account` for
        the caller's own)."""
        user = await users.deactivate(user_id, actor_id=principal.user_id)
        return user_read(user, await users.sites_of(user.id))
