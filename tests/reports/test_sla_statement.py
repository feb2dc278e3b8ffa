# ruff: noqa: RUF001 - Cyrillic on purpose: the documents must carry it
"""The monthly SLA statement: hand-computed targets met and breaches, in every format, for
staff; the client's own version with service levels instead of priorities."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.clients.models import Client
from fsm.sla.models import SlaCalendar, SlaPolicy
from fsm.users.models import Role, User
from fsm.users.service import UserService
from fsm.workorders.models import Priority, SlaPause, WorkOrder, WorkOrderStatus
from tests.auth_helpers import login
from tests.factories import make_client, make_site, make_user
from tests.fsm.wo_helpers import open_order, work_orders
from tests.mobile_api.client_helpers import assert_no_secrets
from tests.pdf_helpers import is_blank, page_one, pdf_text

STAFF = "/api/v1/reports/sla-statement"
CLIENT = "/mobile/v1/client/reports/service-levels"
PAUSE_REASON = "INTERNAL-pause-waiting-for-grey-parts"
AS_OF = datetime(2026, 12, 1, tzinfo=UTC)


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


class Scene:
    """A Berlin client's March: five requests on a Mon-Fri 08:00-17:00 Berlin calendar."""

    client: Client
    user: User
    staff: User
    across_dst: WorkOrder
    late_reaction: WorkOrder


async def _order(
    session: AsyncSession,
    scene_client: Client,
    policy: SlaPolicy,
    staff: User,
    *,
    priority: Priority,
    opened: datetime,
    responded: datetime | None,
    resolved: datetime | None,
    pauses: tuple[tuple[datetime, datetime, str], ...] = (),
    status: WorkOrderStatus = WorkOrderStatus.RESOLVED,
) -> WorkOrder:
    """A request whose history is set by hand; the SLA clock computes its deadlines."""
    site = await make_site(session, client=scene_client)
    order = await open_order(session, site=site, actor=staff, title="Насос шумит")
    order.created_at = opened
    order.priority = priority
    order.sla_policy_id = policy.id
    order.first_response_at = responded
    order.resolved_at = resolved
    order.status = status
    order.pauses = [SlaPause(paused_at=a, resumed_at=b, reason=why) for a, b, why in pauses]
    await work_orders(session).sla.recompute(order, AS_OF)
    await session.flush()
    return order


@pytest.fixture
async def scene(session: AsyncSession) -> Scene:
    calendar = SlaCalendar(
        name=f"Berlin office {id(session)}-{datetime.now(UTC).timestamp()}",
        timezone="Europe/Berlin",
        hours=[{"weekday": d, "start": "08:00", "end": "17:00"} for d in range(5)],
        holidays=[],
    )
    session.add(calendar)
    await session.flush()
    policy = SlaPolicy(
        name=f"Statement policy {calendar.name}",
        calendar_id=calendar.id,
        targets={
            "low": {"reaction_minutes": 60, "resolution_minutes": 480},
            "normal": {"reaction_minutes": 60, "resolution_minutes": 480},
            "high": {"reaction_minutes": 30, "resolution_minutes": 240},
            "critical": {"reaction_minutes": 30, "resolution_minutes": 240},
        },
        pause_statuses=["on_hold"],
        reaction_statuses=["scheduled", "in_progress", "resolved", "closed"],
        is_default=False,
    )
    session.add(policy)
    owner = await make_client(session, name="ООО «Ромашка»", timezone="Europe/Berlin")
    staff = await make_user(session, role=Role.DISPATCHER)
    await session.flush()
    scene = Scene()
    scene.client, scene.staff = owner, staff
    scene.user = await make_user(session, role=Role.CLIENT, client=owner)

    async def order(**kw: Any) -> WorkOrder:
        return await _order(session, owner, policy, staff, **kw)

    # Opened Friday 27 March 15:00 CET; paused Monday 09:00-10:00 and 16:00-17:00 CEST (the
    # clocks went forward on Sunday 29th). Resolution: Fri 15-17 (120) + Mon 08-09 (60) +
    # 10-15 (300) = 480, due Mon 15:00 CEST = 13:00 UTC. Resolved Tue 31st 10:30 CEST:
    # overrun Mon 15-17 (120) + Tue 08:00-10:30 (150) - the pause after the deadline (60).
    scene.across_dst = await order(
        priority=Priority.NORMAL,
        opened=utc(3, 27, 14),
        responded=utc(3, 27, 14, 30),
        resolved=utc(3, 31, 8, 30),
        pauses=(
            (utc(3, 30, 7), utc(3, 30, 8), PAUSE_REASON),
            (utc(3, 30, 14), utc(3, 30, 15), PAUSE_REASON),
        ),
    )
    # Monday 2 March 09:00 CET: answered at 09:20, fixed at 12:00. Both in time.
    await order(
        priority=Priority.NORMAL,
        opened=utc(3, 2, 8),
        responded=utc(3, 2, 8, 20),
        resolved=utc(3, 2, 11),
    )
    # 1 March 00:30 in Berlin (28 Feb 23:30 UTC) is March's: due Mon 09:00, answered 08:30,
    # fixed 15:00 (due 16:00).
    await order(
        priority=Priority.NORMAL,
        opened=utc(2, 28, 23, 30),
        responded=utc(3, 2, 7, 30),
        resolved=utc(3, 2, 14),
    )
    # Critical, Tuesday 3 March 10:00 CET: reaction due 10:30, answered 11:00 (30 late);
    # resolution due 14:00, fixed 13:00.
    scene.late_reaction = await order(
        priority=Priority.CRITICAL,
        opened=utc(3, 3, 9),
        responded=utc(3, 3, 10),
        resolved=utc(3, 3, 12),
    )
    # Not March's: 1 April 00:30 in Berlin; and a cancelled one.
    await order(priority=Priority.NORMAL, opened=utc(3, 31, 22, 30), responded=None, resolved=None)
    await order(
        priority=Priority.NORMAL,
        opened=utc(3, 10, 9),
        responded=None,
        resolved=None,
        status=WorkOrderStatus.CANCELLED,
    )
    await session.commit()
    return scene


