"""The thumbnail job's retries: failing photos back off and are given up; others get through."""

from __future__ import annotations

from datetime import timedelta

import pytest
from botocore.exceptions import ClientError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fsm.db import utcnow
from fsm.photos.jobs import MAX_ATTEMPTS, make_thumbnail, retry_delay, sweep_thumbnails
from fsm.photos.models import Photo, PhotoState
from fsm.photos.service import PhotoService
from fsm.settings import PhotoSettings
from fsm.storage import ObjectStore
from tests.photos import images
from tests.photos.helpers import Scene, draft_for, make_scene, uploaded

SETTINGS = PhotoSettings(max_bytes=200_000, thumbnail_edge_px=64, max_pixels=1_000_000)


@pytest.fixture
async def scene(session: AsyncSession) -> Scene:
    scene = await make_scene(session)
    await session.commit()
    return scene


@pytest.fixture
def photos(session: AsyncSession, object_store: ObjectStore) -> PhotoService:
    return PhotoService(session, object_store, SETTINGS)


async def _stored(photos: PhotoService, scene: Scene, data: bytes) -> Photo:
    reservation = await photos.reserve_for_visit(
        scene.visit.id, draft_for(data), actor=scene.engineer_principal
    )
    await uploaded(reservation, data)
    photo = await photos.confirm(reservation.photo.id, actor=scene.engineer_principal)
    assert photo.state is PhotoState.STORED, photo.reject_reason
    await photos.session.commit()
    return photo


async def _stored_then_lost(photos: PhotoService, scene: Scene) -> Photo:
    """A stored photo whose original has gone from S3: every attempt fails."""
    photo = await _stored(photos, scene, images.jpeg())
    await photos.store.delete(photo.object_key)
    return photo


async def _reloaded(session: AsyncSession, photo: Photo) -> Photo:
    return (
        await session.scalars(
            select(Photo).where(Photo.id == photo.id).execution_options(populate_existing=True)
        )
    ).one()


class TestBackoff:
    async def test_a_failing_photo_is_not_retried_before_its_backoff(
        self,
        session: AsyncSession,
        session_factory: async_sessionmaker[AsyncSession],
        photos: PhotoService,
        scene: Scene,
        object_store: ObjectStore,
    ) -> None:
        photo = await _stored_then_lost(photos, scene)
        now = utcnow()

        first = await sweep_thumbnails(session_factory, object_store, SETTINGS, now=now)
        soon = await sweep_thumbnails(
            session_factory, object_store, SETTINGS, now=now + timedelta(seconds=30)
        )
        tried_once = await _reloaded(session, photo)
        attempts_after_soon = tried_once.thumbnail_attempts
        later = await sweep_thumbnails(
            session_factory, object_store, SETTINGS, now=now + retry_delay(1)
        )
        tried_twice = await _reloaded(session, photo)

        assert first.failed == 1
        assert soon.failed == 0
        assert attempts_after_soon == 1
        assert later.failed == 1
        assert tried_twice.thumbnail_attempts == 2
        assert tried_twice.thumbnail_next_attempt_at == now + retry_delay(1) + retry_delay(2)
        assert retry_delay(2) == 2 * retry_delay(1)
        assert tried_twice.state is PhotoState.STORED

    async def test_gives_up_after_the_last_attempt_and_keeps_the_photo_stored(
        self,
        session: AsyncSession,
        session_factory: async_sessionmaker[AsyncSession],
        photos: PhotoService,
        scene: Scene,
        object_store: ObjectStore,
    ) -> None:
        photo = await _stored_then_lost(photos, scene)
        now = utcnow()
        failures = 0
        for _ in range(MAX_ATTEMPTS):
            result = await sweep_thumbnails(session_factory, object_store, SETTINGS, now=now)
            failures += result.failed
            due = (await _reloaded(session, photo)).thumbnail_next_attempt_at
            now = due if due is not None else now

        given_up = await _reloaded(session, photo)
        much_later = await sweep_thumbnails(
            session_factory, object_store, SETTINGS, now=now + timedelta(days=30)
        )

        assert failures == MAX_ATTEMPTS
        assert given_up.thumbnail_attempts == MAX_ATTEMPTS
        assert given_up.thumbnail_failed_at is not None
        assert given_up.thumbnail_next_attempt_at is None
        # Still evidence for the engineer and the checklist; never shown to a client.
        assert given_up.state is PhotoState.STORED
        assert much_later.failed == 0
        assert (await _reloaded(session, photo)).thumbnail_attempts == MAX_ATTEMPTS

    async def test_a_photo_backing_off_is_left_alone_by_the_after_confirm_task(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        photos: PhotoService,
        scene: Scene,
        object_store: ObjectStore,
    ) -> None:
        photo = await _stored_then_lost(photos, scene)
        with pytest.raises(ClientError):  # S3: no such key
            await make_thumbnail(session_factory, object_store, SETTINGS, photo.id)

        assert await make_thumbnail(session_factory, object_store, SETTINGS, photo.id) is None


class TestNoBlocking:
    async def test_a_newer_good_photo_gets_through_many_failing_older_ones(
        self,
        session: AsyncSession,
        session_factory: async_sessionmaker[AsyncSession],
        photos: PhotoService,
        scene: Scene,
        object_store: ObjectStore,
    ) -> None:
        broken = [await _stored_then_lost(photos, scene) for _ in range(4)]
        good = await _stored(photos, scene, images.jpeg())
        now = utcnow()

        # Three at a time: the first sweep takes three broken ones, the second the rest.
        first = await sweep_thumbnails(session_factory, object_store, SETTINGS, limit=3, now=now)
        second = await sweep_thumbnails(session_factory, object_store, SETTINGS, limit=3, now=now)
        third = await sweep_thumbnails(session_factory, object_store, SETTINGS, limit=3, now=now)

        assert (first.failed, first.verified) == (3, 0)
        assert (second.failed, second.verified) == (1, 1)
        assert (await _reloaded(session, good)).state is PhotoState.VERIFIED
        # The broken ones back off instead of taking the sweep again.
        assert (third.failed, third.verified) == (0, 0)
        attempts = [(await _reloaded(session, photo)).thumbnail_attempts for photo in broken]
        assert attempts == [1, 1, 1, 1]

    async def test_due_retries_go_by_their_next_attempt_not_by_age(
        self,
        session: AsyncSession,
        session_factory: async_sessionmaker[AsyncSession],
        photos: PhotoService,
        scene: Scene,
        object_store: ObjectStore,
    ) -> None:
        older = await _stored_then_lost(photos, scene)
        newer = await _stored_then_lost(photos, scene)
        now = utcnow()
        for photo, at in ((newer, now), (older, now + timedelta(seconds=10))):
            with pytest.raises(ClientError):  # S3: no such key
                await make_thumbnail(session_factory, object_store, SETTINGS, photo.id, now=at)

        both_due = now + timedelta(minutes=5)
        result = await sweep_thumbnails(
            session_factory, object_store, SETTINGS, limit=1, now=both_due
        )

        assert result.failed == 1
        assert (await _reloaded(session, newer)).thumbnail_attempts == 2
        assert (await _reloaded(session, older)).thumbnail_attempts == 1
