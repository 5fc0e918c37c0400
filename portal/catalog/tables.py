"""Which stored table a row request reads: a dataset's current or an earlier version, resolved
once per catalog generation (see cache.py) and checked against the actor on every call.

A version's file and schema never change, so the resolved record is a plain frozen value that
every request can share; only the visibility and open-class checks depend on who asks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import store
from portal.auth import Actor
from portal.catalog.cache import cached
from portal.catalog.models import Dataset, Version
from portal.catalog.permissions import can_view_dataset, can_view_rows, require
from portal.errors import NotFound


@dataclass(frozen=True)
class TableVersion:
    """One immutable version's file and schema."""

    number: int
    storage_path: str
    columns: tuple[store.Column, ...]
    checksum: str
    created_at: datetime
    row_count: int


@dataclass(frozen=True)
class ResolvedDataset:
    slug: str
    open_class: str
    published: bool
    department_id: int
    current: int | None
    versions: dict[int, TableVersion]


def resolve(session: Session, slug: str) -> ResolvedDataset | None:
    """The dataset's row-serving record, whoever asks (callers check visibility)."""
    return cached(session, ("table", slug), lambda: _load(session, slug))


def readable_version(session: Session, actor: Actor, slug: str, number: int | None = None
                     ) -> tuple[ResolvedDataset, TableVersion]:
    """The version (current when `number` is None) whose rows the actor may read.

    Raises:
        NotFound: no such visible dataset, no data yet, or no version `number`.
        Forbidden: the dataset is not open (code `rows-not-open`).
    """
    found = resolve(session, slug)
    if found is None or not can_view_dataset(actor, published=found.published, department_id=found.department_id):
        raise NotFound("dataset", slug)
    require(can_view_rows(actor, found.open_class), f"read the rows of a {found.open_class} dataset",
            code="rows-not-open")
    wanted = found.current if number is None else number
    version = found.versions.get(wanted) if wanted is not None else None
    if version is None:
        raise NotFound("version", f"{slug} v{number}" if number is not None else slug)
    return found, version


def stored(version: TableVersion, data_dir: Path) -> store.StoredTable:
    return store.StoredTable(data_dir / version.storage_path, version.columns)


def _load(session: Session, slug: str) -> ResolvedDataset | None:
    dataset = session.scalar(select(Dataset).where(Dataset.slug == slug))
    if dataset is None:
        return None
    versions = list(session.scalars(select(Version).where(Version.dataset_id == dataset.id)))
    current = next((v.number for v in versions if v.id == dataset.current_version_id), None)
    return ResolvedDataset(
        slug=dataset.slug, open_class=dataset.open_class, published=dataset.published,
        department_id=dataset.department_id, current=current,
        versions={v.number: _version(v) for v in versions},
    )


def _version(v: Version) -> TableVersion:
    return TableVersion(number=v.number, storage_path=v.storage_path,
                        columns=tuple(store.Column(c["name"], c["type"]) for c in v.columns),
                        checksum=v.checksum, created_at=v.created_at, row_count=v.row_count)