class TestStaffStatement:
    async def test_targets_met_and_breaches_are_as_computed_by_hand(
        self, client: httpx.AsyncClient, scene: Scene
    ) -> None:
        assert scene.across_dst.resolution_due_at == utc(3, 30, 13)

        response = await client.get(
            f"{STAFF}?client_id={scene.client.id}&month=2026-03",
            headers=await login(client, scene.staff),
        )

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["timezone"] == "Europe/Berlin"
        critical, normal = body["lines"]
        assert (critical["priority"], critical["requests"]) == ("critical", 1)
        assert (critical["reaction_met"], critical["reaction_measured"]) == (0, 1)
        assert critical["reaction_met_pct"] == 0.0
        assert critical["resolution_met_pct"] == 100.0
        assert (normal["priority"], normal["requests"]) == ("normal", 3)
        assert normal["reaction_met_pct"] == 100.0
        assert (normal["resolution_met"], normal["resolution_measured"]) == (2, 3)
        assert normal["resolution_met_pct"] == 66.7
        late, across = body["breaches"]
        assert (late["number"], late["target"]) == (scene.late_reaction.number, "reaction")
        assert late["overrun_business_minutes"] == 30
        assert (across["number"], across["target"]) == (scene.across_dst.number, "resolution")
        assert across["due_at"] == "2026-03-30T13:00:00Z"
        assert across["overrun_business_minutes"] == 210
        assert [p["business_minutes"] for p in across["pauses"]] == [60, 60]
        assert across["pauses"][0]["reason"] == PAUSE_REASON

    async def test_csv_xlsx_and_pdf_carry_the_same_figures(
        self, client: httpx.AsyncClient, scene: Scene
    ) -> None:
        headers = await login(client, scene.staff)
        url = f"{STAFF}?client_id={scene.client.id}&month=2026-03&format="

        as_csv = await client.get(url + "csv", headers=headers)
        as_xlsx = await client.get(url + "xlsx", headers=headers)
        as_pdf = await client.get(url + "pdf", headers=headers)

        assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
        rows = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
        assert rows[0] == ["SLA statement 2026-03 - ООО «Ромашка»"]
        breach = next(r for r in rows if r and r[0] == scene.across_dst.number)
        # Local times: the deadline 13:00 UTC is 15:00 in Berlin (CEST).
        assert breach[2:7] == [
            "normal",
            "resolution",
            "2026-03-30 15:00",
            "2026-03-31 10:30",
            "210",
        ]
        book = load_workbook(io.BytesIO(as_xlsx.content))
        assert book.sheetnames == ["Targets met", "Breaches"]
        sheet_rows = list(book["Breaches"].iter_rows(values_only=True))
        assert sheet_rows[2][0] == scene.across_dst.number
        assert sheet_rows[2][6] == 210
        assert as_pdf.headers["content-type"] == "application/pdf"
        text = pdf_text(as_pdf.content)
        assert "SLA statement 2026-03 - ООО «Ромашка»" in text
        assert scene.across_dst.number in text
        assert not is_blank(page_one(as_pdf.content))

    async def test_clients_and_engineers_cannot_read_it_and_unknown_clients_are_404(
        self, client: httpx.AsyncClient, session: AsyncSession, scene: Scene
    ) -> None:
        engineer = await make_user(session, role=Role.ENGINEER)
        await session.commit()
        url = f"{STAFF}?client_id={scene.client.id}&month=2026-03"

        for user in (scene.user, engineer):
            assert (await client.get(url, headers=await login(client, user))).status_code == 403
        unknown = await client.get(
            f"{STAFF}?client_id={scene.staff.id}&month=2026-03",
            headers=await login(client, scene.staff),
        )
        bad_month = await client.get(
            f"{STAFF}?client_id={scene.client.id}&month=2026-13",
            headers=await login(client, scene.staff),
        )
        assert unknown.status_code == 404
        assert bad_month.status_code == 422, bad_month.text
        assert bad_month.json()["error"]["details"][0]["field"] == "month"


