"""Copies of a large version file ordered for the columns pages filter on, made in the background.

A page filtered on a column that the file is not ordered by decodes that column, and its sort
column, in every row group: 90-100 ms of CPU on the 10,000,000-row benchmark file, whatever the
row-group size, codec or bloom filters (decision 0022f). Ordered for the filter column, the
matching rows are a few row groups that DuckDB finds by their min/max statistics and reads alone
(5-15 ms). Such a copy costs a sort of the rows (about DuckDB's own CSV-to-Parquet COPY) and
about the file's size again on disk, so it is made only where pages ask for it (decision 0027c),
as ClickHouse's projections, Snowflake's search optimisation or Delta Lake's `OPTIMIZE ...
ZORDER BY` run apart from writes. The catalog loads files in source order; this module gives them
their clustering afterwards:

* only files of `MIN_BYTES` or more (smaller files are read whole in a few ms), and only for
  sorted pages (a page in file order stops early in the file);
* only for a column a page filters on with an operator min/max statistics can prune (`eq`,
  `in`, `between`, `lt`, `le`, `gt`, `ge`), and only when the file itself does not prune it (a
  column spread over the whole file has row groups that nearly all span one value, `_ordered`);
* a column the automatic clustering would choose (decision 0018c: up to three low-cardinality
  columns, chosen from the file's first rows as the ingest chooses them) gets the one copy in
  the Z-order of all of them, in a clustered file's small row groups; any other column a copy
  ordered by itself;
* after `DEMAND` such pages in this process, in one background thread, one copy at a time, at
  most `limit` copies per file (the STORE_PROJECTIONS setting; 0 turns this off);
* a process that finds another one's claim on a copy leaves it alone (a claim older than
  `STALE_SECONDS` is taken over: its builder died).

A copy holds every column plus the original `file_row_number`, read back as a column of that
name, so filters, sort keys, cursors and ties mean the same on it and a page read from it is the
page read from the file. Files never change, so a copy never goes stale; it is removed with its
version (`existing`: the data sweep keeps only those of kept versions).

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
from typing import NamedTuple

import duckdb

from portal.store import clustering, files, sql
from portal.store.connection import cursor as db_cursor
from portal.store.queries import Filter
from portal.store.schema import StoredTable, duckdb_type

log = logging.getLogger(__name__)

MIN_BYTES = 32 * 1024 * 1024  # as the automatic clustering's (clustering.MIN_BYTES)
DEMAND = 2  # pages filtered on a column before its copy is made: a one-off filter never pays
# A column is taken for spread over the file (worth a copy) when at least three quarters of its
# row groups may hold the median of their minima and maxima (spread, every group's range reaches
# from near the lowest value to near the highest, so all of them hold it). A column the file is
# ordered by spans few groups; the keys of a Z-order (decision 0018c) span up to about two
# thirds (the third key of three on the benchmark file): they prune enough already.
SPREAD = 0.75
PRUNABLE = frozenset({"eq", "in", "between", "lt", "le", "gt", "ge"})
STALE_SECONDS = 15 * 60
INFIX = ".by-"
SCAN = "read_parquet({path})"  # the copy's own `file_row_number` column, not DuckDB's
BUILD_MEMORY = "512MB"  # the sort spills beyond it (to the version's folder), as the ingest's does
ZORDER = "zorder"  # the name of the copy in the Z-order of the file's automatic keys (not a column's)
SAMPLE = "(SELECT * FROM read_parquet({path}) LIMIT {rows})"  # the file's first rows, as the ingest's sample
SAMPLE_ROWS = 20_000
ORDERED = "SELECT * FROM read_parquet({source}, file_row_number = true) ORDER BY {column}, file_row_number"
ZORDERED = ("SELECT * EXCLUDE ({ranks}) FROM (SELECT *, {rank_exprs} FROM read_parquet({source}, file_row_number = true))"
            " ORDER BY {key}, file_row_number")
# Parquet's version 2 encodings store the row numbers as deltas: within a run of one value they
# ascend, so they take ~2 MB instead of ~40 for 10 M rows (copies are never downloaded).
COPY = "COPY ({select}) TO {target} (FORMAT parquet, COMPRESSION lz4, PARQUET_VERSION V2{groups})"
NUM_ROWS = "SELECT sum(num_rows) FROM parquet_file_metadata(?)"
SPANNING = ("WITH g AS (SELECT TRY_CAST(stats_min_value AS {type}) AS lo, TRY_CAST(stats_max_value AS {type}) AS hi"
            " FROM parquet_metadata(?) WHERE path_in_schema = ?),"
            " m AS (SELECT quantile_disc(x, 0.5) AS v FROM (SELECT lo AS x FROM g UNION ALL SELECT hi FROM g))"
            " SELECT count(*) FILTER (WHERE lo <= v AND v <= hi), count(*) FROM g, m")


class Read(NamedTuple):
    """Where a page reads: a FROM clause with one `?`, the path it takes, and whether a page
    known to be one run of ties may be read from the file instead (`ties.py`)."""

    clause: str
    path: str
    tie_runs: bool = True


class Projections:
    def __init__(self, limit: int = 0) -> None:
        self.limit = limit
        self._demand: dict[tuple[str, str], int] = {}
        self._queue: list[tuple[str, str, tuple[tuple[str, str], ...]]] = []
        self._busy = False
        self._lock = threading.Lock()

    def scan(self, table: StoredTable, filters: Sequence[object], sort: Sequence[object] = ()) -> Read:
        """Where a page of `table` with `filters` and `sort` reads: a copy ordered for one of the
        filtered columns when there is one, else the file. A page with no sort key reads the file,
        in file order, where DuckDB stops once it has the page (on a copy it would have to
        order the matching rows by their row numbers)."""
        path = str(table.path)
        plain = Read(sql.SCAN.format(path="?"), path)
        if self.limit <= 0 or not sort:
            return plain
        columns = [f.column for f in filters if isinstance(f, Filter) and f.op in PRUNABLE]
        if not columns or _size(path) < MIN_BYTES:
            return plain
        kinds = tuple((c.name, c.type) for c in table.columns)
        keys = {k.column for k in _zorder_keys(path, kinds)}
        for column in columns:
            copy = zorder_path(table.path) if column in keys else projection_path(table.path, column)
            if copy.is_file():
                # A run of ties is read from the file, in file order (`ties.py`): dense in the
                # file for the Z-order's low-cardinality keys (`passengers = 2 ORDER BY distance`,
                # a run of 0.0: 4 ms), but a spread column's filter is selective, and its copy
                # holds the page in a few row groups (`fare BETWEEN 100 AND 100.5`: 35 ms
                # through the file's run, 5 ms from the copy).
                return Read(SCAN.format(path="?"), str(copy), tie_runs=column in keys)
        for column in columns:
            if not _ordered(path, column, dict(kinds).get(column, "text")):
                self._want(path, ZORDER if column in keys else column, kinds)
                break
        return plain

    def _want(self, path: str, name: str, kinds: tuple[tuple[str, str], ...]) -> None:
        with self._lock:
            key = (path, name)
            self._demand[key] = self._demand.get(key, 0) + 1
            if self._demand[key] != DEMAND or len(existing(Path(path))) >= self.limit:
                return
            if len(self._demand) > 10_000:
                self._demand.clear()
            self._queue.append((path, name, kinds))
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
                path, name, kinds = self._queue.pop(0)
            try:
                if name == ZORDER:
                    build_zorder(Path(path), kinds, self.limit)
                else:
                    build(Path(path), name, self.limit)
            except Exception:  # a copy only makes pages faster: they go on reading the file
                log.warning("no copy of %s ordered by %r", Path(path).name, name, exc_info=True)


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


def zorder_path(path: Path) -> Path:
    """Where the copy of `path` in the Z-order of its automatic keys lives (made or not)."""
    return path.with_name(f"{path.name.removesuffix(files.VERSION_SUFFIX)}{INFIX}{ZORDER}{files.VERSION_SUFFIX}")


def prepare(table: StoredTable, limit: int) -> Path | None:
    """Make the Z-order copy of a large file now, without waiting for pages to ask: the load's
    background job (`kaifang export-cache`) calls it, so pages on the automatic keys are fast
    from the start. None when the file is small, has no such keys, is already ordered by them,
    or `limit` is 0."""
    path = str(table.path)
    if limit <= 0 or _size(path) < MIN_BYTES:
        return None
    kinds = tuple((c.name, c.type) for c in table.columns)
    keys = _zorder_keys(path, kinds)
    if not keys or all(_ordered(path, k.column, dict(kinds)[k.column]) for k in keys):
        return None
    return build_zorder(Path(path), kinds, limit)


def build(path: Path, column: str, limit: int) -> Path | None:
    """Write the copy of `path` ordered by `column` (unless it is there, claimed by a live
    builder, or the file has `limit` copies already); the copy's path, or None."""
    select = ORDERED.format(source=sql.quote_literal(str(path)), column=sql.quote_identifier(column))
    return _write(path, projection_path(path, column), select, limit)


