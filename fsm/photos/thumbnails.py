"""Image work on photo originals: the thumbnail, and the time and place their EXIF records.

Everything here blocks (Pillow decoding) and runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import io
import math
import threading
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import IO, Any

import pillow_heif
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from fsm.geo import GeoPoint

pillow_heif.register_heif_opener()

# Only the formats the upload check lets through; Pillow never guesses among the others.
FORMATS = ("JPEG", "PNG", "HEIF")
THUMBNAIL_CONTENT_TYPE = "image/jpeg"

# The warnings filter is process-wide; one decode at a time keeps it from changing under
# another thread, and bounds the memory big originals take.
_decode_lock = threading.Lock()


class ImageRefused(Exception):
    """The original cannot become a thumbnail; `code` names why (as the API reports it)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Thumbnail:
    """A small JPEG without metadata, and what the original's EXIF said."""

    jpeg: bytes
    width: int
    height: int
    taken_at: datetime | None
    location: GeoPoint | None


def render_thumbnail(
    source: IO[bytes], *, edge_px: int, max_pixels: int, local_tz: tzinfo
) -> Thumbnail:
    """Decode an original and shrink it to at most `edge_px` on its long edge.

    Orientation from EXIF is applied; the thumbnail carries no EXIF (no GPS). `local_tz`
    reads EXIF times that lack an offset (cameras record local wall time).

    Raises:
        ImageRefused: `photo_too_many_pixels` past `max_pixels` (even within Pillow's 2x
            grace), `photo_not_an_image` when it does not decode.
    """
    with _decode_lock, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        # Pillow's own bomb limit is process-wide (PDF rendering decodes images too), so it
        # stays as it is; opening reads only the header, and the size is checked before any
        # pixel is decoded.
        try:
            with Image.open(source, formats=FORMATS) as image:
                if image.width * image.height > max_pixels:
                    raise ImageRefused(
                        "photo_too_many_pixels",
                        f"{image.width}x{image.height} exceeds {max_pixels} pixels",
                    )
                exif = image.getexif()
                taken_at = _taken_at(exif, local_tz)
                location = _location(exif)
                # JPEG decodes at a reduced scale directly: far less memory and time.
                image.draft("RGB", (edge_px, edge_px))
                upright = ImageOps.exif_transpose(image)
                upright.thumbnail((edge_px, edge_px), Image.Resampling.LANCZOS)
                small = upright.convert("RGB")
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageRefused("photo_too_many_pixels", str(exc)) from exc
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise ImageRefused("photo_not_an_image", f"the image does not decode: {exc}") from exc
    out = io.BytesIO()
    # No exif= argument: Pillow writes no EXIF, so no GPS leaves with the thumbnail.
    small.save(out, format="JPEG", quality=82, optimize=True)
    return Thumbnail(
        jpeg=out.getvalue(),
        width=small.width,
        height=small.height,
        taken_at=taken_at,
        location=location,
    )


def _taken_at(exif: Image.Exif, local_tz: tzinfo) -> datetime | None:
    details = exif.get_ifd(ExifTags.IFD.Exif)
    raw = details.get(ExifTags.Base.DateTimeOriginal) or exif.get(ExifTags.Base.DateTime)
    if not isinstance(raw, str):
        return None
    try:
        moment = datetime.strptime(raw.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    offset = _offset(
        details.get(ExifTags.Base.OffsetTimeOriginal) or details.get(ExifTags.Base.OffsetTime)
    )
    return moment.replace(tzinfo=offset or local_tz).astimezone(UTC)


def _offset(raw: Any) -> tzinfo | None:
    """An EXIF offset such as `+02:00`."""
    if not isinstance(raw, str):
        return None
    text = raw.strip("\x00 ")
    if len(text) != 6 or text[0] not in "+-" or text[3] != ":":
        return None
    try:
        hours, minutes = int(text[1:3]), int(text[4:6])
    except ValueError:
        return None
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if text[0] == "-" else delta)


def _location(exif: Image.Exif) -> GeoPoint | None:
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    lat = _degrees(gps.get(ExifTags.GPS.GPSLatitude), gps.get(ExifTags.GPS.GPSLatitudeRef), "S")
    lon = _degrees(gps.get(ExifTags.GPS.GPSLongitude), gps.get(ExifTags.GPS.GPSLongitudeRef), "W")
    if lat is None or lon is None or abs(lat) > 90 or abs(lon) > 180:
        return None
    return GeoPoint(lat=lat, lon=lon)


def _degrees(value: Any, ref: Any, negative: str) -> float | None:
    """Decimal degrees from EXIF's (degrees, minutes, seconds) rationals."""
    try:
        degrees, minutes, seconds = (float(part) for part in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    result = degrees + minutes / 60 + seconds / 3600
    if not math.isfinite(result):  # a zero denominator reads as NaN
        return None
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "replace")
    if isinstance(ref, str) and ref.strip("\x00 ").upper() == negative:
        result = -result
    return result
