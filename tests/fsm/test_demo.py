"""The demo a newcomer starts with: equipment, contracts, checklists and a day of jobs."""

from __future__ import annotations

from datetime import date

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checklists.models import ChecklistRun, ChecklistTemplate, ChecklistTemplateVersion
from equipment.contracts.models import Contract, ContractStatus
from fsm.clients.models import Client
from fsm.engineers.models import Engineer
from fsm.main.demo import DEMO_DOMAIN, DEMO_PASSWORD, load_demo
from fsm.main.demo_work import load_demo_work, next_working_day
from fsm.settings import Settings
from fsm.users.models import Role, User
from fsm.workorders.models import WorkOrder
from fsm.workorders.visit_models import Visit, VisitStatus


async def load_the_demo(session: AsyncSession, settings: Settings) -> date:
    """The demo city and its work, committed; the day its routes are planned."""
    # Beside whatever other tests committed: the demo is found by its own domain.
    summary = await load_demo(session, only_into_empty=False)
    staff = {
        u.role: u
        for u in (
            await session.scalars(
                select(User).where(
                    User.role.in_([Role.ADMIN, Role.DISPATCHER]),
                    User.email.like(f"%@{DEMO_DOMAIN}"),
                )
            )
        ).all()
    }
    work = await load_demo_work(
        session,
        admin=staff[Role.ADMIN],
        dispatcher=staff[Role.DISPATCHER],
        today=date(2026, 11, 28),
        settings=settings,
    )
    assert summary.engineers == 15
    await session.commit()
    return work.route_day


# The demo's visits: those of work orders of the demo's clients.
DEMO_VISITS = (
    select(Visit.id)
    .join(WorkOrder, WorkOrder.id == Visit.work_order_id)
    .join(Client, Client.id == WorkOrder.client_id)
    .where(Client.email.like(f"%.{DEMO_DOMAIN}"))
)


class TestDemoWork:
    def test_a_weekend_rolls_the_route_day_to_monday(self) -> None:
        assert next_working_day(date(2026, 11, 28)) == date(2026, 11, 30)
        assert next_working_day(date(2026, 11, 25)) == date(2026, 11, 25)

    async def test_engineers_have_qualified_routes_under_contracts_with_checklists(
        self, session: AsyncSession, settings: Settings
    ) -> None:
        await load_the_demo(session, settings)

        assigned = (
            await session.execute(
                select(Visit, Engineer)
                .join(Engineer, Engineer.id == Visit.engineer_id)
                .where(Visit.status == VisitStatus.ASSIGNED, Visit.id.in_(DEMO_VISITS))
            )
        ).all()
        per_engineer: dict[object, list[int]] = {}
        for visit, engineer in assigned:
            assert {s.code for s in visit.required_skills} <= {s.code for s in engineer.skills}
            per_engineer.setdefault(engineer.id, []).append(visit.route_position or 0)
        assert len(per_engineer) == 15
        assert all(sorted(p) == list(range(1, len(p) + 1)) for p in per_engineer.values())
        waiting = await session.scalar(
            select(func.count())
            .select_from(Visit)
            .where(Visit.status == VisitStatus.PLANNED, Visit.id.in_(DEMO_VISITS))
        )
        assert waiting == 10
        # Contracts are in force and lift jobs carry the lift checklist.
        statuses = (
            await session.scalars(
                select(Contract.status).join(Client).where(Client.email.like(f"%.{DEMO_DOMAIN}"))
            )
        ).all()
        assert statuses
        assert set(statuses) == {ContractStatus.ACTIVE}
        names = (
            await session.scalars(
                select(ChecklistTemplate.name)
                .join(ChecklistTemplateVersion)
                .join(ChecklistRun, ChecklistRun.template_version_id == ChecklistTemplateVersion.id)
                .where(ChecklistRun.visit_id.in_(DEMO_VISITS))
                .distinct()
            )
        ).all()
        assert set(names) == {"Lift safety inspection", "General service report"}

    async def test_the_demo_engineer_sees_the_route_in_the_app(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        day = await load_the_demo(session, settings)
        engineer = await session.scalar(
            select(User).where(User.email == f"engineer1@{DEMO_DOMAIN}")
        )
        assert engineer is not None
        signed_in = await client.post(
            "/api/v1/auth/login", json={"email": engineer.email, "password": DEMO_PASSWORD}
        )
        headers = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}

        response = await client.get(
            "/mobile/v1/engineer/today", params={"date": day.isoformat()}, headers=headers
        )

        assert response.status_code == 200, response.text
        route = response.json()["visits"]
        assert len(route) == 3
        assert [v["checklist"] is not None for v in route] == [True, True, True]
