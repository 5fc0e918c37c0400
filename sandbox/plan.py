"""The JSON query plan the worker's lazy tables emit, and its structural validator.

The plan is the only thing analyst code can send towards the data. This module checks its
*shape*: known keys only, operators from an allow-list, names that are real `str` of bounded
length, plain JSON scalars, bounded nesting and size. It knows nothing about schemas, grants or
disclosure: the broker (portal/analysis) checks names against the dataset schema and decides
what may be released. The full format is documented in docs/sandbox.md.
"""

from __future__ import annotations

import math
import re
from typing import Any

PLAN_VERSION = 1
ACTIONS = frozenset({"collect", "count", "schema"})
MAX_NAME = 64
MAX_STRING = 1000
MAX_VALUES = 1000
MAX_STEPS = 50
MAX_ITEMS = 100
MAX_NODES = 2000
MAX_DEPTH = 32
MAX_LIMIT = 1_000_000
MAX_INT = 2**63
SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,99}")

BINARY = frozenset({"eq", "ne", "lt", "le", "gt", "ge", "and", "or",
                    "add", "sub", "mul", "div", "floordiv", "mod"})
UNARY = frozenset({"not", "neg", "is_null", "is_not_null", "year", "month", "day"})
AGGREGATES = frozenset({"count_distinct", "sum", "mean", "median", "min", "max", "std"})
CAST_TYPES = frozenset({"integer", "number", "string", "boolean", "date", "datetime"})
JOIN_HOWS = frozenset({"inner", "left"})


class PlanError(Exception):
    """A plan that is not well-formed. `where` is a path into the plan, e.g. `steps[1].predicate`."""

    def __init__(self, message: str, where: str = "plan"):
        super().__init__(f"{where}: {message}")
        self.message = message
        self.where = where


class _Budget:
    """Counts nodes so a plan cannot be made expensive by sheer size."""

    __slots__ = ("nodes",)

    def __init__(self) -> None:
        self.nodes = 0

    def spend(self, where: str, depth: int) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise PlanError(f"more than {MAX_NODES} nodes", where)
        if depth > MAX_DEPTH:
            raise PlanError(f"nested deeper than {MAX_DEPTH}", where)


def validate_plan(plan: Any) -> dict[str, Any]:
    """Check a whole plan; return it unchanged when it is well-formed.

    Raises:
        PlanError: on the first structural problem found.
    """
    _keys(plan, {"version", "action", "source", "steps"}, "plan")
    if type(plan["version"]) is not int or plan["version"] != PLAN_VERSION:
        raise PlanError(f"version must be {PLAN_VERSION}", "plan.version")
    if type(plan["action"]) is not str or plan["action"] not in ACTIONS:
        raise PlanError(f"action must be one of {sorted(ACTIONS)}", "plan.action")
    _pipeline(plan, "plan", _Budget(), 0)
    return plan


def datasets_named(plan: dict[str, Any]) -> list[str]:
    """Every dataset slug a (validated) plan reads, the joined ones included."""
    found = [plan["source"]]
    for step in plan["steps"]:
        if step["op"] == "join":
            found.extend(datasets_named(step["right"]))
    return found


def _keys(node: Any, expected: set[str], where: str) -> None:
    if type(node) is not dict:
        raise PlanError("must be an object", where)
    if set(node) != expected:
        raise PlanError(f"keys must be exactly {sorted(expected)}, got {sorted(map(str, node))}",
                        where)


def _slug(value: Any, where: str) -> str:
    if type(value) is not str or not SLUG.fullmatch(value):
        raise PlanError("dataset must be a slug of a-z, 0-9, '-' and '_'", where)
    return value


def name(value: Any, where: str) -> str:
    """A column or alias name: a real str, 1..MAX_NAME printable characters."""
    if type(value) is not str:
        raise PlanError("name must be a string", where)
    if not 0 < len(value) <= MAX_NAME or not value.isprintable():
        raise PlanError(f"name must be 1-{MAX_NAME} printable characters", where)
    return value


def scalar(value: Any, where: str) -> Any:
    """A plain JSON scalar: None, bool, bounded int, finite float or bounded str."""
    kind = type(value)
    if value is None or kind is bool:
        return value
    if kind is int and -MAX_INT < value < MAX_INT:
        return value
    if kind is float and math.isfinite(value):
        return value
    if kind is str and len(value) <= MAX_STRING:
        return value
    raise PlanError("value must be null, a boolean, a 64-bit integer, a finite number "
                    f"or a string of at most {MAX_STRING} characters", where)


def _list(value: Any, where: str, low: int, high: int) -> list[Any]:
    if type(value) is not list or not low <= len(value) <= high:
        raise PlanError(f"must be a list of {low}-{high} items", where)
    return value


def _pipeline(node: dict[str, Any], where: str, budget: _Budget, depth: int) -> None:
    _slug(node["source"], f"{where}.source")
    steps = _list(node["steps"], f"{where}.steps", 0, MAX_STEPS)
    for index, step in enumerate(steps):
        _step(step, f"{where}.steps[{index}]", budget, depth + 1)


def _step(step: Any, where: str, budget: _Budget, depth: int) -> None:
    budget.spend(where, depth)
    if type(step) is not dict or type(step.get("op")) is not str:
        raise PlanError("a step must be an object with an 'op'", where)
    checker = _STEPS.get(step["op"])
    if checker is None:
        raise PlanError(f"unknown step {step['op']!r}", where)
    checker(step, where, budget, depth)


def _select(step: dict[str, Any], where: str, budget: _Budget, depth: int) -> None:
    _keys(step, {"op", "columns"}, where)
    for index, item in enumerate(_list(step["columns"], f"{where}.columns", 1, MAX_ITEMS)):
        expression(item, f"{where}.columns[{index}]", budget, depth + 1)


