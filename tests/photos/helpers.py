"""A work order with a visit for an engineer, its client's user, and the upload step."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.auth.principal import Principal
from fsm.engineers.models import Engineer
from fsm.photos.service import PhotoDraft, Reservation, UploadSlot
from fsm.users.models import Role, User
from fsm.workorders.models import WorkOrder
from fsm.workorders.visit_models import Visit
from tests.checklists.helpers import make_template
from tests.factories import make_engineer, make_site, make_user
from tests.fsm.wo_helpers import open_order, plan_visit, principal_of
from tests.photos.images import sha256_hex


@dataclass
class Scene:
    """A client's work order with one visit assigned to `engineer`."""

    dispatcher: User
    engineer: Engineer
    client_user: User
    work_order: WorkOrder
    visit: Visit

    @property
    def engineer_principal(self) -> Principal:
        return principal_of(self.engineer.user)

    @property
    def client_principal(self) -> Principal:
        return principal_of(self.client_user)


PHOTO_CHECKLIST = {
    "sections": [
        {
            "title": "Evidence",
            "items": [
                {"key": "gauge_photo", "label": "Gauge", "kind": "photo", "photo_count": 1},
                {"key": "gauge_ok", "label": "Gauge reads normal", "kind": "yes_no"},
            ],
        }
    ]
}


async def make_scene(session: AsyncSession, *, timezone: str = "Europe/Berlin") -> Scene:
    """A fresh scene (flushed; commit before the API sees it)."""
    dispatcher = await make_user(session, role=Role.DISPATCHER)
    client_user = await make_user(session, role=Role.CLIENT)
    assert client_user.client_id is not None
    site = await make_site(session, client_id=client_user.client_id, timezone=timezone)
    engineer = await make_engineer(session)
    work_order = await open_order(session, site=site, actor=dispatcher)
    # A checklist for any equipment, so photos can be evidence for its photo item.
    await make_template(session, name="Photo evidence", raw=PHOTO_CHECKLIST)
    visit = await plan_visit(session, work_order, actor=dispatcher, engineer=engineer)
    return Scene(
        dispatcher=dispatcher,
        engineer=engineer,
        client_user=client_user,
        work_order=work_order,
        visit=visit,
    )


def draft_for(data: bytes, content_type: str = "image/jpeg", **overrides: object) -> PhotoDraft:
    """The reservation the app makes for exactly these bytes."""
    values: dict[str, object] = {
        "content_type": content_type,
        "size_bytes": len(data),
        "sha256": sha256_hex(data),
        **overrides,
    }
    return PhotoDraft(**values)  # type: ignore[arg-type]


async def upload(slot: UploadSlot | dict[str, object] | None, data: bytes) -> httpx.Response:
    """PUT the bytes to a presigned upload slot, as the app does (no API in between).

    Content-Length is the real length of `data` (httpx sets it), so a test can send another
    size than the slot was signed for and see S3 refuse it.
    """
    assert slot is not None
    if isinstance(slot, UploadSlot):
        url, headers = slot.url, dict(slot.headers)
    else:
        url, headers = str(slot["url"]), dict(slot["headers"])  # type: ignore[call-overload]
    headers.pop("Content-Length", None)
    async with httpx.AsyncClient() as http:
        return await http.put(url, content=data, headers=headers)


async def uploaded(reservation: Reservation, data: bytes) -> Reservation:
    """The reservation, after its bytes were PUT successfully."""
    response = await upload(reservation.upload, data)
    assert response.status_code == 200, response.text
    return reservation


async def fetch(url: str | None) -> httpx.Response:
    """GET a presigned read URL without credentials."""
    assert url is not None
    async with httpx.AsyncClient() as http:
        return await http.get(url)
