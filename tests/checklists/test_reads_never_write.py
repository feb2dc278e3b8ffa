"""A checklist is chosen by a write (planning a visit, publishing a template), never by a read."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from checklists.models import ChecklistRun
from fsm.users.models import Role
from fsm.workorders.visit_models import Visit
from tests.auth_helpers import login
from tests.checklists.helpers import make_template, order_on, planned_visit
from tests.equipment.helpers import make_equipment
from tests.factories import make_engineer, make_user
from tests.mobile_api.client_helpers import counting_queries
from tests.mobile_api.engineer_helpers import BASE

WRITES = ("INSERT", "UPDATE", "DELETE")


async def _run_of(session: AsyncSession, visit: Visit) -> ChecklistRun | None:
    return await session.scalar(select(ChecklistRun).where(ChecklistRun.visit_id == visit.id))


class TestChosenByWrites:
    async def test_publishing_gives_open_visits_planned_before_it_their_checklist(
        self, session: AsyncSession
    ) -> None:
        unit = await make_equipment(session)
        planned = await planned_visit(session, await order_on(session, unit))
        assert await _run_of(session, planned) is None  # no template applied yet

        template = await make_template(session, name="Boiler service", categories=["boiler"])

        run = await _run_of(session, planned)
        assert run is not None
        await session.refresh(run, ["template_version"])
        assert run.template_version.template_id == template.id

    async def test_reading_a_checklist_on_every_surface_writes_nothing(
        self, client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine
    ) -> None:
        await make_template(session, name="Boiler check", categories=["boiler"])
        unit = await make_equipment(session)
        engineer = await make_engineer(session)
        visit = await planned_visit(session, await order_on(session, unit), engineer=engineer)
        staff = await make_user(session, role=Role.DISPATCHER)
        await session.commit()
        staff_headers = await login(client, staff)
        engineer_headers = await login(client, engineer.user)
        runs_before = await session.scalar(select(func.count()).select_from(ChecklistRun))

        with counting_queries(engine) as statements:
            reads = [
                await client.get(f"/api/v1/visits/{visit.id}/checklist", headers=staff_headers),
                await client.get(f"{BASE}/visits/{visit.id}", headers=engineer_headers),
                await client.get(f"{BASE}/today", headers=engineer_headers),
                await client.get(f"/api/v1/equipment/{unit.id}/card", headers=staff_headers),
            ]

        assert [r.status_code for r in reads] == [200] * len(reads), [r.text for r in reads]
        writes = [s for s in statements if s.lstrip().upper().startswith(WRITES)]
        assert writes == []
        runs_after = await session.scalar(select(func.count()).select_from(ChecklistRun))
        assert runs_after == runs_before
