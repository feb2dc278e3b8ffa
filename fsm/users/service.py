"""Creating and finding users."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.errors import Conflict, NotFound, field_error, reference_error
from fsm.pagination import Page, PageRequest
from fsm.users.models import Role, User
from fsm.users.passwords import MIN_PASSWORD_LENGTH, hash_password


class EmailTaken(Conflict):
    """Another user already signs in with this email."""


class UserNotFound(NotFound):
    """No such user."""


class OwnAccount(Conflict):
    """An admin may not lock themselves out: another admin deactivates an admin's account."""


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
    ) -> User:
        """Create a user; client users must name their client, others must not."""
        email = email.strip()
        if len(password) < MIN_PASSWORD_LENGTH:
            raise field_error("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")
        if role is Role.CLIENT and client_id is None:
            raise field_error("client_id", "required for client users")
        if role is not Role.CLIENT and client_id is not None:
            raise field_error("client_id", "only client users belong to a client")
        if is_client_admin and role is not Role.CLIENT:
            raise field_error("is_client_admin", "only client users administer their company")
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
        return user

    async def find_by_email(self, email: str) -> User | None:
        """The user with this email, whatever its case."""
        stmt = select(User).where(func.lower(User.email) == email.strip().lower())
        return (await self.session.scalars(stmt)).one_or_none()

    async def get(self, user_id: uuid.UUID) -> User:
        user = await self.session.get(User, user_id)
        if user is None:
            raise UserNotFound(f"user {user_id} not found")
        return user

    async def update(
        self,
        user_id: uuid.UUID,
        *,
        full_name: str | None = None,
        is_client_admin: bool | None = None,
    ) -> User:
        """Rename a user, or make a client user its company's user admin (or not)."""
        user = await self.get(user_id)
        if is_client_admin is not None:
            if is_client_admin and user.role is not Role.CLIENT:
                raise field_error("is_client_admin", "only client users administer their company")
            user.is_client_admin = is_client_admin
        if full_name is not None:
            user.full_name = full_name.strip()
        await self.session.flush()
        return user

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
