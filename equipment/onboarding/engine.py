"""The import engine: read a file, check every row, write all of it or none of it.

Why all or nothing per file: the kinds refer to one another (sites name their client, units
their site, coverages their unit), so a half-loaded file leaves holes that the next file
trips over, and the dry run has already named every problem at once. Re-importing is safe
(rows are matched by their key), so fixing the file and sending it again is the whole retry.

A dry run is the real run inside a savepoint that is rolled back: it finds every problem a
real run would (a duplicate serial number, an overlapping coverage) and writes nothing.
"""

from __future__ import annotations

import abc
import uuid
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from equipment.onboarding.columns import Column
from equipment.onboarding.sheets import FileFormat, SheetUnreadable, read_sheet
from fsm.auth.principal import Principal
from fsm.errors import DomainError

__all__ = [
    "Kind",
    "Outcome",
    "Problem",
    "Progress",
    "Ref",
    "Row",
    "WriteContext",
    "import_rows",
]

# Each lookup by key asks for at most this many keys at once (PostgreSQL bind limits).
CHUNK = 5000
# Progress is reported every this many rows.
PROGRESS_EVERY = 500

Progress = Callable[[int, int], Awaitable[None]]


@dataclass(frozen=True)
class Problem:
    """What is wrong, where: `row` is the line in the file (the header is 1)."""

    row: int | None
    column: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        """The stored and wire form."""
        return {"row": self.row, "column": self.column, "message": self.message}


@dataclass
class Row:
    """One data row: its line, its parsed cells and the ids its references name."""

    line: int
    values: dict[str, Any]
    refs: dict[str, uuid.UUID] = field(default_factory=dict)
    is_ok: bool = True


