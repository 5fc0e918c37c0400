"""Version files held in this process's DuckDB as in-memory tables, for page-sized reads.

A filtered page of flights read from Parquet costs ~3.5 ms, most of it decoding the matching
16,384-row groups of every column; the same page from an in-memory table costs ~1.6 ms. A
version's file never changes, so its table can be loaded once (~0.1 s for flights) and kept: the
row API asks `scan(path)` for the FROM clause of its page and count queries, and gets the
resident table when there is one, or `read_parquet` otherwise.

The memory is bounded per process (`configure(max_bytes)`, the API_RESIDENT_MB setting; 0 turns
this off): a file is loaded only if its table fits, the least recently read go first. A table
holds the file's columns plus `file_row_number`, so filters, sort keys and cursors mean the
same on both. The tables live on the process's connection and are forgotten with it after a
fork. Nothing here decides who may read what: callers pass only paths the catalog handed them.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict

import duckdb

from portal.store import sql
from portal.store.connection import connection

READ_AFTER = 2  # a file is loaded on its second read, so a one-off request never pays the load
MAX_SHARE = 2  # one table may take at most half the budget


class ResidentTables:
    def __init__(self, max_bytes: int = 0) -> None:
        self.max_bytes = max_bytes
        self._tables: OrderedDict[str, tuple[str, int]] = OrderedDict()  # path -> (table, bytes)
        self._reads: dict[str, int] = {}
        self._refused: set[str] = set()
        self._owner: object | None = None  # the connection the tables live on
        self._lock = threading.Lock()

    def scan(self, path: str) -> tuple[str, list[object]]:
        """The FROM clause reading `path` (with `file_row_number`) and its parameters."""
        if self.max_bytes > 0:
            table = self._table(path)
            if table is not None:
                return table, []
        return sql.SCAN.format(path="?"), [path]

    def forget(self, path: str) -> None:
        """Drop `path`'s table (a caller found it gone, or the file was deleted)."""
        with self._lock:
            entry = self._tables.pop(path, None)
        if entry is not None:
            _drop(entry[0])

    def _table(self, path: str) -> str | None:
        with self._lock:
            self._check_owner()
            entry = self._tables.get(path)
            if entry is not None:
                self._tables.move_to_end(path)
                return entry[0]
            if path in self._refused:
                return None
            self._reads[path] = self._reads.get(path, 0) + 1
            if self._reads[path] < READ_AFTER or len(self._reads) > 10_000:
                if len(self._reads) > 10_000:
                    self._reads.clear()
                return None
            self._reads.pop(path, None)
            return self._load(path)

    def _check_owner(self) -> None:
        current = connection()
        if current is not self._owner:  # a new process (fork): the old tables are not here
            self._tables.clear()
            self._reads.clear()
            self._refused.clear()
            self._owner = current

    def _load(self, path: str) -> str | None:
        """Load `path` (under the lock: one load at a time, and never the same file twice)."""
        name = sql.quote_identifier("resident_" + hashlib.blake2b(path.encode(), digest_size=12).hexdigest())
        con = connection().cursor()
        try:
            before = _memory(con)
            con.execute(sql.RESIDENT_TABLE.format(table=name, path=sql.quote_literal(path)))
            # Other threads' queries move the counter too: never count less than the file.
            size = max(_memory(con) - before, os.path.getsize(path))
        finally:
            con.close()
        if size > self.max_bytes // MAX_SHARE:
            _drop(name)
            self._refused.add(path)
            return None
        self._tables[path] = (name, size)
        while sum(b for _, b in self._tables.values()) > self.max_bytes and len(self._tables) > 1:
            _, (old, _) = self._tables.popitem(last=False)
            _drop(old)
        return name


def _memory(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute(sql.MEMORY_USED).fetchone()[0]


def _drop(table: str) -> None:
    con = connection().cursor()
    try:
        con.execute(sql.DROP_RESIDENT.format(table=table))
    finally:
        con.close()


RESIDENT = ResidentTables()


def configure(max_megabytes: int) -> None:
    RESIDENT.max_bytes = max_megabytes << 20
