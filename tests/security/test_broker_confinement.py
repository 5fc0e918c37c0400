"""The broker's DuckDB: a per-run connection that reads only the run's files, cannot lift its
own limits, and is interrupted at the run's wall-clock deadline."""

from __future__ import annotations

import time
from types import SimpleNamespace

import duckdb
import pytest

import sandbox
from portal.analysis.keys import DisclosureKey
from portal.analysis.runtime import AnalysisSettings
from portal.analysis.service import _run
from portal.store import StoredTable, confined
from portal.store.connection import cursor


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("confined")
    granted, other = folder / "granted.parquet", folder / "other.parquet"
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT range AS a FROM range(1000)) TO '{granted}' (FORMAT parquet)")
        con.execute(f"COPY (SELECT 'secret' AS s) TO '{other}' (FORMAT parquet)")
    return granted, other


def test_only_the_granted_files_can_be_read(files):
    granted, other = files
    with confined([str(granted)], memory_limit="256MB", threads=1):
        cur = cursor()
        assert cur.execute("SELECT count(*) FROM read_parquet(?)", [str(granted)]).fetchone() == (1000,)
        for statement in (f"SELECT * FROM read_parquet('{other}')", "SELECT * FROM read_csv('/etc/passwd')",
                          f"COPY (SELECT 1) TO '{other.parent / 'out.csv'}'", "INSTALL httpfs"):
            with pytest.raises(duckdb.Error):
                cursor().execute(statement).fetchall()
        assert not (other.parent / "out.csv").exists()


def test_the_limits_cannot_be_lifted_from_inside(files):
    with confined([str(files[0])], memory_limit="256MB", threads=1):
        cur = cursor()
        threads, memory = cur.execute("SELECT current_setting('threads'), current_setting('memory_limit')").fetchone()
        assert threads == 1 and memory.startswith("244")  # 256 MB in MiB
        for setting in ("SET enable_external_access = true", "SET memory_limit = '64GB'", "SET threads = 64",
                        "SET allowed_paths = ['/']"):
            with pytest.raises(duckdb.Error):
                cursor().execute(setting)
    assert cursor().execute("SELECT 1").fetchone() == (1,)  # outside the block: the process connection


class SlowBroker:
    """A broker whose query would run for minutes (stands in for a pathological plan). It names
    one source: a run granted no dataset opens no DuckDB connection at all (nothing to interrupt)."""

    def __init__(self, path):
        self.sources = {"x": SimpleNamespace(table=StoredTable(path, ()))}
        self.error = None

    def execute(self, plan):
        try:
            cursor().execute("SELECT count(*) FROM range(4000000000) a WHERE (a.range * 7) % 1000003 = 5").fetchall()
        except duckdb.InterruptException as exc:
            self.error = exc
            return {"status": "refused", "rule": "deadline", "reason": "the run's time is up"}
        return {"status": "ok", "count": 0}


def test_a_broker_query_is_interrupted_at_the_run_deadline(tmp_path):
    settings = AnalysisSettings(key=DisclosureKey(b"k" * 32), data_dir=tmp_path)
    broker = SlowBroker(tmp_path / "x.parquet")
    request = sandbox.RunRequest(code="n = dataset('x').count()", grants=("x",),
                                 limits=sandbox.Limits(wall_seconds=1.5))
    started = time.monotonic()
    result = _run(request, broker, settings)
    elapsed = time.monotonic() - started
    assert isinstance(broker.error, duckdb.InterruptException)
    assert result.status == "timeout"
    assert elapsed < 30  # the query alone would take minutes; the interrupt ended it at the deadline
