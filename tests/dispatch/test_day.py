"""A dispatcher's real day over the API: the draft plans over what engineers already hold,
keeps locks, answers per visit, and the commit never double-books."""

from __future__ import annotations

import itertools
import uuid
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.service import route_plan_of
from equipment.service_periods.models import ServicePeriod
from fsm.db import utcnow
from fsm.main.demo import DEMO_DOMAIN, DEMO_PASSWORD
from fsm.settings import Settings
from fsm.users.models import Role, User
from fsm.visits.service import VisitDraft
from fsm.workorders.models import WorkOrderType
from fsm.workorders.visit_models import Visit
from tests.auth_helpers import login
from tests.dispatch.test_service import DAY, service, small_day
from tests.factories import make_client, make_user
from tests.fsm.test_demo import DEMO_VISITS, load_the_demo
from tests.fsm.wo_helpers import open_order, principal_of, visits
from tests.mobile_api.client_helpers import make_company

PLANS = "/api/v1/dispatch/plans"
BERLIN = ZoneInfo("Europe/Berlin")


async def _day_of_engineers(session: AsyncSession, day: date) -> dict[uuid.UUID, list[Visit]]:
    """Every engineer's visits that day as the database has them, by planned start."""
    origin = datetime.combine(day, time(), BERLIN)
    rows = (
        await session.scalars(
            select(Visit)
            .where(
                Visit.id.in_(DEMO_VISITS),
                Visit.engineer_id.is_not(None),
                Visit.planned_start_at >= origin,
                Visit.planned_start_at < origin + timedelta(days=1),
            )
            .order_by(Visit.planned_start_at)
            .execution_options(populate_existing=True)
        )
    ).all()
    by_engineer: dict[uuid.UUID, list[Visit]] = defaultdict(list)
    for visit in rows:
        assert visit.engineer_id is not None
        by_engineer[visit.engineer_id].append(visit)
    return by_engineer


def _double_bookings(by_engineer: dict[uuid.UUID, list[Visit]]) -> list[tuple[str, str]]:
    """Pairs of one engineer's visits whose planned intervals overlap."""
    clashes: list[tuple[str, str]] = []
    for day in by_engineer.values():
        for a, b in itertools.pairwise(day):
            assert a.planned_start_at is not None
            assert b.planned_start_at is not None
            if a.planned_start_at + timedelta(minutes=a.estimated_minutes) > b.planned_start_at:
                clashes.append((str(a.id), str(b.id)))
    return clashes


def _count(plan: dict[str, Any], kind: str) -> int:
    return sum(1 for v in plan["visits"] if v["change"] == kind)


