"""Fifth red-team round (decision 0023e): an analyst with an ordinary grant, over API v1 sessions,
and anyone over the public aggregates, try to learn one record of the clinic visits.

Each test is an attack. The ones that worked before this round are marked "found" in their
docstring, with the fix; the others document a defence that held (docs/disclosure.md).
"""

from __future__ import annotations

import json

import duckdb
import pytest

from tests.conftest import DATASETS
from tests.integration.sessions.conftest import CLINIC, Analyst, build_app, grant

QUASI = ("district", "age_band", "sex", "department", "visit_type")
INPATIENT = "住院"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    return build_app(tmp_path_factory.mktemp("redteam3"), SESSION_QUEUE_THREADS=2, SANDBOX_WORKERS=2,
                     SESSION_MAX_CONCURRENT=3, SANDBOX_WALL_SECONDS=60)


@pytest.fixture(scope="module")
def raw():
    """The raw clinic file: the truth the attacker is after (and the attacker's side knowledge
    of a few visits' quasi-identifiers)."""
    con = duckdb.connect()
    path = next((DATASETS / CLINIC).glob("*.csv*"))
    con.execute(f"CREATE TABLE v AS SELECT * FROM read_csv('{path}')")
    yield con
    con.close()


def _predicate(target: dict) -> str:
    """Analyst code singling out the visit with `target`'s quasi-identifiers and date."""
    terms = [f"(col({name!r}) == {target[name]!r})" for name in QUASI]
    terms += [f"(col('visit_date').dt.month() == {target['m']})", f"(col('visit_date').dt.day() == {target['d']})"]
    return " & ".join(terms)


def _one_unique_inpatient_per_district(raw) -> list[dict]:
    keys = ", ".join(QUASI)
    rows = raw.execute(f"""
        WITH alone AS (
            SELECT {keys}, month(visit_date) AS m, day(visit_date) AS d
            FROM v GROUP BY ALL HAVING count(*) = 1 AND bool_and(visit_type = '{INPATIENT}'))
        SELECT *, row_number() OVER (PARTITION BY district ORDER BY {keys}, m, d) AS nth FROM alone
        QUALIFY nth = 1 ORDER BY district""").fetchall()
    return [dict(zip((*QUASI, "m", "d"), r[:-1], strict=True)) for r in rows]


def _finished(analyst: Analyst, run_id: str) -> dict:
    for _ in range(8):  # a loaded machine: wait up to 4 minutes
        found = analyst.get(f"/api/v1/runs/{run_id}?wait=30").json
        if found["status"] in ("done", "error"):
            break
    return found


def _printed(run: dict):
    assert run["status"] == "done" and run["result"]["status"] == "ok", json.dumps(run["result"], ensure_ascii=False)[:3000]
    return json.loads(run["result"]["stdout"].strip().splitlines()[-1])


def test_two_sessions_at_once_cannot_difference_one_record(app, raw):
    """Found: the differencing memory was read once per size range when a run first needed it
    and written when the run ended, so two runs going on at the same time never saw each
    other's cells. One analyst opens two sessions and sends, at once, `count(A)` in one and
    `count(A and not target)` in the other, for 16 disjoint sets A (one per district, each
    holding one inpatient the analyst can single out): every pair was answered independently,
    and differing answers say the target is in A — the pairs that were snapped across runs
    before (test_differencing_across_accounts.py) are not, when the runs overlap. A busy loop
    after the queries keeps each run open while the other asks.
    Fix: each query's cells are checked against the shared memory and written to it as one
    step, under a lock per dataset version (memory.py), so whichever run asks second is
    snapped to the first."""
    analyst = Analyst(app)
    grant(app, analyst.email, cells=500)
    targets = _one_unique_inpatient_per_district(raw)
    assert len(targets) == 16
    sets = [f"(col('visit_type') == {INPATIENT!r}) & (col('district') == {t['district']!r})" for t in targets]
    wait = "\nfor i in range(10000000):\n    pass\n"
    prelude = f"import json\nc = dataset({CLINIC!r})\n"
    asks = [f"c.filter({s}).count()" for s in sets]
    asks_without = [f"c.filter(({s}) & ~({_predicate(t)})).count()" for s, t in zip(sets, targets, strict=True)]
    with_target = prelude + f"print(json.dumps([{', '.join(asks)}]))" + wait
    without = prelude + f"print(json.dumps([{', '.join(asks_without)}]))" + wait
    sessions = [analyst.open(CLINIC) for _ in range(2)]
    submitted = []
    for session_id, code in zip(sessions, (with_target, without), strict=True):
        answer = analyst.post(f"/api/v1/sessions/{session_id}/runs", {"code": code})
        assert answer.status_code == 202, answer.json
        submitted.append(answer.json["id"])
    first, second = (_printed(_finished(analyst, run_id)) for run_id in submitted)
    assert None not in first
    # The truth differs by one record in every pair; the answers must not.
    assert first == second


def _session_run(app, code: str, *, cells: int = 500) -> dict:
    """One cell, in a new session of a new analyst with a new grant, over API v1."""
    analyst = Analyst(app)
    grant(app, analyst.email, cells=cells)
    session_id = analyst.open(CLINIC)
    submitted = analyst.post(f"/api/v1/sessions/{session_id}/runs", {"code": code})
    assert submitted.status_code == 202, submitted.json
    return _finished(analyst, submitted.json["id"])


def test_an_indicator_summed_over_a_large_cell_is_no_count_of_one(app, raw):
    """A group of one made to look like a big one: the cell is the whole table (listed, 120,000
    visits) and the statistic is the sum of an indicator that is 1 for the target alone, i.e. a
    count of one record inside a listed cell. The sum of a non-sensitive value was released with
    a count's noise and rounding but without the minimum of contributors, so its true value 0
    always came out 0 while 1 came out 5 one time in ten; thirty spellings of the same indicator
    (each a statistic of its own, so a draw of its own) gave a membership test; a mean of an
    affine rewrite of the indicator (`2 * ind + 1`) was the same count, shifted.
    Fix: sums and means of non-sensitive values, like sensitive ones, are null unless their
    non-zero contributors (of the rewritten B, on a perturbed count) reach the minimum cell."""
    target = _one_unique_inpatient_per_district(raw)[0]
    ghost = _predicate(target) + " & (col('sex') == 'nobody')"
    variants = [f" & (col('department') != 'none-{i}')" for i in range(30)]
    code = f"import json\nc = dataset({CLINIC!r})\n"
    for name, who in (("real", _predicate(target)), ("ghost", ghost)):
        code += f"{name} = []\n"
        for chunk in range(0, len(variants), 10):  # at most 10 statistics per aggregation
            stats = ", ".join(f"sum((({who}){v}).cast('float')).alias('s{chunk + i}')" if i % 2 else
                              f"mean((({who}){v}).cast('float') * 2 + 1).alias('m{chunk + i}')"
                              for i, v in enumerate(variants[chunk:chunk + 10]))
            code += f"{name} += list(c.agg({stats}).collect().rows[0])\n"
    code += "print(json.dumps([real, ghost]))\n"
    real, ghost_rows = _printed(_session_run(app, code))
    # Before the fix: the ghost's sums were all 0 and some of the target's were 5.
    assert real == ghost_rows
    assert set(real) == {None}
