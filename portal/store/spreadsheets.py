"""XLSX sources: the first sheet, streamed with openpyxl's read-only mode, written out as CSV.

Excel cells are typed, but their types are unreliable (numbers stored as text, codes that lost
their zeros, dates typed by hand), so every cell is rendered as text the way a person would type
it and the common CSV path infers the column types: integral floats lose their `.0`, datetimes
at midnight become dates, booleans become `true`/`false`. Fully empty rows and trailing columns
without a header are dropped.
"""

from __future__ import annotations

import csv
import datetime as dt
import zipfile
from collections.abc import Iterator
from pathlib import Path

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from portal.store.delimited import check_names
from portal.store.errors import IngestError


def xlsx_to_csv(source: Path, target: Path) -> tuple[str, ...]:
    """Write the first sheet of `source` to `target` (UTF-8 CSV); return the header.

    Raises:
        IngestError: `broken-xlsx`, `empty-file`, `empty-column-name`, `duplicate-column`.
    """
    try:
        book = load_workbook(source, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise IngestError("broken-xlsx", f"the file is not a readable XLSX workbook: {exc}") from exc
    try:
        return _write(_rows(book.worksheets[0]), target)
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError) as exc:
        raise IngestError("broken-xlsx", f"the workbook is damaged: {exc}") from exc
    finally:
        book.close()


def _rows(sheet) -> Iterator[list[str]]:
    for values in sheet.iter_rows(values_only=True):
        cells = [_text(value) for value in values]
        if any(cells):
            yield cells


def _write(rows: Iterator[list[str]], target: Path) -> tuple[str, ...]:
    header = next(rows, None)
    if header is None:
        raise IngestError("empty-file", "the first sheet is empty")
    while header and not header[-1]:
        header.pop()
    header = [name.strip() for name in header]
    check_names(header)
    width = len(header)
    with open(target, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow((row + [""] * width)[:width])
    return tuple(header)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)