@dataclass(frozen=True)
class Ref:
    """A column naming a row of another table by that table's key.

    When `by_id` is set, a key that is a UUID also finds the row with that id and no
    external key: exports name rows created through the API that way.
    """

    key: InstrumentedAttribute[Any]
    noun: str
    by_id: bool = False

    async def resolve(self, session: AsyncSession, keys: set[str]) -> dict[str, uuid.UUID]:
        """The id of each key that exists."""
        model = self.key.class_
        found: dict[str, uuid.UUID] = {}
        wanted = sorted(keys)
        for start in range(0, len(wanted), CHUNK):
            chunk = wanted[start : start + CHUNK]
            condition: Any = self.key.in_(chunk)
            ids = [_as_uuid(k) for k in chunk] if self.by_id else []
            ids = [i for i in ids if i is not None]
            if ids:
                condition = or_(condition, and_(self.key.is_(None), model.id.in_(ids)))
            rows = await session.execute(select(self.key, model.id).where(condition))
            for key, row_id in rows.all():
                found[key if key is not None else str(row_id)] = row_id
        return found

    async def names(self, session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
        """The key of each id, for export."""
        model = self.key.class_
        names: dict[uuid.UUID, str] = {}
        wanted = sorted(ids)
        for start in range(0, len(wanted), CHUNK):
            rows = await session.execute(
                select(model.id, self.key).where(model.id.in_(wanted[start : start + CHUNK]))
            )
            for row_id, key in rows.all():
                names[row_id] = key if key is not None else str(row_id)
        return names


def _as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


@dataclass
class WriteContext:
    """What writing a row may use: the session, the caller, and caches the kind fills."""

    session: AsyncSession
    actor: Principal
    cache: dict[str, Any] = field(default_factory=dict)


class Kind(abc.ABC):
    """One kind of row the import reads and the export writes."""

    name: ClassVar[str]
    doc: ClassVar[str]
    columns: ClassVar[tuple[Column, ...]]
    # Columns that name a row of another table.
    refs: ClassVar[dict[str, Ref]] = {}
    # The columns whose values identify a row within a file.
    key_columns: ClassVar[tuple[str, ...]]

    def check(self, row: Row) -> list[Problem]:
        """Problems spanning several cells of one parsed row."""
        return []

    @abc.abstractmethod
    def key(self, row: Row) -> Hashable:
        """The key `existing` maps rows by, from the parsed and resolved row."""

    @abc.abstractmethod
    async def existing(self, ctx: WriteContext, rows: Sequence[Row]) -> dict[Hashable, Any]:
        """The stored rows these file rows match, by key (adopting unkeyed ones if fit)."""

    @abc.abstractmethod
    def current(self, obj: Any) -> dict[str, Any]:
        """A stored row as parsed values, references as ids (for comparing and export)."""

    @abc.abstractmethod
    async def write(self, ctx: WriteContext, row: Row, obj: Any | None) -> list[Problem]:
        """Create (obj None) or update the stored row; problems found instead of writing."""

    @abc.abstractmethod
    async def stored(self, session: AsyncSession) -> Sequence[Any]:
        """Every stored row of this kind in export order."""

    def comparable(self, row: Row) -> dict[str, Any]:
        """The row's values as `current` gives them: references as ids."""
        values = dict(row.values)
        values.update(row.refs)
        return values


@dataclass
class Outcome:
    """What an import did or would do."""

    total_rows: int = 0
    created_rows: int = 0
    updated_rows: int = 0
    unchanged_rows: int = 0
    problems: list[Problem] = field(default_factory=list)


def parse_rows(
    kind: Kind, header: list[str], body: list[list[str]]
) -> tuple[list[Row], list[Problem]]:
    """Every row's cells parsed by its column, with every problem found."""
    problems: list[Problem] = []
    known = {c.name: c for c in kind.columns}
    seen: set[str] = set()
    for name in header:
        if name not in known:
            problems.append(Problem(1, name or None, "unknown column"))
        elif name in seen:
            problems.append(Problem(1, name, "column given twice"))
        seen.add(name)
    for column in kind.columns:
        if column.required and column.name not in seen:
            problems.append(Problem(1, column.name, "required column missing"))
    if problems:
        return [], problems
    rows: list[Row] = []
    positions = {name: i for i, name in enumerate(header)}
    for index, cells in enumerate(body):
        row = Row(line=index + 2, values={})
        for column in kind.columns:
            position = positions.get(column.name)
            raw = cells[position].strip() if position is not None else ""
            if not raw:
                row.values[column.name] = None
                if column.required:
                    problems.append(Problem(row.line, column.name, "required"))
                    row.is_ok = False
                continue
            try:
                row.values[column.name] = column.parse(raw)
            except ValueError as exc:
                problems.append(Problem(row.line, column.name, str(exc)))
                row.values[column.name] = None
                row.is_ok = False
        if row.is_ok:
            extra = kind.check(row)
            if extra:
                problems.extend(extra)
                row.is_ok = False
        rows.append(row)
    first_line: dict[tuple[Any, ...], int] = {}
    for row in rows:
        raw_key = tuple(row.values[c] for c in kind.key_columns)
        if any(v is None for v in raw_key):
            continue
        if raw_key in first_line:
            problems.append(
                Problem(
                    row.line,
                    kind.key_columns[0],
                    f"the same key as row {first_line[raw_key]}",
                )
            )
            row.is_ok = False
        else:
            first_line[raw_key] = row.line
    return rows, problems


async def resolve_refs(kind: Kind, session: AsyncSession, rows: list[Row]) -> list[Problem]:
    """Fill each row's references with ids; a key that names nothing is a problem."""
    problems: list[Problem] = []
    for column, ref in kind.refs.items():
        keys = {r.values[column] for r in rows if r.values.get(column) is not None}
        found = await ref.resolve(session, keys)
        for row in rows:
            value = row.values.get(column)
            if value is None:
                continue
            if value in found:
                row.refs[column] = found[value]
            else:
                problems.append(Problem(row.line, column, f"no {ref.noun} with key {value!r}"))
                row.is_ok = False
    return problems


async def import_rows(
    kind: Kind,
    data: bytes,
    file_format: FileFormat,
    *,
    session: AsyncSession,
    actor: Principal,
    dry_run: bool,
    progress: Progress,
) -> Outcome:
    """Check every row and write the file, all or nothing; a dry run writes nothing."""
    outcome = Outcome()
    try:
        header, body = read_sheet(data, file_format)
    except SheetUnreadable as exc:
        outcome.problems.append(Problem(None, None, str(exc)))
        return outcome
    outcome.total_rows = len(body)
    rows, problems = parse_rows(kind, header, body)
    outcome.problems.extend(problems)
    if not rows:
        return outcome
    outcome.problems.extend(await resolve_refs(kind, session, [r for r in rows if r.is_ok]))
    ctx = WriteContext(session=session, actor=actor)
    savepoint = await session.begin_nested()
    try:
        await _write_rows(kind, ctx, rows, outcome, progress)
    except IntegrityError as exc:
        # A rule the checks above missed; the database refused, so nothing is kept.
        await savepoint.rollback()
        outcome.problems.append(Problem(None, None, f"refused by the database: {exc.orig}"))
        outcome.created_rows = outcome.updated_rows = 0
        return outcome
    except BaseException:
        await savepoint.rollback()
        raise
    outcome.problems.sort(key=lambda p: (p.row or 0, p.column or ""))
    if dry_run or outcome.problems:
        await savepoint.rollback()
    else:
        await savepoint.commit()
    return outcome


async def _write_rows(
    kind: Kind, ctx: WriteContext, rows: list[Row], outcome: Outcome, progress: Progress
) -> None:
    good = [r for r in rows if r.is_ok]
    existing = await kind.existing(ctx, good)
    for done, row in enumerate(rows, start=1):
        if row.is_ok:
            obj = existing.get(kind.key(row))
            if obj is not None and kind.current(obj) == kind.comparable(row):
                outcome.unchanged_rows += 1
            else:
                try:
                    problems = await kind.write(ctx, row, obj)
                except DomainError as exc:
                    problems = [Problem(row.line, _field_of(exc), exc.message)]
                if problems:
                    outcome.problems.extend(problems)
                elif obj is None:
                    outcome.created_rows += 1
                else:
                    outcome.updated_rows += 1
        if done % PROGRESS_EVERY == 0:
            await ctx.session.flush()
            await progress(done, len(rows))
    await ctx.session.flush()
    await progress(len(rows), len(rows))


def _field_of(exc: DomainError) -> str | None:
    details = exc.details
    if isinstance(details, dict) and isinstance(details.get("field"), str):
        return str(details["field"])
    if isinstance(details, list) and details and isinstance(details[0], dict):
        value = details[0].get("field")
        return value if isinstance(value, str) else None
    return None
