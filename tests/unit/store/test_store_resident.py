"""Version files held as in-memory DuckDB tables (`store/resident.py`): pages read from them are
the pages read from Parquet (rows, totals, cursors, CSV), within a bounded memory."""

from __future__ import annotations

import threading

import pytest

from portal.store import Filter, RowQuery, Sort, encode_page, query_rows
from portal.store.resident import MAX_SHARE, READ_AFTER, RESIDENT, ResidentTables, _drop
from tests.unit.store.conftest import PEOPLE

QUERIES = [
    RowQuery(filters=(Filter("age", "ge", "28"),), sort=(Sort("score", descending=True),), limit=2),
    RowQuery(filters=(Filter("district", "eq", "东城区"),), limit=1),
    RowQuery(filters=(Filter("district", "eq", "nowhere"),), limit=5),
    RowQuery(fields=("name", "age"), sort=(Sort("age"),), limit=3),
    RowQuery(limit=3, offset=2),
    RowQuery(filters=(Filter("district", "eq", "东城区"),), limit=2, offset=50),  # past the end: total still 3
]


@pytest.fixture
def resident(monkeypatch):
    monkeypatch.setattr(RESIDENT, "max_bytes", 64 << 20)
    return RESIDENT


def _pages(table, query, fmt):
    """Every page of `query`, following the cursors."""
    pages = []
    while True:
        page = encode_page(table, query, fmt)
        pages.append(page)
        if page.next_cursor is None or query.offset:
            return pages
        query = RowQuery(filters=query.filters, sort=query.sort, fields=query.fields, limit=query.limit,
                         cursor=page.next_cursor)


@pytest.mark.parametrize("fmt", ["json", "csv"])
@pytest.mark.parametrize("query", QUERIES)
def test_resident_pages_are_the_parquet_pages(make_table, monkeypatch, resident, query, fmt):
    table = make_table(PEOPLE)
    for _ in range(READ_AFTER):
        encode_page(table, RowQuery(limit=1), fmt)
    assert resident._tables[str(table.path)][2]  # with each row's JSON text: it fits
    from_memory = _pages(table, query, fmt)
    monkeypatch.setattr(resident, "max_bytes", 0)
    from_file = _pages(table, query, fmt)
    assert from_memory == from_file
    if query.filters:  # the first page's total comes from its own scan: the same as a count
        assert from_memory[0].total == query_rows(table, RowQuery(filters=query.filters, limit=1)).total


def test_a_table_bigger_than_its_share_is_read_from_parquet(make_table):
    tables = ResidentTables(max_bytes=1)
    table = make_table(PEOPLE)
    scans = [tables.scan(str(table.path)) for _ in range(READ_AFTER + 1)]
    assert all(source.params == [str(table.path)] and not source.resident for source in scans)


def test_the_least_recently_read_table_goes_first(make_table, tmp_path, monkeypatch):
    tables = ResidentTables(max_bytes=64 << 20)
    first, second = make_table(PEOPLE, name="a.csv"), make_table(PEOPLE, name="b.csv")
    for table in (first, second):
        for _ in range(READ_AFTER):
            tables.scan(str(table.path))
    assert list(tables._tables) == [str(first.path), str(second.path)]
    size = tables._tables[str(first.path)][1]
    monkeypatch.setattr(tables, "max_bytes", 2 * size + size // 2)  # room for two of these
    third = make_table(PEOPLE, name="c.csv")
    for _ in range(READ_AFTER):
        tables.scan(str(third.path))
    assert list(tables._tables) == [str(second.path), str(third.path)]


def test_an_evicted_table_is_read_from_the_file(make_table, resident):
    table = make_table(PEOPLE)
    for _ in range(READ_AFTER):
        encode_page(table, RowQuery(limit=1))
    name = resident._tables[str(table.path)][0]
    _drop(name)  # gone under a reader's feet (another thread evicted it)
    page = encode_page(table, RowQuery(filters=(Filter("district", "eq", "东城区"),), limit=1))
    assert page.total == 3 and str(table.path) not in resident._tables


def test_a_table_without_room_for_its_json_is_kept_without_it(make_table, monkeypatch, resident):
    table = make_table(PEOPLE)
    for _ in range(READ_AFTER):
        encode_page(table, RowQuery(limit=1))
    name, size, with_json = resident._tables[str(table.path)]
    resident.forget(str(table.path))
    sizes = ResidentTables(max_bytes=64 << 20)
    columns_only = sizes._load(str(table.path), None)
    _drop(columns_only[0])
    monkeypatch.setattr(resident, "max_bytes", MAX_SHARE * columns_only[1])  # room for the columns only
    query = RowQuery(filters=(Filter("district", "eq", "东城区"),), limit=2)
    for _ in range(READ_AFTER):
        page = encode_page(table, query)
    assert with_json and size > columns_only[1]
    assert resident._tables[str(table.path)][2] is False
    monkeypatch.setattr(resident, "max_bytes", 0)
    assert page == encode_page(table, query)


def test_a_load_does_not_hold_other_reads(make_table, monkeypatch):
    """While one thread loads a file, reads of it and of other files go on (from Parquet)."""
    tables = ResidentTables(max_bytes=64 << 20)
    first, second = make_table(PEOPLE, name="a.csv"), make_table(PEOPLE, name="b.csv")
    tables.scan(str(first.path))
    loading, release = threading.Event(), threading.Event()
    load = tables._load

    def slow_load(path, row_json):
        loading.set()
        release.wait(10)
        return load(path, row_json)

    monkeypatch.setattr(tables, "_load", slow_load)
    loader = threading.Thread(target=tables.scan, args=(str(first.path),))
    loader.start()
    assert loading.wait(10)
    during = [tables.scan(str(first.path)), tables.scan(str(second.path))]
    release.set()
    loader.join(10)
    assert all(not source.resident for source in during)
    assert tables.scan(str(first.path)).resident
