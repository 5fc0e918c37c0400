"""Sandbox query plans run by the store: checked against the fake broker's pure-Python
interpreter (tests/unit/sandbox/fakes.py) and against the same query written by hand in DuckDB."""

from __future__ import annotations

import datetime
import math
from dataclasses import replace
from decimal import Decimal

import duckdb
import pytest

from portal.store import QueryError, StoredTable, ingest
from portal.store.plans import CellStats, count_plan, plan_schema, run_plan
from tests.unit.sandbox.fakes import DISTRICTS, PEOPLE, FakeBroker

SALTS = {"people": 11, "districts": 22, "measures": 33, "notes": 44}

MEASURES = """grp,value,label,day
a,5,x,2024-01-05
a,-40,y,2024-02-10
a,12,,2024-03-15
a,,z,
a,30,x,2024-12-31
b,7,x,2023-06-01
b,,y,2023-07-01
"""

NOTES = """district,age,note
east,1,n-east
west,2,n-west
west,3,n-west-2
"""


def _csv(rows: list[dict]) -> str:
    names = list(rows[0])
    return ",".join(names) + "\n" + "".join(",".join(str(r[n]) for n in names) + "\n" for r in rows)


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> dict[str, StoredTable]:
    folder = tmp_path_factory.mktemp("plans")
    found = {}
    for slug, text in (("people", _csv(PEOPLE)), ("districts", _csv(DISTRICTS)),
                       ("measures", MEASURES), ("notes", NOTES)):
        source = folder / f"{slug}.csv"
        source.write_text(text, encoding="utf-8")
        declared = {"value": "integer"} if slug == "measures" else {}
        if text.startswith("id,"):
            declared["id"] = "integer"  # by its name alone `id` would be a code, text
        result = ingest(source, folder / "store", overrides=declared or None)
        found[slug] = StoredTable(result.path, result.columns)
    return found


def col(name):
    return {"op": "col", "name": name}


def lit(value):
    return {"op": "lit", "value": value}


def op(name, *args, **extra):
    return {"op": name, "args": list(args), **extra}


def alias(name, expr):
    return {"op": "alias", "name": name, "expr": expr}


def plan(*steps, source="people", action="collect"):
    return {"version": 1, "action": action, "source": source, "steps": list(steps)}


def flt(predicate):
    return {"op": "filter", "predicate": predicate}


def sort(*keys):
    return {"op": "sort", "by": [{"column": c, "descending": d} for c, d in keys]}


def group(keys, *aggs):
    return {"op": "group_by", "keys": list(keys), "aggs": list(aggs)}


def join(source, on, how="left", steps=()):
    return {"op": "join", "right": {"source": source, "steps": list(steps)}, "on": list(on), "how": how}


def _plain(value):
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def _same(mine, theirs) -> bool:
    if len(mine) != len(theirs):
        return False
    for row_a, row_b in zip(mine, theirs, strict=True):
        for a, b in zip(map(_plain, row_a), map(_plain, row_b), strict=True):
            if isinstance(a, float) or isinstance(b, float):
                if a is None or b is None or not math.isclose(a, b, rel_tol=1e-9):
                    return False
            elif a != b:
                return False
    return True


def _hand(sql: str, tables, params=()) -> list[tuple]:
    """A query written by hand; `{people}` etc. stand for the stored files."""
    paths = {slug: f"read_parquet('{t.path}', file_row_number = true)" for slug, t in tables.items()}
    return duckdb.connect().execute(sql.format(**paths), list(params)).fetchall()


