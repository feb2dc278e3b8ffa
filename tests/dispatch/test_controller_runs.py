"""Insert and background-run endpoints: status codes and bodies; rules live in the service
tests (test_insert.py, test_runs.py)."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sys
import uuid
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dispatch.models import DispatchPlan, DispatchPlanStatus
from dispatch.runs import RUN_TASK
from dispatch.service import DispatchService
from fsm.db import utcnow
from fsm.main.scheduler import run_dispatch_sweep
from fsm.queue import InProcessQueue, ProcrastinateQueue, create_queue_app
from fsm.settings import Settings
from fsm.users.models import Role
from fsm.workorders.visit_models import Visit
from tests.auth_helpers import login
from tests.conftest import running_worker
from tests.dispatch.conftest import LiveDispatch
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
    http: httpx.AsyncClient, headers: dict[str, str], plan_id: str, *, attempts: int = 600
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Poll the run's status until it has left `solving`; every answer seen, then the plan."""
    seen: list[dict[str, Any]] = []
    for _ in range(attempts):
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


_live_weeks = itertools.count(1)


async def live_day(live: LiveDispatch) -> tuple[SmallDay, date, dict[str, str]]:
    """A small day of its own on the live database (a week no other test plans), signed in."""
    day_of = next_week_monday() + timedelta(weeks=next(_live_weeks))
    async with live.factory() as session:
        day = await small_day(session, on=day_of, skill=f"gas-{uuid.uuid4().hex[:8]}")
    return day, day_of, await login(live.http, day.dispatcher)


def engineers_of(day: SmallDay) -> list[str]:
    return [str(day.gas_engineer.id), str(day.other_engineer.id)]


