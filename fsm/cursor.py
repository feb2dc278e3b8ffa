"""Opaque keyset cursors for lists that grow: page with `cursor`, not with offsets.

A cursor is the sort key of the last item sent, base64url-encoded JSON. It is not a secret
(the filters still run on every request), only opaque, so the server may change its shape.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime

import msgspec

from fsm.errors import UnknownCursor

CursorValue = str | int | datetime | uuid.UUID | None


def encode_cursor(*values: CursorValue) -> str:
    """The cursor that continues after an item with this sort key."""
    raw = msgspec.json.encode([_plain(v) for v in values])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _plain(value: CursorValue) -> str | int | None:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def decode_cursor(
    cursor: str, shape: tuple[type, ...], *, field: str = "cursor"
) -> tuple[CursorValue, ...]:
    """The sort key inside a cursor, typed by `shape`; a 409 naming `field` if it is not ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = msgspec.json.decode(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(values, list) or len(values) != len(shape):
            raise ValueError("wrong length")
        return tuple(_typed(v, t) for v, t in zip(values, shape, strict=True))
    except (ValueError, TypeError, binascii.Error, msgspec.DecodeError, UnicodeError):
        message = "is not a cursor this server gave out; start again without it"
        raise UnknownCursor(
            f"{field}: {message}", details=[{"field": field, "message": message}]
        ) from None


def _typed(value: object, kind: type) -> CursorValue:
    if value is None:
        return None
    if kind is datetime and isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError("naive time")
        return parsed
    if kind is uuid.UUID and isinstance(value, str):
        return uuid.UUID(value)
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is str and isinstance(value, str):
        return value
    raise ValueError(f"expected {kind.__name__}")
