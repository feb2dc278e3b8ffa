"""Reports as files: CSV and XLSX downloads (openpyxl), PDF documents (fsm.documents).

A report hands over named tables (a header row and rows of plain values); each format
writes the same tables, so the CSV, the spreadsheet and the PDF never disagree. Times are
written in the report's time zone, with the zone named in the title.
"""

from __future__ import annotations

import csv
import enum
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from openpyxl import Workbook

from fsm.documents import FILE_MEDIA_TYPES, Document

Cell = str | int | float | None

MEDIA_TYPES = FILE_MEDIA_TYPES


class ReportFormat(enum.StrEnum):
    """How a report is answered."""

    JSON = "json"
    CSV = "csv"
    XLSX = "xlsx"
    PDF = "pdf"


@dataclass(frozen=True, slots=True)
class Table:
    """One table of a report."""

    name: str
    header: Sequence[str]
    rows: Sequence[Sequence[Cell]]


@dataclass(frozen=True, slots=True)
class Tables:
    """A report as tables, with its title and the lines that explain it."""

    title: str
    notes: Sequence[str]
    tables: Sequence[Table]


def local_time(value: datetime | None, zone: ZoneInfo) -> str:
    """An instant as the report's local wall time, or empty."""
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else ""


def _text(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float):
        return f"{cell:g}"
    return str(cell)


def to_csv(report: Tables) -> bytes:
    """Every table one after the other, each under its name, separated by a blank row."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([report.title])
    for table in report.tables:
        writer.writerow([])
        writer.writerow([table.name])
        writer.writerow(table.header)
        writer.writerows([_text(c) for c in row] for row in table.rows)
    # The BOM tells spreadsheet programs the file is UTF-8 (Cyrillic names survive).
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(report: Tables) -> bytes:
    """One sheet per table, header row first, values as numbers where they are numbers."""
    book = Workbook()
    first = book.active
    assert first is not None  # a new workbook has one sheet
    book.remove(first)
    for table in report.tables:
        sheet = book.create_sheet(title=table.name[:31])
        sheet.append(list(table.header))
        for row in table.rows:
            sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def to_pdf(report: Tables) -> bytes:
    """The report as a document: title, notes, then each table."""
    doc = Document(report.title, landscape=True)
    doc.title(report.title)
    for note in report.notes:
        doc.text(note)
    for table in report.tables:
        doc.heading(table.name)
        if table.rows:
            doc.table(table.header, [[_text(c) for c in row] for row in table.rows])
        else:
            doc.text("None.")
    return doc.pdf()


def render(report: Tables, fmt: ReportFormat) -> bytes:
    """The report's file in a format other than JSON."""
    if fmt is ReportFormat.CSV:
        return to_csv(report)
    if fmt is ReportFormat.XLSX:
        return to_xlsx(report)
    if fmt is ReportFormat.PDF:
        return to_pdf(report)
    raise ValueError(f"{fmt} is answered as JSON, not rendered")
