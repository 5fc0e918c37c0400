"""The canonical form of what a statistic computes, so that noise never depends on its spelling.

A plan's expressions are resolved by the policy into trees over source fields (a column alias is
replaced by what it was computed from, so an alias never names a statistic). A sum or mean of
such a tree E is written as `a * B + b`, where B is a normalised linear combination of "atoms"
(source fields and non-linear sub-expressions) whose first coefficient is 1, and a, b are
constants. The noise of the statistic is drawn for B only, so `sum(x)`, `sum(x * 3)`,
`sum(x / 7 + 2)` and `sum(x + x)` are one draw, rescaled: averaging rewrites learns nothing.
`sum(lit(c))` has no atoms at all: it is `c` times the count, and gets exactly the count's noise.

Pure: no database, no plans, no noise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

SIGNIFICANT = 12  # coefficients are compared to 12 significant figures (x/3*3 is x)
DATE_PARTS = frozenset({"year", "month", "day"})


@dataclass(frozen=True)
class Form:
    """`sum(coefficient * atom) + const`; atoms by their canonical text."""

    terms: dict[str, float] = field(default_factory=dict)
    const: float = 0.0

    def scaled(self, k: float) -> Form:
        # A term scaled to 0 is dropped, as `plus` drops one that cancels: `0 * cost` is the
        # constant 0, not an atom of coefficient 0 (which made `affine` divide by zero).
        return Form({atom: c * k for atom, c in self.terms.items() if _round(c * k) != 0}, self.const * k)

    def plus(self, other: Form) -> Form:
        terms = dict(self.terms)
        for atom, c in other.terms.items():
            terms[atom] = terms.get(atom, 0.0) + c
        return Form({a: c for a, c in terms.items() if _round(c) != 0}, self.const + other.const)


@dataclass(frozen=True)
class Affine:
    """E = a * B + b. `base` is B's canonical text (None when E is a constant b)."""

    base: str | None
    a: float
    b: float


def canonical(tree: Any) -> str:
    return json.dumps(tree, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def linear(tree: dict[str, Any]) -> Form:
    """`tree` as a linear form over its atoms."""
    op = tree.get("op")
    if op == "lit" and isinstance(tree.get("value"), int | float) and not isinstance(tree.get("value"), bool):
        return Form({}, float(tree["value"]))
    args = tree.get("args") or []
    if op == "add":
        return linear(args[0]).plus(linear(args[1]))
    if op == "sub":
        return linear(args[0]).plus(linear(args[1]).scaled(-1.0))
    if op == "neg":
        return linear(args[0]).scaled(-1.0)
    if op == "cast" and tree.get("to") == "number":
        return linear(args[0])
    if op in ("mul", "div"):
        left, right = linear(args[0]), linear(args[1])
        if op == "mul" and not left.terms:
            return right.scaled(left.const)
        if not right.terms and right.const != 0:
            return left.scaled(right.const if op == "mul" else 1 / right.const)
    return Form({canonical(_normal(tree)): 1.0}, 0.0)


def _normal(tree: Any) -> Any:
    """A tree whose arguments are in canonical linear form, so atoms compare by what they compute."""
    if not isinstance(tree, dict) or not tree.get("args"):
        return tree
    args = []
    for arg in tree["args"]:
        form = linear(arg)
        args.append({"linear": sorted((a, _round(c)) for a, c in form.terms.items()), "const": _round(form.const)})
    return {**tree, "args": args}


def affine(tree: dict[str, Any]) -> Affine:
    """The statistic's E as a * B + b (B normalised so its first coefficient is 1)."""
    form = linear(tree)
    if not form.terms:
        return Affine(None, 0.0, form.const)
    atoms = sorted(form.terms)
    a = form.terms[atoms[0]]
    base = canonical([[atom, _round(form.terms[atom] / a)] for atom in atoms])
    return Affine(base, a, form.const)


def _round(value: float) -> float:
    return float(f"{value:.{SIGNIFICANT}g}")


def one_field(tree: dict[str, Any]) -> tuple[Affine, dict[str, Any] | None]:
    """`tree` as a * B + b, and the source field B reads when B is that field as it is or its
    year, month or day (None otherwise: several atoms, or an atom that computes something else
    of the record, such as an indicator, a product or a step function). Statistics of
    conditional data must read one field: then every spelling of the statistic is the same B,
    so the same noise (see `policy._statistic_form`)."""
    form = affine(tree)
    if form.base is None:
        return form, None
    atoms = json.loads(form.base)
    if len(atoms) != 1:
        return form, None
    atom = json.loads(atoms[0][0])
    if atom.get("op") in DATE_PARTS and len(atom.get("args") or ()) == 1:
        inner = atom["args"][0]
        if inner.get("const") != 0 or len(inner.get("linear") or ()) != 1 or inner["linear"][0][1] != 1:
            return form, None
        atom = json.loads(inner["linear"][0][0])
    return form, atom if atom.get("op") == "field" else None
