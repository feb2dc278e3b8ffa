"""The client app's user admin: a client's own admins invite and remove their colleagues.

Only client users marked `is_client_admin` (by the provider's admin, or by another client
admin inviting them so) may call it, and only about their own company: other companies'
users do not exist for them (404). An invitation is the same mailed one-time link as the
back office's; the invited person is a client user of the inviter's company, never staff.

A client admin sees the whole company (it manages every colleague); a colleague it invites
may be limited to some of the company's sites, which the list shows.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import msgspec
from litestar import Controller, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.auth.guards import requires_client_admin
from fsm.auth.one_time import AccountMail, OneTimeTokens
from fsm.auth.principal import Principal
from fsm.errors import Conflict
from fsm.pagination import PageOut, PageRequest, page_out
from fsm.schemas import Email, LimitQuery, Name, OffsetQuery
from fsm.users.models import Role, User
from fsm.users.schemas import SiteIds
from fsm.users.service import EmailTaken, UserService


class EmailUnavailable(Conflict):
    """The address cannot be invited (it signs in here already, whoever it belongs to)."""


class ColleagueInvite(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A colleague to invite: they set their own password from the mailed link."""

    email: Email
    full_name: Name
    is_client_admin: bool = False
    # Sites of your company they are limited to; empty: the whole company (and for an admin).
    site_ids: SiteIds = msgspec.field(default_factory=list)


class ColleagueRead(msgspec.Struct, kw_only=True):
    """A user of the caller's company."""

    id: uuid.UUID
    email: str
    full_name: str
    is_active: bool
    is_client_admin: bool
    # The sites they are limited to; empty: the whole company.
    site_ids: list[uuid.UUID]


def colleague_read(user: User, site_ids: Sequence[uuid.UUID]) -> ColleagueRead:
    return ColleagueRead(
        id=user.id,
        email=user.email,
        full_name=user.full_name,
        is_active=user.is_active,
        is_client_admin=user.is_client_admin,
        site_ids=sorted(site_ids),
    )


async def provide_user_service(db_session: NamedDependency[AsyncSession]) -> UserService:
    return UserService(db_session)


def _company(principal: Principal) -> uuid.UUID:
    # The guard let only client users through, and every client user has a company.
    assert principal.client_id is not None
    return principal.client_id


class ClientUserController(Controller):
    """A client's users, managed by the client's own admins."""

    path = "/mobile/v1/client/users"
    tags = ["client app"]
    guards = [requires_client_admin]
    dependencies = {"users": Provide(provide_user_service)}

    @get("/", operation_id="ClientListColleagues")
    async def list_colleagues(
        self,
        users: NamedDependency[UserService],
        principal: NamedDependency[Principal],
        limit: LimitQuery = 50,
        offset: OffsetQuery = 0,
    ) -> PageOut[ColleagueRead]:
        """Your company's users, by email, with the sites each is limited to."""
        page = await users.list(
            PageRequest(limit=limit, offset=offset), role=Role.CLIENT, client_id=_company(principal)
        )
        sites = await users.site_ids_of([user.id for user in page.items])
        return page_out(page, lambda user: colleague_read(user, sites.get(user.id, ())))

    @post("/invitations", operation_id="ClientInviteColleague")
    async def invite_colleague(
        self,
        users: NamedDependency[UserService],
        principal: NamedDependency[Principal],
        db_session: NamedDependency[AsyncSession],
        account_mail: NamedDependency[AccountMail],
        data: JSONBody[ColleagueInvite],
    ) -> Response[ColleagueRead]:
        """Invite a colleague to your company's client app; they get a one-time link (7 days)
        by mail to set their password. They may be limited to some of your company's sites
        (422 for a site that is not your company's, or for an admin)."""
        try:
            user, link = await OneTimeTokens(db_session).invite_new_user(
                email=data.email,
                full_name=data.full_name,
                role=Role.CLIENT,
                client_id=_company(principal),
                is_client_admin=data.is_client_admin,
                site_ids=data.site_ids,
            )
        except EmailTaken as exc:
            # The same answer whoever has the address (a colleague, staff, another
            # company): the client app never says who else signs in here.
            raise EmailUnavailable(
                "this email cannot be invited; ask your service provider",
                details={"field": "email"},
            ) from exc
        return Response(
            colleague_read(user, await users.sites_of(user.id)),
            status_code=201,
            background=BackgroundTask(account_mail, link),
        )

    @post("/{user_id:uuid}/deactivate", operation_id="ClientDeactivateColleague", status_code=200)
    async def deactivate_colleague(
        self,
        users: NamedDependency[UserService],
        principal: NamedDependency[Principal],
        user_id: FromPath[uuid.UUID],
    ) -> ColleagueRead:
        """Remove a colleague: they cannot sign in any more, and their sessions end (409
        `own_account` for your own)."""
        user = await users.deactivate(
            user_id, actor_id=principal.user_id, within_client=_company(principal)
        )
        return colleague_read(user, await users.sites_of(user.id))
