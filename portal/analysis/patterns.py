"""Patterns of attack in a run's stored plans, for stewards: what an honest analysis rarely does.

Pure functions over the plans (JSON, as the worker sent them) and their outcomes; nothing here
touches a database. Three patterns, each from an attack our own tests and the review of issue 8
played out:

- `many-refusals`: a run that is refused again and again is probing the rules (a bisection
  over an overflow threshold was "28 queries, 27 refusals").
- `near-identical-sets`: plans equal but for one filter condition (`A` and `A and not target`,
  or one term of a disjunction or an `is_in` list: `A | x` and `A | x | y`), the shape of a
  differencing attack, many times over.
- `threshold-bisection` / `threshold-sweep`: one literal of an otherwise identical plan takes
  successive values whose steps shrink (a binary search for one record's value), or many
  values (a sweep of thresholds).

The thresholds are starting values; a flag asks a steward to look, it decides nothing.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import combinations
from typing import Any

MANY_REFUSALS = 10
REFUSAL_SHARE = 0.5
MIN_QUERIES_FOR_SHARE = 6
NEAR_IDENTICAL_PAIRS = 5
BISECTION_STEPS = 4
SHRINK = 0.75
SWEEP_VALUES = 20
MAX_PLANS_COMPARED = 400


@dataclass(frozen=True, eq=False)
class Query:
    """One stored query. What the finders read of its plan is worked out once per object and
    kept (`split`, `shape`, `literals`): the audit compares a run's queries with up to
    `MAX_PLANS_COMPARED` earlier ones after every run, and keeps those objects (`audit.py`)."""

    plan: dict[str, Any]
    status: str
    rule: str = ""

    @cached_property
    def split(self) -> tuple[str, frozenset[str]]:
        return _split(self.plan)

    @cached_property
    def terms(self) -> tuple[str, frozenset[str]]:
        return _split(self.plan, terms=True)

    @cached_property
    def shape(self) -> str:
        return _canonical(_masked(self.plan))

    @cached_property
    def literals(self) -> list[tuple[str, float]]:
        return _literals(self.plan)


def detect(queries: Sequence[Query]) -> list[dict[str, Any]]:
    """The flags of one run: [{"flag", "detail", "queries"}]."""
    queries = list(queries)[:MAX_PLANS_COMPARED]
    flags = []
    for finder in (_many_refusals, _near_identical, _thresholds):
        flags.extend(finder(queries))
    return flags


def _many_refusals(queries: list[Query]) -> list[dict[str, Any]]:
    refused = [i + 1 for i, q in enumerate(queries) if q.status == "refused"]
    share = len(refused) / len(queries) if queries else 0.0
    if len(refused) >= MANY_REFUSALS or (len(queries) >= MIN_QUERIES_FOR_SHARE and share >= REFUSAL_SHARE):
        rules = sorted({q.rule for q in queries if q.status == "refused"})
        return [{"flag": "many-refusals", "detail": f"{len(refused)} of {len(queries)} queries refused "
                 f"({', '.join(rules)})", "queries": refused[:50]}]
    return []


def _canonical(node: Any) -> str:
    return json.dumps(node, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _conjuncts(predicate: dict[str, Any], terms: bool = False) -> list[str]:
    """A filter's conditions, compared as a multiset: its conjuncts; with `terms`, each term of a
    disjunction (`A | x | y`) and each value of a list (`is_in`) too, so that sets built a record
    at a time — a pad, a chain of sets one described record apart drifting a figure towards a
    remembered set, a neighbour holding a person's description (decision 0030n) — differ by one
    condition. Both ways are compared (`_near_identical`): `A` against `A & (x | y)` is one
    conjunct apart, and two terms."""
    op = predicate.get("op")
    if op == "and":
        return [c for arg in predicate.get("args", []) for c in _conjuncts(arg, terms)]
    if not terms:
        return [_canonical(predicate)]  # as written: what the conjunct split always compared
    if op == "or" and isinstance(predicate.get("args"), list):  # its terms, nested ones flattened by `_normal`
        return [f"or:{_canonical(term)}" for term in _normal(predicate)["args"]]
    if op == "is_in" and isinstance(predicate.get("values"), list):
        column = _canonical(predicate.get("args", []))
        return [f"in:{column}:{_canonical(value)}" for value in predicate["values"]]
    return [_canonical(_normal(predicate))]


# Operations whose arguments may come in any order: a person described as `(a == 1) & (b == 2)`
# or `(b == 2) & (a == 1)`, `col == 1` or `1 == col`, is one term of a chain (`_normal`).
_COMMUTATIVE = frozenset({"and", "or", "eq", "ne"})


def _normal(node: Any) -> Any:
    """A predicate's term with the arguments of commutative operations flattened and sorted, so
    that spelling one described record two ways does not make two chain steps look unrelated."""
    if isinstance(node, list):
        return [_normal(item) for item in node]
    if not isinstance(node, dict):
        return node
    normal = {key: _normal(value) for key, value in node.items()}
    op = normal.get("op")
    if op in _COMMUTATIVE and isinstance(normal.get("args"), list):
        args = normal["args"]
        if op in ("and", "or"):
            args = [leaf for arg in args for leaf in (arg["args"] if isinstance(arg, dict) and arg.get("op") == op
                                                      and isinstance(arg.get("args"), list) else [arg])]
        normal["args"] = sorted(args, key=_canonical)
    return normal


def _split(plan: dict[str, Any], terms: bool = False) -> tuple[str, frozenset[str]]:
    """A plan without its filters (the base), and the multiset of its filter conditions."""
    conditions: list[str] = []
    steps = []
    for step in plan.get("steps", []):
        if isinstance(step, dict) and step.get("op") == "filter" and isinstance(step.get("predicate"), dict):
            conditions.extend(_conjuncts(step["predicate"], terms))
        else:
            steps.append(step)
    base = _canonical({**plan, "steps": steps})
    counted = defaultdict(int)
    tagged = []
    for c in conditions:
        counted[c] += 1
        tagged.append(f"{counted[c]}:{c}")
    return base, frozenset(tagged)


def _near_identical(queries: list[Query]) -> list[dict[str, Any]]:
    pairs: set[tuple[int, int]] = set()
    for split in (lambda q: q.split, lambda q: q.terms):
        by_base: dict[str, list[tuple[int, frozenset[str]]]] = defaultdict(list)
        for number, query in enumerate(queries, start=1):
            base, conditions = split(query)
            by_base[base].append((number, conditions))
        for members in by_base.values():
            distinct = {conditions: number for number, conditions in reversed(members)}
            for (a, na), (b, nb) in combinations(distinct.items(), 2):
                if len(a ^ b) == 1:
                    pairs.add((min(na, nb), max(na, nb)))
    if len(pairs) < NEAR_IDENTICAL_PAIRS:
        return []
    involved = sorted({n for pair in pairs for n in pair})
    return [{"flag": "near-identical-sets", "detail": f"{len(pairs)} pairs of plans differ by one filter "
             "condition (the shape of a differencing attack)", "queries": involved[:50]}]


def _literals(node: Any, path: str = "") -> list[tuple[str, float]]:
    """Every numeric literal of a plan with its path."""
    found = []
    if isinstance(node, dict):
        if node.get("op") == "lit" and type(node.get("value")) in (int, float):
            return [(path, float(node["value"]))]
        for key, value in node.items():
            found.extend(_literals(value, f"{path}.{key}"))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(_literals(value, f"{path}[{i}]"))
    return found


def _masked(node: Any) -> Any:
    if isinstance(node, dict):
        if node.get("op") == "lit" and type(node.get("value")) in (int, float):
            return {"op": "lit", "value": "?"}
        return {k: _masked(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_masked(v) for v in node]
    return node


def _thresholds(queries: list[Query]) -> list[dict[str, Any]]:
    series: dict[tuple[str, str], list[tuple[int, float]]] = defaultdict(list)
    for number, query in enumerate(queries, start=1):
        shape = query.shape
        for path, value in query.literals:
            series[(shape, path)].append((number, value))
    flags = []
    for (_, path), points in series.items():
        values = [v for _, v in points]
        numbers = [n for n, _ in points]
        if _bisection(values):
            flags.append({"flag": "threshold-bisection", "detail": f"one threshold ({path}) took {len(values)} "
                          "values with shrinking steps (a binary search)", "queries": numbers[:50]})
        elif len(set(values)) >= SWEEP_VALUES:
            flags.append({"flag": "threshold-sweep", "detail": f"one threshold ({path}) took "
                          f"{len(set(values))} distinct values", "queries": numbers[:50]})
    return flags


def _bisection(values: list[float]) -> bool:
    """Steps between successive values that shrink (by SHRINK or more) BISECTION_STEPS times in
    a row, with the direction changing at least once: a search closing in on one value."""
    steps = [b - a for a, b in zip(values, values[1:], strict=False)]
    run = best = 0
    for previous, step in zip(steps, steps[1:], strict=False):
        run = run + 1 if step != 0 and abs(step) <= SHRINK * abs(previous) else 0
        best = max(best, run)
    turns = sum(1 for a, b in zip(steps, steps[1:], strict=False) if a * b < 0)
    return best >= BISECTION_STEPS and turns >= 1
