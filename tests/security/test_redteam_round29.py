"""Twenty-ninth round: decision 0029q's aliases (a set answered like a remembered cell is
remembered as an alias of it, evicted with it), attacked over the sessions API by an analyst
with an ordinary grant, in round twenty's worlds (301 people; the target P9999, a woman of 99 in
丁区 and the only person of 99, in one world, a man of 45 in 甲区 in its place in the other; the
same disclosure key in both).

The attacker looks for an answer possible in one world only. Since 0029q every distinct non-empty
record set asked is one row of the bounded memory (a cell, or an alias of one), and a set asked
again is none: `count(P)` then `count(P | anyone of 99)` is two rows with the target and one
without. So the memory fills, and evicts, a row earlier in the target's world.

Found (fixed by decision 0029y, a clock of cells asked): that eviction, seen through a canary
remembered before it (angle a).
Found and fixed: a run answered a set like a cell evicted meanwhile (it keeps the cells it has
read) and its alias named a row that was gone — a broken run in the target's world only (angle
a/c). Held: a chain of aliases (b), the public aggregates sharing the memory (c), and the work of
a query inside the answer quantum (d).
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine

from portal.analysis import broker as broker_module
from portal.analysis.models import ReleasedCell
from portal.db import session_scope
from tests.integration.sessions.conftest import Analyst, grant
from tests.security.runs import in_runs
from tests.security.test_redteam_round20 import OTHER, SLUG, TARGET, _world
from tests.security.test_redteam_round26 import _printed
from tests.security.test_redteam_round28 import _count, _outsiders

WORLDS = (("target", TARGET), ("ghost", OTHER))
CAPACITY = 60  # DIFFERENCING_MEMORY_CELLS of these worlds (50,000 by default): the fill is the cost


def _small_world(root: Path, last: str, capacity: int = CAPACITY):
    return _world(root, last, DIFFERENCING_MEMORY_CELLS=capacity)


def _rows(app) -> int:
    """Rows of the memory: read by the test to explain the figures, never by the attacker."""
    with session_scope(app) as session:
        return session.scalar(select(func.count()).select_from(ReleasedCell))


def _run(who: Analyst, session: str, plans: list[str]) -> list:
    """One run asking `plans` (each wrapped in `outcome`, so a refusal or an error is an answer)."""
    asked = ", ".join(f"outcome(lambda: {plan})" for plan in plans)
    got, _ = _printed(who, session, f"d = dataset({SLUG!r})\nprint(json.dumps([{asked}]))")
    return got


def _known_count(dates: list[str]) -> str:
    return f"d.filter(col('visit').is_in({sorted(dates)!r})).count()"


def _with_anyone_of_99(dates: list[str]) -> str:
    return f"d.filter(col('visit').is_in({sorted(dates)!r}) | (col('age') == 99)).count()"


def _fill_and_push(app, k: int, *, probe_in_same_run: bool) -> dict:
    """Run 1: k canaries (11 known outsiders each), the oldest rows. Run 2: fill the memory to
    exactly its capacity with sets of 25 known outsiders and k pads P (11 known outsiders each;
in runs of twenty, `in_runs`: nothing is forgotten before the memory is full).
    Run 3: `P | anyone of 99` for each pad — in the ghost's world each *is* P (no row), in the
    target's each is a record from P, answered like P and remembered as its alias (a row each,
    so k evictions: the canaries). Then each canary less one known record: a record from the
    canary, answered like it while it is remembered — in run 3 itself (`probe_in_same_run`) or
    in a run 4."""
    who = Analyst(app)
    grant(app, who.email, slug=SLUG, cells=5000)
    session = who.open(SLUG)
    rng = random.Random(29)
    pool = _outsiders()  # 114 known outsiders, one visit date each
    order = list(pool)
    rng.shuffle(order)
    canaries = [order[i * 11:(i + 1) * 11] for i in range(k)]
    pads = [order[55 + i * 11:55 + (i + 1) * 11] for i in range(k)]
    seen = {"canaries": _run(who, session, [_known_count(c) for c in canaries])}
    fills = [_known_count(rng.sample(pool, 25)) for _ in range(CAPACITY - 2 * k)]
    in_runs(lambda cell: _run(who, session, cell), fills + [_known_count(p) for p in pads])
    seen["rows before"] = _rows(app)
    plus = [_with_anyone_of_99(p) for p in pads]
    probes = [_known_count(c[1:]) for c in canaries]
    if probe_in_same_run:
        got = _run(who, session, plus + probes)
        seen["plus"], seen["probes"] = got[:k], got[k:]
    else:
        seen["plus"] = _run(who, session, plus)
        seen["probes"] = _run(who, session, probes)
    seen["rows after"] = _rows(app)
    return seen


def test_an_eviction_does_not_hang_on_the_target(tmp_path_factory):
    """Found, fixed (angle a; decision 0029y): a one-sided membership test, k + 2k cells a target once the
    memory is full (filling it is `DIFFERENCING_MEMORY_CELLS` cells, 50,000 by default, once).

    Every distinct non-empty record set asked is now one row (a cell, or since 0029q an alias of
    one), and a set asked again is none. Five canaries C (counts 10, 15, 10, 15, 10), the memory
    filled to its capacity (60 here), then `P | anyone of 99` for five remembered pads P: in the
    target's world five aliases, five rows, five evictions — the five canaries, the least recently
    used; in the ghost's world each set *is* P and nothing is written or evicted (60 rows in both
    worlds after: the target's lost the canaries). Then each canary less one known record, in a
    fresh run: the ghost's are answered like their canary every time (10, 15, 10, 15, 10), by
    construction; the target's are answered on their own records, (None, None, 10, 10, 10): three
    of five differ, and one differing figure proves the target is there. (`count(anyone of 99)`
    alone does it too — one record remembered, an empty set not — and did before 0029q; an alias
    makes any pair "P, P and the target" do it.)

    Nothing but the plans the attacker sent and the figures it saw: it needs to know the memory
    is full and its canaries the least recently used (a quiet dataset, or one it has filled).
    Not a likelihood channel like Known limits' "A / A less target across an eviction": here
    whether the eviction happens at all is the target's. What would close it is in the decision:
    evict by a clock that counts cells *asked* (every cell of every query, a function of the plans),
    not rows held.

    Fixed so: the memory forgets the rows last used more than its capacity of cells asked ago,
    and every cell of every query moves the clock on, so the canaries go (or stay) at the same
    query in both worlds. Here they go in both (the 60 cells of fills and pads, then the five
    pushes, are 65 cells asked since the canaries): the probes are answered on their own records
    in both worlds alike, [None, None, 10, 10, 10]."""
    seen = {name: _fill_and_push(_small_world(tmp_path_factory.mktemp(f"ev{name}"), last), 5,
                                 probe_in_same_run=False) for name, last in WORLDS}
    print("round29 eviction", {name: (w["canaries"], w["probes"]) for name, w in seen.items()})
    assert seen["target"]["canaries"] == seen["ghost"]["canaries"], seen  # [10, 15, 10, 15, 10]
    # Found: ghost probes [10, 15, 10, 15, 10], target [None, None, 10, 10, 10].
    assert seen["target"]["probes"] == seen["ghost"]["probes"], seen


def test_a_run_answers_a_set_like_a_cell_evicted_meanwhile(tmp_path_factory):
    """Found, fixed (angles a and c): an alias outlived its cell inside a run — a broken run in
    the target's world only.

    A run keeps the cells it has read (`Registry.cells`). As in the test above, but the canaries
    less one record are asked in the run that evicted them: the run still answers each like its
    canary (read earlier in the run), and its alias named the canary's row, deleted by the
    eviction — `FOREIGN KEY constraint failed` on insert. Before: in the ghost's world the five
    probes (10, 15, 10, 15, 10); in the target's five broker errors, then the run's closing store
    failed on the rolled-back session and the run had no result (the test waited out its poll,
    about four minutes). Any run at capacity could meet it (another run's eviction between two
    of its queries), but here it was the target's eviction.

    Fixed (decision 0029s, `memory._insert`): an alias is inserted only while its cell is stored
    (one statement, an insert of a select guarded by the cell's row), otherwise dropped, as if
    evicted with its cell. After: both worlds' runs answer (10, 15, 10, 15, 10), like the
    canaries. (Since decision 0029y the canaries are forgotten at the same query in both worlds;
    the run still answers like the cells it read.)"""
    seen = {name: _fill_and_push(_small_world(tmp_path_factory.mktemp(f"fk{name}"), last), 5,
                                 probe_in_same_run=True) for name, last in WORLDS}
    for world in seen.values():
        # On the fixed test key both are [10, 15, 10, 15, 10]; other keys draw other figures.
        assert world["probes"] == world["canaries"] == seen["ghost"]["canaries"], seen
        assert world["plus"] == seen["ghost"]["plus"], seen


def _chains(app, trials: int) -> list[tuple]:
    """Per trial a fresh base (丁区's women and 20 known outsiders) and two pads F1, F2 of nine
    known outsiders: B = the base less anyone of 99; A1 = B and F1; A2 = A1 and F2 (each nine
    records from the last, so usually an alias of B, 18 records from it); then T = A2 with
    anyone of 99 and T′ = B with anyone of 99. In the ghost's world T is A2 and T′ is B."""
    who = Analyst(app)
    grant(app, who.email, slug=SLUG, cells=2000)
    session = who.open(SLUG)
    rng = random.Random(29)
    pool, plans = _outsiders(), []
    for _ in range(trials):
        people = rng.sample(pool, 38)
        base, f1, f2 = people[:20], people[20:29], people[29:]
        plans += [_count(base, without_target=True), _count(base + f1, without_target=True),
                  _count(base + f1 + f2, without_target=True), _count(base + f1 + f2, without_target=False),
                  _count(base, without_target=False)]
    got = in_runs(lambda cell: _run(who, session, cell), plans)  # four chains a run
    return [tuple(got[i:i + 5]) for i in range(0, len(got), 5)]


def test_a_chain_of_aliases_answers_the_set_with_the_target_like_the_set_without(tmp_path_factory):
    """Held (angle b): thirty chains (B, A1, A2, T, T′) as `_chains` says. The ghost's T and T′
    are A2 and B, answered alike by construction. The target's T is a record from A2 (and ten
    from A1, nineteen from B) and T′ a record from B: each took the remembered set a record
    away — through A2's alias when A2 had drifted onto B's figure — in every trial of both
    worlds: 0 of 30 differ. A1 and A2 were answered like B in 13 and 8 trials of 30, the same
    trials in both worlds (F1's and F2's own listing draws decide, and they are not the
    target's: the drift of 0029q, two-sided). For T to leave A2 a farther
    candidate's draw must beat a one-record lead by nine or more records (3.2 σ of the pair's
    normal draw, ~0.07 % a candidate; Known limits)."""
    seen = {}
    for name, last in WORLDS:
        chains = _chains(_world(tmp_path_factory.mktemp(f"ch{name}"), last), 30)
        seen[name] = {"differ": [c for c in chains if c[3] != c[2] or c[4] != c[0]],
                      "drift": (sum(c[1] == c[0] for c in chains), sum(c[2] == c[0] for c in chains))}
    assert seen["ghost"]["differ"] == [] and seen["target"]["differ"] == [], seen
    print(seen)


PUBLIC_CELLS = [(district, sex) for district in ("甲区", "乙区", "丙区", "丁区") for sex in ("男", "女")]


def _public_after_analyst(app) -> dict:
    """The analyst asks each district × sex cell less anyone of 99 (in the ghost's world the
    public cells themselves, in the target's 丁区's women a record from the public cell), then
    anyone asks the public aggregate by district and sex (the same memory)."""
    who = Analyst(app)
    grant(app, who.email, slug=SLUG, cells=200)
    session = who.open(SLUG)
    mine = _run(who, session, [f"d.filter((col('district') == {d!r}) & (col('sex') == {s!r}) & (col('age') < 99))"
                               ".count()" for d, s in PUBLIC_CELLS])
    rows = _rows(app)
    answer = app.test_client().get(f"/api/v1/datasets/{SLUG}/public-aggregate?by=district,sex")
    assert answer.status_code == 200, answer.json
    body = answer.json
    return {"mine": mine, "public": body.get("rows") or body.get("cells") or body, "rows": (rows, _rows(app))}


def test_the_public_aggregate_answers_like_the_analyst_s_cells(tmp_path_factory):
    """Held (angle c), with the eviction of the first test again: the public aggregates share
    the memory with analysts. The analyst's eight district × sex cells less anyone of 99, then the
    public table by district and sex. Both worlds (甲区's men aside, the ghost's own cell: 45
    with it, 40 without, a real person's difference): the analyst's cells 40, 35, 40, 30, 40, 40,
    35 and the public's the same, 丁区's women 35 — in the target's world the public cell (35
    records) took the analyst's (34) a record away, in the ghost's it *is* it. But the public
    aggregate wrote a row (its alias) in the target's world only: 8 rows, then 9; the ghost's 8
    and 8. Anyone's public question is so one more push of the first test's eviction, charged to
    the public's budget, not to the attacker's grant."""
    seen = {name: _public_after_analyst(_world(tmp_path_factory.mktemp(f"pub{name}"), last)) for name, last in WORLDS}
    # On the fixed test key [40, 35, 40, 30, 40, 40, 35]; other keys draw other figures.
    assert seen["target"]["mine"][1:] == seen["ghost"]["mine"][1:], seen
    assert seen["target"]["public"][1:] == seen["ghost"]["public"][1:], seen
    assert [row[-1] for row in seen["target"]["public"]][1:] == seen["target"]["mine"][1:], seen
    assert seen["target"]["rows"] == (8, 9) and seen["ghost"]["rows"] == (8, 8), seen


def _work_of_pairs(app, monkeypatch, pairs: int) -> dict:
    """The memory full (its capacity of rows), then `P | anyone of 99` for remembered pads P, one
    a run: each query's time in the broker's release (check, remember, evict: the work inside the
    answer quantum) and the statements it wrote to the memory."""
    who = Analyst(app)
    grant(app, who.email, slug=SLUG, cells=5000)
    session = who.open(SLUG)
    rng = random.Random(4)
    pool = _outsiders()
    order = list(pool)
    rng.shuffle(order)
    pads = [order[i * 11:(i + 1) * 11] for i in range(pairs)]
    in_runs(lambda cell: _run(who, session, cell), [_known_count(rng.sample(pool, 25)) for _ in range(CAPACITY - pairs)]
            + [_known_count(p) for p in pads])
    timing, writes, inside = [], [], []
    release = broker_module.Broker._release

    def timed(self, *args, **kwargs):
        inside.append(0)
        started = time.perf_counter()
        try:
            return release(self, *args, **kwargs)
        finally:
            timing.append(time.perf_counter() - started)
            writes.append(inside.pop())

    def counted(conn, cursor, statement, *args):
        if inside and "released_cells" in statement and statement.lstrip().split()[0] in ("INSERT", "UPDATE", "DELETE"):
            inside[-1] += 1

    monkeypatch.setattr(broker_module.Broker, "_release", timed)
    event.listen(Engine, "before_cursor_execute", counted)
    try:
        for pad_ in pads:
            _run(who, session, [_with_anyone_of_99(pad_)])
    finally:
        event.remove(Engine, "before_cursor_execute", counted)
        monkeypatch.setattr(broker_module.Broker, "_release", release)
    return {"ms": sorted(round(t * 1000, 1) for t in timing), "writes": writes}


@pytest.mark.parametrize("capacity", [CAPACITY, 10_000], ids=["memory full", "memory not full"])
def test_the_work_of_a_set_with_the_target_is_the_work_of_the_set_without(tmp_path_factory, monkeypatch, capacity):
    """Held since decision 0030e (every cell asked makes one insert, which stores a row or none).
    Found (angle d): the work inside the answer quantum depended on the target.

    Ten remembered pads P, then `P | anyone of 99`, one a run. In the ghost's world each is P
    (`same`): nothing written, no transaction. In the target's each is a record from P and is
    remembered as its alias: an insert, and with the memory full the eviction's two deletes —
    3 statements against 0 (1 against 0 not full). Times of the broker's release (the work the
    quantum must cover), on this shared two-core machine, three runs of ten, memory full:
    target medians 17.9, 12.9, 14.5 ms (4, 1 and 1 of 10 over 20 ms, up to 48.3), ghost 8.5,
    9.2, 9.4 ms (0, 1, 0 over); not full: target 13.3 and 13.8 ms (none over), ghost 9.1 and
    10.8 (none over). About 5 ms a set, the commit. With the default quantum
    (ANALYSIS_ANSWER_QUANTUM_MS = 20) an answer that needs 24-48 ms leaves at 40 or 60 ms: a
    timing look past the quantum, likelihood only (machine noise moves both worlds) but new with
    0029q — before it the target's set was snapped and left no trace,
    so neither world wrote (`count(anyone of 99)`, one record remembered against an empty set
    never, wrote one row against none before it too). The statements are the deterministic part
    and what this test compares. Since decision 0029y every query commits its step of the memory
    (the clock, the uses, the forgetting) in both worlds: 3 statements on the memory's rows
    against 2 (the alias insert is the one left), all in one transaction in both. Since 0030e the
    ghost's query makes the same insert, guarded by a cell that does not exist: it stores no row.
    What is left is the row itself (the target's insert writes one, the ghost's none), a fraction
    of a millisecond inside the quantum."""
    seen = {name: _work_of_pairs(_small_world(tmp_path_factory.mktemp(f"wk{name}"), last, capacity), monkeypatch, 10)
            for name, last in WORLDS}
    print(capacity, seen)
    assert seen["target"]["writes"] == seen["ghost"]["writes"], seen
