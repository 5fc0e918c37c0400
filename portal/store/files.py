"""Files on disk: checksums, temp names, the atomic publish of a version, and the sweep.

A version file is immutable. It is written under a temp name `.tmp-<uuid>.parquet`, fsynced,
then hard-linked to its final name and the temp name unlinked. `os.link` fails when the final
name exists, so a published file is never overwritten (`os.replace` would silently do so), and a
crash at any point leaves either nothing or a `.tmp-*` file that no catalog row points at and that
`sweep` removes. The directory is fsynced so the new name survives a power cut.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import time
import uuid
from collections.abc import Collection
from pathlib import Path

TEMP_PREFIX = ".tmp-"
VERSION_SUFFIX = ".parquet"
_HASH_CHUNK = 1 << 20


def checksum_file(path: Path) -> str:
    """sha256 hex digest of the file's bytes (as stored, before any decompression)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def temp_path(dest_dir: Path, suffix: str) -> Path:
    """A fresh temp name inside `dest_dir` that `sweep` recognises."""
    return dest_dir / f"{TEMP_PREFIX}{uuid.uuid4().hex}{suffix}"


def fsync_file(path: Path) -> None:
    """Flush the file's data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Flush a directory entry change (a new name) to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(temp: Path, dest_dir: Path, checksum: str) -> Path:
    """Give a finished temp file its final, unique, never-reused name."""
    fsync_file(temp)
    final = dest_dir / f"{checksum[:16]}-{uuid.uuid4().hex[:16]}{VERSION_SUFFIX}"
    os.link(temp, final)  # FileExistsError rather than overwrite
    os.unlink(temp)
    fsync_dir(dest_dir)
    return final


def remove_quietly(path: Path | None) -> None:
    """Delete a temp file if it is there."""
    if path is not None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def sweep(dest_dir: Path, keep: Collection[Path], *, min_age_seconds: float = 0.0) -> list[Path]:
    """Delete temp files and version files that no catalog row keeps; return what was deleted.

    Only names this module creates (`.tmp-*` and `*.parquet`) are candidates. `min_age_seconds`
    spares files younger than that, so a sweep running beside a live ingest in another process
    does not delete its temp file; the default sweeps everything not kept.
    """
    if not dest_dir.is_dir():
        return []
    kept = {Path(p).resolve() for p in keep}
    now = time.time()
    removed = []
    for entry in sorted(dest_dir.iterdir()):
        ours = entry.name.startswith(TEMP_PREFIX) or entry.suffix == VERSION_SUFFIX
        spill = entry.is_dir() and entry.name.startswith(TEMP_PREFIX)  # a sort's spill directory
        if not ours or not (entry.is_file() or spill) or entry.resolve() in kept:
            continue
        if now - entry.stat().st_mtime < min_age_seconds:
            continue
        if spill:
            shutil.rmtree(entry, ignore_errors=True)
        else:
            remove_quietly(entry)
        removed.append(entry)
    return removed
