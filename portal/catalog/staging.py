"""The slow part of a load, done with no database transaction open (decision 0023d).

Reading, inferring and converting a data file, writing its Parquet version file, its synthetic
sample and measuring its download sizes can take minutes on a big file. While SQLite holds a
write transaction nobody else can write (sign-in, count flushes, applications wait and then fail
with "database is locked"); on PostgreSQL a long transaction holds its row locks and keeps vacuum
from removing dead rows. So a load reads what it needs from the catalog into a `Target` of plain
values, ends its transaction, builds a `Staged` version here, and only then records it in one
short transaction (`publishing.py`).

Nothing here touches the database. A `Staged` version's files have their final names but no
catalog row points at them yet: the caller either records them or `discard`s them; a crash in
between leaves files that `kaifang init` sweeps (`setup.sweep_data`).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from portal import store
from portal.catalog import downloads
from portal.catalog.disclosure_settings import Rules, mode_in_force
from portal.errors import Invalid

Progress = Callable[[int, int], None]
NUMERIC = frozenset({"integer", "float", "decimal"})
SAMPLE_SUFFIX = ".sample.csv"
SAMPLE_TEMP_SUFFIX = ".sample.tmp"  # the sample writer's name while it writes


@dataclass(frozen=True)
class Target:
    """What a new version of a dataset is built against, read before the slow part: the dataset
    as it will be (its descriptor's settings), and the current version it replaces, which the
    recording transaction checks is still current."""

    slug: str
    base_version_id: int | None = None  # the current version when the load began
    base_checksum: str | None = None
    base_storage_path: str | None = None
    previous: dict[str, str] = field(default_factory=dict)  # the current version's column types
    overrides: dict[str, str] = field(default_factory=dict)  # declared types: strict
    cluster_by: tuple[str, ...] = ()
    open_class: str = "open"
    coordinates: dict[str, str] | None = None
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)
    required: frozenset[str] = frozenset()
    identifiers: frozenset[str] = frozenset()
    disclosure: dict[str, Any] | None = None
    levels: dict[str, tuple[str, ...]] = field(default_factory=dict)  # declared (constraints.enum)
    coverage: tuple[date | None, date | None] = (None, None)  # kaifang.temporal_coverage
    # ε the samples of the dataset's recorded versions spent (the sample's ledger, decision 0031a),
    # read under the load's claim: no other load of the dataset records a sample meanwhile
    sample_spent: float = 0.0

    @property
    def coordinate_columns(self) -> tuple[str, str] | None:
        coords = self.coordinates or {}
        if coords.get("longitude") and coords.get("latitude"):
            return coords["longitude"], coords["latitude"]
        return None


@dataclass(frozen=True)
class Staged:
    """A version built on disk and not yet recorded."""

    result: store.IngestResult
    source_name: str
    sample: Path | None = None
    clamped: dict[str, int] | None = None
    export_sizes: dict[str, int] | None = None
    sample_epsilon: float | None = None  # as `Written.epsilon`
    records_approx: int | None = None  # as `Written.records`

    def discard(self) -> None:
        """Remove the files of a version that will not be recorded."""
        self.result.path.unlink(missing_ok=True)
        if self.sample is not None:
            self.sample.unlink(missing_ok=True)


@dataclass(frozen=True)
class Written:
    """A sample the writer wrote, and the ε it spent: None for a statistical-mode sample (no ε
    ledger), 0 for one drawn from the data dictionary alone (decision 0031a); and, in the ε mode,
    the version's size as the catalog shows it, post-processing of the sample's released counts
    (decision 0031f; None: no figure)."""

    path: Path
    epsilon: float | None = None
    records: int | None = None


class SampleWriter(Protocol):
    def __call__(self, table: store.StoredTable, path: Path, *, target: Target, seed: str,
                 rules: Rules) -> Written: ...


_sample_writer: SampleWriter | None = None


def set_sample_writer(writer: SampleWriter) -> None:
    """The synthetic sample is drawn with the disclosure control of `portal.analysis`, a layer
    above the catalog (docs/architecture.md): the app factory hands its writer in here."""
    global _sample_writer  # noqa: PLW0603 - one writer per process, set by the composition root
    _sample_writer = writer


def stage(target: Target, source: Path, *, data_dir: Path, fmt: str | None, encoding: str | None,
          progress: Progress | None, sheet: str | int | None = None,
          code_words: tuple[str, ...] | None = None) -> Staged | None:
    """Build the version file (and sample and sizes) of `source`; None when it is the current
    version's file. Declared types (`target.overrides`) are strict; the current version's types
    are passed as `previous`, so a column is widened (and the change reported) rather than
    converted lossily.

    Raises:
        Invalid: the file cannot be ingested, or does not fit the descriptor; nothing is left.
    """
    if target.base_checksum is not None and store.checksum_file(source) == target.base_checksum:
        return None
    try:
        # Source order unless the publisher declared `cluster_by`: the automatic clustering's
        # Z-order is made after the load, as a copy, when pages filter on its keys (0027c).
        result = store.ingest(source, data_dir / target.slug, fmt=fmt, encoding=encoding,
                              overrides=target.overrides, progress=progress, cluster_by=target.cluster_by,
                              auto_cluster=False,
                              previous=target.previous, sheet=sheet, code_words=code_words,
                              point_columns=target.coordinate_columns)
    except store.IngestError as exc:
        raise ingest_problem(source, exc) from exc
    staged = Staged(result, source.name)
    try:
        _check_coordinates(target, result)
        _check_required(target, result)
        result, clamped = _clamp_conditional(target, result)
        staged = Staged(result, source.name, clamped=clamped or None)
        written = _sample_for(target, result)
        sample = written.path if written else None
        epsilon = written.epsilon if written else None
        approx = written.records if written else None
        staged = Staged(result, source.name, sample=sample, clamped=clamped or None, sample_epsilon=epsilon,
                        records_approx=approx)
        if target.open_class == "open":
            sizes = downloads.measured_sizes(store.StoredTable(result.path, result.columns),
                                             target.coordinate_columns)
            staged = Staged(result, source.name, sample=sample, clamped=clamped or None, export_sizes=sizes)
    except BaseException:
        staged.discard()
        raise
    return staged


def _check_coordinates(target: Target, result: store.IngestResult) -> None:
    """`kaifang.coordinates` must name stored columns: a misspelt one was accepted and every map
    request then failed with `unknown-column`.

    Raises:
        Invalid: `bad-descriptor`, naming `kaifang.coordinates.longitude` or `.latitude`.
    """
    names = {c.name for c in result.columns}
    errors = {f"kaifang.coordinates.{axis}": [f"{column!r} is not a column of the file "
                                              f"(columns: {', '.join(sorted(names)[:20])})"]
              for axis, column in (target.coordinates or {}).items()
              if axis in ("longitude", "latitude") and column not in names}
    if errors:
        first, messages = next(iter(errors.items()))
        raise Invalid(f"{first}: {messages[0]}", code="bad-descriptor", errors=errors)


def _check_required(target: Target, result: store.IngestResult) -> None:
    """A field declared `constraints.required` must have a value in every record: disclosure
    control divides a mean of it by the count (decision 0028e), so a gap would count as a value.

    Raises:
        Invalid: `missing-required`, naming each such field with its number of gaps and the first.
    """
    stored = {c.name for c in result.columns}
    found = store.gaps(result.path, target.required & stored)
    if found:
        # A clustered file is not in the source's order: its record numbers would mislead.
        where = "" if target.cluster_by else ", the first is record {first}"
        errors = {name: [f"{count} record(s) without a value" + where.format(first=first)]
                  for name, (count, first) in sorted(found.items())}
        first, messages = next(iter(errors.items()))
        raise Invalid(f"constraints.required: {first!r} has {messages[0]}; give every record a value, "
                      f"or drop `required` from the field", code="missing-required", errors=errors)


def _clamp_conditional(target: Target, result: store.IngestResult) -> tuple[store.IngestResult, dict[str, int]]:
    """Conditional data is computed on by interval arithmetic over its declared bounds, so every
    numeric column needs bounds, and values outside them are clamped (and counted) here.

    Raises:
        Invalid: a numeric column of conditional data has no declared bounds.
    """
    if target.open_class != "conditional":
        return result, {}
    missing = [c.name for c in result.columns if c.type in NUMERIC and c.name not in target.bounds]
    if missing:
        raise Invalid(f"conditional data needs public bounds for every numeric field; declare "
                      f"constraints.minimum and constraints.maximum for: {', '.join(missing)}",
                      code="missing-bounds", errors={name: ["no declared bounds"] for name in missing})
    return store.clamp(result, target.bounds)


def _sample_for(target: Target, result: store.IngestResult) -> Written | None:
    """Conditional data gets its synthetic sample (样本数据) when the version is published;
    without a sample writer a conditional version is refused, never published without one."""
    if target.open_class != "conditional":
        return None
    return _write_sample(target, result.path, result.columns, result.checksum, result.path.with_suffix(SAMPLE_SUFFIX))


def _write_sample(target: Target, stored: Path, columns: tuple[store.Column, ...], checksum: str,
                  dest: Path) -> Written:
    """The sample of the stored version at `stored`, written to `dest` by the app's writer."""
    if _sample_writer is None:
        raise RuntimeError("no sample writer: build the app (portal.create_app) before publishing conditional data")
    # with the declared bounds: the histograms' grid lies inside them (decision 0029i)
    bounds = tuple((name, low, high) for name, (low, high) in sorted(target.bounds.items()))
    table = store.StoredTable(stored, columns, bounds=bounds)
    return _sample_writer(table, dest, target=target, seed=checksum, rules=Rules.with_overrides(target.disclosure))


def needs_private_sample(target: Target, sample_epsilon: float | None) -> bool:
    """Whether the current version's sample must be drawn again for the ε-budget mode: the
    dataset is (now) declared in that mode and the sample was not drawn by it (`sample_epsilon`
    None: a statistical-mode sample, or one written before decision 0031a). Such a sample weighs
    levels by counts calibrated for one record, so a person of many records moved it (decision
    0031a); a load that changes the declared mode, or reloads a dataset published before that
    decision, with the same data adds no version, and the sample was left as it was."""
    return target.open_class == "conditional" and mode_in_force(target.disclosure) == "dp" and sample_epsilon is None


def redraw_sample(target: Target, stored: Path, columns: tuple[store.Column, ...], checksum: str) -> Written:
    """A new sample of the stored version at `stored`, under `target`'s settings, beside the
    version's file under a name of its own (the current sample stays until the new one is
    recorded; `kaifang init` sweeps the one no version names). Spends the sample's ε as a new
    version's sample does (`target.sample_spent`, the sample's ledger)."""
    return _write_sample(target, stored, columns, checksum, stored.with_suffix(f".{secrets.token_hex(4)}{SAMPLE_SUFFIX}"))


def ingest_problem(source: Path, exc: store.IngestError) -> Invalid:
    where = []
    if getattr(exc, "line", None):
        where.append(f"line {exc.line}")
    if getattr(exc, "column", None):
        where.append(f"column {exc.column}")
    suffix = f" ({', '.join(where)})" if where else ""
    return Invalid(f"{source.name}: {exc.message}{suffix}", code=exc.code)
