# ruff: noqa: RUF001 - Cyrillic on purpose: the documents must carry it
"""The visit report as a document: the client's signature captured at completion through the
photo flow, shared photos embedded, Cyrillic and Latin text, the site's local times."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw
from pypdf import PdfReader
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fsm.photos.jobs import make_thumbnail
from fsm.settings import Settings
from fsm.storage import ObjectStore
from fsm.users.models import Role, User
from fsm.workorders.visit_models import Visit
from tests.factories import make_client, make_engineer, make_site, make_user
from tests.fsm.wo_helpers import open_order, plan_visit
from tests.mobile_api.engineer_helpers import headers_of
from tests.pdf_helpers import is_blank, page_one
from tests.photos import images
from tests.photos.helpers import upload

ENGINEER = "/mobile/v1/engineer"
CLIENT = "/mobile/v1/client"
SIGNER = "Анна Петрова"
SUMMARY = "Заменили уплотнение насоса; проверили давление (Müller-Ventil)."
SIGNED_AT = datetime(2026, 11, 23, 8, 5, tzinfo=UTC)  # 11:05 in Moscow


def signature_png() -> bytes:
    """A signature as the app captures it: dark strokes on white."""
    picture = Image.new("RGB", (400, 150), "white")
    pen = ImageDraw.Draw(picture)
    pen.line([(20, 110), (90, 30), (150, 120), (230, 40), (380, 100)], fill="black", width=6)
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


async def _photo(
    client: httpx.AsyncClient, headers: dict[str, str], visit: Visit, data: bytes, kind: str
) -> str:
    """Reserve, upload and confirm a photo of the visit, as the engineer app does."""
    reserved = await client.post(
        f"{ENGINEER}/visits/{visit.id}/photos",
        json={"content_type": kind, "size_bytes": len(data), "sha256": images.sha256_hex(data)},
        headers=headers,
    )
    assert reserved.status_code == 201, reserved.text
    body = reserved.json()
    assert (await upload(body["upload"], data)).status_code == 200
    confirmed = await client.post(
        f"{ENGINEER}/photos/{body['photo']['id']}/confirm", json={}, headers=headers
    )
    assert confirmed.status_code == 200, confirmed.text
    return str(body["photo"]["id"])


class Signed:
    """A visit at a Moscow site completed with a signature and one shared photo."""

    visit: Visit
    client_user: User
    signature_id: str
    photo_id: str


@pytest.fixture
async def signed(
    client: httpx.AsyncClient,
    session: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    object_store: ObjectStore,
    settings: Settings,
) -> Signed:
    owner = await make_client(session, name="ООО «Ромашка»")
    site = await make_site(
        session, client=owner, name="Склад на Тверской", timezone="Europe/Moscow"
    )
    staff = await make_user(session, role=Role.DISPATCHER)
    engineer = await make_engineer(session)
    order = await open_order(session, site=site, actor=staff, title="Насос шумит")
    visit = await plan_visit(session, order, actor=staff, engineer=engineer)
    client_user = await make_user(session, role=Role.CLIENT, client=owner)
    await session.commit()
    headers = await headers_of(client, engineer.user)
    for status in ("en_route", "on_site"):
        moved = await client.post(
            f"{ENGINEER}/visits/{visit.id}/status", json={"status": status}, headers=headers
        )
        assert moved.status_code == 200, moved.text
    signature_id = await _photo(client, headers, visit, signature_png(), "image/png")
    photo_id = await _photo(client, headers, visit, images.jpeg(), "image/jpeg")
    for photo in (signature_id, photo_id):
        # The confirm already made it after the response; done again it is a no-op.
        await make_thumbnail(session_factory, object_store, settings.photos, photo)  # type: ignore[arg-type]
    shared = await client.patch(
        f"/api/v1/photos/{photo_id}",
        json={"is_client_visible": True},
        headers=await headers_of(client, staff),
    )
    assert shared.status_code == 200, shared.text
    done = await client.post(
        f"{ENGINEER}/visits/{visit.id}/status",
        json={
            "status": "completed",
            "labour_minutes": 40,
            "client_summary": SUMMARY,
            "note": "internal: pump is a grey import",
            "signature": {
                "photo_id": signature_id,
                "signer_name": SIGNER,
                "signed_at": SIGNED_AT.isoformat(),
            },
        },
        headers=headers,
    )
    assert done.status_code == 200, done.text
    result = Signed()
    result.visit, result.client_user = visit, client_user
    result.signature_id, result.photo_id = signature_id, photo_id
    return result


class TestSignedVisitReport:
    async def test_the_report_names_the_signer_and_keeps_the_signature_apart(
        self, client: httpx.AsyncClient, signed: Signed
    ) -> None:
        headers = await headers_of(client, signed.client_user)

        response = await client.get(f"{CLIENT}/visits/{signed.visit.id}/report", headers=headers)

        assert response.status_code == 200, response.text
        report = response.json()
        assert report["signature"]["signer_name"] == SIGNER
        assert report["signature"]["signed_at"] == "2026-11-23T08:05:00Z"
        assert "X-Amz-Signature" in report["signature"]["url"]
        assert [p["id"] for p in report["photos"]] == [signed.photo_id]
        assert "grey import" not in response.text

    async def test_the_pdf_holds_cyrillic_local_times_signature_and_photo(
        self, client: httpx.AsyncClient, signed: Signed
    ) -> None:
        headers = await headers_of(client, signed.client_user)

        response = await client.get(
            f"{CLIENT}/visits/{signed.visit.id}/report.pdf", headers=headers
        )

        assert response.status_code == 200, response.text
        reader = PdfReader(io.BytesIO(response.content))
        text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
        for fact in (
            "Насос шумит",
            "Site: Склад на Тверской",
            SUMMARY,
            "Signed for the client",
            f"{SIGNER}, 23 Nov 2026, 11:05",
            "Times shown in Europe/Moscow.",
            "Photos: 1",
        ):
            assert fact in text, fact
        assert "grey import" not in text
        embedded: list[Any] = [image for page in reader.pages for image in page.images]
        assert len(embedded) == 2  # the signature and the shared photo
        assert not is_blank(page_one(response.content))

    async def test_another_company_cannot_fetch_it(
        self, client: httpx.AsyncClient, session: AsyncSession, signed: Signed
    ) -> None:
        stranger = await make_user(session, role=Role.CLIENT, client=await make_client(session))
        await session.commit()

        response = await client.get(
            f"{CLIENT}/visits/{signed.visit.id}/report.pdf",
            headers=await headers_of(client, stranger),
        )

        assert response.status_code == 404
        assert SIGNER not in response.text


class TestSignatureInput:
    async def test_a_photo_of_another_visit_is_refused_and_nothing_completes(
        self, client: httpx.AsyncClient, session: AsyncSession, signed: Signed
    ) -> None:
        staff = await make_user(session, role=Role.DISPATCHER)
        engineer = await make_engineer(session)
        order = await open_order(session, actor=staff)
        visit = await plan_visit(session, order, actor=staff, engineer=engineer)
        await session.commit()
        headers = await headers_of(client, engineer.user)
        for status in ("en_route", "on_site"):
            await client.post(
                f"{ENGINEER}/visits/{visit.id}/status", json={"status": status}, headers=headers
            )

        response = await client.post(
            f"{ENGINEER}/visits/{visit.id}/status",
            json={
                "status": "completed",
                "labour_minutes": 10,
                "signature": {"photo_id": signed.signature_id, "signer_name": "Someone"},
            },
            headers=headers,
        )

        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"][0]["field"] == "signature.photo_id"
        today = await client.get(f"{ENGINEER}/visits/{visit.id}", headers=headers)
        assert today.json()["visit"]["status"] == "on_site"

    async def test_a_signature_goes_only_with_completion(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        staff = await make_user(session, role=Role.DISPATCHER)
        engineer = await make_engineer(session)
        order = await open_order(session, actor=staff)
        visit = await plan_visit(session, order, actor=staff, engineer=engineer)
        await session.commit()

        response = await client.post(
            f"{ENGINEER}/visits/{visit.id}/status",
            json={
                "status": "en_route",
                "signature": {"photo_id": str(visit.id), "signer_name": "Someone"},
            },
            headers=await headers_of(client, engineer.user),
        )

        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == "signature"
