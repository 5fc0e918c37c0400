"""The principle as a property: for random plans over two conditional datasets that differ in one
record, the possible non-numeric outcomes are the same.

Non-numeric means everything but released values: status, refusal rule and reason, notes,
columns, which cells are listed (their keys) and which values are null. The broker may let the
records decide those only through perturbed counts whose noise can take any integer value
(docs/disclosure.md), and each cell's decisions are independent draws. So the sets of possible
outcomes of D and D' are equal exactly when

- with the noise forced to list everything (every perturbed count far above the minimum), D and
  D' give the same outcome: nothing but the noise can hide a cell or null a value;
- with the noise forced to list nothing, they give the same outcome too;
- with the real noise, the parts decided before the query runs (status, rule, reason, notes,
  columns) are identical.

The plans are drawn by Hypothesis from the whole plan language: filters (allowed and not),
derived columns (affine, non-linear, overflowing, dividing by a range that holds zero), joins,
group keys with and without declared levels, every aggregation, sort and limit after it.
"""

from __future__ import annotations

import hashlib
import random
import tempfile
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal import store
from portal.analysis.broker import Broker, GrantedSource
from portal.analysis.disclosure import CellKeyNoise, Rules
from portal.analysis.policy import SourceInfo

COLUMNS = (store.Column("rid", "text"), store.Column("grp", "text"), store.Column("size", "integer"),
           store.Column("income", "integer"), store.Column("day", "date"))
INFO = SourceInfo("d", True, tuple(c.name for c in COLUMNS), frozenset({"rid"}), frozenset({"income"}),
                  bounds={"size": (1, 5), "income": (0, 1000)}, levels={"grp": ("a", "b", "c")})
LOOKUP = SourceInfo("lookup", False, ("grp", "label"), frozenset(), frozenset())


class Forced(CellKeyNoise):
    """Cell-key noise whose threshold draws are pinned: every cell listed, or none."""

    def __init__(self, offset: int):
        super().__init__(b"property")
        self.offset = offset

    def threshold_offset(self, key: int, stream: str) -> int:
        return self.offset


def _rows(seed: int) -> list[tuple]:
    rng = random.Random(seed)
    return [(f"r{i}", rng.choice("abc"), rng.randint(1, 5), rng.randint(0, 1000), f"2023-{rng.randint(1, 12):02d}-01")
            for i in range(30)]


def _table(folder: Path, name: str, rows: list[tuple]) -> store.StoredTable:
    path = folder / f"{name}.parquet"
    if path.exists():
        return store.StoredTable(path, COLUMNS)
    con = duckdb.connect()
    con.execute("CREATE TABLE t (rid VARCHAR, grp VARCHAR, size BIGINT, income BIGINT, day DATE)")
    if rows:
        con.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", rows)
    con.execute(f"COPY t TO '{path}' (FORMAT parquet)")
    con.close()
    return store.StoredTable(path, COLUMNS)


@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory(prefix="kaifang-property-") as name:
        path = Path(name)
        con = duckdb.connect()
        con.execute(f"COPY (SELECT * FROM (VALUES ('a', 'A'), ('b', 'B'), ('c', 'C')) v(grp, label)) "
                    f"TO '{path / 'lookup.parquet'}' (FORMAT parquet)")
        con.close()
        yield path


def col(name):
    return {"op": "col", "name": name}


def lit(value):
    return {"op": "lit", "value": value}


def op(name, *args, **extra):
    return {"op": name, "args": list(args), **extra}


FILTERS = [
    op("eq", col("grp"), lit("a")), op("ge", col("size"), lit(2)), op("ge", col("income"), lit(500)),
    op("gt", col("income"), lit(123)), op("gt", op("mul", col("income"), lit(3)), lit(100)),
    op("eq", col("rid"), lit("r3")), op("is_not_null", col("income")),
    op("eq", op("month", col("day")), lit(3)),
]
DERIVED = [
    op("add", op("mul", col("income"), lit(2)), lit(10)), op("mul", col("size"), lit(0.5)),
    op("mul", op("mul", col("income"), col("income")), op("mul", op("mul", col("income"), col("income")),
                                                          op("mul", col("income"), col("income")))),
    op("div", col("income"), op("sub", col("size"), lit(1))), op("div", col("income"), col("size")),
    op("cast", col("income"), to="integer"), op("cast", col("grp"), to="number"), op("month", col("day")),
]
KEYS = [[], ["grp"], ["grp", "size"], ["income"], ["rid"], ["label"], ["m"], ["v"]]
AGGS = [op("count"), op("sum", col("income")), op("mean", col("income")), op("sum", col("size")),
        op("sum", lit(1)), op("mean", col("v")), op("sum", col("v")), op("count_distinct", col("size")),
        op("min", col("size")), op("max", col("income")), op("std", col("size")), op("median", col("m"))]


