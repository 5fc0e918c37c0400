"""Thirty-first round: decision 0029y's clock (the memory forgets the rows stamped more than
`capacity` cells asked ago; every query advances its signature's clock by the cells it asked;
a row is stamped at its last stored use), attacked over the sessions API and the public
aggregates in round twenty-nine's two worlds (the target P9999, the only person of 99, a woman in
丁区, in one; a man of 45 in 甲区 in its place in the other; the same key), with a small
capacity so that the clock wraps in a few runs.

The attacker looks for an answer possible in one world only, or exact. Angles: (a) the clock
moves alike in both worlds whatever the records (empty cells, a set with and without the target,
group-bys, a refused plan, a run that fails midway, the public aggregate and its free repeat);
(b) a canary used through an alias that exists in the target's world only keeps the same stamp,
so it is forgotten at the same query in both; (c) an alias whose stamp *does* differ between the
worlds (used in one world, its twin with the target used in the other): the row survives in one
world only, but every set it could decide is answered with its cell's figures either way; what
is left, sets nine records from it compared with it in one world and with its twin in the other,
is measured (a two-sided likelihood, decision 0029q's drift). All held (decision 0029z).
"""

from __future__ import annotations

import random

from sqlalchemy import select

from portal.analysis import memory
from portal.analysis.models import ReleasedCell
from portal.db import session_scope
from tests.integration.sessions.conftest import Analyst, grant
from tests.security.runs import in_runs
from tests.security.test_redteam_round20 import SLUG
from tests.security.test_redteam_round26 import PRELUDE
from tests.security.test_redteam_round29 import (
    CAPACITY,
    WORLDS,
    _known_count,
    _outsiders,
    _rows,
    _run,
    _small_world,
    _with_anyone_of_99,
)

ANYONE_OF_99 = "d.filter(col('age') == 99).count()"
BY_DISTRICT_SEX_OF_99 = "d.filter(col('age') == 99).group_by('district', 'sex').agg(count()).collect().rows"
REFUSED = "d.group_by('income').agg(count()).collect().rows"  # refused: income is a sensitive field


def _clock(app) -> int:
    """The memory's clock: read by the test, never by the attacker."""
    with session_scope(app) as session:
        return memory.clock(session, SLUG)


def _stored(app, plan_rows: list[int]) -> list[bool]:
    """Whether a row of each of these sizes is stored (test-side, to explain the figures)."""
    with session_scope(app) as session:
        sizes = set(session.scalars(select(ReleasedCell.records)))
    return [n in sizes for n in plan_rows]


def _analyst(app, cells: int = 5000) -> tuple[Analyst, str]:
    who = Analyst(app)
    grant(app, who.email, slug=SLUG, cells=cells)
    return who, who.open(SLUG)


def _failing_run(who: Analyst, session: str, plans: list[str]) -> str:
    """A run that asks `plans` and then fails (a ZeroDivisionError in the analyst's code): the
    run's status and its result's."""
    asked = "\n".join(f"{plan}" for plan in plans)
    run = who.run(session, "import json\n" + PRELUDE + f"d = dataset({SLUG!r})\n{asked}\n1 / 0\n")
    if run["status"] not in ("done", "error"):
        run = who.finished(run["id"])
    return f"{run['status']}/{run['result']['status']}"


def _clock_after_everything(app) -> dict:
    who, session = _analyst(app)
    pad = sorted(_outsiders())[:11]
    seen = {"ticks": []}
    seen["answers"] = _run(who, session, [ANYONE_OF_99, _known_count(pad), _with_anyone_of_99(pad),
                                          BY_DISTRICT_SEX_OF_99, REFUSED])
    seen["ticks"].append(_clock(app))
    seen["failed run"] = _failing_run(who, session, [ANYONE_OF_99, _with_anyone_of_99(pad)])
    seen["ticks"].append(_clock(app))
    public = []
    for _ in range(2):  # the second is the public's free repeat
        answer = app.test_client().get(f"/api/v1/datasets/{SLUG}/public-aggregate?by=district,sex")
        public.append(answer.status_code)
        seen["ticks"].append(_clock(app))
    seen["public"], seen["rows"] = public, _rows(app)
    return seen


