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


def _open() -> duckdb.DuckDBPyConnection:
    # The network is closed and extensions are not vendored: never try to fetch one.
    return duckdb.connect(":memory:", config=dict(NO_EXTENSIONS))


class Confined:
    """A locked-down connection for one sandbox run; `interrupt()` stops whatever it is running."""

    def __init__(self, paths: Iterable[str], *, memory_limit: str, threads: int):
        self._connection = duckdb.connect(":memory:", config={**NO_EXTENSIONS, "memory_limit": memory_limit,
                                                             "threads": str(threads)})
        self._connection.execute("SET allowed_paths = ?", [sorted({str(p) for p in paths})])
        self._connection.execute("SET enable_external_access = false")
        self._connection.execute("SET lock_configuration = true")
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._guard = threading.Lock()
        self.interrupted = False

    def cursor(self) -> duckdb.DuckDBPyConnection:
        with self._guard:
            cur = self._connection.cursor()
            self._cursors = [*self._cursors[-63:], cur]  # plans close theirs; interrupt the recent ones
            return cur

    def interrupt(self) -> None:
        with self._guard:
            self.interrupted = True
            for cur in [self._connection, *self._cursors]:
                try:
                    cur.interrupt()
                except duckdb.Error:
                    pass  # already closed

    def close(self) -> None:
        self._connection.close()


_confined: contextvars.ContextVar[Confined | None] = contextvars.ContextVar("confined", default=None)


@contextmanager
def confined(paths: Iterable[str], *, memory_limit: str, threads: int) -> Iterator[Confined]:
    """Within the block, this thread's `cursor()` calls use a confined connection."""
    connection = Confined(paths, memory_limit=memory_limit, threads=threads)
    token = _confined.set(connection)
    try:
        yield connection
    finally:
        _confined.reset(token)
        connection.close()


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
