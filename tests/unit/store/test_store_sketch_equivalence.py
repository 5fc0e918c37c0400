"""The differencing sketch of decision 0031c equals, bit for bit, the one of 0030b (keys, buckets,
checks, marks), on random data: counts and grouped aggregations, with filters, joins (a salted
lookup, an open one), the ε mode's per-person cap, empty selections, keys read inline or from the
keyed copy. The sketches are stored in the differencing memory and compared with later ones, so
a new spelling of the statement must not move a single value."""

from __future__ import annotations

import random
from dataclasses import replace

import duckdb
import pytest

from portal.analysis.sketches import Sketch
from portal.store import PersonCap, StoredTable, ingest, keyed, plans
from portal.store.plan_sql import SKETCH_MARK_MASK, SKETCH_MARKS
from tests.unit.store import sketch_0030b

SALTS = {"visits": 987654321987, "labs": 2**63 + 12345, "regions": None}
DISTRICTS = ("东城区", "西城区", "朝阳区", "海淀区", "丰台区", "")


def _visits(rng: random.Random, n: int) -> str:
    rows = ["visit_id,person,district,age,cost,urgent"]
    for i in range(n):
        person = "" if rng.random() < 0.03 else f"p{rng.randrange(n // 3)}"
        age = "" if rng.random() < 0.05 else str(rng.randrange(0, 100))
        rows.append(f"v{i},{person},{rng.choice(DISTRICTS)},{age},{rng.randrange(-50, 5000)},{rng.choice(['true', 'false'])}")
    rows.append(rows[-1])  # two rows equal in every column share a key
    return "\n".join(rows) + "\n"


