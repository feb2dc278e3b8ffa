"""The object store against the real S3-compatible server the test run starts."""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import parse_qs, urlencode, urlparse, urlunparse

import httpx
import pytest

from fsm.storage import ObjectMissing, ObjectStore


def _key() -> str:
    return f"tests/{uuid.uuid4()}.bin"


class TestPutAndGet:
    async def test_round_trip_keeps_bytes_and_type(self, object_store: ObjectStore) -> None:
        key = _key()
        info = await object_store.put(key, b"\x89PNG fake bytes", "image/png")
        assert info.size == len(b"\x89PNG fake bytes")
        assert info.content_type == "image/png"
        assert await object_store.get(key) == b"\x89PNG fake bytes"

    async def test_missing_key_is_object_missing(self, object_store: ObjectStore) -> None:
        with pytest.raises(ObjectMissing):
            await object_store.head(_key())
        with pytest.raises(ObjectMissing):
            await object_store.get(_key())

    async def test_delete_removes_the_object(self, object_store: ObjectStore) -> None:
        key = _key()
        await object_store.put(key, b"x", "text/plain")
        await object_store.delete(key)
        with pytest.raises(ObjectMissing):
            await object_store.head(key)


class TestPresignedPut:
    async def test_plain_http_upload_lands_in_the_bucket(self, object_store: ObjectStore) -> None:
        key = _key()
        url = object_store.presigned_put_url(key, content_type="image/jpeg")
        async with httpx.AsyncClient() as http:
            response = await http.put(
                url, content=b"\xff\xd8\xff jpeg", headers={"Content-Type": "image/jpeg"}
            )
        assert response.status_code == 200
        info = await object_store.head(key)
        assert info.size == len(b"\xff\xd8\xff jpeg")
        assert info.content_type == "image/jpeg"

    async def test_other_content_type_than_signed_is_refused(
        self, object_store: ObjectStore
    ) -> None:
        key = _key()
        url = object_store.presigned_put_url(key, content_type="image/jpeg")
        async with httpx.AsyncClient() as http:
            response = await http.put(url, content=b"<html>", headers={"Content-Type": "text/html"})
        assert response.status_code == 403
        with pytest.raises(ObjectMissing):
            await object_store.head(key)

    async def test_url_for_another_key_is_refused(self, object_store: ObjectStore) -> None:
        key = _key()
        url = object_store.presigned_put_url(key, content_type="image/jpeg")
        tampered = url.replace(key, _key())
        async with httpx.AsyncClient() as http:
            response = await http.put(
                tampered, content=b"x", headers={"Content-Type": "image/jpeg"}
            )
        assert response.status_code == 403

    async def test_tampered_signature_is_refused(self, object_store: ObjectStore) -> None:
        url = object_store.presigned_put_url(_key(), content_type="image/jpeg")
        parts = urlparse(url)
        query = parse_qs(parts.query)
        signature = query["X-Amz-Signature"][0]
        query["X-Amz-Signature"] = [("0" if signature[0] != "0" else "1") + signature[1:]]
        tampered = urlunparse(parts._replace(query=urlencode(query, doseq=True)))
        async with httpx.AsyncClient() as http:
            response = await http.put(
                tampered, content=b"x", headers={"Content-Type": "image/jpeg"}
            )
        assert response.status_code == 403


class TestPresignedGet:
    async def test_reads_the_object_without_credentials(self, object_store: ObjectStore) -> None:
        key = _key()
        await object_store.put(key, b"evidence", "image/png")
        async with httpx.AsyncClient() as http:
            response = await http.get(object_store.presigned_get_url(key))
        assert response.status_code == 200
        assert response.content == b"evidence"

    async def test_expired_url_is_refused(self, object_store: ObjectStore) -> None:
        key = _key()
        await object_store.put(key, b"evidence", "image/png")
        url = object_store.presigned_get_url(key, expires_in_s=1)
        await asyncio.sleep(2.1)
        async with httpx.AsyncClient() as http:
            response = await http.get(url)
        assert response.status_code == 403
