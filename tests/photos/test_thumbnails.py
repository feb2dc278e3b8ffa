"""Thumbnail rendering and EXIF reading alone: bytes in, thumbnail and facts out."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from fsm.photos.objects import sniff
from fsm.photos.thumbnails import ImageRefused, Thumbnail, render_thumbnail
from fsm.settings import load_settings
from tests.photos import images

UTC_ZONE = ZoneInfo("UTC")


def _render(data: bytes, *, max_pixels: int = 1_000_000) -> Thumbnail:
    return render_thumbnail(io.BytesIO(data), edge_px=64, max_pixels=max_pixels, local_tz=UTC_ZONE)


class TestExif:
    def test_southern_and_western_fixes_are_negative(self) -> None:
        location = _render(images.jpeg(refs=("S", "W"))).location
        assert location is not None
        assert location.lat == pytest.approx(-images.BERLIN_LAT)
        assert location.lon == pytest.approx(-images.BERLIN_LON)

    def test_offset_in_exif_gives_the_exact_instant(self) -> None:
        taken_at = _render(images.jpeg(offset="-05:00")).taken_at
        assert taken_at == datetime(2026, 11, 20, 14, 30, tzinfo=UTC)

    def test_no_exif_means_no_time_and_no_place(self) -> None:
        thumbnail = _render(images.png())
        assert thumbnail.taken_at is None
        assert thumbnail.location is None


class TestRefusals:
    def test_truncated_jpeg_is_not_an_image(self) -> None:
        with pytest.raises(ImageRefused) as refused:
            _render(images.jpeg()[:200])
        assert refused.value.code == "photo_not_an_image"

    def test_far_over_the_limit_is_refused_too(self) -> None:
        # Past 2x the limit Pillow itself raises; the code is the same.
        with pytest.raises(ImageRefused) as refused:
            _render(images.png(300, 100), max_pixels=10_000)
        assert refused.value.code == "photo_too_many_pixels"

    def test_just_within_the_limit_is_fine(self) -> None:
        assert _render(images.png(100, 100), max_pixels=10_000).width == 64


class TestSniff:
    @pytest.mark.parametrize(
        ("data", "kind"),
        [
            pytest.param(images.jpeg(), "image/jpeg", id="jpeg"),
            pytest.param(images.png(), "image/png", id="png"),
            pytest.param(images.heic(), "image/heic", id="heic"),
            pytest.param(b"GIF89a" + b"\x00" * 20, None, id="gif"),
            pytest.param(b"%PDF-1.7", None, id="pdf"),
        ],
    )
    def test_reads_the_kind_from_the_first_bytes(self, data: bytes, kind: str | None) -> None:
        assert sniff(data[:32]) == kind


class TestSettings:
    def test_photo_limits_come_from_the_environment(self) -> None:
        settings = load_settings(
            {
                "FSM_PHOTO_MAX_BYTES": "1000",
                "FSM_PHOTO_UPLOAD_URL_TTL_S": "60",
                "FSM_PHOTO_DOWNLOAD_URL_TTL_S": "30",
                "FSM_PHOTO_THUMBNAIL_EDGE_PX": "256",
                "FSM_PHOTO_MAX_PIXELS": "5000",
            }
        ).photos
        assert (
            settings.max_bytes,
            settings.upload_url_ttl_s,
            settings.download_url_ttl_s,
            settings.thumbnail_edge_px,
            settings.max_pixels,
        ) == (1000, 60, 30, 256, 5000)

    def test_defaults_allow_15_mb(self) -> None:
        assert load_settings({}).photos.max_bytes == 15 * 1024 * 1024
