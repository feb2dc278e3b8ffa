"""Imports and exports of a company's base, one kind and one file at a time."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from equipment.onboarding.engine import Kind, Outcome, Progress, import_rows
from equipment.onboarding.kinds import KINDS
from equipment.onboarding.models import ImportRun, ImportStatus
from equipment.onboarding.sheets import FileFormat, sniff_format, write_sheet
from fsm.auth.principal import Principal
from fsm.db import utcnow
from fsm.errors import NotFound, ValidationFailed

__all__ = [
    "ImportRejected",
    "ImportRunNotFound",
    "OnboardingService",
    "UnknownKind",
    "record_progress",
]


class UnknownKind(NotFound):
    """No import kind has this name."""


class ImportRunNotFound(NotFound):
    """No such import run."""


class ImportRejected(ValidationFailed):
    """The file has problems; nothing of it was written. `details` lists each one."""

    code = "import_rejected"


def record_progress(run: ImportRun) -> Progress:
    """Progress kept on the run row (read by whoever polls the run).

    In a request the row is seen once the request commits; a background job gives
    `import_file` a recorder that writes each step in a short transaction of its own.
    """

    async def record(done: int, total: int) -> None:
        run.processed_rows, run.total_rows = done, total

    return record


class OnboardingService:
    """Loads a company's base from spreadsheets and writes it back out."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @staticmethod
    def kind(name: str) -> Kind:
        """The kind named `name`."""
        kind = KINDS.get(name)
        if kind is None:
            raise UnknownKind(f"no import kind {name!r}; kinds are {', '.join(KINDS)}")
        return kind

    async def import_file(
        self,
        kind_name: str,
        data: bytes,
        *,
        actor: Principal,
        dry_run: bool,
        progress: Progress | None = None,
    ) -> ImportRun:
        """Check a file, and unless a dry run load it all or not at all.

        The run is recorded either way; a real run with problems raises `ImportRejected`
        after recording nothing of the file (the caller's unit of work rolls back).
        """
        kind = self.kind(kind_name)
        file_format = sniff_format(data)
        run = ImportRun(
            id=uuid.uuid4(),
            kind=kind.name,
            file_format=file_format.value,
            is_dry_run=dry_run,
            status=ImportStatus.RUNNING,
            problems=[],
            started_by_id=actor.user_id,
            started_at=utcnow(),
        )
        self.session.add(run)
        await self.session.flush()
        outcome = await import_rows(
            kind,
            data,
            file_format,
            session=self.session,
            actor=actor,
            dry_run=dry_run,
            progress=progress or record_progress(run),
        )
        _finish(run, outcome, dry_run=dry_run)
        await self.session.flush()
        if run.status is ImportStatus.REJECTED and not dry_run:
            raise ImportRejected(
                f"{len(outcome.problems)} problems in the file; nothing was imported",
                details=run.problems,
            )
        return run

    async def get_run(self, run_id: uuid.UUID) -> ImportRun:
        """An import run."""
        run = await self.session.get(ImportRun, run_id)
        if run is None:
            raise ImportRunNotFound(f"import run {run_id} not found")
        return run

    def template(self, kind_name: str, file_format: FileFormat) -> bytes:
        """A file with the kind's header row only, to fill in."""
        kind = self.kind(kind_name)
        return write_sheet([col.name for col in kind.columns], [], file_format)

    async def export(self, kind_name: str, file_format: FileFormat) -> bytes:
        """Every stored row of the kind in the import columns; importing it changes nothing."""
        kind = self.kind(kind_name)
        stored = [kind.current(obj) for obj in await kind.stored(self.session)]
        names: dict[str, dict[Any, str]] = {}
        for column, ref in kind.refs.items():
            ids = {values[column] for values in stored if values[column] is not None}
            names[column] = await ref.names(self.session, ids)
        rows = []
        for values in stored:
            cells = []
            for col in kind.columns:
                value = values[col.name]
                if col.name in names and value is not None:
                    value = names[col.name][value]
                    cells.append(value)
                else:
                    cells.append("" if value is None else col.fmt(value))
            rows.append(cells)
        return write_sheet([col.name for col in kind.columns], rows, file_format)


def _finish(run: ImportRun, outcome: Outcome, *, dry_run: bool) -> None:
    run.total_rows = outcome.total_rows
    run.processed_rows = outcome.total_rows
    run.created_rows = outcome.created_rows
    run.updated_rows = outcome.updated_rows
    run.unchanged_rows = outcome.unchanged_rows
    run.problems = [p.as_dict() for p in outcome.problems]
    if outcome.problems:
        run.status = ImportStatus.REJECTED
    else:
        run.status = ImportStatus.CHECKED if dry_run else ImportStatus.DONE
    run.finished_at = utcnow()
