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

import gzip
import shutil
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb

from portal.store import clustering, csverrors, files, inference, layout, measures, sql
from portal.store.connection import NO_EXTENSIONS, cursor
from portal.store.errors import IngestError
from portal.store.evolution import TypeChange, widen
from portal.store.reports import TotalsRow
from portal.store.schema import Column, duckdb_type

# DuckDB sizes its read buffers from max_line_size (16 x, per thread): 16 MB lines cost ~230 MB
# more peak memory on every file than DuckDB's default of 2 MB. So files are read with the
# default first, and again with 16 MB lines only if a line is longer (docs/performance.md).
LINE_BYTES = 2 * 1024 * 1024
MAX_LINE_BYTES = 16 * 1024 * 1024
ROW_GROUP_SIZE = 122_880
# A clustered file exists to let min/max statistics skip row groups: smaller groups skip more
# (a filtered page of flights, 336,776 rows clustered by origin and month: 25 ms with 122,880-row
# groups, 6.7 ms with 16,384, in one probe), but every group costs a full scan and even a pruned
# read something: on the 10,000,000-row benchmark file, 16,384-row groups took 2-2.5x the CPU of
# 122,880-row ones on every page, pruned or not (docs/performance.md). So a clustered file gets
# about CLUSTERED_ROW_GROUPS groups, of CLUSTERED_ROW_GROUP_SIZE rows at least, ROW_GROUP_SIZE at most.
CLUSTERED_ROW_GROUP_SIZE = 16_384
CLUSTERED_ROW_GROUPS = 64
# An ordered pass sorts every row: on its own database, its memory capped, spilling to a temp
# directory beside the destination, so its peak stays below DuckDB's own unordered COPY (which
# peaks at ~0.7 GB on the 10 M-row benchmark file, ~0.3 GB on a 36 MB one; decision 0018c).
# The cap is twice the source's size, between these bounds.
SORT_MEMORY_MB = (128, 512)
_GUARDS = {"integer": sql.GUARD_LEADING_ZERO, "decimal": sql.GUARD_SCALE, "date": sql.GUARD_DATE}


@dataclass(frozen=True)
class CsvSource:
    """A UTF-8 delimited file DuckDB can read directly, with its sniffed shape."""

    path: Path
    delimiter: str
    header: tuple[str, ...]
    gzip: bool = False
    header_from_data: bool = True  # False when names came from JSON keys: never "no header"
    max_line: int = LINE_BYTES


@dataclass(frozen=True)
class Planned:
    """How one column is read (`read_type`) and selected (`select`), and what it becomes."""

    column: Column
    read_type: str
    select: str
    overridden: bool
    tidied: bool = False  # read through inference.tidy_sql


@dataclass(frozen=True)
class Typing:
    """What decides the column types: the publisher's declared types (strict), the previous
    version's types (widened, never forced), and the words that make a name a code column."""

    overrides: Mapping[str, str]
    previous: Mapping[str, str] = field(default_factory=dict)
    code_words: tuple[str, ...] = inference.CODE_WORDS


def convert(
    source: CsvSource,
    target: Path,
    *,
    typing: Typing,
    cluster_by: Sequence[str] = (),
    auto_cluster: bool = True,
    progress: Callable[[float], None] | None = None,
) -> Converted:
    """Write `source` to `target` as typed Parquet.

    The rows are ordered by `cluster_by` when given, else, when `auto_cluster` and the file is
    large, by a Z-order over low-cardinality columns chosen from the sample (`clustering.py`).

    Raises:
        IngestError: `no-header`, `ragged-row`, `undecodable`, `type-conflict`, ...
    """
    try:
        return _convert(source, target, typing=typing, cluster_by=cluster_by,
                        auto_cluster=auto_cluster, progress=progress)
    except IngestError as exc:
        if exc.code != "line-too-long" or source.max_line >= MAX_LINE_BYTES:
            raise
    longer = replace(source, max_line=MAX_LINE_BYTES)
    return _convert(longer, target, typing=typing, cluster_by=cluster_by,
                    auto_cluster=auto_cluster, progress=progress)


