"""Which contract covers a unit on a day, and so which one a new request falls under.

`covering` is the one statement of "a contract covers this unit on this day"; the equipment
card, both apps and request intake ask it rather than writing the conditions again.
"""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import lazyload

from equipment.contracts.models import Contract, ContractStatus, Coverage
from equipment.equipment.models import Equipment
from fsm.errors import reference_error
from fsm.workorders.service import CoverageFacts


def in_force(client_id: uuid.UUID, on: date) -> tuple[ColumnElement[bool], ...]:
    """A contract of `client_id` that is active and valid on `on`."""
    return (
        Contract.client_id == client_id,
        Contract.status == ContractStatus.ACTIVE,
        Contract.valid_from <= on,
        Contract.valid_to >= on,
    )


def covering(equipment_id: uuid.UUID, client_id: uuid.UUID, on: date) -> Select[Coverage, Contract]:
    """The coverage (at most one, by constraint) of the unit by a contract of its owner on `on`.

    Only the owner's contracts count: a unit taken over from another company is not covered
    by the contract that company had for it.
    """
    return (
        select(Coverage, Contract)
        .join(Contract, Contract.id == Coverage.contract_id)
        .where(Coverage.equipment_id == equipment_id, Coverage.is_active, *in_force(client_id, on))
        # The contract's own list of coverages is not part of the answer: no extra query.
        .options(lazyload(Contract.coverages))
        .limit(1)
    )


async def resolve_coverage(
    session: AsyncSession, *, client_id: uuid.UUID, equipment_id: uuid.UUID | None, on: date
) -> CoverageFacts:
    """The contract and SLA policy for a request of `client_id` on `on`.

    With equipment: the active contract whose coverage of that unit is in force that day.
    Without: the client's contract in force that day, when it has exactly one.

    Raises:
        ValidationFailed: the equipment does not exist or belongs to another client.
    """
    if equipment_id is not None:
        unit = await session.get(Equipment, equipment_id)
        if unit is None or unit.client_id != client_id:
            raise reference_error("equipment_id", "no such equipment at this client")
        covered = (await session.execute(covering(unit.id, client_id, on))).first()
        contract = covered[1] if covered else None
        return CoverageFacts(
            equipment_site_id=unit.site_id,
            contract_id=contract.id if contract else None,
            sla_policy_id=contract.sla_policy_id if contract else None,
        )
    contracts = (
        await session.scalars(select(Contract).where(*in_force(client_id, on)).limit(2))
    ).all()
    only = contracts[0] if len(contracts) == 1 else None
    return CoverageFacts(
        equipment_site_id=None,
        contract_id=only.id if only else None,
        sla_policy_id=only.sla_policy_id if only else None,
    )
