"""Visit rules: planning, assignment, the field flow and how the work order follows it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.db import utcnow
from fsm.errors import Forbidden, UnknownReference, ValidationFailed
from fsm.users.models import Role, User
from fsm.visits.service import (
    IllegalVisitTransition,
    StatusReport,
    VisitDraft,
    VisitIncomplete,
)
from fsm.workorders.models import WorkOrderEvent, WorkOrderStatus
from fsm.workorders.service import WorkOrderNotFound
from fsm.workorders.visit_models import Visit, VisitStatus, VisitStatusEvent
from tests.factories import make_engineer, make_site, make_skill, make_user
from tests.fsm.wo_helpers import move, open_order, plan_visit, principal_of, visits, work_orders

S = WorkOrderStatus
V = VisitStatus


async def _staff(session: AsyncSession) -> User:
    return await make_user(session, role=Role.DISPATCHER)


async def _trail(session: AsyncSession, visit: Visit) -> list[tuple[V | None, V]]:
    rows = await session.scalars(
        select(VisitStatusEvent)
        .where(VisitStatusEvent.visit_id == visit.id)
        .order_by(VisitStatusEvent.id)
    )
    return [(e.from_status, e.to_status) for e in rows]


async def _report(
    session: AsyncSession,
    visit: Visit,
    status: V,
    actor: User,
    *,
    device_at: datetime | None = None,
    labour_minutes: int | None = None,
    note: str | None = None,
) -> Visit:
    report = StatusReport(
        status=status, device_at=device_at, labour_minutes=labour_minutes, note=note
    )
    return await visits(session).report_status(visit.id, report, actor=principal_of(actor))


class TestPlan:
    async def test_refuses_an_empty_window(self, session: AsyncSession) -> None:
        staff = await _staff(session)
        wo = await open_order(session, actor=staff)
        at = utcnow()

        with pytest.raises(ValidationFailed) as raised:
            await visits(session).create(
                VisitDraft(
                    work_order_id=wo.id,
                    window_starts_at=at,
                    window_ends_at=at,
                    estimated_minutes=30,
                ),
                actor=principal_of(staff),
            )

        assert raised.value.details == [
            {"field": "window_ends_at", "message": "must be after window_starts_at"}
        ]

    async def test_logs_the_plan_and_starts_the_trail(self, session: AsyncSession) -> None:
        staff = await _staff(session)
        wo = await open_order(session, actor=staff)

        visit = await plan_visit(session, wo, actor=staff)

        assert await _trail(session, visit) == [(None, V.PLANNED)]
        event = await session.scalar(
            select(WorkOrderEvent).where(
                WorkOrderEvent.work_order_id == wo.id, WorkOrderEvent.kind == "visit_planned"
            )
        )
        assert event is not None
        assert event.visibility.value == "public"
        assert event.data["visit_id"] == str(visit.id)

    async def test_skills_are_copied_not_shared(self, session: AsyncSession) -> None:
        staff = await _staff(session)
        await make_skill(session, "hvac")
        await make_skill(session, "gas")
        wo = await open_order(session, actor=staff, skills=["hvac"])
        visit = await plan_visit(session, wo, actor=staff)

        await work_orders(session).update_details(
            wo.id, actor=principal_of(staff), required_skills=["gas"]
        )

        await session.refresh(visit, ["required_skills"])
        assert [s.code for s in visit.required_skills] == ["hvac"]


class TestAssign:
    async def test_reassigning_records_both_steps(self, session: AsyncSession) -> None:
        staff = await _staff(session)
        first, second = await make_engineer(session), await make_engineer(session)
        visit = await plan_visit(session, await open_order(session), actor=staff, engineer=first)

        visit = await visits(session).assign(visit.id, second.id, actor=principal_of(staff))

        assert visit.engineer_id == second.id
        assert await _trail(session, visit) == [
            (None, V.PLANNED),
            (V.PLANNED, V.ASSIGNED),
            (V.ASSIGNED, V.ASSIGNED),
        ]

    async def test_engineer_reassigned_away_loses_the_work_order(
        self, session: AsyncSession
    ) -> None:
        staff = await _staff(session)
        first, second = await make_engineer(session), await make_engineer(session)
        wo = await open_order(session, actor=staff)
        visit = await plan_visit(session, wo, actor=staff, engineer=first)

        await visits(session).assign(visit.id, second.id, actor=principal_of(staff))

        with pytest.raises(WorkOrderNotFound):
            await work_orders(session).get(wo.id, viewer=principal_of(first.user))
        seen = await work_orders(session).get(wo.id, viewer=principal_of(second.user))
        assert seen.id == wo.id

    async def test_refuses_a_visit_under_way(self, session: AsyncSession) -> None:
        staff = await _staff(session)
        engineer, other = await make_engineer(session), await make_engineer(session)
        visit = await plan_visit(session, await open_order(session), actor=staff, engineer=engineer)
        await _report(session, visit, V.EN_ROUTE, engineer.user)

        with pytest.raises(IllegalVisitTransition) as raised:
            await visits(session).assign(visit.id, other.id, actor=principal_of(staff))

        assert raised.value.details == {"status": "en_route"}

    async def test_refuses_an_inactive_engineer(self, session: AsyncSession) -> None:
        staff = await _staff(session)
        engineer = await make_engineer(session)
        engineer.user.is_active = False
        visit = await plan_visit(session, await open_order(session), actor=staff)

        with pytest.raises(UnknownReference) as raised:
            await visits(session).assign(visit.id, engineer.id, actor=principal_of(staff))

        assert raised.value.details[0]["field"] == "engineer_id"

    async def test_reopened_order_is_scheduled_again(self, session: AsyncSession) -> None:
        staff = await _staff(session)
        engineer = await make_engineer(session)
        wo = await move(session, await open_order(session), S.RESOLVED, S.REOPENED, actor=staff)

        await plan_visit(session, wo, actor=staff, engineer=engineer)

        assert wo.status is S.SCHEDULED

    async def test_order_on_hold_stays_on_hold(self, session: AsyncSession) -> None:
        staff = await _staff(session)
        engineer = await make_engineer(session)
        wo = await move(session, await open_order(session), S.ON_HOLD, actor=staff)

        await plan_visit(session, wo, actor=staff, engineer=engineer)

        assert wo.status is S.ON_HOLD


class TestReportStatus:
    async def test_unassigning_clears_engineer_and_start(self, session: AsyncSession) -> None:
        staff = await _staff(session)
        engineer = await make_engineer(session)
        visit = await plan_visit(
            session,
            await open_order(session),
            actor=staff,
            engineer=engineer,
            planned_start_at=utcnow() + timedelta(days=1),
        )

        visit = await _report(session, visit, V.PLANNED, staff)

        assert (visit.status, visit.engineer_id, visit.planned_start_at) == (
            V.PLANNED,
            None,
            None,
        )

    async def test_completion_takes_the_device_time_and_labour(self, session: AsyncSession) -> None:
        staff = await _staff(session)
        engineer = await make_engineer(session)
        visit = await plan_visit(session, await open_order(session), actor=staff, engineer=engineer)
        done_at = datetime(2026, 11, 23, 11, 5, tzinfo=UTC)
        await _report(session, visit, V.EN_ROUTE, engineer.user)
        await _report(session, visit, V.ON_SITE, engineer.user)

        visit = await _report(
            session, visit, V.COMPLETED, engineer.user, device_at=done_at, labour_minutes=75
        )

        assert (visit.completed_at, visit.labour_minutes) == (done_at, 75)

    async def test_completion_without_labour_time_is_refused_and_changes_nothing(
        self, session: AsyncSession
    ) -> None:
        staff = await _staff(session)
        engineer = await make_engineer(session)
        visit = await plan_visit(session, await open_order(session), actor=staff, engineer=engineer)
        await _report(session, visit, V.EN_ROUTE, engineer.user)
        await _report(session, visit, V.ON_SITE, engineer.user)

        with pytest.raises(VisitIncomplete) as refused:
            await _report(session, visit, V.COMPLETED, engineer.user)

        assert [m["kind"] for m in refused.value.details["missing"]] == ["labour_time"]
        assert visit.status is V.ON_SITE

    async def test_cancelling_keeps_the_reason(self, session: AsyncSession) -> None:
        staff = await _staff(session)
        visit = await plan_visit(session, await open_order(session), actor=staff)

        visit = await _report(session, visit, V.CANCELLED, staff, note="client cancelled")

        assert visit.status is V.CANCELLED
        assert visit.cancel_reason == "client cancelled"

    async def test_a_cancelled_work_order_cancels_its_open_visits_on_their_trail(
        self, session: AsyncSession
    ) -> None:
        staff = await _staff(session)
        engineer = await make_engineer(session)
        order = await open_order(session)
        open_visit = await plan_visit(session, order, actor=staff, engineer=engineer)
        done = await plan_visit(session, order, actor=staff)
        await _report(session, done, V.CANCELLED, staff, note="duplicate")

        await visits(session).transition_work_order(
            order.id, WorkOrderStatus.CANCELLED, actor=principal_of(staff), reason="withdrawn"
        )

        await session.refresh(open_visit)
        assert open_visit.status is V.CANCELLED
        assert open_visit.cancel_reason == "withdrawn"
        last = (
            await session.scalars(
                select(VisitStatusEvent)
                .where(VisitStatusEvent.visit_id == open_visit.id)
                .order_by(VisitStatusEvent.id.desc())
                .limit(1)
            )
        ).one()
        assert (last.from_status, last.to_status, last.note) == (
            V.ASSIGNED,
            V.CANCELLED,
            "withdrawn",
        )
        await session.refresh(done)
        assert done.cancel_reason == "duplicate"  # already over: left as it was

    async def test_engineer_cannot_unassign_themselves(self, session: AsyncSession) -> None:
        staff = await _staff(session)
        engineer = await make_engineer(session)
        visit = await plan_visit(session, await open_order(session), actor=staff, engineer=engineer)

        with pytest.raises(Forbidden):
            await _report(session, visit, V.PLANNED, engineer.user)

    async def test_completing_every_visit_leaves_resolving_to_a_person(
        self, session: AsyncSession
    ) -> None:
        staff = await _staff(session)
        engineer = await make_engineer(session)
        wo = await open_order(session, actor=staff)
        visit = await plan_visit(session, wo, actor=staff, engineer=engineer)

        for status in (V.EN_ROUTE, V.ON_SITE, V.COMPLETED):
            await _report(session, visit, status, engineer.user, labour_minutes=40)

        assert wo.status is S.IN_PROGRESS
        assert await work_orders(session).open_visit_count(wo.id) == 0

    async def test_going_straight_on_site_starts_the_work_order(
        self, session: AsyncSession
    ) -> None:
        staff = await _staff(session)
        engineer = await make_engineer(session)
        wo = await open_order(session, actor=staff)
        visit = await plan_visit(session, wo, actor=staff, engineer=engineer)

        await _report(session, visit, V.ON_SITE, engineer.user)

        assert wo.status is S.IN_PROGRESS


class TestCannotComplete:
    async def test_the_follow_up_keeps_local_hours_across_a_dst_change(
        self, session: AsyncSession
    ) -> None:
        berlin = ZoneInfo("Europe/Berlin")
        staff = await _staff(session)
        engineer = await make_engineer(session)
        order = await open_order(session, site=await make_site(session, timezone="Europe/Berlin"))
        # Saturday 09:00 in Berlin; the clocks go forward that night (CET -> CEST).
        starts = datetime(2027, 3, 27, 9, 0, tzinfo=berlin)
        visit = await plan_visit(
            session, order, actor=staff, engineer=engineer, window_starts_at=starts
        )
        actor = principal_of(engineer.user)
        await visits(session).report_status(visit.id, StatusReport(status=V.ON_SITE), actor=actor)

        _, follow_up = await visits(session).report_cannot_complete(
            visit.id, StatusReport(status=V.CANCELLED), reason="parts_needed", actor=actor
        )

        local_start = follow_up.window_starts_at.astimezone(berlin)
        local_end = follow_up.window_ends_at.astimezone(berlin)
        assert (local_start.date(), local_start.hour, local_start.minute) == (
            datetime(2027, 3, 28).date(),
            9,
            0,
        )
        assert (local_end.hour, local_end.minute) == (13, 0)
        assert follow_up.window_starts_at == datetime(2027, 3, 28, 7, 0, tzinfo=UTC)

    async def test_a_utc_site_moves_by_whole_days(self, session: AsyncSession) -> None:
        staff = await _staff(session)
        engineer = await make_engineer(session)
        order = await open_order(session, site=await make_site(session, timezone="UTC"))
        starts = datetime(2027, 3, 27, 9, 0, tzinfo=UTC)
        visit = await plan_visit(
            session, order, actor=staff, engineer=engineer, window_starts_at=starts
        )
        actor = principal_of(engineer.user)
        await visits(session).report_status(visit.id, StatusReport(status=V.ON_SITE), actor=actor)

        _, follow_up = await visits(session).report_cannot_complete(
            visit.id, StatusReport(status=V.CANCELLED), reason="no_access", actor=actor
        )

        assert follow_up.window_starts_at == starts + timedelta(days=1)
