"""Publishing: load dataset folders and data files into the catalog as immutable versions.

Loading is idempotent: an unchanged descriptor changes no metadata, and a data file whose
checksum equals the current version's adds no version. A load first claims its dataset, so a
second load of it is refused before it reads its file (decision 0024d); then it has three steps
(decision 0023d):
a short read of the catalog into a `staging.Target`, which then ends its transaction; the slow
work on files with no transaction open (`staging.stage`: ingest, sample, download sizes); and
one short transaction that writes the metadata, records the version and moves
`current_version` only if it is still the version the load began from. If that transaction
fails, the new files are deleted, so a failed load leaves the catalog and the served version
exactly as they were; a crash between the steps leaves only files no row points at, which
`kaifang init` sweeps.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session, selectinload

from portal import store
from portal.auth import Actor
from portal.catalog import downloads, outbox, staging
from portal.catalog.descriptors import DepartmentRef
from portal.catalog.models import Dataset, Department, Field, Tag, Theme, Version, utcnow
from portal.catalog.packages import PackageSpec, read_package
from portal.catalog.permissions import can_publish, require
from portal.catalog.schemas import VersionInfo
from portal.db import Held, claimed
from portal.errors import Conflict, Invalid, NotFound

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class LoadOutcome:
    slug: str
    created: bool
    metadata_changed: bool
    version: VersionInfo | None  # the version this load added, if any
    # the current version's sample drawn again for the ε-budget mode (`staging.needs_private_sample`)
    sample_redrawn: bool = False

    @property
    def changed(self) -> bool:
        return self.created or self.metadata_changed or self.version is not None or self.sample_redrawn


def load_package(session: Session, actor: Actor, folder: Path, *, data_dir: Path,
                 progress: Progress | None = None, code_words: tuple[str, ...] | None = None) -> LoadOutcome:
    """Create or update one dataset from its folder, adding a version when its data changed.

    Raises:
        Invalid: the descriptor is bad, or the data file cannot be ingested (with line/column).
        Forbidden: the actor may not publish for the descriptor's department.
        Conflict: another load of the dataset is running, or recorded a version while this one ran.
    """
    spec = read_package(folder)
    with _claimed(session, spec.slug):
        return _load_package(session, actor, spec, data_dir=data_dir, progress=progress, code_words=code_words)


def _load_package(session: Session, actor: Actor, spec: PackageSpec, *, data_dir: Path,
                  progress: Progress | None, code_words: tuple[str, ...] | None) -> LoadOutcome:
    dataset = _find(session, spec.slug)
    _check_publisher(session, actor, spec)
    _check_theme(session, spec.theme)
    target = staged = redrawn = None
    if spec.data_path is not None:
        target = _package_target(spec, dataset)
        current = _current_sample(dataset)
        session.rollback()  # the slow part runs with no transaction open
        staged = staging.stage(target, spec.data_path, data_dir=data_dir, fmt=spec.data_format,
                               encoding=spec.encoding, progress=progress, sheet=spec.sheet,
                               code_words=code_words)
        if staged is None and current is not None and staging.needs_private_sample(target, current.epsilon):
            redrawn = current, staging.redraw_sample(target, data_dir / current.storage_path, current.columns,
                                                     current.checksum)
    try:
        outcome = _record_package(session, actor, spec, staged, target, data_dir, redrawn=redrawn)
    except BaseException:
        session.rollback()
        if staged is not None:
            staged.discard()
        if redrawn is not None:
            redrawn[1].path.unlink(missing_ok=True)
        raise
    if staged is not None and target is not None:
        _drop_replaced_exports(data_dir, target)
    if redrawn is not None and redrawn[0].sample_path:
        (data_dir / redrawn[0].sample_path).unlink(missing_ok=True)  # no version names it now
    return outcome


@dataclass(frozen=True)
class _CurrentSample:
    """The current version's stored file and sample, read before the slow part."""

    version_id: int
    storage_path: str
    columns: tuple[store.Column, ...]
    checksum: str
    sample_path: str | None
    epsilon: float | None


def _current_sample(dataset: Dataset | None) -> _CurrentSample | None:
    version = dataset.current_version if dataset is not None else None
    if version is None:
        return None
    return _CurrentSample(version.id, version.storage_path, _columns(version), version.checksum, version.sample_path,
                          version.sample_epsilon)