@dataclass(frozen=True)
class Converted:
    """What the pass wrote: rows, column types, type changes, and the columns the rows are
    ordered by (empty: the source order)."""

    rows: int
    columns: tuple[Column, ...]
    changes: tuple[TypeChange, ...]
    ordered_by: tuple[str, ...] = ()
    tidied: tuple[inference.TidiedColumn, ...] = ()


def _convert(
    source: CsvSource,
    target: Path,
    *,
    typing: Typing,
    cluster_by: Sequence[str],
    auto_cluster: bool,
    progress: Callable[[float], None] | None,
) -> Converted:
    stats = dict(zip(source.header, measures.column_stats(source, source.header, sample=True), strict=True))
    if source.header_from_data:
        measures.check_header(source.header, list(stats.values()))
    tidied = measures.tidy(source, stats, source.header, typing, sample=True)
    exact: set[str] = set()  # columns measured over every row: their types cannot miss
    while True:
        plan = _plan(source.header, stats, typing, exact=exact, tidied=tidied)
        keys = [] if cluster_by or not auto_cluster else _cluster_keys(source, plan)
        try:
            rows = _copy(source, plan, target, cluster_by, keys, progress)
        except duckdb.Error as exc:
            missed = _missed(exc, plan, exact, source)
            stats.update(zip(missed, measures.column_stats(source, missed, sample=False), strict=True))
            # a tidied column measured over every row that still misses is left as written
            settled = [n for n in missed if n in exact]
            for name in missed:
                tidied.pop(name, None)
            tidied.update(measures.tidy(source, stats, [n for n in missed if n not in settled], typing, sample=False))
            exact.update(missed)
            continue
        columns = tuple(p.column for p in plan)
        ordered = tuple(cluster_by) or tuple(k.column for k in keys)
        kept = tuple(replace(tidied[p.column.name], type=p.column.type) for p in plan if p.tidied)
        return Converted(rows, columns, _changes(source, columns, typing), ordered, kept)


def clustered_row_group_size(source: CsvSource) -> int:
    """Rows per group of a clustered file: its estimated rows over CLUSTERED_ROW_GROUPS, in
    multiples of 2,048 (DuckDB's vector size), between the two bounds."""
    wanted = _estimated_rows(source) // CLUSTERED_ROW_GROUPS // 2048 * 2048
    return max(CLUSTERED_ROW_GROUP_SIZE, min(ROW_GROUP_SIZE, wanted))


def _estimated_rows(source: CsvSource, probe: int = 1 << 20) -> int:
    """Lines in the file, from the line length of its first MiB (gzip: of its decompressed start,
    the compressed size taken as a quarter of the text's)."""
    opener = gzip.open if source.gzip else open
    with opener(source.path, "rb") as handle:
        start = handle.read(probe)
    lines = start.count(b"\n")
    if not start or lines == 0:
        return 1
    size = source.path.stat().st_size * (4 if source.gzip else 1)
    return max(lines, int(size / (len(start) / lines)))


def _cluster_keys(source: CsvSource, plan: list[Planned]) -> list[clustering.Key]:
    """The Z-order keys of a large file, chosen from the sample; none for a small one."""
    size = source.path.stat().st_size * (4 if source.gzip else 1)  # gzip: about 4x smaller
    if size < clustering.MIN_BYTES:
        return []
    sample = measures.relation(source, sample=True)
    columns = [(p.column.name, p.column.type) for p in plan]
    cur = cursor()
    try:
        return clustering.chosen_keys(cur, columns, sample)
    except duckdb.Error as exc:
        raise csverrors.reader_error(exc) from exc
    finally:
        cur.close()


def find_totals(path: Path, columns: tuple[Column, ...]) -> tuple[TotalsRow, ...]:
    """Totals rows (合计, 全市...) labelled in the first two columns of a stored file, with their
    record numbers as lines (header = 1). One scan of one or two text columns."""
    labels = ", ".join(sql.quote_literal(label) for label in sorted(layout.total_spellings()))
    found: list[TotalsRow] = []
    cur = cursor()
    try:
        for column in [c for c in columns[:2] if c.type == "text"]:
            query = sql.FIND_TOTALS.format(column=sql.quote_identifier(column.name), labels=labels)
            rows = cur.execute(query, [str(path)]).fetchall()
            found += [TotalsRow(int(number) + 2, column.name, label) for number, label in rows]
            if rows:
                break
    finally:
        cur.close()
    return tuple(found)


