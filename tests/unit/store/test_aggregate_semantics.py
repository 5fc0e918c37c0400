"""One set of aggregate semantics (docs/store.md, `portal/store/aggregations.py`): every aggregate,
through both of the store's entry points (`aggregate`, which charts, the rows API and the sample
writer use, and `run_plan`, the sandbox's plans), equals the same aggregate written independently
in DuckDB and in SQLite over the same rows, with nulls, all-null groups and no rows at all."""

from __future__ import annotations

import math
import sqlite3
import statistics
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.store import AggregateQuery, Column, Filter, Measure, QueryError, StoredTable, aggregate
from portal.store.aggregations import FUNCTIONS, NUMERIC_ONLY, result_type
from portal.store.plans import run_plan

GROUPS = ("a", "b", "c")
Q = 0.3
COLUMNS = (Column("g", "text"), Column("v", "integer"), Column("x", "float"))

ints = st.one_of(st.none(), st.integers(-1000, 1000))
floats = st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False).map(lambda f: round(f, 3)))
rows_strategy = st.lists(st.tuples(st.sampled_from(GROUPS), ints, floats), max_size=25)


def _write(path: Path, rows: list[tuple]) -> StoredTable:
    table = pa.table({"g": pa.array([r[0] for r in rows], pa.string()),
                      "v": pa.array([r[1] for r in rows], pa.int64()),
                      "x": pa.array([r[2] for r in rows], pa.float64())})
    pq.write_table(table, path)
    return StoredTable(path, COLUMNS)


# --- the references: each engine's own SQL, adjusted only where docs/store.md says so -----------

DUCKDB = {"count": "count({0})", "count_distinct": "count(DISTINCT {0})", "sum": "sum({0})",
          "mean": "avg({0})", "median": "quantile_cont({0}, 0.5)", "min": "min({0})",
          "max": "max({0})", "std": "stddev_samp({0})", "quantile": f"quantile_cont({{0}}, {Q})"}


REFERENCE = duckdb.connect()  # DuckDB's own, not the store's connection


def duckdb_reference(path: Path, func: str, column: str, grouped: bool) -> dict:
    expr = DUCKDB[func].format(column)
    keys = "g, " if grouped else ""
    statement = f"SELECT {keys}{expr} FROM read_parquet(?) {'GROUP BY g' if grouped else ''}"
    found = REFERENCE.execute(statement, [str(path)]).fetchall()
    out = {(r[0] if grouped else None): r[-1] for r in found}
    if func == "sum":  # SQL's sum of no values is NULL; the store's is 0
        out = {k: 0 if v is None else v for k, v in out.items()}
    return out


def sqlite_table(rows: list[tuple]) -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (g TEXT, v INTEGER, x REAL)")
    db.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
    return db


def sqlite_reference(db: sqlite3.Connection, func: str, column: str, grouped: bool) -> dict:
    keys = [(g,) for (g,) in db.execute("SELECT DISTINCT g FROM t")] if grouped else [None]
    if not grouped:
        where, params = "", ()
    out = {}
    for key in keys:
        if grouped:
            where, params = "WHERE g = ?", key
        out[key[0] if grouped else None] = _sqlite_one(db, func, column, where, params)
    return out


