"""Planned maintenance as the office sees it over the API: on the contract's preferred weekdays
and hours the site is open, and due by its service period, never born late."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.ext.asyncio import AsyncSession

from equipment.contracts.models import Contract, ContractStatus, Coverage, IntervalUnit
from equipment.service_periods.generation import maintenance_window
from equipment.service_periods.models import PeriodStatus, ServicePeriod
from fsm.db import utcnow
from fsm.users.models import Role
from fsm.visits.windows import windows_between
from fsm.workorders.models import WorkOrder, WorkOrderEvent
from tests.auth_helpers import login
from tests.equipment.helpers import make_equipment
from tests.factories import make_policy, make_site, make_user
from tests.fsm.wo_helpers import work_orders

BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS = [{"weekday": d, "opens": "08:00", "closes": "17:00"} for d in range(5)]


async def _period(
    session: AsyncSession,
    *,
    starts_on: date,
    ends_on: date,
    opening_hours: list[dict[str, Any]],
    preferred_weekdays: list[int],
    preferred_start: time | None = None,
    preferred_end: time | None = None,
) -> ServicePeriod:
    """A unit under an active contract (with its own fast-reaction policy) and one period."""
    site = await make_site(session, opening_hours=opening_hours)
    unit = await make_equipment(session, site=site)
    # A 30-minute reaction target: were planned work on the reaction clock, it would be
    # late half an hour after generation.
    policy = await make_policy(session, reaction_minutes=30, is_default=False)
    contract = Contract(
        client_id=unit.client_id,
        number=f"C-{unit.serial_number}",
        valid_from=starts_on - timedelta(days=30),
        valid_to=ends_on + timedelta(days=365),
        status=ContractStatus.ACTIVE,
        sla_policy_id=policy.id,
    )
    session.add(contract)
    await session.flush()
    coverage = Coverage(
        contract_id=contract.id,
        equipment_id=unit.id,
        period=Range(contract.valid_from, contract.valid_to + timedelta(days=1)),
        is_active=True,
        interval_count=3,
        interval_unit=IntervalUnit.MONTH,
        visit_minutes=60,
        preferred_weekdays=preferred_weekdays,
        preferred_start=preferred_start,
        preferred_end=preferred_end,
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
    return period


async def _run_generation(client: httpx.AsyncClient, session: AsyncSession) -> dict[str, str]:
    """An admin runs the maintenance job over HTTP; a dispatcher's headers for reading."""
    admin = await make_user(session, role=Role.ADMIN)
    dispatcher = await make_user(session, role=Role.DISPATCHER)
    await session.commit()
    response = await client.post("/api/v1/maintenance/run", headers=await login(client, admin))
    assert response.status_code == 200, response.text
    assert response.json()["work_orders_opened"] == 1
    return await login(client, dispatcher)


async def _order_and_visit(
    client: httpx.AsyncClient, headers: dict[str, str], period: ServicePeriod, session: AsyncSession
) -> tuple[dict[str, Any], dict[str, Any]]:
    order_id = await session.scalar(
        select(WorkOrder.id).where(WorkOrder.service_period_id == period.id)
    )
    order = await client.get(f"/api/v1/work-orders/{order_id}", headers=headers)
    assert order.status_code == 200, order.text
    visits = await client.get(
        "/api/v1/visits", params={"work_order_id": str(order_id)}, headers=headers
    )
    assert visits.status_code == 200, visits.text
    [visit] = visits.json()["items"]
    return order.json(), visit


def _same(a: str, b: str) -> bool:
    return datetime.fromisoformat(a) == datetime.fromisoformat(b)


