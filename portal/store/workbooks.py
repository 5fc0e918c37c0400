"""`xlsx`: a table's rows as an Excel workbook, because Excel is what most citizens open.

Written with XlsxWriter in `constant_memory` mode (measured ~1.7× faster than openpyxl's
write-only mode at the same output; decision 0016a): rows go from DuckDB's Arrow batches straight
into the worksheet's XML on disk, so memory stays flat; the finished file is then streamed from a
temporary file whose size is known, so the response carries `Content-Length` and browsers show
progress. An XLSX is a zip whose directory comes last, so nothing can be sent before it is whole.

Excel holds at most 1,048,576 rows a sheet; above that the rows continue on further sheets
("data (2)", …), each with the header row. Values keep their types (numbers, dates, booleans) so
Excel can sort and sum them; Excel has no time zones, so timestamp headers say "(UTC)"; dates
before 1900 (outside Excel's calendar) are ISO text. Text
starting with "=" stays text, never a formula (no formula injection from the data).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

import xlsxwriter

from portal.store.connection import cursor as db_cursor
from portal.store.schema import Column

EXCEL_MAX_ROWS = 1_048_576
BATCH_ROWS = 20_000
CHUNK = 1 << 20
# XML 1.0 cannot hold these control characters at all; Excel would call the file corrupt.
ILLEGAL_CHARACTERS_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
OPTIONS = {
    "constant_memory": True,
    "strings_to_formulas": False,  # "=HYPERLINK(...)" in the data is text, never a formula
    "strings_to_urls": False,
    "strings_to_numbers": False,  # codes like "010101" stay text
    "default_date_format": "yyyy-mm-dd hh:mm:ss",
}


def xlsx_file(columns: list[Column], statement: str, params: list[object],
              *, sheet_rows: int = EXCEL_MAX_ROWS - 1) -> tuple[Iterator[bytes], int]:
    """The rows `statement` selects as an XLSX file: its chunks and its size in bytes."""
    handle = tempfile.TemporaryFile()
    try:
        write_xlsx(handle, columns, statement, params, sheet_rows=sheet_rows)
        size = handle.tell()
        handle.seek(0)
    except BaseException:
        handle.close()
        raise
    return _chunks(handle), size


def write_xlsx(handle: BinaryIO, columns: list[Column], statement: str, params: list[object],
               *, sheet_rows: int = EXCEL_MAX_ROWS - 1) -> None:
    """Write the rows `statement` selects as an XLSX workbook into an open binary file."""
    book = xlsxwriter.Workbook(handle, OPTIONS)
    header = [f"{c.name} (UTC)" if c.type == "timestamp" else c.name for c in columns]
    sheet, count = _sheet(book, header), 0
    cur = db_cursor()
    try:
        for batch in cur.sql(statement, params=params).to_arrow_reader(BATCH_ROWS):
            for row in zip(*(batch.column(i).to_pylist() for i in range(batch.num_columns)), strict=True):
                if count == sheet_rows:
                    sheet, count = _sheet(book, header), 0
                count += 1
                sheet.write_row(count, 0, [_cell(value) for value in row])
    finally:
        cur.close()
        book.close()


def _sheet(book: xlsxwriter.Workbook, header: list[str]):
    number = len(book.worksheets()) + 1
    sheet = book.add_worksheet("data" if number == 1 else f"data ({number})")
    sheet.write_row(0, 0, header)
    return sheet


def _cell(value):
    """A value Excel reads as the same thing: text stays text, non-finite floats are empty."""
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value)
    if isinstance(value, bytes | bytearray):
        return value.hex()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    if isinstance(value, dt.date) and value.year < 1900:
        return value.isoformat()  # before Excel's calendar starts: ISO text, not a wrong number
    return value


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(CHUNK):
            yield chunk
