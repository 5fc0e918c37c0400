"""Atomic, immutable versions: temp names, no overwrite, a killed ingest, and the sweep."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from portal.store import checksum_file, ingest, sweep
from portal.store.files import publish, temp_path

ROOT = Path(__file__).resolve().parents[3]

KILLED_INGEST = """
import sys
from pathlib import Path
from portal.store import ingest
ingest(Path(sys.argv[1]), Path(sys.argv[2]))
print("finished")
"""


def test_checksum_is_sha256_of_the_bytes(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"abc")
    assert checksum_file(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_each_ingest_gets_a_new_file(tmp_path, dest):
    source = tmp_path / "a.csv"
    source.write_text("a\n1\n", encoding="utf-8")
    first, second = ingest(source, dest), ingest(source, dest)
    assert first.checksum == second.checksum
    assert first.path != second.path
    assert sorted(dest.iterdir()) == sorted([first.path, second.path])


def test_publish_never_overwrites(tmp_path, dest, monkeypatch):
    import uuid

    fixed = uuid.UUID(int=7)
    monkeypatch.setattr(uuid, "uuid4", lambda: fixed)
    existing = dest / f"{'0' * 16}-{fixed.hex[:16]}.parquet"
    existing.write_bytes(b"old version")
    temp = temp_path(dest, ".parquet")
    temp.write_bytes(b"new version")
    with pytest.raises(FileExistsError):
        publish(temp, dest, "0" * 64)
    assert existing.read_bytes() == b"old version"


def test_sweep_removes_temps_and_orphans_but_keeps_kept(tmp_path, dest):
    source = tmp_path / "a.csv"
    source.write_text("a\n1\n", encoding="utf-8")
    kept = ingest(source, dest).path
    orphan = ingest(source, dest).path
    temp = dest / ".tmp-0123.parquet"
    temp.write_bytes(b"partial")
    other = dest / "README.txt"
    other.write_text("not ours")
    removed = sweep(dest, {kept})
    assert sorted(removed) == sorted([orphan, temp])
    assert sorted(dest.iterdir()) == sorted([kept, other])


def test_sweep_spares_young_files_when_asked(dest):
    temp = dest / ".tmp-young.csv"
    temp.write_bytes(b"")
    assert sweep(dest, set(), min_age_seconds=3600) == []
    os.utime(temp, (time.time() - 7200, time.time() - 7200))
    assert sweep(dest, set(), min_age_seconds=3600) == [temp]


def test_sweep_of_a_missing_directory(tmp_path):
    assert sweep(tmp_path / "none", set()) == []


def test_a_killed_ingest_leaves_no_version(tmp_path, dest):
    source = tmp_path / "big.csv"
    duckdb.sql(
        f"COPY (SELECT range AS id, md5(range::VARCHAR) AS hash, range % 97 AS bucket "
        f"FROM range(4000000)) TO '{source}' (HEADER)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with subprocess.Popen(
        [sys.executable, "-c", KILLED_INGEST, str(source), str(dest)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    ) as child:
        deadline = time.monotonic() + 60
        while not any(p.name.startswith(".tmp-") and p.suffix == ".parquet"
                      for p in dest.iterdir()):
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "the ingest never started writing"
            time.sleep(0.005)
        os.kill(child.pid, signal.SIGKILL)
        out, _ = child.communicate()
    assert child.returncode == -signal.SIGKILL
    assert out == b""  # it did not finish
    left = list(dest.iterdir())
    assert left and all(p.name.startswith(".tmp-") for p in left)
    assert sorted(sweep(dest, set())) == sorted(left)
    assert list(dest.iterdir()) == []
