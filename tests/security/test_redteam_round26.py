"""Twenty-sixth red-team round (decision 0029k): the ε-budget mode seen whole over the sessions
API in two worlds, and grants with row filters sharing one differencing memory.

Round twenty's worlds (301 people, the last the target P9999 — a woman of 99 in 丁区, income
52,000 — in one world and another person in the other; the same row count and disclosure key),
here with a descriptor that selects the ε mode; and the bundled household survey with and
without a target household (round eighteen's copies).

Found: the memory tried the remembered cells near a set nearest first, so which one a set was
answered like told whether the target was in one of them — an exact membership test for three
cells, alone or by two row-filtered colleagues (now a keyed order). Held: the ε mode's every
byte but the released values; row-filtered analysts outside the target's scope.

Each test is an attack; "Found" says what the attacker learnt before this round and the fix,
"Held" an angle that did not work.
"""

from __future__ import annotations

import json
import random
import textwrap
from datetime import date, timedelta
from pathlib import Path

import pytest

from portal.access import reviews
from portal.access.schemas import ApplicationDraft, ApprovalScope, DatasetScope
from portal.accounts import service as accounts
from portal.auth import SYSTEM
from portal.db import session_scope
from tests import factories
from tests.conftest import make_app
from tests.integration.analysis.conftest import write_fixed_key
from tests.integration.sessions.conftest import Analyst, grant
from tests.security.test_redteam_round18 import _survey_copy
from tests.security.test_redteam_round20 import HEADER, OTHER, SLUG, TARGET, _folder, _known, _world
from tests.security.test_redteam_round23 import (
    CELLS,
    PRELUDE,
    _browser,
    _page_masked,
    _released_masked,
)

DAILY_EPSILON = 40.0  # enough for every cell below (ε 0.1 a query), so no refusal is the budget's


