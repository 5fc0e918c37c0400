"""The preview form's canonical address: only filters in effect, shorthand read by column type."""

from __future__ import annotations

import pytest

from portal import store
from portal.catalog.previewforms import canonical_args, form_state, operators_for

COLUMNS = (store.Column("origin", "text"), store.Column("dep_delay", "integer"),
           store.Column("day", "date"), store.Column("cancelled", "boolean"))


@pytest.mark.parametrize("args, wanted", [
    ({"origin__contains": "", "dep_delay__eq": ""}, {}),
    ({"origin__contains": " JFK "}, {"origin__contains": "JFK"}),
    ({"dep_delay__eq": ">60"}, {"dep_delay__gt": "60"}),
    ({"dep_delay__eq": "≤ -5"}, {"dep_delay__le": "-5"}),
    ({"dep_delay__eq": "-5"}, {"dep_delay__eq": "-5"}),
    ({"dep_delay__eq": "10..20"}, {"dep_delay__between": "10,20"}),
    ({"day__eq": "2013-01-01..2013-01-31"}, {"day__between": "2013-01-01,2013-01-31"}),
    ({"day__eq": "2013-01-01"}, {"day__eq": "2013-01-01"}),
    ({"origin__eq": ">JFK"}, {"origin__eq": ">JFK"}),  # text is taken as written
    ({"sort": "", "page": "3", "nope__eq": "1"}, {"page": "3", "nope__eq": "1"}),  # unknown kept, to be explained
])
def test_canonical_args(args, wanted):
    assert canonical_args(args, COLUMNS) == wanted


def test_a_submitted_form_uses_the_chosen_operators_and_starts_at_page_one():
    args = {"op.origin": "startswith", "origin__contains": "J", "op.dep_delay": "between",
            "dep_delay__eq": "1 – 9", "op.cancelled": "notempty", "cancelled__eq": "", "page": "4", "sort": "-day"}
    assert canonical_args(args, COLUMNS) == {"origin__startswith": "J", "dep_delay__between": "1,9",
                                             "cancelled__is_null": "0", "sort": "-day"}


def test_form_state_and_operators():
    assert form_state({"day__is_null": "1", "dep_delay__gt": "5", "dep_delay__lt": "9"}) == {
        "day": ("empty", ""), "dep_delay": ("gt", "5")}
    assert operators_for("text")[0] == "contains" and "between" in operators_for("date")
    assert operators_for("boolean") == ("eq", "empty", "notempty")
