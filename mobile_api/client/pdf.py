"""The visit report as a PDF a client can forward, in whatever language it was written.

Built on `fsm.documents` (fpdf2 with an embedded Unicode font). Times are shown in the
site's zone and say which; the client's signature and the shared photos are embedded from
their thumbnails (the links in the JSON report expire, a forwarded PDF must not).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from fsm.documents import Document
from mobile_api.client.schemas import VisitReport

PHOTO_WIDTH_MM = 80
SIGNATURE_WIDTH_MM = 60


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


def report_pdf(
    report: VisitReport,
    *,
    timezone: str = "UTC",
    images: Mapping[uuid.UUID, bytes] | None = None,
) -> bytes:
    """The visit report as a PDF; `images` are thumbnail bytes by photo id (signature too)."""
    zone = ZoneInfo(timezone)
    images = images or {}
    doc = Document(f"Visit report - {report.request_number}")
    doc.title(f"Visit report - {report.request_number}")
    doc.text(report.request_title)
    doc.space(3)
    labour = f"{report.labour_minutes} minutes" if report.labour_minutes is not None else "-"
    doc.text(
        "\n".join(
            (
                f"Site: {report.site_name}",
                f"Engineer: {report.engineer_first_name or '-'}",
                f"Arrived: {_when(report.arrived_at, zone)}",
                f"Completed: {_when(report.completed_at, zone)}",
                f"Labour: {labour}",
                f"Times shown in {timezone}.",
            )
        )
    )
    if report.client_summary:
        doc.heading("Work done")
        doc.text(report.client_summary)
    if report.trail:
        doc.heading("Progress")
        doc.text(
            "\n".join(
                f"{_when(step.occurred_at, zone)}  {step.status.value.replace('_', ' ')}"
                for step in report.trail
            )
        )
    checklist = msgspec.to_builtins(report.checklist) if report.checklist is not None else None
    if checklist:
        doc.heading(f"Checklist: {checklist['template_name']} (v{checklist['version']})")
        for section in checklist.get("sections", []):
            doc.text(section["title"])
            doc.text(
                "\n".join(f"    {item['label']}: {_answer_text(item)}" for item in section["items"])
            )
    if report.signature is not None:
        signature = report.signature
        doc.heading("Signed for the client")
        if signature.photo_id in images:
            doc.image(images[signature.photo_id], width_mm=SIGNATURE_WIDTH_MM)
        doc.text(f"{signature.signer_name}, {_when(signature.signed_at, zone)}")
    doc.heading(f"Photos: {len(report.photos)}")
    for photo in report.photos:
        if photo.id in images:
            taken = f"taken {_when(photo.taken_at, zone)}" if photo.taken_at else None
            doc.image(images[photo.id], width_mm=PHOTO_WIDTH_MM, caption=taken)
    return doc.pdf()
