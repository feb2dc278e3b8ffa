"""Spreadsheet files in and out: CSV (UTF-8, comma, header row) and XLSX (first sheet).

Every cell is read as text, so the one parser per column decides what it means whatever the
file's format; XLSX cells Excel typed (numbers, dates) are turned back into the text a CSV
would carry. Export writes strings too, so a round trip through either format is lossless.
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import io
import zipfile
from collections.abc import Iterable, Sequence

from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import Cell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

__all__ = ["FileFormat", "SheetUnreadable", "read_sheet", "sniff_format", "write_sheet"]

_XLSX_MAGIC = b"PK\x03\x04"


class FileFormat(enum.StrEnum):
    """The two formats we read and write."""

    CSV = "csv"
    XLSX = "xlsx"

    @property
    def media_type(self) -> str:
        """The content type of a file in this format."""
        if self is FileFormat.CSV:
            return "text/csv; charset=utf-8"
        return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class SheetUnreadable(ValueError):
    """The bytes are neither a UTF-8 CSV nor an XLSX workbook."""


def sniff_format(data: bytes) -> FileFormat:
    """XLSX files are zip archives; anything else is taken for CSV."""
    return FileFormat.XLSX if data.startswith(_XLSX_MAGIC) else FileFormat.CSV


def read_sheet(data: bytes, file_format: FileFormat) -> tuple[list[str], list[list[str]]]:
    """The header and the data rows as text; blank rows are dropped, ragged rows padded.

    Raises:
        SheetUnreadable: the file cannot be read in that format.
    """
    rows = _read_csv(data) if file_format is FileFormat.CSV else _read_xlsx(data)
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise SheetUnreadable("the file has no header row")
    header = [cell.strip() for cell in rows[0]]
    width = len(header)
    body = [(row + [""] * width)[:width] if len(row) < width else row for row in rows[1:]]
    return header, body


def _read_csv(data: bytes) -> list[list[str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SheetUnreadable(f"not UTF-8 text (byte {exc.start})") from exc
    try:
        return list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise SheetUnreadable(f"not a CSV file: {exc}") from exc


def _read_xlsx(data: bytes) -> list[list[str]]:
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise SheetUnreadable(f"not an XLSX workbook: {exc}") from exc
    try:
        sheet = workbook.worksheets[0]
        return [[_cell_text(value) for value in row] for row in sheet.iter_rows(values_only=True)]
    finally:
        workbook.close()


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        # Excel has no date type: a typed date is a midnight datetime.
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def write_sheet(
    header: Sequence[str], rows: Iterable[Sequence[str]], file_format: FileFormat
) -> bytes:
    """A file with the header and the rows, every cell stored as text."""
    if file_format is FileFormat.CSV:
        out = io.StringIO(newline="")
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(rows)
        return out.getvalue().encode("utf-8")
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("data")
    sheet.append(list(header))
    for row in rows:
        sheet.append([_text_cell(sheet, value) for value in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _text_cell(sheet: WriteOnlyWorksheet, value: str) -> Cell | str:
    # openpyxl stores a string starting with "=" as a formula; ours are always data.
    if not value.startswith("="):
        return value
    cell = WriteOnlyCell(sheet, value)
    cell.data_type = "s"
    return cell