def _record_redrawn(session: Session, dataset: Dataset, redrawn: tuple[_CurrentSample, staging.Written],
                    data_dir: Path) -> None:
    """Point the current version at its redrawn sample (`staging.redraw_sample`), if it is still
    the current version; its ε joins the sample's ledger on the version, the catalog's figure of
    its size with it (decision 0031f)."""
    current, written = redrawn
    if dataset.current_version_id != current.version_id:
        raise _concurrent(dataset.slug)
    session.execute(update(Version).where(Version.id == current.version_id).values(
        sample_path=str(written.path.relative_to(data_dir)), sample_epsilon=written.epsilon,
        row_count_approx=written.records))


def add_version(session: Session, actor: Actor, slug: str, source: Path, *, data_dir: Path,
                note: str = "", fmt: str | None = None, encoding: str | None = None,
                progress: Progress | None = None, sheet: str | int | None = None,
                code_words: tuple[str, ...] | None = None) -> VersionInfo | None:
    """Publish `source` as the next version of an existing dataset; None if it is unchanged.

    Raises:
        NotFound: no such dataset.
        Forbidden: the actor may not publish for its department.
        Invalid: the file cannot be ingested.
        Conflict: another load of the dataset is running, or recorded a version while this one ran.
    """
    with _claimed(session, slug):
        return _add_version(session, actor, slug, source, data_dir=data_dir, note=note, fmt=fmt,
                            encoding=encoding, progress=progress, sheet=sheet, code_words=code_words)


def _add_version(session: Session, actor: Actor, slug: str, source: Path, *, data_dir: Path, note: str,
                 fmt: str | None, encoding: str | None, progress: Progress | None, sheet: str | int | None,
                 code_words: tuple[str, ...] | None) -> VersionInfo | None:
    dataset = _find(session, slug)
    if dataset is None:
        raise NotFound("dataset", slug)
    require(can_publish(actor, dataset.department_id), "publish datasets for this department")
    if not source.is_file():
        raise Invalid(f"{source} is not a file", code="no-such-file")
    target = _dataset_target(dataset)
    session.rollback()  # the slow part runs with no transaction open
    staged = staging.stage(target, source, data_dir=data_dir, fmt=fmt, encoding=encoding,
                           progress=progress, sheet=sheet, code_words=code_words)
    if staged is None:
        return None
    try:
        dataset = _find(session, slug)
        if dataset is None:
            raise NotFound("dataset", slug)
        require(can_publish(actor, dataset.department_id), "publish datasets for this department")
        with _concurrent_load_refused(slug):
            version = _record_version(session, dataset, staged, target, data_dir, note)
            outbox.enqueue(session, dataset.id)
            session.commit()
    except BaseException:
        session.rollback()
        staged.discard()
        raise
    _drop_replaced_exports(data_dir, target)
    return VersionInfo.from_model(version)


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
              aggregates=list(f.aggregates) or None, required=f.required)
        for i, f in enumerate(spec.fields)
    ]


def _check_publisher(session: Session, actor: Actor, spec: PackageSpec) -> None:
    existing = _find_department(session, spec.department)
    require(can_publish(actor, existing.id if existing else None), "publish datasets for this department")


def _check_theme(session: Session, code: str) -> None:
    """Refused before the slow part rather than after it."""
    if session.scalar(select(Theme.id).where(Theme.code == code)) is None:
        raise Invalid(f"unknown theme {code!r}", code="unknown-theme")


def _base(dataset: Dataset | None) -> dict:
    """The current version a new one replaces, and the sample's ledger, as `Target` fields."""
    current = dataset.current_version if dataset is not None else None
    if current is None:
        return {"sample_spent": _sample_spent(dataset)}
    return {"sample_spent": _sample_spent(dataset), "base_version_id": current.id, "base_checksum": current.checksum,
            "base_storage_path": current.storage_path,
            "previous": {c["name"]: c["type"] for c in current.columns}}