FAKE_PLANS = {
    "filter-ge": plan(flt(op("ge", col("age"), lit(60))), {"op": "select", "columns": [col("id"), col("age")]}),
    "filter-logic": plan(flt(op("or", op("and", op("lt", col("age"), lit(30)), op("ne", col("district"), lit("east"))),
                                op("eq", col("id"), lit(7)))), {"op": "select", "columns": [col("id")]}),
    "filter-not-in": plan(flt(op("not", op("is_in", col("district"), values=["east", "north"]))),
                          {"op": "select", "columns": [col("id"), col("district")]}),
    "filter-le-gt": plan(flt(op("and", op("le", col("income"), lit(1300)), op("gt", col("income"), lit(1200)))),
                         {"op": "select", "columns": [col("income")]}),
    "null-tests": plan(flt(op("is_not_null", col("age"))), {"op": "select", "columns": [
        col("id"), op("is_null", col("income"))]}, {"op": "limit", "n": 3}),
    "arithmetic": plan({"op": "select", "columns": [
        col("id"), alias("a", op("add", col("age"), lit(1))), alias("s", op("sub", lit(5), col("age"))),
        alias("m", op("mul", col("age"), lit(2.5))), alias("d", op("div", col("income"), lit(7))),
        alias("fd", op("floordiv", op("neg", col("income")), lit(7))),
        alias("md", op("mod", op("neg", col("income")), lit(7))),
        alias("ffd", op("floordiv", op("neg", col("age")), lit(2.5))),
        alias("fmd", op("mod", op("neg", col("age")), lit(2.5)))]}),
    "date-parts": plan({"op": "select", "columns": [
        op("year", col("born")), alias("m", op("month", col("born"))), alias("d", op("day", col("born")))]}),
    "casts": plan({"op": "select", "columns": [
        alias("n", op("cast", op("div", col("income"), lit(7)), to="integer")),
        op("cast", col("age"), to="number"),
        op("cast", col("id"), to="string")]}),
    "with-columns": plan({"op": "with_columns", "columns": [
        alias("age", op("mul", col("age"), lit(2))), alias("old", op("gt", col("age"), lit(50))),
        alias("born", lit("hidden"))]}, {"op": "limit", "n": 5}),
    "group-all-aggs": plan(group(["district"], op("count"), op("count_distinct", col("age")),
                                 op("sum", col("income")), op("mean", col("age")), op("median", col("age")),
                                 op("min", col("age")), alias("oldest", op("max", col("age"))),
                                 op("std", col("income")))),
    "group-expr": plan(group(["district"], alias("total", op("sum", op("mul", col("income"), lit(2)))))),
    "whole-table": plan(group([], op("count"), op("mean", col("income")))),
    "join-left": plan(join("districts", ["district"]), {"op": "select", "columns": [
        col("id"), col("district"), col("area_km2")]}, {"op": "limit", "n": 6}),
    "join-inner-group": plan(flt(op("lt", col("id"), lit(10))), join("districts", ["district"], "inner"),
                             group(["district"], op("sum", col("area_km2")))),
    "sort-limit": plan(sort(("district", True), ("age", False)), {"op": "limit", "n": 7},
                       {"op": "select", "columns": [col("id"), col("district"), col("age")]}),
    "sorted-aggregate": plan(group(["district"], op("count"), op("sum", col("income"))),
                             sort(("sum_income", True)), {"op": "limit", "n": 2}),
}


@pytest.mark.parametrize("name", FAKE_PLANS)
def test_plans_match_the_reference_interpreter(tables, name):
    query = FAKE_PLANS[name]
    expected = FakeBroker(min_cell=0).execute(query)
    result = run_plan(query, tables, max_rows=100)
    assert [c.name for c in result.columns] == [c["name"] for c in expected["columns"]]
    assert _same(result.rows, [tuple(r) for r in expected["rows"]]), (result.rows[:5], expected["rows"][:5])
    assert result.aggregated == any(s["op"] == "group_by" for s in query["steps"])
    assert result.stats is None


