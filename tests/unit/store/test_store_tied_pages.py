"""Pages read as one run of ties in file order (ties.py) are the pages of the ordinary SELECT:
same rows, same order, same next cursor, on random files with many ties, NULLs, both directions,
many small row groups, filters, first pages and cursor walks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.store import Column, Filter, RowQuery, Sort, StoredTable, query_rows, ties

COLUMNS = (Column("g", "integer"), Column("k", "integer"), Column("f", "float"),
           Column("t", "text"), Column("d", "date"))


def _table(path: Path, rows: list[tuple], group: int) -> StoredTable:
    names = [c.name for c in COLUMNS]
    data = pa.table({name: [row[i] for row in rows] for i, name in enumerate(names)},
                    schema=pa.schema([("g", pa.int64()), ("k", pa.int64()), ("f", pa.float64()),
                                      ("t", pa.string()), ("d", pa.date32())]))
    pq.write_table(data, path, row_group_size=group)
    return StoredTable(path, COLUMNS)


def _walk(table: StoredTable, query: RowQuery) -> list[tuple]:
    """Every page of `query` by cursor: (rows, next_cursor) each."""
    pages, cursor = [], None
    for _ in range(1000):
        page = query_rows(table, RowQuery(**{**query.__dict__, "cursor": cursor}))
        pages.append((page.rows, page.next_cursor))
        cursor = page.next_cursor
        if cursor is None:
            return pages
    raise AssertionError("cursor pages never ended")


def _ordinary(monkeypatch, table, query) -> list[tuple]:
    with monkeypatch.context() as patched:
        patched.setattr(ties, "tied_rows", lambda *args, **kwargs: None)
        return _walk(table, query)


ROW = st.tuples(
    st.integers(0, 2),
    st.one_of(st.none(), st.integers(0, 3)),
    st.sampled_from([None, 0.0, -0.0, 1.5, 2.0]),
    st.sampled_from([None, "东城区", "西城区", "a", ""]),
    st.one_of(st.none(), st.sampled_from([dt.date(2020, 1, 1), dt.date(2021, 6, 30)])),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(ROW, min_size=1, max_size=120), group=st.integers(1, 9),
       column=st.sampled_from(["k", "f", "t", "d", "g"]), descending=st.booleans(),
       limit=st.integers(1, 6), filtered=st.booleans())
def test_tied_pages_are_the_ordinary_pages(tmp_path_factory, monkeypatch, rows, group, column,
                                           descending, limit, filtered):
    table = _table(tmp_path_factory.mktemp("ties") / "t.parquet", rows, group)
    filters = (Filter("g", "ne", 1),) if filtered else ()
    query = RowQuery(filters=filters, sort=(Sort(column, descending=descending),), limit=limit,
                     with_total=False)
    ties._RUNS.clear()
    reference = _ordinary(monkeypatch, table, query)  # learns which pages are runs
    assert _walk(table, query) == reference  # tries them (some fall short, remembered)
    assert _walk(table, query) == reference  # and again, with what fell short remembered
    walked = [row for page, _ in reference for row in page]
    assert len(walked) == sum(1 for r in rows if not filtered or r[0] != 1)


def test_a_run_of_ties_is_read_in_file_order(tmp_path, monkeypatch):
    """A first page and the cursor pages of a long run of one value take the tied path (and give
    the ordinary pages)."""
    rows = [(i % 3, 0 if i % 2 else i, 0.0, "x", None) for i in range(400)]
    table = _table(tmp_path / "t.parquet", rows, 64)
    query = RowQuery(sort=(Sort("k"),), limit=10, with_total=False)
    ties._RUNS.clear()
    reference = _ordinary(monkeypatch, table, query)
    used = []
    original = ties.tied_rows

    def spy(*args, **kwargs):
        found = original(*args, **kwargs)
        used.append(found is not None)
        return found

    monkeypatch.setattr(ties, "tied_rows", spy)
    assert _walk(table, query) == reference
    assert used[:20] == [True] * 20  # 200 rows of k = 0 (and k = 0 at row 0) make 20 runs
    assert not all(used)


@pytest.mark.parametrize("descending", [False, True])
def test_a_two_key_sort_is_never_tried(tmp_path, monkeypatch, descending):
    rows = [(1, 0, 0.0, "x", None) for _ in range(50)]
    table = _table(tmp_path / "t.parquet", rows, 8)
    query = RowQuery(sort=(Sort("k", descending=descending), Sort("t")), limit=5, with_total=False)
    ties._RUNS.clear()
    assert _walk(table, query) == _ordinary(monkeypatch, table, query)
    assert not ties._RUNS


def _one_run(tmp_path, monkeypatch):
    """A file that is one run of ties of `k`, its one-key query, and the pages of the ordinary SELECT."""
    table = _table(tmp_path / "t.parquet", [(1, 0, 0.0, "x", None) for _ in range(30)], 8)
    query = RowQuery(sort=(Sort("k"),), limit=5, with_total=False)
    ties._RUNS.clear()
    return table, query, _ordinary(monkeypatch, table, query)


def test_a_first_page_whose_try_fell_short_takes_the_ordinary_select(tmp_path, monkeypatch):
    table, query, reference = _one_run(tmp_path, monkeypatch)
    for key in [k for k in ties._RUNS if k[-1] is ties._FIRST]:
        ties._RUNS[key] = False
    assert _walk(table, query) == reference


def test_without_row_group_bounds_a_cursor_page_takes_the_ordinary_select(tmp_path, monkeypatch):
    table, query, reference = _one_run(tmp_path, monkeypatch)

    def refused(*args):
        raise duckdb.Error("no metadata here")

    monkeypatch.setattr(ties, "_bounds", refused)
    assert _walk(table, query) == reference