class TestTheDemoDay:
    async def test_drafted_and_committed_no_engineer_is_double_booked(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        day = await load_the_demo(session, settings)
        dispatcher = (
            await session.scalars(select(User).where(User.email == f"dispatch@{DEMO_DOMAIN}"))
        ).one()
        r = await client.post(
            "/api/v1/auth/login", json={"email": dispatcher.email, "password": DEMO_PASSWORD}
        )
        assert r.status_code == 200, r.text
        staff = {"Authorization": f"Bearer {r.json()['access_token']}"}
        held_before = await _day_of_engineers(session, day)
        assert sum(len(v) for v in held_before.values()) == 45
        body = {"day": day.isoformat(), "timezone": "Europe/Berlin", "time_limit_s": 3}

        r = await client.post(PLANS, json=body, headers=staff)
        assert r.status_code == 201, r.text
        plan = r.json()
        # Every visit of the day is answered for: the 45 held and the 10 waiting.
        assert len(plan["visits"]) == 55
        assert _count(plan, "new") + _count(plan, "unassigned") >= 10
        # Held work stays with its engineer (some demo engineers hold work past their shift's
        # end, which must move).
        stayed = [
            v
            for v in plan["visits"]
            if v["change"] in ("kept", "moved") and v["from_engineer_id"] == v["to_engineer_id"]
        ]
        assert len(stayed) >= 30
        for change in plan["visits"]:
            if change["change"] == "moved":
                assert change["from_engineer_id"], change
                assert change["reason"], change
            if change["change"] == "unassigned":
                assert change["reason"], change
        for engineer_day in plan["days"]:
            positions = [s["position"] for s in engineer_day["stops"]]
            assert positions == list(range(1, len(positions) + 1))

        r = await client.post(f"{PLANS}/{plan['id']}/commit", headers=staff)
        assert r.status_code == 200, r.text

        after = await _day_of_engineers(session, day)
        assert _double_bookings(after) == []
        for held in after.values():
            positions = sorted(v.route_position or 0 for v in held)
            assert positions == list(range(1, len(held) + 1))
        assigned = sum(len(v) for v in after.values())
        served = sum(len(r["stops"]) for r in plan["routes"])
        assert assigned == served
        # Nothing the plan left out is still held by anyone.
        left_out = {d["visit_id"] for d in plan["dropped"]}
        for held in after.values():
            assert left_out.isdisjoint({str(v.id) for v in held})

        # A re-draft of the settled day changes nothing.
        r = await client.post(PLANS, json=body, headers=staff)
        assert r.status_code == 201, r.text
        again = r.json()
        assert _count(again, "moved") == 0, [v for v in again["visits"] if v["change"] == "moved"]
        assert _count(again, "kept") == assigned


VISITS = "/api/v1/visits"
SMALL = {"day": DAY.isoformat(), "timezone": "Europe/Berlin", "time_limit_s": 1}


class TestLocks:
    async def test_a_locked_visit_is_planned_with_its_engineer_at_its_time(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        day = await small_day(session)
        staff = await login(client, day.dispatcher)
        visit = day.visits[1]
        at = datetime.combine(DAY, time(13), BERLIN)
        lock = {"engineer_id": str(day.gas_engineer.id), "start_at": at.isoformat()}
        r = await client.put(f"{VISITS}/{visit.id}/lock", json=lock, headers=staff)
        assert r.status_code == 200, r.text
        r = await client.get(f"{VISITS}/{visit.id}", headers=staff)
        assert r.json()["locked_engineer_id"] == str(day.gas_engineer.id)
        assert datetime.fromisoformat(r.json()["locked_start_at"]) == at

        r = await client.post(PLANS, json=SMALL, headers=staff)
        assert r.status_code == 201, r.text
        plan = r.json()
        placed = {s["visit_id"]: (r["engineer_id"], s) for r in plan["routes"] for s in r["stops"]}
        engineer_id, stop = placed[str(visit.id)]
        assert engineer_id == str(day.gas_engineer.id)
        assert datetime.fromisoformat(stop["start_at"]) == at
        r = await client.post(f"{PLANS}/{plan['id']}/commit", headers=staff)
        assert r.status_code == 200, r.text
        r = await client.get(f"{VISITS}/{visit.id}", headers=staff)
        assert r.json()["engineer_id"] == str(day.gas_engineer.id)
        assert datetime.fromisoformat(r.json()["planned_start_at"]) == at

        r = await client.delete(f"{VISITS}/{visit.id}/lock", headers=staff)
        assert r.status_code == 200, r.text
        assert r.json()["locked_engineer_id"] is None
        assert r.json()["locked_start_at"] is None

    async def test_a_lock_set_after_the_draft_refuses_the_commit(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        day = await small_day(session)
        staff = await login(client, day.dispatcher)
        r = await client.post(PLANS, json=SMALL, headers=staff)
        plan = r.json()
        placed = {s["visit_id"]: r["engineer_id"] for r in plan["routes"] for s in r["stops"]}
        visit = day.visits[2]
        other = next(
            e for e in (day.gas_engineer, day.other_engineer) if str(e.id) != placed[str(visit.id)]
        )
        r = await client.put(
            f"{VISITS}/{visit.id}/lock", json={"engineer_id": str(other.id)}, headers=staff
        )
        assert r.status_code == 200, r.text
        r = await client.post(f"{PLANS}/{plan['id']}/commit", headers=staff)
        assert r.status_code == 409, r.text
        assert r.json()["error"]["code"] == "plan_outdated"
        assert str(visit.id) in r.json()["error"]["details"]["visit_ids"]
        r = await client.get(f"{VISITS}/{visit.id}", headers=staff)
        assert r.json()["status"] == "planned"

    async def test_refuses_bad_locks_and_anyone_but_staff(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        day = await small_day(session)
        staff = await login(client, day.dispatcher)
        visit = day.visits[0]
        url = f"{VISITS}/{visit.id}/lock"
        r = await client.put(url, json={}, headers=staff)
        assert r.status_code == 422, r.text
        late = datetime.combine(DAY, time(16), BERLIN).isoformat()
        r = await client.put(url, json={"start_at": late}, headers=staff)
        assert r.status_code == 422, r.text
        # The gas visit needs a skill the other engineer lacks.
        r = await client.put(url, json={"engineer_id": str(day.other_engineer.id)}, headers=staff)
        assert r.status_code == 409, r.text
        assert r.json()["error"]["details"]["missing_skills"] == ["gas"]
        r = await client.put(
            f"{VISITS}/{uuid.uuid4()}/lock", json={"start_at": late}, headers=staff
        )
        assert r.status_code == 404, r.text
        engineer = await login(client, day.gas_engineer.user)
        company = await make_client(session)
        client_user = await make_user(session, role=Role.CLIENT, client=company)
        await session.commit()
        for headers in (engineer, await login(client, client_user)):
            ok = {"engineer_id": str(day.gas_engineer.id)}
            assert (await client.put(url, json=ok, headers=headers)).status_code == 403
            assert (await client.delete(url, headers=headers)).status_code == 403
        r = await client.get(f"{VISITS}/{visit.id}", headers=staff)
        assert r.json()["locked_engineer_id"] is None


class TestMaintenanceUrgency:
    async def test_planned_maintenance_is_due_by_its_period_not_its_reaction_clock(
        self, session: AsyncSession
    ) -> None:
        company = await make_company(session)
        staff = await make_user(session, role=Role.DISPATCHER)
        period = (
            await session.scalars(
                select(ServicePeriod)
                .where(ServicePeriod.equipment_id == company.unit.id)
                .order_by(ServicePeriod.starts_on)
            )
        ).first()
        assert period is not None
        today = utcnow().date()
        on = today + timedelta(days=(7 - today.weekday()) % 7 or 7)  # next Monday
        order = await open_order(
            session, site=company.site, actor=staff, type=WorkOrderType.MAINTENANCE
        )
        visit = await visits(session).create(
            VisitDraft(
                work_order_id=order.id,
                window_starts_at=datetime.combine(on, time(9), BERLIN),
                window_ends_at=datetime.combine(on, time(12), BERLIN),
                estimated_minutes=90,
            ),
            actor=principal_of(staff),
        )
        # Generated with a reaction clock already run out, yet due only by its period's end.
        order.service_period_id = period.id
        order.sla_next_due_at = utcnow() - timedelta(hours=1)
        await session.commit()
        plan = await service(session).draft(
            on, "Europe/Berlin", actor=principal_of(staff), engineer_ids=[company.engineer.id]
        )
        routes = route_plan_of(plan)
        assert routes is not None
        stops = [s for r in routes.routes for s in r.stops]
        assert [s.visit_id for s in stops] == [str(visit.id)]
        assert stops[0].lateness_minutes == 0
        assert routes.metrics.on_time_percent == 100.0
