"""The records of an ε-mode aggregation, summarised per cell, for the mechanisms of privacy.py.

One `group_by` through the store gives, per combination of key values found in the data, the
number of records and, for every field a sum or mean reads, its number of non-null values and the
sum of its values clamped to the bounds (computed in DuckDB in one pass; the plan language has no
`clip`, so the clamp is written with its operators, exactly: x·[lo ≤ x ≤ hi] + hi·[x > hi] +
lo·[x < lo]). Only quantiles need the values themselves: they are read in a second plan, and only
for the fields a quantile asks for.

Both plans first keep only records whose keys are declared levels, so the number of groups the
store finds is bounded by the declared combinations whatever the data holds; keys are matched
back to levels as text (`level_text`). Nothing here decides what is released.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from portal import store

MAX_GROUPS_READ = 10_000  # declared combinations: max_groups (40) in practice
MAX_VALUES_READ = 20_000_000  # records read for a quantile; far above any bundled dataset
Bounds = tuple[float, float]


@dataclass
class Cell:
    """One cell's summary: records, and per field non-null values, clamped sum, values."""

    records: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    totals: dict[str, float] = field(default_factory=dict)
    values: dict[str, list[float]] = field(default_factory=dict)


def level_text(value: Any) -> str | None:
    """A key value as the dictionary writes levels (text): `true`, `3`, `2023-01-01`, `男`."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def level_value(level: str, kind: str) -> Any:
    """A declared level as a value of its column's store type."""
    if kind == "boolean":
        return level == "true"
    if kind == "integer":
        return int(level)
    return float(level) if kind in ("float", "decimal") else level


def declared_only(levels: Mapping[str, tuple[str, ...]], kinds: Mapping[str, str]) -> list[dict[str, Any]]:
    """Filter steps keeping the records whose every key is one of its declared levels."""
    steps = []
    for key, values in levels.items():
        typed = kinds[key] in ("boolean", "integer", "float", "decimal", "text")
        column = _col(key) if typed else {"op": "cast", "to": "string", "args": [_col(key)]}
        values = [level_value(v, kinds[key]) if typed else v for v in values]
        steps.append({"op": "filter", "predicate": {"op": "is_in", "args": [column], "values": values}})
    return steps


def read_cells(plan: dict[str, Any], before: list[dict], levels: Mapping[str, tuple[str, ...]],
               kinds: Mapping[str, str], sums: Mapping[str, Bounds], quantiles: list[str],
               tables: Mapping[str, store.StoredTable]) -> dict[tuple, Cell]:
    """Each cell found in the data among the declared combinations of `levels` (keyed by level
    text, in the order of `levels`).

    Raises:
        store.QueryError: as `store.run_plan`.
    """
    keys, fields = list(levels), list(sums)
    before = [*before, *declared_only(levels, kinds)]
    aggs = [_alias("_dp_records", {"op": "count", "args": []})]
    for i, name in enumerate(fields):
        present = {"op": "cast", "to": "number", "args": [{"op": "is_not_null", "args": [_col(name)]}]}
        aggs += [_alias(f"_dp_n{i}", {"op": "sum", "args": [present]}),
                 _alias(f"_dp_s{i}", {"op": "sum", "args": [clamped(name, sums[name])]})]
    grouping = {**plan, "action": "collect", "steps": [*before, {"op": "group_by", "keys": keys, "aggs": aggs}]}
    result = store.run_plan(grouping, tables, max_rows=MAX_GROUPS_READ)
    width, cells = len(keys), {}
    for row in result.rows:
        numbers = row[width:]
        cells[tuple(level_text(v) for v in row[:width])] = Cell(
            int(numbers[0]), {f: int(numbers[1 + 2 * i]) for i, f in enumerate(fields)},
            {f: float(numbers[2 + 2 * i]) for i, f in enumerate(fields)})
    if quantiles:
        _read_values(plan, before, keys, quantiles, tables, cells)
    return cells


def _read_values(plan: dict[str, Any], before: list[dict], keys: list[str], fields: list[str],
                 tables: Mapping[str, store.StoredTable], cells: dict[tuple, Cell]) -> None:
    """Each cell's non-null values of `fields`. The rows come sorted by key, so a cell's rows are
    contiguous and are split into columns by `zip` rather than visited one by one in Python."""
    select = [_alias(f"k{i}", _col(k)) for i, k in enumerate(keys)]
    select += [_alias(f"v{i}", _col(f)) for i, f in enumerate(fields)]
    order = {"op": "sort", "by": [{"column": f"k{i}", "descending": False} for i in range(len(keys))]}
    steps = [*before, {"op": "select", "columns": select}, *([order] if keys else [])]
    result = store.run_plan({**plan, "action": "collect", "steps": steps}, tables, max_rows=MAX_VALUES_READ)
    if result.truncated:
        raise RuntimeError("more records than the ε-budget mode reads")  # a broker error
    width = len(keys)
    for key, rows in itertools.groupby(result.rows, key=lambda row: row[:width]):
        columns = list(zip(*rows, strict=True))
        cell = cells.setdefault(tuple(level_text(v) for v in key), Cell())
        for name, column in zip(fields, columns[width:], strict=True):
            cell.values[name] = [v for v in column if v is not None]


def clamped(name: str, bounds: Bounds) -> dict[str, Any]:
    """`name` clamped to `bounds`, as a plan expression; exact in floating point (each term is the
    value or a bound times 0 or 1), and null when the value is null."""
    low, high = ({"op": "lit", "value": float(b)} for b in bounds)
    value = _col(name)

    def flag(predicate: dict[str, Any]) -> dict[str, Any]:
        return {"op": "cast", "to": "number", "args": [predicate]}

    inside = {"op": "and", "args": [{"op": "ge", "args": [value, low]}, {"op": "le", "args": [value, high]}]}
    terms = [{"op": "mul", "args": [value, flag(inside)]},
             {"op": "mul", "args": [high, flag({"op": "gt", "args": [value, high]})]},
             {"op": "mul", "args": [low, flag({"op": "lt", "args": [value, low]})]}]
    return {"op": "add", "args": [{"op": "add", "args": terms[:2]}, terms[2]]}


def _col(name: str) -> dict[str, Any]:
    return {"op": "col", "name": name}


def _alias(name: str, expr: dict[str, Any]) -> dict[str, Any]:
    return {"op": "alias", "name": name, "expr": expr}
