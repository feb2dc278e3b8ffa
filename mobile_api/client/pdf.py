"""The visit report as a PDF a client can forward: plain text pages, no library needed.

PDF 1.4 with the standard Helvetica fonts (every reader has them) in WinAnsi encoding;
characters outside it print as "?". Photos are listed, not embedded: their links expire.
"""

from __future__ import annotations

import textwrap
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from mobile_api.client.schemas import VisitReport

PAGE_WIDTH, PAGE_HEIGHT = 595, 842  # A4 in points
MARGIN = 56
LINE_HEIGHT = 14
WRAP_AT = 92  # characters of 10 pt Helvetica across the text width
LINES_PER_PAGE = (PAGE_HEIGHT - 2 * MARGIN) // LINE_HEIGHT


def _when(value: datetime | None, zone: ZoneInfo) -> str:
    if value is None:
        return "-"
    return value.astimezone(zone).strftime("%d %b %Y, %H:%M")


def _answer_text(item: dict[str, Any]) -> str:
    answer = item.get("answer")
    if answer is None:
        photos = item.get("photos") or 0
        return f"{photos} photo(s)" if item.get("kind") == "photo" else "-"
    value = answer["value"]
    kind = item.get("kind")
    if kind == "yes_no":
        text = "yes" if value else "no"
    elif kind == "signature":
        text = f"signed by {value.get('name', '')}"
    elif kind in ("single_choice", "multiple_choice"):
        labels = {c["value"]: c["label"] for c in item.get("choices", [])}
        chosen = value if isinstance(value, list) else [value]
        text = ", ".join(labels.get(v, str(v)) for v in chosen)
    elif kind == "number":
        text = f"{value:g}" + (f" {item['unit']}" if item.get("unit") else "")
    else:
        text = str(value)
    if answer.get("flag"):
        text += "  (needs attention)"
    return text


def report_lines(report: VisitReport, *, timezone: str = "UTC") -> list[tuple[str, str]]:
    """The report as (style, text) lines; style is "title", "heading" or "text"."""
    zone = ZoneInfo(timezone)
    lines: list[tuple[str, str]] = [
        ("title", f"Visit report - {report.request_number}"),
        ("text", report.request_title),
        ("text", ""),
        ("text", f"Site: {report.site_name}"),
        ("text", f"Engineer: {report.engineer_first_name or '-'}"),
        ("text", f"Arrived: {_when(report.arrived_at, zone)}"),
        ("text", f"Completed: {_when(report.completed_at, zone)}"),
        (
            "text",
            "Labour: "
            + (f"{report.labour_minutes} minutes" if report.labour_minutes is not None else "-"),
        ),
        ("text", f"Times shown in {timezone}."),
    ]
    if report.client_summary:
        lines += [("text", ""), ("heading", "Work done")]
        lines += [("text", line) for line in _wrap(report.client_summary)]
    if report.trail:
        lines += [("text", ""), ("heading", "Progress")]
        lines += [
            ("text", f"{_when(step.occurred_at, zone)}  {step.status.value.replace('_', ' ')}")
            for step in report.trail
        ]
    checklist = msgspec.to_builtins(report.checklist) if report.checklist is not None else None
    if checklist:
        lines += [
            ("text", ""),
            ("heading", f"Checklist: {checklist['template_name']} (v{checklist['version']})"),
        ]
        for section in checklist.get("sections", []):
            lines.append(("text", section["title"]))
            for item in section["items"]:
                lines += [
                    ("text", f"    {line}")
                    for line in _wrap(f"{item['label']}: {_answer_text(item)}", width=WRAP_AT - 4)
                ]
    lines += [("text", ""), ("text", f"Photos: {len(report.photos)} (in the app)")]
    return lines


def _wrap(text: str, *, width: int = WRAP_AT) -> list[str]:
    out: list[str] = []
    for paragraph in text.splitlines() or [""]:
        out += textwrap.wrap(paragraph, width=width) or [""]
    return out


def _pdf_string(text: str) -> bytes:
    raw = text.encode("cp1252", errors="replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def _page_stream(lines: list[tuple[str, str]]) -> bytes:
    parts = [b"BT", f"{MARGIN} {PAGE_HEIGHT - MARGIN} Td".encode()]
    for style, text in lines:
        font, size = {"title": ("F2", 16), "heading": ("F2", 12)}.get(style, ("F1", 10))
        parts.append(f"/{font} {size} Tf".encode())
        parts.append(_pdf_string(text) + b" Tj")
        parts.append(f"0 -{LINE_HEIGHT} Td".encode())
    parts.append(b"ET")
    return b"\n".join(parts)


def render_pdf(lines: list[tuple[str, str]]) -> bytes:
    """A PDF of the lines, as many pages as they need."""
    pages = [lines[i : i + LINES_PER_PAGE] for i in range(0, len(lines), LINES_PER_PAGE)]
    pages = pages or [[]]
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled in below, once the page tree's number is known
    page_tree = add(b"")
    regular = add(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    )
    bold = add(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>"
    )
    kids: list[int] = []
    for page_lines in pages:
        stream = _page_stream(page_lines)
        content = add(f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream")
        kids.append(
            add(
                (
                    f"<< /Type /Page /Parent {page_tree} 0 R "
                    f"/MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] "
                    f"/Resources << /Font << /F1 {regular} 0 R /F2 {bold} 0 R >> >> "
                    f"/Contents {content} 0 R >>"
                ).encode()
            )
        )
    objects[catalog - 1] = f"<< /Type /Catalog /Pages {page_tree} 0 R >>".encode()
    objects[page_tree - 1] = (
        f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] /Count {len(kids)} >>"
    ).encode()

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets: list[int] = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref_at = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root {catalog} 0 R >>\n"
        f"startxref\n{xref_at}\n%%EOF\n"
    ).encode()
    return bytes(out)


def report_pdf(report: VisitReport, *, timezone: str = "UTC") -> bytes:
    """The visit report as a PDF."""
    return render_pdf(report_lines(report, timezone=timezone))
