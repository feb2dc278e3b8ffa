"""Test pictures made with Pillow: JPEGs with EXIF time, place and orientation, PNG, HEIC."""

from __future__ import annotations

import hashlib
import io

import pillow_heif
from PIL import ExifTags, Image

# Berlin, Alexanderplatz: 52 deg 31' 12" N, 13 deg 24' 36" E.
BERLIN_DMS = ((52.0, 31.0, 12.0), (13.0, 24.0, 36.0))
BERLIN_LAT = 52.52
BERLIN_LON = 13.41


def sha256_hex(data: bytes) -> str:
    """The hex SHA-256 the app would announce."""
    return hashlib.sha256(data).hexdigest()


def _picture(width: int, height: int) -> Image.Image:
    image = Image.new("RGB", (width, height), (30, 120, 200))
    # A red left half, so orientation is visible in the thumbnail.
    image.paste((220, 30, 30), (0, 0, width // 2, height))
    return image


def jpeg(
    width: int = 320,
    height: int = 160,
    *,
    with_gps: bool = True,
    taken: str | None = "2026:11:20 09:30:00",
    offset: str | None = "+01:00",
    orientation: int | None = None,
    refs: tuple[str, str] = ("N", "E"),
) -> bytes:
    """A JPEG whose EXIF carries the capture time, a GPS fix and an orientation."""
    exif = Image.Exif()
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    details = exif.get_ifd(ExifTags.IFD.Exif)
    if taken is not None:
        details[ExifTags.Base.DateTimeOriginal] = taken
    if offset is not None:
        details[ExifTags.Base.OffsetTimeOriginal] = offset
    if with_gps:
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        gps[ExifTags.GPS.GPSLatitudeRef] = refs[0]
        gps[ExifTags.GPS.GPSLatitude] = BERLIN_DMS[0]
        gps[ExifTags.GPS.GPSLongitudeRef] = refs[1]
        gps[ExifTags.GPS.GPSLongitude] = BERLIN_DMS[1]
    out = io.BytesIO()
    _picture(width, height).save(out, format="JPEG", exif=exif, quality=90)
    return out.getvalue()


def png(width: int = 200, height: int = 100) -> bytes:
    """A PNG without any metadata."""
    out = io.BytesIO()
    _picture(width, height).save(out, format="PNG")
    return out.getvalue()


def heic(width: int = 128, height: int = 96) -> bytes:
    """A HEIC still, as iPhones write them."""
    pillow_heif.register_heif_opener()
    out = io.BytesIO()
    _picture(width, height).save(out, format="HEIF", quality=80)
    return out.getvalue()


def decode(data: bytes) -> Image.Image:
    """A picture from its bytes (any format above)."""
    pillow_heif.register_heif_opener()
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
