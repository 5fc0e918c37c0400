"""Ordered copies of large version files (`portal/store/projections.py`, decision 0027c): made
for the columns pages filter on and the file does not prune, read instead of the file, and the
pages read from them are exactly the pages of the file."""

from __future__ import annotations

import os
import time
from pathlib import Path

import duckdb
import pytest

from portal import store
from portal.store import (
    Column,
    Filter,
    RowQuery,
    Sort,
    StoredTable,
    counts,
    projections,
    query_rows,
    ties,
)
from portal.store.pages import encode_page

COLUMNS = (Column("k", "integer"), Column("note", "text"), Column("fare", "decimal"), Column("distance", "float"))
ROWS = 60_000


@pytest.fixture
def table(tmp_path, monkeypatch) -> StoredTable:
    """60,000 rows in 2,048-row groups: `k` ascends with the file (every group its own range),
    `note` (mostly missing), `fare` and `distance` are spread over the whole file, with ties."""
    path = tmp_path / "store" / "0123456789abcdef-0123456789abcdef.parquet"
    path.parent.mkdir()
    duckdb.sql(f"""COPY (SELECT i // 2048 AS k,
        CASE hash(i * 23) % 20 WHEN 0 THEN '机场' WHEN 1 THEN '夜间' END AS note,
        CAST(8 + (hash(i * 13) % 200) / 10.0 AS DECIMAL(10, 2)) AS fare,
        round((hash(i * 17) % 300) / 10.0, 1) AS distance
        FROM range({ROWS}) t(i)) TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 2048)""")
    monkeypatch.setattr(projections, "MIN_BYTES", 0)
    projections.configure(3)
    yield StoredTable(path, COLUMNS)
    projections.PROJECTIONS.wait(60)
    projections.configure(0)
    counts._count.cache_clear()


QUERIES = [
    RowQuery(filters=(Filter("note", "eq", "机场"),), sort=(Sort("fare", descending=True),), limit=50),
    RowQuery(filters=(Filter("fare", "between", ["10", "10.5"]),), sort=(Sort("distance"),), limit=40),
    RowQuery(filters=(Filter("note", "in", ["夜间", "机场"]), Filter("distance", "lt", 3)), sort=(Sort("k"),), limit=30),
    RowQuery(filters=(Filter("fare", "ge", "27.5"),), sort=(Sort("note"), Sort("distance", descending=True)),
             limit=25),
]


def _pages(table: StoredTable, query: RowQuery, pages: int = 3) -> list[tuple]:
    """The first `pages` pages by cursor (rows, total, next cursor), with no memory of ties."""
    seen, cursor = [], None
    for _ in range(pages):
        page = query_rows(table, RowQuery(**{**query.__dict__, "cursor": cursor}))
        seen.append((page.rows, page.total, page.next_cursor))
        cursor = page.next_cursor
    ties._RUNS.clear()
    return seen


def _copy_for(table: StoredTable, column: str) -> Path:
    """The copy a page filtered on `column` reads: the Z-order copy for a low-cardinality column
    (one of the automatic keys), else the column's own."""
    keys = {k.column for k in projections._zorder_keys(str(table.path), tuple((c.name, c.type) for c in COLUMNS))}
    path = Path(table.path)
    return projections.zorder_path(path) if column in keys else projections.projection_path(path, column)


def _make_copies(table: StoredTable, query: RowQuery) -> None:
    for _ in range(projections.DEMAND):
        query_rows(table, query)
    assert projections.PROJECTIONS.wait(60)


@pytest.mark.parametrize("query", QUERIES, ids=["eq-sorted", "between", "in-and-lt", "two-sorts"])
def test_pages_read_from_an_ordered_copy_are_the_pages_of_the_file(table, query):
    projections.configure(0)
    from_file = _pages(table, query)
    counts._count.cache_clear()
    projections.configure(3)
    _make_copies(table, query)
    column = next(f.column for f in query.filters if f.op in projections.PRUNABLE)
    copy = _copy_for(table, column)
    assert copy.is_file()
    read = projections.PROJECTIONS.scan(table, query.filters, query.sort)
    assert (read.clause, read.path) == (projections.SCAN.format(path="?"), str(copy))
    counts._count.cache_clear()
    assert _pages(table, query) == from_file
    encoded = encode_page(table, RowQuery(**{**query.__dict__, "with_total": True}))
    projections.configure(0)
    assert encode_page(table, RowQuery(**{**query.__dict__, "with_total": True})) == encoded


def test_the_copy_is_ordered_by_its_column_and_keeps_the_row_numbers(table):
    _make_copies(table, QUERIES[1])
    copy = projections.projection_path(Path(table.path), "fare")
    original = duckdb.sql(f"SELECT file_row_number, note, fare FROM read_parquet('{table.path}', "
                          "file_row_number = true) ORDER BY file_row_number").fetchall()
    copied = duckdb.sql(f"SELECT file_row_number, note, fare FROM read_parquet('{copy}')").fetchall()
    assert sorted(copied) == original
    assert [row[2] for row in copied] == sorted(row[2] for row in copied)