def _sqlite_one(db: sqlite3.Connection, func: str, c: str, where: str, params: tuple):
    one = lambda sql: db.execute(sql.format(c=c, where=where), params).fetchone()[0]  # noqa: E731
    simple = {"count": "SELECT count({c}) FROM t {where}",
              "count_distinct": "SELECT count(DISTINCT {c}) FROM t {where}",
              "sum": "SELECT total({c}) FROM t {where}",  # SQLite's total() is 0.0 over no values
              "mean": "SELECT avg({c}) FROM t {where}", "min": "SELECT min({c}) FROM t {where}",
              "max": "SELECT max({c}) FROM t {where}"}
    if func in simple:
        return one(simple[func])
    if func == "std":  # sample variance in two passes, as SQLite has no stddev
        # (from the sums of x and x², the textbook formula, a large mean over a small spread
        # cancelled into the 5th digit, and Hypothesis found such values)
        n, mean = db.execute(f"SELECT count({c}), avg({c}) FROM t {where}", params).fetchone()
        if n < 2:
            return None
        squares = db.execute(f"SELECT total(({c} - ?) * ({c} - ?)) FROM t {where}",
                             (mean, mean, *params)).fetchone()[0]
        return math.sqrt(squares / (n - 1))
    q = 0.5 if func == "median" else Q
    # linear interpolation between the closest ranks, with SQLite's window functions
    ranked = (f"SELECT {c} AS value, row_number() OVER (ORDER BY {c}) - 1 AS i, count(*) OVER () AS n "
              f"FROM t {where} {'AND' if where else 'WHERE'} {c} IS NOT NULL")
    found = db.execute(f"SELECT value, i, n FROM ({ranked}) ORDER BY i", params).fetchall()
    if not found:
        return None
    position = q * (found[0][2] - 1)
    low, high = math.floor(position), math.ceil(position)
    return found[low][0] + (position - low) * (found[high][0] - found[low][0])


# --- the store's two entry points -------------------------------------------------------------

def via_aggregate(table: StoredTable, func: str, column: str, grouped: bool,
                  filters: tuple = ()) -> dict:
    measure = Measure(func, column, q=Q if func == "quantile" else None, alias="out")
    result = aggregate(table, AggregateQuery(group_by=("g",) if grouped else (), measures=(measure,),
                                             filters=filters))
    return {(r[0] if grouped else None): r[-1] for r in result.rows}


def via_plan(table: StoredTable, func: str, column: str, grouped: bool, predicate=None) -> dict:
    node = {"op": "count", "args": []} if func == "count" and column is None else \
        {"op": func, "args": [{"op": "col", "name": column}], **({"q": Q} if func == "quantile" else {})}
    steps = [{"op": "filter", "predicate": predicate}] if predicate else []
    steps.append({"op": "group_by", "keys": ["g"] if grouped else [],
                  "aggs": [{"op": "alias", "name": "out", "expr": node}]})
    plan = {"version": 1, "action": "collect", "source": "t", "steps": steps}
    result = run_plan(plan, {"t": table}, max_rows=100)
    return {(r[0] if grouped else None): r[-1] for r in result.rows}


def same(left: dict, right: dict, what: str) -> None:
    assert left.keys() == right.keys(), what
    for key, value in left.items():
        other = right[key]
        if value is None or other is None:
            assert value is None and other is None, f"{what} {key}: {value!r} != {other!r}"
        else:
            assert math.isclose(float(value), float(other), rel_tol=1e-9, abs_tol=1e-6), \
                f"{what} {key}: {value!r} != {other!r}"


# Plans have no count(column) (an analyst writes count() or filters): compare it through aggregate only.
PLAN_FUNCTIONS = tuple(f for f in FUNCTIONS if f != "count")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows_strategy, grouped=st.booleans())
def test_every_aggregate_matches_duckdb_and_sqlite(tmp_path, rows, grouped):
    path = tmp_path / "t.parquet"
    table = _write(path, rows)
    db = sqlite_table(rows)
    for func in FUNCTIONS:
        for column in ("v", "x"):
            what = f"{func}({column}) grouped={grouped}"
            mine = via_aggregate(table, func, column, grouped)
            expected = duckdb_reference(path, func, column, grouped)
            same(mine, expected, f"aggregate vs DuckDB: {what}")
            same(mine, sqlite_reference(db, func, column, grouped), f"aggregate vs SQLite: {what}")
            if func in PLAN_FUNCTIONS:
                same(via_plan(table, func, column, grouped), mine, f"plan vs aggregate: {what}")


