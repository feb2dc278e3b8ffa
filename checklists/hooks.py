"""The checklist's part in a visit's life, handed to fsm's VisitService by the service graph."""

from __future__ import annotations

from typing import Any

from checklists.service import ChecklistService
from fsm.workorders.visit_models import Visit


class ChecklistVisitHooks:
    """Attach a run when a visit is planned; refuse completion while it is unfinished."""

    def __init__(self, checklists: ChecklistService) -> None:
        self.checklists = checklists

    async def on_planned(self, visit: Visit) -> None:
        """Choose the template for the visit and attach its run."""
        await self.checklists.ensure_runs([visit.id])

    async def completion_blockers(self, visit: Visit) -> list[dict[str, Any]]:
        """The required items still unanswered and photos still missing."""
        return await self.checklists.completion_blockers(visit)
