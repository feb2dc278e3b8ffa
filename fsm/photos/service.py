"""Photo evidence: upload slots, the server's check of what arrived, and short-lived links.

The app never sends bytes through the API. It reserves a slot (a presigned PUT to an upload
key, signed for the exact content type and size, so S3 refuses anything else), uploads to S3,
and confirms. Confirming copies the upload server-side to the photo's own key (which no
presigned URL can write to, so evidence cannot be replaced while the upload URL is still
valid) and checks that copy: size, magic bytes, SHA-256.

Outcomes of a confirm:
- nothing uploaded yet: `PhotoMissing` is raised and the photo stays `pending`; the app may
  upload and confirm again (or reserve again with the same id for a fresh URL);
- too large, size other than announced, not a JPEG/PNG/HEIC of the declared kind, or a hash
  other than announced: the photo becomes `rejected` with the code as `reject_reason` and its
  bytes are deleted. The call returns the photo (so the rejection can be committed) and
  `rejection_of(photo)` gives the error to answer with; a new reservation is needed;
- all good: `stored`; the thumbnail job then makes it `verified`.
Confirming a stored, verified or rejected photo again changes nothing and answers the same.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy import ColumnElement, false, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.auth.principal import Principal
from fsm.db import utcnow
from fsm.engineers.models import Engineer
from fsm.errors import (
    Conflict,
    DomainError,
    InvalidState,
    NotFound,
    Unavailable,
    field_error,
)
from fsm.outages import OBJECT_STORE
from fsm.photos import objects
from fsm.photos.models import CLIENT_STATES, EVIDENCE_STATES, Photo, PhotoState
from fsm.settings import PhotoSettings
from fsm.storage import ObjectMissing, ObjectStore
from fsm.workorders.models import WorkOrder
from fsm.workorders.visit_models import Visit

UPLOAD_PREFIX = "uploads/"


class PhotoNotFound(NotFound):
    """No such photo, or not one the caller may see or confirm."""


class PhotoRejected(InvalidState):
    """The photo failed its checks; there is nothing to share with the client."""


class PhotoFromClient(InvalidState):
    """The client uploaded this photo itself: there is nothing to share or hide."""


class PhotoVisitNotFound(NotFound):
    """No such visit, or not one of the caller's."""

    code = "visit_not_found"


class PhotoWorkOrderNotFound(NotFound):
    """No such work order, or not one of the caller's company."""

    code = "work_order_not_found"


class PhotoIdTaken(Conflict):
    """A reservation with this id exists and differs from the one asked for."""


class StorageUnavailable(Unavailable):
    """Photo storage cannot be reached or refused to work; the app should retry later."""

    part = "object_store"


@contextmanager
def storage_calls() -> Iterator[None]:
    """Turn a failing S3 call (connection, timeout, server error) into `StorageUnavailable`."""
    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise StorageUnavailable(
            "photo storage is not reachable right now; try again later"
        ) from exc
    else:
        OBJECT_STORE.recovered()


class PhotoCheckFailed(DomainError):
    """What arrived in S3 is not the photo announced; the code names the reason."""

    status_code = 422


class PhotoMissing(PhotoCheckFailed):
    """Nothing has been uploaded under the photo's slot yet."""


class PhotoTooLarge(PhotoCheckFailed):
    """The photo is over the size limit."""


class PhotoSizeMismatch(PhotoCheckFailed):
    """The uploaded size differs from the size announced at reservation."""


class PhotoNotAnImage(PhotoCheckFailed):
    """The bytes are not a JPEG, PNG or HEIC of the declared kind."""


class PhotoHashMismatch(PhotoCheckFailed):
    """The uploaded bytes do not hash to the announced SHA-256."""


class PhotoTooManyPixels(PhotoCheckFailed):
    """The image decodes to more pixels than allowed (a decompression bomb)."""


_REJECTIONS: dict[str, type[PhotoCheckFailed]] = {
    cls.code: cls
    for cls in (
        PhotoTooLarge,
        PhotoSizeMismatch,
        PhotoNotAnImage,
        PhotoHashMismatch,
        PhotoTooManyPixels,
    )
}