def _labs(rng: random.Random, n: int) -> str:
    return "visit_id,result\n" + "".join(f"v{i},{rng.choice('ABC')}\n" for i in rng.sample(range(n), n // 2))


REGIONS = "district,region\n东城区,core\n西城区,core\n朝阳区,outer\n海淀区,outer\n"


@pytest.fixture(scope="module", params=[1, 2, 3])
def world(request, tmp_path_factory) -> dict[str, dict[str, StoredTable]]:
    """Per variant (keys hashed inline, from the keyed copy, and the ε mode's per-person cap), the
    tables of one random draw of visits, a salted lookup of labs and an open one of regions."""
    rng = random.Random(request.param)
    folder = tmp_path_factory.mktemp(f"sketch{request.param}")
    n = rng.choice((300, 2000, 5000))
    stored = {}
    for slug, text, declared in (("visits", _visits(rng, n), {"age": "integer", "cost": "integer"}),
                                 ("labs", _labs(rng, n), None), ("regions", REGIONS, None)):
        source = folder / f"{slug}.csv"
        source.write_text(text, encoding="utf-8")
        result = ingest(source, folder / "store", overrides=declared)
        stored[slug] = StoredTable(result.path, result.columns)
    copied = {slug: replace(t, keyed=keyed(t)) for slug, t in stored.items()}
    capped = dict(copied, visits=replace(copied["visits"], per_person=PersonCap("person", rng.choice((1, 3)), 777)))
    return {"inline": stored, "keyed": copied, "capped": capped}


def op(name, *args):
    return {"op": name, "args": list(args)}


def col(name):  # a plan's column and literal nodes
    return {"op": "col", "name": name}


def lit(value):
    return {"op": "lit", "value": value}


def flt(predicate):
    return {"op": "filter", "predicate": predicate}


def group(keys, *aggs):
    return {"op": "group_by", "keys": keys,
            "aggs": [{"op": "alias", "name": "n", "expr": {"op": "count", "args": []}}, *aggs]}


def join(source, on, how="inner"):
    return {"op": "join", "how": how, "on": on, "right": {"source": source, "steps": []}}


SUM = {"op": "alias", "name": "total", "expr": op("sum", col("cost"))}
OLD = op("gt", col("age"), lit(60))
NOBODY = op("gt", col("age"), lit(1000))
PLANS = {
    "all": [],
    "old": [flt(OLD)],
    "nobody": [flt(NOBODY)],
    "no district": [flt(op("eq", col("district"), lit("")))],
    "joined labs": [join("labs", ["visit_id"]), flt(op("eq", col("result"), lit("A")))],
    "joined regions": [join("regions", ["district"], "left")],
}
GROUPED = {
    "by district": [group(["district"], SUM)],
    "by district and urgency": [flt(OLD), group(["district", "urgent"], SUM)],
    "by person": [group(["person"])],
    "by age (nulls)": [group(["age"])],
    "nobody by district": [flt(NOBODY), group(["district"])],
    "by region": [join("regions", ["district"], "left"), group(["region"], SUM)],
    "by lab result": [join("labs", ["visit_id"]), group(["result", "urgent"])],
    "then filtered": [group(["district"]), flt(op("gt", col("n"), lit(5)))],
}


@pytest.fixture
def old_sketch(monkeypatch):
    """Run plans with 0030b's statement and fold."""
    def use() -> None:
        monkeypatch.setattr(plans, "sketch_sql", sketch_0030b.sketch_sql)
        monkeypatch.setattr(plans, "fold_sketches", sketch_0030b.fold_sketches)
    return use


def _plan(steps, action):
    return {"version": 1, "action": action, "source": "visits", "steps": steps}


@pytest.mark.parametrize("variant", ["inline", "keyed", "capped"])
def test_counts_have_the_sketch_of_0030b(world, variant, old_sketch, monkeypatch):
    tables = world[variant]
    new = {name: plans.count_plan(_plan(steps, "count"), tables, row_keys=SALTS) for name, steps in PLANS.items()}
    old_sketch()
    old = {name: plans.count_plan(_plan(steps, "count"), tables, row_keys=SALTS) for name, steps in PLANS.items()}
    assert new == old
    assert new["nobody"][0] == 0 and new["all"][0] > 0
    assert all(len(stats.sketch) == (180 if count == 0 else 184) for count, stats in new.values())


@pytest.mark.parametrize("variant", ["inline", "keyed", "capped"])
def test_grouped_cells_have_the_sketch_of_0030b(world, variant, old_sketch):
    tables = world[variant]
    new = {name: plans.run_plan(_plan(steps, "collect"), tables, max_rows=10_000, row_keys=SALTS)
           for name, steps in GROUPED.items()}
    old_sketch()
    old = {name: plans.run_plan(_plan(steps, "collect"), tables, max_rows=10_000, row_keys=SALTS)
           for name, steps in GROUPED.items()}
    for name in GROUPED:
        assert new[name].rows == old[name].rows, name
        assert new[name].stats == old[name].stats, name
    assert new["nobody by district"].stats == []
    assert len(new["by person"].stats) > 50, "many small groups"
    assert any(row[0] is None for row in new["by age (nulls)"].rows), "a group of nulls"


def test_a_count_s_sketch_is_the_python_mirror_s(world):
    """Independently of both statements: the table and marks of the records' keys, computed in
    Python (`analysis.sketches.Sketch.of`, the memory's mirror) from keys DuckDB hashes alone."""
    table = world["keyed"]["visits"]
    salt = SALTS["visits"]
    keys = [k for (k,) in duckdb.sql(f"SELECT hash(xor(CAST({salt} AS UBIGINT), _kaifang_record_key)) "  # noqa: S608
                                     f"FROM read_parquet('{table.keyed}')").fetchall()]
    count, stats = plans.count_plan(_plan([], "count"), {"visits": table}, row_keys=SALTS)
    mirror = Sketch.of(keys, tuple(min((k * m) & SKETCH_MARK_MASK for k in keys) for m in SKETCH_MARKS))
    assert count == len(keys) and Sketch.from_store(stats.sketch) == mirror


def test_a_group_keyed_by_nan_has_its_sketch(tmp_path):
    """NaN is unequal to itself: a group of a float column holding `nan` was looked up in the
    sketches' dict under another NaN object and raised `KeyError` (a broker error only where a
    filter let such a row in). Every NaN is one key (`plan_cells.group_key`)."""
    source = tmp_path / "t.csv"
    source.write_text("a,x\n1,nan\n2,nan\n3,1.5\n", encoding="utf-8")
    stored = ingest(source, tmp_path / "store", overrides={"x": "float"})
    table = StoredTable(stored.path, stored.columns)
    plan = _plan([group(["x"])], "collect")
    result = plans.run_plan(plan, {"visits": table}, max_rows=10, row_keys={"visits": 7})
    by_value = {("nan" if row[0] != row[0] else row[0]): (row[1], stats) for row, stats in zip(result.rows, result.stats, strict=True)}
    assert {k: n for k, (n, _) in by_value.items()} == {"nan": 2, 1.5: 1}
    assert all(sum(stats.sketch[0:60:3]) == n for n, stats in by_value.values()), "each group's records in its sketch"
