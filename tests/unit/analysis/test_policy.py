"""Plan policy: identifiers never used, conditional rows never released, sensitive limits."""

from __future__ import annotations

from dataclasses import replace

import pytest

from portal.analysis.policy import Refusal, SourceInfo, check_plan

CLINIC = SourceInfo("clinic", True, ("visit_id", "patient_id", "district", "age_band", "cost", "visit_date"),
                    frozenset({"visit_id", "patient_id"}), frozenset({"cost"}), bounds={"cost": (0, 3_000_000)},
                    levels={"district": ("和平区", "河东区"), "age_band": ("0-14", "15-64", "65+")})
DISTRICTS = SourceInfo("districts", False, ("district", "area", "region"), frozenset(), frozenset(),
                       bounds={"area": (0, 20_000)})
SOURCES = {"clinic": CLINIC, "districts": DISTRICTS}


def col(name):
    return {"op": "col", "name": name}


def lit(value):
    return {"op": "lit", "value": value}


def plan(steps, action="collect", source="clinic"):
    return {"version": 1, "action": action, "source": source, "steps": steps}


def group(keys, *aggs):
    return {"op": "group_by", "keys": keys, "aggs": list(aggs)}


def agg(op, column=None, **extra):
    return {"op": op, "args": [col(column)] if column else [], **extra}


def refused(p):
    with pytest.raises(Refusal) as info:
        check_plan(p, SOURCES)
    return info.value.rule


def test_aggregates_pass_and_report_positions():
    verdict = check_plan(plan([group(["district"], agg("count"), agg("mean", "cost"))]), SOURCES)
    assert verdict.conditional and verdict.aggregated
    assert [(a.index, a.func, a.sensitive) for a in verdict.aggregations] == [(1, "count", False), (2, "mean", True)]


@pytest.mark.parametrize("steps, action, rule", [
    ([], "collect", "rows-not-released"),
    ([{"op": "filter", "predicate": {"op": "eq", "args": [col("age_band"), lit("60+")]}}], "collect", "rows-not-released"),
    ([{"op": "filter", "predicate": {"op": "eq", "args": [col("patient_id"), lit("P1")]}}], "count", "identifier"),
    ([group(["patient_id"], agg("count"))], "collect", "identifier"),
    ([group(["district"], agg("count_distinct", "patient_id"))], "collect", "identifier"),
    ([group(["cost"], agg("count"))], "collect", "sensitive-group"),
    ([{"op": "with_columns", "columns": [{"op": "alias", "name": "c2", "expr": {"op": "mul", "args": [col("cost"), lit(2)]}}]},
      group(["c2"], agg("count"))], "collect", "sensitive-group"),
    ([group(["district"], agg("max", "cost"))], "collect", "sensitive-statistic"),
    ([group(["district"], agg("quantile", "cost", q=0.5))], "collect", "sensitive-statistic"),
    ([group(["district"], agg("count")), {"op": "filter", "predicate": {"op": "gt", "args": [col("count"), lit(1)]}}],
     "collect", "after-aggregate"),
    ([{"op": "select", "columns": [{"op": "alias", "name": "x", "expr": col("visit_id")}]}], "collect", "identifier"),
    ([group(["nope"], agg("count"))], "collect", "unknown-column"),
])
def test_refusals(steps, action, rule):
    assert refused(plan(steps, action)) == rule


def test_identifier_hidden_behind_an_alias_is_still_an_identifier():
    steps = [{"op": "with_columns", "columns": [{"op": "alias", "name": "pid", "expr": col("patient_id")}]}]
    assert refused(plan(steps, "count")) == "identifier"


def test_join_with_open_data_and_rows_of_open_data():
    joined = [{"op": "join", "right": {"source": "districts", "steps": []}, "on": ["district"], "how": "inner"},
              group(["district"], agg("sum", "cost"))]
    verdict = check_plan(plan(joined), SOURCES)
    assert verdict.datasets == ("clinic", "districts") and verdict.conditional
    # a statistic reads the conditional data's own fields (decision 0024c): a joined column's
    # values depend on which lookup rows were joined, not on the records alone
    joined[-1] = group(["district"], agg("mean", "area"))
    assert refused(plan(joined)) == "statistic-form"
    open_rows = check_plan(plan([], source="districts"), SOURCES)
    assert not open_rows.conditional and not open_rows.aggregated


