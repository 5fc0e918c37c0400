"""A fake DataBroker that answers plans from small in-memory tables, for sandbox tests.

It interprets the documented plan format for real (filter, select, with_columns, group_by,
join, sort, limit; count and schema), refuses plans naming unknown columns, and applies one
toy disclosure rule (groups smaller than `min_cell` are refused) so refusals can be tested.
It is not the portal's broker and does no real disclosure control.
"""

from __future__ import annotations

import datetime
import statistics
import threading
from typing import Any

PEOPLE = [
    {"id": i, "district": ["east", "west", "north"][i % 3], "age": 20 + (i * 7) % 60,
     "income": 1000 + i * 10, "born": f"19{60 + i % 40:02d}-0{1 + i % 9}-1{i % 10}"}
    for i in range(60)
]
DISTRICTS = [
    {"district": "east", "area_km2": 12.5},
    {"district": "west", "area_km2": 30.0},
    {"district": "north", "area_km2": 7.25},
]
TYPES = {"id": "integer", "district": "string", "age": "integer", "income": "integer",
         "born": "date", "area_km2": "number"}
TABLES = {"people": PEOPLE, "districts": DISTRICTS}

_BINARY = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b, "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b,
    "and": lambda a, b: bool(a and b), "or": lambda a, b: bool(a or b),
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b, "floordiv": lambda a, b: a // b, "mod": lambda a, b: a % b,
}
_UNARY = {
    "not": lambda a: not a, "neg": lambda a: -a, "is_null": lambda a: a is None,
    "is_not_null": lambda a: a is not None,
    "year": lambda a: datetime.date.fromisoformat(a).year,
    "month": lambda a: datetime.date.fromisoformat(a).month,
    "day": lambda a: datetime.date.fromisoformat(a).day,
}
_CASTS = {"integer": int, "number": float, "string": str, "boolean": bool,
          "date": str, "datetime": str}
_AGGREGATES = {
    "sum": sum, "mean": statistics.fmean, "median": statistics.median, "min": min, "max": max,
    "std": statistics.stdev, "count_distinct": lambda values: len(set(values)),
}


class Refusal(Exception):
    def __init__(self, rule: str, reason: str):
        super().__init__(reason)
        self.rule = rule
        self.reason = reason


def _name(node: dict[str, Any]) -> str:
    if node["op"] == "alias":
        return node["name"]
    if node["op"] == "col":
        return node["name"]
    if node["op"] == "count":
        return "count"
    inner = node.get("args") or [{}]
    return f"{node['op']}_{_name(inner[0])}" if inner[0] else node["op"]


def evaluate(node: dict[str, Any], row: dict[str, Any]) -> Any:
    op = node["op"]
    if op == "col":
        if node["name"] not in row:
            raise Refusal("schema", f"unknown column {node['name']!r}")
        return row[node["name"]]
    if op == "lit":
        return node["value"]
    if op == "alias":
        return evaluate(node["expr"], row)
    args = [evaluate(arg, row) for arg in node.get("args", [])]
    if op in _BINARY:
        return _BINARY[op](*args)
    if op in _UNARY:
        return _UNARY[op](*args)
    if op == "is_in":
        return args[0] in node["values"]
    if op == "cast":
        return _CASTS[node["to"]](args[0])
    raise Refusal("plan", f"operator {op!r} not supported here")


def aggregate(node: dict[str, Any], rows: list[dict[str, Any]]) -> Any:
    if node["op"] == "alias":
        return aggregate(node["expr"], rows)
    if node["op"] == "count":
        return len(rows)
    values = [evaluate(node["args"][0], row) for row in rows]
    values = [v for v in values if v is not None]
    if node["op"] == "quantile":
        return statistics.quantiles(values, n=100)[max(0, min(98, round(node["q"] * 100) - 1))]
    return _AGGREGATES[node["op"]](values)


class FakeBroker:
    """Thread-safe; records every plan it was asked (`plans`)."""

    def __init__(self, min_cell: int = 5, tables: dict[str, list[dict[str, Any]]] | None = None):
        self.min_cell = min_cell
        self.tables = tables or TABLES
        self.plans: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def execute(self, plan: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.plans.append(plan)
        try:
            rows = self._pipeline(plan)
        except Refusal as refusal:
            return {"status": "refused", "rule": refusal.rule, "reason": refusal.reason}
        if plan["action"] == "count":
            return {"status": "ok", "count": len(rows)}
        columns = [{"name": k, "type": TYPES.get(k, "string")} for k in (rows[0] if rows else {})]
        if plan["action"] == "schema":
            return {"status": "ok", "columns": columns}
        return {"status": "ok", "columns": columns,
                "rows": [list(row.values()) for row in rows], "notes": ["fake broker"]}

    def _pipeline(self, pipeline: dict[str, Any]) -> list[dict[str, Any]]:
        if pipeline["source"] not in self.tables:
            raise Refusal("grant", f"unknown dataset {pipeline['source']!r}")
        rows = [dict(row) for row in self.tables[pipeline["source"]]]
        for step in pipeline["steps"]:
            rows = getattr(self, "_" + step["op"])(step, rows)
        return rows

    def _filter(self, step: dict[str, Any], rows: list[dict]) -> list[dict]:
        return [row for row in rows if evaluate(step["predicate"], row)]

    def _select(self, step: dict[str, Any], rows: list[dict]) -> list[dict]:
        return [{_name(c): evaluate(c, row) for c in step["columns"]} for row in rows]

    def _with_columns(self, step: dict[str, Any], rows: list[dict]) -> list[dict]:
        return [{**row, **{_name(c): evaluate(c, row) for c in step["columns"]}} for row in rows]

    def _group_by(self, step: dict[str, Any], rows: list[dict]) -> list[dict]:
        groups: dict[tuple, list[dict]] = {}
        for row in rows:
            groups.setdefault(tuple(evaluate({"op": "col", "name": k}, row)
                                    for k in step["keys"]), []).append(row)
        out = []
        for key, members in sorted(groups.items()):
            if len(members) < self.min_cell:
                raise Refusal("min-cell", f"a group has fewer than {self.min_cell} records")
            out.append({**dict(zip(step["keys"], key, strict=True)),
                        **{_name(a): aggregate(a, members) for a in step["aggs"]}})
        return out

    def _join(self, step: dict[str, Any], rows: list[dict]) -> list[dict]:
        right = self._pipeline(step["right"])
        out = []
        for row in rows:
            matches = [r for r in right if all(r.get(k) == row.get(k) for k in step["on"])]
            if not matches and step["how"] == "left":
                matches = [{}]
            out.extend({**row, **match} for match in matches)
        return out

    def _sort(self, step: dict[str, Any], rows: list[dict]) -> list[dict]:
        for key in reversed(step["by"]):
            rows = sorted(rows, key=lambda r, k=key["column"]: r[k], reverse=key["descending"])
        return rows

    def _limit(self, step: dict[str, Any], rows: list[dict]) -> list[dict]:
        return rows[: step["n"]]