def test_no_rows_at_all(tmp_path):
    """Over no rows an ungrouped aggregate still answers one row: counts and sums 0, the rest null;
    grouped, it answers no rows. Both entry points say the same."""
    table = _write(tmp_path / "t.parquet", [("a", 1, 1.5), ("b", None, None)])
    nothing = (Filter("g", "eq", "zzz"),)
    predicate = {"op": "eq", "args": [{"op": "col", "name": "g"}, {"op": "lit", "value": "zzz"}]}
    for func in FUNCTIONS:
        want = 0 if func in ("count", "count_distinct", "sum") else None
        assert via_aggregate(table, func, "v", False, nothing) == {None: want}, func
        assert via_aggregate(table, func, "v", True, nothing) == {}, func
        if func in PLAN_FUNCTIONS:
            assert via_plan(table, func, "v", False, predicate) == {None: want}, func
            assert via_plan(table, func, "v", True, predicate) == {}, func
    assert via_plan(table, "count", None, False, predicate) == {None: 0}


def test_all_null_group_sums_to_zero_and_means_nothing(tmp_path):
    table = _write(tmp_path / "t.parquet", [("a", None, None), ("a", None, None), ("b", 4, 2.0)])
    assert via_aggregate(table, "sum", "v", True) == {"a": 0, "b": 4}
    assert via_plan(table, "sum", "v", True) == {"a": 0, "b": 4}
    assert via_aggregate(table, "mean", "x", True) == {"a": None, "b": 2.0}
    assert via_plan(table, "std", "x", True) == {"a": None, "b": None}  # fewer than two values
    assert via_aggregate(table, "count", "v", True) == {"a": 0, "b": 1}


def test_sums_of_integers_stay_integers_and_types_agree(tmp_path):
    table = _write(tmp_path / "t.parquet", [("a", 2, 0.5), ("a", 3, None), ("b", None, 1.25)])
    value = via_aggregate(table, "sum", "v", True)["a"]
    assert value == 5 and isinstance(value, int)
    plan = {"version": 1, "action": "collect", "source": "t", "steps": [
        {"op": "group_by", "keys": ["g"], "aggs": [
            {"op": "alias", "name": f, "expr": {"op": f, "args": [{"op": "col", "name": "v"}],
                                               **({"q": Q} if f == "quantile" else {})}}
            for f in PLAN_FUNCTIONS]}]}
    result = run_plan(plan, {"t": table}, max_rows=10)
    for column in result.columns[1:]:
        assert column.type == result_type(column.name, "integer"), column


@pytest.mark.parametrize("q", [-0.1, 1.5, "0.5", True, float("nan"), None])
def test_one_quantile_check_for_both_entry_points(tmp_path, q):
    table = _write(tmp_path / "t.parquet", [("a", 1, 1.0)])
    with pytest.raises(QueryError) as refused:
        aggregate(table, AggregateQuery(measures=(Measure("quantile", "v", q=q),)))
    assert refused.value.code == "invalid-quantile"
    plan = {"version": 1, "action": "collect", "source": "t", "steps": [
        {"op": "group_by", "keys": [], "aggs": [{"op": "quantile", "q": q,
                                                 "args": [{"op": "col", "name": "v"}]}]}]}
    with pytest.raises(QueryError) as refused:
        run_plan(plan, {"t": table}, max_rows=10)
    assert refused.value.code == "invalid-quantile"


def test_numeric_only_functions_refuse_text_in_both(tmp_path):
    table = _write(tmp_path / "t.parquet", [("a", 1, 1.0)])
    for func in NUMERIC_ONLY:
        with pytest.raises(QueryError):
            aggregate(table, AggregateQuery(measures=(Measure(func, "g", q=Q),)))
        plan = {"version": 1, "action": "collect", "source": "t", "steps": [
            {"op": "group_by", "keys": [], "aggs": [
                {"op": func, "q": Q, "args": [{"op": "col", "name": "g"}]}]}]}
        with pytest.raises(QueryError):
            run_plan(plan, {"t": table}, max_rows=10)


def test_reference_quantile_is_the_textbook_one():
    """The SQLite reference's interpolation agrees with Python's statistics module."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (g TEXT, v INTEGER, x REAL)")
    values = [7, 1, 3, 10, 4]
    db.executemany("INSERT INTO t VALUES ('a', ?, NULL)", [(v,) for v in values])
    assert _sqlite_one(db, "median", "v", "", ()) == statistics.median(values)
    assert math.isclose(_sqlite_one(db, "std", "v", "", ()), statistics.stdev(values))
