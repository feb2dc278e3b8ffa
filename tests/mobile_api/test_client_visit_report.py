"""Client app: the report of a completed visit, with client-visible checks and photos only."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta
from typing import Any

import httpx
from pypdf import PdfReader
from sqlalchemy.ext.asyncio import AsyncSession

from checklists.service import AnswerInput
from checklists.templates import TemplateInput, TemplateService
from equipment.equipment.models import Equipment
from fsm.db import utcnow
from fsm.photos.models import Photo, PhotoState
from fsm.users.models import Role
from fsm.visits.service import StatusReport
from fsm.workorders.visit_models import Visit, VisitStatus
from tests.checklists.helpers import definition
from tests.factories import make_user
from tests.fsm.wo_helpers import plan_visit, principal_of, services, visits
from tests.mobile_api.client_helpers import (
    BASE,
    INTERNAL_COMPLETION_NOTE,
    Company,
    assert_no_secrets,
    headers_of,
    make_company,
    open_critical,
)

INTERNAL_NOTE = "INTERNAL-NOTE-do-not-show"
CHECKS: dict[str, Any] = {
    "sections": [
        {
            "title": "Service",
            "items": [
                {
                    "key": "pressure",
                    "label": "Water pressure",
                    "kind": "number",
                    "unit": "bar",
                    "is_required": False,
                    "is_client_visible": True,
                },
                {"key": "notes", "label": "Notes", "kind": "text", "is_required": False},
            ],
        }
    ]
}


async def _visit_with_checks_and_photos(session: AsyncSession, company: Company) -> Visit:
    """A completed visit on the company's unit: two answers; a shown, a hidden and an
    unverified photo."""
    unit = await session.get(Equipment, company.unit.id)
    assert unit is not None
    staff = await make_user(session, role=Role.DISPATCHER)
    templates = TemplateService(session)
    template = await templates.create(
        TemplateInput(
            name=f"Boiler service {uuid.uuid4().hex[:6]}",
            definition=definition(CHECKS),
            equipment_model_ids=[unit.model_id],
        ),
        actor=principal_of(staff),
    )
    await templates.publish(template.id)
    order = await open_critical(session, unit, staff=staff, title="Annual check")
    visit = await plan_visit(session, order, actor=staff, engineer=company.engineer)
    engineer = principal_of(company.engineer.user)
    service = visits(session)
    await service.report_status(visit.id, StatusReport(status=VisitStatus.EN_ROUTE), actor=engineer)
    await service.report_status(visit.id, StatusReport(status=VisitStatus.ON_SITE), actor=engineer)
    await services(session).checklists.save_answers(
        visit.id,
        [AnswerInput("pressure", 1.8), AnswerInput("notes", INTERNAL_NOTE)],
        actor=engineer,
    )
    # Shown and verified; hidden; shown but not yet through the thumbnail job's checks.
    photos = ((True, PhotoState.VERIFIED), (False, PhotoState.VERIFIED), (True, PhotoState.STORED))
    for n, (shown, state) in enumerate(photos):
        key = f"photos/{uuid.uuid4()}.jpg"
        session.add(
            Photo(
                work_order_id=order.id,
                visit_id=visit.id,
                uploaded_by_id=company.engineer.user_id,
                object_key=key,
                thumbnail_key=f"{key}.thumb.jpg" if state is PhotoState.VERIFIED else None,
                content_type="image/jpeg",
                size_bytes=1000 + n,
                sha256="a" * 64,
                state=state,
                is_client_visible=shown,
                stored_at=utcnow(),
            )
        )
    return await service.report_status(
        visit.id,
        StatusReport(
            status=VisitStatus.COMPLETED,
            labour_minutes=50,
            note="Cleaned the burner",
            device_at=utcnow() - timedelta(minutes=2),
        ),
        actor=engineer,
    )


class TestVisitReport:
    async def test_tells_what_was_done_by_whom_and_for_how_long(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_company(session)
        await session.commit()

        response = await client.get(
            f"{BASE}/visits/{company.visit.id}/report",
            headers=await headers_of(client, company.user),
        )

        assert response.status_code == 200, response.text
        report = response.json()
        assert report["engineer_first_name"] == "Erik"
        assert report["labour_minutes"] == 75
        assert report["client_summary"] == "Replaced the seal"
        assert INTERNAL_COMPLETION_NOTE not in response.text
        assert [s["status"] for s in report["trail"]] == [
            "planned",
            "assigned",
            "en_route",
            "on_site",
            "completed",
        ]
        assert report["arrived_at"] is not None
        assert report["request_number"] == company.order.number
        assert "location" not in str(report)
        assert_no_secrets(report)

    async def test_shows_client_visible_checks_and_photos_only(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_company(session)
        visit = await _visit_with_checks_and_photos(session, company)
        await session.commit()

        response = await client.get(
            f"{BASE}/visits/{visit.id}/report", headers=await headers_of(client, company.user)
        )

        assert response.status_code == 200, response.text
        report = response.json()
        items = [i for s in report["checklist"]["sections"] for i in s["items"]]
        assert [(i["key"], i["answer"]["value"]) for i in items] == [("pressure", 1.8)]
        [photo] = report["photos"]
        assert photo["content_type"] == "image/jpeg"
        assert photo["thumbnail_url"] is not None  # the verified one, not the stored one
        assert photo["url"].startswith("http")
        assert "X-Amz-Signature" in photo["url"]
        assert INTERNAL_NOTE not in response.text
        assert_no_secrets(report)

    async def test_the_pdf_carries_the_same_report_in_the_sites_time(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_company(session)
        visit = await _visit_with_checks_and_photos(session, company)
        await session.commit()
        headers = await headers_of(client, company.user)
        report = (await client.get(f"{BASE}/visits/{visit.id}/report", headers=headers)).json()

        response = await client.get(f"{BASE}/visits/{visit.id}/report.pdf", headers=headers)

        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/pdf"
        assert report["request_number"] in response.headers["content-disposition"]
        text = " ".join(
            " ".join(
                page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages
            ).split()
        )
        assert f"Visit report - {report['request_number']}" in text
        assert f"Times shown in {report['site_timezone']}" in text
        [item] = [i for s in report["checklist"]["sections"] for i in s["items"]]
        assert f"{item['label']}: 1.8" in text
        assert INTERNAL_NOTE not in text

    async def test_a_visit_not_completed_has_no_report_yet(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_company(session)
        staff = await make_user(session, role=Role.DISPATCHER)
        order = await open_critical(session, company.unit, staff=staff)
        visit = await plan_visit(session, order, actor=staff, engineer=company.engineer)
        await session.commit()

        response = await client.get(
            f"{BASE}/visits/{visit.id}/report", headers=await headers_of(client, company.user)
        )

        assert response.status_code == 409
        assert response.json()["error"]["code"] == "visit_report_not_ready"
