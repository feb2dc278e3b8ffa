"""Sign-in wire types."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from fsm.auth.service import TokenPair
from fsm.settings import MAX_ACCESS_TOKEN_MINUTES
from fsm.users.schemas import UserRead, user_read


class LoginRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Email and password."""

    email: Annotated[str, msgspec.Meta(min_length=1, max_length=320)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class RefreshRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The refresh token from the last sign-in or refresh."""

    refresh_token: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class PasswordChange(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The current password, to prove it is you, and the new one."""

    current_password: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    new_password: Annotated[str, msgspec.Meta(min_length=10, max_length=200)]


class ResetRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Ask for a password reset link to be mailed."""

    email: Annotated[str, msgspec.Meta(min_length=3, max_length=320)]


class ResetConfirm(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The token from the link and the new password."""

    token: Annotated[str, msgspec.Meta(min_length=20, max_length=100)]
    new_password: Annotated[str, msgspec.Meta(min_length=10, max_length=200)]


class InvitationAccept(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The token from the invitation link and the password to sign in with."""

    token: Annotated[str, msgspec.Meta(min_length=20, max_length=100)]
    password: Annotated[str, msgspec.Meta(min_length=10, max_length=200)]


class TokenResponse(msgspec.Struct, kw_only=True):
    """Tokens for the app: send the access token as `Authorization: Bearer …`."""

    access_token: str
    refresh_token: str
    token_type: str
    # Seconds the access token lives (FSM_ACCESS_TOKEN_MINUTES, a day at most).
    expires_in: Annotated[int, msgspec.Meta(ge=60, le=MAX_ACCESS_TOKEN_MINUTES * 60)]
    access_expires_at: datetime
    refresh_expires_at: datetime
    user: UserRead


def token_response(pair: TokenPair) -> TokenResponse:
    """Wire form of a token pair."""
    return TokenResponse(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        token_type="bearer",
        expires_in=pair.access_ttl_s,
        access_expires_at=pair.access_expires_at,
        refresh_expires_at=pair.refresh_expires_at,
        user=user_read(pair.user, pair.site_ids),
    )
