"""Automatic clustering (decision 0018c): large files are ordered by a Z-order over
low-cardinality columns chosen from the data, so filters prune row groups without the publisher
declaring anything. The rows, the results of every filtered and sorted page and the totals stay
exactly those of the source-order file."""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from portal.store import (
    Filter,
    RowQuery,
    Sort,
    StoredTable,
    clustering,
    conversion,
    ingest,
    measures,
    query_rows,
)

DISTRICTS = ["东城区", "西城区", "朝阳区", "海淀区", "丰台区", "通州区"]


def _write(path: Path, rows: int, *, extra: str | None = None) -> Path:
    """Independent pseudo-random columns (seeded), the first rows in a fixed pattern."""
    draw = random.Random(7)
    lines = ["district,hour,fare,day,flag,note"]
    for i in range(rows):
        district, hour = (DISTRICTS[i % 3], 5 * i) if i < 3 else (draw.choice(DISTRICTS), draw.randrange(24))
        note = "机场" if draw.random() < 0.1 else ""
        lines.append(f"{district},{hour},{draw.randrange(100_000) / 100:.2f},"
                     f"{date(2021, 1, 1) + timedelta(days=draw.randrange(1000))},{draw.choice(['true', 'false'])},"
                     f"{note}")
    if extra:
        lines.append(extra)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def clustered_everywhere(monkeypatch):
    """Cluster even small files, in small row groups, so pruning shows on a test-sized table."""
    monkeypatch.setattr(clustering, "MIN_BYTES", 0)
    monkeypatch.setattr(conversion, "CLUSTERED_ROW_GROUP_SIZE", 500)


def _table(result) -> StoredTable:
    return StoredTable(result.path, result.columns)


def _one(statement: str):
    return duckdb.connect().execute(statement).fetchone()[0]


def _all_rows(path: Path) -> list[tuple]:
    return sorted(duckdb.sql(f"SELECT * FROM read_parquet('{path}')").fetchall(),
                  key=lambda row: tuple((v is None, str(v)) for v in row))


def test_large_file_is_clustered_by_low_cardinality_columns_and_keeps_every_row(
        tmp_path, clustered_everywhere):
    source = _write(tmp_path / "trips.csv", 12_000)
    clustered = ingest(source, tmp_path / "a")
    plain = ingest(source, tmp_path / "b", auto_cluster=False)
    # hour (24 values) first, then district (6), flag (2); day spans too many days, fare is decimal
    assert clustered.clustered_by == ("hour", "district", "flag")
    assert plain.clustered_by == ()
    assert clustered.row_count == plain.row_count == 12_000
    assert clustered.columns == plain.columns
    assert _all_rows(clustered.path) == _all_rows(plain.path)


@pytest.mark.parametrize("filters, sort", [
    ((Filter("district", "eq", "海淀区"), Filter("hour", "between", [7, 9])), (Sort("fare", True),)),
    ((Filter("hour", "eq", 8),), (Sort("fare"),)),
    ((Filter("flag", "eq", False),), (Sort("district"), Sort("fare", True))),
    ((Filter("note", "is_null", False),), ()),
    ((Filter("fare", "gt", 500),), (Sort("day", True),)),
])
def test_pages_of_a_clustered_file_match_the_source_order_file(tmp_path, clustered_everywhere,
                                                                filters, sort):
    source = _write(tmp_path / "trips.csv", 6_000)
    clustered = _table(ingest(source, tmp_path / "a"))
    plain = _table(ingest(source, tmp_path / "b", auto_cluster=False))
    query = RowQuery(filters=filters, sort=sort, limit=10_000)
    ours, theirs = query_rows(clustered, query), query_rows(plain, query)
    assert ours.total == theirs.total > 0
    if sort:  # sorted pages agree on the sort keys; ties may come in another (stable) order
        keys = [ours.columns.index(next(c for c in ours.columns if c.name == s.column)) for s in sort]
        assert [[row[k] for k in keys] for row in ours.rows] == [[row[k] for k in keys] for row in theirs.rows]
    assert sorted(map(repr, ours.rows)) == sorted(map(repr, theirs.rows))


def test_unsorted_pages_walk_a_clustered_file_in_one_stable_order(tmp_path, clustered_everywhere):
    table = _table(ingest(_write(tmp_path / "trips.csv", 3_000), tmp_path / "a"))
    seen, cursor = [], None
    while True:
        page = query_rows(table, RowQuery(limit=700, cursor=cursor))
        seen += page.rows
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == 3_000
    assert seen == query_rows(table, RowQuery(limit=3_000)).rows


def test_filters_on_clustered_columns_skip_row_groups(tmp_path, clustered_everywhere):
    result = ingest(_write(tmp_path / "trips.csv", 60_000), tmp_path / "a")  # groups of >= 2,048 rows
    groups = _one(f"SELECT count(DISTINCT row_group_id) FROM parquet_metadata('{result.path}')")
    for column, value in (("district", "'海淀区'"), ("hour", "8")):
        touched = _one(
            f"SELECT count(DISTINCT row_group_id) FROM parquet_metadata('{result.path}') "
            f"WHERE path_in_schema = '{column}' AND stats_min_value <= {value} AND stats_max_value >= {value}"
            if column == "district" else
            f"SELECT count(DISTINCT row_group_id) FROM parquet_metadata('{result.path}') "
            f"WHERE path_in_schema = '{column}' AND stats_min_value::INT <= {value} "
            f"AND stats_max_value::INT >= {value}")
        assert groups >= 20
        assert touched <= groups // 2, (column, touched, groups)