def rejection_of(photo: Photo) -> PhotoCheckFailed | None:
    """The error a rejected photo answers with; None for any other state."""
    if photo.state is not PhotoState.REJECTED:
        return None
    reason = photo.reject_reason or PhotoNotAnImage.code
    cls = _REJECTIONS.get(reason, PhotoNotAnImage)
    return cls(
        f"photo {photo.id} was rejected: {reason.replace('_', ' ')}",
        details={"photo_id": str(photo.id), "reason": reason},
    )


@dataclass(frozen=True, slots=True)
class PhotoDraft:
    """A photo the app is about to upload."""

    content_type: str
    size_bytes: int
    sha256: str | None = None
    checklist_item_key: str | None = None
    taken_at: datetime | None = None
    # Generated by the app, so a replayed reservation (offline sync) finds the same photo.
    photo_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class UploadSlot:
    """Where and how the app PUTs the bytes: every header listed must be sent as is."""

    url: str
    method: str
    headers: dict[str, str]
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Reservation:
    """A reserved photo and its upload slot (None once the bytes are stored or refused)."""

    photo: Photo
    upload: UploadSlot | None


@dataclass(frozen=True, slots=True)
class PhotoLinks:
    """Short-lived read URLs; None where there is nothing (yet) to read."""

    original_url: str | None
    thumbnail_url: str | None
    expires_at: datetime


