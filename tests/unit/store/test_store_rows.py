"""Row queries: every operator, sorting, fields, offset and keyset paging, totals, errors."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest

from portal.store import Column, Filter, QueryError, RowQuery, Sort, query_rows

ALL = RowQuery(limit=100)


def _ids(table, *filters) -> list[int]:
    page = query_rows(table, RowQuery(filters=filters, fields=("id",), limit=100))
    assert page.total == len(page.rows)
    return [row[0] for row in page.rows]


def test_columns_are_typed(people):
    assert [c.type for c in people.columns] == [
        "integer", "text", "text", "integer", "decimal", "date", "boolean",
    ]


def test_first_page_in_file_order(people):
    page = query_rows(people, ALL)
    assert page.total == 8 and page.next_cursor is None
    assert page.rows[0] == (1, "张三", "东城区", 34, Decimal("81.50"), dt.date(2020, 1, 5), True)
    assert [r[0] for r in page.rows] == [1, 2, 3, 4, 5, 6, 7, 8]


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (Filter("district", "eq", "东城区"), [1, 3, 8]),
        (Filter("age", "eq", "28"), [3, 5, 8]),
        (Filter("district", "ne", "东城区"), [2, 4, 5, 6, 7]),
        (Filter("age", "lt", 34), [3, 5, 8]),
        (Filter("age", "le", 34), [1, 3, 5, 8]),
        (Filter("score", "gt", "81.5"), [2, 6]),
        (Filter("score", "ge", 81.5), [1, 2, 3, 6, 8]),
        (Filter("joined", "lt", "2019-12-31"), [2, 4, 8]),
        (Filter("district", "in", ["西城区", "朝阳区"]), [2, 5, 6, 7]),
        (Filter("age", "in", (28, 51)), [3, 5, 6, 8]),
        (Filter("age", "between", [30, 50]), [1, 4]),
        (Filter("joined", "between", ["2020-01-01", "2021-12-31"]), [1, 3, 6]),
        (Filter("name", "contains", "五"), [3]),
        (Filter("district", "startswith", "西"), [2, 6]),
        (Filter("age", "contains", "8"), [3, 5, 8]),
        (Filter("age", "is_null", True), [2, 7]),
        (Filter("age", "is_null", False), [1, 3, 4, 5, 6, 8]),
        (Filter("active", "eq", "false"), [2, 5, 8]),
        (Filter("district", "is_null", None), [4]),
    ],
)
def test_each_operator(people, flt, expected):
    assert _ids(people, flt) == expected


def test_filters_are_anded(people):
    assert _ids(people, Filter("district", "eq", "东城区"), Filter("age", "eq", 28)) == [3, 8]


def test_multi_column_sort_with_nulls_last(people):
    page = query_rows(people, RowQuery(sort=(Sort("score", descending=True), Sort("age")),
                                       fields=("id", "score", "age")))
    assert page.rows == [
        (6, Decimal("92.25"), 51), (2, Decimal("92.25"), None),
        (3, Decimal("81.50"), 28), (8, Decimal("81.50"), 28), (1, Decimal("81.50"), 34),
        (5, Decimal("77.00"), 28), (7, Decimal("60.75"), None), (4, None, 45),
    ]


def test_field_selection(people):
    page = query_rows(people, RowQuery(fields=("name", "id"), limit=2, with_total=False))
    assert page.columns == (Column("name", "text"), Column("id", "integer"))
    assert page.rows == [("张三", 1), ("李四", 2)]
    assert page.total is None


def _walk_cursor(table, query: RowQuery) -> list[tuple]:
    rows, cursor = [], None
    for _ in range(100):
        page = query_rows(table, RowQuery(**{**query.__dict__, "cursor": cursor}))
        rows += page.rows
        cursor = page.next_cursor
        if cursor is None:
            return rows
    raise AssertionError("cursor pages never ended")


def _walk_offset(table, query: RowQuery) -> list[tuple]:
    rows, offset = [], 0
    while True:
        page = query_rows(table, RowQuery(**{**query.__dict__, "offset": offset}))
        rows += page.rows
        if len(page.rows) < query.limit:
            return rows
        offset += query.limit


SORTS = [
    (),
    (Sort("age"),),
    (Sort("age", descending=True),),
    (Sort("district"), Sort("age", descending=True)),
    (Sort("score", descending=True), Sort("joined"), Sort("active")),
    (Sort("active", descending=True), Sort("district", descending=True)),
]


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("limit", [1, 2, 3, 5])
def test_keyset_and_offset_pages_are_the_same(people, sort, limit):
    query = RowQuery(sort=sort, limit=limit, with_total=False)
    by_cursor = _walk_cursor(people, query)
    assert by_cursor == _walk_offset(people, query)
    assert by_cursor == query_rows(people, RowQuery(sort=sort, limit=100)).rows
    assert sorted(r[0] for r in by_cursor) == list(range(1, 9))


def test_keyset_with_filters_and_many_ties(make_table):
    lines = ["k,v,n"] + [f"{i % 3},{'' if i % 4 == 0 else i % 5},{i}" for i in range(200)]
    table = make_table("\n".join(lines) + "\n")
    for sort in itertools.permutations([Sort("k"), Sort("v", descending=True)]):
        query = RowQuery(filters=(Filter("n", "ge", 17),), sort=sort, limit=7, with_total=False)
        walked = _walk_cursor(table, query)
        assert walked == _walk_offset(table, query)
        assert len(walked) == 183 and len({r[2] for r in walked}) == 183


def test_a_cursor_from_another_sort_is_refused(people):
    cursor = query_rows(people, RowQuery(sort=(Sort("age"),), limit=2)).next_cursor
    with pytest.raises(QueryError) as caught:
        query_rows(people, RowQuery(sort=(Sort("name"),), cursor=cursor))
    assert caught.value.code == "invalid-cursor"


@pytest.mark.parametrize("cursor", ["garbage", "W10", "WyJ4IiwgWzFdLCAxXQ"])
def test_a_forged_cursor_is_refused(people, cursor):
    with pytest.raises(QueryError) as caught:
        query_rows(people, RowQuery(sort=(Sort("age"),), cursor=cursor))
    assert caught.value.code == "invalid-cursor"


@pytest.mark.parametrize(
    ("query", "code", "field"),
    [
        (RowQuery(filters=(Filter("nope", "eq", 1),)), "unknown-column", "nope"),
        (RowQuery(sort=(Sort("nope"),)), "unknown-column", "nope"),
        (RowQuery(fields=("id", "nope")), "unknown-column", "nope"),
        (RowQuery(filters=(Filter("age", "like", 1),)), "unknown-operator", "age"),
        (RowQuery(filters=(Filter("age", "eq", "abc"),)), "invalid-value", "age"),
        (RowQuery(filters=(Filter("age", "eq", 1.5),)), "invalid-value", "age"),
        (RowQuery(filters=(Filter("joined", "gt", "2020-13-45"),)), "invalid-value", "joined"),
        (RowQuery(filters=(Filter("active", "eq", "maybe"),)), "invalid-value", "active"),
        (RowQuery(filters=(Filter("score", "lt", "NaN"),)), "invalid-value", "score"),
        (RowQuery(filters=(Filter("age", "between", [1]),)), "invalid-value", "age"),
        (RowQuery(filters=(Filter("age", "in", []),)), "invalid-value", "age"),
        (RowQuery(filters=(Filter("age", "in", 5),)), "invalid-value", "age"),
        (RowQuery(filters=(Filter("age", "eq", None),)), "invalid-value", "age"),
        (RowQuery(limit=0), "invalid-limit", "limit"),
        (RowQuery(limit=10_001), "invalid-limit", "limit"),
        (RowQuery(offset=-1), "invalid-offset", "offset"),
        (RowQuery(fields=()), "no-fields", "fields"),
    ],
)
def test_bad_queries(people, query, code, field):
    with pytest.raises(QueryError) as caught:
        query_rows(people, query)
    assert (caught.value.code, caught.value.field) == (code, field)


def test_limit_of_ten_thousand_is_allowed(people):
    assert len(query_rows(people, RowQuery(limit=10_000)).rows) == 8


def test_describe_filters():
    from portal.store.queries import describe

    assert describe(Filter("age", "between", [1, 2])) == "age is between 1 and 2"
    assert describe(Filter("d", "in", ["a", "b"])) == "d is one of a, b"
    assert describe(Filter("d", "is_null", False)) == "d is not empty"
