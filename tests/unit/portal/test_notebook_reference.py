"""The notebook's reference panel and completions name only what the sandbox really offers."""

from __future__ import annotations

from portal.notebook.reference import FUNCTIONS, METHODS, completion_words
from sandbox import expressions, tables
from sandbox.execution import EXPRESSION_NAMES

OUTPUTS_AND_BUILTINS = {"dataset", "show", "chart", "QueryRefused", "print"}
OWNERS = {"table": (tables.LazyTable, tables.GroupBy), "expr": (expressions.Expr, expressions.DateParts),
          "frame": (tables.Frame,)}


def test_every_function_is_one_analyst_code_sees():
    names = {e.name for e in FUNCTIONS}
    assert names == set(EXPRESSION_NAMES) | OUTPUTS_AND_BUILTINS


def test_every_method_exists_on_its_class():
    for entry in METHODS:
        assert any(hasattr(cls, entry.name) for cls in OWNERS[entry.owner]), entry


def test_completion_words_carry_the_sessions_columns():
    datasets = [{"slug": "clinic-visits-synthetic", "title": "Clinic", "open_class": "conditional",
                 "fields": [{"name": "district", "type": "text", "description": "District"},
                            {"name": "cost", "type": "float", "description": "Cost"}]},
                {"slug": "districts", "title": "Districts", "open_class": "open",
                 "fields": [{"name": "district", "type": "text", "description": "Name"}]}]
    words = completion_words(datasets)
    assert [d["label"] for d in words["datasets"]] == ["clinic-visits-synthetic", "districts"]
    by_name = {c["label"]: c for c in words["columns"]}
    assert set(by_name) == {"district", "cost"}
    assert "clinic-visits-synthetic" in by_name["district"]["info"] and "districts" in by_name["district"]["info"]
    assert {"dataset", "group_by", "mean"} <= {w["label"] for w in words["functions"] + words["methods"]}
