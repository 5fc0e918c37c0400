"""What a plan may ask of the data, decided before anything runs.

The broker calls `check_plan` on every (structurally valid) plan. It follows each column's
lineage through the pipeline (which source fields an output is computed from) and refuses:

- any use of an `identifier` field of a conditional dataset, anywhere (filter, expression, join
  key, group key, aggregate, output): identifiers are never filtered, grouped, joined out or
  released;
- rows of conditional data: a plan that reads conditional data must aggregate (`group_by`, or
  the `count` action), and after the aggregation only `sort` and `limit` may follow;
- group keys computed from `sensitive` fields (grouping by them would list their values);
- `count_distinct`, `min`, `max`, `median` and `quantile` of sensitive fields.

Each refusal names its rule; the rules are documented in docs/disclosure.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from portal.analysis.disclosure import Aggregation
from portal.store import output_name

RESTRICTED_ON_SENSITIVE = frozenset({"count_distinct", "min", "max", "median", "quantile", "std"})
MAX_STATISTICS = 10  # per aggregation of conditional data: each is another noisy look at the cell
AFTER_AGGREGATE = frozenset({"sort", "limit"})
COMPARISONS = frozenset({"eq", "ne", "lt", "le", "gt", "ge"})


def _round(value: Any) -> bool:
    """Two significant figures at most: 0, 5, 120, 35000, 0.25 are round; 1234 and 0.123 are not."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return value == 0 or float(f"{value:.2g}") == float(value)


