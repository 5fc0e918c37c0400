"""Brokers over small hand-made tables, for attacks that need data the bundled sets do not have
(zeros, missing values): the broker is called directly, without a sandbox or an app."""

from __future__ import annotations

import duckdb

from portal import store
from portal.analysis.broker import Broker, GrantedSource
from portal.analysis.disclosure import CellKeyNoise, Rules


def small_table(path, schema: str, rows: list[tuple]):
    """Write a small table (data the bundled sets do not have: zeros, missing values) to Parquet
    at `path` once; `schema` is the column list of DuckDB's CREATE TABLE. Returns `path`."""
    if not path.exists():
        con = duckdb.connect()
        con.execute(f"CREATE TABLE t ({schema})")
        con.executemany(f"INSERT INTO t VALUES ({', '.join('?' * len(rows[0]))})", rows)
        con.execute(f"COPY t TO '{path}' (FORMAT parquet)")
        con.close()
    return path


def small_broker(path, info, columns, *, salt: int, key: bytes):
    """A broker granting one small table with default rules. Each call has a memory of its own,
    so a test builds one for the target's world and one for the ghost's over the same file."""
    granted = GrantedSource(info, store.StoredTable(path, columns), Rules(), row_salt=salt)
    return Broker({info.slug: granted}, noise=CellKeyNoise(key), budget_left={}, quantum=0)