def test_quantile_median_std_match_hand_written_sql(tables):
    query = plan(flt(op("is_in", col("district"), values=["east", "west", "nowhere"])),
                 group(["district"], alias("p90", op("quantile", col("age"), q=0.9)),
                       op("median", col("income")), op("std", col("age")), op("count_distinct", col("born"))),
                 sort(("district", True)))
    expected = _hand("SELECT district, quantile_cont(age, 0.9), median(income), stddev_samp(age), "
                     "count(DISTINCT born) FROM {people} WHERE district IN ('east', 'west', 'nowhere') "
                     "GROUP BY district ORDER BY district DESC", tables)
    result = run_plan(query, tables, max_rows=10)
    assert [c.name for c in result.columns] == ["district", "p90", "median_income", "std_age",
                                                 "count_distinct_born"]
    assert _same(result.rows, expected)
    assert [r[0] for r in result.rows] == ["west", "east"]


def test_date_column_compared_with_text_and_null_semantics(tables):
    query = plan(flt(op("ge", col("day"), lit("2024-02-10"))), {"op": "select", "columns": [col("value"), col("day")]},
                 source="measures")
    assert run_plan(query, tables, max_rows=10).rows == [
        (-40, datetime.date(2024, 2, 10)), (12, datetime.date(2024, 3, 15)), (30, datetime.date(2024, 12, 31))]
    # null == x is null: the row is dropped, and is_in never matches null (as in Polars and SQL)
    assert run_plan(plan(flt(op("ne", col("value"), lit(5))), source="measures"), tables, max_rows=10).rows.__len__() == 4
    nulls = plan(flt(op("is_in", col("value"), values=[None, 7])), source="measures")
    assert [r[0] for r in run_plan(nulls, tables, max_rows=10).rows] == ["b"]
    empty = plan({"op": "select", "columns": [alias("x", op("is_in", col("value"), values=[]))]}, source="measures")
    assert [r[0] for r in run_plan(empty, tables, max_rows=10).rows] == [False, False, False, None, False, False, None]


def test_division_by_zero_and_failed_casts_give_null(tables):
    query = plan({"op": "select", "columns": [
        alias("fd", op("floordiv", col("value"), lit(0))), alias("md", op("mod", col("value"), lit(0))),
        alias("n", op("cast", col("label"), to="integer")), alias("d", op("cast", lit("2024-13-01"), to="date")),
        alias("t", op("cast", lit("2024-05-06 07:08:09"), to="datetime"))]}, {"op": "limit", "n": 1}, source="measures")
    result = run_plan(query, tables, max_rows=10)
    assert result.rows == [(None, None, None, None, datetime.datetime(2024, 5, 6, 7, 8, 9))]
    assert [c.type for c in result.columns] == ["integer", "integer", "integer", "date", "timestamp"]


def test_schema_matches_the_result_columns(tables):
    query = plan({"op": "with_columns", "columns": [alias("ratio", op("div", col("age"), lit(3))),
                                                    alias("tens", op("floordiv", col("age"), lit(10))),
                                                    op("cast", col("age"), to="string")]},
                 join("districts", ["district"]))
    columns = plan_schema(query, tables)
    assert [(c.name, c.type) for c in columns] == [
        ("id", "integer"), ("district", "text"), ("age", "integer"), ("income", "integer"),
        ("born", "date"), ("ratio", "float"), ("tens", "integer"), ("cast_age", "text"),
        ("area_km2", "float")]
    assert run_plan(query, tables, max_rows=1).columns == columns


def test_join_suffixes_clashing_names_and_keeps_left_rows(tables):
    query = plan(flt(op("lt", col("id"), lit(5))), join("notes", ["district"]),
                 {"op": "select", "columns": [col("id"), col("district"), col("age"), col("age_right"), col("note")]})
    expected = _hand("SELECT p.id, p.district, p.age, n.age, n.note FROM {people} p LEFT JOIN {notes} n "
                     "ON p.district = n.district WHERE p.id < 5 "
                     "ORDER BY p.file_row_number, n.file_row_number", tables)
    result = run_plan(query, tables, max_rows=100)
    assert result.rows == expected
    assert (2, "north", 34, None, None) in result.rows  # north has no note: kept, right side null
    assert [r[0] for r in result.rows] == [0, 1, 1, 2, 3, 4, 4]
    inner = plan(join("notes", ["district"], "inner"), group(["note"], op("count")), source="districts")
    assert run_plan(inner, tables, max_rows=10).rows == [("n-east", 1), ("n-west", 1), ("n-west-2", 1)]


