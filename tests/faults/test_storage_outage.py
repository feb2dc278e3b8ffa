"""The object store stops while an engineer confirms a photo: 503, nothing changed, retry works.

The S3 server is a SeaweedFS process of this module's own, stopped and started again on
the same folder and port.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fsm.main.app import create_app
from fsm.main.localinfra import LocalS3
from fsm.photos.models import Photo, PhotoState
from fsm.settings import S3Settings, Settings
from fsm.storage import ObjectStore
from tests.auth_helpers import login
from tests.conftest import _s3_port
from tests.photos import images
from tests.photos.helpers import make_scene, upload

ENGINEER = "/mobile/v1/engineer"


@pytest.fixture(scope="module")
def own_s3() -> Iterator[LocalS3]:
    base = Path(tempfile.mkdtemp(prefix="fieldline-fault-s3-"))
    s3 = LocalS3(
        data_dir=base / "s3",
        port=_s3_port(),
        access_key="fault-" + uuid.uuid4().hex[:8],
        secret_key=uuid.uuid4().hex,
    )
    try:
        s3.start()
        yield s3
    finally:
        s3.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
async def store_client(
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    own_s3: LocalS3,
) -> AsyncIterator[httpx.AsyncClient]:
    s3_settings = S3Settings(
        endpoint_url=own_s3.endpoint,
        bucket="fieldline-fault",
        access_key=own_s3.access_key,
        secret_key=own_s3.secret_key,
    )
    store = ObjectStore(s3_settings)
    await store.ensure_bucket()
    app = create_app(settings, session_factory=session_factory, object_store=store)
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def test_a_confirm_while_s3_is_down_answers_503_changes_nothing_and_retry_succeeds(
    store_client: httpx.AsyncClient, session: AsyncSession, own_s3: LocalS3
) -> None:
    scene = await make_scene(session)
    await session.commit()
    headers = await login(store_client, scene.engineer.user)
    data = images.jpeg()
    reserved = await store_client.post(
        f"{ENGINEER}/visits/{scene.visit.id}/photos",
        json={
            "content_type": "image/jpeg",
            "size_bytes": len(data),
            "sha256": images.sha256_hex(data),
        },
        headers=headers,
    )
    assert reserved.status_code == 201, reserved.text
    photo_id = reserved.json()["photo"]["id"]
    assert (await upload(reserved.json()["upload"], data)).status_code == 200

    own_s3.stop()
    try:
        refused = await store_client.post(
            f"{ENGINEER}/photos/{photo_id}/confirm", json={}, headers=headers
        )
        health = await store_client.get("/health")
    finally:
        own_s3.start()

    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "storage_unavailable"
    assert refused.headers["Retry-After"] == "5"
    photo = await session.get(Photo, uuid.UUID(photo_id), populate_existing=True)
    assert photo is not None
    assert photo.state is PhotoState.PENDING
    # The database still serves everything else: the instance stays in rotation.
    assert health.status_code == 200
    assert health.json()["status"] == "degraded"
    assert health.json()["object_store"]["status"] == "down"

    retried = await store_client.post(
        f"{ENGINEER}/photos/{photo_id}/confirm", json={}, headers=headers
    )
    assert retried.status_code == 200, retried.text
    assert retried.json()["state"] == "stored"
    assert (await store_client.get("/health")).json()["status"] == "ok"
