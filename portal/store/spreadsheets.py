"""Spreadsheet sources: XLSX (openpyxl, read-only streaming) and legacy XLS (python-calamine),
one sheet of which becomes a plain CSV table through `layout.write_table`.

Excel cells are typed, but their types are unreliable (numbers stored as text, codes that lost
their zeros, dates typed by hand), so every cell is rendered as text the way a person would type
it and the common CSV path infers the column types: integral floats lose their `.0`, datetimes
at midnight become dates, booleans become `true`/`false`.

The sheet is the one the descriptor names (by name or 1-based number), else the first sheet that
holds a table (a row with two values or more): a workbook often opens on a cover or notes sheet.
Which sheet was read, and which were not, goes into the load report.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from python_calamine import CalamineError, CalamineWorkbook

from portal.store.errors import IngestError
from portal.store.layout import HEAD_ROWS, Row, Table, write_table

SPREADSHEETS = ("xlsx", "xls")


def spreadsheet_to_csv(source: Path, target: Path, *, fmt: str, sheet: str | int | None = None) -> Table:
    """Write the table of one sheet of `source` to `target` (UTF-8 CSV).

    Raises:
        IngestError: `broken-xlsx`/`broken-xls`, `unknown-sheet`, `empty-file`, header problems.
    """
    book = _XlsxBook(source) if fmt == "xlsx" else _XlsBook(source)
    try:
        names = book.names()
        name, how = _choose(book, names, sheet)
        table = write_table(book.rows(name), target)
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, CalamineError) as exc:
        raise IngestError(f"broken-{fmt}", f"the workbook is damaged: {exc}") from exc
    finally:
        book.close()
    table.report = replace(table.report, sheet=name, sheets=tuple(names), sheet_chosen=how)
    return table


def _choose(book, names: list[str], sheet: str | int | None) -> tuple[str, str]:
    """The sheet to read and why: declared, or the first with a table."""
    if not names:
        raise IngestError("empty-file", "the workbook has no sheets")
    if isinstance(sheet, int):
        if not 1 <= sheet <= len(names):
            raise IngestError("unknown-sheet", f"sheet {sheet} does not exist; the workbook has "
                                               f"{len(names)}: {', '.join(names)}")
        return names[sheet - 1], "declared"
    if sheet is not None:
        found = [n for n in names if n.strip().casefold() == str(sheet).strip().casefold()]
        if not found:
            raise IngestError("unknown-sheet", f"no sheet named {sheet!r}; the sheets are "
                                               f"{', '.join(names)}")
        return found[0], "declared"
    for name in names:
        if _has_table(book.rows(name)):
            return name, "first-table"
    return names[0], "first-table"


def _has_table(rows: Iterator[Row]) -> bool:
    seen = 0
    for _, cells in rows:
        if sum(1 for c in cells if c.strip()) >= 2:
            return True
        seen += 1
        if seen >= HEAD_ROWS * 2:
            break
    return False


class _XlsxBook:
    def __init__(self, source: Path) -> None:
        from openpyxl import load_workbook  # here, not at import: only loading a workbook needs it
        from openpyxl.utils.exceptions import InvalidFileException

        try:
            self._book = load_workbook(source, read_only=True, data_only=True)
        except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
            raise IngestError("broken-xlsx", f"the file is not a readable XLSX workbook: {exc}") from exc

    def names(self) -> list[str]:
        return list(self._book.sheetnames)

    def rows(self, name: str) -> Iterator[Row]:
        for line, values in enumerate(self._book[name].iter_rows(values_only=True), start=1):
            yield line, [_text(v) for v in values]

    def close(self) -> None:
        self._book.close()


class _XlsBook:
    """Legacy .xls (BIFF) through calamine; also reads .xlsx/.ods if one is declared so."""

    def __init__(self, source: Path) -> None:
        try:
            self._book = CalamineWorkbook.from_path(str(source))
        except (CalamineError, OSError, ValueError) as exc:
            raise IngestError("broken-xls", f"the file is not a readable XLS workbook: {exc}") from exc

    def names(self) -> list[str]:
        return list(self._book.sheet_names)

    def rows(self, name: str) -> Iterator[Row]:
        sheet = self._book.get_sheet_by_name(name)
        first = (sheet.start or (0, 0))[0]  # calamine's range starts at the first used row
        for offset, values in enumerate(sheet.iter_rows()):
            yield first + offset + 1, [_text(v) for v in values]

    def close(self) -> None:
        self._book.close()


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
    if isinstance(value, dt.timedelta):
        return str(value)
    return str(value)
