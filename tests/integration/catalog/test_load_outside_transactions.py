"""A load keeps no database transaction open while it reads and converts its file (decision 0023d).

The web app must keep writing (sign-in, view and download counts, applications) while
`kaifang load` ingests a big file: on SQLite a write transaction held through the ingest made
every other writer wait and then fail with "database is locked"; on PostgreSQL it held row locks
(the dataset's and department's rows) and an old snapshot that keeps vacuum from working.
A load that fails anywhere, or loses a race with another load, keeps nothing.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from portal.auth import SYSTEM
from portal.catalog import downloads, publishing, staging
from portal.catalog.models import Dataset, Version
from portal.catalog.setup import sweep_data
from portal.db import database, session_scope
from portal.errors import Conflict, Invalid
from tests.conftest import DATASETS, make_app
from tests.factories import CSV, dataset_folder, load

WRITES = 20
SHORT_WAIT_SECONDS = 2  # how long the other connection may wait for a lock before it fails


def _big_csv(path: Path, rows: int = 300_000) -> Path:
    """A generated file large enough that its ingest takes a while (about 11 MB)."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("code,name,population,founded\n")
        for start in range(0, rows, 10_000):
            handle.write("".join(f"{110000 + i:06d},区{i % 97},{i * 7 % 900_000},2001-01-{i % 28 + 1:02d}\n"
                                 for i in range(start, start + 10_000)))
    return path


def _other_connection(url: str) -> sa.Engine:
    """A second writer, like another process of the web app, that waits only briefly for locks."""
    if url.startswith("sqlite"):
        return sa.create_engine(url, connect_args={"timeout": SHORT_WAIT_SECONDS})
    return sa.create_engine(url, connect_args={"options": f"-c lock_timeout={SHORT_WAIT_SECONDS * 1000}"})


def _write_while_ingesting(app, run_load) -> tuple[list[Exception], list[str]]:
    """Run `run_load(progress)` in a thread; while its ingest is under way (its first progress
    call waits for us), write `WRITES` times from another connection the rows a busy site
    writes: the dataset's counts and its department. Returns the writer's errors and, on
    PostgreSQL, the other sessions found inside a transaction meanwhile."""
    url = app.config["DATABASE_URL"]
    ingesting, written = threading.Event(), threading.Event()
    outcome: dict = {}

    def progress(done: int, total: int) -> None:
        if not ingesting.is_set():
            ingesting.set()
            written.wait(timeout=300)

    def loader() -> None:
        try:
            outcome["value"] = run_load(progress)
        except BaseException as exc:  # reported on the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=loader)
    thread.start()
    errors: list[Exception] = []
    open_transactions: list[str] = []
    other = _other_connection(url)
    try:
        assert ingesting.wait(timeout=300), "the load never reached its ingest"
        for _ in range(WRITES):
            try:
                with other.begin() as conn:
                    conn.execute(sa.text("UPDATE datasets SET view_count = view_count + 1, "
                                         "download_count = download_count + 1 WHERE slug = 'districts'"))
                    conn.execute(sa.text("UPDATE departments SET name_en = name_en WHERE slug = 'stats-bureau'"))
            except sa.exc.OperationalError as exc:
                errors.append(exc)
        if not url.startswith("sqlite"):
            with other.connect() as conn:
                open_transactions = list(conn.scalars(sa.text(
                    "SELECT state || ': ' || coalesce(query, '') FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND state = 'idle in transaction'")))
    finally:
        written.set()
        thread.join(timeout=600)
        other.dispose()
    if "error" in outcome:
        raise outcome["error"]
    assert "value" in outcome
    return errors, open_transactions


def _counts(app) -> tuple[int, int, int]:
    with session_scope(app) as s:
        row = s.execute(select(Dataset.view_count, Dataset.download_count)).one()
        return s.scalar(select(func.count()).select_from(Version)), row.view_count, row.download_count


def _check_writes_while_loading(app, tmp_path):
    folder = dataset_folder(tmp_path / "src")
    load(app, folder)
    data_dir = Path(app.config["DATA_DIR"])
    dataset_folder(tmp_path / "src", title_zh="天津市行政区")
    _big_csv(folder / "data.csv")

    def load_package(progress):  # a new descriptor and a new file: metadata and a version
        with session_scope(app) as session:
            return publishing.load_package(session, SYSTEM, folder, data_dir=data_dir, progress=progress)

    errors, open_transactions = _write_while_ingesting(app, load_package)
    assert errors == [] and open_transactions == []
    assert _counts(app) == (2, WRITES, WRITES), "the other writes are kept beside the new version"

    def add_version(progress):  # `kaifang load FILE --dataset`
        with session_scope(app) as session:
            return publishing.add_version(session, SYSTEM, "districts", _big_csv(tmp_path / "bigger.csv", 310_000),
                                          data_dir=data_dir, progress=progress)

    errors, open_transactions = _write_while_ingesting(app, add_version)
    assert errors == [] and open_transactions == []
    assert _counts(app) == (3, 2 * WRITES, 2 * WRITES)
    rows = app.test_client().get("/api/v1/datasets/districts/rows?size=1").json
    assert rows["version"] == 3 and rows["total"] == 310_000


