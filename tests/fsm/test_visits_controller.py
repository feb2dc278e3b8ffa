"""Visit endpoints: planning, assignment with the skill check, the field flow and lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.db import utcnow
from fsm.engineers.models import Engineer
from fsm.users.models import Role, User
from fsm.workorders.models import WorkOrder, WorkOrderStatus
from fsm.workorders.visit_models import Visit
from tests.auth_helpers import login
from tests.factories import make_engineer, make_skill
from tests.fsm.helpers import (
    assert_forbidden,
    assert_not_found,
    error_of,
    invalid_fields,
    signed_in,
    unknown_references,
)
from tests.fsm.wo_helpers import VISITS, WORK_ORDERS, move, open_order, parse_at, plan_visit

S = WorkOrderStatus


async def _staff(client: httpx.AsyncClient, session: AsyncSession) -> tuple[User, dict[str, str]]:
    return await signed_in(client, session, Role.DISPATCHER)


def _window(starts_at: datetime | None = None, hours: int = 4) -> dict[str, str]:
    start = starts_at or utcnow()
    return {
        "window_starts_at": start.isoformat(),
        "window_ends_at": (start + timedelta(hours=hours)).isoformat(),
    }


async def _plan(
    client: httpx.AsyncClient, headers: dict[str, str], wo: WorkOrder, **body: Any
) -> httpx.Response:
    payload = {"work_order_id": str(wo.id), "estimated_minutes": 90, **_window(), **body}
    return await client.post(VISITS, json=payload, headers=headers)


async def _report(
    client: httpx.AsyncClient, headers: dict[str, str], visit: Visit, status: str, **body: Any
) -> httpx.Response:
    return await client.post(
        f"{VISITS}/{visit.id}/status", json={"status": status, **body}, headers=headers
    )


async def _wo_status(client: httpx.AsyncClient, headers: dict[str, str], wo: WorkOrder) -> str:
    response = await client.get(f"{WORK_ORDERS}/{wo.id}", headers=headers)
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


class TestPlanVisit:
    async def test_refuses_a_window_without_a_utc_offset(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff = await _staff(client, session)
        wo = await open_order(session)
        await session.commit()

        response = await _plan(
            client,
            staff,
            wo,
            window_starts_at="2026-11-24T08:00:00",
            window_ends_at="2026-11-24T12:00:00+01:00",
        )

        assert invalid_fields(response) == ["window_starts_at"]
        planned = await session.scalar(
            select(func.count()).select_from(Visit).where(Visit.work_order_id == wo.id)
        )
        assert planned == 0

    async def test_refuses_a_planned_start_without_a_utc_offset(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user, staff = await _staff(client, session)
        engineer = await make_engineer(session)
        visit = await plan_visit(session, await open_order(session), actor=user)
        await session.commit()

        response = await client.post(
            f"{VISITS}/{visit.id}/assign",
            json={"engineer_id": str(engineer.id), "planned_start_at": "2026-11-24T09:00:00"},
            headers=staff,
        )

        assert invalid_fields(response) == ["planned_start_at"]

    async def test_work_orders_refuse_a_created_from_filter_without_offset(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff = await _staff(client, session)

        response = await client.get(
            WORK_ORDERS, params={"created_from": "2026-11-01T00:00:00"}, headers=staff
        )
        aware = await client.get(
            WORK_ORDERS, params={"created_from": "2026-11-01T00:00:00+00:00"}, headers=staff
        )

        assert invalid_fields(response) == ["created_from"]
        assert aware.status_code == 200, aware.text

    async def test_refuses_a_window_ending_before_it_starts(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff = await _staff(client, session)
        wo = await open_order(session)
        await session.commit()
        now = utcnow()

        response = await _plan(
            client,
            staff,
            wo,
            window_starts_at=now.isoformat(),
            window_ends_at=(now - timedelta(hours=1)).isoformat(),
        )

        assert invalid_fields(response) == ["window_ends_at"]

    async def test_refuses_a_resolved_order(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user, staff = await _staff(client, session)
        wo = await move(session, await open_order(session), S.RESOLVED, actor=user)
        await session.commit()

        response = await _plan(client, staff, wo)

        assert error_of(response, 409)["code"] == "work_order_not_open"

    async def test_refuses_a_closed_order(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user, staff = await _staff(client, session)
        wo = await move(session, await open_order(session), S.RESOLVED, S.CLOSED, actor=user)
        await session.commit()

        response = await _plan(client, staff, wo)

        error = error_of(response, 409)
        assert error["code"] == "work_order_not_open"
        assert wo.number in error["message"]

    async def test_skills_default_to_the_work_orders(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff = await _staff(client, session)
        await make_skill(session, "hvac")
        await make_skill(session, "electrical")
        wo = await open_order(session, skills=["hvac", "electrical"])
        await session.commit()

        response = await _plan(client, staff, wo)

        assert response.status_code == 201, response.text
        assert response.json()["required_skills"] == ["electrical", "hvac"]
        assert response.json()["status"] == "planned"
        assert response.json()["engineer_id"] is None

    async def test_own_skills_replace_the_work_orders(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff = await _staff(client, session)
        await make_skill(session, "hvac")
        await make_skill(session, "electrical")
        wo = await open_order(session, skills=["hvac"])
        await session.commit()

        response = await _plan(client, staff, wo, required_skills=["electrical"])

        assert response.status_code == 201, response.text
        assert response.json()["required_skills"] == ["electrical"]

    async def test_refuses_an_unknown_skill_naming_the_field(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff = await _staff(client, session)
        wo = await open_order(session)
        await session.commit()

        response = await _plan(client, staff, wo, required_skills=["teleportation"])

        assert unknown_references(response) == ["required_skills"]


class TestAssignVisit:
    async def _planned(
        self, session: AsyncSession, user: User, skills: list[str]
    ) -> tuple[WorkOrder, Visit]:
        for code in skills:
            await make_skill(session, code)
        wo = await open_order(session, skills=skills, actor=user)
        visit = await plan_visit(session, wo, actor=user)
        return wo, visit

    async def test_refuses_an_engineer_lacking_a_skill(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user, staff = await _staff(client, session)
        _, visit = await self._planned(session, user, ["gas", "hvac"])
        engineer = await make_engineer(session)
        await session.commit()

        response = await client.post(
            f"{VISITS}/{visit.id}/assign", json={"engineer_id": str(engineer.id)}, headers=staff
        )

        error = error_of(response, 409)
        assert error["code"] == "engineer_not_qualified"
        assert error["details"]["missing_skills"] == ["gas", "hvac"]

    async def test_assigning_schedules_the_work_order(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user, staff = await _staff(client, session)
        wo, visit = await self._planned(session, user, [])
        engineer = await make_engineer(session)
        await session.commit()
        start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

        response = await client.post(
            f"{VISITS}/{visit.id}/assign",
            json={"engineer_id": str(engineer.id), "planned_start_at": start.isoformat()},
            headers=staff,
        )

        assert response.status_code == 200, response.text
        assert response.json()["status"] == "assigned"
        assert response.json()["engineer_id"] == str(engineer.id)
        assert parse_at(response.json()["planned_start_at"]) == start
        assert await _wo_status(client, staff, wo) == "scheduled"

    async def test_reassigns_to_another_engineer(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user, staff = await _staff(client, session)
        first, second = await make_engineer(session), await make_engineer(session)
        wo, _ = await self._planned(session, user, [])
        visit = await plan_visit(session, wo, actor=user, engineer=first)
        await session.commit()

        response = await client.post(
            f"{VISITS}/{visit.id}/assign", json={"engineer_id": str(second.id)}, headers=staff
        )

        assert response.status_code == 200, response.text
        assert response.json()["engineer_id"] == str(second.id)
        trail = (await client.get(f"{VISITS}/{visit.id}/trail", headers=staff)).json()
        assert [(e["from_status"], e["to_status"]) for e in trail][-1] == ("assigned", "assigned")
        first_headers = await login(client, first.user)
        assert_not_found(await client.get(f"{VISITS}/{visit.id}", headers=first_headers))

    async def test_refuses_an_unknown_engineer(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user, staff = await _staff(client, session)
        _, visit = await self._planned(session, user, [])
        await session.commit()

        response = await client.post(
            f"{VISITS}/{visit.id}/assign",
            json={"engineer_id": "00000000-0000-0000-0000-000000000000"},
            headers=staff,
        )

        assert unknown_references(response) == ["engineer_id"]

    async def test_engineer_may_not_assign(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user, _ = await _staff(client, session)
        engineer = await make_engineer(session)
        _, visit = await self._planned(session, user, [])
        await session.commit()

        response = await client.post(
            f"{VISITS}/{visit.id}/assign",
            json={"engineer_id": str(engineer.id)},
            headers=await login(client, engineer.user),
        )

        assert_forbidden(response)


class TestReportStatus:
    async def _assigned(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> tuple[WorkOrder, Visit, Engineer, dict[str, str], dict[str, str]]:
        user, staff = await _staff(client, session)
        engineer = await make_engineer(session)
        wo = await open_order(session, actor=user)
        visit = await plan_visit(session, wo, actor=user, engineer=engineer)
        await session.commit()
        return wo, visit, engineer, staff, await login(client, engineer.user)

    async def test_first_engineer_on_the_way_starts_the_work_order(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        wo, visit, _, staff, eng = await self._assigned(client, session)
        assert await _wo_status(client, staff, wo) == "scheduled"

        response = await _report(client, eng, visit, "en_route")

        assert response.status_code == 200, response.text
        assert response.json()["status"] == "en_route"
        assert await _wo_status(client, staff, wo) == "in_progress"

    async def test_trail_records_who_when_and_where(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, visit, engineer, staff, eng = await self._assigned(client, session)
        device_at = datetime(2026, 11, 23, 8, 15, tzinfo=UTC)

        await _report(
            client,
            eng,
            visit,
            "en_route",
            device_at=device_at.isoformat(),
            location={"lat": 52.51, "lon": 13.39},
            note="leaving depot",
        )

        response = await client.get(f"{VISITS}/{visit.id}/trail", headers=staff)
        assert response.status_code == 200, response.text
        last = response.json()[-1]
        assert (last["from_status"], last["to_status"]) == ("assigned", "en_route")
        assert last["actor_id"] == str(engineer.user_id)
        assert parse_at(last["device_at"]) == device_at
        assert last["location"] == {"lat": 52.51, "lon": 13.39}
        assert last["note"] == "leaving depot"

    async def test_engineer_reads_the_trail_of_their_visit(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, visit, _, _, eng = await self._assigned(client, session)

        response = await client.get(f"{VISITS}/{visit.id}/trail", headers=eng)

        assert response.status_code == 200, response.text
        assert [(e["from_status"], e["to_status"]) for e in response.json()] == [
            (None, "planned"),
            ("planned", "assigned"),
        ]

    async def test_completed_visit_moves_nowhere(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, visit, _, staff, eng = await self._assigned(client, session)
        for status in ("en_route", "on_site", "completed"):
            assert (await _report(client, eng, visit, status, labour_minutes=45)).status_code == 200

        response = await _report(client, staff, visit, "on_site")

        error = error_of(response, 409)
        assert error["code"] == "illegal_visit_transition"
        assert error["details"] == {"status": "completed", "allowed": []}

    async def test_planned_visit_cannot_jump_on_site(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user, staff = await _staff(client, session)
        visit = await plan_visit(session, await open_order(session, actor=user), actor=user)
        await session.commit()

        response = await _report(client, staff, visit, "on_site")

        error = error_of(response, 409)
        assert error["code"] == "illegal_visit_transition"
        assert error["details"]["allowed"] == ["assigned", "cancelled"]

    async def test_engineer_cannot_move_another_engineers_visit(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, visit, _, staff, _ = await self._assigned(client, session)
        other = await make_engineer(session)
        await session.commit()

        response = await _report(client, await login(client, other.user), visit, "en_route")

        assert_not_found(response)
        shown = await client.get(f"{VISITS}/{visit.id}", headers=staff)
        assert shown.json()["status"] == "assigned"

    async def test_engineer_cannot_cancel(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, visit, _, staff, eng = await self._assigned(client, session)

        response = await _report(client, eng, visit, "cancelled", note="too far")

        assert error_of(response, 403)["code"] == "forbidden"
        shown = await client.get(f"{VISITS}/{visit.id}", headers=staff)
        assert shown.json()["status"] == "assigned"

    async def test_dispatcher_cancels(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, visit, _, staff, _ = await self._assigned(client, session)

        response = await _report(client, staff, visit, "cancelled", note="client away")

        assert response.status_code == 200, response.text
        assert response.json()["status"] == "cancelled"


class TestListVisits:
    async def test_filters_by_local_day(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user, staff = await _staff(client, session)
        engineer = await make_engineer(session)
        wo = await open_order(session, actor=user)
        # 23:30 UTC on the 15th is 00:30 on the 16th in Berlin (winter time).
        late = await plan_visit(
            session,
            wo,
            actor=user,
            engineer=engineer,
            planned_start_at=datetime(2026, 1, 15, 23, 30, tzinfo=UTC),
        )
        early = await plan_visit(
            session,
            wo,
            actor=user,
            engineer=engineer,
            planned_start_at=datetime(2026, 1, 15, 9, 0, tzinfo=UTC),
        )
        await session.commit()

        in_berlin = await client.get(
            VISITS, params={"day": "2026-01-16", "timezone": "Europe/Berlin"}, headers=staff
        )
        in_utc = await client.get(VISITS, params={"day": "2026-01-15"}, headers=staff)

        assert [v["id"] for v in in_berlin.json()["items"]] == [str(late.id)]
        assert [v["id"] for v in in_utc.json()["items"]] == [str(early.id), str(late.id)]
        assert in_utc.json()["total"] == 2

    async def test_unassigned_visit_counts_on_its_window_day(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user, staff = await _staff(client, session)
        wo = await open_order(session, actor=user)
        visit = await plan_visit(
            session, wo, actor=user, window_starts_at=datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
        )
        await session.commit()

        on_day = await client.get(VISITS, params={"day": "2026-03-02"}, headers=staff)
        next_day = await client.get(VISITS, params={"day": "2026-03-03"}, headers=staff)

        assert [v["id"] for v in on_day.json()["items"]] == [str(visit.id)]
        assert next_day.json()["items"] == []

    async def test_refuses_an_unknown_timezone(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff = await _staff(client, session)

        response = await client.get(
            VISITS, params={"day": "2026-01-16", "timezone": "Berlin"}, headers=staff
        )

        assert invalid_fields(response) == ["timezone"]

    async def test_engineer_lists_only_their_own(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user, _ = await _staff(client, session)
        mine, theirs = await make_engineer(session), await make_engineer(session)
        wo = await open_order(session, actor=user)
        own = await plan_visit(session, wo, actor=user, engineer=mine)
        await plan_visit(session, wo, actor=user, engineer=theirs)
        await plan_visit(session, wo, actor=user)
        await session.commit()

        response = await client.get(VISITS, headers=await login(client, mine.user))

        assert response.status_code == 200, response.text
        assert [v["id"] for v in response.json()["items"]] == [str(own.id)]
        assert response.json()["total"] == 1

    async def test_client_may_not_list_visits(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, headers = await signed_in(client, session, Role.CLIENT)

        assert_forbidden(await client.get(VISITS, headers=headers))
