"""Endpoints for contracts, their covered units and service periods."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from litestar import Controller, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from equipment.contracts.models import ContractStatus
from equipment.contracts.schemas import (
    ContractCreate,
    ContractDatesUpdate,
    ContractRead,
    CoverageCreate,
    ServicePeriodRead,
    contract_read,
    service_period_read,
)
from equipment.contracts.service import ContractService
from equipment.contracts.usage import ContractUsage, contract_usage
from fsm.auth.guards import requires_roles, requires_staff
from fsm.auth.principal import Principal
from fsm.pagination import PageOut, PageRequest, page_out
from fsm.schemas import LimitQuery, OffsetQuery
from fsm.users.models import Role

requires_staff_or_client = requires_roles(Role.ADMIN, Role.DISPATCHER, Role.CLIENT)


async def provide_contract_service(db_session: NamedDependency[AsyncSession]) -> ContractService:
    return ContractService(db_session)


class ContractController(Controller):
    """Contracts: staff manage them; a client user reads only its own company's."""

    path = "/api/v1/contracts"
    tags = ["contracts"]
    guards = [requires_staff_or_client]
    dependencies = {"contracts": Provide(provide_contract_service)}

    @get("/", operation_id="ListContracts")
    async def list_contracts(
        self,
        contracts: NamedDependency[ContractService],
        principal: NamedDependency[Principal],
        client_id: Annotated[uuid.UUID | None, QueryParameter(description="Of this client")] = None,
        status: Annotated[ContractStatus | None, QueryParameter(description="In status")] = None,
        limit: LimitQuery = 50,
        offset: OffsetQuery = 0,
    ) -> PageOut[ContractRead]:
        """List contracts the caller may see."""
        page = await contracts.list(
            PageRequest(limit=limit, offset=offset),
            viewer=principal,
            client_id=client_id,
            status=status,
        )
        return page_out(page, contract_read)

    @post("/", operation_id="CreateContract", guards=[requires_staff])
    async def create_contract(
        self, contracts: NamedDependency[ContractService], data: JSONBody[ContractCreate]
    ) -> ContractRead:
        """Draw up a draft contract with a client."""
        return contract_read(await contracts.create(data))

    @get("/{contract_id:uuid}", operation_id="GetContract")
    async def get_contract(
        self,
        contracts: NamedDependency[ContractService],
        principal: NamedDependency[Principal],
        contract_id: FromPath[uuid.UUID],
    ) -> ContractRead:
        """One contract with its covered units."""
        return contract_read(await contracts.get(contract_id, viewer=principal))

    @patch("/{contract_id:uuid}", operation_id="ChangeContractDates", guards=[requires_staff])
    async def change_contract_dates(
        self,
        contracts: NamedDependency[ContractService],
        principal: NamedDependency[Principal],
        contract_id: FromPath[uuid.UUID],
        data: JSONBody[ContractDatesUpdate],
    ) -> ContractRead:
        """Move a contract's validity; planned service periods are re-cut."""
        return contract_read(await contracts.change_dates(contract_id, data, viewer=principal))

    @post("/{contract_id:uuid}/coverages", operation_id="AddCoverage", guards=[requires_staff])
    async def add_coverage(
        self,
        contracts: NamedDependency[ContractService],
        principal: NamedDependency[Principal],
        contract_id: FromPath[uuid.UUID],
        data: JSONBody[CoverageCreate],
    ) -> ContractRead:
        """Put a unit under the contract with its maintenance plan."""
        return contract_read(await contracts.add_coverage(contract_id, data, viewer=principal))

    @post(
        "/{contract_id:uuid}/activate",
        operation_id="ActivateContract",
        guards=[requires_staff],
        status_code=200,
    )
    async def activate_contract(
        self,
        contracts: NamedDependency[ContractService],
        principal: NamedDependency[Principal],
        contract_id: FromPath[uuid.UUID],
    ) -> ContractRead:
        """Put a contract in force."""
        return contract_read(await contracts.activate(contract_id, viewer=principal))

    @post(
        "/{contract_id:uuid}/suspend",
        operation_id="SuspendContract",
        guards=[requires_staff],
        status_code=200,
    )
    async def suspend_contract(
        self,
        contracts: NamedDependency[ContractService],
        principal: NamedDependency[Principal],
        contract_id: FromPath[uuid.UUID],
    ) -> ContractRead:
        """Stop an active contract for now."""
        return contract_read(await contracts.suspend(contract_id, viewer=principal))

    @post(
        "/{contract_id:uuid}/expire",
        operation_id="ExpireContract",
        guards=[requires_staff],
        status_code=200,
    )
    async def expire_contract(
        self,
        contracts: NamedDependency[ContractService],
        principal: NamedDependency[Principal],
        contract_id: FromPath[uuid.UUID],
    ) -> ContractRead:
        """End a contract for good."""
        return contract_read(await contracts.expire(contract_id, viewer=principal))

    @get("/{contract_id:uuid}/usage", operation_id="GetContractUsage", guards=[requires_staff])
    async def get_contract_usage(
        self,
        contracts: NamedDependency[ContractService],
        principal: NamedDependency[Principal],
        db_session: NamedDependency[AsyncSession],
        contract_id: FromPath[uuid.UUID],
        from_: Annotated[date, QueryParameter(name="from", description="First day")],
        to: Annotated[date, QueryParameter(description="Last day (inclusive)")],
    ) -> ContractUsage:
        """Labour used against included hours, and billable work, per billing period."""
        contract = await contracts.get(contract_id, viewer=principal)
        return await contract_usage(db_session, contract, start=from_, end=to)

    @get("/{contract_id:uuid}/periods", operation_id="ListServicePeriods")
    async def list_service_periods(
        self,
        contracts: NamedDependency[ContractService],
        principal: NamedDependency[Principal],
        contract_id: FromPath[uuid.UUID],
        limit: LimitQuery = 200,
        offset: OffsetQuery = 0,
    ) -> PageOut[ServicePeriodRead]:
        """The service periods of a contract, by start day."""
        page = await contracts.list_periods(
            contract_id, PageRequest(limit=limit, offset=offset), viewer=principal
        )
        return page_out(page, service_period_read)
