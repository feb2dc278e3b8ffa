"""Reading documents back as a reader would: pypdf for the text, poppler for the picture."""

from __future__ import annotations

import io
import subprocess
import tempfile
from pathlib import Path

from PIL import Image
from pypdf import PdfReader


def pdf_text(pdf: bytes) -> str:
    """All pages' text, whitespace collapsed to single spaces."""
    reader = PdfReader(io.BytesIO(pdf))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def page_one(pdf: bytes) -> Image.Image:
    """Page 1 rendered by poppler's pdftoppm, in grey."""
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "document.pdf"
        source.write_bytes(pdf)
        subprocess.run(
            ["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", str(source), f"{folder}/p"],
            check=True,
        )
        [page] = Path(folder).glob("p*.png")
        with Image.open(page) as image:
            return image.convert("L")


def is_blank(page: Image.Image) -> bool:
    """Fewer than 0.5 % dark pixels: no text or drawing to speak of."""
    dark = sum(page.histogram()[:128])
    return dark < 0.005 * page.width * page.height
