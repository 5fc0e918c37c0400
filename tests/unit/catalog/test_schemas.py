"""Query-string parsing: malformed values become BadRequest, oversize pages are clamped."""

import pytest

from portal import store
from portal.catalog.schemas import ListParams, PreviewParams
from portal.errors import BadRequest

COLUMNS = (store.Column("origin", "text"), store.Column("dep_delay", "integer"), store.Column("day", "date"))


def preview(args):
    return PreviewParams.parse(args, COLUMNS, default_size=25, max_size=500)


@pytest.mark.parametrize("page", ["-1", "0", "abc", "1.5", "9" * 30])
def test_bad_page_is_refused(page):
    with pytest.raises(BadRequest) as info:
        preview({"page": page})
    assert info.value.code == "bad-parameter"
    with pytest.raises(BadRequest):
        ListParams.parse({"page": page}, per_page=20)


def test_huge_page_size_is_clamped():
    assert preview({"size": "100000"}).size == 500


def test_sort_and_filters_are_parsed():
    params = preview({"sort": "-dep_delay,origin", "origin__eq": "JFK", "dep_delay__between": "10, 20",
                      "day__is_null": "0", "page": "3", "size": "10"})
    assert params.sort == (store.Sort("dep_delay", True), store.Sort("origin", False))
    assert store.Filter("origin", "eq", "JFK") in params.filters
    assert store.Filter("dep_delay", "between", ["10", "20"]) in params.filters
    assert store.Filter("day", "is_null", False) in params.filters
    assert params.offset == 20
    assert params.sort_arg() == "-dep_delay,origin"


@pytest.mark.parametrize("args, code", [
    ({"sort": "nope"}, "unknown-column"),
    ({"sort": "-origin; DROP TABLE x"}, "unknown-column"),
    ({"nope__eq": "1"}, "unknown-column"),
    ({"origin__like": "1"}, "unknown-operator"),
])
def test_unknown_columns_and_operators(args, code):
    with pytest.raises(BadRequest) as info:
        preview(args)
    assert info.value.code == code


def test_list_sort_must_be_known():
    with pytest.raises(BadRequest):
        ListParams.parse({"sort": "random"}, per_page=20)
    params = ListParams.parse({"theme": "transport", "page": "2"}, per_page=20)
    assert params.as_args(page=3) == {"theme": "transport", "page": 3}
