"""Planned maintenance generation: service periods coming due become work orders and visits."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from equipment.contracts.models import Contract, ContractStatus, Coverage, IntervalUnit
from equipment.equipment.models import Equipment, EquipmentModel
from equipment.service_periods.generation import (
    generate_maintenance,
    settle_periods,
    visit_window,
)
from equipment.service_periods.models import PeriodStatus, ServicePeriod
from fsm.clients.models import Client
from fsm.db import utcnow
from fsm.jobs import run_locked
from fsm.sites.models import Site
from fsm.sla.models import SlaPolicy
from fsm.users.models import Role
from fsm.workorders.models import Channel, WorkOrder, WorkOrderEvent, WorkOrderType
from fsm.workorders.service import WorkOrderDraft
from fsm.workorders.visit_models import Visit, VisitStatus
from tests.auth_helpers import login
from tests.equipment.helpers import make_equipment
from tests.factories import make_policy, make_site, make_skill, make_user
from tests.fsm.wo_helpers import principal_of, work_orders

TODAY = date(2026, 11, 23)
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
WEEKDAYS = [{"weekday": d, "opens": "08:00", "closes": "17:00"} for d in range(5)]


async def _covered(
    session: AsyncSession,
    *,
    starts_on: date,
    ends_on: date,
    skills: list[str] | None = None,
    with_policy: bool = True,
) -> tuple[Equipment, ServicePeriod]:
    site = await make_site(session, opening_hours=WEEKDAYS)
    unit = await make_equipment(session, site=site)
    policy = await make_policy(session, is_default=False) if with_policy else None
    contract = Contract(
        client_id=unit.client_id,
        number=f"C-{unit.serial_number}",
        valid_from=date(2026, 1, 1),
        valid_to=date(2026, 12, 31),
        status=ContractStatus.ACTIVE,
        sla_policy_id=policy.id if policy else None,
    )
    session.add(contract)
    await session.flush()
    coverage = Coverage(
        contract_id=contract.id,
        equipment_id=unit.id,
        period=Range(date(2026, 1, 1), date(2027, 1, 1)),
        is_active=True,
        interval_count=3,
        interval_unit=IntervalUnit.MONTH,
        visit_minutes=90,
        skills=skills or [],
    )
    session.add(coverage)
    await session.flush()
    period = ServicePeriod(
        coverage_id=coverage.id,
        contract_id=contract.id,
        equipment_id=unit.id,
        starts_on=starts_on,
        ends_on=ends_on,
        status=PeriodStatus.PLANNED,
    )
    session.add(period)
    await session.flush()
    return unit, period


class TestVisitWindow:
    def test_clips_the_period_to_opening_hours(self) -> None:
        # 28 Nov 2026 is a Saturday: the window opens Monday 30 Nov 08:00 local and closes
        # Friday 4 Dec 17:00 local.
        starts_at, ends_at = visit_window(
            date(2026, 11, 28), date(2026, 12, 6), "Europe/Berlin", WEEKDAYS
        )
        berlin = ZoneInfo("Europe/Berlin")
        assert starts_at == datetime(2026, 11, 30, 8, 0, tzinfo=berlin)
        assert ends_at == datetime(2026, 12, 4, 17, 0, tzinfo=berlin)

    def test_a_site_without_hours_is_open_all_day(self) -> None:
        starts_at, ends_at = visit_window(date(2026, 12, 1), date(2026, 12, 31), "UTC", [])
        assert starts_at == datetime(2026, 12, 1, tzinfo=UTC)
        assert ends_at == datetime(2027, 1, 1, tzinfo=UTC)


async def _generate(session: AsyncSession) -> int:
    """One generation run as the job does it, through the app's work-order service."""
    return await generate_maintenance(
        session, work_orders(session), today=TODAY, horizon_days=14, now=NOW
    )


class TestGenerate:
    async def test_opens_a_maintenance_order_and_visit_for_a_period_coming_due(
        self, session: AsyncSession
    ) -> None:
        await make_skill(session, "boiler-service")
        unit, period = await _covered(
            session,
            starts_on=date(2026, 12, 1),
            ends_on=date(2027, 2, 28),
            skills=["boiler-service"],
        )

        created = await _generate(session)

        assert created == 1
        order = (
            await session.scalars(select(WorkOrder).where(WorkOrder.equipment_id == unit.id))
        ).one()
        assert order.type is WorkOrderType.MAINTENANCE
        assert order.channel is Channel.SCHEDULED
        assert order.contract_id == period.contract_id
        # Planned work is due by its period (its last open hour, Friday 26 Feb 17:00), not
        # by the policy's reaction target: no reaction clock starts at generation.
        period_end = datetime(2027, 2, 26, 17, 0, tzinfo=ZoneInfo("Europe/Berlin"))
        assert order.reaction_due_at is None
        assert order.resolution_due_at == period_end
        assert order.sla_next_due_at == period_end
        assert [s.code for s in order.required_skills] == ["boiler-service"]
        visit = (await session.scalars(select(Visit).where(Visit.work_order_id == order.id))).one()
        assert visit.estimated_minutes == 90
        assert visit.window_starts_at == datetime(
            2026, 12, 1, 8, 0, tzinfo=ZoneInfo("Europe/Berlin")
        )
        assert visit.window_ends_at == period_end
        assert visit.weekly_hours == WEEKDAYS
        await session.refresh(period)
        assert period.status is PeriodStatus.SCHEDULED
        assert period.work_order_id == order.id

    async def test_leaves_periods_beyond_the_horizon(self, session: AsyncSession) -> None:
        await _covered(session, starts_on=date(2027, 1, 1), ends_on=date(2027, 3, 31))

        assert await _generate(session) == 0

    async def test_a_second_run_creates_nothing(self, session: AsyncSession) -> None:
        await _covered(session, starts_on=date(2026, 12, 1), ends_on=date(2027, 2, 28))

        first = await _generate(session)
        second = await _generate(session)

        assert (first, second) == (1, 0)

    async def test_skips_inactive_contracts(self, session: AsyncSession) -> None:
        _, period = await _covered(session, starts_on=date(2026, 12, 1), ends_on=date(2027, 2, 28))
        contract = await session.get(Contract, period.contract_id)
        assert contract is not None
        contract.status = ContractStatus.SUSPENDED
        await session.flush()

        assert await _generate(session) == 0