def test_values_the_sample_did_not_see_are_stored_and_found(tmp_path, clustered_everywhere, monkeypatch):
    monkeypatch.setattr(measures, "SAMPLE_ROWS", 200)
    source = _write(tmp_path / "trips.csv", 3_000, extra="延庆区,30,1.125,2030-06-30,,")
    result = ingest(source, tmp_path / "a")  # the fare's third decimal stops the guarded pass
    assert result.clustered_by and dict((c.name, c.type) for c in result.columns)["fare"] == "float"
    table = _table(result)
    page = query_rows(table, RowQuery(filters=(Filter("district", "eq", "延庆区"),)))
    assert page.total == 1
    assert page.rows[0][:2] == ("延庆区", 30)
    assert query_rows(table, RowQuery(filters=(Filter("hour", "eq", 30),))).total == 1


def test_small_files_keep_the_source_order(tmp_path):
    result = ingest(_write(tmp_path / "trips.csv", 500), tmp_path / "a")
    assert result.clustered_by == ()
    rows = query_rows(_table(result), RowQuery(limit=3, fields=("district", "hour"))).rows
    assert rows == [("东城区", 0), ("西城区", 5), ("朝阳区", 10)]


def test_a_declared_cluster_by_wins(tmp_path, clustered_everywhere):
    result = ingest(_write(tmp_path / "trips.csv", 1_000), tmp_path / "a", cluster_by=("district",))
    assert result.clustered_by == ("district",)


def test_totals_rows_of_a_clustered_file_are_reported_without_a_line(tmp_path, clustered_everywhere):
    source = _write(tmp_path / "trips.csv", 2_000, extra="合计,0,99999.00,2021-01-01,true,")
    report = ingest(source, tmp_path / "a").report
    assert [(t.line, t.column, t.label) for t in report.totals] == [(0, "district", "合计")]
    assert "totals row (district = '合计') kept as data" in report.lines()[0]


def test_morton_gives_every_rank_combination_its_own_key():
    keys = [clustering.Key("a", "0", 2, 3), clustering.Key("b", "0", 3, 5)]
    expr = clustering.morton(keys)
    values = set()
    for a in range(4):
        for b in range(8):
            sql = f"SELECT {expr} FROM (SELECT {a} AS __kaifang_rank_0, {b} AS __kaifang_rank_1)"
            values.add(_one(sql))
    assert values == set(range(32))


def test_the_filtered_total_is_counted_once_per_file_and_filters(tmp_path):
    from portal.store import counts

    table = _table(ingest(_write(tmp_path / "trips.csv", 300), tmp_path / "a"))
    query = RowQuery(filters=(Filter("hour", "eq", 5),))
    before = counts._count.cache_info()
    first, second = query_rows(table, query), query_rows(table, query)
    after = counts._count.cache_info()
    assert first.total == second.total > 0
    assert after.misses - before.misses == 1 and after.hits - before.hits >= 1


def test_sweep_removes_a_spill_directory_left_by_a_killed_sort(dest):
    from portal.store import files, sweep

    spill = files.temp_path(dest, ".spill")
    spill.mkdir()
    (spill / "duckdb_temp_block.bin").write_bytes(b"x")
    assert sweep(dest, keep=()) == [spill]
    assert not spill.exists()


def test_clustered_row_groups_grow_with_the_file(tmp_path, monkeypatch):
    """About 64 groups a file: small files keep 16,384-row groups (pruning), the 10 M-row
    benchmark file gets DuckDB's 122,880 (a full scan pays per group)."""
    import gzip

    source = _write(tmp_path / "trips.csv", 30_000)
    lines = len(source.read_bytes().splitlines())
    plain = conversion.CsvSource(source, ",", ("x",))
    assert abs(conversion._estimated_rows(plain) - lines) < lines * 0.05  # noqa: SLF001
    packed = tmp_path / "trips.csv.gz"
    packed.write_bytes(gzip.compress(source.read_bytes()))
    assert conversion._estimated_rows(conversion.CsvSource(packed, ",", ("x",), gzip=True)) > lines / 10  # noqa: SLF001
    assert conversion.clustered_row_group_size(plain) == 16_384
    for rows, size in ((336_776, 16_384), (2_000_000, 30_720), (10_000_000, 122_880), (10**9, 122_880)):
        monkeypatch.setattr(conversion, "_estimated_rows", lambda _source, rows=rows: rows)
        assert conversion.clustered_row_group_size(plain) == size, rows


def test_version_files_are_lz4_in_both_orders(tmp_path, clustered_everywhere):
    """Decision 0022f: LZ4 pages decode 25-30 % cheaper than zstd; both COPY paths write it,
    and pyarrow (the Parquet download's readers) reads every row back."""
    source = _write(tmp_path / "trips.csv", 3_000)
    for result in (ingest(source, tmp_path / "a"), ingest(source, tmp_path / "b", auto_cluster=False)):
        metadata = pq.ParquetFile(result.path).metadata
        codecs = {metadata.row_group(g).column(c).compression
                  for g in range(metadata.num_row_groups) for c in range(metadata.num_columns)}
        assert codecs == {"LZ4"}, result.path
        assert metadata.num_rows == result.row_count == 3_000
