"""Creating and finding users."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.errors import Conflict, NotFound, field_error, reference_error
from fsm.pagination import Page, PageRequest
from fsm.users.models import ClientUserSite, Role, User
from fsm.users.passwords import MIN_PASSWORD_LENGTH, hash_password


class EmailTaken(Conflict):
    """Another user already signs in with this email."""


class UserNotFound(NotFound):
    """No such user."""


class OwnAccount(Conflict):
    """An admin may not lock themselves out: another admin deactivates an admin's account."""


def _check_sites(role: Role, is_client_admin: bool, site_ids: Sequence[uuid.UUID]) -> None:
    """Only client users are limited to sites, and never a client admin, who manages the
    whole company's users and so must see all of it."""
    if not site_ids:
        return
    if role is not Role.CLIENT:
        raise field_error("site_ids", "only client users are limited to sites")
    if is_client_admin:
        raise field_error("site_ids", "a client admin sees the whole company; give no sites")


class UserService:
    """Users: staff, engineers and client users."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(
        self,
        *,
        email: str,
        full_name: str,
        password: str,
        role: Role,
        client_id: uuid.UUID | None = None,
        is_client_admin: bool = False,
        site_ids: Sequence[uuid.UUID] = (),
    ) -> User:
        """Create a user; client users must name their client, others must not; a client
        user may be limited to some of its company's sites (none: the whole company)."""
        email = email.strip()
        if len(password) < MIN_PASSWORD_LENGTH:
            raise field_error("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")
        if role is Role.CLIENT and client_id is None:
            raise field_error("client_id", "required for client users")
        if role is not Role.CLIENT and client_id is not None:
            raise field_error("client_id", "only client users belong to a client")
        if is_client_admin and role is not Role.CLIENT:
            raise field_error("is_client_admin", "only client users administer their company")
        _check_sites(role, is_client_admin, site_ids)
        if await self.find_by_email(email) is not None:
            raise EmailTaken(f"a user with email {email} exists", details={"field": "email"})
        user = User(
            email=email,
            full_name=full_name.strip(),
            password_hash=hash_password(password),
            role=role,
            client_id=client_id,
            is_client_admin=is_client_admin,
        )
        self.session.add(user)
        try:
            await self.session.flush()
        except IntegrityError as exc:
            if "fk_users_client_id_clients" in str(exc.orig):
                raise reference_error("client_id", "no such client") from exc
            raise
        await self._set_sites(user, site_ids)
        return user

    async def find_by_email(self, email: str) -> User | None:
        """The user with this email, whatever its case."""
        stmt = select(User).where(func.lower(User.email) == email.strip().lower())
        return (await self.session.scalars(stmt)).one_or_none()

    async def get(self, user_id: uuid.UUID, *, for_update: bool = False) -> User:
        user = await self.session.get(
            User, user_id, with_for_update=for_update, populate_existing=for_update
        )
        if user is None:
            raise UserNotFound(f"user {user_id} not found")
        return user

    async def update(
        self,
        user_id: uuid.UUID,
        *,
        full_name: str | None = None,
        is_client_admin: bool | None = None,
        site_ids: Sequence[uuid.UUID] | None = None,
    ) -> User:
        """Rename a user, make a client user its company's user admin (or not), or limit a
        client user to some of its company's sites (an empty list: the whole company again).

        A change of admin flag or sites counts from the user's next request. The user's row
        is locked first: two admins at once (one promoting, one limiting) are checked in
        turn, so a client admin is never left limited to sites.
        """
        user = await self.get(user_id, for_update=True)
        if is_client_admin and user.role is not Role.CLIENT:
            raise field_error("is_client_admin", "only client users administer their company")
        if site_ids is not None:
            _check_sites(
                user.role,
                user.is_client_admin if is_client_admin is None else is_client_admin,
                site_ids,
            )
        elif is_client_admin and (await self.site_ids_of([user.id])).get(user.id):
            raise field_error(
                "is_client_admin",
                "this user is limited to sites; a client admin sees the whole company "
                "(send site_ids: [] with it)",
            )
        if is_client_admin is not None:
            user.is_client_admin = is_client_admin
        if full_name is not None:
            user.full_name = full_name.strip()
        await self.session.flush()
        if site_ids is not None:
            await self._set_sites(user, site_ids, replace=True)
        return user

    async def site_ids_of(
        self, user_ids: Collection[uuid.UUID]
    ) -> dict[uuid.UUID, list[uuid.UUID]]:
        """The sites each user is limited to, sorted; users seeing the whole company are absent."""
        if not user_ids:
            return {}
        rows = (
            await self.session.execute(
                select(ClientUserSite.user_id, ClientUserSite.site_id)
                .where(ClientUserSite.user_id.in_(list(user_ids)))
                .order_by(ClientUserSite.user_id, ClientUserSite.site_id)
            )
        ).all()
        sites: dict[uuid.UUID, list[uuid.UUID]] = {}
        for user_id, site_id in rows:
            sites.setdefault(user_id, []).append(site_id)
        return sites

    async def sites_of(self, user_id: uuid.UUID) -> list[uuid.UUID]:
        """The sites one user is limited to, sorted; empty: the whole company."""
        return (await self.site_ids_of([user_id])).get(user_id, [])

    async def _set_sites(
        self, user: User, site_ids: Sequence[uuid.UUID], *, replace: bool = False
    ) -> None:
        """Store the user's sites; the foreign key refuses a site of another company."""
        if replace:
            await self.session.execute(
                delete(ClientUserSite).where(ClientUserSite.user_id == user.id)
            )
        wanted = list(dict.fromkeys(site_ids))
        if not wanted:
            return
        assert user.client_id is not None  # _check_sites let only client users through
        try:
            await self.session.execute(
                insert(ClientUserSite).values(
                    [
                        {"user_id": user.id, "site_id": site_id, "client_id": user.client_id}
                        for site_id in wanted
                    ]
                )
            )
        except IntegrityError as exc:
            if "fk_client_user_sites_site_id_sites" in str(exc.orig):
                # One answer for an unknown site and another company's: neither exists here.
                raise field_error("site_ids", "no such site of this client") from exc
            raise

    async def list(
        self, page: PageRequest, *, role: Role | None = None, client_id: uuid.UUID | None = None
    ) -> Page[User]:
        """Users, newest email order, filtered by role or client."""
        conditions = []
        if role is not None:
            conditions.append(User.role == role)
        if client_id is not None:
            conditions.append(User.client_id == client_id)
        total = await self.session.scalar(select(func.count()).select_from(User).where(*conditions))
        rows: Sequence[User] = (
            await self.session.scalars(
                select(User)
                .where(*conditions)
                .order_by(User.email)
                .limit(page.limit)
                .offset(page.offset)
            )
        ).all()
        return Page(items=rows, total=total or 0, limit=page.limit, offset=page.offset)

    async def deactivate(
        self, user_id: uuid.UUID, *, actor_id: uuid.UUID, within_client: uuid.UUID | None = None
    ) -> User:
        """Stop a user from signing in; their sessions end at their next request.

        Never the caller's own account: an admin who did so would be signed out mid-way and,
        as the last admin, leave the company with nobody to manage users. Any other admin is
        itself proof that one stays.
        """
        if user_id == actor_id:
            raise OwnAccount(
                "you cannot deactivate your own account; another admin can",
                details={"user_id": str(user_id)},
            )
        user = await self.get(user_id)
        if within_client is not None and user.client_id != within_client:
            # A client's admin manages its own company's users; others do not exist for it.
            raise UserNotFound(f"user {user_id} not found")
        user.is_active = False
        await self.session.flush()
        return user
