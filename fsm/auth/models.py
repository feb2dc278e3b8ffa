"""Sign-in sessions (refresh-token families) and the brake on password guessing."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, func
from sqlalchemy.orm import Mapped, mapped_column

from fsm.db import Base, IdMixin


class AuthSession(IdMixin, Base):
    """One signed-in device: holds the hash of its current refresh token.

    Refresh rotates the token; presenting the replaced token again means it was copied, so
    the whole session is revoked. A token that never belonged to the session is merely
    refused: knowing a session id (it is in every access token) must not let anyone end it.
    Access tokens name their session and die with it.
    """

    __tablename__ = "auth_sessions"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    refresh_token_hash: Mapped[str] = mapped_column(String(64))
    # The token the last refresh replaced: seeing it again proves a copy is in other hands.
    previous_refresh_token_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    refreshed_at: Mapped[datetime | None]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    user_agent: Mapped[str | None] = mapped_column(String(300))


class LoginThrottle(Base):
    """Recent failed sign-ins of one key: an email at an address, or an address as a whole."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    failures: Mapped[int]
    last_failure_at: Mapped[datetime]
