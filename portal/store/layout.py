"""Finding the table in a government spreadsheet (or a CSV with a title): where the header is,
what sits above and below it, and writing just the table out as a plain CSV.

The header row is detected, never assumed. Rows above it with at most one value (the title,
"单位：万元", a date) or with a "label：value" cell are titles. The header is the first row with
two values or more; the rows right under it are more header rows (a two-level header whose upper
cells were merged) while they fill a gap of the row above, leave a cell under a value of the row
above empty (that cell was merged downwards) and hold no number. Names of a
two-level header are joined as `上级·下级` (a merged upper cell spans the lower cells to its right).
Columns with no name in any header row are spacer columns and must stay empty. Below the table, a
row that starts with 注、说明、数据来源、资料来源、制表… begins the notes: it and every row after it
are skipped, and a row of data after the notes is refused rather than lost. Blank rows are skipped
everywhere. Every skipped row is reported (`reports.LoadReport`), and `line_map` maps each written
line to its line in the source so errors name the source's lines.
"""

from __future__ import annotations

import csv
import re
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from portal.store.delimited import check_names
from portal.store.errors import IngestError
from portal.store.reports import LoadReport, SkippedRow, TotalsRow

HEAD_ROWS = 30
MAX_HEADER_LEVELS = 3
JOIN = "·"

_META = re.compile(r"^\s*(单位|计量单位|金额单位|填报单位|编制单位|制表单位|统计时间|统计时段|时间|日期|"
                   r"截止日期|截至|报送日期|表号|制表机关|批准文号)\s*[:：]")
_NOTE = re.compile(r"^\s*(注|附注|备注|说明|填表说明|数据来源|资料来源|来源|制表人|制表|填表人|审核人|审核|"
                   r"负责人|单位负责人|联系人|联系电话|报送日期|填报日期|note|notes|source)"
                   r"\s*[0-9一二三四五六七八九十]*\s*[:：、.．]", re.IGNORECASE)
TOTAL_LABELS = _TOTALS = frozenset({"合计", "总计", "共计", "总数", "小计", "全市", "全市合计", "全区", "全县", "全省",
                     "全国", "全市总计", "总合计", "total", "totals", "grandtotal", "subtotal", "sum"})
_NUMBER = re.compile(r"^[+-]?[0-9][0-9,]*(\.[0-9]+)?%?$")

Row = tuple[int, list[str]]  # (source line, cells as text)


@dataclass
class Table:
    """The detected table: its column names, which source columns they come from, and the report."""

    header: tuple[str, ...]
    keep: tuple[int, ...]
    report: LoadReport
    line_map: array
    totals: list[TotalsRow] = field(default_factory=list)


def write_table(rows: Iterator[Row], target: Path) -> Table:
    """Detect the table in `rows` and write it to `target` as UTF-8 CSV with one header line.

    Raises:
        IngestError: `empty-file`, `empty-column-name`, `duplicate-column`, `data-after-notes`.
    """
    head, blanks = _head(rows)
    if not head:
        raise IngestError("empty-file", "the sheet holds no table")
    start = _header_start(head)
    skipped = [SkippedRow(line, "title", " ".join(c for c in cells if c)) for line, cells in head[:start]]
    levels = _header_levels(head, start)
    names, keep, blank_columns = _names(levels)
    _check_header_names(names, levels[0][0])
    body = head[start + len(levels):]
    table = Table(tuple(names), tuple(keep), LoadReport(), array("L", [levels[-1][0]]))
    notes, more_blanks = _write(table, _chain(body, rows), target)
    table.report = LoadReport(
        header_lines=tuple(line for line, _ in levels), skipped=tuple(skipped + notes),
        blank_rows=blanks + more_blanks, blank_columns=tuple(blank_columns),
        totals=tuple(table.totals),
    )
    return table


def _check_header_names(names: list[str], line: int) -> None:
    """`check_names`, with the header's own line in the message rather than line 1."""
    try:
        check_names(names)
    except IngestError as exc:
        raise IngestError(exc.code, exc.message.replace("line 1", f"line {line}", 1), line=line,
                          column=exc.column) from None


def _chain(first: list[Row], rest: Iterator[Row]) -> Iterator[Row]:
    yield from first
    yield from rest


def _head(rows: Iterator[Row]) -> tuple[list[Row], int]:
    """The first non-blank rows (enough to find the header), and the blank rows among them."""
    head: list[Row] = []
    blanks = 0
    for line, cells in rows:
        cells = [c.strip() for c in cells]
        if not any(cells):
            blanks += bool(head)
            continue
        head.append((line, cells))
        if len(head) >= HEAD_ROWS:
            break
    return head, blanks


def is_note(text: str) -> bool:
    """Whether a row starting with `text` begins the notes under a table (注：…, 数据来源：…)."""
    return bool(_NOTE.match(text))


