"""The photo endpoints of the apps and the back office, uploads going straight to real S3."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.users.models import Role
from tests.auth_helpers import login
from tests.factories import make_engineer, make_user
from tests.fsm.helpers import assert_forbidden, assert_not_found, error_of, invalid_fields
from tests.fsm.wo_helpers import open_order, parse_at, plan_visit
from tests.photos import images
from tests.photos.helpers import Scene, fetch, make_scene, upload

ENGINEER = "/mobile/v1/engineer"
CLIENT = "/mobile/v1/client"
API = "/api/v1"


@pytest.fixture
async def scene(session: AsyncSession) -> Scene:
    scene = await make_scene(session)
    await session.commit()
    return scene


@pytest.fixture
async def engineer_headers(client: httpx.AsyncClient, scene: Scene) -> dict[str, str]:
    return await login(client, scene.engineer.user)


@pytest.fixture
async def client_headers(client: httpx.AsyncClient, scene: Scene) -> dict[str, str]:
    return await login(client, scene.client_user)


@pytest.fixture
async def staff_headers(client: httpx.AsyncClient, scene: Scene) -> dict[str, str]:
    return await login(client, scene.dispatcher)


def _body(data: bytes, content_type: str = "image/jpeg", **extra: Any) -> dict[str, Any]:
    return {
        "content_type": content_type,
        "size_bytes": len(data),
        "sha256": images.sha256_hex(data),
        **extra,
    }


async def _reserve(
    client: httpx.AsyncClient, headers: dict[str, str], scene: Scene, body: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post(
        f"{ENGINEER}/visits/{scene.visit.id}/photos", json=body, headers=headers
    )
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _amz_date(url: str) -> str:
    """When a presigned URL was signed (its X-Amz-Date)."""
    [signed] = parse_qs(urlsplit(url).query)["X-Amz-Date"]
    return signed


async def _confirm(
    client: httpx.AsyncClient, headers: dict[str, str], photo_id: str, **body: Any
) -> httpx.Response:
    return await client.post(f"{ENGINEER}/photos/{photo_id}/confirm", json=body, headers=headers)


class TestEngineerFlow:
    async def test_reserve_upload_confirm_gives_a_verified_photo_with_links(
        self, client: httpx.AsyncClient, engineer_headers: dict[str, str], scene: Scene
    ) -> None:
        data = images.jpeg(orientation=6)
        reserved = await _reserve(
            client,
            engineer_headers,
            scene,
            _body(data, checklist_item_key="gauge_photo", taken_at="2026-11-20T08:00:00Z"),
        )
        photo = reserved["photo"]
        assert photo["state"] == "pending"
        assert photo["original_url"] is None
        assert reserved["upload"]["method"] == "PUT"
        assert (await upload(reserved["upload"], data)).status_code == 200

        confirmed = await _confirm(client, engineer_headers, photo["id"])
        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.json()["state"] == "stored"

        # The thumbnail was made after the answer went out.
        listed = await client.get(
            f"{ENGINEER}/visits/{scene.visit.id}/photos", headers=engineer_headers
        )
        assert listed.status_code == 200
        (item,) = listed.json()
        assert item["id"] == photo["id"]
        assert item["state"] == "verified"
        assert item["checklist_item_key"] == "gauge_photo"
        assert item["taken_at"] == "2026-11-20T08:30:00Z"  # from EXIF, over the app's guess
        assert item["location"]["lat"] == pytest.approx(images.BERLIN_LAT)
        assert item["location"]["lon"] == pytest.approx(images.BERLIN_LON)
        original = await fetch(item["original_url"])
        assert original.content == data
        thumbnail = await fetch(item["thumbnail_url"])
        picture = images.decode(thumbnail.content)
        assert picture.height > picture.width  # turned upright
        assert len(picture.getexif()) == 0  # no GPS (no EXIF at all) in the thumbnail

    async def test_confirm_again_answers_the_same(
        self, client: httpx.AsyncClient, engineer_headers: dict[str, str], scene: Scene
    ) -> None:
        data = images.png()
        reserved = await _reserve(client, engineer_headers, scene, _body(data, "image/png"))
        await upload(reserved["upload"], data)
        first = await _confirm(client, engineer_headers, reserved["photo"]["id"])
        again = await _confirm(client, engineer_headers, reserved["photo"]["id"])
        assert first.status_code == again.status_code == 200
        assert again.json()["id"] == reserved["photo"]["id"]
        assert again.json()["state"] == "verified"

    async def test_heic_is_accepted(
        self, client: httpx.AsyncClient, engineer_headers: dict[str, str], scene: Scene
    ) -> None:
        data = images.heic()
        reserved = await _reserve(client, engineer_headers, scene, _body(data, "image/heic"))
        await upload(reserved["upload"], data)
        confirmed = await _confirm(client, engineer_headers, reserved["photo"]["id"])
        assert confirmed.status_code == 200, confirmed.text

    async def test_wrong_hash_is_a_committed_rejection(
        self, client: httpx.AsyncClient, engineer_headers: dict[str, str], scene: Scene
    ) -> None:
        data = images.jpeg()
        reserved = await _reserve(client, engineer_headers, scene, _body(data, sha256=None))
        await upload(reserved["upload"], data)
        wrong = images.sha256_hex(b"something else")
        response = await _confirm(client, engineer_headers, reserved["photo"]["id"], sha256=wrong)
        assert error_of(response, 422)["code"] == "photo_hash_mismatch"
        again = await _confirm(client, engineer_headers, reserved["photo"]["id"])
        assert error_of(again, 422)["code"] == "photo_hash_mismatch"
        listed = await client.get(
            f"{ENGINEER}/visits/{scene.visit.id}/photos", headers=engineer_headers
        )
        (item,) = listed.json()
        assert item["state"] == "rejected"
        assert item["reject_reason"] == "photo_hash_mismatch"
        assert item["original_url"] is None

    async def test_text_sent_as_jpeg_is_not_an_image(
        self, client: httpx.AsyncClient, engineer_headers: dict[str, str], scene: Scene
    ) -> None:
        data = b"<html>definitely not a photo</html>"
        reserved = await _reserve(client, engineer_headers, scene, _body(data))
        await upload(reserved["upload"], data)
        response = await _confirm(client, engineer_headers, reserved["photo"]["id"])
        assert error_of(response, 422)["code"] == "photo_not_an_image"

    async def test_other_size_than_announced_never_lands(
        self, client: httpx.AsyncClient, engineer_headers: dict[str, str], scene: Scene
    ) -> None:
        data = images.jpeg()
        reserved = await _reserve(client, engineer_headers, scene, _body(data))
        assert reserved["upload"]["headers"]["Content-Length"] == str(len(data))
        # The URL is signed for the announced size: S3 refuses any other.
        assert (await upload(reserved["upload"], data + b"\x00" * 10)).status_code == 403
        response = await _confirm(client, engineer_headers, reserved["photo"]["id"])
        assert error_of(response, 422)["code"] == "photo_missing"

    async def test_nothing_uploaded_stays_pending(
        self, client: httpx.AsyncClient, engineer_headers: dict[str, str], scene: Scene
    ) -> None:
        data = images.jpeg()
        reserved = await _reserve(client, engineer_headers, scene, _body(data))
        response = await _confirm(client, engineer_headers, reserved["photo"]["id"])
        assert error_of(response, 422)["code"] == "photo_missing"
        listed = await client.get(
            f"{ENGINEER}/visits/{scene.visit.id}/photos", headers=engineer_headers
        )
        assert listed.json()[0]["state"] == "pending"
        await upload(reserved["upload"], data)
        assert (
            await _confirm(client, engineer_headers, reserved["photo"]["id"])
        ).status_code == 200

    async def test_reservation_over_the_size_limit_is_refused(
        self, client: httpx.AsyncClient, engineer_headers: dict[str, str], scene: Scene
    ) -> None:
        body = _body(b"x", size_bytes=15 * 1024 * 1024 + 1)
        response = await client.post(
            f"{ENGINEER}/visits/{scene.visit.id}/photos", json=body, headers=engineer_headers
        )
        assert error_of(response, 422)["code"] == "photo_too_large"

    @pytest.mark.parametrize(
        ("override", "field"),
        [
            ({"content_type": "image/gif"}, "content_type"),
            ({"size_bytes": 0}, "size_bytes"),
            ({"sha256": "abc"}, "sha256"),
            ({"checklist_item_key": "bad key!"}, "checklist_item_key"),
            # Evidence only for a photo item of the visit's own checklist.
            ({"checklist_item_key": "gauge_ok"}, "checklist_item_key"),
            ({"checklist_item_key": "no_such_item"}, "checklist_item_key"),
            ({"taken_at": "2026-11-20T08:00:00"}, "taken_at"),
        ],
    )
    async def test_invalid_reservation_names_the_field(
        self,
        client: httpx.AsyncClient,
        engineer_headers: dict[str, str],
        scene: Scene,
        override: dict[str, Any],
        field: str,
    ) -> None:
        body = {**_body(images.jpeg()), **override}
        response = await client.post(
            f"{ENGINEER}/visits/{scene.visit.id}/photos", json=body, headers=engineer_headers
        )
        assert field in invalid_fields(response)


class TestIdempotency:
    async def test_same_key_and_body_replays_the_reservation(
        self, client: httpx.AsyncClient, engineer_headers: dict[str, str], scene: Scene
    ) -> None:
        headers = {**engineer_headers, "Idempotency-Key": str(uuid.uuid4())}
        body = _body(images.jpeg())
        url = f"{ENGINEER}/visits/{scene.visit.id}/photos"
        first = await client.post(url, json=body, headers=headers)
        again = await client.post(url, json=body, headers=headers)
        assert first.status_code == again.status_code == 201
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert again.json()["photo"]["id"] == first.json()["photo"]["id"]
        listed = await client.get(url, headers=engineer_headers)
        assert len(listed.json()) == 1
        other = await client.post(url, json=_body(images.png(), "image/png"), headers=headers)
        assert error_of(other, 422)["code"] == "idempotency_key_reused"

    async def test_replayed_rejection_stays_a_rejection(
        self, client: httpx.AsyncClient, engineer_headers: dict[str, str], scene: Scene
    ) -> None:
        data = b"not an image at all"
        reserved = await _reserve(client, engineer_headers, scene, _body(data))
        await upload(reserved["upload"], data)
        headers = {**engineer_headers, "Idempotency-Key": str(uuid.uuid4())}
        url = f"{ENGINEER}/photos/{reserved['photo']['id']}/confirm"
        first = await client.post(url, json={}, headers=headers)
        again = await client.post(url, json={}, headers=headers)
        assert error_of(first, 422)["code"] == "photo_not_an_image"
        assert error_of(again, 422)["code"] == "photo_not_an_image"
        assert again.headers.get("Idempotent-Replayed") == "true"

    async def test_a_replayed_reservation_carries_freshly_signed_links(
        self, client: httpx.AsyncClient, engineer_headers: dict[str, str], scene: Scene
    ) -> None:
        headers = {**engineer_headers, "Idempotency-Key": str(uuid.uuid4())}
        data = images.jpeg()
        url = f"{ENGINEER}/visits/{scene.visit.id}/photos"
        first = await client.post(url, json=_body(data), headers=headers)
        # A retry long after the first answer: its stored link must not be handed back.
        await asyncio.sleep(1.1)

        again = await client.post(url, json=_body(data), headers=headers)

        assert again.status_code == 201, again.text
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert again.json()["photo"]["id"] == first.json()["photo"]["id"]
        old, new = first.json()["upload"], again.json()["upload"]
        assert parse_at(new["expires_at"]) > parse_at(old["expires_at"])
        assert _amz_date(new["url"]) > _amz_date(old["url"])
        assert (await upload(new, data)).status_code == 200

    async def test_a_replayed_confirm_carries_freshly_signed_links(
        self, client: httpx.AsyncClient, engineer_headers: dict[str, str], scene: Scene
    ) -> None:
        data = images.jpeg()
        reserved = await _reserve(client, engineer_headers, scene, _body(data))
        await upload(reserved["upload"], data)
        headers = {**engineer_headers, "Idempotency-Key": str(uuid.uuid4())}
        url = f"{ENGINEER}/photos/{reserved['photo']['id']}/confirm"
        first = await client.post(url, json={}, headers=headers)
        await asyncio.sleep(1.1)

        again = await client.post(url, json={}, headers=headers)

        assert first.status_code == again.status_code == 200, again.text
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert parse_at(again.json()["urls_expire_at"]) > parse_at(first.json()["urls_expire_at"])
        assert _amz_date(again.json()["original_url"]) > _amz_date(first.json()["original_url"])
        assert (await fetch(again.json()["original_url"])).content == data


class TestClientFlow:
    async def test_client_request_photo_is_shown_back_to_the_client(
        self, client: httpx.AsyncClient, client_headers: dict[str, str], scene: Scene
    ) -> None:
        data = images.png()
        response = await client.post(
            f"{CLIENT}/requests/{scene.work_order.id}/photos",
            json=_body(data, "image/png"),
            headers=client_headers,
        )
        assert response.status_code == 201, response.text
        reserved = response.json()
        assert reserved["photo"]["visit_id"] is None
        assert reserved["photo"]["is_client_visible"] is True
        await upload(reserved["upload"], data)
        confirmed = await client.post(
            f"{CLIENT}/photos/{reserved['photo']['id']}/confirm", json={}, headers=client_headers
        )
        assert confirmed.status_code == 200, confirmed.text
        listed = await client.get(
            f"{CLIENT}/requests/{scene.work_order.id}/photos", headers=client_headers
        )
        (item,) = listed.json()
        assert item["id"] == reserved["photo"]["id"]
        assert (await fetch(item["thumbnail_url"])).status_code == 200

    async def test_client_does_not_see_unshared_engineer_photos(
        self,
        client: httpx.AsyncClient,
        client_headers: dict[str, str],
        engineer_headers: dict[str, str],
        scene: Scene,
    ) -> None:
        data = images.jpeg()
        reserved = await _reserve(client, engineer_headers, scene, _body(data))
        await upload(reserved["upload"], data)
        assert (
            await _confirm(client, engineer_headers, reserved["photo"]["id"])
        ).status_code == 200
        listed = await client.get(
            f"{CLIENT}/requests/{scene.work_order.id}/photos", headers=client_headers
        )
        assert listed.json() == []


class TestCrossingTheLine:
    async def test_another_engineers_visit_is_not_found(
        self, client: httpx.AsyncClient, session: AsyncSession, scene: Scene
    ) -> None:
        other = await make_engineer(session)
        await session.commit()
        headers = await login(client, other.user)
        url = f"{ENGINEER}/visits/{scene.visit.id}/photos"
        assert_not_found(await client.post(url, json=_body(images.jpeg()), headers=headers))
        assert_not_found(await client.get(url, headers=headers))

    async def test_engineer_cannot_confirm_a_photo_they_did_not_reserve(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        engineer_headers: dict[str, str],
        scene: Scene,
    ) -> None:
        data = images.jpeg()
        reserved = await _reserve(client, engineer_headers, scene, _body(data))
        await upload(reserved["upload"], data)
        # Even an engineer with a visit on the same work order.
        other = await make_engineer(session)
        await plan_visit(session, scene.work_order, actor=scene.dispatcher, engineer=other)
        await session.commit()
        headers = await login(client, other.user)
        assert_not_found(await _confirm(client, headers, reserved["photo"]["id"]))
        listed = await client.get(
            f"{ENGINEER}/visits/{scene.visit.id}/photos", headers=engineer_headers
        )
        assert listed.json()[0]["state"] == "pending"

    async def test_another_companys_work_order_is_not_found(
        self, client: httpx.AsyncClient, session: AsyncSession, scene: Scene
    ) -> None:
        stranger = await make_user(session, role=Role.CLIENT)
        await session.commit()
        headers = await login(client, stranger)
        url = f"{CLIENT}/requests/{scene.work_order.id}/photos"
        assert_not_found(
            await client.post(url, json=_body(images.png(), "image/png"), headers=headers)
        )
        assert_not_found(await client.get(url, headers=headers))

    async def test_client_cannot_confirm_an_engineers_photo(
        self,
        client: httpx.AsyncClient,
        client_headers: dict[str, str],
        engineer_headers: dict[str, str],
        scene: Scene,
    ) -> None:
        data = images.jpeg()
        reserved = await _reserve(client, engineer_headers, scene, _body(data))
        await upload(reserved["upload"], data)
        response = await client.post(
            f"{CLIENT}/photos/{reserved['photo']['id']}/confirm", json={}, headers=client_headers
        )
        assert_not_found(response)

    async def test_client_cannot_reserve_on_another_companys_order(
        self, client: httpx.AsyncClient, session: AsyncSession, client_headers: dict[str, str]
    ) -> None:
        foreign = await open_order(session)
        await session.commit()
        url = f"{CLIENT}/requests/{foreign.id}/photos"
        assert_not_found(
            await client.post(url, json=_body(images.png(), "image/png"), headers=client_headers)
        )

    async def test_roles_are_kept_apart(
        self,
        client: httpx.AsyncClient,
        client_headers: dict[str, str],
        engineer_headers: dict[str, str],
        scene: Scene,
    ) -> None:
        assert_forbidden(
            await client.post(
                f"{ENGINEER}/visits/{scene.visit.id}/photos",
                json=_body(images.jpeg()),
                headers=client_headers,
            )
        )
        assert_forbidden(
            await client.post(
                f"{CLIENT}/requests/{scene.work_order.id}/photos",
                json=_body(images.png(), "image/png"),
                headers=engineer_headers,
            )
        )

    async def test_signed_out_callers_are_refused(
        self, client: httpx.AsyncClient, scene: Scene
    ) -> None:
        response = await client.get(f"{ENGINEER}/visits/{scene.visit.id}/photos")
        assert error_of(response, 401)["code"] == "unauthorized"


# The back office reviews a work order's photos and shares engineers' photos with the client.


def staff_list(scene: Scene) -> str:
    return f"{API}/work-orders/{scene.work_order.id}/photos"


async def engineer_photo(
    client: httpx.AsyncClient, headers: dict[str, str], scene: Scene, *, wrong_hash: bool = False
) -> str:
    """An engineer's photo of the visit, uploaded and confirmed (refused on a wrong hash)."""
    data = images.jpeg()
    body: dict[str, Any] = {"content_type": "image/jpeg", "size_bytes": len(data)}
    reserved = await client.post(
        f"{ENGINEER}/visits/{scene.visit.id}/photos", json=body, headers=headers
    )
    assert reserved.status_code == 201, reserved.text
    photo_id: str = reserved.json()["photo"]["id"]
    await upload(reserved.json()["upload"], data)
    sha256 = images.sha256_hex(b"other bytes" if wrong_hash else data)
    confirmed = await client.post(
        f"{ENGINEER}/photos/{photo_id}/confirm", json={"sha256": sha256}, headers=headers
    )
    assert confirmed.status_code == (422 if wrong_hash else 200), confirmed.text
    return photo_id