def _filter(step: dict[str, Any], where: str, budget: _Budget, depth: int) -> None:
    _keys(step, {"op", "predicate"}, where)
    expression(step["predicate"], f"{where}.predicate", budget, depth + 1)


def _group_by(step: dict[str, Any], where: str, budget: _Budget, depth: int) -> None:
    _keys(step, {"op", "keys", "aggs"}, where)
    for index, key in enumerate(_list(step["keys"], f"{where}.keys", 0, 10)):
        name(key, f"{where}.keys[{index}]")
    for index, item in enumerate(_list(step["aggs"], f"{where}.aggs", 1, MAX_ITEMS)):
        aggregation(item, f"{where}.aggs[{index}]", budget, depth + 1)


def _join(step: dict[str, Any], where: str, budget: _Budget, depth: int) -> None:
    _keys(step, {"op", "right", "on", "how"}, where)
    _keys(step["right"], {"source", "steps"}, f"{where}.right")
    _pipeline(step["right"], f"{where}.right", budget, depth + 1)
    for index, key in enumerate(_list(step["on"], f"{where}.on", 1, 10)):
        name(key, f"{where}.on[{index}]")
    if type(step["how"]) is not str or step["how"] not in JOIN_HOWS:
        raise PlanError(f"how must be one of {sorted(JOIN_HOWS)}", f"{where}.how")


def _sort(step: dict[str, Any], where: str, budget: _Budget, depth: int) -> None:
    _keys(step, {"op", "by"}, where)
    for index, key in enumerate(_list(step["by"], f"{where}.by", 1, 10)):
        _keys(key, {"column", "descending"}, f"{where}.by[{index}]")
        name(key["column"], f"{where}.by[{index}].column")
        if type(key["descending"]) is not bool:
            raise PlanError("descending must be a boolean", f"{where}.by[{index}].descending")


def _limit(step: dict[str, Any], where: str, budget: _Budget, depth: int) -> None:
    _keys(step, {"op", "n"}, where)
    if type(step["n"]) is not int or not 0 <= step["n"] <= MAX_LIMIT:
        raise PlanError(f"n must be an integer 0-{MAX_LIMIT}", f"{where}.n")


_STEPS = {"select": _select, "with_columns": _select, "filter": _filter,
          "group_by": _group_by, "join": _join, "sort": _sort, "limit": _limit}


def aggregation(node: Any, where: str, budget: _Budget, depth: int) -> None:
    """An aggregate, optionally under one alias; its arguments are row expressions."""
    budget.spend(where, depth)
    if type(node) is dict and node.get("op") == "alias":
        _keys(node, {"op", "name", "expr"}, where)
        name(node["name"], f"{where}.name")
        node, where = node["expr"], f"{where}.expr"
    op = node.get("op") if type(node) is dict else None
    if op == "count":
        _keys(node, {"op", "args"}, where)
        _list(node["args"], f"{where}.args", 0, 0)
    elif op == "quantile":
        _keys(node, {"op", "args", "q"}, where)
        _quantile(node["q"], f"{where}.q")
        _args(node, where, budget, depth, 1)
    elif op in AGGREGATES:
        _keys(node, {"op", "args"}, where)
        _args(node, where, budget, depth, 1)
    else:
        raise PlanError("an aggregation must be count, count_distinct, sum, mean, median, "
                        "min, max, quantile or std", where)


def _quantile(q: Any, where: str) -> None:
    if type(q) not in (int, float) or not 0 <= q <= 1:
        raise PlanError("q must be a number between 0 and 1", where)


def _args(node: dict[str, Any], where: str, budget: _Budget, depth: int, count: int) -> None:
    for index, arg in enumerate(_list(node["args"], f"{where}.args", count, count)):
        expression(arg, f"{where}.args[{index}]", budget, depth + 1)


def expression(node: Any, where: str, budget: _Budget, depth: int) -> None:
    """A row expression (no aggregates): column, literal, operator, cast or alias."""
    budget.spend(where, depth)
    op = node.get("op") if type(node) is dict else None
    if type(op) is not str:
        raise PlanError("an expression must be an object with an 'op'", where)
    if op == "col":
        _keys(node, {"op", "name"}, where)
        name(node["name"], f"{where}.name")
    elif op == "lit":
        _keys(node, {"op", "value"}, where)
        scalar(node["value"], f"{where}.value")
    else:
        _compound(node, op, where, budget, depth)


def _compound(node: dict[str, Any], op: str, where: str, budget: _Budget, depth: int) -> None:
    if op == "alias":
        _keys(node, {"op", "name", "expr"}, where)
        name(node["name"], f"{where}.name")
        expression(node["expr"], f"{where}.expr", budget, depth + 1)
    elif op in BINARY or op in UNARY:
        _keys(node, {"op", "args"}, where)
        _args(node, where, budget, depth, 2 if op in BINARY else 1)
    elif op == "is_in":
        _keys(node, {"op", "args", "values"}, where)
        for index, value in enumerate(_list(node["values"], f"{where}.values", 0, MAX_VALUES)):
            scalar(value, f"{where}.values[{index}]")
        _args(node, where, budget, depth, 1)
    elif op == "cast":
        _keys(node, {"op", "args", "to"}, where)
        if type(node["to"]) is not str or node["to"] not in CAST_TYPES:
            raise PlanError(f"to must be one of {sorted(CAST_TYPES)}", f"{where}.to")
        _args(node, where, budget, depth, 1)
    else:
        raise PlanError(f"unknown or misplaced operator {op!r}", where)
