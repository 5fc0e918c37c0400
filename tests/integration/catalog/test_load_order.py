"""The order a version's rows are stored in: the publisher's (decision 0027c)."""

from __future__ import annotations

import duckdb
from sqlalchemy import select

from portal.catalog.models import Version
from portal.db import session_scope
from tests.factories import dataset_folder, load


def test_a_large_file_is_stored_in_the_publisher_s_row_order(app, tmp_path, monkeypatch):
    """The catalog loads in source order (decision 0027c): the automatic clustering's Z-order is
    made afterwards as a copy, so previews and downloads keep the rows as published."""
    from portal.store import clustering

    monkeypatch.setattr(clustering, "MIN_BYTES", 0)  # every file counts as large
    names = ["河西区", "河东区", "和平区"] * 20
    csv = "code,name,population,founded\n" + "".join(
        f"{i:06d},{name},{1000 + i},2000-01-01\n" for i, name in enumerate(names))
    load(app, dataset_folder(tmp_path / "src", csv=csv))
    with session_scope(app) as s:
        stored = app.config["DATA_DIR"] + "/" + s.scalar(select(Version.storage_path))
    rows = duckdb.sql(f"SELECT name FROM read_parquet('{stored}')").fetchall()
    assert [r[0] for r in rows] == names
