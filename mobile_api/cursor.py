"""Opaque keyset cursors for lists that grow: apps page with `cursor`, never with offsets.

The encoding is fsm's (`fsm/cursor.py`, shared with the dispatcher's queues); the page shape
of the apps' growing lists is here.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import msgspec

from fsm.cursor import CursorValue, decode_cursor, encode_cursor

T = TypeVar("T")

__all__ = ["CursorPage", "CursorValue", "decode_cursor", "encode_cursor"]


class CursorPage(msgspec.Struct, Generic[T], kw_only=True):
    """A page of a growing list: its items and the cursor of the next page (none at the end)."""

    items: list[T]
    next_cursor: str | None