class TestBackgroundRun:
    """The whole path: the answer defers a job on the PostgreSQL queue, a worker solves it."""

    async def test_answers_202_then_a_worker_takes_it_from_solving_to_draft_with_progress(
        self, live_dispatch: LiveDispatch
    ) -> None:
        day, day_of, staff = await live_day(live_dispatch)
        http = live_dispatch.http
        r = await http.post(
            PLANS,
            json=body(day_of, background=True, engineer_ids=engineers_of(day)),
            headers=staff,
        )
        assert r.status_code == 202, r.text
        accepted = r.json()
        assert accepted["status"] == "solving"
        assert accepted["routes"] == []
        assert accepted["progress"]["time_limit_s"] == 1
        assert r.headers["location"] == f"{PLANS}/{accepted['id']}"
        # Nobody solves it until a worker runs: the job waits in the queue.
        await asyncio.sleep(0.5)
        r = await http.get(f"{PLANS}/{accepted['id']}/status", headers=staff)
        assert r.json()["status"] == "solving"
        async with running_worker(live_dispatch.settings):
            seen, plan = await until_done(http, staff, accepted["id"])
        assert [s["status"] for s in seen[:-1]] == ["solving"] * (len(seen) - 1)
        assert all(s["progress"]["time_limit_s"] == 1 for s in seen)
        assert plan["status"] == "draft"
        assert plan["progress"]["solutions_found"] >= 1
        assert plan["progress"]["best_objective"] == plan["metrics"]["objective"]
        assert plan["metrics"]["served_count"] == 4
        assert plan["finished_at"] is not None
        assert await _jobs(live_dispatch, "succeeded", uuid.UUID(accepted["id"])) == 1

    async def test_a_budget_above_the_sync_limit_goes_to_the_worker(
        self, live_dispatch: LiveDispatch
    ) -> None:
        day, day_of, staff = await live_day(live_dispatch)
        http = live_dispatch.http
        async with running_worker(live_dispatch.settings):
            r = await http.post(
                PLANS,
                json=body(day_of, time_limit_s=2, engineer_ids=engineers_of(day)),
                headers=staff,
            )
            assert r.status_code == 202, r.text
            _, plan = await until_done(http, staff, r.json()["id"])
        assert plan["status"] == "draft"

    async def test_refuses_a_run_beyond_the_limit_with_429_until_one_ends(
        self, live_dispatch: LiveDispatch
    ) -> None:
        day, day_of, staff = await live_day(live_dispatch)
        http = live_dispatch.http
        slow = body(day_of, time_limit_s=2, engineer_ids=engineers_of(day))
        settings = live_dispatch.settings
        assert settings.solver.max_concurrent_runs == 2
        first = await http.post(PLANS, json=slow, headers=staff)
        second = await http.post(PLANS, json=slow, headers=staff)
        assert (first.status_code, second.status_code) == (202, 202), second.text
        r = await http.post(PLANS, json=slow, headers=staff)
        assert r.status_code == 429, r.text
        assert r.json()["error"]["code"] == "too_many_dispatch_runs"
        assert r.json()["error"]["details"] == {"max_concurrent_runs": 2}
        assert 1 <= int(r.headers["retry-after"]) <= 2
        # A quick plan solved while the dispatcher waits still goes through.
        quick = body(day_of, time_limit_s=1, engineer_ids=engineers_of(day))
        r = await http.post(PLANS, json=quick, headers=staff)
        assert r.status_code == 201, r.text
        async with running_worker(settings):
            _, plan = await until_done(http, staff, first.json()["id"])
            assert plan["status"] == "draft"
            await until_done(http, staff, second.json()["id"])
            r = await http.post(PLANS, json=slow, headers=staff)
            assert r.status_code == 202, r.text
            _, plan = await until_done(http, staff, r.json()["id"])
        assert plan["status"] == "draft"

    async def test_insert_runs_on_the_worker_too(self, live_dispatch: LiveDispatch) -> None:
        day, day_of, staff = await live_day(live_dispatch)
        http = live_dispatch.http
        draft = (
            await http.post(PLANS, json=body(day_of, engineer_ids=engineers_of(day)), headers=staff)
        ).json()
        r = await http.post(f"{PLANS}/{draft['id']}/commit", headers=staff)
        assert r.status_code == 200, r.text
        async with live_dispatch.factory() as session:
            urgent = await urgent_visit(session, day, on=day_of)
        async with running_worker(live_dispatch.settings):
            r = await http.post(
                f"{PLANS}/{draft['id']}/insert",
                json={"visit_ids": [str(urgent.id)], "background": True, "time_limit_s": 1},
                headers=staff,
            )
            assert r.status_code == 202, r.text
            _, plan = await until_done(http, staff, r.json()["id"])
        assert (plan["status"], plan["kind"]) == ("draft", "insert")
        assert str(urgent.id) in {s["visit_id"] for r in plan["routes"] for s in r["stops"]}

    async def test_a_run_whose_job_was_lost_is_queued_again_by_the_sweep_and_solved(
        self, live_dispatch: LiveDispatch
    ) -> None:
        """The API process died between its commit and the defer: the run is solved all the
        same, once."""
        day, day_of, _ = await live_day(live_dispatch)
        async with live_dispatch.factory() as session:
            service = DispatchService(session, visits(session), live_dispatch.settings.solver)
            plan = await service.draft(
                day_of,
                "Europe/Berlin",
                actor=principal_of(day.dispatcher),
                engineer_ids=[day.gas_engineer.id, day.other_engineer.id],
                background=True,
            )
            plan.created_at = utcnow() - timedelta(minutes=1)
            await session.commit()
        settings = live_dispatch.settings
        queue_app = create_queue_app(settings.database, pool_size=1)
        async with queue_app.open_async():
            queue = ProcrastinateQueue(queue_app)
            assert await run_dispatch_sweep(settings, live_dispatch.factory, queue) == 0
            # A second sweep while the first job still waits queues nothing more.
            await run_dispatch_sweep(settings, live_dispatch.factory, queue)
        assert await _jobs(live_dispatch, "todo", plan.id) == 1
        async with running_worker(settings):
            await _until_stored(live_dispatch, plan.id)
        assert await _jobs(live_dispatch, "succeeded", plan.id) == 1

    async def test_a_worker_killed_mid_run_leaves_it_to_another_that_solves_it_once(
        self, live_dispatch: LiveDispatch
    ) -> None:
        day, day_of, staff = await live_day(live_dispatch)
        http = live_dispatch.http
        r = await http.post(
            PLANS,
            json=body(day_of, time_limit_s=8, engineer_ids=engineers_of(day)),
            headers=staff,
        )
        assert r.status_code == 202, r.text
        plan_id = uuid.UUID(r.json()["id"])
        settings = live_dispatch.settings
        env = {
            **os.environ,
            "FSM_ENV": "test",
            "FSM_DATABASE_URL": settings.database.url,
            "FSM_SMTP_PORT": str(settings.mail.smtp_port),
            "FSM_WORKER_HEARTBEAT_S": "0.5",
            "FSM_WORKER_STALLED_AFTER_S": "2",
        }
        doomed = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "fsm.main.cli", "worker", "--name", "doomed"),
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            first_claim = await _until_solving(live_dispatch, plan_id)
            doomed.send_signal(signal.SIGKILL)
            await doomed.wait()
            assert await _jobs(live_dispatch, "doing", plan_id) == 1  # left by the dead worker
            async with running_worker(settings):
                _, plan = await until_done(http, staff, str(plan_id), attempts=1200)
        finally:
            if doomed.returncode is None:
                doomed.kill()
                await doomed.wait()
        assert plan["status"] == "draft"
        assert plan["metrics"]["served_count"] == 4
        async with live_dispatch.factory() as session:
            stored = await session.get(DispatchPlan, plan_id)
            assert stored is not None
            # The same job, retried, claimed it again; its budget ran anew from the retry.
            assert stored.run_job_id == first_claim[0]
            assert stored.solve_until_at is not None
            assert stored.solve_until_at > first_claim[1]
        assert await _jobs(live_dispatch, "succeeded", plan_id) == 1