class TestSettle:
    async def test_marks_a_completed_period_done_and_an_ended_one_missed(
        self, session: AsyncSession
    ) -> None:
        _, due = await _covered(session, starts_on=date(2026, 12, 1), ends_on=date(2027, 2, 28))
        _, past = await _covered(session, starts_on=date(2026, 8, 1), ends_on=date(2026, 10, 31))
        await _generate(session)
        visit = (
            await session.scalars(
                select(Visit).join(WorkOrder).where(WorkOrder.service_period_id == due.id)
            )
        ).one()
        visit.status = VisitStatus.COMPLETED
        await session.flush()

        done, missed = await settle_periods(session, today=TODAY)

        await session.refresh(due)
        await session.refresh(past)
        assert (done, missed) == (1, 1)
        assert due.status is PeriodStatus.DONE
        assert past.status is PeriodStatus.MISSED


class TestSameRulesAsEveryOrder:
    async def test_a_contract_without_a_policy_gets_the_default_one_like_any_other_order(
        self, session: AsyncSession
    ) -> None:
        default = await session.scalar(select(SlaPolicy).where(SlaPolicy.is_default))
        if default is None:
            default = await make_policy(session, reaction_minutes=240, is_default=True)
        unit, _ = await _covered(
            session, starts_on=date(2026, 12, 1), ends_on=date(2027, 2, 28), with_policy=False
        )
        dispatcher = principal_of(await make_user(session, role=Role.DISPATCHER))
        phoned_in = await work_orders(session).create(
            WorkOrderDraft(site_id=unit.site_id, type=WorkOrderType.REPAIR, title="Noise"),
            actor=dispatcher,
        )

        assert await _generate(session) == 1

        planned = (
            await session.scalars(
                select(WorkOrder).where(
                    WorkOrder.equipment_id == unit.id, WorkOrder.type == WorkOrderType.MAINTENANCE
                )
            )
        ).one()
        assert phoned_in.sla_policy_id == default.id
        assert planned.sla_policy_id == default.id
        # Same policy, but due by its period: the phoned-in repair has a reaction clock.
        assert phoned_in.reaction_due_at is not None
        assert planned.reaction_due_at is None
        assert planned.resolution_due_at is not None
        assert planned.number.startswith(f"WO-{NOW.year}-")
        events = (
            await session.scalars(
                select(WorkOrderEvent.kind).where(WorkOrderEvent.work_order_id == planned.id)
            )
        ).all()
        assert events == ["created"]


class TestConcurrentRuns:
    async def test_two_runs_at_once_open_each_period_once(self, engine: AsyncEngine) -> None:
        factory = async_sessionmaker(engine, expire_on_commit=False)
        async with factory() as session:
            _, period = await _covered(
                session, starts_on=date(2026, 12, 1), ends_on=date(2027, 2, 28)
            )
            await session.commit()
        try:

            async def run() -> bool:
                async def work(s: AsyncSession) -> None:
                    await _generate(s)

                return await run_locked(factory, "maintenance", work)

            await asyncio.gather(run(), run())
            async with factory() as session:
                count = await session.scalar(
                    select(func.count())
                    .select_from(WorkOrder)
                    .where(WorkOrder.service_period_id == period.id)
                )
            assert count == 1
        finally:
            # This test commits for real (two connections): remove all it made, so other
            # tests' counts see nothing of it.
            async with factory() as session:
                unit = await session.get(Equipment, period.equipment_id)
                contract = await session.get(Contract, period.contract_id)
                assert unit is not None
                assert contract is not None
                site = await session.get(Site, unit.site_id)
                assert site is not None
                for table, condition in (  # children first
                    (WorkOrder, WorkOrder.service_period_id == period.id),
                    (Contract, Contract.id == contract.id),
                    (Equipment, Equipment.id == unit.id),
                    (EquipmentModel, EquipmentModel.id == unit.model_id),
                    (SlaPolicy, SlaPolicy.id == contract.sla_policy_id),
                    (Site, Site.id == site.id),
                    (Client, Client.id == site.client_id),
                ):
                    await session.execute(delete(table).where(condition))
                await session.commit()


class TestRunOnDemand:
    async def test_an_admin_runs_generation_over_http(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        today = utcnow().date()
        await _covered(
            session, starts_on=today + timedelta(days=1), ends_on=today + timedelta(days=90)
        )
        admin = await make_user(session, role=Role.ADMIN)
        await session.commit()

        response = await client.post("/api/v1/maintenance/run", headers=await login(client, admin))

        assert response.status_code == 200, response.text
        assert response.json()["work_orders_opened"] == 1

    async def test_a_dispatcher_may_not(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        dispatcher = await make_user(session, role=Role.DISPATCHER)
        await session.commit()

        response = await client.post(
            "/api/v1/maintenance/run", headers=await login(client, dispatcher)
        )

        assert response.status_code == 403