class PhotoService:
    """Photos as their uploaders, the visit's engineer, the client and staff may use them."""

    def __init__(self, session: AsyncSession, store: ObjectStore, settings: PhotoSettings) -> None:
        self.session = session
        self.store = store
        self.settings = settings

    # Reservation

    async def reserve_for_visit(
        self, visit_id: uuid.UUID, draft: PhotoDraft, *, actor: Principal
    ) -> Reservation:
        """An upload slot for a photo of a visit (the engineer's own visit, or staff)."""
        visit = await self._visit(visit_id, actor)
        return await self._reserve(visit.work_order_id, visit.id, draft, actor, client=False)

    async def reserve_for_work_order(
        self, work_order_id: uuid.UUID, draft: PhotoDraft, *, actor: Principal
    ) -> Reservation:
        """An upload slot for a photo of a request (a client's own company's, or staff)."""
        work_order = await self._work_order(work_order_id, actor)
        if draft.checklist_item_key is not None:
            raise field_error("checklist_item_key", "only photos of a visit answer a checklist")
        return await self._reserve(work_order.id, None, draft, actor, client=actor.is_client)

    async def _reserve(
        self,
        work_order_id: uuid.UUID,
        visit_id: uuid.UUID | None,
        draft: PhotoDraft,
        actor: Principal,
        *,
        client: bool,
    ) -> Reservation:
        self._check_draft(draft)
        sha256 = draft.sha256.lower() if draft.sha256 else None
        photo_id = draft.photo_id or uuid.uuid4()
        # The app generates the id, so two replays may race: the loser of the insert waits for
        # the winner's commit, then answers as a replay of it (or 409 when the details differ).
        inserted = await self.session.scalar(
            pg_insert(Photo)
            .values(
                id=photo_id,
                work_order_id=work_order_id,
                visit_id=visit_id,
                uploaded_by_id=actor.user_id,
                object_key=f"photos/{work_order_id}/{photo_id}",
                content_type=draft.content_type,
                size_bytes=draft.size_bytes,
                sha256=sha256,
                state=PhotoState.PENDING,
                taken_at=draft.taken_at,
                checklist_item_key=draft.checklist_item_key,
                is_client_visible=client,
            )
            .on_conflict_do_nothing(index_elements=[Photo.id])
            .returning(Photo.id)
        )
        photo = (
            await self.session.scalars(
                select(Photo)
                .where(Photo.id == photo_id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).one()
        if inserted is None:
            return self._replayed(photo, work_order_id, visit_id, draft, sha256, actor)
        return Reservation(photo=photo, upload=self._slot(photo))

    async def attach_mailed(
        self,
        work_order_id: uuid.UUID,
        content_type: str,
        data: bytes,
        *,
        uploaded_by_id: uuid.UUID | None,
    ) -> Photo:
        """A system action: an image mailed in becomes a photo of the request.

        It passes the checks an app upload passes: the bytes go to the upload key, and the
        confirm's check (size, magic bytes, SHA-256, then the thumbnail job's pixel limit)
        makes it `stored` or `rejected`. Like a client's upload, the client sees it.
        """
        photo = Photo(
            id=uuid.uuid4(),
            work_order_id=work_order_id,
            visit_id=None,
            uploaded_by_id=uploaded_by_id,
            content_type=content_type,
            size_bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            state=PhotoState.PENDING,
            is_client_visible=True,
        )
        photo.object_key = f"photos/{work_order_id}/{photo.id}"
        self.session.add(photo)
        await self.session.flush()
        if content_type not in objects.CONTENT_TYPES or len(data) > self.settings.max_bytes:
            photo.state = PhotoState.REJECTED
            photo.reject_reason = (
                PhotoNotAnImage.code
                if content_type not in objects.CONTENT_TYPES
                else PhotoTooLarge.code
            )
            await self.session.flush()
            return photo
        assert photo.sha256 is not None
        with storage_calls():
            await self.store.put(upload_key(photo), data, content_type)
            return await self._check_upload(photo, photo.sha256)

    def _check_draft(self, draft: PhotoDraft) -> None:
        if draft.content_type not in objects.CONTENT_TYPES:
            raise field_error("content_type", f"must be one of {', '.join(objects.CONTENT_TYPES)}")
        if draft.size_bytes < 1:
            raise field_error("size_bytes", "must be at least 1")
        if draft.size_bytes > self.settings.max_bytes:
            raise PhotoTooLarge(
                f"a photo may have at most {self.settings.max_bytes} bytes",
                details={"max_bytes": self.settings.max_bytes, "size_bytes": draft.size_bytes},
            )

    def _replayed(
        self,
        photo: Photo,
        work_order_id: uuid.UUID,
        visit_id: uuid.UUID | None,
        draft: PhotoDraft,
        sha256: str | None,
        actor: Principal,
    ) -> Reservation:
        """The same reservation asked again: the photo, with a fresh slot while pending."""
        same = (
            photo.uploaded_by_id == actor.user_id
            and photo.work_order_id == work_order_id
            and photo.visit_id == visit_id
            and photo.content_type == draft.content_type
            and photo.size_bytes == draft.size_bytes
            and (sha256 is None or photo.sha256 in (None, sha256))
            and photo.checklist_item_key == draft.checklist_item_key
        )
        if not same:
            raise PhotoIdTaken(
                f"photo {photo.id} was reserved with other details",
                details={"photo_id": str(photo.id)},
            )
        if photo.state is not PhotoState.PENDING:
            return Reservation(photo=photo, upload=None)
        if sha256 is not None:
            photo.sha256 = sha256
        return Reservation(photo=photo, upload=self._slot(photo))

    def upload_slot(self, photo: Photo) -> UploadSlot | None:
        """A freshly signed upload slot while the photo waits for its bytes, else None."""
        return self._slot(photo) if photo.state is PhotoState.PENDING else None

    async def find_uploaded(self, photo_id: uuid.UUID, *, uploader: Principal) -> Photo | None:
        """The photo as it is now, if `uploader` reserved it and may still see its request."""
        photo = (
            await self.session.scalars(
                select(Photo).where(Photo.id == photo_id, Photo.uploaded_by_id == uploader.user_id)
            )
        ).one_or_none()
        return photo if photo is not None and await self._still_theirs(photo, uploader) else None

    async def _still_theirs(self, photo: Photo, uploader: Principal) -> bool:
        """Whether a client's own reservation is still on a request it may see (an admin
        may have limited it to other sites since)."""
        if not uploader.is_client or photo.work_order_id is None:
            return True
        order = await self.session.get(WorkOrder, photo.work_order_id)
        return order is not None and uploader.may_see_site(order.client_id, order.site_id)

    def _slot(self, photo: Photo) -> UploadSlot:
        ttl = self.settings.upload_url_ttl_s
        url = objects.presigned_put_url(
            self.store,
            upload_key(photo),
            content_type=photo.content_type,
            size_bytes=photo.size_bytes,
            expires_in_s=ttl,
        )
        return UploadSlot(
            url=url,
            method="PUT",
            headers={"Content-Type": photo.content_type, "Content-Length": str(photo.size_bytes)},
            expires_at=utcnow() + timedelta(seconds=ttl),
        )

    # Confirmation

    async def confirm(
        self, photo_id: uuid.UUID, *, sha256: str | None = None, actor: Principal
    ) -> Photo:
        """Check what the uploader put in S3; only the uploader may confirm.

        Returns the photo `stored`, or `rejected` (see `rejection_of`); a photo already past
        `pending` is returned unchanged.

        Raises:
            PhotoNotFound: not a photo this caller reserved.
            PhotoMissing: nothing uploaded yet (the photo stays pending).
            ValidationFailed: no SHA-256 given now or at reservation, or a different one.
            StorageUnavailable: S3 could not be reached (503; nothing changed).
        """
        photo = (
            await self.session.scalars(
                select(Photo)
                .where(Photo.id == photo_id, Photo.uploaded_by_id == actor.user_id)
                .with_for_update()
            )
        ).one_or_none()
        if photo is None or not await self._still_theirs(photo, actor):
            raise PhotoNotFound(f"photo {photo_id} not found")
        announced = sha256.lower() if sha256 else None
        if photo.state is not PhotoState.PENDING:
            return photo
        if announced and photo.sha256 and announced != photo.sha256:
            raise field_error("sha256", "differs from the SHA-256 given at reservation")
        announced = announced or photo.sha256
        if announced is None:
            raise field_error("sha256", "required (it was not given at reservation)")
        with storage_calls():
            return await self._check_upload(photo, announced)

    async def _check_upload(self, photo: Photo, announced: str) -> Photo:
        source = upload_key(photo)
        uploaded_size = await self._size_of(source)
        if uploaded_size is not None:
            reason = self._size_problem(photo, uploaded_size)
            if reason is None:
                # From here on the bytes checked are the copy no upload URL can overwrite.
                await objects.copy(self.store, source, photo.object_key)
            await self.store.delete(source)
        elif await self._size_of(photo.object_key) is not None:
            # An earlier confirm moved the bytes, then lost its transaction: check them there.
            reason = None
        else:
            raise PhotoMissing(
                f"nothing was uploaded for photo {photo.id} yet; upload, then confirm again",
                details={"photo_id": str(photo.id)},
            )
        if reason is None:
            reason = await self._content_problem(photo, announced)
        if reason is not None:
            await self.store.delete(photo.object_key)
            photo.state = PhotoState.REJECTED
            photo.reject_reason = reason
        else:
            photo.sha256 = announced
            photo.state = PhotoState.STORED
            photo.stored_at = utcnow()
        await self.session.flush()
        return photo

    async def _size_of(self, key: str) -> int | None:
        try:
            return (await self.store.head(key)).size
        except ObjectMissing:
            return None

    def _size_problem(self, photo: Photo, size: int) -> str | None:
        if size > self.settings.max_bytes:
            return PhotoTooLarge.code
        if size != photo.size_bytes:
            return PhotoSizeMismatch.code
        return None

    async def _content_problem(self, photo: Photo, sha256: str) -> str | None:
        copied = await self.store.head(photo.object_key)
        if copied.size != photo.size_bytes:  # replaced between our HEAD and the copy
            return PhotoSizeMismatch.code
        detected = objects.sniff(await objects.read_head(self.store, photo.object_key))
        if detected is None or not objects.same_kind(photo.content_type, detected):
            return PhotoNotAnImage.code
        if await objects.sha256_of(self.store, photo.object_key) != sha256:
            return PhotoHashMismatch.code
        return None

    # Reading

    async def list_for_visit(self, visit_id: uuid.UUID, *, viewer: Principal) -> Sequence[Photo]:
        """Every photo of a visit, oldest first, with its state (the engineer's own, or staff)."""
        visit = await self._visit(visit_id, viewer)
        rows = await self.session.scalars(
            select(Photo).where(Photo.visit_id == visit.id).order_by(Photo.created_at, Photo.id)
        )
        return rows.all()

    async def list_for_work_order(
        self, work_order_id: uuid.UUID, *, viewer: Principal
    ) -> Sequence[Photo]:
        """A work order's photos: staff see all; a client the verified ones it may see."""
        work_order = await self._work_order(work_order_id, viewer)
        conditions: list[ColumnElement[bool]] = [Photo.work_order_id == work_order.id]
        if not viewer.is_staff:
            conditions += [Photo.is_client_visible.is_(True), Photo.state.in_(CLIENT_STATES)]
        rows = await self.session.scalars(
            select(Photo).where(*conditions).order_by(Photo.created_at, Photo.id)
        )
        return rows.all()

    async def set_client_visible(
        self, photo_id: uuid.UUID, is_visible: bool, *, actor: Principal
    ) -> Photo:
        """Show a photo to the client in its answers, or hide it again (staff only)."""
        photo = await self.session.get(Photo, photo_id, with_for_update=True)
        if photo is None or not actor.is_staff:
            raise PhotoNotFound(f"photo {photo_id} not found")
        if photo.visit_id is None:
            raise PhotoFromClient(
                f"photo {photo_id} is the client's own upload; the client always sees it"
            )
        if is_visible and photo.state is PhotoState.REJECTED:
            raise PhotoRejected(
                f"photo {photo_id} was refused ({photo.reject_reason}); it cannot be shared",
                details={"reject_reason": photo.reject_reason},
            )
        photo.is_client_visible = is_visible
        await self.session.flush()
        return photo

    async def thumbnails(
        self, photo_ids: Sequence[uuid.UUID], *, viewer: Principal
    ) -> dict[uuid.UUID, bytes]:
        """Thumbnail JPEGs by photo id, for documents that embed them; a client gets only
        verified photos of its own company shown to it, others are left out."""
        if not photo_ids:
            return {}
        stmt = select(Photo).where(
            Photo.id.in_(photo_ids),
            Photo.state.in_(CLIENT_STATES),
            Photo.thumbnail_key.is_not(None),
        )
        if viewer.is_client:
            stmt = stmt.join(WorkOrder, WorkOrder.id == Photo.work_order_id).where(
                WorkOrder.client_id == viewer.client_id,
                *viewer.site_scope(WorkOrder.site_id),
                Photo.is_client_visible.is_(True),
            )
        elif not viewer.is_staff:
            return {}
        images: dict[uuid.UUID, bytes] = {}
        for photo in (await self.session.scalars(stmt)).all():
            assert photo.thumbnail_key is not None  # filtered above
            try:
                with storage_calls():
                    images[photo.id] = await self.store.get(photo.thumbnail_key)
            except ObjectMissing:
                continue  # the document says the photo is there, without its image
        return images

    def links(self, photo: Photo) -> PhotoLinks:
        """Presigned GET URLs of the original and the thumbnail, once they exist."""
        ttl = self.settings.download_url_ttl_s
        has_original = photo.state in EVIDENCE_STATES
        original = (
            self.store.presigned_get_url(photo.object_key, expires_in_s=ttl)
            if has_original
            else None
        )
        thumbnail = (
            self.store.presigned_get_url(photo.thumbnail_key, expires_in_s=ttl)
            if has_original and photo.thumbnail_key
            else None
        )
        return PhotoLinks(
            original_url=original,
            thumbnail_url=thumbnail,
            expires_at=utcnow() + timedelta(seconds=ttl),
        )

    # Scoping

    async def _visit(self, visit_id: uuid.UUID, viewer: Principal) -> Visit:
        stmt = select(Visit).where(Visit.id == visit_id)
        if viewer.is_engineer:
            stmt = stmt.join(Engineer, Engineer.id == Visit.engineer_id).where(
                Engineer.user_id == viewer.user_id
            )
        elif not viewer.is_staff:
            stmt = stmt.where(false())
        visit = (await self.session.scalars(stmt)).one_or_none()
        if visit is None:
            raise PhotoVisitNotFound(f"visit {visit_id} not found")
        return visit

    async def _work_order(self, work_order_id: uuid.UUID, viewer: Principal) -> WorkOrder:
        work_order = await self.session.get(WorkOrder, work_order_id)
        if (
            work_order is None
            or viewer.is_engineer
            or not viewer.may_see_site(work_order.client_id, work_order.site_id)
        ):
            raise PhotoWorkOrderNotFound(f"work order {work_order_id} not found")
        return work_order


def upload_key(photo: Photo) -> str:
    """Where the app's presigned PUT lands, apart from the photo's own key."""
    return UPLOAD_PREFIX + photo.object_key


def thumbnail_key(photo: Photo) -> str:
    """Where the photo's thumbnail is kept."""
    return f"{photo.object_key}.thumb.jpg"
