"""The visit report as a PDF: a real PDF reader finds every fact of the report in it."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime

from pypdf import PdfReader

from fsm.workorders.visit_models import VisitStatus
from mobile_api.client.pdf import report_pdf
from mobile_api.client.schemas import TrailStep, VisitReport


def _report(**overrides: object) -> VisitReport:
    values: dict[str, object] = {
        "visit_id": uuid.uuid4(),
        "request_id": uuid.uuid4(),
        "request_number": "WO-2026-000042",
        "request_title": "Lift stuck (Müller wing)",
        "equipment_id": None,
        "site_name": "Spree Hauptsitz",
        "status": VisitStatus.COMPLETED,
        "engineer_first_name": "Elif",
        "arrived_at": datetime(2026, 11, 23, 8, 5, tzinfo=UTC),
        "completed_at": datetime(2026, 11, 23, 9, 40, tzinfo=UTC),
        "labour_minutes": 95,
        "client_summary": "Replaced the door contact; tested all floors.",
        "site_timezone": "Europe/Berlin",
        "trail": [
            TrailStep(
                status=VisitStatus.ON_SITE, occurred_at=datetime(2026, 11, 23, 8, 5, tzinfo=UTC)
            )
        ],
        "checklist": {
            "template_name": "Lift safety inspection",
            "version": 2,
            "sections": [
                {
                    "title": "Safety",
                    "items": [
                        {
                            "key": "brakes",
                            "label": "Brakes hold",
                            "kind": "yes_no",
                            "answer": {"value": False, "flag": "critical_no"},
                        },
                        {
                            "key": "force",
                            "label": "Door force",
                            "kind": "number",
                            "unit": "N",
                            "answer": {"value": 120.0, "flag": None},
                        },
                        {
                            "key": "wear",
                            "label": "Rope wear",
                            "kind": "single_choice",
                            "choices": [{"value": "light", "label": "Light"}],
                            "answer": {"value": "light", "flag": None},
                        },
                    ],
                }
            ],
        },
        "photos": [],
    }
    values.update(overrides)
    return VisitReport(**values)  # type: ignore[arg-type]


def _text(pdf: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(pdf))
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)


def test_the_pdf_holds_the_report_in_the_sites_time() -> None:
    pages, text = _text(report_pdf(_report(), timezone="Europe/Berlin"))

    assert pages == 1
    for fact in (
        "Visit report - WO-2026-000042",
        "Lift stuck (Müller wing)",
        "Engineer: Elif",
        "Arrived: 23 Nov 2026, 09:05",  # 08:05 UTC is 09:05 in Berlin
        "Labour: 95 minutes",
        "Replaced the door contact; tested all floors.",
        "Checklist: Lift safety inspection (v2)",
        "Brakes hold: no (needs attention)",
        "Door force: 120 N",
        "Rope wear: Light",
    ):
        assert fact in " ".join(text.split()), fact


def test_a_long_report_runs_over_several_pages_and_parentheses_survive() -> None:
    summary = "\n".join(f"Step {n}: checked (and cleaned) part {n}." for n in range(120))

    pages, text = _text(report_pdf(_report(client_summary=summary)))

    assert pages >= 3
    assert "Step 119: checked (and cleaned) part 119." in text