def test_sort_then_limit_keeps_order_and_truncation_is_reported(tables):
    query = plan(sort(("income", True)), {"op": "select", "columns": [col("income")]})
    result = run_plan(query, tables, max_rows=4)
    assert result.rows == [(1590,), (1580,), (1570,), (1560,)]
    assert result.truncated
    limited = plan(sort(("income", False)), {"op": "limit", "n": 3}, flt(op("gt", col("income"), lit(1000))))
    assert [r[3] for r in run_plan(limited, tables, max_rows=10).rows] == [1010, 1020]
    assert not run_plan(limited, tables, max_rows=2).truncated


def test_count_plan_counts_the_pipeline(tables):
    assert count_plan(plan(flt(op("ge", col("age"), lit(60)))), tables) == (
        _hand("SELECT count(*) FROM {people} WHERE age >= 60", tables)[0][0], None)
    assert count_plan(plan(group(["district"], op("count"))), tables)[0] == 3
    assert count_plan(plan({"op": "limit", "n": 4}), tables)[0] == 4


def _key_of(tables, where: str, salt: int = SALTS["people"]) -> int:
    """A cell key by hand: the XOR of its records' keys, each a hash of the salt and the record's
    stored values (every column, so the key does not depend on the version's row order)."""
    values = ", ".join(f'"{c.name}"' for c in tables["people"].columns)
    return _hand(f"SELECT bit_xor(hash(xor(CAST(? AS UBIGINT), hash({values})))) FROM {{people}} WHERE " + where,
                 tables, [salt])[0][0]


def test_a_record_keeps_its_key_whatever_its_row_number(tables, tmp_path):
    """The same records in another order (a new version, clustered differently) give the same
    cell key; a value changed in one record gives another (decision 0023e)."""
    people = tables["people"]
    moved = tmp_path / "people-reversed.parquet"
    _hand(f"COPY (SELECT * EXCLUDE (file_row_number) FROM {{people}} ORDER BY file_row_number DESC) TO '{moved}'",
          tables)
    query = plan(flt(op("ge", col("age"), lit(60))), group([], op("count")))
    here = run_plan(query, tables, max_rows=10, row_keys=SALTS).stats[0]
    there = run_plan(query, {**tables, "people": replace(people, path=moved)}, max_rows=10, row_keys=SALTS).stats[0]
    assert here.records == there.records > 0 and here.key == there.key
    edited = tmp_path / "people-edited.parquet"
    _hand(f"COPY (SELECT * EXCLUDE (file_row_number) REPLACE (CASE WHEN file_row_number = 0 THEN income + 1 "
          f"ELSE income END AS income) FROM {{people}}) TO '{edited}'", tables)
    changed = run_plan(plan(group([], op("count"))), {**tables, "people": replace(people, path=edited)},
                       max_rows=10, row_keys=SALTS).stats[0]
    same = run_plan(plan(group([], op("count"))), tables, max_rows=10, row_keys=SALTS).stats[0]
    assert changed.records == same.records and changed.key != same.key


def test_cell_key_depends_only_on_the_set_of_records(tables):
    one = run_plan(plan(flt(op("ge", col("age"), lit(60))), group([], op("count"))),
                   tables, max_rows=10, row_keys=SALTS)
    other = run_plan(plan({"op": "with_columns", "columns": [alias("x", op("add", col("age"), lit(1)))]},
                          flt(op("gt", col("x"), lit(60))), {"op": "select", "columns": [col("income")]},
                          group([], op("sum", col("income")))), tables, max_rows=10, row_keys=SALTS)
    counted = count_plan(plan(flt(op("gt", col("age"), lit(59)))), tables, row_keys=SALTS)[1]
    assert one.stats[0].key == other.stats[0].key == counted.key == _key_of(tables, "age >= 60")
    assert one.stats[0].records == other.stats[0].records == counted.records == one.rows[0][0] > 0
    different = run_plan(plan(flt(op("ge", col("age"), lit(61))), group([], op("count"))),
                         tables, max_rows=10, row_keys=SALTS)
    assert different.stats[0].key != one.stats[0].key
    resalted = run_plan(plan(flt(op("ge", col("age"), lit(60))), group([], op("count"))),
                        tables, max_rows=10, row_keys={"people": 12})
    assert resalted.stats[0].key == _key_of(tables, "age >= 60", 12) != one.stats[0].key


