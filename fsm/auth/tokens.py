"""Access tokens (signed JWTs) and refresh tokens (opaque, stored hashed)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from fsm.errors import Unauthorized

ALGORITHM = "HS256"
ISSUER = "fieldline"


class InvalidToken(Unauthorized):
    """The token is missing, malformed, tampered with, expired or revoked."""


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What an access token says about its bearer."""

    user_id: uuid.UUID
    session_id: uuid.UUID


def issue_access_token(
    *, user_id: uuid.UUID, session_id: uuid.UUID, secret: str, now: datetime, ttl: timedelta
) -> str:
    """A signed JWT naming the user and the sign-in session it belongs to."""
    payload = {
        "sub": str(user_id),
        "sid": str(session_id),
        "iss": ISSUER,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
        "typ": "access",
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def read_access_token(token: str, *, secret: str) -> AccessClaims:
    """The claims of a valid access token.

    Raises:
        InvalidToken: bad signature, expired, wrong issuer or type, or malformed.
    """
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["sub", "sid", "exp", "iss"]},
        )
        if payload.get("typ") != "access":
            raise InvalidToken("not an access token")
        return AccessClaims(user_id=uuid.UUID(payload["sub"]), session_id=uuid.UUID(payload["sid"]))
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("the access token has expired") from exc
    except (jwt.PyJWTError, ValueError) as exc:
        raise InvalidToken("the access token is not valid") from exc


def new_refresh_secret() -> str:
    """256 bits of randomness, URL-safe."""
    return secrets.token_urlsafe(32)


def hash_refresh_secret(secret: str) -> str:
    """Refresh tokens are stored only as hashes, so a database leak signs nobody in."""
    return hashlib.sha256(secret.encode()).hexdigest()


def format_refresh_token(session_id: uuid.UUID, secret: str) -> str:
    """The token the app keeps: the session id and its current secret."""
    return f"{session_id}.{secret}"


def parse_refresh_token(token: str) -> tuple[uuid.UUID, str]:
    """Split a refresh token into session id and secret.

    Raises:
        InvalidToken: it does not have that shape.
    """
    session_part, _, secret = token.partition(".")
    try:
        session_id = uuid.UUID(session_part)
    except ValueError as exc:
        raise InvalidToken("the refresh token is not valid") from exc
    if not secret:
        raise InvalidToken("the refresh token is not valid")
    return session_id, secret


def secrets_match(stored_hash: str, secret: str) -> bool:
    """Compare in constant time."""
    return hmac.compare_digest(stored_hash, hash_refresh_secret(secret))