async def client_sees(client: httpx.AsyncClient, headers: dict[str, str], scene: Scene) -> set[str]:
    listed = await client.get(f"{CLIENT}/requests/{scene.work_order.id}/photos", headers=headers)
    assert listed.status_code == 200, listed.text
    return {p["id"] for p in listed.json()}


class TestBackOfficeReviewAndShare:
    async def test_staff_see_every_photo_and_share_one_with_the_client(
        self,
        client: httpx.AsyncClient,
        scene: Scene,
        staff_headers: dict[str, str],
        engineer_headers: dict[str, str],
        client_headers: dict[str, str],
    ) -> None:
        kept = await engineer_photo(client, engineer_headers, scene)
        shared = await engineer_photo(client, engineer_headers, scene)
        refused = await engineer_photo(client, engineer_headers, scene, wrong_hash=True)
        listed = await client.get(staff_list(scene), headers=staff_headers)
        assert listed.status_code == 200, listed.text
        states = {p["id"]: p["state"] for p in listed.json()}
        assert set(states) == {kept, shared, refused}
        assert states[refused] == "rejected"
        assert await client_sees(client, client_headers, scene) == set()

        r = await client.patch(
            f"{API}/photos/{shared}", json={"is_client_visible": True}, headers=staff_headers
        )
        assert r.status_code == 200, r.text
        assert r.json()["is_client_visible"] is True
        assert await client_sees(client, client_headers, scene) == {shared}

        r = await client.patch(
            f"{API}/photos/{shared}", json={"is_client_visible": False}, headers=staff_headers
        )
        assert r.status_code == 200, r.text
        assert await client_sees(client, client_headers, scene) == set()

    async def test_a_refused_photo_cannot_be_shared(
        self,
        client: httpx.AsyncClient,
        scene: Scene,
        staff_headers: dict[str, str],
        engineer_headers: dict[str, str],
        client_headers: dict[str, str],
    ) -> None:
        refused = await engineer_photo(client, engineer_headers, scene, wrong_hash=True)
        r = await client.patch(
            f"{API}/photos/{refused}", json={"is_client_visible": True}, headers=staff_headers
        )
        error = error_of(r, 409)
        assert error["code"] == "photo_rejected"
        assert error["details"] == {"reject_reason": "photo_hash_mismatch"}
        listed = await client.get(staff_list(scene), headers=staff_headers)
        assert [p["is_client_visible"] for p in listed.json()] == [False]

    async def test_a_clients_own_photo_is_not_staffs_to_hide(
        self,
        client: httpx.AsyncClient,
        scene: Scene,
        staff_headers: dict[str, str],
        client_headers: dict[str, str],
    ) -> None:
        data = images.png()
        reserved = await client.post(
            f"{CLIENT}/requests/{scene.work_order.id}/photos",
            json=_body(data, "image/png"),
            headers=client_headers,
        )
        photo_id = reserved.json()["photo"]["id"]
        r = await client.patch(
            f"{API}/photos/{photo_id}", json={"is_client_visible": False}, headers=staff_headers
        )
        assert error_of(r, 409)["code"] == "photo_from_client"
        listed = await client.get(staff_list(scene), headers=staff_headers)
        assert [p["is_client_visible"] for p in listed.json()] == [True]

    async def test_bad_body_and_unknown_photo(
        self, client: httpx.AsyncClient, scene: Scene, staff_headers: dict[str, str]
    ) -> None:
        r = await client.patch(
            f"{API}/photos/{uuid.uuid4()}", json={"is_client_visible": "yes"}, headers=staff_headers
        )
        assert invalid_fields(r) == ["is_client_visible"]
        assert_not_found(
            await client.patch(
                f"{API}/photos/{uuid.uuid4()}",
                json={"is_client_visible": True},
                headers=staff_headers,
            )
        )
        assert_not_found(
            await client.get(f"{API}/work-orders/{uuid.uuid4()}/photos", headers=staff_headers)
        )


class TestBackOfficeCrossingTheLine:
    async def test_engineers_and_clients_cannot_review_or_share(
        self,
        client: httpx.AsyncClient,
        scene: Scene,
        engineer_headers: dict[str, str],
        client_headers: dict[str, str],
    ) -> None:
        photo = await engineer_photo(client, engineer_headers, scene)
        for headers in (engineer_headers, client_headers):
            assert_forbidden(await client.get(staff_list(scene), headers=headers))
            assert_forbidden(
                await client.patch(
                    f"{API}/photos/{photo}", json={"is_client_visible": True}, headers=headers
                )
            )
        assert await client_sees(client, client_headers, scene) == set()
