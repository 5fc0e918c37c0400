"""Hostile column names and values stay data: quoting, bound parameters, the connection."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest

from portal.store import (
    AggregateQuery,
    Filter,
    Measure,
    QueryError,
    RowQuery,
    Sort,
    aggregate,
    export,
    query_rows,
)
from portal.store.connection import connection
from portal.store.queries import OPERATORS, filter_sql
from portal.store.schema import Column, StoredTable
from portal.store.sql import quote_identifier, quote_literal

HOSTILE = [
    'a"; DROP TABLE x; --',
    "b'); SELECT 1; --",
    "c\" OR 1=1 --",
    "select",
    "名 称",
]


def test_quote_identifier():
    assert quote_identifier("a") == '"a"'
    assert quote_identifier('a"b') == '"a""b"'
    with pytest.raises(ValueError):
        quote_identifier("a\x00b")


def test_quote_literal():
    assert quote_literal("it's") == "'it''s'"


def test_every_operator_binds_its_values_and_quotes_its_column():
    table = StoredTable(Path("unused.parquet"), (Column('a"b', "text"),))
    for key, operator in OPERATORS.items():
        assert operator.key == key and operator.description
        value = {"one": "x", "two": ["x", "y"], "many": ["x", "y", "z"], "flag": True}[operator.arity]
        text, params = filter_sql(table, Filter('a"b', key, value))
        assert '"a""b"' in text and "x" not in text.replace('"a""b"', "")
        assert text.count("?") == len(params) == {"one": 1, "two": 2, "many": 3, "flag": 0}[operator.arity]


@pytest.fixture
def hostile(make_table):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows([HOSTILE, [1, "x", "y", "z", "w"], [2, "'; DROP TABLE t; --", '" OR 1=1', "%", "_"]])
    return make_table(buffer.getvalue())


def test_hostile_column_names_are_stored_and_queried(hostile):
    assert [c.name for c in hostile.columns] == HOSTILE
    page = query_rows(hostile, RowQuery(
        filters=(Filter(HOSTILE[1], "eq", "'; DROP TABLE t; --"),),
        sort=(Sort(HOSTILE[2], descending=True),),
        fields=(HOSTILE[0], HOSTILE[4]),
    ))
    assert page.rows == [(2, "_")]
    first = query_rows(hostile, RowQuery(sort=(Sort(HOSTILE[2]),), limit=1))
    after = query_rows(hostile, RowQuery(sort=(Sort(HOSTILE[2]),), cursor=first.next_cursor))
    assert [r[0] for r in first.rows + after.rows] == [2, 1]  # '"' sorts before 'y'



@pytest.mark.parametrize(
    "value", ["x' OR '1'='1", "x\" OR 1=1 --", "%", "_", "'; DROP TABLE t; --", "\\", "\x01"]
)
def test_hostile_values_are_bound(hostile, value):
    for op in ("eq", "contains", "startswith"):
        rows = query_rows(hostile, RowQuery(filters=(Filter(HOSTILE[1], op, value),))).rows
        expected = [r for r in ("x", "'; DROP TABLE t; --")
                    if (r == value if op == "eq" else value in r if op == "contains"
                        else r.startswith(value))]
        assert [r[1] for r in rows] == expected


def test_wildcards_are_literal(hostile):
    assert [r[0] for r in query_rows(hostile, RowQuery(
        filters=(Filter(HOSTILE[3], "contains", "%"),))).rows] == [2]


@pytest.mark.parametrize("name", ['id" FROM x; --', "*", "1", "file_row_number", ""])
def test_unknown_names_are_refused_not_pasted(people, name):
    with pytest.raises(QueryError) as caught:
        query_rows(people, RowQuery(fields=(name,)))
    assert caught.value.code == "unknown-column"
    with pytest.raises(QueryError):
        aggregate(people, AggregateQuery(group_by=(name,)))


def test_operator_keys_are_not_sql(people):
    with pytest.raises(QueryError) as caught:
        query_rows(people, RowQuery(filters=(Filter("age", "= 1 OR 1=1 --", 1),)))
    assert caught.value.code == "unknown-operator"


def test_hostile_aliases_and_exports(hostile):
    result = aggregate(hostile, AggregateQuery(
        group_by=(HOSTILE[4],), measures=(Measure("sum", HOSTILE[0], alias='s"; --'),)))
    assert result.columns == (HOSTILE[4], 's"; --')
    records = json.loads(b"".join(export(hostile, "json")))
    assert list(records[1]) == HOSTILE and records[1][HOSTILE[2]] == '" OR 1=1'


def test_one_connection_per_process_reopened_after_fork():
    first = connection()
    assert connection() is first
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: must not reuse the parent's connection
        os.close(read)
        child = connection()
        ok = child is not first and child.execute("SELECT 41 + 1").fetchone()[0] == 42
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.close(write)
    answer = os.read(read, 1)
    os.close(read)
    os.waitpid(pid, 0)
    assert answer == b"1"
    assert connection() is first
