"""Delimited files that are not a bare table, and physical line numbers of delimited files.

Most CSV files start with their header and are read by DuckDB in place. Some, exported from a
government spreadsheet, carry a title line above the header or notes (注：…, 数据来源：…) below
the table; those are streamed through `layout.write_table` into a clean temp CSV first, like a
spreadsheet sheet. Deciding costs the first lines (already read to sniff) and the last 64 KB.

DuckDB numbers the records of a file (a quoted value spanning lines counts once); people count
the lines of the file. `physical_line` turns one into the other by re-reading the file up to the
record, on the error path only.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from portal.store import layout
from portal.store.encodings import open_bytes

TAIL_BYTES = 64 * 1024
_FIELD_LIMIT = 64 * 1024 * 1024
_TAIL_LINES = 20


def needs_layout(path: Path, head_text: str, delimiter: str, *, gzip: bool) -> bool:
    """Whether the file has titles above its header, notes below its table, or a column without
    a name (a delimiter ending every line, as spreadsheet exports write: a blank column to skip)."""
    rows = [(i, row) for i, row in enumerate(_rows(head_text, delimiter), start=1)]
    head = [(line, [c.strip() for c in cells]) for line, cells in rows if any(c.strip() for c in cells)]
    head = head[:layout.HEAD_ROWS]
    if head and (head[0][0] != 1 or layout.header_span(head) != (0, 1) or "" in head[0][1]):
        return True
    return not gzip and _tail_has_notes(path, delimiter)


def _rows(text: str, delimiter: str) -> Iterator[list[str]]:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        for count, row in enumerate(reader):
            if count >= layout.HEAD_ROWS * 2:
                return
            yield row
    except csv.Error:
        return


def _tail_has_notes(path: Path, delimiter: str) -> bool:
    size = path.stat().st_size
    with open(path, "rb") as handle:
        handle.seek(max(0, size - TAIL_BYTES))
        tail = handle.read().decode("utf-8", "replace")
    lines = [line for line in tail.splitlines() if line.strip()][-_TAIL_LINES:]
    for line in lines:
        first = next(csv.reader([line], delimiter=delimiter), [""])
        cells = [c.strip() for c in first if c.strip()]
        if cells and layout.is_note(cells[0]):
            return True
    return False


def stream_rows(path: Path, delimiter: str) -> Iterator[layout.Row]:
    """The records of a UTF-8 delimited file with the physical line each starts on."""
    if csv.field_size_limit() < _FIELD_LIMIT:  # the default (128 KB) is below DuckDB's 16 MB lines
        csv.field_size_limit(_FIELD_LIMIT)
    with open_bytes(path) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        reader = csv.reader(text, delimiter=delimiter)
        line = 1
        for row in reader:
            yield line, row
            line = reader.line_num + 1


def physical_line(path: Path, delimiter: str, record: int) -> int:
    """The physical line on which DuckDB's record `record` (header = 1) starts."""
    if record <= 1:
        return record
    try:
        for count, (line, _) in enumerate(stream_rows(path, delimiter), start=1):
            if count == record:
                return line
    except (csv.Error, UnicodeDecodeError):
        pass  # the record number is the best we can say
    return record
