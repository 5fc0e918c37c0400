"""The one DuckDB connection of this process, and a cursor per call.

DuckDB connections must not cross a fork (the child would share the parent's file handles and
thread pool), and opening one costs ~19 ms a request on this machine. So the connection opens
lazily, is remembered with the pid that opened it, and is reopened when `os.getpid()` changes.
Callers take a `cursor()` per call or thread: cursors share the database and its caches but
not their state.

The sandbox broker answers analysts' plans on a *confined* connection instead (`confined()`):
its own in-memory database with a memory limit and a thread cap, that may read only the Parquet
files of the run's datasets (DuckDB's `allowed_paths`, then `enable_external_access = false`,
then `lock_configuration`, so no statement can lift them), and whose queries can all be
interrupted from another thread when the run's wall clock runs out. While a `confined()` block
is active in a thread (a context variable), `cursor()` in that thread hands out its cursors, so
the store's plan functions need not know.

Both keep a join's build side where the plan puts it (`NO_SIDE_SWAP`): the right side, which
for an analyst's plan is the open data joined onto the conditional records. DuckDB otherwise
builds its hash table on the side it estimates smaller — the conditional records after a
narrow filter — and skips the probe side altogether when that table comes out empty, so an
expensive open side was computed only when the conditional side held a record: one record
decided hundreds of milliseconds of work, past the broker's answer quantum (nineteenth round,
decision 0028g).
"""

from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import duckdb

_lock = threading.Lock()
_state: dict[str, object] = {"pid": None, "connection": None}
NO_EXTENSIONS = {"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}
# A join builds on its right side as written: the work of the open side joined onto conditional
# records never depends on whether any of them passed the plan's filters (module docstring).
NO_SIDE_SWAP = {"disabled_optimizers": "build_side_probe_side"}


def _open() -> duckdb.DuckDBPyConnection:
    # The network is closed and extensions are not vendored: never try to fetch one.
    return duckdb.connect(":memory:", config={**NO_EXTENSIONS, **NO_SIDE_SWAP})


class Confined:
    """A locked-down database that may read only `paths`; shared by the runs over those files."""

    def __init__(self, paths: frozenset[str], *, memory_limit: str, threads: int):
        self._connection = duckdb.connect(":memory:", config={**NO_EXTENSIONS, **NO_SIDE_SWAP, "memory_limit": memory_limit,
                                                             "threads": str(threads)})
        self._connection.execute("SET allowed_paths = ?", [sorted(paths)])
        self._connection.execute("SET enable_external_access = false")
        self._connection.execute("SET lock_configuration = true")
        self.leases = 0

    def cursor(self) -> duckdb.DuckDBPyConnection:
        return self._connection.cursor()

    def close(self) -> None:
        self._connection.close()


class Lease:
    """One run's use of a confined database: its cursors, and `interrupt()` for just them."""

    def __init__(self, database: Confined):
        self._database = database
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._guard = threading.Lock()
        self.interrupted = False

    def cursor(self) -> duckdb.DuckDBPyConnection:
        with self._guard:
            cur = self._database.cursor()
            self._cursors = [*self._cursors[-63:], cur]  # plans close theirs; interrupt the recent ones
            return cur

    def interrupt(self) -> None:
        with self._guard:
            self.interrupted = True
            for cur in self._cursors:
                try:
                    cur.interrupt()
                except duckdb.Error:
                    pass  # already closed


_confined: contextvars.ContextVar[Lease | None] = contextvars.ContextVar("confined", default=None)
# Opening a DuckDB database costs ~100 ms here, so confined databases are kept per process and
# per (files, limits), at most CACHED of them; one with no run in it is closed when evicted.
CACHED = 16
_databases: dict[tuple, Confined] = {}
_databases_pid: dict[str, int | None] = {"pid": None}


def _acquire(key: tuple, memory_limit: str, threads: int) -> Confined:
    with _lock:
        if _databases_pid["pid"] != os.getpid():  # never reuse a database across a fork
            _databases.clear()
            _databases_pid["pid"] = os.getpid()
        database = _databases.pop(key, None) or Confined(key[0], memory_limit=memory_limit, threads=threads)
        _databases[key] = database  # most recently used last
        database.leases += 1
        for old_key in [k for k, d in _databases.items() if d.leases == 0][: max(0, len(_databases) - CACHED)]:
            _databases.pop(old_key).close()
        return database


def _release(database: Confined) -> None:
    with _lock:
        database.leases -= 1


@contextmanager
def confined(paths: Iterable[str], *, memory_limit: str, threads: int) -> Iterator[Lease]:
    """Within the block, this thread's `cursor()` calls use a database confined to `paths`."""
    key = (frozenset(str(p) for p in paths), memory_limit, threads)
    database = _acquire(key, memory_limit, threads)
    lease = Lease(database)
    token = _confined.set(lease)
    try:
        yield lease
    finally:
        _confined.reset(token)
        _release(database)


def connection() -> duckdb.DuckDBPyConnection:
    """This process's connection, opened on first use and again after a fork."""
    pid = os.getpid()
    with _lock:
        if _state["pid"] != pid or _state["connection"] is None:
            _state["connection"] = _open()
            _state["pid"] = pid
        return _state["connection"]  # type: ignore[return-value]


def cursor() -> duckdb.DuckDBPyConnection:
    """A fresh cursor on this thread's confined connection or this process's; close it when done."""
    active = _confined.get()
    if active is not None:
        return active.cursor()
    return connection().cursor()
