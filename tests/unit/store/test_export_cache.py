"""The download cache: a format is encoded once per version even when first asked for by several
requests at once, its bytes are the export's, and sweeping keeps only current versions."""

from __future__ import annotations

import os
import threading
import time

import pytest

from portal.store import (
    QueryError,
    cached_export,
    export,
    exportcache,
    measure_export,
    sweep_exports,
)


def test_the_cached_file_is_the_export_and_its_size_the_measured_one(people, tmp_path):
    for fmt in ("csv", "json", "ndjson"):
        path = cached_export(people, fmt, tmp_path / "v1")
        assert path.read_bytes() == b"".join(export(people, fmt))
        assert path.stat().st_size == measure_export(people, fmt)
    bom = cached_export(people, "csv", tmp_path / "v1", bom=True)
    assert bom.read_bytes() == b"\xef\xbb\xbf" + (tmp_path / "v1" / "data.csv").read_bytes()
    assert cached_export(people, "parquet", tmp_path / "v1") == people.path  # never copied


def test_concurrent_first_requests_encode_once(people, tmp_path, monkeypatch):
    calls = []
    real = exportcache.export_into

    def slow(*args, **kwargs):
        calls.append(args[1])
        time.sleep(0.3)  # long enough that the other threads arrive while this one writes
        real(*args, **kwargs)

    monkeypatch.setattr(exportcache, "export_into", slow)
    paths = []
    threads = [threading.Thread(target=lambda: paths.append(cached_export(people, "json", tmp_path / "v1")))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == ["json"] and len(set(paths)) == 1 and len(paths) == 4
    assert not [p for p in (tmp_path / "v1").iterdir() if p.name.startswith(".tmp-")]


def test_a_caller_that_should_not_wait_is_told_the_file_is_being_written(people, tmp_path):
    """`wait=False` (a streaming download, the builder after publish) never encodes a file that
    another process is writing: it gets None and no temp file is made."""
    import fcntl

    folder = tmp_path / "v1"
    folder.mkdir()
    with open(folder / "data.xlsx.lock", "a") as writer:  # another process writing the file
        fcntl.flock(writer, fcntl.LOCK_EX)
        assert cached_export(people, "xlsx", folder, wait=False) is None
        assert sorted(p.name for p in folder.iterdir()) == ["data.xlsx.lock"]
    path = cached_export(people, "xlsx", folder, wait=False)  # the writer is gone: written now
    assert path is not None and path.read_bytes()[:2] == b"PK"
    assert cached_export(people, "xlsx", folder, wait=False) == path  # and then simply found


def test_a_bad_request_writes_nothing(people, tmp_path):
    with pytest.raises(QueryError):
        cached_export(people, "geojson", tmp_path / "v1", coordinates=("name", "district"))
    assert not (tmp_path / "v1").exists()


def test_a_failed_write_leaves_no_file(people, tmp_path, monkeypatch):
    def broken(table, fmt, handle, **kwargs):
        handle.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(exportcache, "export_into", broken)
    with pytest.raises(OSError, match="disk full"):
        cached_export(people, "csv", tmp_path / "v1")
    assert [p.name for p in (tmp_path / "v1").iterdir()] == ["data.csv.lock"]


def test_sweep_keeps_current_versions_and_young_temp_files(people, tmp_path):
    cache = tmp_path / "exports"
    cached_export(people, "csv", cache / "current")
    cached_export(people, "csv", cache / "replaced")
    old_temp, young_temp = cache / "current" / ".tmp-old.csv", cache / "current" / ".tmp-young.csv"
    old_temp.write_bytes(b"x")
    young_temp.write_bytes(b"x")
    os.utime(old_temp, (time.time() - 7200, time.time() - 7200))
    removed = sweep_exports(cache, {"current"})
    assert set(removed) == {cache / "replaced", old_temp}
    assert (cache / "current" / "data.csv").is_file() and young_temp.exists()
