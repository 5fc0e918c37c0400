"""`ingest`: one source file in, one immutable typed Parquet file out, or an IngestError and
nothing stored.

Every format ends up as a UTF-8 delimited file that DuckDB reads in one typed pass
(`conversion.py`): UTF-8 CSV/TSV (plain or gzip) is read in place; other encodings are
transcoded, XLSX and JSON rendered to CSV, into `.tmp-*` files beside the destination that are
deleted on the way out. The source checksum is computed in a thread while DuckDB works.
"""

from __future__ import annotations

import errno
import threading
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from portal.store import conversion, csvlayout, delimited, encodings, files, inference
from portal.store.errors import IngestError, StoreError
from portal.store.formats import detect_format
from portal.store.jsonfiles import GEOMETRY, POINT_COLUMNS, json_to_csv
from portal.store.layout import write_table
from portal.store.reports import LoadReport
from portal.store.schema import Column, check_type
from portal.store.spreadsheets import SPREADSHEETS, spreadsheet_to_csv


@dataclass(frozen=True)
class IngestResult:
    """What was stored: the final file, its size and schema, and what it came from."""

    path: Path
    row_count: int
    byte_size: int
    source_bytes: int
    checksum: str
    columns: tuple[Column, ...]
    source_format: str
    encoding: str | None
    report: LoadReport = LoadReport()
    clustered_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Job:
    source: Path
    dest_dir: Path
    fmt: str
    encoding: str | None
    report: Callable[[float], None]
    sheet: str | int | None = None
    auto_cluster: bool = True
    points: tuple[str, str] = POINT_COLUMNS


