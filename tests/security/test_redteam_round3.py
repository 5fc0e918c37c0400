"""Fifth red-team round (decision 0023e): an analyst with an ordinary grant, over API v1 sessions,
and anyone over the public aggregates, try to learn one record of the clinic visits.

Each test is an attack. The ones that worked before this round are marked "found" in their
docstring, with the fix; the others document a defence that held (docs/disclosure.md).
"""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from portal.access import reviews
from portal.access.schemas import ApplicationDraft, ApprovalScope, DatasetScope
from portal.accounts import service as accounts
from portal.auth import SYSTEM
from portal.catalog import publishing
from portal.db import session_scope
from tests import factories
from tests.conftest import DATASETS, make_app
from tests.integration.analysis.conftest import write_fixed_key
from tests.integration.sessions.conftest import CLINIC, Analyst, grant

# The public aggregates these rounds attack are the statistical path (decision 0030z).
pytestmark = pytest.mark.usefixtures("statistical_public")

QUASI = ("district", "age_band", "sex", "department", "visit_type")
INPATIENT = "住院"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The sessions tests' instance (tests/integration/sessions/conftest.py), with the clinic
    visits only: the file stays fast."""
    app = make_app(tmp_path_factory.mktemp("redteam3") / "instance", RATELIMIT_ANON="100000/minute",
                   ANALYSIS_ANSWER_QUANTUM_MS=1, SESSION_QUEUE_THREADS=2, SANDBOX_WORKERS=2,
                   SESSION_MAX_CONCURRENT=3, SANDBOX_WALL_SECONDS=60)
    write_fixed_key(Path(app.config["INSTANCE_PATH"]))
    with app.app_context(), session_scope(app) as session:
        publishing.load_package(session, SYSTEM, DATASETS / CLINIC, data_dir=Path(app.config["DATA_DIR"]))
    return app


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
    first, second = (_printed(analyst.finished(run_id)) for run_id in submitted)
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
    return analyst.finished(submitted.json["id"])


def test_an_indicator_summed_over_a_large_cell_is_no_count_of_one(app, raw):
    """A group of one made to look like a big one: the cell is the whole table (listed, 120,000
    visits) and the statistic is the sum of an indicator that is 1 for the target alone, i.e. a
    count of one record inside a listed cell. The sum of a non-sensitive value was released with
    a count's noise and rounding but without the minimum of contributors, so its true value 0
    always came out 0 while 1 came out 5 one time in ten; thirty spellings of the same indicator
    (each a statistic of its own, so a draw of its own) gave a membership test; a mean of an
    affine rewrite of the indicator (`2 * ind + 1`) was the same count, shifted.
    Fix: sums and means of non-sensitive values, like sensitive ones, are null unless their
    non-zero contributors (of the rewritten B, on a perturbed count) reach the minimum cell.
    Since the sixth round (decision 0024c) a statistic reads one field, so the indicator is
    refused before anything runs (`statistic-form`): a pad would have supplied the contributors."""
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
            code += (f"try:\n    {name} += list(c.agg({stats}).collect().rows[0])\n"
                     f"except QueryRefused as refusal:\n    {name}.append(refusal.rule)\n")
    code += "print(json.dumps([real, ghost]))\n"
    real, ghost_rows = _printed(_session_run(app, code))
    # Before the fix: the ghost's sums were all 0 and some of the target's were 5.
    assert real == ghost_rows
    assert set(real) == {"statistic-form"}


def _scoped_grant(app, email: str, row_filter: tuple[dict, ...]) -> None:
    """An application approved with a row filter, as a steward would scope it, in the statistical
    mode (the public cells and the filtered ones meet in its differencing memory)."""
    with app.app_context(), session_scope(app) as session:
        actor = accounts.actor_for(session, accounts.user_by_email(session, email).id)
        changed = factories.apply_for(session, actor, ApplicationDraft((CLINIC,), "study", "uni", 30), review_days=2)
        reviews.approve_application(session, SYSTEM, changed.application.id, ApprovalScope(
            (DatasetScope(CLINIC, row_filter=row_filter),), date.today() + timedelta(days=30), 500,
            disclosure_mode="sdc"))


def _public(app, query: str) -> dict:
    answer = app.test_client().get(f"/api/v1/datasets/{CLINIC}/public-aggregate?{query}",
                                   environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert answer.status_code == 200, answer.json
    return answer.json


def test_a_row_filtered_grant_and_the_public_cells_do_not_difference_a_record(app, raw):
    """Two budgets, one memory: a grant scoped to one district, and the public's table by
    district over every record. The analyst's whole scope is the public's
    cell; the scope without the target (singled out by quasi-identifiers) differs from it by
    one record. Held: both paths share the differencing memory and the noise, so the analyst
    gets exactly the public's figure for both, whatever the target."""
    target = _one_unique_inpatient_per_district(raw)[1]
    cell = next(row for row in _public(app, "by=district")["rows"] if row[0] == target["district"])
    analyst = Analyst(app)
    _scoped_grant(app, analyst.email, ({"column": "district", "op": "eq", "value": target["district"]},))
    session_id = analyst.open(CLINIC)
    code = (f"import json\nc = dataset({CLINIC!r})\n"
            f"print(json.dumps([c.count(), c.filter(~({_predicate(target)})).count(), "
            f"c.group_by('sex').agg(count()).collect().rows]))\n")
    submitted = analyst.post(f"/api/v1/sessions/{session_id}/runs", {"code": code})
    whole, without, by_sex = _printed(analyst.finished(submitted.json["id"]))
    assert cell[1] is not None and whole == without == cell[1]
    assert {row[0] for row in by_sex} <= {"男", "女"}