class TestClientsOwnStatement:
    async def test_shows_service_levels_never_priorities_or_reasons(
        self, client: httpx.AsyncClient, scene: Scene
    ) -> None:
        headers = await login(client, scene.user)

        response = await client.get(f"{CLIENT}?month=2026-03", headers=headers)
        as_pdf = await client.get(f"{CLIENT}?month=2026-03&format=pdf", headers=headers)
        as_csv = await client.get(f"{CLIENT}?month=2026-03&format=csv", headers=headers)

        assert response.status_code == 200, response.text
        body = response.json()
        fast, usual = body["service_levels"]
        assert (fast["reaction_minutes"], fast["resolution_minutes"]) == (30, 240)
        assert (fast["requests"], fast["reaction_met_pct"]) == (1, 0.0)
        assert (usual["reaction_minutes"], usual["requests"]) == (60, 3)
        assert usual["resolution_met_pct"] == 66.7
        assert [b["overrun_business_minutes"] for b in body["breaches"]] == [30, 210]
        for answer in (body, pdf_text(as_pdf.content), as_csv.content.decode("utf-8-sig")):
            assert_no_secrets(answer)
            assert PAUSE_REASON not in str(answer)
            assert "normal" not in str(answer)
        assert "Service report 2026-03 - ООО «Ромашка»" in pdf_text(as_pdf.content)

    async def test_another_company_sees_none_of_it(
        self, client: httpx.AsyncClient, session: AsyncSession, scene: Scene
    ) -> None:
        stranger = await make_user(session, role=Role.CLIENT, client=await make_client(session))
        await session.commit()

        response = await client.get(
            f"{CLIENT}?month=2026-03", headers=await login(client, stranger)
        )

        assert response.status_code == 200
        assert response.json()["service_levels"] == []
        assert response.json()["breaches"] == []

    async def test_a_branch_manager_counts_only_the_requests_at_its_sites(
        self, client: httpx.AsyncClient, session: AsyncSession, scene: Scene
    ) -> None:
        branch = await make_user(session, role=Role.CLIENT, client=scene.client)
        await UserService(session).update(branch.id, site_ids=[scene.late_reaction.site_id])
        await session.commit()

        response = await client.get(f"{CLIENT}?month=2026-03", headers=await login(client, branch))

        assert response.status_code == 200, response.text
        body = response.json()
        (only,) = body["service_levels"]
        assert (only["reaction_minutes"], only["requests"], only["reaction_met_pct"]) == (
            30,
            1,
            0.0,
        )
        assert [b["number"] for b in body["breaches"]] == [scene.late_reaction.number]