def test_the_clock_moves_alike_whatever_the_records(tmp_path_factory):
    """Held (angle a): the clock is the plans' business only.

    One run: `count(anyone of 99)` (one record against none), `count(P)` and `count(P | anyone of
    99)` (an alias against the same set), the district × sex table of anyone of 99 (丁区's women
    one record against eight empty cells: 8 candidate cells either way; all suppressed, `[]`, in
    both) and a refused plan (grouping by income, a sensitive field: refused before any cell) —
    1 + 1 + 1 + 8 + 0 = 11 ticks in both worlds; then a run that asks two counts and fails in the
    analyst's code (`done` with an `error` result in both: 13); then the public table by district
    and sex (21), and its free repeat, which moves no clock (21: decision 0029y, uncharged). Answers (None, 10, 10, [], refused) in both. The rows
    held differ — 11 in the target's world, 9 in the ghost's (the one-record set of 99 and the
    alias P | anyone of 99) — the clock does not: [11, 13, 21, 21] in both."""
    seen = {name: _clock_after_everything(_small_world(tmp_path_factory.mktemp(f"clk{name}"), last))
            for name, last in WORLDS}
    print("round31 clock", seen)
    assert seen["target"]["ticks"] == seen["ghost"]["ticks"] == [11, 13, 21, 21], seen
    assert seen["target"]["answers"][4] == seen["ghost"]["answers"][4], seen  # the same refusal
    assert seen["target"]["failed run"] == seen["ghost"]["failed run"], seen
    assert seen["target"]["answers"] == seen["ghost"]["answers"], seen


def _runs(who, session: str, plans: list[str]) -> list:
    """`plans` asked in runs of twenty (`in_runs`): a run of a hundred counts, or thirty at load
    6, outlasted its wall clock on the shared machine."""
    return in_runs(lambda cell: _run(who, session, cell), plans)


def _canaries_through_aliases(app, k: int) -> dict:
    """Run 1: k canaries C (11 known outsiders each). Run 2: `C | anyone of 99` for each — an
    alias of C in the target's world, C itself in the ghost's. Run 3: CAPACITY - 2k fills (25 known
    outsiders each, distinct sets), then `C | anyone of 99` again: the target's world uses each
    canary only through its alias, the ghost's directly. Run 4: as many fills again, so that
    everything but the canaries (and, in the target's world, their aliases) used before run 3's
    last queries is forgotten. Run 5: each canary less one known record. (Runs 3 and 4 are each
    asked in runs of twenty, `_runs`: their fills are far from every canary and alias.)"""
    who, session = _analyst(app)
    rng = random.Random(31)
    pool = _outsiders()
    order = list(pool)
    rng.shuffle(order)
    canaries = [order[i * 11:(i + 1) * 11] for i in range(k)]
    plus = [_with_anyone_of_99(c) for c in canaries]
    seen = {"canaries": _run(who, session, [_known_count(c) for c in canaries])}
    seen["plus"] = _run(who, session, plus)
    fills = [_known_count(rng.sample(pool, 25)) for _ in range(2 * (CAPACITY - 2 * k))]
    seen["plus again"] = _runs(who, session, fills[:CAPACITY - 2 * k] + plus)[-k:]
    _runs(who, session, fills[CAPACITY - 2 * k:])
    seen["ticks"], seen["rows"] = _clock(app), _rows(app)
    seen["probes"] = _run(who, session, [_known_count(c[1:]) for c in canaries])
    return seen


def test_a_canary_used_through_an_alias_of_one_world_is_forgotten_alike(tmp_path_factory):
    """Held (angle b): five canaries (None, 15, 10, 10, 10: the first unlisted), then `C | anyone of 99` — the target's
    world writes five aliases, the ghost's nothing — then 50 fills and `C | anyone of 99` again
    (the target's world uses each canary through its alias only: `same` finds the alias, and the
    use refreshes the alias *and* its cell; the ghost's finds the canary), then 50 fills more. The
    canaries were last used 50 cells asked before the end (tick 65 of 115, the capacity 60) in both worlds: kept in both. Each canary less
    one record, after: (None, 15, 10, 10, 10) in both — answered like the canary. Clock 115 in
    both; rows 66 in the target's world (the five aliases more) against 61."""
    seen = {name: _canaries_through_aliases(_small_world(tmp_path_factory.mktemp(f"al{name}"), last), 5)
            for name, last in WORLDS}
    print("round31 canaries through aliases", seen)
    assert seen["target"]["canaries"] == seen["ghost"]["canaries"], seen
    assert seen["target"]["ticks"] == seen["ghost"]["ticks"], seen
    assert seen["target"]["probes"] == seen["ghost"]["probes"] == seen["ghost"]["canaries"], seen


def _twin_aliases(app) -> dict:
    """P (11 known outsiders), S = P and one known outsider more (a record from P: an alias of P
    in both worlds), then three times (30 fills, `S | anyone of 99`): in the ghost's world S
    itself, so S's row is used; in the target's a record from S, its own alias S′ (of P), used
    instead of S. S's row is then stamped at its creation in the target's world and at the last
    use in the ghost's. Then probes: S, S less its extra record (P), S and one more known, P and
    two other known outsiders. (Each round of fills asked in runs of twenty, `_runs`: a run of
    31 counts timed out at load 7.)"""
    who, session = _analyst(app)
    rng = random.Random(310)
    pool = _outsiders()
    order = list(pool)
    rng.shuffle(order)
    p, extra, more = order[:11], order[11:12], order[12:14]
    s = p + extra
    seen = {"P, S, S|99": _run(who, session, [_known_count(p), _known_count(s), _with_anyone_of_99(s)])}
    for _ in range(3):
        _runs(who, session, [_known_count(rng.sample(pool, 25)) for _ in range(30)] + [_with_anyone_of_99(s)])
    seen["ticks"], seen["rows"] = _clock(app), _rows(app)
    seen["S stored"] = _stored(app, [12])[0]
    seen["probes"] = _run(who, session, [_known_count(s), _known_count(p), _known_count(s + more[:1]),
                                         _known_count(p + more)])
    return seen


