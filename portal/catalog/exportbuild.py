"""Filling the download cache ahead of the first visitor (decision 0023a).

An XLSX of 336,776 flights costs ≈30 s of CPU. Made on the first request (0022a), that visitor
waits for it; made here, right after `kaifang load` publishes a version (in a detached,
low-priority process: `kaifang export-cache`), nobody does. `kaifang export-cache --all` also
fills in the sizes of versions published before sizes were recorded (migration 0015).

Every file goes through `store.cached_export` without waiting: a file another process is
writing (a visitor's first download, another builder) is skipped, never encoded twice at once.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from portal import store
from portal.catalog import downloads
from portal.catalog.models import Dataset


@dataclass(frozen=True)
class Built:
    """One format of one version: its size, or None when another process was writing it."""

    slug: str
    version: int
    fmt: str
    bom: bool
    size: int | None
    seconds: float


def cached_formats(coordinates: tuple[str, str] | None) -> list[tuple[str, bool]]:
    """(format, with a BOM) of every cached download file of a version, cheapest first, so a
    visitor who comes while the builder runs finds the small ones ready."""
    found = [("csv", False), ("csv", True), ("ndjson", False), ("json", False)]
    if coordinates is not None:
        found.append(("geojson", False))
    return [*found, ("xlsx", False)]


ZORDER_COPY = "ordered copy (Z-order)"


def build(session: Session, data_dir: Path, *, slugs: Iterable[str] = (), rebuild: bool = False,
          report: Callable[[Built], None] | None = None, copies: int = 0) -> list[Built]:
    """Write the missing cache files of the current versions of open datasets (`slugs`, or all
    of them) and record each format's size on its version; `rebuild` first deletes the
    version's cache folder. Commits after each dataset. With `copies` (STORE_PROJECTIONS), a
    large version also gets the Z-order copy of its automatic keys now (decision 0027c), so its
    first pages filtered on them do not wait for pages to ask; reported, not counted in `built`."""
    wanted = set(slugs)
    query = (select(Dataset).where(Dataset.open_class == "open", Dataset.current_version_id.is_not(None))
             .options(selectinload(Dataset.current_version)).order_by(Dataset.slug))
    if wanted:
        query = query.where(Dataset.slug.in_(wanted))
    built: list[Built] = []
    for dataset in session.scalars(query).all():
        version = dataset.current_version
        folder = downloads.export_folder(data_dir, version)
        if rebuild:
            shutil.rmtree(folder, ignore_errors=True)
        table = store.StoredTable(data_dir / version.storage_path,
                                  tuple(store.Column(c["name"], c["type"]) for c in version.columns))
        coordinates = downloads.coordinates_of(dataset)
        for fmt, bom in cached_formats(coordinates):
            started = time.monotonic()
            path = store.cached_export(table, fmt, folder, bom=bom, coordinates=coordinates, wait=False)
            size = path.stat().st_size if path is not None else None
            if size is not None and not bom:
                downloads.record_size(version, fmt, size)
            item = Built(dataset.slug, version.number, fmt, bom, size, time.monotonic() - started)
            built.append(item)
            if report is not None:
                report(item)
        downloads.record_size(version, "parquet", table.path.stat().st_size)
        session.commit()
        if copies:
            started = time.monotonic()
            made = store.prepare_copies(table, copies)
            if made is not None and report is not None:
                report(Built(dataset.slug, version.number, ZORDER_COPY, False, made.stat().st_size,
                             time.monotonic() - started))
    return built
