"""The one DuckDB pass that turns a UTF-8 delimited file into a typed Parquet file.

Fast path: infer types on a sample of rows, then let DuckDB read and convert the whole file in
one `COPY ... TO parquet` with explicit column types. Columns whose sample type could hide a
surprise later in the file (integers that might be codes with a leading zero, decimals whose
scale might grow, dates that might carry a time) are read as text and converted through a guard
that stops the pass on such a value, naming the column; that column is then measured over every
row and the pass runs again, so the sample only ever chooses, it never decides alone. Overrides from the dataset's field
definitions win and are converted strictly: a value that does not fit is a `type-conflict`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from portal.store import csverrors, inference, sql
from portal.store.connection import cursor
from portal.store.errors import IngestError
from portal.store.schema import Column, duckdb_type

SAMPLE_ROWS = 20_000
ROW_GROUP_SIZE = 122_880
# A clustered file exists to let min/max statistics skip row groups: smaller groups skip more
# (a filtered page of flights clustered by origin and month: 25 ms with 122,880-row groups,
# 6.7 ms with 16,384, in one probe), at a small cost to full scans.
CLUSTERED_ROW_GROUP_SIZE = 16_384
_GUARDS = {"integer": sql.GUARD_LEADING_ZERO, "decimal": sql.GUARD_SCALE, "date": sql.GUARD_DATE}


@dataclass(frozen=True)
class CsvSource:
    """A UTF-8 delimited file DuckDB can read directly, with its sniffed shape."""

    path: Path
    delimiter: str
    header: tuple[str, ...]
    gzip: bool = False
    header_from_data: bool = True  # False when names came from JSON keys: never "no header"


@dataclass(frozen=True)
class Planned:
    """How one column is read (`read_type`) and selected (`select`), and what it becomes."""

    column: Column
    read_type: str
    select: str
    overridden: bool


def convert(
    source: CsvSource,
    target: Path,
    *,
    overrides: Mapping[str, str],
    cluster_by: Sequence[str] = (),
    progress: Callable[[float], None] | None = None,
) -> tuple[int, tuple[Column, ...]]:
    """Write `source` to `target` as typed Parquet; return (row count, columns).

    Raises:
        IngestError: `no-header`, `ragged-row`, `undecodable`, `type-conflict`, ...
    """
    stats = dict(zip(source.header, _stats(source, source.header, sample=True), strict=True))
    if source.header_from_data:
        _check_header(source.header, list(stats.values()))
    exact: set[str] = set()  # columns measured over every row: their types cannot miss
    while True:
        plan = _plan(source.header, stats, overrides, exact=exact)
        try:
            rows = _copy(source, plan, target, cluster_by, progress)
        except duckdb.Error as exc:
            missed = _missed(exc, plan, exact)
            stats.update(zip(missed, _stats(source, missed, sample=False), strict=True))
            exact.update(missed)
            continue
        return rows, tuple(p.column for p in plan)


def _missed(exc: duckdb.Error, plan: list[Planned], exact: set[str]) -> list[str]:
    """The columns to measure over every row after the fast pass stopped on `exc`.

    Raises:
        IngestError: when the failure is not a sample miss (bad data, an override conflict).
    """
    guarded = [p.column.name for p in plan
               if p.read_type == "VARCHAR" and p.column.type not in ("text", "geometry")]
    index = csverrors.missed_column(exc)
    if index is not None:
        return [plan[index].column.name]
    problem = csverrors.conversion(exc)
    if problem is None:
        raise csverrors.reader_error(exc) from exc
    by_name = {p.column.name: p for p in plan}
    planned = by_name.get(problem.column or "")
    if planned is not None and (planned.overridden or planned.column.name in exact):
        raise csverrors.type_conflict(problem, planned.column.type) from exc
    if planned is not None:
        return [planned.column.name]
    if not guarded:
        raise csverrors.type_conflict(problem, "typed") from exc
    return guarded


def _read(source: CsvSource, types: list[tuple[str, str]]) -> str:
    return sql.READ_CSV.format(
        path=sql.quote_literal(str(source.path)),
        columns=sql.struct_literal(types),
        delim=sql.quote_literal(source.delimiter),
        nulls=sql.list_literal(sql.CSV_NULLS),
        compression="'gzip'" if source.gzip else "'none'",
    )


def _stats(source: CsvSource, names: Sequence[str], *, sample: bool) -> list[inference.ColumnStats]:
    """Inference measures of `names`, over a sample of rows or over all of them."""
    text = _read(source, [(n, "VARCHAR") for n in source.header])
    if sample:
        relation = sql.SAMPLE.format(source=text, rows=SAMPLE_ROWS)
    else:
        relation = sql.SCAN_ALL.format(source=text)
    cur = cursor()
    try:
        row = cur.execute(inference.stats_query(list(names), relation)).fetchone()
    except duckdb.Error as exc:
        raise csverrors.reader_error(exc) from exc
    finally:
        cur.close()
    return inference.parse_stats(list(names), row)


def _check_header(header: tuple[str, ...], stats: list[inference.ColumnStats]) -> None:
    """Refuse a first line that reads like the rows below it (every typed column agrees)."""
    typed = [(name, inference.infer(s).type) for name, s in zip(header, stats, strict=True)]
    typed = [(name, t) for name, t in typed if t != "text"]
    if typed and all(inference.matches_type(name, t) for name, t in typed):
        raise IngestError(
            "no-header",
            "line 1 looks like data, not column names: the file needs a header line",
            line=1,
        )


def _plan(
    header: tuple[str, ...],
    stats: Mapping[str, inference.ColumnStats],
    overrides: Mapping[str, str],
    *,
    exact: set[str],
) -> list[Planned]:
    """How to read and convert each column; guarded unless measured exactly or overridden."""
    plan = []
    for index, name in enumerate(header):
        stat = stats[name]
        inferred = inference.infer(stat)
        type_name = overrides.get(name, inferred.type)
        scale = inferred.scale or stat.max_scale or 2
        quoted = sql.quote_identifier(name)
        guard = None if name in exact else _GUARDS.get(type_name)
        if name in overrides and type_name != "decimal":
            guard = None
        if guard:
            expr = guard.format(column=quoted, scale=scale, digits="_" * (scale + 1), index=index)
            select = sql.ALIAS.format(expr=expr, column=quoted)
            plan.append(Planned(Column(name, type_name), "VARCHAR", select, name in overrides))
        else:
            read_type = duckdb_type(type_name, scale=scale)
            plan.append(Planned(Column(name, type_name), read_type, quoted, name in overrides))
    return plan


def _copy(
    source: CsvSource,
    plan: list[Planned],
    target: Path,
    cluster_by: Sequence[str],
    progress: Callable[[float], None] | None,
) -> int:
    order = ", ".join(_cluster_key(plan, name) for name in cluster_by)
    statement = sql.COPY_PARQUET.format(
        select=", ".join(p.select for p in plan),
        source=_read(source, [(p.column.name, p.read_type) for p in plan]),
        order=sql.ORDER_BY.format(keys=order) if order else "",
        target=sql.quote_literal(str(target)),
        row_group_size=CLUSTERED_ROW_GROUP_SIZE if order else ROW_GROUP_SIZE,
    )
    cur = cursor()
    try:
        return _run_with_progress(cur, statement, progress)
    finally:
        cur.close()


def _cluster_key(plan: list[Planned], name: str) -> str:
    quoted = sql.quote_identifier(name)
    kind = next(p.column.type for p in plan if p.column.name == name)
    return sql.CLUSTER_TEXT.format(column=quoted) if kind in ("text", "geometry") else quoted


def _run_with_progress(
    cur: duckdb.DuckDBPyConnection, statement: str, progress: Callable[[float], None] | None
) -> int:
    """Execute `statement`, reporting DuckDB's own progress (0..1) every 0.2 s from a thread."""
    if progress is None:
        return cur.execute(statement).fetchone()[0]
    cur.execute("SET enable_progress_bar = true")
    cur.execute("SET enable_progress_bar_print = false")
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.2):
            share = cur.query_progress()
            if share >= 0:
                progress(min(share, 100.0) / 100.0)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        return cur.execute(statement).fetchone()[0]
    finally:
        done.set()
        watcher.join()