def _dp_world(root: Path, last: str):
    """Round twenty's world, its descriptor selecting the ε-budget mode."""
    app = make_app(root / "instance", RATELIMIT_ANON="100000/minute", ANALYSIS_ANSWER_QUANTUM_MS=1)
    write_fixed_key(Path(app.config["INSTANCE_PATH"]))
    folder = _folder(root / "src", HEADER + _known() + last)
    doc = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    doc["kaifang"]["disclosure"] = {"mode": "dp", "daily_epsilon": DAILY_EPSILON}
    (folder / "datapackage.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    factories.load(app, folder)
    return app


# The same cells in both worlds, in the ε mode: counts, sums, means, medians and quantiles of
# sets with and without the target (by declared levels, a target alone, an empty set), tables
# shown and charted, refusals of the mode (identifier, undeclared levels, unbounded), errors of
# the data API, an exception with results in it, rows asked for, kept variables: round 23's cells
# but the fourth, whose probes of the target alone add the ε mode's own statistics (median,
# quantile) and its refusal of undeclared levels.
DP_PROBES = """
    one = d.filter((col('age') == 99) & (col('district') == '丁区'))
    print(outcome(lambda: d.filter(col('pid') == 'P9999').count()))
    print(outcome(lambda: one.count()))
    print(outcome(lambda: one.agg(mean('income').alias('m'), sum('income').alias('s')).collect().rows))
    print(outcome(lambda: one.agg(median('income').alias('md')).collect().rows))
    print(outcome(lambda: d.filter(col('age') >= 90).group_by('sex').agg(quantile('income', 0.9).alias('q')).collect().rows))
    print(outcome(lambda: one.group_by('age').agg(count()).collect().rows))
    print(outcome(lambda: old.select('nonexistent').count()))
    print(outcome(lambda: old.head(3)))
    print(outcome(lambda: old.agg(min('income').alias('lo')).collect().rows))
    print(outcome(lambda: d.filter(col('age') >= 98).with_columns((col('age') // (col('age') - 99)).alias('z'))
                  .agg(sum('z').alias('s')).collect().rows))
    print(outcome(lambda: d.filter((col('age') >= 98) & col('district').cast('int').is_null()).count()))
    """
DP_CELLS = [*CELLS[:3], DP_PROBES, *CELLS[4:]]


HEADERS_KEPT = ("Content-Type", "Content-Length", "Cache-Control", "Vary", "X-RateLimit-Limit",
                "Content-Disposition", "Content-Security-Policy")


@pytest.fixture(scope="module")
def dp_worlds(tmp_path_factory):
    return (_dp_world(tmp_path_factory.mktemp("t26"), TARGET), _dp_world(tmp_path_factory.mktemp("g26"), OTHER))


def _seen(answer) -> dict:
    """A response as the analyst reads it: status, the headers that could carry a figure, body
    (without the request id, the rate limit's reset time and the CPU seconds left: the worker's
    own clock, round twenty-three's usage)."""
    return {"status": answer.status_code,
            "headers": {k: v for k, v in answer.headers.items() if k in HEADERS_KEPT or k.startswith("X-")
                        and k not in ("X-Request-Id", "X-RateLimit-Reset", "X-Sandbox-CPU-Seconds-Left")},
            "body": answer.get_data(as_text=True)}


def _everything_dp(app) -> dict:
    """The cells in a new session of a new analyst (the grant's mode the dataset's: ε); all they
    can read of it afterwards, responses with their headers."""
    who = Analyst(app)
    grant(app, who.email, slug=SLUG, mode=None)  # the descriptor's ε mode
    session = who.open(SLUG)
    runs = [who.run(session, PRELUDE + textwrap.dedent(code)) for code in DP_CELLS]
    assert all(run["status"] == "done" for run in runs), runs
    browser = _browser(app, who.email)
    pages = {name: _seen(browser.get(path)) for name, path in (
        ("page", f"/notebook/{session}"), ("export", f"/notebook/{session}/export.py"),
        ("budget", f"/notebook/{session}/budget"), ("sessions page", "/notebook/"))}
    api = {name: _seen(who.get(path)) for name, path in (
        ("session", f"/api/v1/sessions/{session}"), ("list", "/api/v1/sessions"),
        ("run", f"/api/v1/runs/{runs[3]['id']}"))}
    return {"id": session, "who": who, "runs": runs, "pages": pages, "api": api}


@pytest.fixture(scope="module")
def dp_both(dp_worlds):
    return tuple(_everything_dp(app) for app in dp_worlds)


def _interval_width(params: dict) -> dict:
    """A note's 95 % interval is the released value plus or minus a width from the scale: the
    endpoints are the released value (masked), the width is kept. Scales are kept unmasked, a
    mean's too: its note shows its sum's and its count's scales (decision 0030s; it showed the
    sum's scale over the noisy count, one figure or a range as the cells' noisy counts agreed or
    not, so the masked notes of the two worlds differed now and then)."""
    if "low" in params and "high" in params:
        params = {**params, "low": None, "high": float(params["high"]) - float(params["low"])}
    return params


def _notes_and_refusals(runs: list[dict]) -> list:
    """Every note (code and params: scales, ε, the ledger's figures) and refusal, unmasked."""
    out = []
    for run in runs:
        result = run["result"]
        out.append([[(n["code"], json.dumps(_interval_width(n.get("params") or {}), sort_keys=True))
                     for n in r.get("notes", [])] for r in result.get("released", [])])
        out.append([(r["rule"], r["reason"]) for r in result.get("refused", [])])
    return out


def _budgets(value) -> list:
    """Every `budget` the API reports (the cells and ε left), unmasked, but CPU seconds (usage)."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "budget":
                found.append(json.dumps(item, sort_keys=True) if not isinstance(item, dict) else
                             json.dumps({k: v for k, v in item.items() if "cpu" not in k}, sort_keys=True))
            else:
                found += _budgets(item)
    elif isinstance(value, list):
        for item in value:
            found += _budgets(item)
    return found


def test_an_epsilon_session_shows_the_same_in_both_worlds_but_the_released_values(dp_both):
    """Held: the ε mode chosen by the dataset's descriptor, the same seven cells in both worlds
    (counts, sums, means, a median and a 0.9 quantile of sets with the target and of the same
    sets without it, tables shown and charted, a count of the target alone by `pid` — refused
    `identifier` — and by age and district, a group key without declared levels — `dp-levels` —,
    errors of the data API, an exception carrying results, rows asked of the target, kept
    variables), then everything the analyst reads: each run's JSON, the session's JSON and the
    list of sessions (API v1) and one run again, with their headers (Content-Length included:
    the figures' lengths are masked out of it below); the notebook page, the `.py` export, the
    budget page and the sessions page. Masked of ids, times, usage and numbers, each is byte for
    byte the same in both worlds. Unmasked, every note — the mechanisms, their scales, the
    intervals, the ε spent and the day's ledger (`epsilon-spent`: 0.1 a query, the same running
    total) — and every refusal and its reason are the same too: the scales are from the declared
    bounds, the ε from the settings, never from the records; and so are the budgets the API and the
    budget page report (sessions open, cells left: 493 of 500 in both)."""
    target, ghost = dp_both
    assert _released_masked(target["runs"]) == _released_masked(ghost["runs"])
    assert _notes_and_refusals(target["runs"]) == _notes_and_refusals(ghost["runs"])
    for key in ("pages", "api"):
        for name in target[key]:
            a, b = (world[key][name] for world in dp_both)
            assert a["status"] == b["status"] and a["status"] == 200, (name, a["status"], b["status"])
            masked = [_page_masked(w[key][name]["body"], w["id"]) if key == "pages"
                      else _released_masked(json.loads(w[key][name]["body"])) for w in dp_both]
            assert masked[0] == masked[1], name
            heads = [{k: v.replace(w["id"], "SID") for k, v in w[key][name]["headers"].items() if k != "Content-Length"}
                     for w in dp_both]
            assert heads[0] == heads[1], name
    budgets = [_budgets([json.loads(w["api"][name]["body"]) for name in w["api"]] + w["runs"]) for w in dp_both]
    assert target["pages"]["budget"]["body"] == ghost["pages"]["budget"]["body"]  # unmasked: cells left
    assert budgets[0] == budgets[1] and budgets[0], budgets
    notes = {n["code"] for run in target["runs"] for r in run["result"]["released"] for n in r.get("notes", [])}
    assert {"dp-mode", "epsilon-spent"} <= notes, notes
    refused = [r["rule"] for run in target["runs"] for r in run["result"]["refused"]]
    assert "identifier" in refused and "epsilon-budget" not in refused, refused



# --- Grants with row filters and column scopes, sharing the differencing memory ----------------

WORLD = "survey-world"
ORGANISATION = "同一研究所"


def _survey_world(root: Path, with_target: bool):
    """The bundled household survey as `WORLD`, with round eighteen's target household or
    without it; one instance per world, so both have the same slug (the same record-key salt)."""
    app = make_app(root / "instance", RATELIMIT_ANON="100000/minute", ANALYSIS_ANSWER_QUANTUM_MS=1)
    write_fixed_key(Path(app.config["INSTANCE_PATH"]))
    factories.load(app, _survey_copy(root, WORLD, with_target))
    return app


@pytest.fixture(scope="module")
def survey_worlds(tmp_path_factory):
    return (_survey_world(tmp_path_factory.mktemp("st26"), True), _survey_world(tmp_path_factory.mktemp("sg26"), False))


def _scoped(app, slug: str, row_filter: tuple[dict, ...], columns: tuple[str, ...] | None = None) -> Analyst:
    """A new analyst of `ORGANISATION`, approved on `slug` with a row filter (and columns) as a
    steward scopes it, in the statistical mode (the differencing memory these tests read)."""
    who = Analyst(app)
    with app.app_context(), session_scope(app) as session:
        actor = accounts.actor_for(session, accounts.user_by_email(session, who.email).id)
        changed = factories.apply_for(session, actor, ApplicationDraft((slug,), "study", ORGANISATION, 30), review_days=2)
        reviews.approve_application(session, SYSTEM, changed.application.id, ApprovalScope(
            (DatasetScope(slug, columns=columns, row_filter=row_filter),), date.today() + timedelta(days=30), 2000,
            disclosure_mode="sdc"))
    return who


def _public(app, slug: str, query: str) -> dict:
    answer = app.test_client().get(f"/api/v1/datasets/{slug}/public-aggregate?{query}")
    assert answer.status_code == 200, answer.json
    return answer.json


def _printed(who: Analyst, session: str, code: str):
    run = who.run(session, "import json\n" + PRELUDE + textwrap.dedent(code))
    if run["status"] not in ("done", "error"):
        run = who.finished(run["id"])
    assert run["status"] == "done" and run["result"]["status"] == "ok", (run["result"].get("error"), run["result"].get("stderr"))
    return json.loads(run["result"]["stdout"].strip().splitlines()[-1]), run["result"]


# The colleague inside the target's district asks cells with the target in them: its street by
# age band, and the small cells of its street's old heads by sex, education and tenure.
INSIDE = """
d = dataset("survey-world")
street = d.filter(col('street_code') == '120119001')
print(json.dumps([
    outcome(lambda: street.group_by('head_age_band').agg(count().alias('n'), sum('annual_income').alias('s')).collect().rows),
    outcome(lambda: street.filter(col('head_age_band') == '70+').group_by('head_sex', 'head_education')
            .agg(count().alias('n'), mean('annual_income').alias('m')).collect().rows),
    outcome(lambda: street.filter((col('head_age_band') == '70+') & (col('urban_rural') == '乡村')).count()),
    outcome(lambda: d.filter(col('head_age_band') == '70+').count()),
    outcome(lambda: d.count())]))
"""
# The analyst outside it asks what a set of theirs near those cells would be: the same
# descriptions (which their filter empties of the district), the whole of their scope, the
# public's cells restricted to it, and sets of other districts' old heads as small as the
# colleague's (near in size, as the memory ranks candidates).
OUTSIDE = """
d = dataset("survey-world")
street = d.filter(col('street_code') == '120119001')
old = d.filter(col('head_age_band') == '70+')
print(json.dumps([
    outcome(lambda: street.group_by('head_age_band').agg(count().alias('n'), sum('annual_income').alias('s')).collect().rows),
    outcome(lambda: street.filter(col('head_age_band') == '70+').count()),
    outcome(lambda: old.count()),
    outcome(lambda: d.count()),
    outcome(lambda: d.group_by('head_age_band', 'urban_rural').agg(count().alias('n')).collect().rows),
    outcome(lambda: old.filter(col('street_code').is_in(['120118001', '120117001', '120116001']))
            .group_by('head_sex', 'head_education').agg(count().alias('n'), mean('annual_income').alias('m')).collect().rows),
    outcome(lambda: old.filter((col('urban_rural') == '乡村') & (col('district') == '宁河区')).count())]))
"""
PUBLIC = ("by=district&stat=count", "by=head_age_band,urban_rural&stat=count", "by=head_age_band,head_sex&stat=count",
          "by=district&stat=mean&measure=household_size")


def _colleagues(app, order: str) -> tuple[list, list, dict]:
    """The public's tables, the colleague inside the target's district and the analyst outside
    it, in `order` ("inside first" or "outside first"); what each printed."""
    inside = _scoped(app, WORLD, ({"column": "district", "op": "eq", "value": "蓟州区"},))
    outside = _scoped(app, WORLD, ({"column": "district", "op": "ne", "value": "蓟州区"},))
    for query in PUBLIC:
        _public(app, WORLD, query)
    steps = [(inside, INSIDE), (outside, OUTSIDE)]
    if order == "outside first":
        steps.reverse()
    seen = {}
    for who, code in steps:
        seen[code] = _printed(who, who.open(WORLD), code)
    return seen[INSIDE][0], seen[OUTSIDE][0], seen[OUTSIDE][1]


def _without_ids(result: dict) -> dict:
    return _released_masked({k: v for k, v in result.items() if k not in ("released", "stdout")}) | {
        "released": result["released"], "stdout": result["stdout"]}


def test_an_analyst_outside_the_target_s_district_reads_the_same_in_both_worlds(survey_worlds):
    """Held: two analysts of one organisation on the household survey, one granted 蓟州区 only
    (the target household's district), one every other district (`ne`), and the public's
    tables (households by district — the target's 6,292 or 6,293 —, by age band and urban/rural,
    by age band and sex, mean size by district), all on one differencing memory. The colleague inside
    asked cells with the target in them (its street, 593 or 594, by age band with income sums;
    the street's heads of 70+, 88 or 89, by sex and education with mean incomes; its rural old
    heads; all old heads; everything). Then the analyst outside asked the same descriptions
    (their filter empties them of 蓟州区: empty cells, every one suppressed in both worlds), the
    whole of their scope and the public's cells over it (a cell the public remembers with the
    target is 700+ households from theirs: never snapped), and cells of other districts' old
    heads as small as the colleague's. Their whole run — figures included, not masked — is the
    same in both worlds: the target is outside every set of theirs, and none of their sets was
    answered like a remembered cell holding it. What the filter does not cut is documented
    (docs/disclosure.md, "A grant's scope"): a set of theirs within 19 records of a remembered
    cell that holds records outside the filter is answered with that cell's figure — the same
    likelihood test as a pad (Known limits), never an exact one."""
    seen = [_colleagues(app, "inside first") for app in survey_worlds]
    (inside_t, outside_t, result_t), (inside_g, outside_g, result_g) = seen
    assert outside_t == outside_g
    assert _without_ids(result_t) == _without_ids(result_g)
    assert inside_t != inside_g  # the colleague's own figures are where the target shows (noise)
    assert all(row[1] is None for row in outside_t[0]), outside_t[0]  # the street: none of theirs


def test_a_column_scoped_analyst_and_a_colleague_do_not_combine_to_a_record(tmp_path_factory):
    """Held: round twenty's worlds (SDC mode), two colluding analysts of one organisation. One is
    granted every record but the target's kind (`age lt 99`: the target is out of their scope,
    the ghost's stand-in of 45 in it) and three columns (no income); the colleague 丁区 only
    (the target's district). The colleague asks 丁区's women — count and income sum — and their
    whole scope; the public asks the count by district and sex; the first analyst asks the same
    women (the colleague's set less the target, in the target's world: one record away) and
    丁区 (the colleague's whole scope less the target). Between them they compare their
    figures: in both worlds the first analyst's counts are the colleague's and the public's
    (snapped, or the same set), and the income sum is refused them (`unknown-column`):
    the same relations, so no membership test; and no figure tells the target's income."""
    seen = []
    for name, last in (("target", TARGET), ("ghost", OTHER)):
        app = _world(tmp_path_factory.mktemp(f"c26{name}"), last)
        colleague = _scoped(app, SLUG, ({"column": "district", "op": "eq", "value": "丁区"},))
        first = _scoped(app, SLUG, ({"column": "age", "op": "lt", "value": 99},), columns=("district", "sex", "age"))
        public = {tuple(r[:2]): r[2] for r in _public(app, SLUG, "by=district,sex&stat=count")["rows"]}
        women = "d.filter((col('district') == '丁区') & (col('sex') == '女'))"
        theirs, _ = _printed(colleague, colleague.open(SLUG), f"""
        d = dataset({SLUG!r})
        print(json.dumps([{women}.count(), outcome(lambda: {women}.agg(sum('income')).collect().rows), d.count()]))
        """)
        mine, _ = _printed(first, first.open(SLUG), f"""
        d = dataset({SLUG!r})
        print(json.dumps([{women}.count(), outcome(lambda: {women}.agg(sum('income')).collect().rows),
                          d.filter(col('district') == '丁区').count()]))
        """)
        seen.append({"same women": mine[0] == theirs[0] == public[("丁区", "女")], "income": mine[1][:2],
                     "丁区 is the colleague's whole": mine[2] == theirs[2]})
    assert seen[0] == seen[1], seen
    assert seen[0]["same women"] and seen[0]["丁区 is the colleague's whole"], seen
    assert seen[0]["income"] == ["refused", "unknown-column"], seen


def _women_of_ding() -> list[tuple[int, str]]:
    """The known women of 丁区 (the target's description less its age), as (age, visit date),
    each with a visit date no other of them has (so a filter on the date leaves out exactly one)."""
    rows = [line.split(",") for line in _known().splitlines()]
    women = [(int(r[3]), r[5]) for r in rows if r[1] == "丁区" and r[2] == "女"]
    dates = [d for _, d in women]
    return [w for w in women if dates.count(w[1]) == 1]


def _nearest_snap(app, tries: int, *, colleagues: bool) -> dict:
    """C2 = the women of 丁区 less twelve known ones and less anyone of 99, then C1 = the women of
    丁区 (the target among them, or not), then sets S = C2 plus six of the twelve: S is six
    records from C2 in both worlds, and six (ghost) or seven (target) from C1. `colleagues`: C1
    is asked by a colleague granted 丁区 only, C2 and the S by an analyst granted everyone under
    99 (the target out of their scope); else one analyst with an ordinary grant asks all."""
    twelve = [d for _, d in _women_of_ding()[:12]]
    if colleagues:
        inside = _scoped(app, SLUG, ({"column": "district", "op": "eq", "value": "丁区"},))
        who = _scoped(app, SLUG, ({"column": "age", "op": "lt", "value": 99},))
    else:
        who = inside = Analyst(app)
        grant(app, who.email, slug=SLUG, cells=2000)
    base = "d.filter((col('district') == '丁区') & (col('sex') == '女'))"

    def less(dates):
        return base + ".filter(col('age') < 99)" + "".join(f".filter(col('visit') != {day!r})" for day in dates)

    def count(analyst, session, plan):
        got, _ = _printed(analyst, session, f"d = dataset({SLUG!r})\nprint(json.dumps(outcome(lambda: {plan}.count())))")
        return got

    rng = random.Random(26)
    session = who.open(SLUG)
    c2 = count(who, session, less(twelve))
    c1 = count(inside, inside.open(SLUG) if colleagues else session, base)
    sets = []
    while len(sets) < tries:  # different sixes: each S a set of its own
        six = sorted(rng.sample(twelve, 6))
        if six not in sets:
            sets.append(six)
    answers, _ = _printed(who, session, f"d = dataset({SLUG!r})\nprint(json.dumps([{', '.join(f'{less(s)}.count()' for s in sets)}]))")
    return {"c1": c1, "c2": c2, "like C1": sum(a == c1 for a in answers), "like C2": sum(a == c2 for a in answers)}


@pytest.mark.parametrize("colleagues", [False, True], ids=["one analyst", "two filtered colleagues"])
def test_which_remembered_cell_a_set_snaps_to_is_no_membership_test(tmp_path_factory, colleagues):
    """Found: an exact membership test for three cells, alone or by two row-filtered colleagues
    of one organisation. The memory tried the remembered cells near a set nearest first (by the
    decoded size of the difference, `Registry.near`), and the target moves that size by one.
    Remembered C2 — the women of 丁区 less twelve known ones (and less anyone of 99) — then C1 —
    the women of 丁区 —, both answered on their own (12 or 13 records apart: listed): 20 and 35
    in both worlds. A set S = C2 plus six of the twelve is six records from C2, and from C1 six
    without the target, seven with it: with the target C2 is strictly nearer, without it the
    two tie (broken the same way each time). Before the fix, eight such S (each a different six):
    the target's world answered all eight 20 (C2's figure), the ghost's all eight 35 (C1's) —
    with an ordinary grant, and the same when C1 was asked by a colleague granted 丁区 only and
    C2 and the S by one granted everyone under 99 (the target outside their scope). Fixed
    (decisions 0029k, 0029m): the candidates are tried nearest first by their distance plus a
    normal draw (σ 2 records) keyed by the pair's secret cell keys (`differencing._jitter`); a
    tie goes either way and a one-record lead holds about 64 % of the time, so the choice is a
    likelihood test of about 0.04 nats a set, not an exact one. (An order by the keys alone,
    0029k's first fix, let a set one record from a remembered cell take another as often, where
    the ghost's set was the cell itself: a one-sided test, reverted.) After, 32 different S:
    target 8 like C1 and 24 like C2, ghost 19 and 13 — a mix in both worlds, alone and with the
    colleagues (on the fixed test key; a world's split is a few draws, see below). Residual: which ≤
    64 cells are candidates at all still ranks by `spread` (a bound the target moves by up to 3),
    which matters only with more than 32 remembered cells of about the set's size (Known limits)."""
    seen = [_nearest_snap(_world(tmp_path_factory.mktemp(f"n26{name}"), last), 32, colleagues=colleagues)
            for name, last in (("target", TARGET), ("ghost", OTHER))]
    for world in seen:
        # Every S snapped to C1 or C2 (a difference of six: unlisted but for the noise's tail).
        # C1 is answered on its own, or — its difference from C2, twelve or thirteen records,
        # not listed on the pair's draw — like C2, when both figures are C2's.
        assert world["like C1"] + world["like C2"] >= 32, seen
    # Before the fix, on every key: target {"like C1": 0, "like C2": 32}, ghost {"like C1": 32,
    # "like C2": 0}. Now each S's choice is the pair's draw; but the S are two to twelve records
    # from each other, so a later S mostly takes an earlier one's figure: a world's split is a
    # few draws, not 32, and may come out all one way (measured on six disclosure keys: target
    # 20:12, 25:7, 0:32, 22:10, 19:13, 30:2; ghost 10:22, 16:16, 0:32, 22:10). What the order does per
    # pair is tested on the registry (tests/unit/analysis/test_memory_radius.py, a tie or a
    # one-record lead); here, that the worlds are not the exact test's two certain answers.
    assert not (seen[0]["like C1"] == 0 and seen[1]["like C2"] == 0), seen