def _changes(source: CsvSource, columns: tuple[Column, ...], typing: Typing) -> tuple[TypeChange, ...]:
    """The columns whose type differs from the previous version's, each with a value that shows why."""
    changed = [c for c in columns if typing.previous.get(c.name) not in (None, c.type)]
    return tuple(TypeChange(c.name, typing.previous[c.name], c.type,
                            _example(source, c.name, typing.previous[c.name], c.type)) for c in changed)


# A column that became text: the value to show is one no type of its family holds ('abc' among
# numbers), not merely one its old type does not ('12000.5' in an integer column that also has 'abc').
_FAMILY = {"integer": "float", "decimal": "float", "float": "float", "date": "timestamp", "timestamp": "timestamp"}


def _example(source: CsvSource, name: str, before: str, after: str) -> str | None:
    """The first value of column `name` that shows why it is `after` now: one the type `before`
    would not hold as it is (when it became text, one no type of `before`'s family holds)."""
    shape = _FAMILY.get(before, before) if after == "text" else before
    pattern = inference.PATTERNS.get("fixed" if shape == "decimal" else shape)
    if pattern is None:
        return None
    text = measures.text_read(source)
    query = sql.FIRST_MISFIT.format(column=sql.quote_identifier(name), source=text,
                                    pattern=sql.quote_literal(pattern))
    cur = cursor()
    try:
        row = cur.execute(query).fetchone()
    finally:
        cur.close()
    return row[0] if row else None


def _missed(exc: duckdb.Error, plan: list[Planned], exact: set[str], source: CsvSource) -> list[str]:
    """The columns to measure over every row after the fast pass stopped on `exc`.

    Raises:
        IngestError: when the failure is not a sample miss (bad data, a declared type conflict).
    """
    declared = [p for p in plan if p.overridden and p.read_type == "VARCHAR"
                and p.column.type == "integer"]
    guarded = [p.column.name for p in plan if p.read_type == "VARCHAR" and p not in declared
               and p.column.type not in ("text", "geometry")]
    index = csverrors.missed_column(exc)
    if index is not None and plan[index] in declared:
        column = plan[index].column
        problem = _first_misfit(source, column) or csverrors.Conversion(
            None, column.name, csverrors.missed_value(exc), None)
        raise csverrors.declared_conflict(problem, column.type) from exc
    if index is not None:
        return [plan[index].column.name]
    problem = csverrors.conversion(exc)
    if problem is None:
        raise csverrors.reader_error(exc) from exc
    by_name = {p.column.name: p for p in plan}
    planned = by_name.get(problem.column or "")
    if planned is not None and (planned.overridden or planned.column.name in exact):
        if problem.line is None:
            problem = _first_misfit(source, planned.column) or problem
        raise csverrors.type_conflict(problem, planned.column.type) from exc
    if planned is not None:
        return [planned.column.name]
    for column in (p.column for p in declared):
        misfit = _first_misfit(source, column)
        if misfit is not None:
            raise csverrors.type_conflict(misfit, column.type) from exc
    if not guarded:
        raise csverrors.type_conflict(problem, "typed") from exc
    return guarded


def _first_misfit(source: CsvSource, column: Column) -> csverrors.Conversion | None:
    """The first value (and its line) of a declared column that does not convert to its type."""
    text = measures.text_read(source)
    quoted = sql.quote_identifier(column.name)
    if column.type == "integer":  # as the guard reads it: TRY_CAST would accept '4.5'
        fits = sql.FITS_PATTERN.format(column=quoted,
                                       pattern=sql.quote_literal(inference.PATTERNS["integer"]))
    else:
        fits = sql.FITS_CAST.format(column=quoted, type=duckdb_type(column.type))
    query = sql.FIRST_UNCONVERTIBLE.format(column=quoted, source=text, fits=fits)
    cur = cursor()
    try:
        row = cur.execute(query).fetchone()
    finally:
        cur.close()
    return csverrors.Conversion(row[0], column.name, row[1], None) if row else None


