"""Publishing: load dataset folders and data files into the catalog as immutable versions.

Loading is idempotent: an unchanged descriptor changes no metadata, and a data file whose
checksum equals the current version's adds no version. A new data file becomes a new version in
one step: the store writes the Parquet file atomically, then one transaction records the version
and moves `current_version`; if that transaction fails, the new file is deleted, so a failed load
leaves the catalog and the served version exactly as they were.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, selectinload

from portal import store
from portal.auth import Actor
from portal.catalog import downloads, outbox
from portal.catalog.descriptors import DepartmentRef
from portal.catalog.disclosure_settings import Rules
from portal.catalog.models import Dataset, Department, Field, Tag, Theme, Version, utcnow
from portal.catalog.packages import PackageSpec, read_package
from portal.catalog.permissions import can_publish, require
from portal.catalog.schemas import VersionInfo
from portal.errors import Invalid, NotFound

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class LoadOutcome:
    slug: str
    created: bool
    metadata_changed: bool
    version: VersionInfo | None  # the version this load added, if any

    @property
    def changed(self) -> bool:
        return self.created or self.metadata_changed or self.version is not None


def load_package(session: Session, actor: Actor, folder: Path, *, data_dir: Path,
                 progress: Progress | None = None, code_words: tuple[str, ...] | None = None) -> LoadOutcome:
    """Create or update one dataset from its folder, adding a version when its data changed.

    Raises:
        Invalid: the descriptor is bad, or the data file cannot be ingested (with line/column).
        Forbidden: the actor may not publish for the descriptor's department.
    """
    spec = read_package(folder)
    dataset = _find(session, spec.slug)
    existing = _find_department(session, spec.department)
    require(can_publish(actor, existing.id if existing else None), "publish datasets for this department")
    department = _upsert_department(session, existing, spec.department)
    created = dataset is None
    metadata_changed = created or dataset.descriptor_checksum != spec.checksum
    if created:
        dataset = Dataset(slug=spec.slug, created_at=utcnow())
    if metadata_changed:
        _apply_metadata(session, dataset, spec, department)
        if dataset.current_version is not None:
            _sync_field_types(dataset, _columns(dataset.current_version))
    session.add(dataset)
    version = None
    if spec.data_path is not None:
        version = _maybe_new_version(session, dataset, spec.data_path, data_dir=data_dir,
                                     fmt=spec.data_format, encoding=spec.encoding,
                                     overrides=spec.overrides, note="", progress=progress,
                                     sheet=spec.sheet, code_words=code_words)
    if version is None:
        if metadata_changed:
            session.flush()
            outbox.enqueue(session, dataset.id)
        session.commit()
    return LoadOutcome(spec.slug, created, metadata_changed and not created, version)


def add_version(session: Session, actor: Actor, slug: str, source: Path, *, data_dir: Path,
                note: str = "", fmt: str | None = None, encoding: str | None = None,
                progress: Progress | None = None, sheet: str | int | None = None,
                code_words: tuple[str, ...] | None = None) -> VersionInfo | None:
    """Publish `source` as the next version of an existing dataset; None if it is unchanged.

    Raises:
        NotFound: no such dataset.
        Forbidden: the actor may not publish for its department.
        Invalid: the file cannot be ingested.
    """
    dataset = _find(session, slug)
    if dataset is None:
        raise NotFound("dataset", slug)
    require(can_publish(actor, dataset.department_id), "publish datasets for this department")
    if not source.is_file():
        raise Invalid(f"{source} is not a file", code="no-such-file")
    declared = {f.name: f.declared_type for f in dataset.fields if f.declared_type}
    return _maybe_new_version(session, dataset, source, data_dir=data_dir, fmt=fmt, encoding=encoding,
                              overrides=declared, note=note, progress=progress, sheet=sheet,
                              code_words=code_words)


def delete_dataset(session: Session, actor: Actor, slug: str, *, data_dir: Path) -> None:
    """Remove a dataset, its versions, fields and tags, then its stored files.

    The rows go in one statement (the foreign keys cascade); the index forgets the dataset in
    the same commit's outbox drain. Files are removed after the commit: a crash in between only
    leaves files that `kaifang init` sweeps.

    Raises:
        NotFound: no such dataset.
        Forbidden: the actor may not publish for its department.
    """
    dataset = session.scalar(select(Dataset).where(Dataset.slug == slug))
    if dataset is None:
        raise NotFound("dataset", slug)
    require(can_publish(actor, dataset.department_id), "delete datasets of this department")
    outbox.enqueue(session, dataset.id)
    session.execute(update(Dataset).where(Dataset.id == dataset.id).values(current_version_id=None))
    session.execute(delete(Dataset).where(Dataset.id == dataset.id))
    session.commit()
    shutil.rmtree(data_dir / slug, ignore_errors=True)


def _find(session: Session, slug: str) -> Dataset | None:
    return session.scalar(select(Dataset).where(Dataset.slug == slug).options(
        selectinload(Dataset.fields), selectinload(Dataset.tags), selectinload(Dataset.current_version)))


def _find_department(session: Session, ref: DepartmentRef) -> Department | None:
    """The department a descriptor names: by slug, or for a plain name by that name first."""
    if ref.by_name:
        name = ref.name_zh or ref.name_en
        found = session.scalar(select(Department).where(
            (Department.name_zh == name) | (Department.name_en == name)).order_by(Department.id))
        if found is not None:
            return found
    return session.scalar(select(Department).where(Department.slug == ref.slug))


def _upsert_department(session: Session, department: Department | None, ref: DepartmentRef) -> Department:
    """Create the department, or update the names the descriptor gives (a plain name changes none)."""
    if department is None:
        department = Department(slug=ref.slug, name_zh=ref.name_zh or ref.name_en or ref.slug,
                                name_en=ref.name_en or ref.name_zh or ref.slug)
        session.add(department)
    elif not ref.by_name:
        department.name_zh = ref.name_zh or department.name_zh
        department.name_en = ref.name_en or department.name_en
    session.flush()
    return department


def _apply_metadata(session: Session, dataset: Dataset, spec: PackageSpec, department: Department) -> None:
    theme = session.scalar(select(Theme).where(Theme.code == spec.theme))
    if theme is None:
        raise Invalid(f"unknown theme {spec.theme!r}", code="unknown-theme")
    dataset.theme_id, dataset.department_id = theme.id, department.id
    dataset.title_zh, dataset.title_en = spec.title_zh, spec.title_en
    dataset.description_zh, dataset.description_en = spec.description_zh, spec.description_en
    dataset.open_class, dataset.closed_reason = spec.open_class, spec.closed_reason
    dataset.licence_name = spec.licence["name"]
    dataset.licence_title = spec.licence["title"]
    dataset.licence_url = spec.licence["url"]
    dataset.sources, dataset.update_frequency = spec.sources, spec.update_frequency
    dataset.temporal_start, dataset.temporal_end = spec.temporal_start, spec.temporal_end
    dataset.spatial_zh = spec.spatial.get("zh", "")
    dataset.spatial_en = spec.spatial.get("en", "")
    dataset.contact_name = spec.contact.get("name", "")
    dataset.contact_email = spec.contact.get("email", "")
    dataset.synthetic, dataset.coordinates = spec.synthetic, spec.coordinates
    dataset.demo_sample = spec.demo_sample
    dataset.disclosure = spec.disclosure
    dataset.cluster_by = list(spec.cluster_by) or None
    dataset.descriptor_checksum = spec.checksum
    dataset.updated_at = utcnow()
    if dataset.id is not None:  # delete the old tags and fields before inserting their successors
        dataset.tags, dataset.fields = [], []
        session.flush()
    dataset.tags = [Tag(lang="en", name=k, position=i) for i, k in enumerate(dict.fromkeys(spec.keywords))] + \
                   [Tag(lang="zh", name=k, position=i) for i, k in enumerate(dict.fromkeys(spec.tags_zh))]
    dataset.fields = [
        Field(position=i, name=f.name, type=f.type or "text", declared_type=f.type,
              description_en=f.description_en, description_zh=f.description_zh, unit=f.unit,
              identifier=f.identifier, sensitive=f.sensitive,
              minimum=f.minimum, maximum=f.maximum, levels=list(f.levels) if f.levels else None,
              aggregates=list(f.aggregates) or None)
        for i, f in enumerate(spec.fields)
    ]


def _maybe_new_version(session: Session, dataset: Dataset, source: Path, *, data_dir: Path,
                       fmt: str | None, encoding: str | None, overrides: dict[str, str], note: str,
                       progress: Progress | None, sheet: str | int | None = None,
                       code_words: tuple[str, ...] | None = None) -> VersionInfo | None:
    """Ingest `source` unless it is the current version's file. Declared types (`overrides`) are
    strict; the current version's types are passed as `previous`, so a column is widened (and
    the change reported) rather than converted lossily."""
    checksum = store.checksum_file(source)
    current = dataset.current_version
    if current is not None and current.checksum == checksum:
        return None
    dest = data_dir / dataset.slug
    previous = {c["name"]: c["type"] for c in current.columns} if current is not None else {}
    try:
        result = store.ingest(source, dest, fmt=fmt, encoding=encoding, overrides=overrides, progress=progress,
                              cluster_by=tuple(dataset.cluster_by or ()), previous=previous, sheet=sheet,
                              code_words=code_words)
    except store.IngestError as exc:
        session.rollback()
        raise _ingest_problem(source, exc) from exc
    sample = None
    try:
        _check_coordinates(dataset, result)
        result, clamped = _clamp_conditional(dataset, result)
        sample = _sample_for(dataset, result)
        version = _record_version(session, dataset, result, source, data_dir, note)
        version.clamped = clamped or None
        version.sample_path = str(sample.relative_to(data_dir)) if sample else None
        if dataset.open_class == "open":
            table = store.StoredTable(result.path, result.columns)
            version.export_sizes = downloads.measured_sizes(table, downloads.coordinates_of(dataset))
        outbox.enqueue(session, dataset.id)
        session.commit()
    except BaseException:
        session.rollback()
        result.path.unlink(missing_ok=True)
        if sample is not None:
            sample.unlink(missing_ok=True)
        raise
    if current is not None:  # only the current version is downloadable: the replaced one's cache goes
        shutil.rmtree(downloads.export_folder(data_dir, current), ignore_errors=True)
    return VersionInfo.from_model(version)


NUMERIC = frozenset({"integer", "float", "decimal"})


def _check_coordinates(dataset: Dataset, result: store.IngestResult) -> None:
    """`kaifang.coordinates` must name stored columns: a misspelt one was accepted and every map
    request then failed with `unknown-column`.

    Raises:
        Invalid: `bad-descriptor`, naming `kaifang.coordinates.longitude` or `.latitude`.
    """
    names = {c.name for c in result.columns}
    errors = {f"kaifang.coordinates.{axis}": [f"{column!r} is not a column of the file "
                                              f"(columns: {', '.join(sorted(names)[:20])})"]
              for axis, column in (dataset.coordinates or {}).items()
              if axis in ("longitude", "latitude") and column not in names}
    if errors:
        first, messages = next(iter(errors.items()))
        raise Invalid(f"{first}: {messages[0]}", code="bad-descriptor", errors=errors)


def _clamp_conditional(dataset: Dataset, result: store.IngestResult) -> tuple[store.IngestResult, dict[str, int]]:
    """Conditional data is computed on by interval arithmetic over its declared bounds, so every
    numeric column needs bounds, and values outside them are clamped (and counted) here.

    Raises:
        Invalid: a numeric column of conditional data has no declared bounds.
    """
    if dataset.open_class != "conditional":
        return result, {}
    bounds = field_bounds(dataset.fields)
    missing = [c.name for c in result.columns if c.type in NUMERIC and c.name not in bounds]
    if missing:
        raise Invalid(f"conditional data needs public bounds for every numeric field; declare "
                      f"constraints.minimum and constraints.maximum for: {', '.join(missing)}",
                      code="missing-bounds", errors={name: ["no declared bounds"] for name in missing})
    return store.clamp(result, bounds)


def field_bounds(fields: list[Field]) -> dict[str, tuple[float, float]]:
    """The declared (minimum, maximum) of each bounded field."""
    return {f.name: (f.minimum, f.maximum) for f in fields if f.minimum is not None and f.maximum is not None}


class SampleWriter(Protocol):
    def __call__(self, table: store.StoredTable, path: Path, *, identifiers: frozenset[str],
                 seed: str, rules: Rules) -> Path: ...


_sample_writer: SampleWriter | None = None


def set_sample_writer(writer: SampleWriter) -> None:
    """The synthetic sample is drawn with the disclosure control of `portal.analysis`, a layer
    above the catalog (docs/architecture.md): the app factory hands its writer in here."""
    global _sample_writer  # noqa: PLW0603 - one writer per process, set by the composition root
    _sample_writer = writer


def _sample_for(dataset: Dataset, result: store.IngestResult) -> Path | None:
    """Conditional data gets its synthetic sample (样本数据) when the version is published;
    without a sample writer a conditional version is refused, never published without one."""
    if dataset.open_class != "conditional":
        return None
    if _sample_writer is None:
        raise RuntimeError("no sample writer: build the app (portal.create_app) before publishing conditional data")
    table = store.StoredTable(result.path, result.columns)
    identifiers = frozenset(f.name for f in dataset.fields if f.identifier)
    return _sample_writer(table, result.path.with_suffix(".sample.csv"), identifiers=identifiers,
                        seed=result.checksum, rules=Rules.with_overrides(dataset.disclosure))


def _record_version(session: Session, dataset: Dataset, result: store.IngestResult, source: Path,
                    data_dir: Path, note: str) -> Version:
    if dataset.id is None:
        session.flush()
    number = (session.scalar(select(func.max(Version.number)).where(Version.dataset_id == dataset.id)) or 0) + 1
    version = Version(
        dataset_id=dataset.id, number=number, note=note, source_name=source.name,
        source_format=result.source_format, encoding=result.encoding, checksum=result.checksum,
        row_count=result.row_count, byte_size=result.byte_size, source_bytes=result.source_bytes,
        columns=[{"name": c.name, "type": c.type} for c in result.columns],
        storage_path=str(result.path.relative_to(data_dir)),
        load_report=None if result.report.empty else result.report.as_dict(),
    )
    session.add(version)
    session.flush()
    dataset.current_version_id = version.id
    dataset.updated_at = utcnow()
    _sync_field_types(dataset, result.columns)
    return version


def _sync_field_types(dataset: Dataset, columns: tuple[store.Column, ...]) -> None:
    """The data dictionary shows the stored types, and lists columns the descriptor forgot."""
    by_name = {f.name: f for f in dataset.fields}
    for position, column in enumerate(columns):
        field = by_name.get(column.name)
        if field is None:
            dataset.fields.append(Field(position=len(by_name) + position, name=column.name, type=column.type))
        else:
            field.type = column.type


def _columns(version: Version) -> tuple[store.Column, ...]:
    return tuple(store.Column(c["name"], c["type"]) for c in version.columns)


def _ingest_problem(source: Path, exc: store.IngestError) -> Invalid:
    where = []
    if getattr(exc, "line", None):
        where.append(f"line {exc.line}")
    if getattr(exc, "column", None):
        where.append(f"column {exc.column}")
    suffix = f" ({', '.join(where)})" if where else ""
    return Invalid(f"{source.name}: {exc.message}{suffix}", code=exc.code)
