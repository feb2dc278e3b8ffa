"""What the photo checks ask of S3 beyond `ObjectStore`: a few bytes, a streamed hash, a copy.

Each call blocks and runs in a worker thread; none holds more than one chunk in memory.
"""

from __future__ import annotations

import hashlib
from typing import IO

import anyio.to_thread

from fsm.storage import ObjectStore

HASH_CHUNK_BYTES = 1024 * 1024

JPEG = "image/jpeg"
PNG = "image/png"
HEIC = "image/heic"
HEIF = "image/heif"
CONTENT_TYPES = (JPEG, PNG, HEIC, HEIF)

# ISO BMFF brands of HEIF stills as phones write them (HEVC-coded or generic).
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1"}
SNIFF_BYTES = 32


def sniff(head: bytes) -> str | None:
    """The image type the first bytes announce, whatever the name or declared type say."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return HEIC
    return None


def same_kind(declared: str, detected: str) -> bool:
    """The declared content type names the format the bytes are in (HEIC and HEIF alike)."""
    family = {HEIF: HEIC}
    return family.get(declared, declared) == family.get(detected, detected)


def presigned_put_url(
    store: ObjectStore, key: str, *, content_type: str, size_bytes: int, expires_in_s: int
) -> str:
    """A PUT URL whose signature binds key, content type, exact size and expiry.

    S3 refuses a body of any other length (the signed Content-Length), so nobody can park a
    large file under the key; the confirm still checks the size as the second line.
    """
    return store.client.generate_presigned_url(
        "put_object",
        Params={
            "Bucket": store.bucket,
            "Key": key,
            "ContentType": content_type,
            "ContentLength": size_bytes,
        },
        ExpiresIn=expires_in_s,
        HttpMethod="PUT",
    )


async def read_head(store: ObjectStore, key: str, length: int = SNIFF_BYTES) -> bytes:
    """The first `length` bytes of an object (a ranged GET)."""

    def read() -> bytes:
        response = store.client.get_object(
            Bucket=store.bucket, Key=key, Range=f"bytes=0-{length - 1}"
        )
        body = response["Body"]
        try:
            data: bytes = body.read(length)
        finally:
            body.close()
        return data

    return await anyio.to_thread.run_sync(read)


async def sha256_of(store: ObjectStore, key: str) -> str:
    """The hex SHA-256 of an object, streamed chunk by chunk."""

    def digest() -> str:
        response = store.client.get_object(Bucket=store.bucket, Key=key)
        body = response["Body"]
        hasher = hashlib.sha256()
        try:
            for chunk in body.iter_chunks(HASH_CHUNK_BYTES):
                hasher.update(chunk)
        finally:
            body.close()
        return hasher.hexdigest()

    return await anyio.to_thread.run_sync(digest)


async def copy(store: ObjectStore, source_key: str, target_key: str) -> None:
    """Copy an object inside the bucket (server-side; no bytes pass through us)."""
    await anyio.to_thread.run_sync(
        lambda: store.client.copy_object(
            Bucket=store.bucket,
            Key=target_key,
            CopySource={"Bucket": store.bucket, "Key": source_key},
            MetadataDirective="COPY",
        )
    )


def download_to(store: ObjectStore, key: str, target: IO[bytes]) -> None:
    """Stream an object into a file (blocking: call from a worker thread)."""
    store.client.download_fileobj(store.bucket, key, target)
