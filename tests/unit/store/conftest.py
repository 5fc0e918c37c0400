"""Fixtures for the store's unit tests: a destination folder and a small stored table."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.store import StoredTable, ingest


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    """An empty destination directory for stored versions."""
    path = tmp_path / "store"
    path.mkdir()
    return path


@pytest.fixture
def make_table(tmp_path: Path):
    """A function that ingests `text` (UTF-8) and returns the StoredTable the catalog would."""

    def make(text: str, *, name: str = "data.csv", **options) -> StoredTable:
        source = tmp_path / name
        source.write_text(text, encoding="utf-8")
        result = ingest(source, tmp_path / "store", **options)
        return StoredTable(result.path, result.columns)

    return make


PEOPLE = """id,name,district,age,score,joined,active
1,张三,东城区,34,81.50,2020-01-05,true
2,李四,西城区,,92.25,2019-03-10,false
3,王五,东城区,28,81.50,2021-07-21,true
4,赵六,,45,,2018-11-30,
5,钱七,朝阳区,28,77.00,,false
6,孙八,西城区,51,92.25,2020-01-05,true
7,周九,朝阳区,,60.75,2022-02-14,true
8,吴十,东城区,28,81.50,2019-03-10,false
"""


@pytest.fixture
def people(make_table) -> StoredTable:
    """Eight people with NULLs in most columns and ties in sort keys; `id` declared an integer
    (by its name alone it would be a code, text)."""
    return make_table(PEOPLE, name="people.csv", overrides={"id": "integer"})
