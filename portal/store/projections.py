"""Copies of a large version file ordered by one column, made when pages filter on that column.

A page filtered on a column that the file is not ordered by decodes that column, and its sort
column, in every row group: 90 ms of CPU on the 10,000,000-row benchmark file for `note = 机场`
sorted by fare, whatever the row-group size, codec or bloom filters (decision 0022f). Ordered by
the filter column, the matching rows are a few row groups that DuckDB finds by their min/max
statistics and reads alone (5-20 ms). Such a copy costs a sort of the rows (about DuckDB's own
CSV-to-Parquet COPY) and the file's size again on disk, so it is made only where pages ask for
it (decision 0027c), as ClickHouse's projections or Snowflake's search optimisation are:

* only for files of `MIN_BYTES` or more (smaller files are read whole in a few ms);
* only for a column a page filters on with an operator min/max statistics can prune (`eq`,
  `in`, `between`, `lt`, `le`, `gt`, `ge`), and only when the file itself does not prune it: a
  column spread over the whole file has row groups that nearly all span one value (`_ordered`),
  while the clustering keys of the file (decision 0018c) already prune;
* after `DEMAND` such pages in this process, in one background thread, one copy at a time, at
  most `limit` copies per file (the STORE_PROJECTIONS setting; 0 turns this off);
* a process that finds another one's claim on a copy leaves it alone (a claim older than
  `STALE_SECONDS` is taken over: its builder died).

A copy holds every column plus the original `file_row_number`, read back as a column of that
name, so filters, sort keys, cursors and ties mean the same on it and a page read from it is the
page read from the file. Files never change, so a copy never goes stale; it is removed with its
version (`paths`, kept by the data sweep only beside a kept version).

Must not: decide who may read what (callers pass paths the catalog handed them), or make a page
wait for a copy: a page reads the file until its copy is there.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import shutil
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import duckdb

from portal.store import files, sql
from portal.store.connection import cursor as db_cursor
from portal.store.queries import Filter
from portal.store.schema import StoredTable, duckdb_type

log = logging.getLogger(__name__)

MIN_BYTES = 32 * 1024 * 1024  # as the automatic clustering's (clustering.MIN_BYTES)
DEMAND = 2  # pages filtered on a column before its copy is made: a one-off filter never pays
# A column is taken for spread over the file (worth a copy) when at least three quarters of its row
# groups may hold the median of their minima and maxima (spread, every group's range reaches from
# near the lowest value to near the highest, so all of them hold it). A column the file is ordered by spans few groups;
# the keys of a Z-order (decision 0018c) span up to about two thirds (the third key of three on
# the benchmark file): they prune enough, and pages on them are already fast.
SPREAD = 0.75
PRUNABLE = frozenset({"eq", "in", "between", "lt", "le", "gt", "ge"})
STALE_SECONDS = 15 * 60
INFIX = ".by-"
SCAN = "read_parquet({path})"  # the copy's own `file_row_number` column, not DuckDB's
BUILD_MEMORY = "512MB"  # the sort spills beyond it (to the version's folder), as the ingest's does
COPY = ("COPY (SELECT * FROM read_parquet({source}, file_row_number = true) ORDER BY {column}, file_row_number) "
        "TO {target} (FORMAT parquet, COMPRESSION lz4)")
SPANNING = ("WITH g AS (SELECT TRY_CAST(stats_min_value AS {type}) AS lo, TRY_CAST(stats_max_value AS {type}) AS hi"
            " FROM parquet_metadata(?) WHERE path_in_schema = ?),"
            " m AS (SELECT quantile_disc(x, 0.5) AS v FROM (SELECT lo AS x FROM g UNION ALL SELECT hi FROM g))"
            " SELECT count(*) FILTER (WHERE lo <= v AND v <= hi), count(*) FROM g, m")


class Projections:
    def __init__(self, limit: int = 0) -> None:
        self.limit = limit
        self._demand: dict[tuple[str, str], int] = {}
        self._queue: list[tuple[str, str]] = []
        self._busy = False
        self._lock = threading.Lock()

    def scan(self, table: StoredTable, filters: Sequence[object]) -> tuple[str, str]:
        """The FROM clause (one `?` parameter) and the path a page of `table` with `filters`
        reads: a copy ordered by one of the filtered columns when there is one, else the file."""
        path = str(table.path)
        plain = (sql.SCAN.format(path="?"), path)
        if self.limit <= 0:
            return plain
        columns = [f.column for f in filters if isinstance(f, Filter) and f.op in PRUNABLE]
        if not columns or _size(path) < MIN_BYTES:
            return plain
        for column in columns:
            copy = projection_path(table.path, column)
            if copy.is_file():
                return SCAN.format(path="?"), str(copy)
        kinds = {c.name: c.type for c in table.columns}
        for column in columns:
            if not _ordered(path, column, kinds.get(column, "text")):
                self._want(path, column)
                break
        return plain

    def _want(self, path: str, column: str) -> None:
        with self._lock:
            key = (path, column)
            self._demand[key] = self._demand.get(key, 0) + 1
            if self._demand[key] != DEMAND or len(existing(Path(path))) >= self.limit:
                return
            if len(self._demand) > 10_000:
                self._demand.clear()
            self._queue.append(key)
            if self._busy:
                return
            self._busy = True
        threading.Thread(target=self._work, name="kaifang-projections", daemon=True).start()

    def wait(self, timeout: float) -> bool:
        """Wait until no copy is queued or being made (benchmarks, tests); False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._busy and not self._queue:
                    return True
            time.sleep(0.02)
        return False

    def _work(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._busy = False
                    return
                path, column = self._queue.pop(0)
            try:
                build(Path(path), column, self.limit)
            except Exception:  # a copy only makes pages faster: they go on reading the file
                log.warning("no copy of %s ordered by %r", Path(path).name, column, exc_info=True)


PROJECTIONS = Projections()


def configure(limit: int) -> None:
    """At most `limit` ordered copies per version file (0: none are made or read)."""
    PROJECTIONS.limit = limit


def projection_path(path: Path, column: str) -> Path:
    """Where the copy of the version file `path` ordered by `column` lives (made or not)."""
    digest = hashlib.blake2b(column.encode(), digest_size=8).hexdigest()
    return path.with_name(f"{path.name.removesuffix(files.VERSION_SUFFIX)}{INFIX}{digest}{files.VERSION_SUFFIX}")


def existing(path: Path) -> list[Path]:
    """The ordered copies of the version file `path` that are there."""
    stem = path.name.removesuffix(files.VERSION_SUFFIX)
    return sorted(path.parent.glob(f"{stem}{INFIX}*{files.VERSION_SUFFIX}"))


def build(path: Path, column: str, limit: int) -> Path | None:
    """Write the copy of `path` ordered by `column` (unless it is there, claimed by a live
    builder, or the file has `limit` copies already); the copy's path, or None."""
    target = projection_path(path, column)
    if target.is_file():
        return target
    if len(existing(path)) >= limit or not path.is_file():
        return None
    claim = target.with_name(f"{files.TEMP_PREFIX}{target.name}.claim")
    if not _claim(claim):
        return None
    temp = files.temp_path(path.parent, files.VERSION_SUFFIX)
    spill = path.parent / f"{temp.name}.spill"
    try:
        started = time.monotonic()
        con = duckdb.connect(config={"memory_limit": BUILD_MEMORY, "threads": "1",
                                     "temp_directory": str(spill)})
        try:
            con.execute(COPY.format(source=sql.quote_literal(str(path)), column=sql.quote_identifier(column),
                                    target=sql.quote_literal(str(temp))))
        finally:
            con.close()
        files.fsync_file(temp)
        try:
            os.link(temp, target)
        except FileExistsError:
            pass
        log.info("copy of %s ordered by %r made in %.1f s", path.name, column, time.monotonic() - started)
        return target
    finally:
        files.remove_quietly(temp)
        shutil.rmtree(spill, ignore_errors=True)
        files.remove_quietly(claim)


def _claim(claim: Path) -> bool:
    """Take the claim on a copy (O_EXCL), or a stale one; False when a live builder holds it."""
    for _ in range(2):
        try:
            os.close(os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            return True
        except FileExistsError:
            try:
                if time.time() - claim.stat().st_mtime < STALE_SECONDS:
                    return False
            except FileNotFoundError:
                continue
            files.remove_quietly(claim)
    return False


@functools.lru_cache(maxsize=4096)
def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


@functools.lru_cache(maxsize=4096)
def _ordered(path: str, column: str, kind: str) -> bool:
    """Whether the file's own row groups can skip on `column`: fewer than `SPREAD` of them span
    the median of their minima and maxima (a column spread over the whole file spans it in
    nearly every group). Unknown (no statistics, an unreadable footer): yes, so no copy is made."""
    type_name = "DOUBLE" if kind == "decimal" else duckdb_type(kind)
    cur = db_cursor()
    try:
        spanning, groups = cur.execute(SPANNING.format(type=type_name), [path, column]).fetchone()
    except duckdb.Error:
        return True
    finally:
        cur.close()
    return groups <= 1 or spanning < SPREAD * groups
