"""Which contract covers a new request: the one over its equipment, else the client's only one."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from equipment.contracts.models import Contract, ContractStatus, Coverage
from equipment.equipment.models import Equipment
from fsm.errors import field_error
from fsm.workorders.service import CoverageFacts


async def resolve_coverage(
    session: AsyncSession, *, client_id: uuid.UUID, equipment_id: uuid.UUID | None, on: date
) -> CoverageFacts:
    """The contract and SLA policy for a request of `client_id` on `on`.

    With equipment: the active contract whose coverage of that unit is in force that day.
    Without: the client's contract in force that day, when it has exactly one.

    Raises:
        ValidationFailed: the equipment does not exist or belongs to another client.
    """
    in_force = (
        Contract.client_id == client_id,
        Contract.status == ContractStatus.ACTIVE,
        Contract.valid_from <= on,
        Contract.valid_to >= on,
    )
    if equipment_id is not None:
        unit = await session.get(Equipment, equipment_id)
        if unit is None or unit.client_id != client_id:
            raise field_error("equipment_id", "no such equipment at this client")
        contract = (
            await session.scalars(
                select(Contract)
                .join(Coverage, Coverage.contract_id == Contract.id)
                .where(Coverage.equipment_id == unit.id, Coverage.is_active, *in_force)
                .limit(1)
            )
        ).first()
        return CoverageFacts(
            equipment_site_id=unit.site_id,
            contract_id=contract.id if contract else None,
            sla_policy_id=contract.sla_policy_id if contract else None,
        )
    contracts = (await session.scalars(select(Contract).where(*in_force).limit(2))).all()
    only = contracts[0] if len(contracts) == 1 else None
    return CoverageFacts(
        equipment_site_id=None,
        contract_id=only.id if only else None,
        sla_policy_id=only.sla_policy_id if only else None,
    )
