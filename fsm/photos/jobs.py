"""The thumbnail job: stored photos get a thumbnail and their EXIF time and place, off the request.

It runs right after a confirm (a background task of the response) and as a sweep (the
scheduler and `fsm jobs thumbnails`), so photos stored before a restart are not forgotten.

One photo goes through three steps, and no transaction or row lock is held while S3 is read
or Pillow renders:
1. claim (short transaction, `SKIP LOCKED`): count the attempt and push the next one back by
   an exponential backoff, which is also the claim's lease: no other worker takes the photo
   until then, and a worker that dies mid-way leaves it for the next due sweep;
2. download and render, outside any transaction;
3. store the result (short transaction), only if the photo is still `stored` with the
   attempt count this worker claimed; otherwise another worker took over and wins.

An image Pillow refuses is `rejected` at once. Any other failure (the object missing, S3 or
the database down) is retried with backoff; after `MAX_ATTEMPTS` the job gives up and marks
`thumbnail_failed_at`, leaving the photo `stored`: the bytes passed the confirm's checks and
stay evidence for the engineer and the checklist (a client never sees an unverified photo),
and an outage of a few hours must not delete evidence. Staff can look for such photos by
that column. The sweep takes due photos, never-tried ones first, then by next attempt, so a
pile of failing photos backs off instead of blocking newer ones.
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
from sqlalchemy import ColumnElement, and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fsm.db import session_scope, utcnow
from fsm.geo import to_db_point
from fsm.photos import objects
from fsm.photos.models import Photo, PhotoState
from fsm.photos.service import thumbnail_key, upload_key
from fsm.photos.thumbnails import THUMBNAIL_CONTENT_TYPE, ImageRefused, Thumbnail, render_thumbnail
from fsm.queue import JobQueue
from fsm.settings import PhotoSettings
from fsm.sites.models import Site
from fsm.storage import ObjectStore
from fsm.workorders.models import WorkOrder

log = logging.getLogger("fsm.photos")

# The queue's task that runs `make_thumbnail` for one photo (defined by `fsm worker`).
THUMBNAIL_TASK = "fsm.thumbnail"

# Originals larger than this are spooled to disk while Pillow reads them.
_SPOOL_BYTES = 2 * 1024 * 1024
# Reservations never confirmed within this long are dropped with whatever was uploaded.
ABANDONED_AFTER = timedelta(days=7)
# Attempts at a thumbnail before the job gives up on a photo (about two hours of retries).
MAX_ATTEMPTS = 8
# The wait after the first attempt; it doubles after each further one, up to the cap.
RETRY_AFTER = timedelta(minutes=1)
RETRY_CAP = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class SweepResult:
    """What one sweep did."""

    verified: int = 0
    rejected: int = 0
    failed: int = 0


@dataclass(frozen=True, slots=True)
class _Claim:
    """What the worker needs of a claimed photo, once the claim is committed."""

    photo_id: uuid.UUID
    object_key: str
    thumbnail_key: str
    attempt: int
    local_tz: ZoneInfo


def retry_delay(attempt: int) -> timedelta:
    """How long after its `attempt`-th try (from 1) a photo is due again."""
    doubled: int = 2 ** (attempt - 1)
    return min(RETRY_AFTER * doubled, RETRY_CAP)


def _due(now: datetime) -> ColumnElement[bool]:
    return and_(
        Photo.state == PhotoState.STORED,
        Photo.thumbnail_failed_at.is_(None),
        or_(Photo.thumbnail_next_attempt_at.is_(None), Photo.thumbnail_next_attempt_at <= now),
    )


async def make_thumbnail(
    factory: async_sessionmaker[AsyncSession],
    store: ObjectStore,
    settings: PhotoSettings,
    photo_id: uuid.UUID,
    *,
    now: datetime | None = None,
) -> PhotoState | None:
    """Thumbnail one stored photo: `verified`, or `rejected` when the image is refused.

    Returns the new state; None when the photo is not due (done, given up, backing off, or
    being done elsewhere). S3 or database trouble raises; the photo stays `stored` and is
    due again after the backoff (or is given up after `MAX_ATTEMPTS`).
    """
    now = now or utcnow()
    claim = await _claim(factory, photo_id, now)
    if claim is None:
        return None
    render = partial(
        _render_stored,
        store,
        claim.object_key,
        edge_px=settings.thumbnail_edge_px,
        max_pixels=settings.max_pixels,
        local_tz=claim.local_tz,
    )
    try:
        try:
            thumbnail = await anyio.to_thread.run_sync(render)
        except ImageRefused as exc:
            log.warning("photo %s refused by the thumbnail job: %s", photo_id, exc.message)
            if not await _reject(factory, claim, exc.code):
                return None
            # The refusal is committed first: a failed delete leaves stray bytes, not a
            # stored photo without them.
            await store.delete(claim.object_key)
            return PhotoState.REJECTED
        await store.put(claim.thumbnail_key, thumbnail.jpeg, THUMBNAIL_CONTENT_TYPE)
        return await _verify(factory, claim, thumbnail, utcnow())
    except Exception:
        if claim.attempt >= MAX_ATTEMPTS:
            await _give_up(factory, claim, utcnow())
        raise


async def _claim(
    factory: async_sessionmaker[AsyncSession], photo_id: uuid.UUID, now: datetime
) -> _Claim | None:
    async with session_scope(factory) as session:
        row = (
            await session.execute(
                select(Photo, Site.timezone)
                .join(WorkOrder, WorkOrder.id == Photo.work_order_id)
                .join(Site, Site.id == WorkOrder.site_id)
                .where(Photo.id == photo_id, _due(now))
                .with_for_update(of=Photo, skip_locked=True)
            )
        ).one_or_none()
        if row is None:
            return None
        photo, site_tz = row
        photo.thumbnail_attempts += 1
        photo.thumbnail_next_attempt_at = now + retry_delay(photo.thumbnail_attempts)
        return _Claim(
            photo_id=photo.id,
            object_key=photo.object_key,
            thumbnail_key=thumbnail_key(photo),
            attempt=photo.thumbnail_attempts,
            local_tz=ZoneInfo(site_tz or "UTC"),
        )


async def _still_claimed(session: AsyncSession, claim: _Claim) -> Photo | None:
    """The photo, locked, if no other worker has claimed it since and it is still waiting."""
    return (
        await session.scalars(
            select(Photo)
            .where(
                Photo.id == claim.photo_id,
                Photo.state == PhotoState.STORED,
                Photo.thumbnail_attempts == claim.attempt,
            )
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).one_or_none()


async def _verify(
    factory: async_sessionmaker[AsyncSession],
    claim: _Claim,
    thumbnail: Thumbnail,
    now: datetime,
) -> PhotoState | None:
    async with session_scope(factory) as session:
        photo = await _still_claimed(session, claim)
        if photo is None:
            return None
        photo.thumbnail_key = claim.thumbnail_key
        # The original's EXIF wins over what the app said; the app's value stays otherwise.
        if thumbnail.taken_at is not None:
            photo.taken_at = thumbnail.taken_at
        if thumbnail.location is not None:
            photo.location = to_db_point(thumbnail.location)
        photo.state = PhotoState.VERIFIED
        photo.verified_at = now
        photo.thumbnail_next_attempt_at = None
        return photo.state


async def _reject(factory: async_sessionmaker[AsyncSession], claim: _Claim, code: str) -> bool:
    async with session_scope(factory) as session:
        photo = await _still_claimed(session, claim)
        if photo is None:
            return False
        photo.state = PhotoState.REJECTED
        photo.reject_reason = code
        photo.thumbnail_next_attempt_at = None
        return True


async def _give_up(factory: async_sessionmaker[AsyncSession], claim: _Claim, now: datetime) -> None:
    async with session_scope(factory) as session:
        photo = await _still_claimed(session, claim)
        if photo is None:
            return
        photo.thumbnail_failed_at = now
        photo.thumbnail_next_attempt_at = None
    log.error(
        "thumbnail of photo %s failed %d times; giving up (the photo stays stored)",
        claim.photo_id,
        claim.attempt,
    )


def _render_stored(
    store: ObjectStore, key: str, *, edge_px: int, max_pixels: int, local_tz: ZoneInfo
) -> Thumbnail:
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as original:
        objects.download_to(store, key, original)
        original.seek(0)
        return render_thumbnail(original, edge_px=edge_px, max_pixels=max_pixels, local_tz=local_tz)


async def defer_thumbnail(queue: JobQueue, photo_id: uuid.UUID) -> None:
    """Leave the photo's thumbnail to a worker; if the queue cannot be reached, the sweep will."""
    try:
        await queue.defer(THUMBNAIL_TASK, photo_id=str(photo_id))
    except Exception:
        log.exception("thumbnail of photo %s not queued; the sweep will make it", photo_id)


async def sweep_thumbnails(
    factory: async_sessionmaker[AsyncSession],
    store: ObjectStore,
    settings: PhotoSettings,
    *,
    limit: int = 200,
    now: datetime | None = None,
) -> SweepResult:
    """Thumbnail up to `limit` due photos: never tried first, then by their next attempt."""
    now = now or utcnow()
    async with factory() as session:
        ids = (
            await session.scalars(
                select(Photo.id)
                .where(_due(now))
                .order_by(
                    Photo.thumbnail_next_attempt_at.asc().nulls_first(), Photo.created_at, Photo.id
                )
                .limit(limit)
            )
        ).all()
    verified = rejected = failed = 0
    for photo_id in ids:
        try:
            state = await make_thumbnail(factory, store, settings, photo_id, now=now)
        except Exception:
            log.exception("thumbnail of photo %s failed; it is retried after a backoff", photo_id)
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
