"""One-time links: password reset and invitations (set a first password).

A token is 32 random bytes shown once (in the link) and stored only as its SHA-256, so a
copy of the database opens no account. It expires, works once, and using it ends every
session of the user. Asking for a reset answers the same whether or not the email exists.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol, runtime_checkable

from sqlalchemy import ForeignKey, String, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from fsm.auth.models import AuthSession
from fsm.db import Base, IdMixin, utcnow
from fsm.errors import ValidationFailed
from fsm.users.models import Role, User
from fsm.users.passwords import hash_password
from fsm.users.service import UserService

__all__ = [
    "INVITATION",
    "INVITATION_DAYS",
    "RESET",
    "RESET_TOKEN_MINUTES",
    "AccountMail",
    "IssuedLink",
    "OneTimeToken",
    "OneTimeTokens",
    "Purpose",
    "TokenInvalid",
]


RESET_TOKEN_MINUTES = 60
INVITATION_DAYS = 7
RESET: Literal["password_reset"] = "password_reset"
INVITATION: Literal["invitation"] = "invitation"
Purpose = Literal["password_reset", "invitation"]


@dataclass(frozen=True, slots=True)
class IssuedLink:
    """A link to mail once the request has committed: who gets it, and its token."""

    purpose: Purpose
    token: str
    email: str
    full_name: str
    language: str


@runtime_checkable
class AccountMail(Protocol):
    """Mails a reset or invitation link (the shell wires `fsm.notifications.account_mail`).

    Sent straight over SMTP after the request commits, never queued: the link opens an
    account, so it is kept nowhere but in the mail.
    """

    async def __call__(self, link: IssuedLink) -> None: ...


class OneTimeToken(IdMixin, Base):
    """A link's token, stored as its hash: for one user, one purpose, until used or expired."""

    __tablename__ = "one_time_tokens"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # "password_reset" or "invitation"
    purpose: Mapped[str] = mapped_column(String(30))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class TokenInvalid(ValidationFailed):
    """The link is unknown, used or expired (which of them is not told)."""

    code = "token_invalid"


def _link(purpose: Purpose, token: str, user: User) -> IssuedLink:
    return IssuedLink(
        purpose=purpose,
        token=token,
        email=user.email,
        full_name=user.full_name,
        language=user.language,
    )


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class OneTimeTokens:
    """Issues and redeems one-time tokens."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def issue_password_reset(
        self, email: str, *, now: datetime | None = None
    ) -> IssuedLink | None:
        """A fresh reset link for the active user with this email, or None when there is
        none (the caller answers the same either way). Earlier unused links stop working."""
        now = now or utcnow()
        user = (
            await self.session.scalars(
                select(User).where(func.lower(User.email) == email.strip().lower())
            )
        ).one_or_none()
        if user is None or not user.is_active:
            return None
        token = await self._issue(user, RESET, now + timedelta(minutes=RESET_TOKEN_MINUTES), now)
        return _link(RESET, token, user)

    async def invite_new_user(
        self,
        *,
        email: str,
        full_name: str,
        role: Role,
        client_id: uuid.UUID | None = None,
        is_client_admin: bool = False,
        site_ids: Sequence[uuid.UUID] = (),
    ) -> tuple[User, IssuedLink]:
        """Create a user without a password of their own and the link to set one."""
        user = await UserService(self.session).create(
            email=email,
            full_name=full_name,
            # Nobody knows this one: the invited person sets their own from the link.
            password=secrets.token_urlsafe(32),
            role=role,
            client_id=client_id,
            is_client_admin=is_client_admin,
            site_ids=site_ids,
        )
        return user, await self.invite(user)

    async def invite(self, user: User, *, now: datetime | None = None) -> IssuedLink:
        """An invitation link for a user who has no password of their own yet."""
        now = now or utcnow()
        token = await self._issue(user, INVITATION, now + timedelta(days=INVITATION_DAYS), now)
        return _link(INVITATION, token, user)

    async def reset_password(
        self, token: str, new_password: str, *, now: datetime | None = None
    ) -> None:
        """Set the password from a reset token, once; every session of the user ends."""
        await self._redeem(token, RESET, new_password, now or utcnow())

    async def accept_invitation(
        self, token: str, password: str, *, now: datetime | None = None
    ) -> None:
        """Set the invited user's first password from the invitation token, once."""
        await self._redeem(token, INVITATION, password, now or utcnow())

    async def _issue(self, user: User, purpose: str, expires_at: datetime, now: datetime) -> str:
        # Only the newest link of a purpose works.
        await self.session.execute(
            update(OneTimeToken)
            .where(
                OneTimeToken.user_id == user.id,
                OneTimeToken.purpose == purpose,
                OneTimeToken.used_at.is_(None),
            )
            .values(used_at=now)
        )
        token = secrets.token_urlsafe(32)
        self.session.add(
            OneTimeToken(
                user_id=user.id,
                purpose=purpose,
                token_hash=_digest(token),
                created_at=now,
                expires_at=expires_at,
            )
        )
        await self.session.flush()
        return token

    async def _redeem(self, token: str, purpose: str, password: str, now: datetime) -> None:
        row = (
            await self.session.scalars(
                select(OneTimeToken)
                .where(OneTimeToken.token_hash == _digest(token), OneTimeToken.purpose == purpose)
                .with_for_update()
            )
        ).one_or_none()
        user = None if row is None else await self.session.get(User, row.user_id)
        if (
            row is None
            or row.used_at is not None
            or row.expires_at <= now
            or user is None
            or not user.is_active
        ):
            raise TokenInvalid(
                "the link is invalid or has expired; ask for a new one",
                details=[{"field": "token", "message": "invalid or expired"}],
            )
        row.used_at = now
        user.password_hash = hash_password(password)
        await self.session.execute(
            update(AuthSession)
            .where(AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        await self.session.flush()
