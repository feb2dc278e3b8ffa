"""Documents we hand to people (visit reports, SLA statements) as PDF, in any language.

fpdf2 writes the PDF and embeds a subset of DejaVu Sans, a TrueType font covering Latin,
Cyrillic and Greek, so a Russian client's name prints as written and a reader can copy the
text back out (fpdf2 adds the ToUnicode map). The fonts come from Debian's
`fonts-dejavu-core`, which `scripts/bootstrap.sh` installs when missing; a production image
installs the same package. Images are embedded from bytes we already checked (photo
thumbnails our own Pillow wrote), never fetched from a URL.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

__all__ = ["FONT_DIR", "Document", "FontsMissing"]

# The media type of each downloadable file format (Litestar adds the charset to text/csv).
FILE_MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
_FAMILY = "DejaVu"
_FONTS = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
_SIZES = {"title": 16.0, "heading": 12.0, "text": 10.0, "small": 8.0}


class FontsMissing(RuntimeError):
    """The Unicode fonts documents embed are not installed."""


class Document:
    """A flowing A4 document: titles, headings, wrapped text, tables and images."""

    def __init__(self, title: str, *, landscape: bool = False) -> None:
        missing = [name for name in _FONTS.values() if not (FONT_DIR / name).is_file()]
        if missing:
            raise FontsMissing(
                f"{', '.join(missing)} not found in {FONT_DIR}: install fonts-dejavu-core"
            )
        self._pdf = FPDF(orientation="L" if landscape else "P", unit="mm", format="A4")
        self._pdf.set_title(title)
        self._pdf.set_creator("fieldline")
        self._pdf.set_margins(18, 18, 18)
        self._pdf.set_auto_page_break(auto=True, margin=18)
        for style, name in _FONTS.items():
            self._pdf.add_font(_FAMILY, style, str(FONT_DIR / name))
        self._pdf.add_page()

    def _write(self, text: str, style: str, *, bold: bool = False) -> None:
        size = _SIZES[style]
        self._pdf.set_font(_FAMILY, "B" if bold else "", size)
        self._pdf.multi_cell(0, size * 0.5, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def title(self, text: str) -> None:
        """The document's title line."""
        self._write(text, "title", bold=True)
        self.space(2)

    def heading(self, text: str) -> None:
        """A section heading, after a little space."""
        self.space(3)
        self._write(text, "heading", bold=True)
        self.space(1)

    def text(self, text: str, *, small: bool = False) -> None:
        """A paragraph, wrapped to the page; newlines start new lines."""
        self._write(text, "small" if small else "text")

    def space(self, mm: float) -> None:
        """Vertical space."""
        self._pdf.ln(mm)

    def table(self, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        """A table with a bold header row, split over pages as needed."""
        self._pdf.set_font(_FAMILY, "", _SIZES["small"])
        with self._pdf.table(
            text_align="LEFT", line_height=_SIZES["small"] * 0.55, first_row_as_headings=True
        ) as table:
            for cells in [header, *rows]:
                row = table.row()
                for cell in cells:
                    row.cell(cell)
        self.space(2)

    def image(self, data: bytes, *, width_mm: float, caption: str | None = None) -> None:
        """An image (JPEG or PNG bytes) at a width, with an optional caption below it."""
        self._pdf.image(io.BytesIO(data), w=width_mm)
        if caption:
            self.text(caption, small=True)
        self.space(2)

    def pdf(self) -> bytes:
        """The finished PDF."""
        return bytes(self._pdf.output())