def test_stats_stay_aligned_after_sort_and_limit(tables):
    query = plan(group(["district"], op("count"), op("sum", col("income"))), sort(("sum_income", False)),
                 {"op": "limit", "n": 2})
    result = run_plan(query, tables, max_rows=10, row_keys=SALTS)
    assert result.aggregated and len(result.stats) == len(result.rows) == 2
    for row, stats in zip(result.rows, result.stats, strict=True):
        assert stats.records == stats.contributors[0] == stats.contributors[1] == row[1]
        assert stats.key == _key_of(tables, f"district = '{row[0]}'")
        present = _hand("SELECT count(income) FROM {people} WHERE district = ?", tables, [row[0]])[0][0]
        assert stats.present == (row[1], present)
    assert run_plan(plan({"op": "limit", "n": 2}), tables, max_rows=10, row_keys=SALTS).stats is None
    assert run_plan(query, tables, max_rows=10).stats is None


def test_contributors_present_inputs_and_sketches(tables):
    query = plan(group(["grp"], op("count"), op("sum", col("value")), op("count_distinct", col("label")),
                       alias("hi", op("max", op("neg", col("value"))))), source="measures")
    result = run_plan(query, tables, max_rows=10, row_keys=SALTS)
    assert result.rows == [("a", 5, 7, 3, 40), ("b", 2, 7, 2, -7)]
    assert result.stats[0] == CellStats(records=5, key=result.stats[0].key, contributors=(5, 4, 4, 4),
                                        sketch=result.stats[0].sketch, present=result.stats[0].present)
    present = _hand("SELECT count(value) FROM {measures} WHERE grp = 'a'", tables, [])[0][0]
    assert result.stats[0].present == (5, present, 5, 5), "non-null inputs of the sum; records elsewhere"
    sketch = result.stats[0].sketch
    assert len(sketch) == 180 + 4 and sum(sketch[0:60:3]) == 5, "each partition's buckets hold every record once"
    assert all(isinstance(m, int) and m >= 0 for m in sketch[180:]), "then its four marks (decision 0028m)"
    assert sketch[180:] != result.stats[1].sketch[180:]
    assert result.stats[1].contributors == (2, 1, 2, 1)
    assert len({s.key for s in result.stats}) == 2


def test_join_keys_combine_both_sides(tables):
    query = plan(join("notes", ["district"], "inner"), group([], op("count")), source="districts")
    first = run_plan(query, tables, max_rows=10, row_keys=SALTS).stats[0]
    other = run_plan(query, tables, max_rows=10, row_keys={**SALTS, "notes": 45}).stats[0]
    assert first.records == 3 and first.key != other.key


@pytest.mark.parametrize("query, field", [
    (plan(flt(op("gt", col("salary"), lit(1)))), "salary"),
    (plan({"op": "select", "columns": [col("id")]}, {"op": "select", "columns": [col("age")]}), "age"),
    (plan(sort(("Age", False))), "Age"),
    (plan(group(["district"], op("sum", col("nope")))), "nope"),
    (plan(group(["district"], op("count")), {"op": "select", "columns": [col("income")]}), "income"),
    (plan(join("districts", ["area_km2"])), "area_km2"),
    (plan(flt(op("eq", col('x"; DROP TABLE t; --'), lit(1)))), 'x"; DROP TABLE t; --'),
    (plan({"op": "select", "columns": [col('id" FROM read_csv(\'/etc/passwd\') --')]}),
     'id" FROM read_csv(\'/etc/passwd\') --'),
])
def test_unknown_columns_are_refused(tables, query, field):
    with pytest.raises(QueryError) as caught:
        run_plan(query, tables, max_rows=10)
    assert caught.value.code == "unknown-column" and caught.value.field == field
    assert repr(field) in caught.value.message


