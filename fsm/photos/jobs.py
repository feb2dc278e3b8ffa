"""The thumbnail job: stored photos get a thumbnail and their EXIF time and place, off the request.

It runs right after a confirm (a background task of the response) and as a sweep (the
scheduler and `fsm jobs thumbnails`), so photos stored before a restart are not forgotten.
Each photo is its own transaction holding its row lock (`SKIP LOCKED`): the background task
and sweeps in several processes never work on the same photo twice.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

import anyio.to_thread
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fsm.db import session_scope, utcnow
from fsm.geo import to_db_point
from fsm.photos import objects
from fsm.photos.models import Photo, PhotoState
from fsm.photos.service import thumbnail_key, upload_key
from fsm.photos.thumbnails import THUMBNAIL_CONTENT_TYPE, ImageRefused, Thumbnail, render_thumbnail
from fsm.settings import PhotoSettings
from fsm.sites.models import Site
from fsm.storage import ObjectStore
from fsm.workorders.models import WorkOrder

log = logging.getLogger("fsm.photos")

# Originals larger than this are spooled to disk while Pillow reads them.
_SPOOL_BYTES = 2 * 1024 * 1024
# Reservations never confirmed within this long are dropped with whatever was uploaded.
ABANDONED_AFTER = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class SweepResult:
    """What one sweep did."""

    verified: int = 0
    rejected: int = 0
    failed: int = 0


async def make_thumbnail(
    factory: async_sessionmaker[AsyncSession],
    store: ObjectStore,
    settings: PhotoSettings,
    photo_id: uuid.UUID,
) -> PhotoState | None:
    """Thumbnail one stored photo: `verified`, or `rejected` when the image is refused.

    Returns the new state; None when the photo is not waiting (done, or being done
    elsewhere). S3 or database trouble raises and leaves the photo `stored` for the sweep.
    """
    async with session_scope(factory) as session:
        photo = (
            await session.scalars(
                select(Photo)
                .where(Photo.id == photo_id, Photo.state == PhotoState.STORED)
                .with_for_update(skip_locked=True)
            )
        ).one_or_none()
        if photo is None:
            return None
        site_tz = await session.scalar(
            select(Site.timezone)
            .join(WorkOrder, WorkOrder.site_id == Site.id)
            .where(WorkOrder.id == photo.work_order_id)
        )
        render = partial(
            _render_stored,
            store,
            photo.object_key,
            edge_px=settings.thumbnail_edge_px,
            max_pixels=settings.max_pixels,
            local_tz=ZoneInfo(site_tz or "UTC"),
        )
        try:
            thumbnail = await anyio.to_thread.run_sync(render)
        except ImageRefused as exc:
            log.warning("photo %s refused by the thumbnail job: %s", photo.id, exc.message)
            await store.delete(photo.object_key)
            photo.state = PhotoState.REJECTED
            photo.reject_reason = exc.code
            return photo.state
        key = thumbnail_key(photo)
        await store.put(key, thumbnail.jpeg, THUMBNAIL_CONTENT_TYPE)
        photo.thumbnail_key = key
        # The original's EXIF wins over what the app said; the app's value stays otherwise.
        if thumbnail.taken_at is not None:
            photo.taken_at = thumbnail.taken_at
        if thumbnail.location is not None:
            photo.location = to_db_point(thumbnail.location)
        photo.state = PhotoState.VERIFIED
        photo.verified_at = utcnow()
        return photo.state


def _render_stored(
    store: ObjectStore, key: str, *, edge_px: int, max_pixels: int, local_tz: ZoneInfo
) -> Thumbnail:
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as original:
        objects.download_to(store, key, original)
        original.seek(0)
        return render_thumbnail(original, edge_px=edge_px, max_pixels=max_pixels, local_tz=local_tz)


async def make_thumbnail_in_background(
    factory: async_sessionmaker[AsyncSession],
    store: ObjectStore,
    settings: PhotoSettings,
    photo_id: uuid.UUID,
) -> None:
    """`make_thumbnail` after a response: failures are logged, the sweep tries again."""
    try:
        await make_thumbnail(factory, store, settings, photo_id)
    except Exception:
        log.exception("thumbnail of photo %s failed; the sweep will retry", photo_id)


async def sweep_thumbnails(
    factory: async_sessionmaker[AsyncSession],
    store: ObjectStore,
    settings: PhotoSettings,
    *,
    limit: int = 200,
) -> SweepResult:
    """Thumbnail stored photos still waiting, oldest first, up to `limit` of them."""
    async with factory() as session:
        ids = (
            await session.scalars(
                select(Photo.id)
                .where(Photo.state == PhotoState.STORED)
                .order_by(Photo.created_at)
                .limit(limit)
            )
        ).all()
    verified = rejected = failed = 0
    for photo_id in ids:
        try:
            state = await make_thumbnail(factory, store, settings, photo_id)
        except Exception:
            log.exception("thumbnail of photo %s failed; next sweep retries", photo_id)
            failed += 1
            continue
        verified += state is PhotoState.VERIFIED
        rejected += state is PhotoState.REJECTED
    return SweepResult(verified=verified, rejected=rejected, failed=failed)


async def purge_abandoned(
    factory: async_sessionmaker[AsyncSession],
    store: ObjectStore,
    *,
    now: datetime | None = None,
    older_than: timedelta = ABANDONED_AFTER,
    limit: int = 500,
) -> int:
    """Delete reservations still `pending` after `older_than`, and their uploaded bytes.

    An app that comes back later simply reserves again (the same id gives a new slot).
    Returns how many were dropped.
    """
    cutoff = (now or utcnow()) - older_than
    async with session_scope(factory) as session:
        photos = (
            await session.scalars(
                select(Photo)
                .where(Photo.state == PhotoState.PENDING, Photo.created_at < cutoff)
                .order_by(Photo.created_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for photo in photos:
            await store.delete(upload_key(photo))
            await store.delete(photo.object_key)
        if photos:
            await session.execute(delete(Photo).where(Photo.id.in_([p.id for p in photos])))
    return len(photos)
