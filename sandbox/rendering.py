"""Supervisor side of outputs: re-validate what the worker reported and build chart specs.

The worker is untrusted even after a clean run, so its outputs are rebuilt here from plain
scalars: tables become {kind, columns, rows, total_rows}, text stays text, and charts become a
Vega-Lite v5 spec with inline values whose field keys we choose ("x", "y", "color"), so no
analyst-chosen string is interpreted as a Vega field path or expression.
"""

from __future__ import annotations

import re
from typing import Any

from sandbox.contract import Limits

VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
MARKS = frozenset({"bar", "line", "point", "area"})
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([T ][\d:.]+)?")
_SCALARS = (type(None), bool, int, float, str)


class OutputRejected(ValueError):
    """The worker reported an output that is not one of the documented shapes."""


def _text(value: Any, cap: int) -> str:
    if type(value) is not str:
        raise OutputRejected("expected a string")
    return value[:cap]


def _scalar_row(row: Any, width: int, cap: int) -> list[Any]:
    if type(row) is not list or len(row) != width:
        raise OutputRejected("rows must be lists as wide as the columns")
    cells = []
    for value in row:
        if type(value) not in _SCALARS:
            raise OutputRejected("cells must be JSON scalars")
        cells.append(value[:cap] if type(value) is str else value)
    return cells


def _table(item: dict[str, Any], limits: Limits) -> dict[str, Any]:
    columns = [_text(name, limits.cell_chars) for name in item.get("columns", [])]
    rows = item.get("rows")
    if type(rows) is not list or len(rows) > limits.show_rows:
        raise OutputRejected("table rows missing or over the cap")
    total = item.get("total_rows")
    return {"kind": "table", "columns": columns,
            "rows": [_scalar_row(row, len(columns), limits.cell_chars) for row in rows],
            "total_rows": total if type(total) is int else len(rows)}


def _field_type(values: list[Any]) -> str:
    present = [v for v in values if v is not None]
    if present and all(type(v) in (int, float) for v in present):
        return "quantitative"
    if present and all(type(v) is str and _ISO_DATE.fullmatch(v) for v in present):
        return "temporal"
    return "nominal"


def chart_spec(*, mark: str, fields: dict[str, str], values: list[list[Any]],
               title: str | None = None) -> dict[str, Any]:
    """A Vega-Lite v5 spec; `fields` maps channel ('x', 'y', 'color') to the column title.

    Categories (nominal and ordinal channels) appear in the order of `values`, the table's rows."""
    channels = list(fields)
    data = [dict(zip(channels, row, strict=True)) for row in values]
    encoding = {}
    for index, channel in enumerate(channels):
        column = [row[index] for row in values]
        encoding[channel] = {"field": channel, "type": _field_type(column),
                             "title": fields[channel]}
    if mark == "bar" and encoding["x"]["type"] == "quantitative":
        encoding["x"]["type"] = "ordinal"
    # Vega-Lite sorts a discrete axis (and legend) alphabetically by default; a chart of a table
    # keeps the table's row order, so the cell's .sort(...) is the chart's order too.
    for channel in encoding.values():
        if channel["type"] in ("nominal", "ordinal"):
            channel["sort"] = None
    spec = {"$schema": VEGA_LITE_SCHEMA, "data": {"values": data},
            "mark": {"type": mark, "tooltip": True}, "encoding": encoding}
    if title:
        spec["title"] = title
    return spec


def _chart(item: dict[str, Any], limits: Limits) -> dict[str, Any]:
    mark = item.get("mark")
    if mark not in MARKS:
        raise OutputRejected("unknown chart kind")
    fields = {"x": _text(item.get("x"), 100), "y": _text(item.get("y"), 100)}
    if item.get("color") is not None:
        fields["color"] = _text(item["color"], 100)
    values = item.get("values")
    if type(values) is not list or len(values) > limits.chart_points:
        raise OutputRejected("chart values missing or over the cap")
    rows = [_scalar_row(row, len(fields), limits.cell_chars) for row in values]
    title = item.get("title")
    title = _text(title, 200) if title is not None else None
    return {"kind": "chart", "spec": chart_spec(mark=mark, fields=fields, values=rows,
                                                title=title)}


def normalize_outputs(raw: Any, limits: Limits) -> tuple[dict[str, Any], ...]:
    """Rebuild the worker's outputs.

    Raises:
        OutputRejected: when anything does not match the documented shapes.
    """
    if type(raw) is not list or len(raw) > limits.outputs:
        raise OutputRejected("outputs must be a list within the cap")
    built = []
    for item in raw:
        kind = item.get("kind") if type(item) is dict else None
        if kind == "table":
            built.append(_table(item, limits))
        elif kind == "chart":
            built.append(_chart(item, limits))
        elif kind == "text":
            built.append({"kind": "text", "text": _text(item.get("text"), limits.output_bytes)})
        else:
            raise OutputRejected(f"unknown output kind {kind!r}")
    return tuple(built)
