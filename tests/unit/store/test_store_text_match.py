"""`TextMatch`: any column, read as text, contains the words (CKAN datastore's plain `q`)."""

from __future__ import annotations

import pytest

from portal.store import Filter, QueryError, RowQuery, TextMatch, query_rows


def _ids(table, *filters) -> list[int]:
    return [row[0] for row in query_rows(table, RowQuery(filters=filters, fields=("id",), limit=100)).rows]


@pytest.mark.parametrize(("text", "expected"), [
    ("东城", [1, 3, 8]),          # text column
    ("92.25", [2, 6]),           # a decimal read as text
    ("2020-01", [1, 6]),         # a date read as text
    ("TRUE", [1, 3, 6, 7]),      # case-insensitive, booleans too
    ("no such thing", []),
])
def test_any_column_contains(people, text, expected):
    assert _ids(people, TextMatch(text)) == expected


def test_combines_with_filters(people):
    assert _ids(people, TextMatch("东城"), Filter("age", "eq", "28")) == [3, 8]


def test_quotes_and_wildcards_are_plain_text(people):
    assert _ids(people, TextMatch("%")) == [] and _ids(people, TextMatch("' OR 1=1 --")) == []


def test_empty_text_is_refused(people):
    with pytest.raises(QueryError) as caught:
        query_rows(people, RowQuery(filters=(TextMatch(""),)))
    assert caught.value.code == "invalid-value"
