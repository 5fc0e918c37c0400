"""Twenty-fourth red-team round (decision 0029g): what is measured about a run besides its
answer, and the synthetic sample's cut of a column's values. Round twenty's worlds: 301 people,
the last the target P9999 (a woman of 99 in 丁区, income 52,000) in one world and another person
in the other, the same disclosure key; one analyst with a grant in each.

Timings were measured by hand with the default answer quantum (20 ms), 25 runs a world, runs
of the two worlds interleaved (figures in the docstrings); the tests count work instead.

Each test is an attack; "Found" says what the attacker learnt before this round and the fix,
"Held" an angle that did not work.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import duckdb
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from portal import store
from portal.analysis import service
from portal.analysis.disclosure import CellKeyNoise, Rules
from portal.analysis.samples import _levels, write_sample
from tests.integration.sessions.conftest import Analyst, grant
from tests.security.test_redteam_round20 import OTHER, SLUG, TARGET, _world

# A cell with one record in the target's world and none in the ghost's, first asked (so that
# the target's world remembers a new cell), then the same set grouped and summed, asked again.
CELLS = [
    """
    d = dataset("ghost-world")
    print(d.filter(col('age') >= 50).count())
    """,
    "print(d.filter(col('age') == 99).count())",
    "print(d.filter(col('age') >= 95).group_by('district').agg(count().alias('n')).collect().rows)",
    "print(d.filter(col('age') >= 90).agg(sum('income').alias('s')).collect().rows)",
]


class _AfterTheRun:
    """The SQL statements each run sends once the sandbox has answered (`service._close_record`:
    the audit record, the memory's refresh and eviction, the session's result, the commit), as
    `VERB table` — the time `finished_at` and a waiting `GET /runs/{id}?wait=` include."""

    def __init__(self, monkeypatch):
        self.local = threading.local()
        self.runs: list[list[str]] = []
        close = service._close_record

        def counted(*args, **kwargs):
            self.local.statements = []
            try:
                return close(*args, **kwargs)
            finally:
                self.runs.append(self.local.statements)
                self.local.statements = None

        monkeypatch.setattr(service, "_close_record", counted)
        event.listen(Engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, parameters, context, executemany):
        found = getattr(self.local, "statements", None)
        if found is not None:
            verb = statement.split()[0].upper()
            table = re.search(r"\b(?:FROM|INTO|UPDATE)\s+(\w+)", statement, re.IGNORECASE)
            found.append(f"{verb} {table.group(1) if table else ''}")

    def close(self):
        event.remove(Engine, "before_cursor_execute", self._seen)


def _session_after_the_run(app, monkeypatch) -> tuple[list[dict], list[list[str]]]:
    who = Analyst(app)
    grant(app, who.email, slug=SLUG, cells=10_000)
    session = who.open(SLUG)
    with monkeypatch.context() as patched:
        counter = _AfterTheRun(patched)
        try:
            runs = [who.run(session, code.strip().replace("\n    ", "\n")) for code in CELLS]
        finally:
            counter.close()
    assert all(run["status"] == "done" for run in runs), runs
    return runs, counter.runs


@pytest.mark.parametrize("capacity", [50_000, 1])
def test_the_work_after_a_run_does_not_hang_on_which_cells_had_records(tmp_path, monkeypatch, capacity):
    """Found (a weak channel, now closed by counting work): after the sandbox answered, the run
    refreshed the memory and evicted beyond its capacity (`memory.store`), in the time that
    `finished_at` and a waiting `GET /api/v1/runs/{id}?wait=` show, outside the answer quantum.
    It evicted only for datasets the run had remembered a new cell of, and an empty cell is never
    remembered: `count(age == 99)` asked first sent one more statement after the run in the
    target's world (`SELECT count(*) FROM released_cells`), and with the memory full three (then
    `SELECT released_cells`, `DELETE released_cells`), none in the ghost's. Measured with 50,000
    cells remembered and the cell first asked (memory cleared of it between tries, 25 a world):
    `finished_at - started_at` minus the sandbox's own wall clock 10.7 ms median against 10.0
    (p10–p90 6.9–17.4 against 7.3–19.6): inside the noise, a look that takes many fresh
    one-record sets (and each is a new target), but a record's doing all the same. Fix: a query
    that remembers cells evicts in the same commit, inside its answer quantum
    (`memory.registry(..., capacity)`); after the run, a writing-through registry leaves nothing
    to do, so the statements after each run are the same in both worlds (the audit rows, the
    session's result, the commit)."""
    worlds = [_world(tmp_path / name, last, DIFFERENCING_MEMORY_CELLS=capacity)
              for name, last in (("target", TARGET), ("ghost", OTHER))]
    target, ghost = (_session_after_the_run(app, monkeypatch) for app in worlds)
    # Before the fix, run 2 (`count(age == 99)`): the target's world sent
    # `SELECT released_cells` (and at capacity 1 also `SELECT released_cells`, `DELETE
    # released_cells`) that the ghost's did not.
    for number, (a, b) in enumerate(zip(target[1], ghost[1], strict=True)):
        assert a == b, (number, a, b)
    assert not any("released_cells" in s for run in target[1] for s in run), target[1]
    # What the analyst reads of each run besides its output: the same keys, the same budget.
    for a, b in zip(target[0], ghost[0], strict=True):
        assert set(a["result"]["usage"]) == set(b["result"]["usage"])


def test_the_memory_stays_bounded_with_eviction_inside_the_query(tmp_path, monkeypatch):
    """The fix keeps the bound: with a capacity of one cell, each world's memory holds one cell
    after the session (the target's world evicted inside the query that added its second)."""
    from portal.analysis.models import ReleasedCell  # noqa: PLC0415
    from portal.db import session_scope  # noqa: PLC0415

    app = _world(tmp_path / "target", TARGET, DIFFERENCING_MEMORY_CELLS=1)
    _session_after_the_run(app, monkeypatch)
    with app.app_context(), session_scope(app) as db:
        assert db.query(ReleasedCell).count() == 1


# Held, measured by hand (timings are no test): what is measured of a run — the waiting `GET`,
# `finished_at - started_at`, `usage` — separated the worlds by nothing beyond the machine's
# noise; the figures are in decision 0029g ("Held").


def _codes(tmp_path: Path, name: str, target: bool) -> store.StoredTable:
    """A text column of 3,000 values of 15 records each, and `zz` with 15 known records and, in
    the target's world, the target's (16)."""
    path = tmp_path / f"{name}.parquet"
    if not path.exists():
        con = duckdb.connect()
        extra = 16 if target else 15
        con.execute(f"""CREATE TABLE t AS SELECT 'v' || lpad(i::VARCHAR, 4, '0') AS code FROM range(3000) a(i), range(15)
                        UNION ALL SELECT 'zz' FROM range({extra})""")
        con.execute(f"COPY t TO '{path}' (FORMAT parquet)")
        con.close()
    return store.StoredTable(path, (store.Column("code", "text"),))


def test_which_values_of_a_column_make_the_sample_is_not_decided_on_exact_counts(tmp_path):
    """Found (free, anonymous: one download of the sample): a text column with more than 2,000
    values keeps the 2,000 most frequent, and the cut was decided on exact counts, ties by the
    value. With 3,000 values of 15 records and `zz` of 15 known records, the target's record
    made `zz` 16: first instead of last, so in the sample's values with the target and out
    without it, and `v1999` (last of the tie) out instead of in — under every key (40 of 40). Over 40
    versions' seeds (40 keys), `zz` was among the weights 40 times against 0 and drawn into the
    1,000 rows in 14 samples against 0: whenever `zz` appears in a sample, the target is there
    (a one-sided exact test, about two samples in five). Fix: the values kept are the 2,000 of
    largest *released* weight (the perturbed, rounded counts the sample draws with), ties in a
    keyed random order, read until no unread value could reach the cut's weight; values of a
    single record are never listed (they were one time in 10^5). After it, over the same 40
    seeds: `zz` kept 33 times against 32, drawn 12 times against 12, `v1999` kept 22 against 22:
    one record moves `zz`'s weight only when it crosses a rounding step."""
    worlds = {name: _codes(tmp_path, name, name == "target") for name in ("target", "ghost")}
    kept = {name: 0 for name in worlds}
    drawn = {name: 0 for name in worlds}
    for n in range(40):
        seed = f"round twenty-four {n}"
        for name, table in worlds.items():
            levels = dict(_levels(table, table.columns[0], Rules(), CellKeyNoise(seed.encode())))
            assert len(levels) <= 2000
            kept[name] += "zz" in levels
            written = write_sample(table, tmp_path / f"{name}-{n}.csv", identifiers=frozenset(), seed=seed)
            drawn[name] += "zz" in written.read_text(encoding="utf-8").split()[1:]
    # Before the fix: kept == {"target": 40, "ghost": 0}, drawn == {"target": 14, "ghost": 0}.
    assert kept["ghost"] >= 16 and kept["target"] - kept["ghost"] <= 12, kept
    assert drawn["ghost"] >= 3, drawn


def _text_column(tmp_path: Path, name: str, select: str) -> store.StoredTable:
    """A one-column text table `d` of the rows of `select`."""
    path = tmp_path / f"{name}.parquet"
    con = duckdb.connect()
    con.execute(f"COPY ({select}) TO '{path}' (FORMAT parquet)")
    con.close()
    return store.StoredTable(path, (store.Column("d", "text"),))


def _reads(monkeypatch) -> list[int]:
    """The limit of each read of a column's values (`store.aggregate`), as it happens."""
    reads: list[int] = []
    real = store.aggregate

    def counted(*args, **kwargs):
        reads.append(args[1].limit)
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "aggregate", counted)
    return reads


