"""Import and export wire types."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec

from equipment.onboarding.engine import Kind
from equipment.onboarding.models import ImportRun, ImportStatus
from fsm.schemas import Count


class ColumnRead(msgspec.Struct, kw_only=True):
    """One column of an import file."""

    name: str
    is_required: bool
    doc: str


class ImportKindRead(msgspec.Struct, kw_only=True):
    """A kind of row that can be imported and exported, with its documented columns."""

    name: str
    doc: str
    key_columns: list[str]
    columns: list[ColumnRead]


class ImportProblem(msgspec.Struct, kw_only=True):
    """What is wrong where: `row` is the line in the file (the header is 1), None for the file."""

    row: Count | None
    column: str | None
    message: str


class ImportRunRead(msgspec.Struct, kw_only=True):
    """An import run: what it found and did, and how far it has got."""

    id: uuid.UUID
    kind: str
    file_format: str
    is_dry_run: bool
    status: ImportStatus
    total_rows: Count
    processed_rows: Count
    created_rows: Count
    updated_rows: Count
    unchanged_rows: Count
    problems: list[ImportProblem]
    started_at: datetime
    finished_at: datetime | None


def import_kind_read(kind: Kind) -> ImportKindRead:
    """Wire form of a kind."""
    return ImportKindRead(
        name=kind.name,
        doc=kind.doc,
        key_columns=list(kind.key_columns),
        columns=[ColumnRead(name=c.name, is_required=c.required, doc=c.doc) for c in kind.columns],
    )


def import_run_read(run: ImportRun) -> ImportRunRead:
    """Wire form of an import run."""
    return ImportRunRead(
        id=run.id,
        kind=run.kind,
        file_format=run.file_format,
        is_dry_run=run.is_dry_run,
        status=run.status,
        total_rows=run.total_rows,
        processed_rows=run.processed_rows,
        created_rows=run.created_rows,
        updated_rows=run.updated_rows,
        unchanged_rows=run.unchanged_rows,
        problems=msgspec.convert(run.problems, list[ImportProblem]),
        started_at=run.started_at,
        finished_at=run.finished_at,
    )