def header_span(head: list[Row]) -> tuple[int, int]:
    """(index of the header's first row in `head`, number of header rows)."""
    start = _header_start(head)
    return start, len(_header_levels(head, start))


def _width(cells: list[str]) -> int:
    return sum(1 for c in cells if c)


def _is_title(cells: list[str]) -> bool:
    width = _width(cells)
    return width <= 1 or (width <= 3 and any(_META.match(c) for c in cells if c))


def _header_start(head: list[Row]) -> int:
    for index, (_, cells) in enumerate(head):
        if not _is_title(cells):
            return index
    return 0  # a one-column table: its first line is the header


def _header_levels(head: list[Row], start: int) -> list[Row]:
    """The header row and the rows under it that complete it (a two-level header)."""
    levels = [head[start]]
    for line, cells in head[start + 1:start + MAX_HEADER_LEVELS]:
        upper = levels[-1][1]
        fills_gap = any(c and (i >= len(upper) or not upper[i]) for i, c in enumerate(cells))
        under_merge = any(u and (i >= len(cells) or not cells[i]) for i, u in enumerate(upper))
        textual = not any(_NUMBER.match(c) for c in cells if c)
        if not (fills_gap and under_merge and textual) or _NOTE.match(next(c for c in cells if c)):
            break
        levels.append((line, cells))
    return levels


def _names(levels: list[Row]) -> tuple[list[str], list[int], list[int]]:
    """Column names joined across header levels; kept source columns; blank (spacer) columns."""
    width = max(len(cells) for _, cells in levels)
    grid = [cells + [""] * (width - len(cells)) for _, cells in levels]
    for upper, lower in zip(grid, grid[1:], strict=False):
        for c in range(1, width):  # a merged upper cell spans the lower cells to its right
            if not upper[c] and lower[c] and upper[c - 1] and lower[c - 1]:
                upper[c] = upper[c - 1]
    names, keep, blank = [], [], []
    for c in range(width):
        parts = [row[c] for row in grid if row[c]]
        parts = [p for i, p in enumerate(parts) if p not in parts[:i]]
        if parts:
            names.append(JOIN.join(parts))
            keep.append(c)
        else:
            blank.append(c + 1)
    inside = [c for c in blank if keep and c < keep[-1] + 1]  # trailing ones are not worth a mention
    return names, keep, inside


def _write(table: Table, rows: Iterator[Row], target: Path) -> tuple[list[SkippedRow], int]:
    notes: list[SkippedRow] = []
    blanks = 0
    keep = table.keep
    with open(target, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(table.header)
        for line, raw in rows:
            cells = [c.strip() for c in raw]
            if not any(cells):
                blanks += not notes
                continue
            first = next(c for c in cells if c)
            if notes or _NOTE.match(first):
                if notes and _width(cells) > 1 and not _NOTE.match(first):
                    raise IngestError(
                        "data-after-notes",
                        f"line {line}: a row of data follows the notes that start on line "
                        f"{notes[0].line}; move the notes below the table", line=line)
                notes.append(SkippedRow(line, "note", " ".join(c for c in cells if c)))
                continue
            _check_unnamed(cells, keep, table.header, line)
            kept = [cells[c] if c < len(cells) else "" for c in keep]
            writer.writerow(kept)
            table.line_map.append(line)
            _flag_totals(table, kept, line)
    return notes, blanks


def total_spellings() -> frozenset[str]:
    """`TOTAL_LABELS` as they are written: `合 计`, `合　计`, `Total`, `TOTAL`..."""
    out = set()
    for label in TOTAL_LABELS:
        if label.isascii():
            out.update({label, label.title(), label.upper(), label.capitalize()})
        else:
            out.update({label, *(sep.join(label) for sep in (" ", "  ", "\u3000"))})
    out.update({"Grand Total", "GRAND TOTAL", "Sub-total", "Sub total"})
    return frozenset(out)


def total_key(value: str) -> str:
    """A label as compared with `TOTAL_LABELS`: no spaces, dashes or underscores, case-folded."""
    return re.sub(r"[\s_\-]+", "", value).casefold()


def _flag_totals(table: Table, kept: list[str], line: int) -> None:
    """Record a row whose label (in its first two columns) says it is a total."""
    for name, value in zip(table.header[:2], kept[:2], strict=False):
        if value and total_key(value) in _TOTALS:
            table.totals.append(TotalsRow(line, name, value))
            return


def _check_unnamed(cells: list[str], keep: tuple[int, ...], header: tuple[str, ...], line: int) -> None:
    """A value in a column without a name would be lost: refuse it, naming the cell."""
    kept = set(keep)
    for c, value in enumerate(cells):
        if value and c not in kept:
            raise IngestError(
                "empty-column-name",
                f"line {line}: column {c + 1} has a value ({value[:40]!r}) but no name in the header",
                line=line, column=str(c + 1))