def test_errors_echoes_and_notes_of_a_run_are_the_same_with_and_without_the_target(app, raw):
    """Errors depending on data values, and what the session JSON echoes: a large listed set OR
    (the target AND an expression that could fail on some values: a text field compared with a
    number, `is_in` numbers on text, text plus one, a date against an integer, a date part of
    text, an overflow, a division by a month minus 6, text cast to a number, a date cast to a
    datetime), against the same with a ghost that matches nothing. Held: every outcome is
    decided on the plan (a refusal) or the store makes the conversion total, and the two runs'
    JSON — status, message, stdout, released notes and rows, refusals — is the same."""
    target = _one_unique_inpatient_per_district(raw)[2]
    real = _predicate(target)
    ghost = real + " & (col('sex') == 'nobody')"
    bad = ["(col('district') == 5)", "col('district').is_in([1, 2])", "(col('district') + 1 > 0)",
           "(col('visit_date') > 20230101)", "(col('district').dt.year() == 2023)",
           "(col('visit_date').dt.month() * 4000000000000000000 > 0)",
           "(lit(1) / (col('visit_date').dt.month() - 6) > 0)", "(col('age_band').cast('float') > 0)",
           "(col('visit_date').cast('datetime') > col('visit_date'))"]
    big = "(col('visit_type') == '门诊')"
    analyst = Analyst(app)
    grant(app, analyst.email, cells=500)
    session_id = analyst.open(CLINIC)
    runs = []
    for who in (real, ghost):
        asks = ", ".join(f"outcome(lambda: c.filter(({big}) | (({who}) & {b})).count())" for b in bad)
        code = (f"import json\nc = dataset({CLINIC!r})\n"
                "def outcome(attempt):\n    try:\n        return attempt()\n"
                "    except QueryRefused as refusal:\n        return refusal.rule\n"
                f"print(json.dumps([{asks}]))\n")
        submitted = analyst.post(f"/api/v1/sessions/{session_id}/runs", {"code": code})
        runs.append(analyst.finished(submitted.json["id"])["result"])
    seen = [{k: r[k] for k in ("status", "message", "stdout", "released", "refused", "outputs", "error")} for r in runs]
    assert seen[0] == seen[1]
    assert None not in json.loads(runs[0]["stdout"])


def test_a_new_version_does_not_redraw_the_noise_of_unchanged_cells(app, raw, tmp_path):
    """Version differencing: the publisher appends one visit (the target) and publishes version
    2. Anyone asks the public table by district before and after. Only the target's district
    changed; every other district has exactly the same records.
    Found: record keys were a hash of a salt per version and the file row number, and the memory
    was kept per version, so every version redrew every cell's noise (unchanged cells too: one
    more independent draw to average per release) and the target's district was answered
    afresh, a one-record difference against the earlier figure.
    Fix: a record's key hashes its stored values under one salt per dataset, and the memory is
    kept per dataset: unchanged cells keep their figures, and a cell that gained or lost a
    few records is snapped to the earlier version's."""
    before = {row[0]: row[1] for row in _public(app, "by=district")["rows"]}
    source = next((DATASETS / CLINIC).glob("*.csv*"))
    grown = tmp_path / "visits.csv"
    with gzip.open(source, "rb") as rows, open(grown, "wb") as out:
        shutil.copyfileobj(rows, out)
    with open(grown, "a", encoding="utf-8") as out:  # the target, appended
        out.write("V20239999999,P9999999,2023-06-15,和平区,35-44,女,肿瘤,肿瘤科,住院,88000.00,自费\n")
    with app.app_context(), session_scope(app) as session:
        publishing.add_version(session, SYSTEM, CLINIC, grown, data_dir=Path(app.config["DATA_DIR"]))
    after_answer = _public(app, "by=district")
    assert after_answer["version"] == 2
    after = {row[0]: row[1] for row in after_answer["rows"]}
    unchanged = [d for d in before if d != "和平区"]
    assert [before[d] for d in unchanged] == [after[d] for d in unchanged]
    assert before["和平区"] == after["和平区"]