async def _jobs(live: LiveDispatch, status: str, plan_id: uuid.UUID | None = None) -> int:
    """Dispatch run jobs in this state (of one plan, or of any)."""
    async with live.factory() as session:
        count = await session.scalar(
            text(
                "SELECT count(*) FROM procrastinate_jobs WHERE task_name = :task "
                "AND status::text = :status AND (:plan = '' OR args->>'plan_id' = :plan)"
            ),
            {"task": RUN_TASK, "status": status, "plan": str(plan_id or "")},
        )
    return int(count or 0)


async def _until_solving(live: LiveDispatch, plan_id: uuid.UUID) -> tuple[int, datetime]:
    """Until a worker has claimed the run and its thread started: (job id, budget end)."""
    async with asyncio.timeout(60):
        while True:
            async with live.factory() as session:
                plan = await session.get(DispatchPlan, plan_id)
                assert plan is not None
                if plan.run_job_id is not None and plan.solve_until_at is not None:
                    return plan.run_job_id, plan.solve_until_at
            await asyncio.sleep(0.1)


async def _until_stored(live: LiveDispatch, plan_id: uuid.UUID) -> None:
    async with asyncio.timeout(60):
        while True:
            async with live.factory() as session:
                plan = await session.get(DispatchPlan, plan_id)
                assert plan is not None
                if plan.status is not DispatchPlanStatus.SOLVING:
                    assert plan.status is DispatchPlanStatus.DRAFT, plan.error
                    return
            await asyncio.sleep(0.1)


class TestSweep:
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
        assert await run_dispatch_sweep(settings, session_factory, InProcessQueue({})) == 1
        await session.refresh(plan)
        assert (plan.status, plan.error) == (DispatchPlanStatus.FAILED, "interrupted")

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