def _plan(
    header: tuple[str, ...],
    stats: Mapping[str, inference.ColumnStats],
    typing: Typing,
    *,
    exact: set[str],
    tidied: Mapping[str, inference.TidiedColumn] | None = None,
) -> list[Planned]:
    """How to read and convert each column; guarded unless measured exactly or overridden.

    A declared integer keeps its leading-zero guard: `010101` would silently become 10101, so it
    is refused instead (the publisher should declare the column a string)."""
    overrides = typing.overrides
    plan = []
    for index, name in enumerate(header):
        stat = stats[name]
        inferred = measures.infer_column(name, stat, typing, measure=bool(tidied and name in tidied and tidied[name].grouped))
        type_name = overrides.get(name) or widen(typing.previous.get(name), inferred.type)
        scale = inferred.scale or stat.max_scale or 2
        quoted = sql.quote_identifier(name)
        if tidied and name in tidied and type_name in inference.TIDY_TYPES:
            plan.append(Planned(Column(name, type_name), "VARCHAR", _tidy_select(quoted, type_name, scale, index),
                                False, tidied=True))
            continue
        guard = None if name in exact else _GUARDS.get(type_name)
        if name in overrides and type_name not in ("decimal", "integer"):
            guard = None
        if guard:
            expr = guard.format(column=quoted, scale=scale, digits="_" * (scale + 1), index=index)
            select = sql.ALIAS.format(expr=expr, column=quoted)
            plan.append(Planned(Column(name, type_name), "VARCHAR", select, name in overrides))
        else:
            read_type = duckdb_type(type_name, scale=scale)
            plan.append(Planned(Column(name, type_name), read_type, quoted, name in overrides))
    return plan


def _tidy_select(quoted: str, type_name: str, scale: int, index: int) -> str:
    """A tidied number column's select: the tidied value cast to its type, guarded."""
    shape = {"integer": inference.PATTERNS["integer"], "float": inference.PATTERNS["float"],
             "date": inference.PATTERNS["date"],
             "decimal": rf"[+-]?(0|[1-9][0-9]{{0,13}})(\.[0-9]{{1,{scale}}})?"}[type_name]
    expr = sql.GUARD_TIDY.format(tidy=inference.tidy_sql(quoted), pattern=sql.quote_literal(shape),
                                 type=duckdb_type(type_name, scale=scale), column=quoted, index=index)
    return sql.ALIAS.format(expr=expr, column=quoted)


def _copy(
    source: CsvSource,
    plan: list[Planned],
    target: Path,
    cluster_by: Sequence[str],
    keys: Sequence[clustering.Key],
    progress: Callable[[float], None] | None,
) -> int:
    order = ", ".join(_cluster_key(plan, name) for name in cluster_by)
    select = ", ".join(p.select for p in plan)
    read = measures.read_sql(source, [(p.column.name, p.read_type) for p in plan])
    target_sql = sql.quote_literal(str(target))
    if keys:
        query = clustering.ordered_select([p.column.name for p in plan], select, read, keys)
        statement = sql.COPY_QUERY_PARQUET.format(query=query, target=target_sql,
                                                  row_group_size=clustered_row_group_size(source))
    else:
        statement = sql.COPY_PARQUET.format(
            select=select, source=read,
            order=sql.ORDER_BY.format(keys=order) if order else "",
            target=target_sql,
            row_group_size=clustered_row_group_size(source) if order else ROW_GROUP_SIZE,
        )
    if not (keys or order):
        cur = cursor()
        try:
            return _run_with_progress(cur, statement, progress)
        finally:
            cur.close()
    spill = files.temp_path(target.parent, ".spill")
    low, high = SORT_MEMORY_MB
    limit = min(high, max(low, 2 * source.path.stat().st_size // 2**20))
    database = duckdb.connect(":memory:", config={**NO_EXTENSIONS, "memory_limit": f"{limit}MB",
                                                  "temp_directory": str(spill),
                                                  "preserve_insertion_order": "false"})
    try:
        return _run_with_progress(database.cursor(), statement, progress)
    finally:
        database.close()
        shutil.rmtree(spill, ignore_errors=True)


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
