"""Photo checks and the thumbnail job, against the real S3 server and database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fsm.db import utcnow
from fsm.geo import from_db_point
from fsm.main.scheduler import run_photo_thumbnails
from fsm.photos.jobs import make_thumbnail, purge_abandoned, sweep_thumbnails
from fsm.photos.models import Photo, PhotoState
from fsm.photos.service import (
    PhotoIdTaken,
    PhotoMissing,
    PhotoNotFound,
    PhotoService,
    PhotoTooLarge,
    PhotoVisitNotFound,
    PhotoWorkOrderNotFound,
    rejection_of,
    upload_key,
)
from fsm.settings import PhotoSettings, Settings
from fsm.storage import ObjectMissing, ObjectStore
from fsm.users.models import Role
from tests.factories import make_engineer, make_user
from tests.fsm.wo_helpers import plan_visit, principal_of
from tests.photos import images
from tests.photos.helpers import Scene, draft_for, fetch, make_scene, upload, uploaded

SETTINGS = PhotoSettings(max_bytes=200_000, thumbnail_edge_px=64, max_pixels=1_000_000)
JPEG = images.jpeg()
# Same size, one byte different: only the hash can tell.
TAMPERED_JPEG = JPEG[:-10] + bytes([JPEG[-10] ^ 0x01]) + JPEG[-9:]


@pytest.fixture
async def scene(session: AsyncSession) -> Scene:
    scene = await make_scene(session)
    await session.commit()
    return scene


@pytest.fixture
def photos(session: AsyncSession, object_store: ObjectStore) -> PhotoService:
    return PhotoService(session, object_store, SETTINGS)


async def _stored(
    photos: PhotoService,
    scene: Scene,
    data: bytes,
    content_type: str = "image/jpeg",
    **overrides: object,
) -> Photo:
    reservation = await photos.reserve_for_visit(
        scene.visit.id, draft_for(data, content_type, **overrides), actor=scene.engineer_principal
    )
    await uploaded(reservation, data)
    photo = await photos.confirm(reservation.photo.id, actor=scene.engineer_principal)
    assert photo.state is PhotoState.STORED, photo.reject_reason
    await photos.session.commit()
    return photo


async def _gone(store: ObjectStore, key: str) -> bool:
    try:
        await store.head(key)
    except ObjectMissing:
        return True
    return False


class TestReserve:
    async def test_upload_slot_takes_the_bytes_under_an_upload_key(
        self, photos: PhotoService, scene: Scene, object_store: ObjectStore
    ) -> None:
        data = images.jpeg()
        reservation = await photos.reserve_for_visit(
            scene.visit.id,
            draft_for(data, checklist_item_key="gauge_photo"),
            actor=scene.engineer_principal,
        )
        photo = reservation.photo
        assert photo.state is PhotoState.PENDING
        assert photo.work_order_id == scene.work_order.id
        assert photo.visit_id == scene.visit.id
        assert photo.checklist_item_key == "gauge_photo"
        assert not photo.is_client_visible
        assert reservation.upload is not None
        assert reservation.upload.headers == {
            "Content-Type": "image/jpeg",
            "Content-Length": str(len(data)),
        }
        assert (await upload(reservation.upload, data)).status_code == 200
        assert (await object_store.head(upload_key(photo))).size == len(data)

    @pytest.mark.parametrize(
        "sent", [b"\xff\xd8\xff" * 10, b"\xff\xd8\xff" * 1000], ids=["smaller", "larger"]
    )
    async def test_s3_refuses_an_upload_of_another_size(
        self, photos: PhotoService, scene: Scene, object_store: ObjectStore, sent: bytes
    ) -> None:
        data = b"\xff\xd8\xff" * 100
        reservation = await photos.reserve_for_visit(
            scene.visit.id, draft_for(data), actor=scene.engineer_principal
        )
        assert (await upload(reservation.upload, sent)).status_code == 403
        assert await _gone(object_store, upload_key(reservation.photo))

    async def test_refuses_a_size_over_the_limit(self, photos: PhotoService, scene: Scene) -> None:
        with pytest.raises(PhotoTooLarge):
            await photos.reserve_for_visit(
                scene.visit.id,
                draft_for(b"x", size_bytes=SETTINGS.max_bytes + 1),
                actor=scene.engineer_principal,
            )

    async def test_refuses_another_engineers_visit(
        self, session: AsyncSession, photos: PhotoService, scene: Scene
    ) -> None:
        other = await make_engineer(session)
        with pytest.raises(PhotoVisitNotFound):
            await photos.reserve_for_visit(
                scene.visit.id, draft_for(images.jpeg()), actor=principal_of(other.user)
            )

    async def test_client_photos_are_visible_to_the_client_and_have_no_visit(
        self, photos: PhotoService, scene: Scene
    ) -> None:
        reservation = await photos.reserve_for_work_order(
            scene.work_order.id, draft_for(images.png(), "image/png"), actor=scene.client_principal
        )
        assert reservation.photo.visit_id is None
        assert reservation.photo.is_client_visible

    async def test_refuses_another_companys_work_order(
        self, session: AsyncSession, photos: PhotoService, scene: Scene
    ) -> None:
        stranger = await make_user(session, role=Role.CLIENT)
        with pytest.raises(PhotoWorkOrderNotFound):
            await photos.reserve_for_work_order(
                scene.work_order.id,
                draft_for(images.png(), "image/png"),
                actor=principal_of(stranger),
            )

    async def test_same_id_again_returns_the_same_photo_with_a_fresh_slot(
        self, photos: PhotoService, scene: Scene
    ) -> None:
        data, photo_id = images.jpeg(), uuid.uuid4()
        first = await photos.reserve_for_visit(
            scene.visit.id, draft_for(data, photo_id=photo_id), actor=scene.engineer_principal
        )
        again = await photos.reserve_for_visit(
            scene.visit.id, draft_for(data, photo_id=photo_id), actor=scene.engineer_principal
        )
        assert first.photo.id == again.photo.id == photo_id
        assert again.upload is not None

    async def test_same_id_with_other_details_is_refused(
        self, photos: PhotoService, scene: Scene
    ) -> None:
        photo_id = uuid.uuid4()
        await photos.reserve_for_visit(
            scene.visit.id,
            draft_for(images.jpeg(), photo_id=photo_id),
            actor=scene.engineer_principal,
        )
        with pytest.raises(PhotoIdTaken):
            await photos.reserve_for_visit(
                scene.visit.id,
                draft_for(images.png(), "image/png", photo_id=photo_id),
                actor=scene.engineer_principal,
            )


class TestConfirm:
    async def test_checked_upload_is_stored_under_the_photos_own_key(
        self, photos: PhotoService, scene: Scene, object_store: ObjectStore
    ) -> None:
        data = images.jpeg()
        photo = await _stored(photos, scene, data)
        assert photo.sha256 == images.sha256_hex(data)
        assert photo.stored_at is not None
        assert (await object_store.head(photo.object_key)).size == len(data)
        assert await _gone(object_store, upload_key(photo))

    async def test_upload_after_confirm_cannot_replace_the_evidence(
        self, photos: PhotoService, scene: Scene, object_store: ObjectStore
    ) -> None:
        reservation = await photos.reserve_for_visit(
            scene.visit.id, draft_for(JPEG), actor=scene.engineer_principal
        )
        await uploaded(reservation, JPEG)
        photo = await photos.confirm(reservation.photo.id, actor=scene.engineer_principal)
        # The upload URL is still valid; a second PUT lands beside the evidence, not on it.
        assert (await upload(reservation.upload, TAMPERED_JPEG)).status_code == 200
        original = await fetch(photos.links(photo).original_url)
        assert original.content == JPEG

    async def test_hash_given_only_at_confirm_is_checked(
        self, photos: PhotoService, scene: Scene
    ) -> None:
        data = images.jpeg()
        reservation = await photos.reserve_for_visit(
            scene.visit.id, draft_for(data, sha256=None), actor=scene.engineer_principal
        )
        await uploaded(reservation, data)
        photo = await photos.confirm(
            reservation.photo.id, sha256=images.sha256_hex(b"other"), actor=scene.engineer_principal
        )
        assert photo.reject_reason == "photo_hash_mismatch"

    @pytest.mark.parametrize(
        ("announced", "sent", "content_type", "reason"),
        [
            pytest.param(JPEG, TAMPERED_JPEG, "image/jpeg", "photo_hash_mismatch", id="wrong-hash"),
            pytest.param(
                b"not a photo" * 10,
                b"not a photo" * 10,
                "image/jpeg",
                "photo_not_an_image",
                id="text-as-jpeg",
            ),
            pytest.param(
                images.png(), images.png(), "image/jpeg", "photo_not_an_image", id="png-as-jpeg"
            ),
            pytest.param(
                b"\xff\xd8\xff" + b"0" * 100,
                b"\xff\xd8\xff" + b"0" * 150,
                "image/jpeg",
                "photo_size_mismatch",
                id="other-size",
            ),
            pytest.param(
                b"\xff\xd8\xff" + b"0" * 100,
                b"\xff\xd8\xff" + b"0" * (SETTINGS.max_bytes + 1),
                "image/jpeg",
                "photo_too_large",
                id="over-limit",
            ),
        ],
    )
    async def test_refused_upload_is_rejected_and_deleted(
        self,
        photos: PhotoService,
        scene: Scene,
        object_store: ObjectStore,
        announced: bytes,
        sent: bytes,
        content_type: str,
        reason: str,
    ) -> None:
        reservation = await photos.reserve_for_visit(
            scene.visit.id, draft_for(announced, content_type), actor=scene.engineer_principal
        )
        # Straight into the store: S3 itself refuses a presigned PUT of another size.
        await object_store.put(upload_key(reservation.photo), sent, content_type)
        photo = await photos.confirm(reservation.photo.id, actor=scene.engineer_principal)
        assert photo.state is PhotoState.REJECTED
        assert photo.reject_reason == reason
        problem = rejection_of(photo)
        assert problem is not None
        assert problem.code == reason
        assert problem.status_code == 422
        assert await _gone(object_store, photo.object_key)
        assert await _gone(object_store, upload_key(photo))
        # Asked again, it answers the same rejection.
        again = await photos.confirm(photo.id, actor=scene.engineer_principal)
        assert again.reject_reason == reason

    async def test_nothing_uploaded_keeps_it_pending_for_a_retry(
        self, photos: PhotoService, scene: Scene
    ) -> None:
        data = images.jpeg()
        reservation = await photos.reserve_for_visit(
            scene.visit.id, draft_for(data), actor=scene.engineer_principal
        )
        with pytest.raises(PhotoMissing):
            await photos.confirm(reservation.photo.id, actor=scene.engineer_principal)
        assert reservation.photo.state is PhotoState.PENDING
        await uploaded(reservation, data)
        photo = await photos.confirm(reservation.photo.id, actor=scene.engineer_principal)
        assert photo.state is PhotoState.STORED

    async def test_confirm_after_a_lost_commit_checks_the_moved_bytes(
        self, photos: PhotoService, scene: Scene, object_store: ObjectStore
    ) -> None:
        reservation = await photos.reserve_for_visit(
            scene.visit.id, draft_for(JPEG), actor=scene.engineer_principal
        )
        await uploaded(reservation, JPEG)
        # What a confirm leaves in S3 when its database transaction then fails.
        photo = reservation.photo
        await object_store.put(photo.object_key, JPEG, "image/jpeg")
        await object_store.delete(upload_key(photo))
        confirmed = await photos.confirm(photo.id, actor=scene.engineer_principal)
        assert confirmed.state is PhotoState.STORED

    async def test_confirming_again_returns_the_stored_photo(
        self, photos: PhotoService, scene: Scene
    ) -> None:
        photo = await _stored(photos, scene, images.jpeg())
        again = await photos.confirm(photo.id, actor=scene.engineer_principal)
        assert again.id == photo.id
        assert again.state is PhotoState.STORED

    async def test_only_the_uploader_may_confirm(
        self, session: AsyncSession, photos: PhotoService, scene: Scene
    ) -> None:
        data = images.jpeg()
        reservation = await photos.reserve_for_visit(
            scene.visit.id, draft_for(data), actor=scene.engineer_principal
        )
        await uploaded(reservation, data)
        other = await make_engineer(session)
        with pytest.raises(PhotoNotFound):
            await photos.confirm(reservation.photo.id, actor=principal_of(other.user))
        with pytest.raises(PhotoNotFound):
            await photos.confirm(reservation.photo.id, actor=scene.client_principal)
        assert reservation.photo.state is PhotoState.PENDING


class TestThumbnailJob:
    async def test_verified_with_a_gps_free_thumbnail_while_the_record_keeps_exif(
        self,
        session: AsyncSession,
        session_factory: async_sessionmaker[AsyncSession],
        photos: PhotoService,
        scene: Scene,
        object_store: ObjectStore,
    ) -> None:
        photo = await _stored(photos, scene, images.jpeg(320, 160, orientation=6))
        state = await make_thumbnail(session_factory, object_store, SETTINGS, photo.id)
        assert state is PhotoState.VERIFIED
        await session.refresh(photo)
        assert photo.state is PhotoState.VERIFIED
        assert photo.taken_at == datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
        location = from_db_point(photo.location)
        assert location is not None
        assert location.lat == pytest.approx(images.BERLIN_LAT)
        assert location.lon == pytest.approx(images.BERLIN_LON)
        thumbnail = await fetch(photos.links(photo).thumbnail_url)
        assert thumbnail.status_code == 200
        picture = images.decode(thumbnail.content)
        assert picture.format == "JPEG"
        # Orientation 6 turns the 320x160 landscape upright: a 32x64 portrait.
        assert picture.size == (32, 64)
        assert len(picture.getexif()) == 0
        assert "exif" not in picture.info

    async def test_exif_time_without_offset_is_the_sites_local_time(
        self,
        session: AsyncSession,
        session_factory: async_sessionmaker[AsyncSession],
        photos: PhotoService,
        scene: Scene,
        object_store: ObjectStore,
    ) -> None:
        photo = await _stored(photos, scene, images.jpeg(offset=None, with_gps=False))
        await make_thumbnail(session_factory, object_store, SETTINGS, photo.id)
        await session.refresh(photo)
        # 09:30 in Berlin in November is 08:30 UTC.
        assert photo.taken_at == datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
        assert photo.location is None

    async def test_png_keeps_the_time_the_app_gave(
        self,
        session: AsyncSession,
        session_factory: async_sessionmaker[AsyncSession],
        photos: PhotoService,
        scene: Scene,
        object_store: ObjectStore,
    ) -> None:
        taken_at = datetime(2026, 11, 21, 14, 0, tzinfo=UTC)
        photo = await _stored(
            photos, scene, images.png(), content_type="image/png", taken_at=taken_at
        )
        assert await make_thumbnail(session_factory, object_store, SETTINGS, photo.id) is (
            PhotoState.VERIFIED
        )
        await session.refresh(photo)
        assert photo.taken_at == taken_at
        picture = images.decode((await fetch(photos.links(photo).thumbnail_url)).content)
        assert picture.size == (64, 32)

    async def test_heic_becomes_a_jpeg_thumbnail(
        self,
        session: AsyncSession,
        session_factory: async_sessionmaker[AsyncSession],
        photos: PhotoService,
        scene: Scene,
        object_store: ObjectStore,
    ) -> None:
        photo = await _stored(photos, scene, images.heic(), content_type="image/heic")
        assert await make_thumbnail(session_factory, object_store, SETTINGS, photo.id) is (
            PhotoState.VERIFIED
        )
        await session.refresh(photo)
        picture = images.decode((await fetch(photos.links(photo).thumbnail_url)).content)
        assert picture.format == "JPEG"
        assert picture.size == (64, 48)

    async def test_image_just_over_the_pixel_limit_is_refused(
        self,
        session: AsyncSession,
        session_factory: async_sessionmaker[AsyncSession],
        photos: PhotoService,
        scene: Scene,
        object_store: ObjectStore,
    ) -> None:
        # 1.2x the limit: Pillow alone would only warn (it refuses from 2x).
        tight = PhotoSettings(max_bytes=SETTINGS.max_bytes, max_pixels=10_000)
        photo = await _stored(photos, scene, images.png(120, 100), content_type="image/png")
        state = await make_thumbnail(session_factory, object_store, tight, photo.id)
        assert state is PhotoState.REJECTED
        await session.refresh(photo)
        assert photo.reject_reason == "photo_too_many_pixels"
        assert photo.thumbnail_key is None
        assert await _gone(object_store, photo.object_key)

    async def test_sweep_thumbnails_every_stored_photo_once(
        self,
        session: AsyncSession,
        session_factory: async_sessionmaker[AsyncSession],
        photos: PhotoService,
        scene: Scene,
        object_store: ObjectStore,
    ) -> None:
        first = await _stored(photos, scene, images.jpeg())
        second = await _stored(photos, scene, images.png(), content_type="image/png")
        result = await sweep_thumbnails(session_factory, object_store, SETTINGS)
        assert result.verified >= 2
        assert result.failed == 0
        for photo in (first, second):
            await session.refresh(photo)
            assert photo.state is PhotoState.VERIFIED
        again = await sweep_thumbnails(session_factory, object_store, SETTINGS)
        assert again.verified == 0

    async def test_pending_photos_are_left_alone(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        photos: PhotoService,
        scene: Scene,
        object_store: ObjectStore,
    ) -> None:
        reservation = await photos.reserve_for_visit(
            scene.visit.id, draft_for(images.jpeg()), actor=scene.engineer_principal
        )
        await photos.session.commit()
        assert (
            await make_thumbnail(session_factory, object_store, SETTINGS, reservation.photo.id)
            is None
        )


class TestScheduledSweep:
    async def test_sweep_with_the_apps_settings_verifies_waiting_photos(
        self,
        session: AsyncSession,
        session_factory: async_sessionmaker[AsyncSession],
        settings: Settings,
        object_store: ObjectStore,
        scene: Scene,
    ) -> None:
        photos = PhotoService(session, object_store, settings.photos)
        photo = await _stored(photos, scene, images.jpeg())
        verified, rejected, failed = await run_photo_thumbnails(settings, session_factory)
        assert (verified, rejected, failed) == (1, 0, 0)
        await session.refresh(photo)
        assert photo.state is PhotoState.VERIFIED


class TestPurgeAbandoned:
    async def test_drops_week_old_reservations_and_their_bytes(
        self,
        session: AsyncSession,
        session_factory: async_sessionmaker[AsyncSession],
        photos: PhotoService,
        scene: Scene,
        object_store: ObjectStore,
    ) -> None:
        reservation = await uploaded(
            await photos.reserve_for_visit(
                scene.visit.id, draft_for(JPEG), actor=scene.engineer_principal
            ),
            JPEG,
        )
        stored = await _stored(photos, scene, images.png(), "image/png")
        later = utcnow() + timedelta(days=8)
        assert await purge_abandoned(session_factory, object_store, now=later) == 1
        assert await session.get(Photo, reservation.photo.id, populate_existing=True) is None
        assert await _gone(object_store, upload_key(reservation.photo))
        assert await session.get(Photo, stored.id, populate_existing=True) is not None

    async def test_keeps_recent_reservations(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        photos: PhotoService,
        scene: Scene,
        object_store: ObjectStore,
    ) -> None:
        await photos.reserve_for_visit(
            scene.visit.id, draft_for(JPEG), actor=scene.engineer_principal
        )
        await photos.session.commit()
        assert await purge_abandoned(session_factory, object_store) == 0


class TestLists:
    async def test_client_sees_only_shared_verified_photos_of_its_orders(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        object_store: ObjectStore,
        photos: PhotoService,
        scene: Scene,
    ) -> None:
        engineers = await _stored(photos, scene, images.jpeg())
        reservation = await photos.reserve_for_work_order(
            scene.work_order.id, draft_for(images.png(), "image/png"), actor=scene.client_principal
        )
        assert reservation.photo.is_client_visible
        seen = await photos.list_for_work_order(scene.work_order.id, viewer=scene.client_principal)
        assert seen == []  # the client's own photo is not uploaded yet; the engineer's not shared
        staff = principal_of(scene.dispatcher)
        await photos.set_client_visible(engineers.id, True, actor=staff)
        seen = await photos.list_for_work_order(scene.work_order.id, viewer=scene.client_principal)
        assert seen == []  # shared, but stored only: not yet decoded by the thumbnail job
        await photos.session.commit()
        await make_thumbnail(session_factory, object_store, SETTINGS, engineers.id)
        seen = await photos.list_for_work_order(scene.work_order.id, viewer=scene.client_principal)
        assert [p.id for p in seen] == [engineers.id]
        with pytest.raises(PhotoNotFound):
            await photos.set_client_visible(engineers.id, False, actor=scene.client_principal)

    async def test_engineer_lists_only_own_visits(
        self, session: AsyncSession, photos: PhotoService, scene: Scene
    ) -> None:
        photo = await _stored(photos, scene, images.jpeg())
        listed = await photos.list_for_visit(scene.visit.id, viewer=scene.engineer_principal)
        assert [p.id for p in listed] == [photo.id]
        other = await make_engineer(session)
        other_visit = await plan_visit(
            session, scene.work_order, actor=scene.dispatcher, engineer=other
        )
        with pytest.raises(PhotoVisitNotFound):
            await photos.list_for_visit(other_visit.id, viewer=scene.engineer_principal)