def canonical(node: dict[str, Any]) -> str:
    """One text for one statistic however it is written (aliases and order of keys aside), so the
    same statistic of the same records always gets the same noise."""
    return json.dumps(node, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


class Refusal(Exception):
    def __init__(self, rule: str, reason: str):
        super().__init__(reason)
        self.rule, self.reason = rule, reason


@dataclass(frozen=True)
class SourceInfo:
    """What the policy needs to know about a granted dataset: public metadata only.

    `bounds` are the publisher-declared (minimum, maximum) of numeric fields (every numeric field
    of conditional data has them; stored values are clamped into them), `levels` the declared
    category levels of text fields. Disclosure control computes ranges and group limits from
    these, never from the records."""

    slug: str
    conditional: bool
    columns: tuple[str, ...]
    identifiers: frozenset[str]
    sensitive: frozenset[str]
    bounds: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    levels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Origin:
    """Lineage of one column: which kinds of protected fields it is computed from."""

    identifier: bool = False
    sensitive: bool = False
    conditional: bool = False
    derived: bool = False  # computed from a sensitive field rather than the field as it is

    def __or__(self, other: Origin) -> Origin:
        return Origin(self.identifier or other.identifier, self.sensitive or other.sensitive,
                      self.conditional or other.conditional, self.derived or other.derived)


@dataclass(frozen=True)
class Verdict:
    conditional: bool
    aggregated: bool
    aggregations: tuple[Aggregation, ...]  # positions in the output of the (last) group_by
    datasets: tuple[str, ...]


Columns = dict[str, Origin]


def check_plan(plan: dict[str, Any], sources: Mapping[str, SourceInfo]) -> Verdict:
    """Raises: Refusal with the rule that the plan breaks."""
    slugs = _sources_named(plan)
    for slug in slugs:
        if slug not in sources:
            raise Refusal("grant", f"dataset {slug!r} is not granted to this run")
    conditional = any(sources[slug].conditional for slug in slugs)
    walker = _Walker(sources, conditional)
    walker.pipeline(plan, top=True)
    if conditional and plan["action"] == "collect" and not walker.aggregations_seen:
        raise Refusal("rows-not-released", "conditional data is released only as aggregates: add group_by(...).agg(...)")
    _check_joins(plan, slugs, sources)
    return Verdict(conditional, walker.aggregations_seen, tuple(walker.last_aggregations), tuple(walker.datasets))


def _check_joins(plan: dict[str, Any], slugs: list[str], sources: Mapping[str, SourceInfo]) -> None:
    """Joins must not multiply conditional records: a self-join squares a count, and a join onto
    several matching rows multiplies it, shrinking the noise relative to the count. So one
    conditional source per plan, as the main source; the broker checks at run time that every
    joined side has at most one row per join key (`join_lookups`)."""
    conditional = [slug for slug in slugs if sources[slug].conditional]
    if len(conditional) > 1:
        raise Refusal("one-conditional-source", "a plan may read one conditional dataset, once (no self-joins)")
    if conditional and not sources[plan["source"]].conditional:
        raise Refusal("conditional-first", "start from the conditional dataset and join open data onto it")


def join_lookups(plan: dict[str, Any]) -> list[tuple[dict[str, Any], list[str]]]:
    """The joined sides of the main pipeline and their keys, for the broker's fan-out check."""
    return [(step["right"], step["on"]) for step in plan["steps"] if step["op"] == "join"]


def _sources_named(node: dict[str, Any]) -> list[str]:
    found = [node["source"]]
    for step in node["steps"]:
        if step["op"] == "join":
            found += _sources_named(step["right"])
    return found


class _Walker:
    """Follows column lineage through a plan. When the plan reads conditional data anywhere, the
    one aggregation allowed is the last shaping step of the main pipeline (then only sort and
    limit), so that what is released is exactly what disclosure control checked."""

    def __init__(self, sources: Mapping[str, SourceInfo], conditional: bool):
        self.sources = sources
        self.conditional = conditional
        self.datasets: list[str] = []
        self.aggregations_seen = False
        self.last_aggregations: list[Aggregation] = []
        self.top = True

    def pipeline(self, node: dict[str, Any], *, top: bool) -> Columns:
        columns = self._source(node["source"])
        aggregated = False
        for index, step in enumerate(node["steps"]):
            later = node["steps"][index + 1:]
            if (self.conditional and top and step["op"] == "limit"
                    and any(s["op"] == "group_by" for s in later)):
                raise Refusal("limit-before-aggregate", "limit() before an aggregation of conditional data would pick "
                                                        "individual records (e.g. the ten largest)")
            if self.conditional and aggregated and step["op"] not in AFTER_AGGREGATE:
                raise Refusal("after-aggregate", f"only sort and limit may follow an aggregation of conditional data, not {step['op']}")
            if self.conditional and not top and step["op"] == "group_by":
                raise Refusal("nested-aggregate", "with conditional data, aggregate in the main pipeline, after any join")
            self.top = top
            columns = getattr(self, "_" + step["op"])(step, columns)
            aggregated = aggregated or step["op"] == "group_by"
        return columns

    def _source(self, slug: str) -> Columns:
        info = self.sources[slug]
        if slug not in self.datasets:
            self.datasets.append(slug)
        return {name: Origin(identifier=info.conditional and name in info.identifiers,
                             sensitive=info.conditional and name in info.sensitive,
                             conditional=info.conditional) for name in info.columns}

    def expr(self, node: dict[str, Any], columns: Columns) -> Origin:
        op = node["op"]
        if op == "col":
            origin = columns.get(node["name"])
            if origin is None:
                raise Refusal("unknown-column", f"no column {node['name']!r} at this point of the plan")
            if origin.identifier:
                raise Refusal("identifier", f"{node['name']!r} identifies people or records: it is never used or released")
            return origin
        if op == "lit":
            return Origin()
        if op == "alias":
            return self.expr(node["expr"], columns)
        origin = Origin()
        for child in node.get("args", ()):
            origin = origin | self.expr(child, columns)
        return replace(origin, derived=True) if origin.sensitive else origin

    def _filter(self, step: dict[str, Any], columns: Columns) -> Columns:
        self._predicate(step["predicate"], columns)
        return columns

    def _predicate(self, node: dict[str, Any], columns: Columns) -> None:
        """A sensitive field may be filtered only as it is, against a round number: otherwise a
        search over thresholds (count of income > T for many T) would find individual values."""
        op, args = node["op"], node.get("args", [])
        if op in ("and", "or", "not"):
            for child in args:
                self._predicate(child, columns)
            return
        if not self.expr(node, columns).sensitive:
            return
        bare = [a for a in args if a["op"] == "col" and not columns[a["name"]].derived]
        if op in ("is_null", "is_not_null") and bare:
            return
        if op in COMPARISONS and len(bare) == 1 and any(a["op"] == "lit" and _round(a["value"]) for a in args):
            return
        raise Refusal("sensitive-filter", "a sensitive field may be filtered only by comparing the field itself "
                                          "with a round number (two significant figures), e.g. col('income') >= 100000")

    def _select(self, step: dict[str, Any], columns: Columns) -> Columns:
        return {output_name(node): self.expr(node, columns) for node in step["columns"]}

    def _with_columns(self, step: dict[str, Any], columns: Columns) -> Columns:
        added = self._select(step, columns)
        return {**columns, **added}

    def _sort(self, step: dict[str, Any], columns: Columns) -> Columns:
        for key in step["by"]:
            self.expr({"op": "col", "name": key["column"]}, columns)
        return columns

    def _limit(self, step: dict[str, Any], columns: Columns) -> Columns:
        return columns

    def _join(self, step: dict[str, Any], columns: Columns) -> Columns:
        right = self.pipeline(step["right"], top=False)
        for key in step["on"]:
            for side in (columns, right):
                self.expr({"op": "col", "name": key}, side)
        joined = dict(columns)
        for name, origin in right.items():
            if name in step["on"]:
                joined[name] = joined[name] | origin
            else:
                joined[name + "_right" if name in columns else name] = origin
        return joined

    def _group_by(self, step: dict[str, Any], columns: Columns) -> Columns:
        out: Columns = {}
        for key in step["keys"]:
            origin = self.expr({"op": "col", "name": key}, columns)
            if origin.sensitive:
                raise Refusal("sensitive-group", f"grouping by {key!r} would list values of a sensitive field")
            out[key] = origin
        if self.conditional and len(step["aggs"]) > MAX_STATISTICS:
            raise Refusal("too-many-statistics", f"at most {MAX_STATISTICS} statistics per aggregation of conditional data")
        aggregations = []
        for position, node in enumerate(step["aggs"]):
            name, func, origin = self._aggregation(node, columns)
            inner = node["expr"] if node["op"] == "alias" else node
            aggregations.append(Aggregation(len(step["keys"]) + position, func, origin.sensitive, canonical(inner)))
            out[name] = origin
        if self.top:
            self.last_aggregations, self.aggregations_seen = aggregations, True
        return out

    def _aggregation(self, node: dict[str, Any], columns: Columns) -> tuple[str, str, Origin]:
        inner = node["expr"] if node["op"] == "alias" else node
        func = inner["op"]
        origin = Origin()
        for child in inner.get("args", ()):
            origin = origin | self.expr(child, columns)
        if origin.sensitive and func in RESTRICTED_ON_SENSITIVE:
            raise Refusal("sensitive-statistic", f"{func} of a sensitive field would reveal individual values")
        return output_name(node), func, origin
