"""Cursors: what a page ends on comes back exactly; anything else is a clear 422."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from fsm.errors import UnknownCursor
from mobile_api.cursor import decode_cursor, encode_cursor
from mobile_api.etag import _matches, etag_of


def test_a_cursor_round_trips_its_sort_key() -> None:
    when = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    ident = uuid.uuid4()

    cursor = encode_cursor(when, ident, 7)

    assert decode_cursor(cursor, (datetime, uuid.UUID, int)) == (when, ident, 7)


@pytest.mark.parametrize(
    "cursor",
    ["not base64 at all!", encode_cursor(1, 2), encode_cursor("2026-11-23T09:30:00", "x"), ""],
)
def test_a_foreign_or_tampered_cursor_is_refused_naming_the_field(cursor: str) -> None:
    with pytest.raises(UnknownCursor) as refused:
        decode_cursor(cursor, (datetime, uuid.UUID), field="since")

    assert refused.value.details[0]["field"] == "since"


def test_etag_matching_follows_if_none_match() -> None:
    tag = etag_of(b'{"a":1}')

    assert _matches(tag, tag)
    assert _matches(f'"other", W/{tag}', tag)
    assert _matches("*", tag)
    assert not _matches('"other"', tag)
    assert not _matches(None, tag)
    assert etag_of(b'{"a":2}') != tag