@st.composite
def plans(draw):
    steps = []
    if draw(st.booleans()):
        steps.append({"op": "filter", "predicate": draw(st.sampled_from(FILTERS))})
    steps.append({"op": "with_columns", "columns": [
        {"op": "alias", "name": "v", "expr": draw(st.sampled_from(DERIVED))},
        {"op": "alias", "name": "m", "expr": op("month", col("day"))}]})
    if draw(st.booleans()):
        on = draw(st.sampled_from(["grp", "v"]))
        right = {"source": "lookup", "steps": [] if on == "grp" else [
            {"op": "with_columns", "columns": [{"op": "alias", "name": "v", "expr": lit(1)}]}]}
        steps.append({"op": "join", "right": right, "on": [on], "how": "left"})
    if draw(st.booleans()):
        return {"version": 1, "action": "count", "source": "d", "steps": steps}
    aggs = draw(st.lists(st.sampled_from(AGGS), min_size=1, max_size=3, unique_by=lambda a: str(a)))
    named = [{"op": "alias", "name": f"s{i}", "expr": a} for i, a in enumerate(aggs)]
    steps.append({"op": "group_by", "keys": draw(st.sampled_from(KEYS)), "aggs": named})
    if draw(st.booleans()):
        steps += [{"op": "sort", "by": [{"column": "s0", "descending": draw(st.booleans())}]}, {"op": "limit", "n": 2}]
    return {"version": 1, "action": "collect", "source": "d", "steps": steps}


def skeleton(answer: dict, plan: dict) -> tuple:
    """Everything in an answer but the released values themselves. After a sort on released
    values the order, and so which cells a limit keeps, is itself a function of released values:
    then only the number of rows counts."""
    rows = answer.get("rows") or []
    names = [c["name"] for c in answer.get("columns", [])]
    shape: object = tuple(tuple(value if not isinstance(value, int | float) or name in ("grp", "size", "m") else
                                ("null" if value is None else "value") for name, value in zip(names, row, strict=True))
                          for row in rows)
    if any(step["op"] == "sort" for step in plan["steps"]):
        shape = len(rows)
    return (answer["status"], answer.get("rule"), answer.get("reason"), tuple(answer.get("notes", ())),
            tuple(names), shape, "count" in answer and answer["count"] is None)


def run(folder: Path, rows: list[tuple], plan: dict, noise: CellKeyNoise) -> dict:
    table = _table(folder, "d" + hashlib.sha256(repr(rows).encode()).hexdigest()[:16], rows)
    lookup = store.StoredTable(folder / "lookup.parquet", (store.Column("grp", "text"), store.Column("label", "text")))
    sources = {"d": GrantedSource(INFO, table, Rules(), row_salt=99),
               "lookup": GrantedSource(LOOKUP, lookup, Rules(), row_salt=98)}
    return Broker(sources, noise=noise, budget_left={}, quantum=0).execute(plan)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=plans(), seed=st.integers(0, 5), removed=st.integers(0, 29))
def test_neighbouring_datasets_have_the_same_possible_non_numeric_outcomes(folder, plan, seed, removed):
    full = _rows(seed)
    neighbour = full[:removed] + full[removed + 1:]
    for noise in (Forced(10_000), Forced(-10_000)):
        assert skeleton(run(folder, full, plan, noise), plan) == skeleton(run(folder, neighbour, plan, noise), plan), plan
    real = CellKeyNoise(b"property")
    first, second = run(folder, full, plan, real), run(folder, neighbour, plan, real)
    assert skeleton(first, plan)[:5] == skeleton(second, plan)[:5], plan
