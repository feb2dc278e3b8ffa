"""When engineers are away: the one question planning, insert and assignment ask."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.engineers.models import EngineerAbsence


async def absences_between(
    session: AsyncSession,
    engineer_ids: Iterable[uuid.UUID],
    starts_at: datetime,
    ends_at: datetime,
) -> dict[uuid.UUID, list[EngineerAbsence]]:
    """Each engineer's absences overlapping [starts_at, ends_at), in order."""
    ids = list(engineer_ids)
    if not ids:
        return {}
    stmt = (
        select(EngineerAbsence)
        .where(
            EngineerAbsence.engineer_id.in_(ids),
            EngineerAbsence.starts_at < ends_at,
            EngineerAbsence.ends_at > starts_at,
        )
        .order_by(EngineerAbsence.engineer_id, EngineerAbsence.starts_at)
    )
    found: dict[uuid.UUID, list[EngineerAbsence]] = defaultdict(list)
    for absence in (await session.scalars(stmt)).all():
        found[absence.engineer_id].append(absence)
    return dict(found)


async def absence_during(
    session: AsyncSession, engineer_id: uuid.UUID, starts_at: datetime, ends_at: datetime
) -> EngineerAbsence | None:
    """The first absence of the engineer overlapping [starts_at, ends_at), if any."""
    found = await absences_between(session, [engineer_id], starts_at, ends_at)
    return found.get(engineer_id, [None])[0]
