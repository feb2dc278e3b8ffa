"""A client company with a bit of everything, for the client-app tests; secrets planted inside.

The planted secrets (priorities, internal comments and events, rates, surnames, phones)
must never reach a client answer; `assert_no_secrets` searches a JSON answer for them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from equipment.contracts.models import Contract, ContractStatus, Coverage, IntervalUnit
from equipment.equipment.models import Equipment
from equipment.service_periods.models import PeriodStatus, ServicePeriod
from fsm.clients.models import Client
from fsm.db import utcnow
from fsm.engineers.models import Engineer
from fsm.sites.models import Site
from fsm.users.models import Role, User
from fsm.visits.service import StatusReport
from fsm.workorders.models import Priority, Visibility, WorkOrder, WorkOrderStatus, WorkOrderType
from fsm.workorders.service import WorkOrderDraft
from fsm.workorders.visit_models import Visit, VisitStatus
from tests.auth_helpers import login
from tests.equipment.helpers import make_equipment
from tests.factories import make_client, make_engineer, make_site, make_user
from tests.fsm.wo_helpers import move, plan_visit, principal_of, visits, work_orders

BASE = "/mobile/v1/client"

SURNAME = "Quixotesurname"
PHONE = "+49 30 5550199"
INTERNAL_COMMENT = "INTERNAL-COMMENT-do-not-show"
INTERNAL_EVENT = "INTERNAL-EVENT-do-not-show"
# The engineer's status note on completion is internal; the client reads `client_summary`.
INTERNAL_COMPLETION_NOTE = "INTERNAL-COMPLETION-NOTE-do-not-show"
RATE_CENTS = 98_765
CALLOUT_CENTS = 43_210
# Text that must appear in no client answer at all.
SECRETS = (
    "priority",
    "critical",
    "sla",
    SURNAME,
    PHONE,
    INTERNAL_COMMENT,
    INTERNAL_EVENT,
    INTERNAL_COMPLETION_NOTE,
    str(RATE_CENTS),
    str(CALLOUT_CENTS),
    "hourly_rate",
    "callout",
    "currency",
    "billing",
    "is_internal",
)


@dataclass
class Company:
    """One client company and what it owns."""

    client: Client
    user: User
    site: Site
    unit: Equipment
    contract: Contract
    order: WorkOrder
    visit: Visit
    engineer: Engineer


async def under_contract(
    session: AsyncSession, unit: Equipment, *, status: ContractStatus = ContractStatus.ACTIVE
) -> Contract:
    """A contract covering `unit` today, a current and a next service period, planted rates."""
    today = utcnow().date()
    contract = Contract(
        client_id=unit.client_id,
        number=f"K-{unit.serial_number}-{status.value}",
        valid_from=today - timedelta(days=40),
        valid_to=today + timedelta(days=300),
        status=status,
        hourly_rate_cents=RATE_CENTS,
        callout_fee_cents=CALLOUT_CENTS,
        included_labour_minutes=600,
    )
    session.add(contract)
    await session.flush()
    coverage = Coverage(
        contract_id=contract.id,
        equipment_id=unit.id,
        period=Range(contract.valid_from, contract.valid_to + timedelta(days=1)),
        is_active=status is ContractStatus.ACTIVE,
        interval_count=3,
        interval_unit=IntervalUnit.MONTH,
        visit_minutes=45,
    )
    session.add(coverage)
    await session.flush()
    for starts, ends, state in ((-40, 49, PeriodStatus.SCHEDULED), (50, 139, PeriodStatus.PLANNED)):
        session.add(
            ServicePeriod(
                coverage_id=coverage.id,
                contract_id=contract.id,
                equipment_id=unit.id,
                starts_on=today + timedelta(days=starts),
                ends_on=today + timedelta(days=ends),
                status=state,
            )
        )
    await session.flush()
    return contract


async def open_critical(
    session: AsyncSession, unit: Equipment, *, staff: User, title: str = "Pump noisy"
) -> WorkOrder:
    """A critical work order on `unit`, opened by staff."""
    return await work_orders(session).create(
        WorkOrderDraft(
            site_id=unit.site_id,
            type=WorkOrderType.REPAIR,
            title=title,
            priority=Priority.CRITICAL,
            equipment_id=unit.id,
        ),
        actor=principal_of(staff),
    )


async def complete_visit(
    session: AsyncSession,
    visit: Visit,
    engineer: Engineer,
    *,
    note: str = INTERNAL_COMPLETION_NOTE,
    client_summary: str = "Replaced the seal",
) -> Visit:
    """The engineer drives there, arrives and completes the visit with labour time, an
    internal note and a summary for the client."""
    service = visits(session)
    actor = principal_of(engineer.user)
    for status in (VisitStatus.EN_ROUTE, VisitStatus.ON_SITE):
        await service.report_status(visit.id, StatusReport(status=status), actor=actor)
    return await service.report_status(
        visit.id,
        StatusReport(
            status=VisitStatus.COMPLETED,
            labour_minutes=75,
            note=note,
            client_summary=client_summary,
        ),
        actor=actor,
    )


async def make_company(
    session: AsyncSession, *, resolved: bool = True, client: Client | None = None
) -> Company:
    """A company with a covered unit and a critical order whose visit an engineer completed.

    Internal comment, internal event, rates, the engineer's surname and phone are planted.
    With `client`, the same at a new site of that company (a second branch).
    """
    client = client or await make_client(session)
    site = await make_site(session, client=client)
    unit = await make_equipment(session, client=client, site=site)
    contract = await under_contract(session, unit)
    user = await make_user(session, role=Role.CLIENT, client=client, full_name="Clara Client")
    staff = await make_user(session, role=Role.DISPATCHER, full_name="Dora Dispatch")
    engineer = await make_engineer(
        session,
        user=await make_user(session, role=Role.ENGINEER, full_name=f"Erik {SURNAME}"),
        phone=PHONE,
    )
    order = await open_critical(session, unit, staff=staff)
    service = work_orders(session)
    await service.add_comment(
        order.id, INTERNAL_COMMENT, actor=principal_of(staff), is_internal=True
    )
    await service.add_comment(
        order.id, "We will send someone today", actor=principal_of(staff), is_internal=False
    )
    service.log(order, "note", principal_of(staff), {"text": INTERNAL_EVENT}, Visibility.INTERNAL)
    # A public event whose data holds an internal fact: the client view keeps known keys only.
    memo = {"memo": INTERNAL_EVENT}
    service.log(order, "annotated", principal_of(staff), memo, Visibility.PUBLIC)
    visit = await plan_visit(
        session, order, actor=staff, engineer=engineer, planned_start_at=utcnow()
    )
    visit = await complete_visit(session, visit, engineer)
    if resolved:
        order = await move(session, order, WorkOrderStatus.RESOLVED, actor=staff)
    await session.flush()
    return Company(
        client=client,
        user=user,
        site=site,
        unit=unit,
        contract=contract,
        order=order,
        visit=visit,
        engineer=engineer,
    )


def assert_no_secrets(answer: Any) -> None:
    """No planted secret, nor any priority or cost word, in a client answer."""
    text = json.dumps(answer).lower()
    leaked = [s for s in SECRETS if s.lower() in text]
    assert leaked == [], f"leaked {leaked} in {text[:2000]}"


async def headers_of(client: httpx.AsyncClient, user: User) -> dict[str, str]:
    """Authorization headers for `user`."""
    return await login(client, user)


@contextmanager
def counting_queries(engine: AsyncEngine) -> Iterator[list[str]]:
    """Every SQL statement run while the block is open."""
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
