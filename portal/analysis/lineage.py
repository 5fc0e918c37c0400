"""Lineage of a plan's values: which protected fields each is computed from, what it computes,
and the public range and levels it can take. The plan policy (`policy.py`) walks a plan's steps;
this module handles one expression at a time.

Taint is total: any value computed from a sensitive field (arithmetic, casts, comparisons, and,
through `policy`, join keys, group keys and columns carried through joins) is sensitive. For
conditional data an expression is refused here, before anything runs, when it

- uses an identifier (`identifier`);
- tests a sensitive value other than by comparing the bare field with a round number or testing
  it for null (`sensitive-filter`) — in a filter or anywhere else, since a comparison inside a
  computed column is a filter by another name;
- transforms a sensitive value other than by arithmetic (`sensitive-transform`): floor division,
  modulo and casts turn a value into a step function, i.e. a threshold test;
- could divide by zero, overflow or go non-finite within the declared bounds of its inputs
  (`division-by-zero`, `out-of-range`, `unbounded`; see `intervals.py`).

Pure: no database.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from portal.analysis.intervals import Interval, RangeProblem, combine, literal

COMPARISONS = frozenset({"eq", "ne", "lt", "le", "gt", "ge"})
NULL_TESTS = frozenset({"is_null", "is_not_null"})
LOGIC = frozenset({"and", "or", "not"})
ARITHMETIC_ON_SENSITIVE = frozenset({"add", "sub", "mul", "div", "neg"})
DERIVED_LEVELS = {"month": tuple(range(1, 13)), "day": tuple(range(1, 32))}


class Refusal(Exception):
    """`detail` tells apart refusals of one rule that the analyst acts on differently (which ε
    ledger refused an `epsilon-budget`: "lifetime", "person"); the views translate by it."""

    def __init__(self, rule: str, reason: str, detail: str | None = None):
        super().__init__(reason)
        self.rule, self.reason, self.detail = rule, reason, detail


@dataclass(frozen=True)
class Origin:
    """One value of a plan: its taint, what it computes (`tree`, over source fields, aliases
    resolved), its public range (`interval`, None if not numeric or unbounded) and, when they are
    declared, the values it can take (`levels`, None if not enumerable)."""

    identifier: bool = False
    sensitive: bool = False
    conditional: bool = False
    derived: bool = False  # computed from a sensitive field rather than the field as it is
    tree: Any = None
    interval: Interval | None = None
    levels: tuple | None = None

    def taint(self, other: Origin) -> Origin:
        """This value, also carrying `other`'s protections (e.g. a column joined on its key)."""
        return replace(self, identifier=self.identifier or other.identifier,
                       sensitive=self.sensitive or other.sensitive,
                       conditional=self.conditional or other.conditional,
                       derived=self.derived or other.derived)


def field_origin(slug: str, name: str, info: Any) -> Origin:
    """A source field: its flags and public metadata from the data dictionary."""
    bounds = info.bounds.get(name)
    levels = info.levels.get(name)
    if levels is None and bounds is not None and bounds[1] - bounds[0] < 100 and float(bounds[0]).is_integer():
        levels = tuple(range(int(bounds[0]), int(bounds[1]) + 1))
    return Origin(identifier=info.conditional and name in info.identifiers,
                  sensitive=info.conditional and name in info.sensitive, conditional=info.conditional,
                  tree={"op": "field", "dataset": slug, "name": name},
                  interval=(float(bounds[0]), float(bounds[1])) if bounds else None, levels=levels)


def _round(value: Any) -> bool:
    """Two significant figures at most: 0, 5, 120, 35000, 0.25 are round; 1234 and 0.123 are not."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return False
    return value == 0 or float(f"{value:.2g}") == float(value)


class Expressions:
    """Evaluates lineage of expressions over the columns visible at one point of a plan."""

    def __init__(self, conditional: bool):
        self.conditional = conditional

    def origin(self, node: dict[str, Any], columns: dict[str, Origin]) -> Origin:
        op = node["op"]
        if op == "col":
            found = columns.get(node["name"])
            if found is None:
                raise Refusal("unknown-column", f"no column {node['name']!r} at this point of the plan")
            if found.identifier:
                raise Refusal("identifier", f"{node['name']!r} identifies people or records: it is never used or released")
            return found
        if op == "lit":
            return Origin(tree={"op": "lit", "value": node["value"]}, interval=literal(node["value"]),
                          levels=(node["value"],))
        if op == "alias":
            return self.origin(node["expr"], columns)
        children = [self.origin(child, columns) for child in node.get("args", ())]
        return self._computed(node, children)

    def _computed(self, node: dict[str, Any], children: list[Origin]) -> Origin:
        out = Origin()
        for child in children:
            out = out.taint(child)
        if self.conditional and out.sensitive:
            _sensitive_use(node, children)
        interval = None
        if self.conditional:
            try:
                interval = combine(node, [c.interval for c in children])
            except RangeProblem as problem:
                raise Refusal(problem.rule, problem.reason) from None
        tree = {**{k: v for k, v in node.items() if k != "args"}, "args": [c.tree for c in children]}
        return replace(out, derived=out.sensitive, tree=tree, interval=interval,
                       levels=DERIVED_LEVELS.get(node["op"]))


def _sensitive_use(node: dict[str, Any], children: list[Origin]) -> None:
    op = node["op"]
    if op in ARITHMETIC_ON_SENSITIVE or op in LOGIC or (op == "cast" and node.get("to") == "number"):
        return
    bare = [c for c in children if c.sensitive and not c.derived]
    if op in NULL_TESTS and bare:
        return
    if op in COMPARISONS and len(bare) == 1 and all(not c.sensitive and _round(_value(c))
                                                    for c in children if c is not bare[0]):
        return
    if op in COMPARISONS or op in NULL_TESTS or op == "is_in":
        raise Refusal("sensitive-filter", "a sensitive field may be tested only by comparing the field itself "
                                          "with a round number (two significant figures), e.g. "
                                          "col('income') >= 100000, or for null")
    raise Refusal("sensitive-transform", f"{op} of a sensitive value is not allowed: only arithmetic "
                                         "(+ - * /) may be applied to it (a floor, modulo or cast is a "
                                         "threshold test in disguise)")


def _value(origin: Origin) -> Any:
    tree = origin.tree or {}
    return tree.get("value") if tree.get("op") == "lit" else None
