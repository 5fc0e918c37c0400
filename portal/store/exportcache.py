"""The download cache: each format of an immutable version encoded once into a file, so a
download is a plain file with a `Content-Length`, byte ranges (a broken 101 MB download
resumes) and a strong ETag, and an XLSX (≈30 s of CPU for 336,776 rows) is not rewritten for
every visitor. Decision 0022a.

Layout: `<cache_dir>/<version key>/<name>`, one folder per version (the catalog passes the stem
of the version's Parquet file, unique and never reused). The Parquet download is the version
file itself and is never copied.

The first request for a format writes it under a temp name (`files.temp_path`), fsyncs it and
renames it into place while holding an exclusive `flock` on `<name>.lock`, so concurrent first
requests (several processes or threads) encode it once and the others wait and then read the
finished file; memory stays flat because the export is written chunk by chunk. A crash leaves
a `.tmp-*` file that `sweep_exports` removes; a missing cache file is simply written again.
A caller that should not wait (`wait=False`: a download of a format that streams, or the
builder that fills the cache after publish) is told the file is being written (`None`) and
streams or moves on, so the same file is never encoded twice at once (decision 0023a).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import time
from collections.abc import Collection
from pathlib import Path

from portal.store.exports import export, export_into
from portal.store.files import TEMP_PREFIX, fsync_dir, remove_quietly, temp_path
from portal.store.schema import StoredTable

CACHED_FORMATS = ("csv", "json", "ndjson", "geojson", "xlsx")
MEASURED_FORMATS = ("csv", "json", "ndjson", "geojson")  # cheap to encode: sized at publish


def cache_name(fmt: str, *, bom: bool = False, coordinates: tuple[str, str] | None = None) -> str:
    """The file name of one format in a version's cache folder. GeoJSON's name carries the
    coordinate columns, which are metadata and may be declared anew without a new version."""
    if bom and fmt == "csv":
        return "data-bom.csv"
    if fmt == "geojson" and coordinates is not None:
        digest = hashlib.sha256("\0".join(coordinates).encode()).hexdigest()[:12]
        return f"data-{digest}.geojson"
    return f"data.{fmt}"


def cached_export(
    table: StoredTable,
    fmt: str,
    folder: Path,
    *,
    bom: bool = False,
    coordinates: tuple[str, str] | None = None,
    wait: bool = True,
) -> Path | None:
    """The path of the whole-table export of `table` as `fmt`, written on first use; None when
    `wait` is False and another process or thread is writing it now.

    Raises:
        QueryError: as `export` (unsupported format, no coordinates), before anything is written.
    """
    if fmt == "parquet":
        return table.path
    target = folder / cache_name(fmt, bom=bom, coordinates=coordinates)
    if target.is_file():
        return target
    if fmt != "xlsx":
        export(table, fmt, bom=bom, coordinates=coordinates)  # validates before the lock and the file
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{target.name}.lock", "a") as lock:
        try:  # released when the file closes
            fcntl.flock(lock, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # being written by another: the caller streams or comes back later
        if target.is_file():  # another request finished it while this one waited
            return target
        temp = temp_path(folder, target.suffix)
        try:
            with open(temp, "wb") as handle:
                export_into(table, fmt, handle, bom=bom, coordinates=coordinates)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, target)
        except BaseException:
            remove_quietly(temp)
            raise
        fsync_dir(folder)
    return target


def measure_export(table: StoredTable, fmt: str, *, coordinates: tuple[str, str] | None = None) -> int:
    """The byte size of a format's export, counted while encoding it (nothing is kept): how the
    page and the catalog feeds know a size before anyone has downloaded the format."""
    return sum(len(chunk) for chunk in export(table, fmt, coordinates=coordinates))


def sweep_exports(cache_dir: Path, keep: Collection[str], *, min_age_seconds: float = 3600.0) -> list[Path]:
    """Delete the cache folders of versions not in `keep` (version keys), and temp files left in
    the kept ones by an interrupted write (older than `min_age_seconds`, so a write under way in
    another process keeps its file); return what was deleted."""
    if not cache_dir.is_dir():
        return []
    now = time.time()
    removed = []
    for folder in sorted(p for p in cache_dir.iterdir() if p.is_dir()):
        if folder.name not in keep:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
            continue
        for entry in folder.glob(f"{TEMP_PREFIX}*"):
            if now - entry.stat().st_mtime < min_age_seconds:
                continue
            remove_quietly(entry)
            removed.append(entry)
    return removed
