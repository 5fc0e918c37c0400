"""The one DuckDB connection of this process, and a cursor per call.

DuckDB connections must not cross a fork (the child would share the parent's file handles and
thread pool), and opening one costs ~19 ms a request on this machine. So the connection opens
lazily, is remembered with the pid that opened it, and is reopened when `os.getpid()` changes.
Callers take a `cursor()` per call or thread: cursors share the database and its caches but
not their state.
"""

from __future__ import annotations

import os
import threading

import duckdb

_lock = threading.Lock()
_state: dict[str, object] = {"pid": None, "connection": None}


def _open() -> duckdb.DuckDBPyConnection:
    # The network is closed and extensions are not vendored: never try to fetch one.
    config = {"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}
    return duckdb.connect(":memory:", config=config)


def connection() -> duckdb.DuckDBPyConnection:
    """This process's connection, opened on first use and again after a fork."""
    pid = os.getpid()
    with _lock:
        if _state["pid"] != pid or _state["connection"] is None:
            _state["connection"] = _open()
            _state["pid"] = pid
        return _state["connection"]  # type: ignore[return-value]


def cursor() -> duckdb.DuckDBPyConnection:
    """A fresh cursor on this process's connection; close it when done."""
    return connection().cursor()
