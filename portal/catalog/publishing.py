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

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, selectinload

from portal import search, store
from portal.analysis.disclosure import Rules
from portal.analysis.samples import write_sample
from portal.auth import Actor
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
                 progress: Progress | None = None) -> LoadOutcome:
    """Create or update one dataset from its folder, adding a version when its data changed.

    Raises:
        Invalid: the descriptor is bad, or the data file cannot be ingested (with line/column).
        Forbidden: the actor may not publish for the descriptor's department.
    """
    spec = read_package(folder)
    dataset = _find(session, spec.slug)
    existing = session.scalar(select(Department.id).where(Department.slug == spec.department.get("slug")))
    require(can_publish(actor, existing), "publish datasets for this department")
    department = _upsert_department(session, spec.department)
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
                                     overrides=spec.overrides, note="", progress=progress)
    if version is None:
        if metadata_changed:
            session.flush()
            search.enqueue(session, dataset.id)
        session.commit()
    return LoadOutcome(spec.slug, created, metadata_changed and not created, version)


def add_version(session: Session, actor: Actor, slug: str, source: Path, *, data_dir: Path,
                note: str = "", fmt: str | None = None, encoding: str | None = None,
                progress: Progress | None = None) -> VersionInfo | None:
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
    overrides = {f.name: f.type for f in dataset.fields if f.type}
    return _maybe_new_version(session, dataset, source, data_dir=data_dir, fmt=fmt, encoding=encoding,
                              overrides=overrides, note=note, progress=progress)


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
    search.enqueue(session, dataset.id)
    session.execute(update(Dataset).where(Dataset.id == dataset.id).values(current_version_id=None))
    session.execute(delete(Dataset).where(Dataset.id == dataset.id))
    session.commit()
    shutil.rmtree(data_dir / slug, ignore_errors=True)


def _find(session: Session, slug: str) -> Dataset | None:
    return session.scalar(select(Dataset).where(Dataset.slug == slug).options(
        selectinload(Dataset.fields), selectinload(Dataset.tags), selectinload(Dataset.current_version)))


def _upsert_department(session: Session, info: dict[str, str]) -> Department:
    slug = info.get("slug") or ""
    if not slug:
        raise Invalid("the descriptor names no department slug", code="bad-descriptor")
    department = session.scalar(select(Department).where(Department.slug == slug))
    if department is None:
        department = Department(slug=slug)
        session.add(department)
    department.name_zh = info.get("name_zh") or slug
    department.name_en = info.get("name_en") or slug
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
        Field(position=i, name=f.name, type=f.type or "text", description_en=f.description_en,
              description_zh=f.description_zh, unit=f.unit, identifier=f.identifier, sensitive=f.sensitive)
        for i, f in enumerate(spec.fields)
    ]


def _maybe_new_version(session: Session, dataset: Dataset, source: Path, *, data_dir: Path,
                       fmt: str | None, encoding: str | None, overrides: dict[str, str], note: str,
                       progress: Progress | None) -> VersionInfo | None:
    checksum = store.checksum_file(source)
    current = dataset.current_version
    if current is not None and current.checksum == checksum:
        return None
    dest = data_dir / dataset.slug
    try:
        result = store.ingest(source, dest, fmt=fmt, encoding=encoding, overrides=overrides, progress=progress,
                              cluster_by=tuple(dataset.cluster_by or ()))
    except store.IngestError as exc:
        session.rollback()
        raise _ingest_problem(source, exc) from exc
    sample = None
    try:
        sample = _sample_for(dataset, result)
        version = _record_version(session, dataset, result, source, data_dir, note)
        version.sample_path = str(sample.relative_to(data_dir)) if sample else None
        search.enqueue(session, dataset.id)
        session.commit()
    except BaseException:
        session.rollback()
        result.path.unlink(missing_ok=True)
        if sample is not None:
            sample.unlink(missing_ok=True)
        raise
    return VersionInfo.from_model(version)


def _sample_for(dataset: Dataset, result: store.IngestResult) -> Path | None:
    """Conditional data gets its synthetic sample (样本数据) when the version is published."""
    if dataset.open_class != "conditional":
        return None
    table = store.StoredTable(result.path, result.columns)
    identifiers = frozenset(f.name for f in dataset.fields if f.identifier)
    return write_sample(table, result.path.with_suffix(".sample.csv"), identifiers=identifiers,
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