@pytest.mark.slow
def test_the_site_writes_while_a_big_file_loads_on_sqlite(app, tmp_path):
    _check_writes_while_loading(app, tmp_path)


@pytest.mark.slow
@pytest.mark.postgres
def test_the_site_writes_while_a_big_file_loads_on_postgres(postgres_url, tmp_path):
    app = make_app(tmp_path / "instance", DATABASE_URL=postgres_url)
    try:
        _check_writes_while_loading(app, tmp_path)
    finally:
        database(app).engine.dispose()


def _files(app) -> list[Path]:
    return sorted(p for p in Path(app.config["DATA_DIR"]).rglob("*") if p.is_file())


def _served(app) -> tuple[int, int]:
    rows = app.test_client().get("/api/v1/datasets/districts/rows").json
    return rows["version"], rows["total"]


@pytest.mark.parametrize("failing", ["measured_sizes", "enqueue", "commit"])
def test_a_load_failing_after_its_file_is_written_keeps_nothing(app, tmp_path, monkeypatch, failing):
    """Failures after the version file exists: while the sizes are measured (no transaction
    yet), while the version is recorded, and at the commit itself."""
    folder = dataset_folder(tmp_path / "src")
    load(app, folder)
    files, served = _files(app), _served(app)
    (folder / "data.csv").write_text(CSV + "010104,南开区,890000,1404-12-23\n", encoding="utf-8")
    written: list[Path] = []
    real_stage = staging.stage

    def stage(*args, **kwargs):
        staged = real_stage(*args, **kwargs)
        written.append(staged.result.path)
        return staged

    monkeypatch.setattr(staging, "stage", stage)

    def broken(*args, **kwargs):
        raise sa.exc.OperationalError("COMMIT", (), OSError("disk I/O error"))

    if failing == "measured_sizes":
        monkeypatch.setattr(downloads, "measured_sizes", broken)
    elif failing == "enqueue":
        monkeypatch.setattr(publishing.outbox, "enqueue", broken)
    else:
        monkeypatch.setattr(sa.orm.Session, "commit", broken)
    with pytest.raises(sa.exc.OperationalError):
        load(app, folder)
    monkeypatch.undo()
    assert failing == "measured_sizes" or written, "the version file was written before the failure"
    assert _files(app) == files and _served(app) == served
    with session_scope(app) as s:
        assert s.scalar(select(func.count()).select_from(Version)) == 1
        assert s.scalar(select(Dataset.title_zh)) == "行政区"


def test_a_file_refused_after_ingest_keeps_nothing(app, tmp_path):
    """A check that needs the stored columns (coordinates naming no column) runs after the
    ingest: its file goes, and the descriptor's other changes are not written either."""
    folder = dataset_folder(tmp_path / "src")
    load(app, folder)
    files = _files(app)
    dataset_folder(tmp_path / "src", title_zh="改了", coordinates={"longitude": "lon", "latitude": "name"},
                   csv=CSV + "010104,南开区,890000,1404-12-23\n")
    with pytest.raises(Invalid):
        load(app, folder)
    assert _files(app) == files
    with session_scope(app) as s:
        assert s.scalar(select(Dataset.title_zh)) == "行政区"


def test_a_load_that_loses_a_race_keeps_nothing(app, tmp_path):
    """Two loads of one dataset at once: the one that records second would replace a version
    it never saw (its types were widened against the older one), so it is refused."""
    folder = dataset_folder(tmp_path / "src")
    load(app, folder)
    data_dir = Path(app.config["DATA_DIR"])
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text(CSV + "010104,南开区,890000,1404-12-23\n", encoding="utf-8")
    second.write_text(CSV + "010105,红桥区,530000,1404-12-23\n010106,东丽区,1,\n", encoding="utf-8")

    def progress(done: int, total: int) -> None:
        if done == total and not raced:  # the first load has its file; the second one finishes now
            raced.append(True)
            # past the dataset's load claim (which would refuse it at once): a claim lost with
            # its connection, or a load by code older than the claim, still meets the record's check
            with session_scope(app) as other, pytest.MonkeyPatch.context() as patch:
                patch.setattr(publishing, "_claimed", lambda session, slug: contextlib.nullcontext())
                publishing.add_version(other, SYSTEM, "districts", second, data_dir=data_dir)

    raced: list[bool] = []
    with session_scope(app) as session, pytest.raises(Conflict) as info:
        publishing.add_version(session, SYSTEM, "districts", first, data_dir=data_dir, progress=progress)
    assert info.value.code == "concurrent-load" and "run it again" in info.value.detail
    assert _served(app) == (2, 5)
    with session_scope(app) as s:
        assert sorted(s.scalars(select(Version.number))) == [1, 2]
        kept = {data_dir / p for p in s.scalars(select(Version.storage_path))}
    assert set((data_dir / "districts").glob("*.parquet")) == kept


