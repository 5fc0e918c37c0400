"""`encode_page`: the same rows, order and cursors as `query_rows`, already encoded as JSON
text or CSV, with JSON-ready values (ISO dates and times, NaN as null)."""

from __future__ import annotations

import json
import math

from portal.serialise import plain
from portal.store import Filter, RowQuery, Sort, encode_page, query_rows
from tests.unit.store.conftest import PEOPLE

TIMES = "seq,at,ratio,day\n1,2024-01-02 03:04:05,0.5,2024-01-02\n2,2024-01-03 00:00:00,1.25,\n3,,,2024-02-29\n"


def _json_rows(table, query):
    page = encode_page(table, query, "json")
    return [json.loads(row) for row in page.rows], page


def test_json_pages_match_query_rows_page_by_page(make_table):
    table = make_table(PEOPLE)
    query = RowQuery(filters=(Filter("age", "ge", "28"),), sort=(Sort("score", descending=True),), limit=2)
    while True:
        expected = query_rows(table, query)
        rows, page = _json_rows(table, query)
        names = [c.name for c in expected.columns]
        assert rows == [dict(zip(names, plain(list(r)), strict=True)) for r in expected.rows]
        assert (page.total, page.next_cursor) == (expected.total, expected.next_cursor)
        if page.next_cursor is None:
            break
        query = RowQuery(filters=query.filters, sort=query.sort, limit=2, cursor=page.next_cursor)


def test_values_are_json_ready(make_table):
    table = make_table(TIMES)
    rows, _ = _json_rows(table, RowQuery(limit=10))
    assert rows[0] == {"seq": 1, "at": "2024-01-02T03:04:05Z", "ratio": 0.5, "day": "2024-01-02"}
    assert rows[2]["ratio"] is None and rows[2]["at"] is None and rows[1]["day"] is None
    assert not any(isinstance(v, float) and not math.isfinite(v) for r in rows for v in r.values())


def test_csv_page_with_fields_and_a_sort_key_that_is_also_a_field(make_table):
    table = make_table(PEOPLE)
    page = encode_page(table, RowQuery(fields=("name", "age"), sort=(Sort("age"),), limit=3), "csv")
    lines = page.csv.decode().splitlines()
    assert lines[0] == '"name","age"' and len(lines) == 4
    assert page.next_cursor == query_rows(table, RowQuery(fields=("name", "age"), sort=(Sort("age"),), limit=3)).next_cursor


def test_totals_are_cached_per_filter_set(make_table):
    table = make_table(PEOPLE)
    first = encode_page(table, RowQuery(filters=(Filter("district", "eq", "东城区"),), limit=1), "json")
    other = encode_page(table, RowQuery(filters=(Filter("district", "eq", "西城区"),), limit=1), "json")
    assert (first.total, other.total) == (3, 2)
    assert encode_page(table, RowQuery(limit=1), "ndjson").total == 8
