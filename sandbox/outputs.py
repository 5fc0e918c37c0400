"""What a run shows, collected inside the worker: capped `print`, `show(...)` and `chart(...)`.

The worker only records plain descriptions (columns, rows, field names); the supervisor
re-validates them and builds the final Vega-Lite spec itself (sandbox/rendering.py), so a
compromised worker cannot hand the portal's front end an arbitrary spec.
"""

from __future__ import annotations

from typing import Any

from sandbox.contract import Limits
from sandbox.tables import Frame, LazyTable

CHART_KINDS = ("bar", "line", "point", "area")


class Printer:
    """The run's single print target (RestrictedPython's `_print_`), capped in bytes."""

    def __init__(self, cap: int):
        self._parts: list[str] = []
        self._size = 0
        self._cap = cap
        self.truncated = False

    def write(self, text: str) -> None:
        if self.truncated:
            return
        encoded = len(text.encode("utf-8", "replace"))
        if self._size + encoded > self._cap:
            room = max(self._cap - self._size, 0)
            text = text.encode("utf-8", "replace")[:room].decode("utf-8", "ignore")
            self.truncated = True
        self._parts.append(text)
        self._size += encoded

    def _call_print(self, *objects: Any, sep: str = " ", end: str = "\n",
                    file: Any = None, flush: bool = False) -> None:
        if file is not None:
            raise TypeError("print(file=...) is not available in the sandbox")
        if type(sep) is not str or type(end) is not str:
            raise TypeError("sep and end must be strings")
        self.write(sep.join(str(item) for item in objects) + end)

    def __call__(self) -> str:
        return "".join(self._parts)

    def text(self) -> str:
        suffix = "\n[output truncated]\n" if self.truncated else ""
        return "".join(self._parts) + suffix


def _cell(value: Any, cap: int) -> Any:
    if value is None or type(value) in (bool, int, float):
        return value
    text = str(value)
    return text if len(text) <= cap else text[: cap - 1] + "…"


class OutputLog:
    """Outputs of one run in order. `show` and `chart` are handed to analyst code."""

    def __init__(self, limits: Limits):
        self.items: list[dict[str, Any]] = []
        self._limits = limits
        self.dropped = 0

    def _add(self, item: dict[str, Any]) -> None:
        if len(self.items) >= self._limits.outputs:
            self.dropped += 1
            return
        self.items.append(item)

    def _frame(self, table: Any, rows: int) -> Frame:
        if isinstance(table, LazyTable):
            return table.limit(rows).collect()
        if isinstance(table, Frame):
            return table
        raise TypeError("expected a table from dataset(...) or .collect()")

    def show(self, value: Any) -> None:
        """A table (first `show_rows` rows, cells capped) or the repr of any other value."""
        if not isinstance(value, (Frame, LazyTable)):
            self._add({"kind": "text", "text": _cell(repr(value), self._limits.output_bytes)})
            return
        cap = self._limits.show_rows
        frame = self._frame(value, cap)
        rows = [[_cell(v, self._limits.cell_chars) for v in row] for row in frame.rows[:cap]]
        self._add({"kind": "table", "columns": list(frame.columns), "rows": rows,
                   "total_rows": len(frame.rows)})

    def chart(self, table: Any, x: str, y: str, kind: str = "bar", color: str | None = None,
              title: str | None = None) -> None:
        """A chart of released values; the supervisor turns it into a Vega-Lite v5 spec."""
        if kind not in CHART_KINDS:
            raise ValueError(f"kind must be one of {CHART_KINDS}")
        frame = self._frame(table, self._limits.chart_points)
        fields = [f for f in (x, y, color) if f is not None]
        missing = [f for f in fields if f not in frame.columns]
        if missing:
            raise KeyError(f"no column {missing[0]!r}; columns are {list(frame.columns)}")
        points = frame.to_dicts()[: self._limits.chart_points]
        values = [[point[f] for f in fields] for point in points]
        self._add({"kind": "chart", "mark": kind, "x": x, "y": y, "color": color,
                   "title": title, "values": values})
