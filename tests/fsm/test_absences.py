"""Engineer absences: entered over whole days or hours, never over work the engineer holds,
and never assigned over afterwards."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.engineers.models import Engineer, EngineerAbsence
from fsm.users.models import Role, User
from fsm.workorders.visit_models import Visit, VisitStatus, VisitStatusEvent
from tests.factories import make_client, make_engineer
from tests.fsm.helpers import (
    assert_forbidden,
    assert_not_found,
    error_of,
    invalid_fields,
    signed_in,
)
from tests.fsm.wo_helpers import VISITS, open_order, plan_visit

BERLIN = ZoneInfo("Europe/Berlin")
# A Wednesday well ahead: nothing of other tests is planned then.
DAY = datetime(2031, 3, 12, tzinfo=BERLIN)


def absences_of(engineer: Engineer) -> str:
    return f"/api/v1/engineers/{engineer.id}/absences"


async def _dispatcher(
    client: httpx.AsyncClient, session: AsyncSession
) -> tuple[User, dict[str, str], Engineer]:
    user, headers = await signed_in(client, session, Role.DISPATCHER)
    engineer = await make_engineer(session)
    await session.commit()
    return user, headers, engineer


async def _count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(EngineerAbsence)) or 0)


class TestEnter:
    async def test_whole_days_run_from_the_engineers_midnight_to_midnight_after_the_last(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff, engineer = await _dispatcher(client, session)
        r = await client.post(
            absences_of(engineer),
            json={"kind": "vacation", "first_day": "2031-03-12", "last_day": "2031-03-14"},
            headers=staff,
        )
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["returned_visit_ids"] == []
        absence = body["absence"]
        assert absence["kind"] == "vacation"
        assert datetime.fromisoformat(absence["starts_at"]) == DAY
        assert datetime.fromisoformat(absence["ends_at"]) == DAY + timedelta(days=3)
        listed = await client.get(
            absences_of(engineer), params={"from": "2031-03-01T00:00:00Z"}, headers=staff
        )
        assert listed.status_code == 200, listed.text
        assert [a["id"] for a in listed.json()] == [absence["id"]]

    async def test_a_listing_far_outside_the_planning_years_is_422(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff, engineer = await _dispatcher(client, session)
        r = await client.get(
            absences_of(engineer), params={"from": "9999-12-31T00:00:00Z"}, headers=staff
        )
        assert invalid_fields(r) == ["from"]

    async def test_hours_are_kept_as_given(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff, engineer = await _dispatcher(client, session)
        starts = DAY.replace(hour=13)
        r = await client.post(
            absences_of(engineer),
            json={
                "kind": "training",
                "starts_at": starts.isoformat(),
                "ends_at": (starts + timedelta(hours=3)).isoformat(),
                "note": "gas safety refresher",
            },
            headers=staff,
        )
        assert r.status_code == 201, r.text
        absence = r.json()["absence"]
        assert datetime.fromisoformat(absence["starts_at"]) == starts
        assert absence["note"] == "gas safety refresher"

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"kind": "vacation"}, "first_day"),
            (
                {
                    "kind": "vacation",
                    "first_day": "2031-03-12",
                    "last_day": "2031-03-12",
                    "starts_at": "2031-03-12T08:00:00Z",
                    "ends_at": "2031-03-12T09:00:00Z",
                },
                "first_day",
            ),
            ({"kind": "vacation", "first_day": "2031-03-12"}, "last_day"),
            ({"kind": "vacation", "first_day": "2031-03-12", "last_day": "2031-03-11"}, "last_day"),
            ({"kind": "vacation", "first_day": "2031-01-01", "last_day": "2032-03-01"}, "last_day"),
            (
                {
                    "kind": "sickness",
                    "starts_at": "2031-03-12T10:00:00Z",
                    "ends_at": "2031-03-12T10:00:00Z",
                },
                "ends_at",
            ),
            ({"kind": "sickness", "starts_at": "2031-03-12T10:00:00Z"}, "ends_at"),
            (
                {"kind": "vacation", "first_day": "0001-01-01", "last_day": "0001-01-02"},
                "first_day",
            ),
            (
                {
                    "kind": "sickness",
                    "starts_at": "0001-01-01T00:00:00+14:00",
                    "ends_at": "0001-01-01T05:00:00+14:00",
                },
                "starts_at",
            ),
        ],
    )
    async def test_a_span_that_is_not_one_is_422_and_stores_nothing(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        body: dict[str, str],
        field: str,
    ) -> None:
        _, staff, engineer = await _dispatcher(client, session)
        r = await client.post(absences_of(engineer), json=body, headers=staff)
        assert invalid_fields(r) == [field]
        assert await _count(session) == 0

    async def test_hours_without_an_offset_and_unknown_kinds_are_422(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff, engineer = await _dispatcher(client, session)
        naive = {
            "kind": "sickness",
            "starts_at": "2031-03-12T10:00:00",
            "ends_at": "2031-03-12T12:00:00+01:00",
        }
        assert (
            await client.post(absences_of(engineer), json=naive, headers=staff)
        ).status_code == 422
        odd = {"kind": "holiday", "first_day": "2031-03-12", "last_day": "2031-03-12"}
        assert (
            await client.post(absences_of(engineer), json=odd, headers=staff)
        ).status_code == 422
        assert await _count(session) == 0

    async def test_an_overlapping_absence_is_409(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff, engineer = await _dispatcher(client, session)
        week = {"kind": "vacation", "first_day": "2031-03-10", "last_day": "2031-03-14"}
        first = await client.post(absences_of(engineer), json=week, headers=staff)
        assert first.status_code == 201, first.text
        again = {"kind": "sickness", "first_day": "2031-03-14", "last_day": "2031-03-17"}
        error = error_of(await client.post(absences_of(engineer), json=again, headers=staff), 409)
        assert error["code"] == "absence_overlaps"
        assert error["details"]["absence_ids"] == [first.json()["absence"]["id"]]
        # The day after the first one ends is free.
        after = {"kind": "sickness", "first_day": "2031-03-15", "last_day": "2031-03-16"}
        assert (
            await client.post(absences_of(engineer), json=after, headers=staff)
        ).status_code == 201

    async def test_unknown_engineer_is_404(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff, _ = await _dispatcher(client, session)
        body = {"kind": "vacation", "first_day": "2031-03-12", "last_day": "2031-03-12"}
        r = await client.post(
            f"/api/v1/engineers/{uuid.uuid4()}/absences", json=body, headers=staff
        )
        assert_not_found(r)


class TestHeldVisits:
    async def test_visits_the_engineer_holds_then_are_named_and_nothing_is_stored(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user, staff, engineer = await _dispatcher(client, session)
        held = await plan_visit(
            session,
            await open_order(session, actor=user),
            actor=user,
            engineer=engineer,
            planned_start_at=DAY.replace(hour=10),
        )
        await session.commit()
        body = {"kind": "sickness", "first_day": "2031-03-12", "last_day": "2031-03-12"}
        error = error_of(await client.post(absences_of(engineer), json=body, headers=staff), 409)
        assert error["code"] == "absence_over_held_visits"
        assert error["details"]["visit_ids"] == [str(held.id)]
        assert await _count(session) == 0
        await session.refresh(held)
        assert (held.status.value, held.engineer_id) == ("assigned", engineer.id)

    async def test_return_to_planning_sends_them_back_in_the_same_transaction(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user, staff, engineer = await _dispatcher(client, session)
        order = await open_order(session, actor=user)
        inside = await plan_visit(
            session, order, actor=user, engineer=engineer, planned_start_at=DAY.replace(hour=9)
        )
        # Starts before the absence and runs into it: held in it too.
        overlapping = await plan_visit(
            session,
            await open_order(session, actor=user),
            actor=user,
            engineer=engineer,
            planned_start_at=DAY.replace(hour=11, minute=30),
        )
        next_day = await plan_visit(
            session,
            await open_order(session, actor=user),
            actor=user,
            engineer=engineer,
            planned_start_at=DAY.replace(hour=9) + timedelta(days=1),
        )
        await session.commit()
        body = {
            "kind": "sickness",
            "starts_at": DAY.replace(hour=8).isoformat(),
            "ends_at": DAY.replace(hour=12).isoformat(),
            "held_visits": "return_to_planning",
        }
        r = await client.post(absences_of(engineer), json=body, headers=staff)
        assert r.status_code == 201, r.text
        assert set(r.json()["returned_visit_ids"]) == {str(inside.id), str(overlapping.id)}
        for visit in (inside, overlapping):
            await session.refresh(visit)
            assert (visit.status.value, visit.engineer_id, visit.planned_start_at) == (
                "planned",
                None,
                None,
            )
            trail = (
                await session.scalars(
                    select(VisitStatusEvent)
                    .where(VisitStatusEvent.visit_id == visit.id)
                    .order_by(VisitStatusEvent.id)
                )
            ).all()
            assert trail[-1].to_status.value == "planned"
            # The next engineer reads this trail: not why this one is away.
            assert trail[-1].note == "engineer unavailable"
        await session.refresh(next_day)
        assert next_day.status.value == "assigned"

    async def test_a_visit_under_way_is_never_taken_away(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user, staff, engineer = await _dispatcher(client, session)
        visit = await plan_visit(
            session,
            await open_order(session, actor=user),
            actor=user,
            engineer=engineer,
            planned_start_at=DAY.replace(hour=9),
        )
        await session.execute(
            update(Visit).where(Visit.id == visit.id).values(status=VisitStatus.EN_ROUTE)
        )
        await session.commit()
        body = {
            "kind": "sickness",
            "first_day": "2031-03-12",
            "last_day": "2031-03-12",
            "held_visits": "return_to_planning",
        }
        error = error_of(await client.post(absences_of(engineer), json=body, headers=staff), 409)
        assert error["details"]["under_way_visit_ids"] == [str(visit.id)]
        assert await _count(session) == 0


class TestAssignment:
    async def test_no_visit_is_assigned_into_an_absence_and_again_once_it_is_taken_back(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user, staff, engineer = await _dispatcher(client, session)
        body = {"kind": "vacation", "first_day": "2031-03-12", "last_day": "2031-03-12"}
        created = await client.post(absences_of(engineer), json=body, headers=staff)
        assert created.status_code == 201, created.text
        visit = await plan_visit(
            session, await open_order(session, actor=user), actor=user, window_starts_at=DAY
        )
        await session.commit()
        assign = {
            "engineer_id": str(engineer.id),
            "planned_start_at": DAY.replace(hour=10).isoformat(),
        }
        r = await client.post(f"{VISITS}/{visit.id}/assign", json=assign, headers=staff)
        error = error_of(r, 409)
        assert error["code"] == "engineer_absent"
        far = {**assign, "planned_start_at": "9999-12-31T23:59:00Z"}
        r = await client.post(f"{VISITS}/{visit.id}/assign", json=far, headers=staff)
        assert invalid_fields(r) == ["planned_start_at"]
        assert error["details"]["kind"] == "vacation"
        absence_id = created.json()["absence"]["id"]
        r = await client.delete(f"{absences_of(engineer)}/{absence_id}", headers=staff)
        assert r.status_code == 204, r.text
        r = await client.post(f"{VISITS}/{visit.id}/assign", json=assign, headers=staff)
        assert r.status_code == 200, r.text
        assert r.json()["engineer_id"] == str(engineer.id)


class TestWhoMay:
    @pytest.mark.parametrize("role", [Role.ENGINEER, Role.CLIENT])
    async def test_only_staff_see_or_enter_absences(
        self, client: httpx.AsyncClient, session: AsyncSession, role: Role
    ) -> None:
        _, staff, engineer = await _dispatcher(client, session)
        body = {
            "kind": "sickness",
            "first_day": "2031-03-12",
            "last_day": "2031-03-12",
            "note": "flu",
        }
        created = await client.post(absences_of(engineer), json=body, headers=staff)
        assert created.status_code == 201, created.text
        company = await make_client(session) if role is Role.CLIENT else None
        if role is Role.ENGINEER:
            # Even the engineer it is about: the note is internal.
            _, headers = await signed_in(client, session, Role.ENGINEER)
            own = await make_engineer(session)
            await session.commit()
            target = own
        else:
            _, headers = await signed_in(client, session, role, of_client=company)
            target = engineer
        assert_forbidden(await client.get(absences_of(engineer), headers=headers))
        assert_forbidden(await client.post(absences_of(target), json=body, headers=headers))
        absence_id = created.json()["absence"]["id"]
        assert_forbidden(
            await client.delete(f"{absences_of(engineer)}/{absence_id}", headers=headers)
        )
        assert await _count(session) == 1

    async def test_an_absence_of_another_engineer_is_404_by_its_path(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, staff, engineer = await _dispatcher(client, session)
        other = await make_engineer(session)
        await session.commit()
        body = {"kind": "sickness", "first_day": "2031-03-12", "last_day": "2031-03-12"}
        created = await client.post(absences_of(engineer), json=body, headers=staff)
        absence_id = created.json()["absence"]["id"]
        assert_not_found(await client.delete(f"{absences_of(other)}/{absence_id}", headers=staff))
        assert await _count(session) == 1
