"""`store.gaps`, the check of `constraints.required` at ingest (decision 0028e's denominators):
the file's own null counts first, a scan of the records only when they say a column has gaps
or say nothing."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from portal.store import constraints, gaps

TABLE = pa.table({"full": [1, 2, 3, 4, 5], "holed": [1, None, 3, None, 5], "late": ["a", "b", "c", "d", None]})


@pytest.fixture
def no_scan(monkeypatch):
    """The records' scan fails if it runs."""
    monkeypatch.setattr(constraints, "GAPS", "SELECT error('the records were scanned')")


def test_columns_without_gaps_cost_no_scan(tmp_path, no_scan):
    path = tmp_path / "t.parquet"
    pq.write_table(TABLE, path, row_group_size=2)
    assert gaps(path, ["full"]) == {}


def test_gaps_are_counted_with_the_first_record_s_number(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(TABLE, path, row_group_size=2)
    assert gaps(path, ["full", "holed", "late"]) == {"holed": (2, 2), "late": (1, 5)}


def test_a_file_without_statistics_is_scanned(tmp_path):
    """No null counts in the file (a writer that keeps none): the stats say nothing, so every
    asked column is scanned, and one without gaps is left out."""
    path = tmp_path / "t.parquet"
    pq.write_table(TABLE, path, write_statistics=False)
    assert gaps(path, ["full", "holed"]) == {"holed": (2, 2)}


def test_the_first_gap_s_number_is_the_file_s_own_order(tmp_path):
    """Thirty row groups, one gap deep in the file: its number is the file's own row number."""
    values = list(range(300_000))
    values[249_999] = None
    path = tmp_path / "many.parquet"
    pq.write_table(pa.table({"n": values}), path, row_group_size=10_000)
    assert gaps(path, ["n"]) == {"n": (1, 250_000)}
