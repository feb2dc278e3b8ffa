"""Offset pagination shared by every list endpoint."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import msgspec

from fsm.schemas import Count

T = TypeVar("T")
U = TypeVar("U")

MAX_LIMIT = 200


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Which slice of a list the caller wants."""

    limit: int = 50
    offset: int = 0


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One slice of a list and the size of the whole list."""

    items: Sequence[T]
    total: int
    limit: int
    offset: int


class PageOut(msgspec.Struct, Generic[T], kw_only=True):
    """A page on the wire: the items, the total matching, and the slice asked for."""

    items: list[T]
    total: Count
    limit: Count
    offset: Count


def page_out(page: Page[T], convert: Callable[[T], U]) -> PageOut[U]:
    """The wire form of a page, each item converted."""
    return PageOut(
        items=[convert(item) for item in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )
