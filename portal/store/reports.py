"""What a load did beyond storing rows, told to the publisher and kept on the version.

A government table rarely starts at cell A1: titles, units and dates sit above the header, notes
and sources below the table, and a totals row (合计, 全市) inside it. The store reads past all of
that, and never silently: every row it skipped, which sheet it chose (and which it did not), the
rows that make up the header, the totals rows it kept as data, and every column whose type was
widened since the previous version are recorded here. `lines()` is what `kaifang load` prints;
`as_dict()` is what the catalog stores on the version.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from portal.store.evolution import TypeChange
from portal.store.inference import TidiedColumn


@dataclass(frozen=True)
class SkippedRow:
    """A row of the source that is not data: `kind` is title, note or blank."""

    line: int
    kind: str
    text: str


@dataclass(frozen=True)
class TotalsRow:
    """A row kept as data whose label says it sums the others (合计, 全市, 总计, Total); `line`
    is 0 when the stored rows were reordered (clustered) and the source line is not known."""

    line: int
    column: str
    label: str


@dataclass(frozen=True)
class LoadReport:
    """Everything a load decided about the source's layout and types."""

    sheet: str | None = None
    sheets: tuple[str, ...] = ()
    sheet_chosen: str = ""  # "declared" or "first-table" when there are sheets
    header_lines: tuple[int, ...] = (1,)
    skipped: tuple[SkippedRow, ...] = ()
    blank_rows: int = 0
    blank_columns: tuple[int, ...] = ()
    totals: tuple[TotalsRow, ...] = ()
    type_changes: tuple[TypeChange, ...] = field(default_factory=tuple)
    tidied: tuple[TidiedColumn, ...] = field(default_factory=tuple)
    records_at: str | None = None  # JSON: where a wrapping document held its records ("data.list")
    records: int = 0
    left_out: tuple[str, ...] = ()  # JSON: the wrapping document's other top-level keys

    @property
    def empty(self) -> bool:
        return self.lines() == []

    def lines(self) -> list[str]:
        """Human-readable facts, one a line, for the load output (English, like the CLI)."""
        out = []
        if self.records_at is not None:
            others = f"; not read: {', '.join(repr(k) for k in self.left_out)}" if self.left_out else ""
            out.append(f"read {self.records:,} records from {self.records_at!r} of the JSON document{others}")
        if self.sheet is not None and len(self.sheets) > 1:
            how = "as declared" if self.sheet_chosen == "declared" else "the first sheet with a table"
            others = ", ".join(repr(s) for s in self.sheets if s != self.sheet)
            out.append(f"read sheet {self.sheet!r} ({how}); not read: {others}")
        if self.header_lines != (1,):
            out.append(f"header on line(s) {', '.join(map(str, self.header_lines))}")
        out += [f"skipped {row.kind} line {row.line}" + (f": {_short(row.text)}" if row.text else "")
                for row in self.skipped]
        if self.blank_rows:
            out.append(f"skipped {self.blank_rows} blank row(s)")
        if self.blank_columns:
            out.append(f"skipped blank column(s) {', '.join(map(str, self.blank_columns))}")
        out += [f"totals row{f' on line {t.line}' if t.line else ''} ({t.column} = {t.label!r}) "
                "kept as data: exclude it before summing" for t in self.totals]
        out += [change.describe() for change in self.type_changes]
        out += [column.describe() for column in self.tidied]
        return out

    @classmethod
    def from_dict(cls, data: dict) -> LoadReport:
        """The report back from `as_dict()` (as stored on a version)."""
        return cls(
            sheet=data.get("sheet"), sheets=tuple(data.get("sheets", ())),
            sheet_chosen=data.get("sheet_chosen", ""),
            header_lines=tuple(data.get("header_lines", (1,))),
            skipped=tuple(SkippedRow(r["line"], r["kind"], r["text"]) for r in data.get("skipped", ())),
            blank_rows=data.get("blank_rows", 0), blank_columns=tuple(data.get("blank_columns", ())),
            totals=tuple(TotalsRow(t["line"], t["column"], t["label"]) for t in data.get("totals", ())),
            type_changes=tuple(TypeChange(c["column"], c["from"], c["to"], c.get("example"))
                               for c in data.get("type_changes", ())),
            tidied=tuple(TidiedColumn.from_dict(c) for c in data.get("tidied", ())),
            records_at=data.get("records_at"), records=data.get("records", 0),
            left_out=tuple(data.get("left_out", ())),
        )

    def as_dict(self) -> dict:
        return {
            "sheet": self.sheet, "sheets": list(self.sheets), "sheet_chosen": self.sheet_chosen,
            "header_lines": list(self.header_lines),
            "skipped": [{"line": r.line, "kind": r.kind, "text": r.text} for r in self.skipped],
            "blank_rows": self.blank_rows, "blank_columns": list(self.blank_columns),
            "totals": [{"line": t.line, "column": t.column, "label": t.label} for t in self.totals],
            "type_changes": [c.as_dict() for c in self.type_changes],
            "tidied": [c.as_dict() for c in self.tidied],
            "records_at": self.records_at, "records": self.records, "left_out": list(self.left_out),
        }


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
