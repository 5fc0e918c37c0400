"""The records of an ε-mode aggregation, summarised per cell, for the mechanisms of privacy.py.

One `group_by` through the store gives, per combination of key values found in the data, the
number of records and, for every field a sum or mean reads, its number of non-null values and the
sum of its values clamped to the bounds (computed in DuckDB in one pass; the plan language has no
`clip`, so the clamp is written with its operators, exactly: x·[lo ≤ x ≤ hi] + hi·[x > hi] +
lo·[x < lo]). Only quantiles need the values themselves: they are read in a second plan, and only
for the fields a quantile asks for.

Keys are matched to declared levels as text (`level_text`); a key value that is not a declared
level simply matches no released cell. Nothing here decides what is released.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from portal import store

MAX_GROUPS_READ = 100_000  # distinct key combinations in the data (undeclared values included)
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


def read_cells(plan: dict[str, Any], before: list[dict], keys: list[str], sums: Mapping[str, Bounds],
               quantiles: list[str], tables: Mapping[str, store.StoredTable]) -> tuple[list[str], dict[tuple, Cell]]:
    """The key columns' store types, and each cell found in the data (keyed by level text).

    Raises:
        store.QueryError: as `store.run_plan`.
    """
    fields = list(sums)
    aggs = [_alias("_dp_records", {"op": "count", "args": []})]
    for i, name in enumerate(fields):
        present = {"op": "cast", "to": "number", "args": [{"op": "is_not_null", "args": [_col(name)]}]}
        aggs += [_alias(f"_dp_n{i}", {"op": "sum", "args": [present]}),
                 _alias(f"_dp_s{i}", {"op": "sum", "args": [clamped(name, sums[name])]})]
    grouping = {**plan, "action": "collect", "steps": [*before, {"op": "group_by", "keys": keys, "aggs": aggs}]}
    result = store.run_plan(grouping, tables, max_rows=MAX_GROUPS_READ)
    if result.truncated:
        raise RuntimeError("more key combinations than the ε-budget mode reads")  # a broker error
    width, cells = len(keys), {}
    for row in result.rows:
        numbers = row[width:]
        cells[tuple(level_text(v) for v in row[:width])] = Cell(
            int(numbers[0]), {f: int(numbers[1 + 2 * i]) for i, f in enumerate(fields)},
            {f: float(numbers[2 + 2 * i]) for i, f in enumerate(fields)})
    if quantiles:
        _read_values(plan, before, keys, quantiles, tables, cells)
    return [c.type for c in result.columns[:width]], cells


def _read_values(plan: dict[str, Any], before: list[dict], keys: list[str], fields: list[str],
                 tables: Mapping[str, store.StoredTable], cells: dict[tuple, Cell]) -> None:
    select = [_alias(f"k{i}", _col(k)) for i, k in enumerate(keys)]
    select += [_alias(f"v{i}", _col(f)) for i, f in enumerate(fields)]
    reading = {**plan, "action": "collect", "steps": [*before, {"op": "select", "columns": select}]}
    result = store.run_plan(reading, tables, max_rows=MAX_VALUES_READ)
    if result.truncated:
        raise RuntimeError("more records than the ε-budget mode reads")  # a broker error
    width = len(keys)
    for row in result.rows:
        cell = cells.setdefault(tuple(level_text(v) for v in row[:width]), Cell())
        for name, value in zip(fields, row[width:], strict=True):
            if value is not None:
                cell.values.setdefault(name, []).append(float(value))


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