def build_zorder(path: Path, kinds: tuple[tuple[str, str], ...], limit: int) -> Path | None:
    """Write the copy of `path` in the Z-order of the low-cardinality columns chosen from its
    first rows, as the ingest's automatic clustering chooses them (decision 0018c), in row groups
    as small as a clustered file's; None when no column qualifies (or as `build`)."""
    keys = _zorder_keys(str(path), kinds)
    if not keys:
        return None
    ranks = [sql.quote_identifier(f"{clustering.RANK_PREFIX}{i}") for i in range(len(keys))]
    select = ZORDERED.format(
        ranks=", ".join(ranks), source=sql.quote_literal(str(path)), key=clustering.morton(keys),
        rank_exprs=", ".join(sql.ALIAS.format(expr=k.rank, column=r) for k, r in zip(keys, ranks, strict=True)))
    return _write(path, zorder_path(path), select, limit, zorder=True)


def _write(path: Path, target: Path, select: str, limit: int, *, zorder: bool = False) -> Path | None:
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
        con = duckdb.connect(config={"memory_limit": BUILD_MEMORY, "threads": "1", "temp_directory": str(spill)})
        try:
            con.execute("SET enable_progress_bar = false")
            groups = ""
            if zorder:
                rows = con.execute(NUM_ROWS, [str(path)]).fetchone()[0] or 0
                groups = f", ROW_GROUP_SIZE {clustered_group_size(rows)}"
            con.execute(COPY.format(select=select, target=sql.quote_literal(str(temp)), groups=groups))
        finally:
            con.close()
        files.fsync_file(temp)
        try:
            os.link(temp, target)
        except FileExistsError:
            pass
        log.info("copy %s made in %.1f s", target.name, time.monotonic() - started)
        return target
    finally:
        files.remove_quietly(temp)
        shutil.rmtree(spill, ignore_errors=True)
        files.remove_quietly(claim)


def clustered_group_size(rows: int) -> int:
    """Rows per group of a Z-ordered copy: as a clustered file's (`conversion`), about
    CLUSTERED_ROW_GROUPS groups in multiples of 2,048 rows, within its bounds."""
    # the ingest's modules, imported only in the thread that makes copies
    from portal.store import conversion

    wanted = rows // conversion.CLUSTERED_ROW_GROUPS // 2048 * 2048
    return max(conversion.CLUSTERED_ROW_GROUP_SIZE, min(conversion.ROW_GROUP_SIZE, wanted))


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


@functools.lru_cache(maxsize=1024)
def _zorder_keys(path: str, kinds: tuple[tuple[str, str], ...]) -> tuple[clustering.Key, ...]:
    """The automatic clustering's keys of the file, chosen from its first rows (none when its
    footer or rows cannot be read: then no Z-ordered copy is made)."""
    cur = db_cursor()
    try:
        sample = SAMPLE.format(path=sql.quote_literal(path), rows=SAMPLE_ROWS)
        return tuple(clustering.chosen_keys(cur, list(kinds), sample))
    except duckdb.Error:
        return ()
    finally:
        cur.close()


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
