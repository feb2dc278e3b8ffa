"""The checklist's part in a visit's life, handed to fsm's VisitService through the app."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from checklists.service import ChecklistService
from fsm.visits.models import Visit


class ChecklistVisitHooks:
    """Attach a run when a visit is planned; refuse completion while it is unfinished."""

    async def on_planned(self, session: AsyncSession, visit: Visit) -> None:
        """Choose the template for the visit and attach its run."""
        await ChecklistService(session).ensure_runs([visit.id])

    async def completion_blockers(
        self, session: AsyncSession, visit: Visit
    ) -> list[dict[str, Any]]:
        """The required items still unanswered and photos still missing."""
        return await ChecklistService(session).completion_blockers(visit)
