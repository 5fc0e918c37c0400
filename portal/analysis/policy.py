"""What a plan may ask of the data, decided before anything runs.

The broker calls `check_plan` on every (structurally valid) plan. It follows each column's
lineage through the pipeline (which source fields an output is computed from) and refuses:

- any use of an `identifier` field of a conditional dataset, anywhere (filter, expression, join
  key, group key, aggregate, output): identifiers are never filtered, grouped, joined out or
  released;
- rows of conditional data: a plan that reads conditional data must aggregate (`group_by`, or
  the `count` action), and after the aggregation only `sort` and `limit` may follow;
- group keys computed from `sensitive` fields (grouping by them would list their values), and
  joins on them (the joined columns would be functions of the sensitive value);
- `count_distinct`, `min`, `max`, `median`, `quantile` and `std` of sensitive fields;
- `count_distinct` of conditional data (`distinct-count`): it counts the non-empty groups of a
  field with a count's bounded noise (decision 0026b);
- sums and means of anything but one field of the conditional data (`a * x + b`,
  x a field or its year, month or day): every other expression is a statistic of its own, so a
  draw of its own (`statistic-form`, decision 0024c);
- expressions that test or transform sensitive values, or could fail within the declared bounds
  (`lineage.py`, `intervals.py`).

It also works out, from the plan and the data dictionary only, what the broker needs to answer
without letting the records decide anything but released values: each statistic's canonical
form (`affine.py`: the noise key, never an alias) and the declared levels of each group key
(which cells can exist, and so the group limit).

Each refusal names its rule; the rules are documented in docs/disclosure.md.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from portal.analysis.affine import Affine, affine, canonical, linear, one_field
from portal.analysis.disclosure import COUNT_STREAM, Aggregation
from portal.analysis.intervals import (
    ARITHMETIC,
    DATE_PARTS,
    Interval,
    RangeProblem,
    combine,
    literal,
    magnitude,
)
from portal.analysis.lineage import Expressions, Origin, Refusal, field_origin
from portal.store import output_name

__all__ = ["Refusal", "SourceInfo", "Verdict", "check_plan", "join_lookups", "may_be_missing_or_zero"]

RESTRICTED_ON_SENSITIVE = frozenset({"count_distinct", "min", "max", "median", "quantile", "std"})
# Exact (or nearly exact) statistics of single records: over "a pad of known records, or the
# target", max(month) is the target's month exactly when the target is in the data, and a cost
# threshold in the same filter turns it into a bisection of the cost (third round). Under
# statistical disclosure control they are refused on every field of conditional data; the
# ε-budget mode releases medians and quantiles through its own mechanism.
ORDER_STATISTICS = frozenset({"min", "max", "median", "quantile", "std"})
MAX_STATISTICS = 10  # per aggregation of conditional data: each is another noisy look at the cell
# Statistics whose value is a·x + b of one field x of the conditional data (or of its year,
# month or day) under statistical disclosure control: anything else computed per record is a
# statistic of its own, so a draw of its own, and equal or nearly equal ones are endless —
# `sum((pad | target) & (department != 'none-i'))` for fifty i averaged to the exact count of
# "pad or target"; `sum(cost * (month + k) / (month + k))` for a hundred k averaged to one
# visit's cost (sixth round, decision 0024c).
ONE_FIELD_STATISTICS = frozenset({"sum", "mean", "count_distinct"})
# How finely every step of a sum's or mean's arithmetic must keep the field, relative to the
# field's range: 2^-40, so a constant up to about 4,000 times the range may be added (cost + 1e10)
# but not one that rounds the field to steps (cost + 4e18: steps of 512 yuan; decision 0026d).
PRECISION = 2.0 ** -40
# `count_distinct` counts the values with at least one record — the non-empty groups — and a
# count's noise (±2, then rounded to 5) is bounded: over "ten months of visits anyone can tell
# are there, or the target" a 15 proved the target, and a 0-or-1 hidden group showed the same
# way (eighth round, decision 0026b). Refused under statistical disclosure control (`distinct-count`);
# grouping by the field lists its values, each on the listing's own threshold draw.
AFTER_AGGREGATE = frozenset({"sort", "limit"})
MAGNITUDES = frozenset({"sum", "mean"})


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
    private_statistics: bool = False  # order statistics go through a DP mechanism (ε mode)
    # Where a field's values are clamped before they are summed (the descriptor's `dp_bounds`,
    # inside `bounds`): a sum's noise is scaled to what one record can contribute (decision 0026c).
    sum_bounds: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    # The fields that may have missing values (`may_be_missing_or_zero`: the dictionary, never the
    # data); None: not known, so any field may (decisions 0027a, 0028e).
    missing: frozenset[str] | None = None
    # The fields whose values may be zero (likewise); None: not known, so any may (0027e, 0028e).
    zero: frozenset[str] | None = None


def may_be_missing_or_zero(columns: Iterable[str], bounds: Mapping[str, tuple[float, float]],
                           required: Iterable[str]) -> tuple[frozenset[str], frozenset[str]]:
    """(The fields that may be missing, the fields that may be zero), from the data dictionary
    only: a field may be missing unless it is declared `required` (Table Schema
    `constraints.required`), and may be zero unless its declared bounds exclude 0 (conditional
    values are clamped into them at ingest and when read, so a minimum above 0 is a guarantee).

    They used to be read from the version file's statistics (its null counts, smallest and
    largest values): order statistics of the whole version, released exactly through what they
    decide — a contributors test of its own, a number of values present drawn on its own. So
    when the target was the only record with no income (or no household size), listed cells of
    other households showed withheld sums and means that were not the sum over the count only
    when the target was in the version: one query, certain (eighteenth round, decision 0028e).
    A `required` declared wrongly makes the number present the count for a field with gaps (its
    means are pulled towards 0), and lets the listing decide its contributors test: neither is
    decided on a set, so a wrong word costs accuracy, not disclosure."""
    columns, required = tuple(columns), frozenset(required)
    missing = frozenset(c for c in columns if c not in required)
    zero = frozenset(c for c in columns
                     if c not in bounds or not (float(bounds[c][0]) > 0 or float(bounds[c][1]) < 0))
    return missing, zero


@dataclass(frozen=True)
class Verdict:
    conditional: bool
    aggregated: bool
    aggregations: tuple[Aggregation, ...]  # positions in the output of the (last) group_by
    datasets: tuple[str, ...]
    group_levels: tuple[tuple | None, ...] = ()  # declared values of each group key (None: not declared)


Columns = dict[str, Origin]


def check_plan(plan: dict[str, Any], sources: Mapping[str, SourceInfo]) -> Verdict:
    """Raises: Refusal with the rule that the plan breaks."""
    slugs = _sources_named(plan)
    for slug in slugs:
        if slug not in sources:
            raise Refusal("grant", f"dataset {slug!r} is not granted to this run")
    conditional = any(sources[slug].conditional for slug in slugs)
    walker = _Walker(sources, conditional)
    walker.action = plan["action"]
    walker.exact_order_statistics = not any(sources[s].conditional and not sources[s].private_statistics for s in slugs)
    walker.pipeline(plan, top=True)
    if conditional and plan["action"] == "collect" and not walker.aggregations_seen:
        raise Refusal("rows-not-released", "conditional data is released only as aggregates: add group_by(...).agg(...)")
    _check_joins(plan, slugs, sources)
    return Verdict(conditional, walker.aggregations_seen, tuple(walker.last_aggregations), tuple(walker.datasets),
                   walker.group_levels)


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
        self.group_levels: tuple[tuple | None, ...] = ()
        self.top = True
        self.expressions = Expressions(conditional)
        self.exact_order_statistics = not conditional
        self.conditional_sources = frozenset(slug for slug, info in sources.items() if info.conditional)
        self.action = "collect"

    def pipeline(self, node: dict[str, Any], *, top: bool) -> Columns:
        columns = self._source(node["source"])
        aggregated = False
        for index, step in enumerate(node["steps"]):
            later = node["steps"][index + 1:]
            # `count()` is an aggregation too: `sort('cost').limit(50).filter(...).count()` counted
            # records chosen by the rank of a sensitive value (twelfth round, decision 0027e)
            if (self.conditional and top and step["op"] == "limit"
                    and (self.action == "count" or any(s["op"] == "group_by" for s in later))):
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
        return {name: field_origin(slug, name, info) for name in info.columns}

    def expr(self, node: dict[str, Any], columns: Columns) -> Origin:
        return self.expressions.origin(node, columns)

    def _filter(self, step: dict[str, Any], columns: Columns) -> Columns:
        # A filter is an expression like any other: lineage.py refuses tests of sensitive values
        # other than the bare field against a round number, wherever they appear.
        self.expr(step["predicate"], columns)
        return columns

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
        """Joined columns carry the taint of the join keys: a lookup on a value derived from a
        sensitive field would hand back a function of that value, unflagged."""
        right = self.pipeline(step["right"], top=False)
        keys = Origin()
        for key in step["on"]:
            left = self.expr({"op": "col", "name": key}, columns)
            if self.conditional and left.sensitive:
                raise Refusal("sensitive-join", f"joining on {key!r} would look up a value derived from a sensitive field")
            keys = keys.taint(left).taint(self.expr({"op": "col", "name": key}, right))
        joined = dict(columns)
        for name, origin in right.items():
            if name in step["on"]:
                joined[name] = joined[name].taint(origin)
            else:
                joined[name + "_right" if name in columns else name] = _joined(origin.taint(keys))
        return joined

    def _group_by(self, step: dict[str, Any], columns: Columns) -> Columns:
        out: Columns = {}
        levels = []
        for key in step["keys"]:
            origin = self.expr({"op": "col", "name": key}, columns)
            if origin.sensitive:
                raise Refusal("sensitive-group", f"grouping by {key!r} would list values of a sensitive field")
            out[key] = origin
            levels.append(origin.levels)
        if self.conditional and len(step["aggs"]) > MAX_STATISTICS:
            raise Refusal("too-many-statistics", f"at most {MAX_STATISTICS} statistics per aggregation of conditional data")
        aggregations = []
        for position, node in enumerate(step["aggs"]):
            name, aggregation, origin = self._aggregation(node, columns, len(step["keys"]) + position)
            aggregations.append(aggregation)
            out[name] = origin
        if self.top:
            self.last_aggregations, self.aggregations_seen = aggregations, True
            self.group_levels = tuple(levels)
        return out

    def _aggregation(self, node: dict[str, Any], columns: Columns, index: int) -> tuple[str, Aggregation, Origin]:
        inner = node["expr"] if node["op"] == "alias" else node
        func = inner["op"]
        if func == "count":
            return output_name(node), Aggregation(index, "count", False, COUNT_STREAM), Origin(conditional=self.conditional)
        arg = self.expr(inner["args"][0], columns)
        if arg.sensitive and func in RESTRICTED_ON_SENSITIVE:
            raise Refusal("sensitive-statistic", f"{func} of a sensitive field would reveal individual values")
        if func in ORDER_STATISTICS and not self.exact_order_statistics:
            raise Refusal("order-statistic", f"{func} of conditional data is one record's value (or set by a few): "
                                             "a pad of known records plus a target would reveal the target")
        if func == "count_distinct" and self.conditional and not self.exact_order_statistics:
            raise Refusal("distinct-count", "count_distinct of conditional data counts the values that have at least "
                                            "one record, with a count's bounded noise: group_by() the field and count "
                                            "the groups that are listed")
        if self.conditional and func in MAGNITUDES | {"std"} and arg.interval is None:
            raise Refusal("unbounded", f"{func} of a value without declared bounds: declare the field's bounds")
        one = self._statistic_form(func, arg) if func in ONE_FIELD_STATISTICS and not self.exact_order_statistics else None
        origin = arg.taint(Origin())
        if func not in MAGNITUDES:
            stream = canonical({"op": func, "q": inner.get("q"), "args": [arg.tree]})
            if one is not None:  # count_distinct(a * x + b) counts the values of x: one draw for every spelling
                stream = f"{func}:{one.base}"
            center = sum(arg.interval) / 2 if arg.interval else None
            return output_name(node), Aggregation(index, func, arg.sensitive, stream, center=center), origin
        aggregation = _magnitude(index, func, inner["args"][0], arg, self._sum_bounds(arg))
        missing = self._may_be_missing(arg)
        return output_name(node), replace(aggregation, missing=missing,
                                          all_contribute=not missing and self._never_zero(arg)), origin

    def _sum_bounds(self, arg: Origin) -> tuple[float, float] | None:
        """The clamp of a sum or mean that reads one field as it is, if its dataset declares one."""
        _, read = one_field(arg.tree)
        if read is None or read.get("dataset") not in self.sources:
            return None
        return self.sources[read["dataset"]].sum_bounds.get(read.get("name"))

    def _may_be_missing(self, arg: Origin) -> bool:
        """Whether the field a sum or mean reads may be missing in its dataset's version: public
        metadata, so the number of values present is released the same way whatever the set."""
        _, read = one_field(arg.tree)
        if read is None or read.get("dataset") not in self.sources:
            return True
        missing = self.sources[read["dataset"]].missing
        return missing is None or read.get("name") in missing

    def _never_zero(self, arg: Origin) -> bool:
        """Whether B, the field a sum or mean reads, is non-zero for every record of the version,
        by public metadata (the file's statistics): then every record with a value contributes,
        and the cell's listing decides the contributors test without a draw of its own. A month
        or a day is never zero; a year may be. Whatever the clamp of the sum, values all on one
        side of 0 are all clamped to 0 or none is, so this never depends on the set."""
        _, read = one_field(arg.tree)
        if read is None or read.get("dataset") not in self.sources:
            return False
        atom = json.loads(json.loads(affine(arg.tree).base)[0][0])
        if atom.get("op") in ("month", "day"):
            return True
        if atom.get("op") != "field":
            return False
        zero = self.sources[read["dataset"]].zero
        return zero is not None and read.get("name") not in zero

    def _statistic_form(self, func: str, arg: Origin) -> Affine:
        """A sum, mean or count_distinct of conditional data reads one field of it (a * x + b,
        x a field as it is or its year, month or day) — or, for sum and mean, a constant (the
        count). Returns the affine form."""
        form, read = one_field(arg.tree)
        if form.base is None and func in MAGNITUDES:
            return form
        if form.base is None or read is None or read.get("dataset") not in self.conditional_sources:
            raise Refusal("statistic-form", f"{func} of conditional data takes one of its fields, as it is or "
                                            "times and plus numbers (or the year, month or day of a date): "
                                            "select records with filter() and group_by(), not inside the statistic")
        if func in MAGNITUDES:
            self._only(func, arg.tree, read)
            self._exact(func, arg.tree, form)
        return form

    @staticmethod
    def _only(func: str, tree: Any, read: dict[str, Any]) -> None:
        """No other field may appear in the statistic, not even in terms that cancel out of its
        affine form: the store still computes them, and a term that is NULL for some records
        (`day(time_hour) - day(time_hour)`, a flight left-joined on the visit's month) made the
        statistic's value missing exactly for them — the number of values present, a draw of its
        own when it is not the count, told whether the target was in a fresh set (tenth round,
        decision 0027b). Nor a joined column, even a constant one: a left join leaves it NULL
        where a record has no match (`cost + z - z`, twelfth round, decision 0027e)."""
        def fields(node: Any) -> list[tuple]:
            if not isinstance(node, dict):
                return []
            if node.get("op") == JOINED:  # a joined column, even a constant one, may be NULL (`_joined`)
                return [(JOINED, None)]
            here = [(node.get("dataset"), node.get("name"))] if node.get("op") == "field" else []
            return here + [f for child in node.get("args") or () for f in fields(child)]

        if any(found != (read.get("dataset"), read.get("name")) for found in fields(tree)):
            raise Refusal("statistic-form", f"{func} of conditional data reads one of its fields and no other "
                                            "(nor a joined column), not even in terms that cancel out (the store "
                                            "computes them, and "
                                            "a missing value there makes the statistic's value missing)")

    def _exact(self, func: str, tree: dict[str, Any], form: Affine) -> None:
        """The store computes a * B + b in DOUBLE arithmetic, and the statistic is released as
        the statistic of B: so no step of it may round B coarser than `PRECISION` of B's range.
        Beside 4e18 a double has steps of 512, so `(cost + 4e18) - 4e18` is `cost` to the affine
        form (one draw, the sum of cost) but 0 for every visit under 256 yuan, and `((cost * s +
        4) - 4) / s` is 0 under any threshold s sets: a test of a sensitive value against a
        number that is not round, as the statistic's non-zero contributors (ninth round,
        decision 0026d). Decided on the declared bounds, so on the plan only."""
        form_atom = json.loads(form.base)[0][0]
        atom = json.loads(form_atom)
        scale = magnitude(DATE_PARTS.get(atom.get("op")) or self._bounds(atom))
        if not math.isfinite(scale) or scale == 0:
            return

        def walk(node: Any) -> Interval | None:
            if not isinstance(node, dict):
                return None
            op = node.get("op")
            if op == "field":
                return self._bounds(node)
            if op == "lit":
                return literal(node.get("value"))
            children = [walk(child) for child in node.get("args") or ()]
            try:
                interval = combine(node, children)
            except RangeProblem:  # refused by lineage already; nothing to add
                return None
            if op in ARITHMETIC or op == "cast":
                coefficient = abs(linear(node).terms.get(form_atom, 0.0))
                reads = _reads_field(node)
                if reads and (coefficient == 0 or interval is None
                              or math.ulp(magnitude(interval)) / coefficient > PRECISION * scale):
                    raise Refusal("statistic-form", f"{func} of conditional data is released as the statistic of "
                                                    "the field: its arithmetic may not round the field's values "
                                                    "(a constant far larger than the field, or scaled far below "
                                                    "it) nor cancel it out")
            return interval

        walk(tree)

    def _bounds(self, node: dict[str, Any]) -> Interval | None:
        info = self.sources.get(node.get("dataset"))
        bounds = info.bounds.get(node.get("name")) if info is not None else None
        return (float(bounds[0]), float(bounds[1])) if bounds else None


JOINED = "joined"  # the tree of a column brought in by a join: not what the right side computed


def _joined(origin: Origin) -> Origin:
    """A column a join brings in computes what the right side computed *or NULL* (a left join's
    record without a match), so its tree is marked: a literal of the lookup is not a constant of
    the record. Read as the constant, `sum(cost + z)` with `z = lit(0)` of a one-row lookup
    left-joined where the record is not the target's description was `cost` to the policy, but
    NULL in the store for the target alone: the target no longer contributed, and a cell whose
    records do not all contribute draws its contributors' threshold (`_Cell.enough`), so over
    fresh pads of nine known visits a null sum in a listed cell proved the target was there
    (twelfth round, decision 0027e). Marked, the column is an atom of its own: no statistic of
    conditional data reads it (`statistic-form`), and it is no round literal for a test of a
    sensitive value (`sensitive-filter`). Its levels and range are the right side's."""
    if origin.tree is None:
        return origin
    return replace(origin, tree={"op": JOINED, "args": [origin.tree]})


def _reads_field(node: Any) -> bool:
    if not isinstance(node, dict):
        return False
    return node.get("op") == "field" or any(_reads_field(child) for child in node.get("args") or ())


def _magnitude(index: int, func: str, expr: dict[str, Any], arg: Origin,
               clamp: tuple[float, float] | None = None) -> Aggregation:
    """A sum or mean of E = a * B + b: noise is drawn for B (see affine.py), and the store is
    asked for the statistic of B itself, so every rewrite of B sees the same inputs. With a
    `clamp` (B is a field whose dataset declares where its sums clamp it), the store sums B
    clamped there, and what one record can contribute is the clamp's (decision 0026c)."""
    form = affine(arg.tree)
    if form.base is None:
        return Aggregation(index, func, arg.sensitive, COUNT_STREAM, a=0.0, b=form.b, constant=True)
    low, high = arg.interval or (0.0, 0.0)
    base_range = sorted(((low - form.b) / form.a, (high - form.b) / form.a))
    rewrite = None
    if (form.a, form.b) != (1.0, 0.0):
        rewrite = {"op": "div", "args": [{"op": "sub", "args": [expr, {"op": "lit", "value": form.b}]},
                                         {"op": "lit", "value": form.a}]}
    if clamp is not None and (clamp[0] > base_range[0] or clamp[1] < base_range[1]):
        base_range = [max(clamp[0], base_range[0]), min(clamp[1], base_range[1])]
        rewrite = {"op": "clip", "args": [rewrite or expr, {"op": "lit", "value": base_range[0]},
                                          {"op": "lit", "value": base_range[1]}]}
    # "sum:" for a mean too: a mean is released as the released sum over the released count
    return Aggregation(index, func, arg.sensitive, f"sum:{form.base}", a=form.a, b=form.b,
                       scale=magnitude(tuple(base_range)), center=sum(base_range) / 2, rewrite=rewrite)