def test_conditional_records_cannot_be_multiplied_by_joins():
    self_join = [{"op": "join", "right": {"source": "clinic", "steps": []}, "on": ["district"], "how": "inner"},
                 group(["district"], agg("count"))]
    assert refused(plan(self_join)) == "one-conditional-source"
    open_first = [{"op": "join", "right": {"source": "clinic", "steps": []}, "on": ["district"], "how": "inner"},
                  group(["district"], agg("count"))]
    assert refused(plan(open_first, source="districts")) == "conditional-first"


def test_ungranted_dataset_is_refused():
    steps = [{"op": "join", "right": {"source": "secret", "steps": []}, "on": ["district"], "how": "inner"}]
    assert refused(plan(steps)) == "grant"


def test_an_aggregation_inside_a_join_does_not_release_rows():
    right_aggregates = [{"op": "join", "right": {"source": "clinic", "steps": [group(["district"], agg("count"))]},
                         "on": ["district"], "how": "inner"}]
    assert refused(plan(right_aggregates, source="districts")) == "nested-aggregate"
    rows_with_aggregated_side = [{"op": "join", "right": {"source": "districts", "steps": [group(["district"], agg("count"))]},
                                  "on": ["district"], "how": "inner"}]
    assert refused(plan(rows_with_aggregated_side)) == "nested-aggregate"


def test_conditional_joined_after_an_open_aggregation_is_refused():
    steps = [group(["district"], agg("count")),
             {"op": "join", "right": {"source": "clinic", "steps": []}, "on": ["district"], "how": "inner"}]
    assert refused(plan(steps, source="districts")) == "after-aggregate"


def _filtered(predicate, *more_steps):
    return plan([{"op": "filter", "predicate": predicate}, *more_steps, group(["district"], agg("count"))])


@pytest.mark.parametrize("predicate", [
    {"op": "ge", "args": [col("cost"), lit(100000)]},
    {"op": "lt", "args": [col("cost"), lit(0.25)]},
    {"op": "and", "args": [{"op": "gt", "args": [col("cost"), lit(500)]}, {"op": "is_not_null", "args": [col("cost")]}]},
    {"op": "eq", "args": [col("district"), lit("和平区")]},
])
def test_sensitive_fields_filtered_against_round_numbers(predicate):
    assert check_plan(_filtered(predicate), SOURCES).aggregated


@pytest.mark.parametrize("predicate", [
    {"op": "gt", "args": [col("cost"), lit(1234.5)]},
    {"op": "gt", "args": [{"op": "mul", "args": [col("cost"), lit(1.0001)]}, lit(1000)]},
    {"op": "gt", "args": [{"op": "sub", "args": [col("cost"), lit(200)]}, lit(1000)]},
    {"op": "is_in", "args": [col("cost")], "values": [1234.5]},
    {"op": "not", "args": [{"op": "eq", "args": [col("cost"), lit(999)]}]},
])
def test_threshold_searches_on_sensitive_fields_are_refused(predicate):
    assert refused(_filtered(predicate)) == "sensitive-filter"


def test_a_derived_sensitive_column_cannot_be_filtered():
    derive = {"op": "with_columns", "columns": [{"op": "alias", "name": "c2", "expr": {"op": "mul", "args": [col("cost"), lit(2)]}}]}
    steps = [derive, {"op": "filter", "predicate": {"op": "gt", "args": [col("c2"), lit(100)]}}, group(["district"], agg("count"))]
    assert refused(plan(steps)) == "sensitive-filter"


def test_limit_before_aggregating_conditional_data_is_refused():
    steps = [{"op": "sort", "by": [{"column": "cost", "descending": True}]}, {"op": "limit", "n": 10},
             group(["district"], agg("mean", "cost"))]
    assert refused(plan(steps)) == "limit-before-aggregate"


def _agg_plan(expr, func="sum", keys=("district",)):
    return plan([{"op": "with_columns", "columns": [{"op": "alias", "name": "v", "expr": expr}]},
                 group(list(keys), {"op": "alias", "name": "out", "expr": {"op": func, "args": [col("v")]}})])


