"""Download files of a version: where their cache lives, and the byte size of each format.

A version is immutable, so each format's bytes are fixed once it is published: the text formats
of open data are measured at publish (an encode that keeps nothing; 336,776 flights take about
2 s for CSV, JSON and NDJSON together), the Parquet size is the version file's, and an XLSX
(≈30 s of CPU for the same rows) is sized when it is first written to the cache. The page, the
API's versions and the DCAT distributions (`dcat:byteSize`) show these sizes; the download
itself is served from the cache file, so its `Content-Length` is always the file's own
(decision 0022a).
"""

from __future__ import annotations

from pathlib import Path

from portal import store
from portal.catalog.models import Dataset, Version

EXPORTS_DIR = "exports"


def coordinates_of(dataset: Dataset) -> tuple[str, str] | None:
    """(longitude, latitude) columns a dataset declares, or None."""
    coords = dataset.coordinates or {}
    if coords.get("longitude") and coords.get("latitude"):
        return coords["longitude"], coords["latitude"]
    return None


def export_folder(data_dir: Path, version: Version) -> Path:
    """The version's cache folder, named after its Parquet file (unique, never reused)."""
    return data_dir / EXPORTS_DIR / Path(version.storage_path).stem


def measured_sizes(table: store.StoredTable, coordinates: tuple[str, str] | None) -> dict[str, int]:
    """The byte size of every format that is cheap to encode, and of the Parquet file."""
    sizes = {"parquet": table.path.stat().st_size}
    for fmt in store.MEASURED_FORMATS:
        if fmt == "geojson" and coordinates is None:
            continue
        sizes[fmt] = store.measure_export(table, fmt, coordinates=coordinates)
    return sizes


def record_size(version: Version, fmt: str, size: int) -> bool:
    """Keep a format's size on the version; True when it changed (the caller commits)."""
    sizes = dict(version.export_sizes or {})
    if sizes.get(fmt) == size:
        return False
    sizes[fmt] = size
    version.export_sizes = sizes  # a new dict: SQLAlchemy does not see in-place JSON changes
    return True


def sweep(data_dir: Path, current: list[Version]) -> list[Path]:
    """Remove the download caches of versions that are no longer current (only current versions
    are downloadable)."""
    keep = {Path(v.storage_path).stem for v in current}
    return store.sweep_exports(data_dir / EXPORTS_DIR, keep)
