"""Builders of equipment test data, committed so the API sees it."""

from __future__ import annotations

import itertools

from sqlalchemy.ext.asyncio import AsyncSession

from equipment.equipment.models import Equipment, EquipmentModel
from fsm.clients.models import Client
from fsm.sites.models import Site
from tests.factories import make_client, make_site

_seq = itertools.count(1)


async def make_equipment_model(session: AsyncSession) -> EquipmentModel:
    n = next(_seq)
    model = EquipmentModel(manufacturer=f"Maker {n}", model=f"M-{n}", category="boiler")
    session.add(model)
    await session.flush()
    return model


async def make_equipment(
    session: AsyncSession,
    *,
    client: Client | None = None,
    site: Site | None = None,
    model: EquipmentModel | None = None,
    serial_number: str | None = None,
) -> Equipment:
    # A unit belongs to the client of its site unless a test says otherwise.
    if site is None:
        client = client or await make_client(session)
        site = await make_site(session, client=client)
    if model is None:
        model = await make_equipment_model(session)
    unit = Equipment(
        client_id=client.id if client is not None else site.client_id,
        site_id=site.id,
        model_id=model.id,
        serial_number=serial_number or f"SN-{next(_seq)}",
    )
    session.add(unit)
    await session.flush()
    await session.refresh(unit)
    return unit