def ingest(
    source: Path,
    dest_dir: Path,
    *,
    fmt: str | None = None,
    encoding: str | None = None,
    overrides: Mapping[str, str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    cluster_by: Sequence[str] = (),
    auto_cluster: bool = True,
    previous: Mapping[str, str] | None = None,
    code_words: Sequence[str] | None = None,
    sheet: str | int | None = None,
    point_columns: tuple[str, str] | None = None,
) -> IngestResult:
    """Store `source` as a new Parquet file in `dest_dir` and describe it.

    `overrides` ({column: type}) are the types the publisher declared: they win over inference
    and a value that does not fit them is refused. `previous` ({column: type}) are the types of
    the dataset's current version: a column keeps its type when the new values fit it and is
    widened otherwise (`IngestResult.type_changes`), never converted lossily. `code_words`
    replaces the words that make a column name a code column (`inference.CODE_WORDS`).
    `sheet` (a name or 1-based number) picks the sheet of a workbook; by default the first sheet
    holding a table is read. What the layout detection skipped is in `IngestResult.report`.
    `point_columns` (longitude, latitude) names the columns a GeoJSON Point's coordinates go to
    (the descriptor's `kaifang.coordinates`; default `longitude`, `latitude`).
    `cluster_by` sorts the stored rows by those columns so that filters on them prune row
    groups (at the cost of the source order); without it a large file is clustered by columns
    chosen from its data unless `auto_cluster` is False (`IngestResult.clustered_by` says by
    which, empty when the source order is kept). `progress(done, total)` is called
    with source bytes during the work.

    Raises:
        IngestError: see docs/store.md for the codes; nothing is left in `dest_dir`.
    """
    source, dest_dir = Path(source), Path(dest_dir)
    if not source.is_file():
        raise IngestError("missing-file", f"{source} is not a file")
    total = source.stat().st_size
    if total == 0:
        raise IngestError("empty-file", "the file is empty")
    checked = _checked_overrides(overrides or {})
    typing = conversion.Typing(
        checked, dict(previous or {}),
        tuple(code_words) if code_words is not None else inference.CODE_WORDS,
    )
    dest_dir.mkdir(parents=True, exist_ok=True)
    hasher = _Checksum(source)
    job = _Job(source, dest_dir, detect_format(source, fmt), encoding, _reporter(progress, total),
               sheet, auto_cluster, tuple(point_columns or POINT_COLUMNS))
    temps: list[Path] = []
    try:
        return _run(job, typing, tuple(cluster_by), temps, hasher)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise IngestError("disk-full", "the destination disk is full") from exc
        raise
    finally:
        for temp in temps:
            files.remove_quietly(temp)


def _run(job: _Job, typing: conversion.Typing, cluster_by: tuple[str, ...], temps: list[Path],
         hasher: _Checksum) -> IngestResult:
    prepared = _prepare(job, temps)
    csv_source = prepared.source
    _check_columns(csv_source.header, {**typing.overrides}, cluster_by)
    target = files.temp_path(job.dest_dir, ".parquet")
    temps.append(target)
    start = 0.5 if csv_source.path != job.source else 0.0
    typing = replace(typing, overrides={**prepared.fixed, **typing.overrides})
    try:
        converted = conversion.convert(
            csv_source, target, typing=typing, cluster_by=cluster_by,
            auto_cluster=job.auto_cluster,
            progress=lambda share: job.report(start + (1 - start) * share),
        )
    except IngestError as exc:
        raise _at_source_line(exc, prepared) from exc.__cause__
    rows, columns = converted.rows, converted.columns
    report = replace(prepared.report, type_changes=converted.changes, tidied=converted.tidied)
    if prepared.physical:  # a bare CSV read in place: its totals rows were not seen by the layout
        totals = conversion.find_totals(target, columns)
        if converted.ordered_by:  # stored positions are not source lines any more
            totals = tuple(replace(t, line=0) for t in totals)
        report = replace(report, totals=totals)
    checksum = hasher.result()
    job.report(1.0)
    final = files.publish(target, job.dest_dir, checksum)
    temps.remove(target)
    return IngestResult(
        path=final, row_count=rows, byte_size=final.stat().st_size,
        source_bytes=job.source.stat().st_size, checksum=checksum, columns=columns,
        source_format=job.fmt, encoding=prepared.encoding,
        report=report, clustered_by=converted.ordered_by,
    )


@dataclass(frozen=True)
class _Prepared:
    """The delimited file DuckDB reads, and how its lines relate to the source's."""

    source: conversion.CsvSource
    encoding: str | None
    fixed: dict[str, str]  # types the format fixes (GeoJSON geometry)
    report: LoadReport = LoadReport()
    line_map: array | None = None  # written line - 1 -> source line, when rows were rewritten
    physical: bool = False  # DuckDB reads the source itself: map record numbers to lines


def _at_source_line(exc: IngestError, prepared: _Prepared) -> IngestError:
    """The same error with its line number counted in the source file, as a person would."""
    line = exc.line
    if line is None or line < 1:
        return exc
    if prepared.line_map is not None and line <= len(prepared.line_map):
        mapped = prepared.line_map[line - 1]
    elif prepared.physical:
        mapped = csvlayout.physical_line(prepared.source.path, prepared.source.delimiter, line)
    else:
        return exc
    if mapped == line:
        return exc
    message = exc.message.replace(f"line {line}", f"line {mapped}", 1)
    return IngestError(exc.code, message, line=mapped, column=exc.column, field=exc.field)


def _prepare(job: _Job, temps: list[Path]) -> _Prepared:
    """A UTF-8 delimited file for DuckDB, the source encoding, and types fixed by the format."""
    if job.fmt in SPREADSHEETS:
        target = _temp(job, temps, ".csv")
        table = spreadsheet_to_csv(job.source, target, fmt=job.fmt, sheet=job.sheet)
        source = conversion.CsvSource(target, ",", table.header)
        return _Prepared(source, None, {}, table.report, table.line_map)
    head = encodings.read_head(job.source)
    encoding = encodings.detect_encoding(head, job.encoding)
    text_path, gzip = _utf8_path(job, temps, encoding)
    if job.fmt in ("json", "ndjson", "geojson"):
        target = _temp(job, temps, ".csv")
        table = json_to_csv(text_path, target, "utf-8", points=job.points)
        fixed = {GEOMETRY: "geometry"} if table.geo and GEOMETRY in table.header else {}
        source = conversion.CsvSource(target, ",", table.header, header_from_data=False)
        report = LoadReport(records_at=table.records_at, records=table.records, left_out=table.left_out)
        return _Prepared(source, encoding, fixed, report)
    text = encodings.decode_head(head, encoding)
    dialect = delimited.sniff_delimiter(text, prefer_tab=job.fmt == "tsv")
    if csvlayout.needs_layout(text_path, text, dialect, gzip=gzip):
        target = _temp(job, temps, ".csv")
        table = write_table(csvlayout.stream_rows(text_path, dialect), target)
        source = conversion.CsvSource(target, ",", table.header)
        return _Prepared(source, encoding, {}, table.report, table.line_map)
    header = delimited.header_of(text, dialect)
    source = conversion.CsvSource(text_path, dialect, header, gzip)
    return _Prepared(source, encoding, {}, physical=True)


def _utf8_path(job: _Job, temps: list[Path], encoding: str) -> tuple[Path, bool]:
    """The source itself when DuckDB can read it, else a transcoded temp copy."""
    if encoding in encodings.DUCKDB_NATIVE:
        return job.source, encodings.is_gzip(job.source)
    target = _temp(job, temps, ".txt")
    total = job.source.stat().st_size
    encodings.transcode(
        job.source, target, encoding, lambda done: job.report(min(done / total, 1.0) / 2)
    )
    return target, False


def _temp(job: _Job, temps: list[Path], suffix: str) -> Path:
    path = files.temp_path(job.dest_dir, suffix)
    temps.append(path)
    return path


def _checked_overrides(overrides: Mapping[str, str]) -> dict[str, str]:
    try:
        return {str(name): check_type(kind) for name, kind in overrides.items()}
    except StoreError as exc:
        raise IngestError(exc.code, exc.message) from exc


def _check_columns(header: tuple[str, ...], overrides: dict, cluster_by: tuple[str, ...]) -> None:
    known = set(header)
    for name in [*overrides, *cluster_by]:
        if name not in known:
            raise IngestError("unknown-column", f"the file has no column {name!r}", column=name)


def _reporter(progress: Callable[[int, int], None] | None, total: int) -> Callable[[float], None]:
    def report(share: float) -> None:
        if progress is not None:
            progress(int(total * share), total)

    return report


class _Checksum:
    """sha256 of the source, computed in a thread while DuckDB converts (hashlib frees the GIL)."""

    def __init__(self, path: Path) -> None:
        self._value: str | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, args=(path,), daemon=True)
        self._thread.start()

    def _work(self, path: Path) -> None:
        try:
            self._value = files.checksum_file(path)
        except OSError as exc:  # reported by result(), on the caller's thread
            self._error = exc

    def result(self) -> str:
        self._thread.join()
        if self._error is not None:
            raise IngestError("unreadable-file", f"could not read the source: {self._error}")
        assert self._value is not None
        return self._value