LOADER = """
import sys
from pathlib import Path
from portal import create_app
from portal.auth import SYSTEM
from portal.catalog import publishing
from portal.db import session_scope
app = create_app({"TESTING": True, "SECRET_KEY": "test-secret"}, instance=Path(sys.argv[1]))
told = []
def progress(done, total):
    if not told:
        told.append(True)
        print("ingesting", flush=True)
        sys.stdin.readline()
with app.app_context(), session_scope(app) as session:
    version = publishing.add_version(session, SYSTEM, "districts", Path(sys.argv[2]),
                                     data_dir=Path(app.config["DATA_DIR"]), progress=progress)
print("version", version.number, flush=True)
"""


def _loader_in_another_process(app, source: Path) -> subprocess.Popen:
    """`kaifang load SOURCE --dataset districts` in another process, stopped in its ingest."""
    child = subprocess.Popen([sys.executable, "-c", LOADER, app.instance_path, str(source)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ingesting"
    return child


def _second_load(app, source: Path, monkeypatch) -> tuple[list[Path], Exception | None]:
    """A load of the same dataset in this process; which files it staged, and its failure."""
    staged: list[Path] = []
    real_stage = staging.stage

    def watched(target, path, **kwargs):
        staged.append(path)
        return real_stage(target, path, **kwargs)

    monkeypatch.setattr(staging, "stage", watched)
    try:
        with session_scope(app) as session:
            publishing.add_version(session, SYSTEM, "districts", source, data_dir=Path(app.config["DATA_DIR"]))
    except Conflict as exc:
        return staged, exc
    finally:
        monkeypatch.setattr(staging, "stage", real_stage)
    return staged, None


def test_a_second_load_is_refused_before_it_ingests(app, tmp_path, monkeypatch):
    """Two `kaifang load` of one dataset in two processes: the second finds out at once that the
    first is running (its claim on the dataset) instead of ingesting its whole file and then
    being refused, or making the first one fail (decision 0024d)."""
    load(app, dataset_folder(tmp_path / "src"))
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text(CSV + "010104,南开区,890000,1404-12-23\n", encoding="utf-8")
    second.write_text(CSV + "010105,红桥区,530000,1404-12-23\n010106,东丽区,1,\n", encoding="utf-8")
    child = _loader_in_another_process(app, first)
    files = _files(app)  # the first load's temporary file included
    try:
        staged, refused = _second_load(app, second, monkeypatch)
        assert staged == [], "the second load ingested its file before it was refused"
        assert isinstance(refused, Conflict) and refused.code == "concurrent-load"
        assert "is running" in refused.detail and "run it again" in refused.detail
        assert _files(app) == files
    finally:
        child.stdin.write("\n")
        child.stdin.flush()
    assert child.stdout.readline().strip() == "version 2"  # the first load was not disturbed
    assert child.wait(timeout=120) == 0
    child.stdin.close()
    child.stdout.close()
    assert _served(app) == (2, 4)
    staged, refused = _second_load(app, second, monkeypatch)  # run again once the first is done
    assert refused is None and staged == [second] and _served(app) == (3, 5)


def test_a_load_killed_in_its_ingest_does_not_block_the_next_one(app, tmp_path, monkeypatch):
    """The claim goes with its process: nothing to wait out after a crash."""
    load(app, dataset_folder(tmp_path / "src"))
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text(CSV + "010104,南开区,890000,1404-12-23\n", encoding="utf-8")
    second.write_text(CSV + "010105,红桥区,530000,1404-12-23\n", encoding="utf-8")
    child = _loader_in_another_process(app, first)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=60)
    child.stdin.close()
    child.stdout.close()
    staged, refused = _second_load(app, second, monkeypatch)
    assert refused is None and staged == [second] and _served(app) == (2, 4)


def test_a_crash_between_the_file_and_its_record_is_swept(app, tmp_path):
    """A process that dies after staging (files written) and before the recording transaction
    leaves files no version points at, the synthetic sample included: `kaifang init` removes them."""
    slug = "clinic-visits-synthetic"
    load(app, DATASETS / slug)
    before = _files(app)
    from portal.catalog.packages import read_package

    spec = read_package(DATASETS / slug)
    with session_scope(app) as session:
        target = publishing._package_target(spec, publishing._find(session, slug))
    source = tmp_path / "visits.csv"
    text = gzip.decompress(spec.data_path.read_bytes()).decode("utf-8")
    source.write_text(text + text.splitlines()[-1] + "\n", encoding="utf-8")
    staged = staging.stage(target, source, data_dir=Path(app.config["DATA_DIR"]), fmt=None, encoding=None,
                           progress=None)
    assert staged.sample is not None and staged.sample.is_file() and staged.result.path.is_file()
    (staged.sample.with_suffix(".tmp")).write_text("half a sample", encoding="utf-8")
    removed = sweep_data(app)
    assert {staged.result.path, staged.sample, staged.sample.with_suffix(".tmp")} <= set(removed)
    assert _files(app) == before