def test_a_free_text_column_is_not_read_in_full(tmp_path, monkeypatch):
    """The fix reads values most frequent first until none left unread could make the cut: a
    column of 50,000 values of one record and twenty of 30 is read once (2,064 values) and lists
    the twenty; the values of one record never (decision 0029g)."""
    table = _text_column(tmp_path, "free", """SELECT 'common' || (i % 20) AS d FROM range(600) a(i)
                                              UNION ALL SELECT 'rare' || i FROM range(50000) b(i)""")
    reads = _reads(monkeypatch)
    levels = _levels(table, table.columns[0], Rules(), CellKeyNoise(b"free"))
    assert reads == [2064], reads
    assert {value for value, _ in levels} == {f"common{i}" for i in range(20)}


def test_a_column_of_few_values_is_read_once(tmp_path, monkeypatch):
    """Review: the cut's loop took the first read's row count for its limit, so a column whose
    values all came back in the first read (every category column) was read a second time, at
    twice that count, only to find nothing more."""
    table = _text_column(tmp_path, "few", "SELECT 'kind' || (i % 5) AS d FROM range(500) a(i)")
    reads = _reads(monkeypatch)
    levels = _levels(table, table.columns[0], Rules(), CellKeyNoise(b"few"))
    assert reads == [2064], reads  # before: [2064, 10]
    assert {value for value, _ in levels} == {f"kind{i}" for i in range(5)}


def test_the_cut_reads_on_while_an_unread_value_could_tie_at_the_floor(tmp_path):
    """Review: the read stopped when no unread value's largest weight, rounded, reached the
    cut's, but a released count is never below `min_cell` (`release_count`). With a rounding
    base of 100, 15 + 18 rounds to 0, under the floor of 10 every weight is lifted to: the read
    stopped after 2,064 values by exact count, ties by value, and `zz` (16 with the target, first;
    15 without, last) was kept 38 times of 40 seeds with the target and never without, the
    round's attack again. Now the largest weight is floored like a release: 27 against 27."""
    rules = Rules(rounding_base=100)
    worlds = {name: _codes(tmp_path, name, name == "target") for name in ("target", "ghost")}
    kept = {name: 0 for name in worlds}
    for n in range(40):
        for name, table in worlds.items():
            levels = dict(_levels(table, table.columns[0], rules, CellKeyNoise(f"floor {n}".encode())))
            kept[name] += "zz" in levels
    assert kept["ghost"] >= 16 and kept["target"] - kept["ghost"] <= 12, kept
