"""Object storage for photo evidence: boto3 behind a small interface, SigV4 always."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import boto3
from botocore.client import Config
from botocore.exceptions import ClientError

from fsm.errors import NotFound
from fsm.settings import S3Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class ObjectMissing(NotFound):
    """No object under this key."""


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What the store says about an object without reading its bytes."""

    key: str
    size: int
    content_type: str | None
    etag: str
    last_modified: datetime


class ObjectStore:
    """One bucket of an S3-compatible store.

    Blocking boto3 calls run in a worker thread, so the event loop keeps serving requests.
    """

    def __init__(self, settings: S3Settings) -> None:
        self.settings = settings
        self.bucket = settings.bucket
        # Path-style addressing works on every S3-compatible server; SigV4 is what AWS and
        # SeaweedFS verify (presigned URLs in us-east-1 would otherwise default to SigV2).
        self.client = self._client(settings, attempts=3, connect_timeout_s=5, read_timeout_s=30)
        # Health checks want a quick yes or no, not three patient attempts.
        self.ping_client = self._client(settings, attempts=1, connect_timeout_s=2, read_timeout_s=2)

    @staticmethod
    def _client(
        settings: S3Settings, *, attempts: int, connect_timeout_s: float, read_timeout_s: float
    ) -> S3Client:
        return boto3.client(
            "s3",
            endpoint_url=settings.endpoint_url,
            aws_access_key_id=settings.access_key,
            aws_secret_access_key=settings.secret_key,
            region_name=settings.region,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"max_attempts": attempts, "mode": "standard"},
                connect_timeout=connect_timeout_s,
                read_timeout=read_timeout_s,
            ),
        )

    async def _run(self, fn: Any, /, **kwargs: Any) -> Any:
        return await anyio.to_thread.run_sync(lambda: fn(**kwargs))

    async def ping(self) -> None:
        """Ask for the bucket once, without the client's retries: raises when unreachable."""
        await self._run(self.ping_client.head_bucket, Bucket=self.bucket)

    async def ensure_bucket(self) -> None:
        """Create the bucket unless it exists."""
        try:
            await self._run(self.client.head_bucket, Bucket=self.bucket)
        except ClientError:
            await self._run(self.client.create_bucket, Bucket=self.bucket)

    async def put(self, key: str, body: bytes, content_type: str) -> ObjectInfo:
        """Store small bytes we made ourselves (thumbnails); uploads go presigned."""
        await self._run(
            self.client.put_object,
            Bucket=self.bucket,
            Key=key,
            Body=body,
            ContentType=content_type,
        )
        return await self.head(key)

    async def get(self, key: str) -> bytes:
        """Read a whole object (for server-side checks of bounded size).

        Raises:
            ObjectMissing: no such key.
        """
        try:
            response = await self._run(self.client.get_object, Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _is_missing(exc):
                raise ObjectMissing(f"no object {key}") from exc
            raise
        body = response["Body"]
        try:
            data: bytes = await anyio.to_thread.run_sync(body.read)
        finally:
            body.close()
        return data

    async def head(self, key: str) -> ObjectInfo:
        """Size, type and checksum of an object.

        Raises:
            ObjectMissing: no such key.
        """
        try:
            response = await self._run(self.client.head_object, Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _is_missing(exc):
                raise ObjectMissing(f"no object {key}") from exc
            raise
        return ObjectInfo(
            key=key,
            size=int(response["ContentLength"]),
            content_type=response.get("ContentType"),
            etag=str(response.get("ETag", "")).strip('"'),
            last_modified=response["LastModified"],
        )

    async def delete(self, key: str) -> None:
        """Remove an object; removing a missing one is not an error."""
        await self._run(self.client.delete_object, Bucket=self.bucket, Key=key)

    def presigned_put_url(
        self, key: str, *, content_type: str, expires_in_s: int | None = None
    ) -> str:
        """A URL the app PUTs the bytes to; the signature binds key, type and expiry."""
        return self.client.generate_presigned_url(
            "put_object",
            Params={"Bucket": self.bucket, "Key": key, "ContentType": content_type},
            ExpiresIn=expires_in_s or self.settings.presign_expiry_s,
            HttpMethod="PUT",
        )

    def presigned_get_url(self, key: str, *, expires_in_s: int | None = None) -> str:
        """A short-lived URL to read an object without going through the API."""
        return self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": key},
            ExpiresIn=expires_in_s or self.settings.presign_expiry_s,
            HttpMethod="GET",
        )


def _is_missing(exc: ClientError) -> bool:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code in {"404", "NoSuchKey", "NotFound"}