def _local(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(BERLIN)


class TestPreferredWeekdaysAndHours:
    async def test_the_visit_falls_on_the_preferred_weekday_and_hours(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        today = utcnow().date()
        # Wednesdays 09:00-12:00 preferred, at a site open on weekdays 08:00-17:00.
        period = await _period(
            session,
            starts_on=today + timedelta(days=1),
            ends_on=today + timedelta(days=60),
            opening_hours=WEEKDAYS,
            preferred_weekdays=[2],
            preferred_start=time(9),
            preferred_end=time(12),
        )
        headers = await _run_generation(client, session)

        _, visit = await _order_and_visit(client, headers, period, session)

        starts, ends = _local(visit["window_starts_at"]), _local(visit["window_ends_at"])
        assert (starts.weekday(), starts.time()) == (2, time(9))
        assert (ends.weekday(), ends.time()) == (2, time(12))
        assert starts.date() >= period.starts_on
        assert starts.date() - period.starts_on < timedelta(days=7)
        assert ends.date() <= period.ends_on
        assert period.ends_on - ends.date() < timedelta(days=7)
        assert visit["weekly_hours"] == [{"weekday": 2, "opens": "09:00", "closes": "12:00"}]

    async def test_a_preferred_day_the_site_is_closed_gives_way_to_its_open_days(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        today = utcnow().date()
        # Saturday preferred, but the site opens Monday and Thursday only.
        hours = [
            {"weekday": 0, "opens": "07:00", "closes": "15:00"},
            {"weekday": 3, "opens": "10:00", "closes": "18:00"},
        ]
        period = await _period(
            session,
            starts_on=today + timedelta(days=1),
            ends_on=today + timedelta(days=30),
            opening_hours=hours,
            preferred_weekdays=[5],
        )
        headers = await _run_generation(client, session)

        _, visit = await _order_and_visit(client, headers, period, session)

        assert visit["weekly_hours"] == hours
        assert _local(visit["window_starts_at"]).weekday() in (0, 3)
        assert _local(visit["window_ends_at"]).weekday() in (0, 3)


class TestOpenDaysOnly:
    def test_every_allowed_hour_of_the_window_is_on_a_day_the_site_is_open(self) -> None:
        # Open Monday, Wednesday and Friday, mornings and afternoons (a lunch break); the
        # contract prefers afternoons. Two weeks from Saturday 28 Nov 2026.
        hours = [
            {"weekday": d, "opens": o, "closes": c}
            for d in (0, 2, 4)
            for o, c in (("08:00", "12:00"), ("13:00", "17:00"))
        ]
        window = maintenance_window(
            date(2026, 11, 28),
            date(2026, 12, 11),
            "Europe/Berlin",
            hours,
            preferred_weekdays=[],
            preferred_start=time(12),
            preferred_end=None,
        )

        stretches = windows_between(
            window.weekly_hours, "Europe/Berlin", window.starts_at, window.ends_at
        )

        local = [(a.astimezone(BERLIN), b.astimezone(BERLIN)) for a, b in stretches]
        assert [(a.date().isoformat(), a.time(), b.time()) for a, b in local] == [
            (day, time(13), time(17))
            for day in (
                "2026-11-30",
                "2026-12-02",
                "2026-12-04",
                "2026-12-07",
                "2026-12-09",
                "2026-12-11",
            )
        ]
        assert (window.starts_at, window.ends_at) == (stretches[0][0], stretches[-1][1])


class TestNotBornLate:
    async def test_planned_work_is_due_by_its_period_and_neither_at_risk_nor_breached(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        today = utcnow().date()
        period = await _period(
            session,
            starts_on=today + timedelta(days=1),
            ends_on=today + timedelta(days=20),
            opening_hours=WEEKDAYS,
            preferred_weekdays=[],
        )
        headers = await _run_generation(client, session)
        order, visit = await _order_and_visit(client, headers, period, session)

        # The watch, an hour later (the policy's reaction target is 30 minutes), flags
        # nothing; the queues agree.
        watch = work_orders(session).sla
        assert await watch.watch(utcnow() + timedelta(hours=1)) == (0, 0)
        queues = {
            state: await client.get(
                "/api/v1/work-orders", params={"sla_state": state}, headers=headers
            )
            for state in ("breached", "at_risk", "ok")
        }
        ids = {state: [w["id"] for w in r.json()["items"]] for state, r in queues.items()}

        assert order["sla"]["reaction_due_at"] is None
        assert _same(order["sla"]["resolution_due_at"], visit["window_ends_at"])
        assert order["sla"]["state"] == "ok"
        assert ids == {"breached": [], "at_risk": [], "ok": [order["id"]]}

    async def test_it_becomes_at_risk_as_its_period_ends_and_breached_after(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        today = utcnow().date()
        period = await _period(
            session,
            starts_on=today + timedelta(days=1),
            ends_on=today + timedelta(days=20),
            opening_hours=WEEKDAYS,
            preferred_weekdays=[],
        )
        headers = await _run_generation(client, session)
        order, _ = await _order_and_visit(client, headers, period, session)
        due = datetime.fromisoformat(order["sla"]["resolution_due_at"])
        watch = work_orders(session).sla

        near_end = await watch.watch(due - timedelta(minutes=30))
        after_end = await watch.watch(due + timedelta(minutes=1))

        kinds = (
            await session.scalars(
                select(WorkOrderEvent.kind)
                .where(WorkOrderEvent.work_order_id == order["id"])
                .order_by(WorkOrderEvent.id)
            )
        ).all()
        assert (near_end, after_end) == ((1, 0), (0, 1))
        assert kinds == ["created", "sla_at_risk", "sla_breached"]
        assert due > datetime.now(UTC) + timedelta(days=7)
