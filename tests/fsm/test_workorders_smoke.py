"""End-to-end path through work orders and visits, as a dispatcher and an engineer live it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.users.models import Role
from tests.auth_helpers import login
from tests.factories import make_engineer, make_policy, make_site, make_skill, make_user


async def test_request_to_resolution(client: httpx.AsyncClient, session: AsyncSession) -> None:
    await make_policy(session, reaction_minutes=60, resolution_minutes=480)
    hvac = await make_skill(session, "hvac")
    site = await make_site(session)
    dispatcher = await make_user(session, role=Role.DISPATCHER)
    engineer = await make_engineer(session, skills=[hvac])
    unskilled = await make_engineer(session)
    await session.commit()
    staff = await login(client, dispatcher)

    r = await client.post(
        "/api/v1/work-orders",
        json={
            "site_id": str(site.id),
            "type": "repair",
            "title": "Chiller down",
            "priority": "high",
            "required_skills": ["hvac"],
        },
        headers=staff,
    )
    assert r.status_code == 201, r.text
    wo = r.json()
    assert wo["number"].startswith(f"WO-{datetime.now(UTC).year}-")
    assert wo["sla"]["reaction_due_at"] is not None
    now = datetime.now(UTC)
    window = {
        "window_starts_at": now.isoformat(),
        "window_ends_at": (now + timedelta(hours=4)).isoformat(),
    }
    r = await client.post(
        "/api/v1/visits",
        json={"work_order_id": wo["id"], "estimated_minutes": 90, **window},
        headers=staff,
    )
    assert r.status_code == 201, r.text
    visit = r.json()
    assert visit["required_skills"] == ["hvac"]

    r = await client.post(
        f"/api/v1/visits/{visit['id']}/assign",
        json={"engineer_id": str(unskilled.id)},
        headers=staff,
    )
    assert r.status_code == 409, r.text
    assert r.json()["error"]["details"]["missing_skills"] == ["hvac"]

    r = await client.post(
        f"/api/v1/visits/{visit['id']}/assign",
        json={"engineer_id": str(engineer.id)},
        headers=staff,
    )
    assert r.status_code == 200, r.text
    r = await client.get(f"/api/v1/work-orders/{wo['id']}", headers=staff)
    assert r.json()["status"] == "scheduled"
    assert r.json()["sla"]["first_response_at"] is not None

    eng = await login(client, engineer.user)
    for status in ("en_route", "on_site", "completed"):
        r = await client.post(
            f"/api/v1/visits/{visit['id']}/status",
            json={"status": status, "location": {"lat": 52.5, "lon": 13.4}, "labour_minutes": 80},
            headers=eng,
        )
        assert r.status_code == 200, r.text
    r = await client.get(f"/api/v1/work-orders/{wo['id']}", headers=staff)
    assert r.json()["status"] == "in_progress"
    r = await client.post(
        f"/api/v1/work-orders/{wo['id']}/transitions", json={"to": "resolved"}, headers=staff
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "resolved"
    r = await client.post(
        f"/api/v1/work-orders/{wo['id']}/transitions", json={"to": "in_progress"}, headers=staff
    )
    assert r.status_code == 409
    assert r.json()["error"]["details"]["allowed"] == ["closed", "reopened"]
    r = await client.get(f"/api/v1/work-orders/{wo['id']}/timeline", headers=staff)
    kinds = [e["kind"] for e in r.json()]
    assert kinds[0] == "created"
    assert "visit_assigned" in kinds