def _sample_spent(dataset: Dataset | None) -> float:
    """The ε the samples of the dataset's recorded versions spent: the sample's ledger (0031a)."""
    if dataset is None or dataset.id is None:
        return 0.0
    return float(object_session(dataset).scalar(select(func.coalesce(func.sum(Version.sample_epsilon), 0.0)).where(
        Version.dataset_id == dataset.id)) or 0.0)


def _package_target(spec: PackageSpec, dataset: Dataset | None) -> staging.Target:
    """The dataset as the descriptor makes it (its settings are written only at the end)."""
    return staging.Target(
        slug=spec.slug, **_base(dataset), overrides=spec.overrides, cluster_by=tuple(spec.cluster_by),
        open_class=spec.open_class, coordinates=spec.coordinates,
        bounds={f.name: f.bounds for f in spec.fields if f.bounds is not None},
        required=frozenset(f.name for f in spec.fields if f.required),
        identifiers=frozenset(f.name for f in spec.fields if f.identifier), disclosure=spec.disclosure,
        levels={f.name: tuple(f.levels) for f in spec.fields if f.levels},
        coverage=(spec.temporal_start, spec.temporal_end))


def _dataset_target(dataset: Dataset) -> staging.Target:
    """The dataset as recorded: its declared types are strict."""
    return staging.Target(
        slug=dataset.slug, **_base(dataset),
        overrides={f.name: f.declared_type for f in dataset.fields if f.declared_type},
        cluster_by=tuple(dataset.cluster_by or ()), open_class=dataset.open_class,
        coordinates=dataset.coordinates, bounds=field_bounds(dataset.fields),
        required=frozenset(f.name for f in dataset.fields if f.required),
        identifiers=frozenset(f.name for f in dataset.fields if f.identifier), disclosure=dataset.disclosure,
        levels={f.name: tuple(f.levels) for f in dataset.fields if f.levels},
        coverage=(dataset.temporal_start, dataset.temporal_end))


def field_bounds(fields: list[Field]) -> dict[str, tuple[float, float]]:
    """The declared (minimum, maximum) of each bounded field."""
    return {f.name: (f.minimum, f.maximum) for f in fields if f.minimum is not None and f.maximum is not None}


def _record_package(session: Session, actor: Actor, spec: PackageSpec, staged: staging.Staged | None,
                    target: staging.Target | None, data_dir: Path, *,
                    redrawn: tuple[_CurrentSample, staging.Written] | None = None) -> LoadOutcome:
    """The short transaction of `load_package`: metadata, department, the staged version."""
    dataset = _find(session, spec.slug)
    existing = _find_department(session, spec.department)
    require(can_publish(actor, existing.id if existing else None), "publish datasets for this department")
    if staged is not None:
        _check_declared_fields(spec, staged.result.columns)
    elif dataset is not None and dataset.current_version is not None:
        _check_declared_fields(spec, _columns(dataset.current_version))
    created = dataset is None
    metadata_changed = created or dataset.descriptor_checksum != spec.checksum
    with _concurrent_load_refused(spec.slug):
        department = _upsert_department(session, existing, spec.department)
        if created:
            dataset = Dataset(slug=spec.slug, created_at=utcnow())
        if metadata_changed:
            _apply_metadata(session, dataset, spec, department)
            if dataset.current_version is not None:
                _sync_field_types(dataset, _columns(dataset.current_version))
        session.add(dataset)
        version = None
        if staged is not None and target is not None:
            version = _record_version(session, dataset, staged, target, data_dir, note="")
        if redrawn is not None:
            _record_redrawn(session, dataset, redrawn, data_dir)
        if version is not None or metadata_changed or redrawn is not None:
            session.flush()
            outbox.enqueue(session, dataset.id)
        session.commit()
    info = VersionInfo.from_model(version) if version is not None else None
    return LoadOutcome(spec.slug, created, metadata_changed and not created, info, sample_redrawn=redrawn is not None)


@contextmanager
def _claimed(session: Session, slug: str) -> Iterator[None]:
    """The dataset's load claim, for the whole load: a second load of the same dataset, in this
    process or another, is refused before it reads its file, instead of ingesting it all and
    then losing at the record (decision 0024d). The claim is an advisory lock
    (PostgreSQL) or a file lock beside the database (SQLite), so a loader that dies lets it go
    with its process; nothing has to expire."""
    try:
        with claimed(session.get_bind(), f"load:{slug}"):
            yield
    except Held as exc:
        raise Conflict(f"another load of {slug!r} is running; nothing of this load was done: run it again "
                       "when that one has finished", code="concurrent-load") from exc