def test_an_alias_kept_in_one_world_only_decides_nothing(tmp_path_factory):
    """Held for the answers (angle c), though a row's stamp hangs on the target.

    P (15), S = P and one record (an alias of P in both worlds, 15), `S | anyone of 99` (15): in the
    ghost's world S, in the target's its own alias S′. Three rounds of 30 fills and `S | anyone of
    99`: the ghost's world uses S (refreshing S and P), the target's S′ (refreshing S′ and P), so
    S is stamped at its creation (tick 2) in the target's world and at the last use in the
    ghost's; at tick 96, S is forgotten in the target's world and kept in the ghost's (61 rows in
    both: S′ stands in S's place) — a row one world has and the other not, at the same query.
    But an alias answers with its cell's
    figures: every set S could decide (S itself, a record or two from it) is answered like P in
    both worlds, through S in the ghost's and S′ (a record further, S and the target) or P in the
    target's: probes (15, 15, 15, 15) in both. What is left is 0029q's drift, two-sided: a set
    nine or ten records from S is compared with S in one world and with S′ in the other, each on
    its own listing draw (a likelihood, not an exact test)."""
    seen = {name: _twin_aliases(_small_world(tmp_path_factory.mktemp(f"tw{name}"), last)) for name, last in WORLDS}
    print("round31 twin aliases", seen)
    assert seen["target"]["P, S, S|99"] == seen["ghost"]["P, S, S|99"], seen
    assert seen["target"]["ticks"] == seen["ghost"]["ticks"], seen
    assert seen["target"]["probes"] == seen["ghost"]["probes"], seen


def _drift_after_twin_aliases(app, trials: int) -> dict:
    """Per trial P (11 known outsiders), S = P and nine known (F), `S | anyone of 99`; then three
    rounds of every trial's `S | anyone of 99` and 70 fills, so that S's row (stamped at its
    creation in the target's world, at its use in the ghost's) is forgotten in the target's world
    only; then Y = S and nine known more (F2): compared with S in the ghost's world, with S′ (S and
    the target) in the target's. Kept: the trials where S took P's figure (the attacker sees it)."""
    who, session = _analyst(app, cells=20_000)
    rng = random.Random(311)
    pool = _outsiders()
    sets = [rng.sample(pool, 29) for _ in range(trials)]
    first = _runs(who, session, [plan for s in sets for plan in (_known_count(s[:11]), _known_count(s[:20]),
                                                                   _with_anyone_of_99(s[:20]))])
    for _ in range(3):
        _runs(who, session, [_with_anyone_of_99(s[:20]) for s in sets]
              + [_known_count(rng.sample(pool, 25)) for _ in range(70)])
    probes = _runs(who, session, [_known_count(s) for s in sets])
    triples = [tuple(first[i:i + 3]) for i in range(0, len(first), 3)]
    kept = [i for i, (p, s, _) in enumerate(triples) if p == s and p is not None]
    return {"aliased": len(kept), "Y like P": sum(probes[i] == triples[i][0] for i in kept),
            "probes": [(triples[i][0], probes[i]) for i in kept], "ticks": _clock(app)}


def test_the_drift_around_an_alias_kept_in_one_world_measured(tmp_path_factory):
    """Measured (angle c, the likelihood left; passes on the clock alone): `_drift_after_twin_aliases`,
    capacity 200, 30 trials, clock 420 in both. S took P's figure in 14 trials, the same in both
    worlds (F's own draw). Y then took P's figure in 3 of 14 in the target's world (compared with
    S′, a difference of F2 and the target) and 6 of 14 in the ghost's (with S, F2 alone): they
    differ in 7 trials, 2 one way and 5 the other — two-sided, each outcome seen in both worlds, a
    likelihood (about 40 % against 60 % expected, L(10) against L(9)), like 0029q's drift (before
    the clock forgot S, the target's world held S and S′ both, and Y snapped more often there)."""
    seen = {name: _drift_after_twin_aliases(_small_world(tmp_path_factory.mktemp(f"dr{name}"), last, 200), 30)
            for name, last in WORLDS}
    print("round31 drift", seen)
    assert seen["target"]["ticks"] == seen["ghost"]["ticks"], seen
