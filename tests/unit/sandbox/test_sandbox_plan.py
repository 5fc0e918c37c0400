"""The plan format's structural validator (sandbox/plan.py)."""

import copy

import pytest

from sandbox.plan import PlanError, datasets_named, validate_plan


def plan(*steps, action="collect", source="people"):
    return {"version": 1, "action": action, "source": source, "steps": list(steps)}


COL = {"op": "col", "name": "age"}
SIXTY = {"op": "lit", "value": 60}
GOOD = plan(
    {"op": "filter", "predicate": {"op": "and", "args": [
        {"op": "ge", "args": [COL, SIXTY]},
        {"op": "is_in", "args": [{"op": "col", "name": "district"}], "values": ["east", None]}]}},
    {"op": "with_columns", "columns": [
        {"op": "alias", "name": "decade", "expr": {"op": "floordiv", "args": [COL, {"op": "lit", "value": 10}]}},
        {"op": "alias", "name": "year", "expr": {"op": "year", "args": [{"op": "col", "name": "born"}]}},
        {"op": "cast", "args": [COL], "to": "number"}]},
    {"op": "join", "right": {"source": "districts", "steps": [{"op": "limit", "n": 5}]},
     "on": ["district"], "how": "left"},
    {"op": "group_by", "keys": ["district"], "aggs": [
        {"op": "count", "args": []},
        {"op": "alias", "name": "p90", "expr": {"op": "quantile", "args": [COL], "q": 0.9}},
        {"op": "mean", "args": [COL]}]},
    {"op": "sort", "by": [{"column": "district", "descending": True}]},
    {"op": "limit", "n": 10},
)


def test_a_full_plan_is_accepted_unchanged():
    before = copy.deepcopy(GOOD)
    assert validate_plan(GOOD) is GOOD
    assert GOOD == before


def test_datasets_named_includes_joined_ones():
    assert datasets_named(GOOD) == ["people", "districts"]


@pytest.mark.parametrize("action", ["count", "schema"])
def test_other_actions(action):
    assert validate_plan(plan(action=action))["action"] == action


def _bad(step):
    return plan(step)


BAD = {
    "unknown step": _bad({"op": "sql", "text": "DROP TABLE x"}),
    "extra key": _bad({"op": "limit", "n": 1, "sql": "x"}),
    "limit negative": _bad({"op": "limit", "n": -1}),
    "limit bool": _bad({"op": "limit", "n": True}),
    "unknown operator": _bad({"op": "filter", "predicate": {"op": "like", "args": [COL, SIXTY]}}),
    "aggregate in filter": _bad({"op": "filter", "predicate": {"op": "sum", "args": [COL]}}),
    "row expr as agg": _bad({"op": "group_by", "keys": [], "aggs": [COL]}),
    "nested agg": _bad({"op": "group_by", "keys": [], "aggs": [
        {"op": "sum", "args": [{"op": "sum", "args": [COL]}]}]}),
    "nan literal": _bad({"op": "filter", "predicate": {"op": "eq", "args": [COL, {"op": "lit", "value": float("nan")}]}}),
    "inf literal": _bad({"op": "filter", "predicate": {"op": "eq", "args": [COL, {"op": "lit", "value": float("inf")}]}}),
    "huge int": _bad({"op": "filter", "predicate": {"op": "eq", "args": [COL, {"op": "lit", "value": 10**30}]}}),
    "dict literal": _bad({"op": "filter", "predicate": {"op": "eq", "args": [COL, {"op": "lit", "value": {"a": 1}}]}}),
    "name not str": _bad({"op": "select", "columns": [{"op": "col", "name": 5}]}),
    "name too long": _bad({"op": "select", "columns": [{"op": "col", "name": "a" * 65}]}),
    "name control char": _bad({"op": "select", "columns": [{"op": "col", "name": "age\x00"}]}),
    "empty name": _bad({"op": "select", "columns": [{"op": "col", "name": ""}]}),
    "bad cast": _bad({"op": "with_columns", "columns": [{"op": "cast", "args": [COL], "to": "blob"}]}),
    "bad how": _bad({"op": "join", "right": {"source": "x", "steps": []}, "on": ["a"], "how": "cross"}),
    "quantile q": _bad({"op": "group_by", "keys": [], "aggs": [{"op": "quantile", "args": [COL], "q": 2}]}),
    "too many values": _bad({"op": "filter", "predicate": {"op": "is_in", "args": [COL], "values": list(range(1001))}}),
    "wrong arity": _bad({"op": "filter", "predicate": {"op": "ge", "args": [COL]}}),
    "descending str": _bad({"op": "sort", "by": [{"column": "age", "descending": "yes"}]}),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_steps_are_refused(case):
    with pytest.raises(PlanError):
        validate_plan(BAD[case])


@pytest.mark.parametrize("source", ["../etc/passwd", "People", "a b", "", "x" * 101, 7, "p;drop"])
def test_dataset_must_be_a_slug(source):
    with pytest.raises(PlanError, match="slug"):
        validate_plan(plan(source=source))


@pytest.mark.parametrize("broken", [
    [], "plan", {"version": 2, "action": "collect", "source": "p", "steps": []},
    {"version": 1, "action": "drop", "source": "p", "steps": []},
    {"version": 1, "action": "collect", "source": "p"},
    {"version": True, "action": "collect", "source": "p", "steps": []},
])
def test_envelope(broken):
    with pytest.raises(PlanError):
        validate_plan(broken)


def test_str_subclass_names_are_refused():
    class Sneaky(str):
        pass

    with pytest.raises(PlanError, match="string"):
        validate_plan(plan({"op": "select", "columns": [{"op": "col", "name": Sneaky("age")}]}))


def test_depth_is_bounded():
    node = COL
    for _ in range(40):
        node = {"op": "add", "args": [node, SIXTY]}
    with pytest.raises(PlanError, match="deeper"):
        validate_plan(plan({"op": "select", "columns": [node]}))


def test_node_count_is_bounded():
    wide = [{"op": "add", "args": [COL, SIXTY]}] * 100
    steps = [{"op": "select", "columns": wide}] * 50
    with pytest.raises(PlanError, match="nodes"):
        validate_plan(plan(*steps))


def test_steps_are_bounded():
    with pytest.raises(PlanError, match="list of 0-50"):
        validate_plan(plan(*[{"op": "limit", "n": 1}] * 51))


def test_error_says_where():
    with pytest.raises(PlanError) as info:
        validate_plan(plan({"op": "limit", "n": 1}, {"op": "filter", "predicate": {"op": "col", "name": 1}}))
    assert info.value.where == "plan.steps[1].predicate.name"