def test_unknown_datasets_are_refused(tables):
    for query in (plan(source="secret"), plan(join("secret", ["district"]))):
        with pytest.raises(QueryError) as caught:
            plan_schema(query, tables)
        assert caught.value.code == "unknown-dataset" and caught.value.field == "secret"
    with pytest.raises(QueryError, match="salt"):
        count_plan(plan(join("districts", ["district"])), tables, row_keys={"people": 1})


@pytest.mark.parametrize("query, words", [
    (plan(group([], op("sum", col("district")))), "sum needs numbers"),
    (plan(flt(op("eq", col("district"), lit(3)))), "cannot compare"),
    (plan(flt(op("add", col("age"), lit(3)))), "true/false"),
    (plan({"op": "select", "columns": [op("year", col("age"))]}), "dates"),
    (plan(flt(op("and", col("age"), lit(True)))), "true/false"),
    (plan(flt(op("is_in", col("age"), values=["a"]))), "is_in"),
    (plan(join("people", ["district"], steps=[{"op": "select", "columns": [alias("district", col("age"))]}])),
     "cannot join 'district'"),
])
def test_type_misuse_is_a_clear_query_error(tables, query, words):
    with pytest.raises(QueryError) as caught:
        run_plan(query, tables, max_rows=10)
    assert caught.value.code == "bad-type" and words in caught.value.message


def test_join_on_matching_integer_keys_runs(tables):
    query = plan(join("people", ["age"], "inner"), group([], op("count")), source="notes")
    assert run_plan(query, tables, max_rows=10).rows == [(0,)]


def test_duckdb_errors_never_leak_their_message(tables):
    # a text value that is not a date: DuckDB's message would quote it
    query = plan(flt(op("eq", op("cast", col("district"), to="string"), col("born"))))
    with pytest.raises(QueryError) as caught:
        run_plan(query, tables, max_rows=10)
    assert caught.value.code == "bad-type" and "east" not in caught.value.message


def test_duplicate_output_names_are_refused(tables):
    for query in (plan({"op": "select", "columns": [col("id"), alias("id", col("age"))]}),
                  plan(group(["district"], op("count"), alias("district", op("max", col("age"))))),
                  plan(*[join("districts", ["district"])] * 3)):
        with pytest.raises(QueryError) as caught:
            run_plan(query, tables, max_rows=10)
        assert caught.value.code == "duplicate-column"


def test_values_are_bound_never_spliced(tables):
    hostile = "east' OR '1'='1"
    query = plan(flt(op("or", op("eq", col("district"), lit(hostile)),
                        op("is_in", col("district"), values=["'); DROP TABLE x; --", hostile]))))
    assert run_plan(query, tables, max_rows=10).rows == []
    label = plan({"op": "select", "columns": [alias("x\"'; --", lit("a'b\"c"))]}, {"op": "limit", "n": 1})
    result = run_plan(label, tables, max_rows=10)
    assert result.rows == [("a'b\"c",)] and result.columns[0].name == "x\"'; --"
    assert count_plan(plan(), tables)[0] == len(PEOPLE)


def test_unaliased_expressions_are_named_by_the_shared_rule(tables):
    query = plan({"op": "select", "columns": [
        op("cast", op("div", col("income"), lit(7)), to="integer"), op("add", col("age"), lit(1)),
        lit(3), op("neg", lit(2)), op("is_in", col("district"), values=["east"])]},
        {"op": "limit", "n": 1})
    result = run_plan(query, tables, max_rows=10)
    assert [c.name for c in result.columns] == ["cast", "add_age", "lit", "neg", "is_in_district"]
    assert result.rows == [(142, 21, 3, -2, True)]


