"""Insert and background-run endpoints: status codes and bodies; rules live in the service
tests (test_insert.py, test_runs.py)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dispatch.controller import start_dispatch_runs
from dispatch.models import DispatchPlan, DispatchPlanStatus
from dispatch.runs import DispatchRuns
from fsm.db import utcnow
from fsm.main.scheduler import run_dispatch_sweep
from fsm.settings import Settings
from fsm.users.models import Role
from fsm.workorders.visit_models import Visit
from tests.auth_helpers import login
from tests.dispatch.conftest import RunClient
from tests.dispatch.test_insert import report, urgent_visit
from tests.dispatch.test_service import SmallDay, small_day
from tests.factories import make_user
from tests.fsm.wo_helpers import principal_of, visits

PLANS = "/api/v1/dispatch/plans"


def next_week_monday() -> date:
    """A working day safely ahead, so the insert re-plans a day nobody has started yet."""
    today = date.today()
    return today + timedelta(days=7 + (7 - today.weekday()) % 7)


def body(day: date, **extra: Any) -> dict[str, Any]:
    return {"day": day.isoformat(), "timezone": "Europe/Berlin", "time_limit_s": 1, **extra}


async def committed_plan(
    http: httpx.AsyncClient, session: AsyncSession
) -> tuple[SmallDay, dict[str, str], dict[str, Any], date]:
    day_of = next_week_monday()
    day = await small_day(session, on=day_of)
    staff = await login(http, day.dispatcher)
    draft = (await http.post(PLANS, json=body(day_of), headers=staff)).json()
    r = await http.post(f"{PLANS}/{draft['id']}/commit", headers=staff)
    assert r.status_code == 200, r.text
    return day, staff, r.json(), day_of


async def until_done(
    http: httpx.AsyncClient, headers: dict[str, str], plan_id: str
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Poll the run's status until it has left `solving`; every answer seen, then the plan."""
    seen: list[dict[str, Any]] = []
    for _ in range(600):
        r = await http.get(f"{PLANS}/{plan_id}/status", headers=headers)
        assert r.status_code == 200, r.text
        seen.append(r.json())
        if seen[-1]["status"] != "solving":
            plan = await http.get(f"{PLANS}/{plan_id}", headers=headers)
            return seen, plan.json()
        await asyncio.sleep(0.05)
    raise AssertionError("the run never left solving")


