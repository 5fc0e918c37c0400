"""Record keys read from a version's keyed copy (decision 0024a): the same keys, cells, sketches
and rows as when the values are hashed per query, and the copy is written once per version."""

from __future__ import annotations

from dataclasses import replace

import pytest

from portal.store import StoredTable, ingest, keyed, keyed_path, record_keys, sweep
from portal.store.plans import count_plan, run_plan
from portal.store.record_keys import KEY_COLUMN
from tests.unit.sandbox.fakes import PEOPLE

SALTS = {"people": 11}


def _csv(rows: list[dict]) -> str:
    names = list(rows[0])
    return ",".join(names) + "\n" + "".join(",".join(str(r[n]) for n in names) + "\n" for r in rows)


@pytest.fixture
def people(tmp_path) -> StoredTable:
    source = tmp_path / "people.csv"
    source.write_text(_csv(PEOPLE), encoding="utf-8")
    result = ingest(source, tmp_path / "store", overrides={"id": "integer"})
    return StoredTable(result.path, result.columns)


def plan(*steps, action="collect"):
    return {"version": 1, "action": action, "source": "people", "steps": list(steps)}


def col(name):
    return {"op": "col", "name": name}


def lit(value):
    return {"op": "lit", "value": value}


def op(name, *args):
    return {"op": name, "args": list(args)}


def group(keys, *aggs):
    return {"op": "group_by", "keys": keys, "aggs": list(aggs)}


PLANS = [
    plan(group(["district"], op("count"), op("sum", col("income")))),
    plan({"op": "filter", "predicate": op("ge", col("age"), lit(30))}, group(["district"], op("mean", col("age")))),
    plan({"op": "sort", "by": [{"column": "age", "descending": True}]}, {"op": "limit", "n": 3}),
]


def test_the_keyed_copy_gives_the_same_keys_sketches_and_rows(people):
    path = keyed(people)
    assert path == keyed_path(people.path) and path.is_file()
    copied = replace(people, keyed=path)
    assert copied.files() == (str(people.path), str(path))
    for query in PLANS:
        inline = run_plan(query, {"people": people}, max_rows=100, row_keys=SALTS)
        from_copy = run_plan(query, {"people": copied}, max_rows=100, row_keys=SALTS)
        assert from_copy == inline
    filtered = plan({"op": "filter", "predicate": op("ge", col("age"), lit(30))})
    assert count_plan(filtered, {"people": copied}, row_keys=SALTS) == count_plan(filtered, {"people": people},
                                                                                 row_keys=SALTS)
    assert count_plan(filtered, {"people": copied}, row_keys=SALTS)[1].key != 0


def test_a_grant_row_filter_and_scope_read_the_copy_alike(people):
    from portal.store import Filter

    scoped = replace(people, visible=("district", "age"), row_filter=(Filter("district", "eq", "east"),))
    query = plan(group(["district"], op("count")))
    inline = run_plan(query, {"people": scoped}, max_rows=100, row_keys=SALTS)
    from_copy = run_plan(query, {"people": replace(scoped, keyed=keyed(people))}, max_rows=100, row_keys=SALTS)
    assert from_copy == inline and inline.rows


def test_the_key_column_is_never_a_column_plans_can_name(people):
    copied = replace(people, keyed=keyed(people))
    result = run_plan(plan(), {"people": copied}, max_rows=100, row_keys=SALTS)
    assert KEY_COLUMN not in [c.name for c in result.columns]
    from portal.store import QueryError

    with pytest.raises(QueryError) as raised:
        run_plan(plan({"op": "select", "columns": [col(KEY_COLUMN)]}), {"people": copied}, max_rows=100, row_keys=SALTS)
    assert raised.value.code == "unknown-column"


def test_the_copy_is_written_once_and_kept_by_the_sweep_with_its_version(people):
    first = keyed(people)
    written = first.stat().st_mtime_ns
    assert keyed(people) == first and first.stat().st_mtime_ns == written
    folder = people.path.parent
    assert sweep(folder, {people.path, first}) == []
    assert sorted(sweep(folder, set())) == sorted([people.path, first])  # an old version goes with its copy


def test_a_table_with_a_column_of_the_key_s_name_hashes_per_query(tmp_path):
    source = tmp_path / "odd.csv"
    source.write_text(f"a,{KEY_COLUMN}\n1,2\n", encoding="utf-8")
    result = ingest(source, tmp_path / "store")
    assert keyed(StoredTable(result.path, result.columns)) is None


def test_a_copy_that_cannot_be_written_leaves_the_inline_hash(people, caplog, monkeypatch):
    calls = []

    def full_disk(table, target):
        calls.append(target)
        raise OSError("no space left on device")

    monkeypatch.setattr(record_keys, "_write", full_disk)
    assert keyed(people) is None and "hashed per query" in caplog.text
    assert keyed(people) is None and len(calls) == 1  # not tried again by this process
    assert not keyed_path(people.path).exists()


def test_the_store_s_sketch_is_the_python_table_of_the_records_keys(people):
    """The memory decodes the store's sketches with Python's formulas (`sketches`); the
    bench and the memory's tests build cells with `Sketch.of`. Both must be the same table."""
    import duckdb  # noqa: PLC0415 - read the keyed copy's own key column

    from portal.analysis.sketches import MASK, Sketch  # noqa: PLC0415

    copied = replace(people, keyed=keyed(people))
    found = run_plan(plan(group(["district"], op("count"))), {"people": copied}, max_rows=100, row_keys=SALTS)
    keys: dict[str, list[int]] = {}
    salted = f"hash(xor({SALTS['people']}, {KEY_COLUMN}))"  # the record's key: the salt mixed in at query time
    for district, key in duckdb.sql(f"SELECT district, {salted} FROM read_parquet('{copied.keyed}')").fetchall():
        keys.setdefault(district, []).append(key & MASK)
    for row, stats in zip(found.rows, found.stats, strict=True):
        stored, computed = Sketch.from_store(stats.sketch), Sketch.of(keys[row[0]])
        assert (stored.counts, stored.keys, stored.checks) == (computed.counts, computed.keys, computed.checks), row
