"""Work-order rules: opening, the status flow, reopening, priorities, comments and edits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.db import utcnow
from fsm.errors import Forbidden, InvalidState
from fsm.users.models import Role, User
from fsm.workorders.models import (
    Channel,
    Priority,
    WorkOrder,
    WorkOrderEvent,
    WorkOrderStatus,
    WorkOrderType,
)
from fsm.workorders.service import (
    IllegalTransition,
    ReopenWindowClosed,
    WorkOrderDraft,
)
from tests.factories import make_engineer, make_policy, make_site, make_user
from tests.fsm.wo_helpers import (
    event_kinds,
    move,
    open_order,
    plan_visit,
    principal_of,
    work_orders,
)

S = WorkOrderStatus

# The moves a person may make, as the product defines them.
ALLOWED: dict[S, list[str]] = {
    S.NEW: ["cancelled", "in_progress", "on_hold", "resolved", "scheduled"],
    S.SCHEDULED: ["cancelled", "in_progress", "new", "on_hold", "resolved"],
    S.IN_PROGRESS: ["cancelled", "on_hold", "resolved", "scheduled"],
    S.ON_HOLD: ["cancelled", "in_progress", "new", "scheduled"],
    S.RESOLVED: ["closed", "reopened"],
    S.REOPENED: ["cancelled", "in_progress", "on_hold", "resolved", "scheduled"],
    S.CLOSED: [],
    S.CANCELLED: [],
}
PATH_TO: dict[S, tuple[S, ...]] = {
    S.NEW: (),
    S.SCHEDULED: (S.SCHEDULED,),
    S.IN_PROGRESS: (S.IN_PROGRESS,),
    S.ON_HOLD: (S.ON_HOLD,),
    S.RESOLVED: (S.RESOLVED,),
    S.REOPENED: (S.RESOLVED, S.REOPENED),
    S.CLOSED: (S.RESOLVED, S.CLOSED),
    S.CANCELLED: (S.CANCELLED,),
}
ILLEGAL = [(old, new) for old in S for new in S if new is not old and new.value not in ALLOWED[old]]


async def _staff(session: AsyncSession) -> User:
    return await make_user(session, role=Role.DISPATCHER)


async def _events(session: AsyncSession, wo: WorkOrder, kind: str) -> list[WorkOrderEvent]:
    rows = await session.scalars(
        select(WorkOrderEvent)
        .where(WorkOrderEvent.work_order_id == wo.id, WorkOrderEvent.kind == kind)
        .order_by(WorkOrderEvent.id)
    )
    return list(rows)


class TestCreate:
    async def test_client_gets_normal_priority_through_its_app(self, session: AsyncSession) -> None:
        site = await make_site(session)
        user = await make_user(session, role=Role.CLIENT, client_id=site.client_id)
        draft = WorkOrderDraft(
            site_id=site.id,
            type=WorkOrderType.REPAIR,
            title="Leak",
            priority=Priority.CRITICAL,
            channel=Channel.PHONE,
        )

        wo = await work_orders(session).create(draft, actor=principal_of(user))

        assert (wo.priority, wo.channel, wo.client_id) == (
            Priority.NORMAL,
            Channel.CLIENT_APP,
            site.client_id,
        )

    async def test_engineer_may_not_open_one(self, session: AsyncSession) -> None:
        site = await make_site(session)
        engineer = await make_engineer(session)
        draft = WorkOrderDraft(site_id=site.id, type=WorkOrderType.REPAIR, title="Leak")

        with pytest.raises(Forbidden):
            await work_orders(session).create(draft, actor=principal_of(engineer.user))

    async def test_logs_a_public_creation_with_the_number(self, session: AsyncSession) -> None:
        wo = await open_order(session, title="  Door stuck  ")

        [event] = await _events(session, wo, "created")

        assert event.visibility.value == "public"
        assert event.data == {"number": wo.number}
        assert wo.title == "Door stuck"

    async def test_numbers_follow_each_other(self, session: AsyncSession) -> None:
        first = await open_order(session)
        second = await open_order(session)

        year, n = first.number.rsplit("-", 1)
        assert second.number == f"{year}-{int(n) + 1:06d}"

    async def test_starts_the_clock_of_the_default_policy(self, session: AsyncSession) -> None:
        await make_policy(session, is_default=False, reaction_minutes=5)
        default = await make_policy(session, reaction_minutes=90)

        wo = await open_order(session)

        assert wo.sla_policy_id == default.id
        assert wo.reaction_due_at == wo.created_at + timedelta(minutes=90)


class TestTransition:
    @pytest.mark.parametrize(("old", "new"), ILLEGAL, ids=[f"{o}->{n}" for o, n in ILLEGAL])
    async def test_refuses_a_move_outside_the_flow(
        self, session: AsyncSession, old: S, new: S
    ) -> None:
        staff = await _staff(session)
        wo = await move(session, await open_order(session, actor=staff), *PATH_TO[old], actor=staff)

        with pytest.raises(IllegalTransition) as raised:
            await work_orders(session).transition(wo.id, new, actor=principal_of(staff))

        assert raised.value.details == {"status": old.value, "allowed": ALLOWED[old]}
        assert wo.status is old

    async def test_logs_a_public_status_change_and_the_reason_apart(
        self, session: AsyncSession
    ) -> None:
        staff = await _staff(session)
        wo = await open_order(session, actor=staff)

        await work_orders(session).transition(
            wo.id,
            S.ON_HOLD,
            actor=principal_of(staff),
            reason="waiting for overdue payment",
            client_message="parts on order",
        )

        [public] = await _events(session, wo, "status_changed")
        assert public.visibility.value == "public"
        assert public.data == {"from": "new", "to": "on_hold", "message": "parts on order"}
        [internal] = await _events(session, wo, "status_reason")
        assert internal.visibility.value == "internal"
        assert internal.data == {"to": "on_hold", "reason": "waiting for overdue payment"}
        assert wo.status_before_hold is S.NEW

    async def test_a_reason_alone_tells_the_client_nothing(self, session: AsyncSession) -> None:
        staff = await _staff(session)
        wo = await open_order(session, actor=staff)

        await work_orders(session).transition(
            wo.id, S.ON_HOLD, actor=principal_of(staff), reason="waiting for overdue payment"
        )

        [public] = await _events(session, wo, "status_changed")
        assert public.data == {"from": "new", "to": "on_hold"}

    async def test_resolving_stops_the_clock(self, session: AsyncSession) -> None:
        await make_policy(session)
        staff = await _staff(session)

        wo = await move(session, await open_order(session, actor=staff), S.RESOLVED, actor=staff)

        assert wo.resolved_at is not None
        assert wo.sla_next_due_at is None
        assert wo.first_response_at == wo.resolved_at

    async def test_closing_stamps_the_instant(self, session: AsyncSession) -> None:
        staff = await _staff(session)

        wo = await move(
            session, await open_order(session, actor=staff), S.RESOLVED, S.CLOSED, actor=staff
        )

        assert wo.closed_at is not None
        assert wo.status is S.CLOSED


class TestReopen:
    async def test_reopens_just_inside_the_window(self, session: AsyncSession) -> None:
        staff = await _staff(session)
        wo = await move(session, await open_order(session, actor=staff), S.RESOLVED, actor=staff)
        wo.resolved_at = utcnow() - timedelta(days=7) + timedelta(minutes=5)

        wo = await work_orders(session).reopen(wo.id, actor=principal_of(staff))

        assert (wo.status, wo.reopen_count, wo.resolved_at) == (S.REOPENED, 1, None)

    async def test_refuses_just_outside_the_window(self, session: AsyncSession) -> None:
        staff = await _staff(session)
        wo = await move(session, await open_order(session, actor=staff), S.RESOLVED, actor=staff)
        resolved_at = utcnow() - timedelta(days=7, minutes=5)
        wo.resolved_at = resolved_at

        with pytest.raises(ReopenWindowClosed) as raised:
            await work_orders(session).reopen(wo.id, actor=principal_of(staff))

        assert raised.value.details == {
            "reopen_until": (resolved_at + timedelta(days=7)).isoformat()
        }

    async def test_counts_every_reopening(self, session: AsyncSession) -> None:
        staff = await _staff(session)
        wo = await open_order(session, actor=staff)

        wo = await move(session, wo, S.RESOLVED, S.REOPENED, S.RESOLVED, S.REOPENED, actor=staff)

        assert wo.reopen_count == 2

    async def test_resumes_the_clock(self, session: AsyncSession) -> None:
        await make_policy(session)
        staff = await _staff(session)

        wo = await move(
            session, await open_order(session, actor=staff), S.RESOLVED, S.REOPENED, actor=staff
        )

        assert wo.sla_next_due_at is not None
        assert all(p.resumed_at is not None for p in wo.pauses)


class TestChangePriority:
    async def test_logs_an_internal_event(self, session: AsyncSession) -> None:
        staff = await _staff(session)
        wo = await open_order(session, actor=staff)

        await work_orders(session).change_priority(wo.id, Priority.HIGH, actor=principal_of(staff))

        [event] = await _events(session, wo, "priority_changed")
        assert event.visibility.value == "internal"
        assert event.data == {"from": "normal", "to": "high"}

    async def test_same_priority_changes_nothing(self, session: AsyncSession) -> None:
        staff = await _staff(session)
        wo = await open_order(session, actor=staff)

        await work_orders(session).change_priority(
            wo.id, Priority.NORMAL, actor=principal_of(staff)
        )

        assert "priority_changed" not in await event_kinds(session, wo)


class TestAddComment:
    async def test_client_comment_is_no_reaction(self, session: AsyncSession) -> None:
        await make_policy(session)
        site = await make_site(session)
        user = await make_user(session, role=Role.CLIENT, client_id=site.client_id)
        wo = await open_order(session, site=site)

        await work_orders(session).add_comment(
            wo.id, "any news?", actor=principal_of(user), is_internal=False
        )

        assert wo.first_response_at is None

    async def test_engineer_comment_is_no_reaction(self, session: AsyncSession) -> None:
        await make_policy(session)
        staff = await _staff(session)
        engineer = await make_engineer(session)
        wo = await open_order(session, actor=staff)
        await plan_visit(session, wo, actor=staff, engineer=engineer)
        wo.first_response_at = None  # assigning counted as the reaction; forget it here

        await work_orders(session).add_comment(
            wo.id, "on my way", actor=principal_of(engineer.user), is_internal=False
        )

        assert wo.first_response_at is None

    async def test_internal_comment_logs_an_internal_event(self, session: AsyncSession) -> None:
        staff = await _staff(session)
        wo = await open_order(session, actor=staff)

        comment = await work_orders(session).add_comment(
            wo.id, "client is difficult", actor=principal_of(staff), is_internal=True
        )

        [event] = await _events(session, wo, "comment_added")
        assert event.visibility.value == "internal"
        assert event.data == {"comment_id": str(comment.id)}

    async def test_client_may_not_write_internal_comments(self, session: AsyncSession) -> None:
        site = await make_site(session)
        user = await make_user(session, role=Role.CLIENT, client_id=site.client_id)
        wo = await open_order(session, site=site)

        with pytest.raises(Forbidden):
            await work_orders(session).add_comment(
                wo.id, "psst", actor=principal_of(user), is_internal=True
            )


class TestUpdateDetails:
    @pytest.mark.parametrize("path", [(S.CANCELLED,), (S.RESOLVED, S.CLOSED)])
    async def test_refuses_a_finished_order(
        self, session: AsyncSession, path: tuple[S, ...]
    ) -> None:
        staff = await _staff(session)
        wo = await move(session, await open_order(session, actor=staff), *path, actor=staff)

        with pytest.raises(InvalidState):
            await work_orders(session).update_details(
                wo.id, actor=principal_of(staff), title="New title"
            )

        assert wo.title == "Boiler leaking"