@contextmanager
def _concurrent_load_refused(slug: str) -> Iterator[None]:
    """Two loads of one dataset at once: the second to record loses, with a clear message
    (its unique version number or slug is taken, or the current version moved)."""
    try:
        yield
    except IntegrityError as exc:
        raise _concurrent(slug) from exc


def _concurrent(slug: str) -> Conflict:
    return Conflict(f"another load of {slug!r} recorded a version while this one ran; nothing of this "
                    "load was kept: run it again to add its file after that version", code="concurrent-load")


def _record_version(session: Session, dataset: Dataset, staged: staging.Staged, target: staging.Target,
                    data_dir: Path, note: str) -> Version:
    """Record the staged version and make it current, only if the current version is still the
    one the load began from (`target.base_version_id`).

    Raises:
        Conflict: it is not (another load recorded a version in between).
    """
    if dataset.id is None:
        session.flush()
    result = staged.result
    number = (session.scalar(select(func.max(Version.number)).where(Version.dataset_id == dataset.id)) or 0) + 1
    version = Version(
        dataset_id=dataset.id, number=number, note=note, source_name=staged.source_name,
        source_format=result.source_format, encoding=result.encoding, checksum=result.checksum,
        row_count=result.row_count, byte_size=result.byte_size, source_bytes=result.source_bytes,
        columns=[{"name": c.name, "type": c.type} for c in result.columns],
        storage_path=str(result.path.relative_to(data_dir)),
        load_report=None if result.report.empty else result.report.as_dict(),
        clamped=staged.clamped, export_sizes=staged.export_sizes,
        sample_path=str(staged.sample.relative_to(data_dir)) if staged.sample else None,
        sample_epsilon=staged.sample_epsilon, row_count_approx=staged.records_approx,
    )
    session.add(version)
    session.flush()
    base = target.base_version_id
    still = Dataset.current_version_id.is_(None) if base is None else Dataset.current_version_id == base
    moved = session.execute(update(Dataset).where(Dataset.id == dataset.id, still)
                            .values(current_version_id=version.id, updated_at=utcnow()))
    if moved.rowcount != 1:
        raise _concurrent(dataset.slug)
    _sync_field_types(dataset, result.columns)
    return version


def _drop_replaced_exports(data_dir: Path, target: staging.Target) -> None:
    """Only the current version is downloadable: the replaced one's download cache goes."""
    if target.base_storage_path:
        shutil.rmtree(data_dir / downloads.EXPORTS_DIR / Path(target.base_storage_path).stem, ignore_errors=True)


def _sync_field_types(dataset: Dataset, columns: tuple[store.Column, ...]) -> None:
    """The data dictionary shows the stored types, and lists columns the descriptor forgot."""
    by_name = {f.name: f for f in dataset.fields}
    for position, column in enumerate(columns):
        field = by_name.get(column.name)
        if field is None:
            dataset.fields.append(Field(position=len(by_name) + position, name=column.name, type=column.type))
        else:
            field.type = column.type


def _check_declared_fields(spec: PackageSpec, columns: tuple[store.Column, ...]) -> None:
    """Every field the descriptor's schema names is a column of the data: a data dictionary entry
    for a column that does not exist (a misspelt or renamed header) is refused, not listed.

    Raises:
        Invalid: `bad-descriptor`, naming the fields and the file's columns.
    """
    names = {c.name for c in columns}
    missing = [f.name for f in spec.fields if f.name not in names]
    if missing:
        shown = ", ".join(repr(n) for n in missing)
        problem = f"{shown} {'is not a column' if len(missing) == 1 else 'are not columns'} of the data file " \
                  f"(its columns: {', '.join(c.name for c in columns)})"
        raise Invalid(f"{spec.folder / 'datapackage.json'} does not fit its data: resources[0].schema.fields: {problem}",
                      code="bad-descriptor", errors={"resources[0].schema.fields": [problem]})


def _columns(version: Version) -> tuple[store.Column, ...]:
    return tuple(store.Column(c["name"], c["type"]) for c in version.columns)
