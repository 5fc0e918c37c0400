"""`store.values_in_text`: which stored values of the watched columns a public text repeats
(the load's warning of decision 0029c)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from portal.store import values_in_text

TABLE = pa.table({"pid": ["P9999", "P0001", "P0002"], "income": [52000, 1234567, 310],
                  "visit": pa.array([19000, 19001, 19002], pa.date32())})


def _stored(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(TABLE, path)
    return path


def test_values_are_found_as_stored_and_with_their_thousands_grouped(tmp_path):
    path = _stored(tmp_path)
    assert values_in_text(path, ["pid", "income"], "P9999 收入更正为 52000") == {"pid": ["P9999"], "income": ["52000"]}
    assert values_in_text(path, ["income"], "income corrected to 52,000; another 1,234,567") == {
        "income": ["1234567", "52000"]}


def test_short_values_and_other_spellings_are_not_looked_for(tmp_path):
    """Under four characters a value is in every text ("310" in a date); "5.2万" is not a spelling
    the store writes; dates are written once, as stored."""
    path = _stored(tmp_path)
    assert values_in_text(path, ["income", "visit"], "310 rooms, 5.2万 yuan, 2022年1月") == {}
    assert values_in_text(path, ["visit"], "visited on 2022-01-08") == {"visit": ["2022-01-08"]}
    assert values_in_text(path, ["pid"], "") == {}
