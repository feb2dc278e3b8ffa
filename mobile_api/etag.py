"""ETags for the heavy reads of the apps: a phone that already has the answer gets a 304."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
from litestar import Request, Response

# Private: answers depend on the caller; no-cache: always revalidate (cheap with the ETag).
CACHE_CONTROL = "private, no-cache"


def etag_of(body: bytes) -> str:
    """A strong validator for exactly these bytes."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    # Weak comparison, as RFC 9110 asks for If-None-Match.
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in candidates


def conditional_json(request: Request[Any, Any, Any], payload: Any) -> Response[bytes]:
    """The payload as JSON with its ETag, or an empty 304 when the caller already holds it."""
    body = msgspec.json.encode(payload)
    etag = etag_of(body)
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(b"", status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)
