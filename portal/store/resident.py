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

When it also fits, a table carries each row's JSON text (`ROW_JSON`, written by the page
encoder's own expression, `pages.row_json`): a page of all the fields then selects one column
instead of binding, projecting and encoding every field (decision 0022g: ~1.2 ms against ~4 ms
of CPU a flights page). It costs memory (flights: 66 MB of columns, 106 MB of JSON), so it is
added only when the table with it still takes at most its share of the budget.

A load runs outside the lock that guards the tables (decision 0022g): under concurrency the
loading request used to hold every other row read of the process for the load's duration (a
second or more on a loaded machine, the p99 of the c=8 benchmark). Other reads of the same file
read Parquet meanwhile; a file is loaded by one thread only.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import duckdb

from portal.store import sql
from portal.store.connection import connection

READ_AFTER = 2  # a file is loaded on its second read, so a one-off request never pays the load
MAX_SHARE = 2  # one table may take at most half the budget
ROW_JSON = "__kaifang_row_json"  # the column holding each row's JSON text, when there is one
JSON_SAMPLE = 2048  # rows whose JSON text estimates the column's size before it is built


@dataclass(frozen=True)
class Source:
    """Where a page reads `path`: the FROM clause, its parameters, and whether it has `ROW_JSON`."""

    clause: str
    params: list[object]
    row_json: bool = False

    @property
    def resident(self) -> bool:
        return not self.params


class ResidentTables:
    def __init__(self, max_bytes: int = 0) -> None:
        self.max_bytes = max_bytes
        self._tables: OrderedDict[str, tuple[str, int]] = OrderedDict()  # path -> (table, bytes)
        self._reads: dict[str, int] = {}
        self._refused: set[str] = set()
        self._loading: set[str] = set()
        self._owner: object | None = None  # the connection the tables live on
        self._lock = threading.Lock()

    def scan(self, path: str, row_json: Callable[[], str] | None = None) -> Source:
        """Where to read `path` (with `file_row_number`). `row_json` gives the SQL expression of a
        row's JSON text over the file's columns, for the `ROW_JSON` column of a table loaded now."""
        if self.max_bytes > 0:
            entry = self._table(path, row_json)
            if entry is not None:
                return Source(entry[0], [], entry[2])
        return Source(sql.SCAN.format(path="?"), [path])

    def forget(self, path: str) -> None:
        """Drop `path`'s table (a caller found it gone, or the file was deleted)."""
        with self._lock:
            entry = self._tables.pop(path, None)
        if entry is not None:
            _drop(entry[0])

    def _table(self, path: str, row_json: Callable[[], str] | None) -> tuple[str, int, bool] | None:
        with self._lock:
            owner = self._check_owner()
            entry = self._tables.get(path)
            if entry is not None:
                self._tables.move_to_end(path)
                return entry
            if path in self._refused or path in self._loading:
                return None
            self._reads[path] = self._reads.get(path, 0) + 1
            if self._reads[path] < READ_AFTER or len(self._reads) > 10_000:
                if len(self._reads) > 10_000:
                    self._reads.clear()
                return None
            self._reads.pop(path, None)
            self._loading.add(path)
        try:
            loaded = self._load(path, row_json)
        finally:
            with self._lock:
                self._loading.discard(path)
        return self._keep(path, loaded, owner)

    def _check_owner(self) -> object:
        current = connection()
        if current is not self._owner:  # a new process (fork): the old tables are not here
            self._tables.clear()
            self._reads.clear()
            self._refused.clear()
            self._loading.clear()
            self._owner = current
        return current

    def _load(self, path: str, row_json: Callable[[], str] | None) -> tuple[str, int, bool] | None:
        """Load `path` as a table (outside the lock: other reads go on meanwhile); None if it
        does not fit its share of the budget."""
        name = sql.quote_identifier("resident_" + hashlib.blake2b(path.encode(), digest_size=12).hexdigest())
        share = self.max_bytes // MAX_SHARE
        con = connection().cursor()
        try:
            start = _memory(con)
            con.execute(sql.RESIDENT_TABLE.format(table=name, path=sql.quote_literal(path)))
            # Other threads' queries move the counter too: never count less than the file.
            size = max(_memory(con) - start, os.path.getsize(path))
            if size > share:
                con.execute(sql.DROP_RESIDENT.format(table=name))
                return None
            if row_json is None:
                return name, size, False
            expression = row_json()
            rows, sample = con.execute(sql.ROW_JSON_SIZE.format(table=name, expr=expression, rows=JSON_SAMPLE)).fetchone()
            if size + int(rows * (sample or 0) * 1.25) > share:  # strings carry some overhead besides their text
                return name, size, False
            con.execute(sql.RESIDENT_ADD_JSON.format(table=name, column=sql.quote_identifier(ROW_JSON), expr=expression))
            return name, max(_memory(con) - start, size), True
        finally:
            con.close()

    def _keep(self, path: str, loaded: tuple[str, int, bool] | None, owner: object) -> tuple[str, int, bool] | None:
        """Remember a loaded table and drop the least recently read ones beyond the budget."""
        with self._lock:
            if owner is not self._owner:  # forked meanwhile: the table is not on this connection
                return None
            if loaded is None:
                self._refused.add(path)
                return None
            self._tables[path] = loaded
            dropped = []
            while sum(entry[1] for entry in self._tables.values()) > self.max_bytes and len(self._tables) > 1:
                _, old = self._tables.popitem(last=False)
                dropped.append(old[0])
        for old in dropped:
            _drop(old)
        return loaded


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