def test_bounded_columns_are_read_clamped_into_their_declared_range(tables):
    """Plans over conditional data read bounded columns clamped, so the broker's interval
    arithmetic on the declared bounds holds for every value."""
    people = tables["people"]
    real = _hand("SELECT min(income), max(income), sum(income) FROM {people}", tables)[0]
    low, high = float(real[0]) + 10, float(real[1]) - 1
    bounded = replace(people, bounds=(("income", low, high),))
    query = plan(group([], op("min", col("income")), op("max", col("income")), op("sum", col("income"))))
    found = run_plan(query, {**tables, "people": bounded}, max_rows=10).rows[0]
    assert (found[0], found[1]) == (low, high)
    clamped = _hand("SELECT sum(least(greatest(income, ?), ?)) FROM {people}", tables, [low, high])[0][0]
    assert found[2] == clamped != real[2]


def test_a_keyed_count_is_one_pass_over_the_records(tables, monkeypatch):
    """With row keys (a conditional count) the count and its cell key come from the
    differencing sketch's pass itself: one statement, not a count and then the sketch."""
    from portal.store import plan_cursor

    executed = []
    real = plan_cursor.db_cursor

    class Counting:
        def __init__(self, cur):
            self._cur = cur

        def execute(self, *args):
            executed.append(args[0])
            return self._cur.execute(*args)

        def __getattr__(self, name):
            return getattr(self._cur, name)

    monkeypatch.setattr(plan_cursor, "db_cursor", lambda: Counting(real()))
    count, stats = count_plan(plan(flt(op("ge", col("age"), lit(60)))), tables, row_keys=SALTS)
    assert len(executed) == 1
    assert count == stats.records == count_plan(plan(flt(op("ge", col("age"), lit(60)))), tables)[0] > 0
    assert stats.key == _key_of(tables, "age >= 60")


def test_a_side_without_a_salt_leaves_the_other_side_s_keys(tables):
    """The broker salts only conditional records (decision 0024c): rows joined onto open data
    keep their own keys, so a cell is the same whichever lookup rows it was joined with."""
    salts = {"people": 11, "districts": None}
    alone = run_plan(plan(group([], op("count"))), tables, max_rows=10, row_keys=salts).stats[0]
    joined = run_plan(plan(join("districts", ["district"]), group([], op("count"))), tables, max_rows=10,
                      row_keys=salts).stats[0]
    one_row = run_plan(plan(join("districts", ["district"], steps=[{"op": "limit", "n": 1}]), group([], op("count"))),
                       tables, max_rows=10, row_keys=salts).stats[0]
    counted = count_plan(plan(join("districts", ["district"])), tables, row_keys=salts)[1]
    assert alone.key == joined.key == one_row.key == counted.key and alone.records == joined.records
    assert alone.sketch == joined.sketch


def test_clip_holds_values_inside_bounds_and_keeps_nulls(tables):
    """`clip` is how the broker asks for a sum of values clamped to the published sum bounds
    (decision 0026c); DuckDB's least/greatest skip nulls, and a null must stay a missing value."""
    query = plan({"op": "select", "columns": [col("label"), alias("c", op("clip", col("value"), lit(-10), lit(10)))]},
                 source="measures")
    expected = _hand("SELECT label, CASE WHEN value IS NULL THEN NULL ELSE least(greatest(value, -10), 10) END "
                     "FROM {measures}", tables)
    result = run_plan(query, tables, max_rows=10)
    assert _same(result.rows, expected) and any(r[1] is None for r in result.rows)
    assert all(r[1] is None or -10 <= r[1] <= 10 for r in result.rows)
    summed = run_plan(plan(group([], alias("s", op("sum", op("clip", col("value"), lit(-10), lit(10))))),
                           source="measures"), tables, max_rows=10)
    assert summed.rows[0][0] == sum(min(max(r[1], -10), 10) for r in expected if r[1] is not None)
