"""`xlsx`: a table's rows as an Excel workbook, because Excel is what most citizens open.

Written with openpyxl's write-only mode: rows go from DuckDB's Arrow batches straight into the
worksheet's XML on disk, so memory stays flat; the finished file is then streamed from a
temporary file whose size is known, so the response carries `Content-Length` and browsers show
progress. An XLSX is a zip whose directory comes last, so nothing can be sent before it is whole.

Excel holds at most 1,048,576 rows a sheet; above that the rows continue on further sheets
("data (2)", …), each with the header row. Values keep their types (numbers, dates, booleans) so
Excel can sort and sum them; Excel has no time zones, so timestamp headers say "(UTC)". Text
starting with "=" stays text, never a formula (no formula injection from the data).
"""

from __future__ import annotations

import datetime as dt
import math
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from portal.store.connection import cursor as db_cursor
from portal.store.schema import Column

EXCEL_MAX_ROWS = 1_048_576
BATCH_ROWS = 20_000
CHUNK = 1 << 20


def xlsx_file(columns: list[Column], statement: str, params: list[object],
              *, sheet_rows: int = EXCEL_MAX_ROWS - 1) -> tuple[Iterator[bytes], int]:
    """The rows `statement` selects as an XLSX file: its chunks and its size in bytes."""
    handle = tempfile.TemporaryFile()
    try:
        _write(handle, columns, statement, params, sheet_rows)
        size = handle.tell()
        handle.seek(0)
    except BaseException:
        handle.close()
        raise
    return _chunks(handle), size


def _write(handle: BinaryIO, columns: list[Column], statement: str, params: list[object],
           sheet_rows: int) -> None:
    book = Workbook(write_only=True)
    header = [f"{c.name} (UTC)" if c.type == "timestamp" else c.name for c in columns]
    sheet, count = _sheet(book, header), 0
    cur = db_cursor()
    try:
        for batch in cur.sql(statement, params=params).to_arrow_reader(BATCH_ROWS):
            for row in zip(*(batch.column(i).to_pylist() for i in range(batch.num_columns)), strict=True):
                if count == sheet_rows:
                    sheet, count = _sheet(book, header), 0
                sheet.append([_cell(sheet, value) for value in row])
                count += 1
    finally:
        cur.close()
    book.save(handle)


def _sheet(book: Workbook, header: list[str]):
    number = len(book.worksheets) + 1
    sheet = book.create_sheet("data" if number == 1 else f"data ({number})")
    sheet.append(header)
    return sheet


def _cell(sheet, value):
    """A value Excel reads as the same thing: text stays text, non-finite floats are empty."""
    if isinstance(value, str):
        text = ILLEGAL_CHARACTERS_RE.sub("", value)
        if not text.startswith("="):
            return text
        cell = WriteOnlyCell(sheet, text)
        cell.data_type = "s"
        return cell
    if isinstance(value, bytes | bytearray):
        return value.hex()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(CHUNK):
            yield chunk