@pytest.mark.parametrize("expr, rule", [
    ({"op": "mul", "args": [col("cost"), lit(1e13)]}, "out-of-range"),
    ({"op": "mul", "args": [{"op": "mul", "args": [col("cost"), col("cost")]}, col("cost")]}, "out-of-range"),
    ({"op": "div", "args": [lit(1), col("cost")]}, "division-by-zero"),
    ({"op": "div", "args": [lit(1), {"op": "sub", "args": [col("cost"), lit(5)]}]}, "division-by-zero"),
    ({"op": "cast", "args": [col("district")], "to": "number"}, "unbounded"),
    ({"op": "floordiv", "args": [col("cost"), lit(1000)]}, "sensitive-transform"),
    ({"op": "cast", "args": [col("cost")], "to": "integer"}, "sensitive-transform"),
    ({"op": "gt", "args": [col("cost"), lit(1234)]}, "sensitive-filter"),
])
def test_expressions_that_could_fail_or_test_a_value_are_refused_before_running(expr, rule):
    assert refused(_agg_plan(expr)) == rule


def test_ranges_are_computed_from_the_declared_bounds():
    assert check_plan(_agg_plan({"op": "mul", "args": [col("cost"), lit(1e9)]}), SOURCES).aggregated
    ratio = {"op": "alias", "name": "r", "expr": {"op": "div", "args": [col("cost"), {"op": "add", "args": [col("cost"), lit(1)]}]}}
    assert check_plan(plan([{"op": "with_columns", "columns": [ratio]}, group([], agg("count"))]), SOURCES).aggregated
    # computed, but not summed: a statistic reads one field (decision 0024c)
    assert refused(plan([{"op": "with_columns", "columns": [ratio]}, group([], agg("sum", "r"))])) == "statistic-form"


@pytest.mark.parametrize("expr, func", [
    ({"op": "cast", "to": "number", "args": [{"op": "eq", "args": [col("district"), lit("a")]}]}, "sum"),
    ({"op": "mul", "args": [col("cost"), {"op": "div", "args": [{"op": "month", "args": [col("visit_date")]},
                                                                  {"op": "month", "args": [col("visit_date")]}]}]}, "sum"),
    ({"op": "add", "args": [col("cost"), {"op": "mul", "args": [lit(1e-9), {"op": "month", "args": [col("visit_date")]}]}]}, "mean"),
    ({"op": "floordiv", "args": [{"op": "month", "args": [col("visit_date")]}, lit(12)]}, "sum"),
])
def test_a_statistic_reads_one_field_or_none(expr, func):
    """Indicators, products, near-copies (`cost + 1e-9 * month`) and step functions are each a
    statistic of their own, so a draw of their own: refused (`statistic-form`, decision 0024c)."""
    assert refused(_agg_plan(expr, func)) == "statistic-form"


@pytest.mark.parametrize("expr", [
    col("district"), {"op": "month", "args": [col("visit_date")]},
    {"op": "mul", "args": [{"op": "month", "args": [col("visit_date")]}, lit(2)]},
])
def test_a_count_of_distinct_values_of_conditional_data_is_refused(expr):
    """It counts the non-empty groups with a count's bounded noise, so a set whose number of
    values anyone can tell, plus a target, was an exact membership test (decision 0026b)."""
    assert refused(_agg_plan(expr, "count_distinct")) == "distinct-count"


def test_a_mean_and_a_sum_of_one_field_are_one_draw():
    """A mean is released as the released sum over the released count (decision 0024c)."""
    sums = check_plan(_agg_plan(col("cost"), "sum"), SOURCES).aggregations[0]
    means = check_plan(_agg_plan({"op": "mul", "args": [col("cost"), lit(2)]}, "mean"), SOURCES).aggregations[0]
    assert sums.stream == means.stream and means.a == 2.0


def test_rewrites_of_one_statistic_share_one_noise_stream_whatever_the_alias():
    def stream(expr, func="sum"):
        aggregation = check_plan(_agg_plan(expr, func), SOURCES).aggregations[0]
        return aggregation.stream, aggregation.a, aggregation.b

    plain = stream(col("cost"))
    assert plain == ("sum:" + '[["{\\"dataset\\":\\"clinic\\",\\"name\\":\\"cost\\",\\"op\\":\\"field\\"}",1.0]]', 1.0, 0.0)
    assert stream({"op": "mul", "args": [col("cost"), lit(3)]})[0] == plain[0]
    assert stream({"op": "add", "args": [{"op": "div", "args": [col("cost"), lit(7)]}, lit(2)]})[1:] == (1 / 7, 2.0)
    assert stream({"op": "add", "args": [col("cost"), col("cost")]}) == (plain[0], 2.0, 0.0)
    ones = check_plan(_agg_plan(lit(1)), SOURCES).aggregations[0]
    assert ones.constant and ones.b == 1.0