def test_a_low_cardinality_column_gets_the_z_order_copy_of_the_automatic_keys(table):
    """A column the ingest's automatic clustering would choose (`note`: two values and gaps)
    gets the one copy in the Z-order of those keys (decision 0018c's layout, made after the load
    instead of during it), in row groups as small as a clustered file's."""
    _make_copies(table, QUERIES[0])
    copy = projections.zorder_path(Path(table.path))
    assert projections.existing(Path(table.path)) == [copy]
    keys = [k.column for k in projections._zorder_keys(str(table.path), tuple((c.name, c.type) for c in COLUMNS))]
    assert "note" in keys and "fare" not in keys and "distance" not in keys
    copied = duckdb.sql(f"SELECT file_row_number FROM read_parquet('{copy}')").fetchall()
    assert sorted(r[0] for r in copied) == list(range(ROWS))
    groups = duckdb.sql(f"SELECT count(DISTINCT row_group_id) FROM parquet_metadata('{copy}')").fetchall()[0][0]
    assert groups >= ROWS // 16_384


def test_a_page_in_file_order_reads_the_file(table):
    """With no sort key a page is the first matching rows in file order, where DuckDB stops
    early in the file; a copy would have to order every matching row by its row number."""
    query = RowQuery(filters=(Filter("fare", "between", ["10", "10.5"]),), sort=(Sort("distance"),), limit=40)
    _make_copies(table, query)
    unsorted = RowQuery(filters=query.filters, limit=40)
    assert projections.PROJECTIONS.scan(table, unsorted.filters, unsorted.sort).path == str(table.path)
    assert projections.PROJECTIONS.scan(table, query.filters, query.sort).path != str(table.path)


def test_no_copy_for_a_column_the_file_is_ordered_by(table):
    query = RowQuery(filters=(Filter("k", "eq", 7),), sort=(Sort("fare"),), limit=10)
    for _ in range(5):
        query_rows(table, query)
    assert projections.PROJECTIONS.wait(60)
    assert projections.existing(Path(table.path)) == []


def test_no_copy_of_a_small_file_nor_when_turned_off(table, monkeypatch):
    monkeypatch.setattr(projections, "MIN_BYTES", os.path.getsize(table.path) + 1)
    for _ in range(3):
        query_rows(table, QUERIES[0])
    monkeypatch.setattr(projections, "MIN_BYTES", 0)
    projections.configure(0)
    for _ in range(3):
        query_rows(table, QUERIES[0])
    assert projections.PROJECTIONS.wait(60)
    assert projections.existing(Path(table.path)) == []


def test_a_one_off_filter_makes_no_copy_and_a_file_has_at_most_its_limit(table):
    query_rows(table, QUERIES[0])
    assert projections.PROJECTIONS.wait(60)
    assert projections.existing(Path(table.path)) == []
    projections.configure(1)
    _make_copies(table, QUERIES[0])
    _make_copies(table, QUERIES[1])
    assert projections.existing(Path(table.path)) == [projections.zorder_path(Path(table.path))]


def test_a_live_claim_is_left_alone_and_a_stale_one_taken_over(table):
    path = Path(table.path)
    target = projections.projection_path(path, "fare")
    claim = target.with_name(f".tmp-{target.name}.claim")
    claim.touch()
    assert projections.build(path, "fare", 3) is None and not target.exists()
    old = time.time() - projections.STALE_SECONDS - 5
    os.utime(claim, (old, old))
    assert projections.build(path, "fare", 3) == target and target.is_file()
    assert not claim.exists()
    assert sorted(p.name for p in path.parent.iterdir()) == sorted([path.name, target.name])  # no temp, no spill


def test_the_sweep_keeps_the_copies_of_kept_versions_only(table, tmp_path):
    path = Path(table.path)
    kept = projections.build(path, "fare", 3)
    orphan_file = path.with_name("fedcba9876543210-fedcba9876543210.parquet")
    orphan_file.write_bytes(path.read_bytes())
    orphan = projections.build(orphan_file, "fare", 3)
    orphan_file.unlink()
    keep = {path, *store.projection_paths(path)}
    removed = store.sweep(path.parent, keep)
    assert removed == [orphan]
    assert kept.is_file() and not orphan.exists()


def test_what_counts_as_spread_over_the_file(tmp_path):
    """Unique random numbers and a repeating cycle are spread over every row group (a copy helps);
    a column the rows ascend by, or a category in runs, is not (the file prunes it already)."""
    path = tmp_path / "shapes.parquet"
    duckdb.sql(f"""COPY (SELECT random() AS unique_random, i AS ascending, i % 7 AS cycle,
        ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'][1 + i // 62500] AS runs
        FROM range(500000) t(i)) TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 8192)""")
    spread = {name: not projections._ordered(str(path), name, kind) for name, kind in
              [("unique_random", "float"), ("ascending", "integer"), ("cycle", "integer"), ("runs", "text")]}
    assert spread == {"unique_random": True, "ascending": False, "cycle": True, "runs": False}


def test_prepare_makes_the_z_order_copy_only_when_it_helps(table, monkeypatch):
    assert projections.prepare(table, 0) is None
    monkeypatch.setattr(projections, "MIN_BYTES", os.path.getsize(table.path) + 1)
    assert projections.prepare(table, 3) is None
    monkeypatch.setattr(projections, "MIN_BYTES", 0)
    assert projections.prepare(table, 3) == projections.zorder_path(Path(table.path))
    ordered = StoredTable(Path(table.path), (Column("k", "integer"),))  # the file ascends by k
    assert projections.prepare(ordered, 3) is None
