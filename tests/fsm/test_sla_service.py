"""The SLA clock of work orders: deadlines, pauses, business hours, reactions and the watch."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.db import utcnow
from fsm.sla.models import SlaCalendar
from fsm.users.models import Role
from fsm.workorders.models import WorkOrder, WorkOrderEvent, WorkOrderStatus
from fsm.workorders.sla_clock import SlaClock
from tests.factories import make_policy, make_user
from tests.fsm.helpers import (
    assert_forbidden,
    error_of,
    invalid_fields,
    signed_in,
    unknown_references,
)
from tests.fsm.wo_helpers import WORK_ORDERS, move, open_order, parse_at

S = WorkOrderStatus
BERLIN = ZoneInfo("Europe/Berlin")
MINUTE = timedelta(minutes=1)
WEEKDAYS_8_TO_17 = [{"weekday": d, "start": "08:00", "end": "17:00"} for d in range(5)]


def _targets(reaction: int, resolution: int) -> dict[str, Any]:
    target = {"reaction_minutes": reaction, "resolution_minutes": resolution}
    return dict.fromkeys(("low", "normal", "high", "critical"), target)


async def _hold(sla: SlaClock, wo: WorkOrder, at: datetime, until: datetime) -> None:
    """Put a new order on hold at `at` and back to new at `until`."""
    wo.status = S.ON_HOLD
    await sla.on_status_change(wo, S.NEW, S.ON_HOLD, at)
    wo.status = S.NEW
    await sla.on_status_change(wo, S.ON_HOLD, S.NEW, until)


async def _events(session: AsyncSession, wo: WorkOrder, kind: str) -> list[WorkOrderEvent]:
    rows = await session.scalars(
        select(WorkOrderEvent).where(
            WorkOrderEvent.work_order_id == wo.id, WorkOrderEvent.kind == kind
        )
    )
    return list(rows)


class TestStartClock:
    async def test_round_the_clock_reaction_is_due_after_its_minutes(
        self, session: AsyncSession
    ) -> None:
        await make_policy(session, reaction_minutes=45, resolution_minutes=300)

        wo = await open_order(session)

        assert wo.reaction_due_at == wo.created_at + 45 * MINUTE
        assert wo.resolution_due_at == wo.created_at + 300 * MINUTE
        assert wo.sla_next_due_at == wo.reaction_due_at
        assert wo.paused_minutes == 0

    async def test_without_a_policy_nothing_is_due(self, session: AsyncSession) -> None:
        wo = await open_order(session)

        assert wo.sla_policy_id is None
        assert (wo.reaction_due_at, wo.resolution_due_at, wo.sla_next_due_at) == (None, None, None)


class TestPause:
    async def test_a_hold_moves_both_deadlines_by_its_length(self, session: AsyncSession) -> None:
        await make_policy(session, reaction_minutes=60, resolution_minutes=480)
        wo = await open_order(session)
        t0 = wo.created_at

        await _hold(SlaClock(session), wo, t0 + 10 * MINUTE, t0 + 40 * MINUTE)

        assert wo.reaction_due_at == t0 + 90 * MINUTE
        assert wo.resolution_due_at == t0 + 510 * MINUTE
        assert wo.sla_next_due_at == t0 + 90 * MINUTE
        assert wo.paused_minutes == 30

    async def test_a_running_hold_stops_the_clock(self, session: AsyncSession) -> None:
        await make_policy(session)
        wo = await open_order(session)
        t0 = wo.created_at
        sla = SlaClock(session)

        wo.status = S.ON_HOLD
        await sla.on_status_change(wo, S.NEW, S.ON_HOLD, t0 + 10 * MINUTE)

        assert wo.sla_next_due_at is None
        assert [(p.paused_at, p.resumed_at) for p in wo.pauses] == [(t0 + 10 * MINUTE, None)]

    async def test_a_second_hold_adds_up(self, session: AsyncSession) -> None:
        await make_policy(session, reaction_minutes=60, resolution_minutes=480)
        wo = await open_order(session)
        t0 = wo.created_at
        sla = SlaClock(session)

        await _hold(sla, wo, t0 + 10 * MINUTE, t0 + 40 * MINUTE)
        await _hold(sla, wo, t0 + 50 * MINUTE, t0 + 70 * MINUTE)

        assert wo.paused_minutes == 50
        assert wo.reaction_due_at == t0 + 110 * MINUTE
        assert wo.resolution_due_at == t0 + 530 * MINUTE

    async def test_on_hold_order_shows_a_paused_clock(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        await make_policy(session)
        user, staff = await signed_in(client, session, Role.DISPATCHER)
        wo = await open_order(session, actor=user)
        await session.commit()

        response = await client.post(
            f"{WORK_ORDERS}/{wo.id}/transitions",
            json={"to": "on_hold", "reason": "waiting for parts"},
            headers=staff,
        )

        assert response.status_code == 200, response.text
        sla = response.json()["sla"]
        assert sla["is_paused"] is True
        assert sla["next_due_at"] is None
        assert response.json()["status"] == "on_hold"

    async def test_resuming_shows_a_running_clock_again(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        await make_policy(session)
        user, staff = await signed_in(client, session, Role.DISPATCHER)
        wo = await move(session, await open_order(session, actor=user), S.ON_HOLD, actor=user)
        wo.created_at -= 40 * MINUTE
        wo.pauses[0].paused_at -= 30 * MINUTE
        await session.commit()

        response = await client.post(
            f"{WORK_ORDERS}/{wo.id}/transitions", json={"to": "new"}, headers=staff
        )

        assert response.status_code == 200, response.text
        sla = response.json()["sla"]
        assert sla["is_paused"] is False
        assert sla["paused_minutes"] == 30
        assert parse_at(sla["next_due_at"]) >= wo.created_at + 90 * MINUTE
        assert parse_at(sla["next_due_at"]) == parse_at(sla["reaction_due_at"])


class TestBusinessCalendar:
    async def test_friday_afternoon_reaction_is_due_on_monday_morning(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, admin = await signed_in(client, session, Role.ADMIN)
        calendar = await client.post(
            "/api/v1/sla/calendars",
            json={"name": "Office", "timezone": "Europe/Berlin", "hours": WEEKDAYS_8_TO_17},
            headers=admin,
        )
        assert calendar.status_code == 201, calendar.text
        policy = await client.post(
            "/api/v1/sla/policies",
            json={
                "name": "Office hours",
                "calendar_id": calendar.json()["id"],
                "targets": _targets(120, 600),
                "is_default": True,
            },
            headers=admin,
        )
        assert policy.status_code == 201, policy.text
        wo = await open_order(session)
        friday_4pm = datetime(2026, 11, 20, 16, 0, tzinfo=BERLIN)
        wo.created_at = friday_4pm

        await SlaClock(session).recompute(wo, friday_4pm)

        assert wo.sla_policy_id == uuid.UUID(policy.json()["id"])
        assert wo.reaction_due_at == datetime(2026, 11, 23, 9, 0, tzinfo=BERLIN)
        # 1 h on Friday and 9 h on Monday: due at Monday's closing time.
        assert wo.resolution_due_at == datetime(2026, 11, 23, 17, 0, tzinfo=BERLIN)

    async def _office_order(self, session: AsyncSession) -> tuple[WorkOrder, datetime]:
        calendar = SlaCalendar(
            name="Office", timezone="Europe/Berlin", hours=WEEKDAYS_8_TO_17, holidays=[]
        )
        session.add(calendar)
        await session.flush()
        policy = await make_policy(session, reaction_minutes=120, calendar=calendar)
        policy.calendar = calendar
        wo = await open_order(session)
        friday_4pm = datetime(2026, 11, 20, 16, 0, tzinfo=BERLIN)
        wo.created_at = friday_4pm
        await SlaClock(session).recompute(wo, friday_4pm)
        return wo, friday_4pm

    async def test_a_hold_outside_business_hours_moves_nothing(self, session: AsyncSession) -> None:
        wo, _ = await self._office_order(session)

        await _hold(
            SlaClock(session),
            wo,
            datetime(2026, 11, 20, 17, 30, tzinfo=BERLIN),
            datetime(2026, 11, 23, 7, 30, tzinfo=BERLIN),
        )

        assert wo.reaction_due_at == datetime(2026, 11, 23, 9, 0, tzinfo=BERLIN)
        assert wo.paused_minutes == 0

    async def test_a_hold_in_business_hours_counts_business_minutes(
        self, session: AsyncSession
    ) -> None:
        wo, _ = await self._office_order(session)

        await _hold(
            SlaClock(session),
            wo,
            datetime(2026, 11, 20, 16, 30, tzinfo=BERLIN),
            datetime(2026, 11, 23, 8, 30, tzinfo=BERLIN),
        )

        # Friday 16:30-17:00 and Monday 08:00-08:30 were business time on hold.
        assert wo.paused_minutes == 60
        assert wo.reaction_due_at == datetime(2026, 11, 23, 10, 0, tzinfo=BERLIN)


class TestFirstResponse:
    async def _comment(
        self,
        client: httpx.AsyncClient,
        headers: dict[str, str],
        wo: WorkOrder,
        *,
        is_internal: bool = False,
    ) -> dict[str, Any]:
        posted = await client.post(
            f"{WORK_ORDERS}/{wo.id}/comments",
            json={"body": "We are looking into it.", "is_internal": is_internal},
            headers=headers,
        )
        assert posted.status_code == 201, posted.text
        shown = await client.get(f"{WORK_ORDERS}/{wo.id}", headers=headers)
        sla: dict[str, Any] = shown.json()["sla"]
        return sla

    async def test_first_public_staff_comment_is_the_reaction(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        await make_policy(session, reaction_minutes=60)
        user, staff = await signed_in(client, session, Role.DISPATCHER)
        wo = await open_order(session, actor=user)
        await session.commit()

        sla = await self._comment(client, staff, wo)

        assert sla["first_response_at"] is not None
        assert sla["is_reaction_breached"] is False
        assert parse_at(sla["next_due_at"]) == parse_at(sla["resolution_due_at"])

    async def test_internal_comment_is_no_reaction(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        await make_policy(session, reaction_minutes=60)
        user, staff = await signed_in(client, session, Role.DISPATCHER)
        wo = await open_order(session, actor=user)
        await session.commit()

        sla = await self._comment(client, staff, wo, is_internal=True)

        assert sla["first_response_at"] is None
        assert parse_at(sla["next_due_at"]) == parse_at(sla["reaction_due_at"])

    async def test_late_reaction_is_a_breach(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        await make_policy(session, reaction_minutes=60)
        user, staff = await signed_in(client, session, Role.DISPATCHER)
        wo = await open_order(session, actor=user)
        wo.created_at = utcnow() - timedelta(hours=2)
        await SlaClock(session).recompute(wo, utcnow())
        await session.commit()

        sla = await self._comment(client, staff, wo)

        assert sla["first_response_at"] is not None
        assert sla["is_reaction_breached"] is True
        assert sla["state"] == "breached"


class TestWatch:
    async def _overdue(self, session: AsyncSession) -> WorkOrder:
        await make_policy(session, reaction_minutes=60, resolution_minutes=480)
        wo = await open_order(session)
        wo.created_at = utcnow() - timedelta(hours=2)
        await SlaClock(session).recompute(wo, utcnow())
        await session.commit()
        return wo

    async def test_flags_a_missed_reaction_with_an_internal_event(
        self, session: AsyncSession
    ) -> None:
        wo = await self._overdue(session)

        counts = await SlaClock(session).watch(utcnow())

        assert counts == (0, 1)
        await session.refresh(wo)
        assert wo.is_reaction_breached is True
        assert wo.is_resolution_breached is False
        [event] = await _events(session, wo, "sla_breached")
        assert event.visibility.value == "internal"
        assert event.data == {"target": "reaction"}

    async def test_flags_a_breach_only_once(self, session: AsyncSession) -> None:
        wo = await self._overdue(session)
        sla = SlaClock(session)
        await sla.watch(utcnow())

        again = await sla.watch(utcnow() + MINUTE)

        assert again == (0, 0)
        assert len(await _events(session, wo, "sla_breached")) == 1

    async def test_flags_a_deadline_at_risk_only_once(self, session: AsyncSession) -> None:
        await make_policy(session, reaction_minutes=60)
        wo = await open_order(session)
        now = wo.created_at + 30 * MINUTE
        sla = SlaClock(session)

        first = await sla.watch(now)
        second = await sla.watch(now + MINUTE)

        assert (first, second) == ((1, 0), (0, 0))
        [event] = await _events(session, wo, "sla_at_risk")
        assert event.visibility.value == "internal"

    async def test_warns_again_for_the_next_deadline(self, session: AsyncSession) -> None:
        await make_policy(session, reaction_minutes=60, resolution_minutes=480)
        wo = await open_order(session)
        sla = SlaClock(session)
        await sla.watch(wo.created_at + 30 * MINUTE)
        await session.refresh(wo)
        sla.mark_first_response(wo, wo.created_at + 40 * MINUTE)
        await sla.recompute(wo, wo.created_at + 40 * MINUTE)
        await session.flush()

        counts = await sla.watch(wo.created_at + 450 * MINUTE)

        assert counts == (1, 0)
        assert len(await _events(session, wo, "sla_at_risk")) == 2

    async def test_leaves_resolved_orders_alone(self, session: AsyncSession) -> None:
        wo = await self._overdue(session)
        staff = await make_user(session, role=Role.DISPATCHER)
        await move(session, wo, S.RESOLVED, actor=staff)
        past = utcnow() - timedelta(hours=1)
        wo.first_response_at = None
        wo.reaction_due_at = wo.resolution_due_at = past
        await session.commit()

        counts = await SlaClock(session).watch(utcnow())

        assert counts == (0, 0)
        assert await _events(session, wo, "sla_breached") == []


class TestCalendarsApi:
    async def test_admin_creates_a_calendar(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, admin = await signed_in(client, session, Role.ADMIN)

        response = await client.post(
            "/api/v1/sla/calendars",
            json={
                "name": "Berlin office",
                "timezone": "Europe/Berlin",
                "hours": WEEKDAYS_8_TO_17,
                "holidays": ["2026-12-25"],
            },
            headers=admin,
        )

        assert response.status_code == 201, response.text
        body = response.json()
        assert body["timezone"] == "Europe/Berlin"
        assert body["hours"] == WEEKDAYS_8_TO_17
        assert body["holidays"] == ["2026-12-25"]

    async def test_dispatcher_may_not_create_one(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff = await signed_in(client, session, Role.DISPATCHER)

        response = await client.post(
            "/api/v1/sla/calendars",
            json={"name": "Office", "timezone": "Europe/Berlin", "hours": WEEKDAYS_8_TO_17},
            headers=staff,
        )

        assert_forbidden(response)

    async def test_refuses_hours_ending_before_they_start(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, admin = await signed_in(client, session, Role.ADMIN)

        response = await client.post(
            "/api/v1/sla/calendars",
            json={
                "name": "Backwards",
                "timezone": "Europe/Berlin",
                "hours": [{"weekday": 0, "start": "17:00", "end": "08:00"}],
            },
            headers=admin,
        )

        assert invalid_fields(response) == ["hours"]

    async def test_refuses_an_unknown_timezone(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, admin = await signed_in(client, session, Role.ADMIN)

        response = await client.post(
            "/api/v1/sla/calendars",
            json={"name": "Nowhere", "timezone": "Mars/Olympus", "hours": WEEKDAYS_8_TO_17},
            headers=admin,
        )

        assert invalid_fields(response) == ["timezone"]

    async def test_refuses_an_impossible_holiday_naming_holidays(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, admin = await signed_in(client, session, Role.ADMIN)

        response = await client.post(
            "/api/v1/sla/calendars",
            json={
                "name": "Leap",
                "timezone": "Europe/Berlin",
                "hours": WEEKDAYS_8_TO_17,
                "holidays": ["2026-02-30"],
            },
            headers=admin,
        )

        assert invalid_fields(response) == ["holidays"]


class TestPoliciesApi:
    async def _create(
        self, client: httpx.AsyncClient, admin: dict[str, str], name: str, **body: Any
    ) -> httpx.Response:
        return await client.post(
            "/api/v1/sla/policies",
            json={"name": name, "targets": _targets(60, 480), **body},
            headers=admin,
        )

    async def test_admin_creates_a_policy(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, admin = await signed_in(client, session, Role.ADMIN)

        response = await self._create(client, admin, "Standard")

        assert response.status_code == 201, response.text
        body = response.json()
        assert body["targets"]["critical"] == {"reaction_minutes": 60, "resolution_minutes": 480}
        assert body["pause_statuses"] == ["on_hold"]
        assert body["is_default"] is False

    async def test_dispatcher_may_not_create_one(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff = await signed_in(client, session, Role.DISPATCHER)

        assert_forbidden(await self._create(client, staff, "Standard"))

    async def test_a_second_default_takes_over(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, admin = await signed_in(client, session, Role.ADMIN)
        first = await self._create(client, admin, "Old", is_default=True)
        assert first.status_code == 201, first.text

        second = await self._create(client, admin, "New", is_default=True)

        assert second.status_code == 201, second.text
        listed = await client.get("/api/v1/sla/policies", headers=admin)
        assert {p["name"]: p["is_default"] for p in listed.json()} == {"New": True, "Old": False}
        wo = await open_order(session)
        assert wo.sla_policy_id == uuid.UUID(second.json()["id"])

    async def test_refuses_an_unknown_calendar(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, admin = await signed_in(client, session, Role.ADMIN)

        response = await self._create(client, admin, "Ghost", calendar_id=str(uuid.uuid4()))

        assert unknown_references(response) == ["calendar_id"]
        assert error_of(response, 409)["code"] == "unknown_reference"