def test_joined_columns_carry_the_taint_of_a_sensitive_key():
    derive = {"op": "with_columns", "columns": [{"op": "alias", "name": "district",
                                                 "expr": {"op": "mul", "args": [col("cost"), lit(2)]}}]}
    steps = [derive, {"op": "join", "right": {"source": "districts", "steps": []}, "on": ["district"], "how": "inner"},
             group([], agg("count"))]
    assert refused(plan(steps)) == "sensitive-join"


def test_group_levels_come_from_the_data_dictionary():
    verdict = check_plan(plan([group(["district", "age_band"], agg("count"))]), SOURCES)
    assert verdict.group_levels == (("和平区", "河东区"), ("0-14", "15-64", "65+"))
    months = {"op": "with_columns", "columns": [{"op": "alias", "name": "m", "expr": {"op": "month", "args": [col("visit_date")]}}]}
    assert check_plan(plan([months, group(["m"], agg("count"))]), SOURCES).group_levels == (tuple(range(1, 13)),)


def test_a_sum_of_a_field_with_sum_bounds_is_asked_of_it_clamped():
    """The store sums the field held inside the published sum bounds, and what one record can
    add is those bounds' (decision 0026c): the noise of a sensitive sum is scaled to it."""
    clamped = {**SOURCES, "clinic": replace(CLINIC, sum_bounds={"cost": (0.0, 50000.0)})}
    plain = check_plan(_agg_plan(col("cost"), "sum"), clamped).aggregations[0]
    assert plain.rewrite == {"op": "clip", "args": [col("v"), lit(0.0), lit(50000.0)]}  # v is cost
    assert plain.scale == 50000.0 and plain.center == 25000.0
    halved = check_plan(_agg_plan({"op": "div", "args": [col("cost"), lit(2)]}, "mean"), clamped).aggregations[0]
    assert halved.rewrite["op"] == "clip" and halved.rewrite["args"][0]["op"] == "div"
    assert halved.stream == plain.stream and halved.scale == 50000.0
    assert check_plan(_agg_plan(col("cost"), "sum"), SOURCES).aggregations[0].rewrite is None


def test_a_statistic_s_arithmetic_may_not_round_its_field():
    """The store computes a * B + b in DOUBLE and the statistic is released as B's: a step that
    rounds B coarser than 2^-40 of its declared range (a constant far larger than the field, or
    a scale far below it) or cancels B out is refused. `(cost + 4e18) - 4e18` is `cost` to the
    affine form and 0 for every cost under 256 (ninth round, decision 0026d)."""
    def form(expr):
        return {"op": "sub", "args": [{"op": "add", "args": [expr, lit(4e18)]}, lit(4e18)]}

    month = {"op": "month", "args": [col("visit_date")]}
    scaled = {"op": "div", "args": [{"op": "sub", "args": [{"op": "add", "args": [
        {"op": "mul", "args": [col("cost"), lit(1e-20)]}, lit(4)]}, lit(4)]}, lit(1e-20)]}
    for expr in (form(col("cost")), form(month), {"op": "add", "args": [col("cost"), lit(4e18)]}, scaled,
                 {"op": "mul", "args": [col("cost"), lit(1e-320)]},
                 {"op": "add", "args": [col("cost"), {"op": "sub", "args": [month, month]}]}):
        for func in ("sum", "mean"):
            assert refused(_agg_plan(expr, func)) == "statistic-form", expr
    for expr in (col("cost"), {"op": "add", "args": [{"op": "div", "args": [col("cost"), lit(4)]}, lit(3)]},
                 {"op": "sub", "args": [col("cost"), lit(1570)]}, {"op": "add", "args": [col("cost"), lit(1e9)]},
                 {"op": "mul", "args": [col("cost"), lit(1e-300)]}, {"op": "sub", "args": [month, lit(6.5)]}):
        check_plan(_agg_plan(expr, "sum"), SOURCES)