class TestInsertVisits:
    async def test_returns_a_draft_with_the_urgent_visit_routed_and_commits_it(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        day, staff, base, day_of = await committed_plan(client, session)
        urgent = await urgent_visit(session, day, on=day_of)
        r = await client.post(
            f"{PLANS}/{base['id']}/insert",
            json={"visit_ids": [str(urgent.id)], "time_limit_s": 1},
            headers=staff,
        )
        assert r.status_code == 201, r.text
        plan = r.json()
        assert (plan["kind"], plan["status"], plan["base_plan_id"]) == (
            "insert",
            "draft",
            base["id"],
        )
        routed = {s["visit_id"]: r["engineer_id"] for r in plan["routes"] for s in r["stops"]}
        assert str(urgent.id) in routed
        assert plan["metrics"]["served_count"] == 5
        assert all(s["explanation"] for r in plan["routes"] for s in r["stops"])
        r = await client.post(f"{PLANS}/{plan['id']}/commit", headers=staff)
        assert r.status_code == 200, r.text
        r = await client.get(f"/api/v1/visits/{urgent.id}", headers=staff)
        assert r.json()["status"] == "assigned"
        assert r.json()["engineer_id"] == routed[str(urgent.id)]
        r = await client.get(f"{PLANS}/{base['id']}", headers=staff)
        assert r.json()["status"] == "superseded"

    async def test_commit_is_409_when_a_visit_it_moves_was_reassigned_since(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        day, staff, base, day_of = await committed_plan(client, session)
        urgent = await urgent_visit(session, day, on=day_of)
        r = await client.post(
            f"{PLANS}/{base['id']}/insert",
            json={"visit_ids": [str(urgent.id)], "time_limit_s": 1},
            headers=staff,
        )
        plan = r.json()
        route, moved_id = next(
            (route, stop["visit_id"])
            for route in plan["routes"]
            for stop in route["stops"]
            if stop["visit_id"] not in (str(urgent.id), str(day.gas_visit.id))
        )
        elsewhere = next(
            e.id
            for e in (day.gas_engineer, day.other_engineer)
            if str(e.id) != route["engineer_id"]
        )
        await session.get(Visit, uuid.UUID(moved_id), populate_existing=True)
        await visits(session).assign(
            uuid.UUID(moved_id), elsewhere, actor=principal_of(day.dispatcher)
        )
        await session.commit()
        r = await client.post(f"{PLANS}/{plan['id']}/commit", headers=staff)
        assert r.status_code == 409, r.text
        assert r.json()["error"]["code"] == "plan_outdated"
        assert r.json()["error"]["details"]["visit_ids"] == [moved_id]

    async def test_visits_not_insertable_are_422_naming_the_field(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        day, staff, base, day_of = await committed_plan(client, session)
        urgent = await urgent_visit(session, day, on=day_of)
        cancelled = await urgent_visit(session, day, on=day_of)
        await report(session, day, cancelled.id, "cancelled")
        r = await client.post(
            f"{PLANS}/{base['id']}/insert",
            json={"visit_ids": [str(urgent.id), str(cancelled.id), str(uuid.uuid4())]},
            headers=staff,
        )
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert error["code"] == "validation_error"
        assert [d["field"] for d in error["details"]] == ["visit_ids[1]", "visit_ids[2]"]

    async def test_an_empty_list_is_422(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff, base, _ = await committed_plan(client, session)
        r = await client.post(f"{PLANS}/{base['id']}/insert", json={"visit_ids": []}, headers=staff)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["details"][0]["field"] == "visit_ids"

    async def test_unknown_plan_is_404(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        staff = await login(client, await make_user(session, role=Role.DISPATCHER))
        r = await client.post(
            f"{PLANS}/{uuid.uuid4()}/insert", json={"visit_ids": [str(uuid.uuid4())]}, headers=staff
        )
        assert r.status_code == 404, r.text

    async def test_a_draft_base_plan_is_409(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        day_of = next_week_monday()
        day = await small_day(session, on=day_of)
        staff = await login(client, day.dispatcher)
        draft = (await client.post(PLANS, json=body(day_of), headers=staff)).json()
        urgent = await urgent_visit(session, day, on=day_of)
        r = await client.post(
            f"{PLANS}/{draft['id']}/insert", json={"visit_ids": [str(urgent.id)]}, headers=staff
        )
        assert r.status_code == 409, r.text
        assert r.json()["error"]["code"] == "base_plan_not_committed"


class TestBackgroundRun:
    async def test_answers_202_then_goes_from_solving_to_draft_with_progress(
        self, run_client: RunClient, session: AsyncSession
    ) -> None:
        day_of = next_week_monday()
        day = await small_day(session, on=day_of)
        http = run_client.http
        staff = await login(http, day.dispatcher)
        r = await http.post(PLANS, json=body(day_of, background=True), headers=staff)
        assert r.status_code == 202, r.text
        accepted = r.json()
        assert accepted["status"] == "solving"
        assert accepted["routes"] == []
        assert accepted["progress"]["time_limit_s"] == 1
        assert r.headers["location"] == f"{PLANS}/{accepted['id']}"
        seen, plan = await until_done(http, staff, accepted["id"])
        assert [s["status"] for s in seen[:-1]] == ["solving"] * (len(seen) - 1)
        assert all(s["progress"]["time_limit_s"] == 1 for s in seen)
        assert plan["status"] == "draft"
        assert plan["progress"]["solutions_found"] >= 1
        assert plan["progress"]["best_objective"] == plan["metrics"]["objective"]
        assert plan["metrics"]["served_count"] == 4
        assert plan["finished_at"] is not None

    async def test_a_budget_above_the_sync_limit_goes_to_the_background(
        self, run_client: RunClient, session: AsyncSession
    ) -> None:
        day_of = next_week_monday()
        day = await small_day(session, on=day_of)
        http = run_client.http
        staff = await login(http, day.dispatcher)
        r = await http.post(PLANS, json=body(day_of, time_limit_s=2), headers=staff)
        assert r.status_code == 202, r.text
        _, plan = await until_done(http, staff, r.json()["id"])
        assert plan["status"] == "draft"

    async def test_refuses_a_run_beyond_the_limit_with_429_until_one_ends(
        self, run_client: RunClient, session: AsyncSession
    ) -> None:
        run_client.app.state.dispatch_runs = DispatchRuns(
            run_client.app.state.session_factory, max_concurrent=1, progress_every_s=0.2
        )
        day_of = next_week_monday()
        day = await small_day(session, on=day_of)
        http = run_client.http
        staff = await login(http, day.dispatcher)
        first = await http.post(PLANS, json=body(day_of, time_limit_s=2), headers=staff)
        assert first.status_code == 202, first.text
        r = await http.post(PLANS, json=body(day_of, time_limit_s=2), headers=staff)
        assert r.status_code == 429, r.text
        assert r.json()["error"]["code"] == "too_many_dispatch_runs"
        assert 1 <= int(r.headers["retry-after"]) <= 2
        # A quick plan solved while the dispatcher waits still goes through.
        r = await http.post(PLANS, json=body(day_of, time_limit_s=1), headers=staff)
        assert r.status_code == 201, r.text
        _, plan = await until_done(http, staff, first.json()["id"])
        assert plan["status"] == "draft"
        r = await http.post(PLANS, json=body(day_of, time_limit_s=2), headers=staff)
        assert r.status_code == 202, r.text
        await run_client.runs.wait()

    async def test_insert_runs_in_the_background_too(
        self, run_client: RunClient, session: AsyncSession
    ) -> None:
        day, staff, base, day_of = await committed_plan(run_client.http, session)
        urgent = await urgent_visit(session, day, on=day_of)
        r = await run_client.http.post(
            f"{PLANS}/{base['id']}/insert",
            json={"visit_ids": [str(urgent.id)], "background": True, "time_limit_s": 1},
            headers=staff,
        )
        assert r.status_code == 202, r.text
        _, plan = await until_done(run_client.http, staff, r.json()["id"])
        assert (plan["status"], plan["kind"]) == ("draft", "insert")
        assert str(urgent.id) in {s["visit_id"] for r in plan["routes"] for s in r["stops"]}

    async def test_a_run_left_solving_by_a_dead_process_reads_as_failed_and_is_swept(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:
        staff = await login(client, await make_user(session, role=Role.DISPATCHER))
        plan = DispatchPlan(
            day=next_week_monday(),
            timezone="Europe/Berlin",
            status=DispatchPlanStatus.SOLVING,
            solve_until_at=utcnow() - timedelta(hours=1),
        )
        session.add(plan)
        await session.commit()
        r = await client.get(f"{PLANS}/{plan.id}/status", headers=staff)
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["error"]) == ("failed", "interrupted")
        r = await client.get(f"{PLANS}/{plan.id}", headers=staff)
        assert r.json()["status"] == "failed"
        # A read writes nothing: the worker's sweep gives the row its failure.
        await session.refresh(plan)
        assert plan.status is DispatchPlanStatus.SOLVING
        assert await run_dispatch_sweep(settings, session_factory) == 1
        await session.refresh(plan)
        assert (plan.status, plan.error) == (DispatchPlanStatus.FAILED, "interrupted")

    async def test_start_up_fails_runs_a_dead_process_left_behind(
        self, run_client: RunClient, session: AsyncSession
    ) -> None:
        staff = await login(run_client.http, await make_user(session, role=Role.DISPATCHER))
        plan = DispatchPlan(
            day=next_week_monday(),
            timezone="Europe/Berlin",
            status=DispatchPlanStatus.SOLVING,
            solve_until_at=utcnow() - timedelta(hours=1),
        )
        session.add(plan)
        await session.commit()
        await start_dispatch_runs(run_client.app.state)
        await session.refresh(plan)
        assert (plan.status, plan.error) == (DispatchPlanStatus.FAILED, "interrupted")
        r = await run_client.http.get(f"{PLANS}/{plan.id}/status", headers=staff)
        assert r.json()["status"] == "failed"

    async def test_unknown_plan_status_is_404(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        staff = await login(client, await make_user(session, role=Role.ADMIN))
        r = await client.get(f"{PLANS}/{uuid.uuid4()}/status", headers=staff)
        assert r.status_code == 404, r.text


class TestRoles:
    @pytest.mark.parametrize("role", [Role.ENGINEER, Role.CLIENT])
    async def test_only_staff_may_insert_or_follow_runs(
        self, client: httpx.AsyncClient, session: AsyncSession, role: Role
    ) -> None:
        day_of = next_week_monday()
        day = await small_day(session, on=day_of)
        staff = await login(client, day.dispatcher)
        plan = (await client.post(PLANS, json=body(day_of), headers=staff)).json()
        await client.post(f"{PLANS}/{plan['id']}/commit", headers=staff)
        urgent = await urgent_visit(session, day, on=day_of)
        user = await make_user(session, role=role)
        await session.commit()
        headers = await login(client, user)
        r = await client.post(
            f"{PLANS}/{plan['id']}/insert", json={"visit_ids": [str(urgent.id)]}, headers=headers
        )
        assert r.status_code == 403, r.text
        r = await client.get(f"{PLANS}/{plan['id']}/status", headers=headers)
        assert r.status_code == 403, r.text
        r = await client.post(PLANS, json=body(day_of, background=True), headers=headers)
        assert r.status_code == 403, r.text
        # Nothing was inserted on their behalf.
        r = await client.get(f"/api/v1/visits/{urgent.id}", headers=staff)
        assert r.json()["status"] == "planned"
