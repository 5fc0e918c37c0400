"""Thirty-seventh red-team round (decision 0031b) over HTTP: the public aggregates of a dataset in
the ε-budget mode (decision 0030z) and the ε mode through the sessions API, in two worlds a person
apart — round 36's people (`test_person_contributions.py`: 300 known people, the target a woman
of 99 in 丁区 with forty visits, person field `pid`, cap 5).

The public's answers are kept per version and question so that nobody gets a fresh draw of a
question asked before; the attack is to ask the same cells again in another spelling (the fields'
order, blanks, a trailing comma, an empty measure, case, a field repeated), or many times at once,
and average. What the public and the analyst read beside the noisy figures — the ε figures, the
429 and where it comes, the notes, the refusals and their `detail`, the `cells[]` figures, the
errors of a run that raises after its queries — must be the same in both worlds; the statistics
behind the figures must move by one person's cap at most (round 36's recorder), and with every
mechanism's draw fixed (`_blind`) everything must be identical.

Found, fixed: a question the broker refused (`too-many-groups`) was charged the public's ε at
each asking; it is now kept as its refusal. Held: the rest.
"""

from __future__ import annotations

import json
import re
import textwrap
import threading

import pytest
from sqlalchemy import select

from portal.analysis.models import PublicAnswer, PublicEpsilon
from portal.db import session_scope
from tests.integration.sessions.conftest import Analyst, grant
from tests.security.test_person_contributions import (
    CAP,
    EPSILON,
    FIELDS,
    HEADER,
    SLUG,
    TARGET,
    _known,
    world_app,
)
from tests.security.test_redteam_round23 import PRELUDE, _browser, _released_masked
from tests.security.test_redteam_round36 import Queries, _moved, _within_one_person

URL = f"/api/v1/datasets/{SLUG}/public-aggregate"
DISCLOSURE = {"mode": "dp", "epsilon_per_query": EPSILON, "person": "pid", "records_per_person": CAP}


def _app(root, rows: str, disclosure: dict | None = None, **config):
    app = world_app(root, SLUG, HEADER + _known() + rows, FIELDS, disclosure or DISCLOSURE, title_zh="多次就诊")
    app.config.update(config)
    app.extensions.pop("kaifang.analysis_settings", None)  # read again with the settings above
    return app


def _get(app, query: str, address: str = "198.51.100.37"):
    return app.test_client().get(f"{URL}?{query}", environ_base={"REMOTE_ADDR": address})


def _public_epsilon(app) -> list[tuple[float, int]]:
    with app.app_context(), session_scope(app) as session:
        return [(row.epsilon, row.queries) for row in session.scalars(select(PublicEpsilon))]


def _figures(answer: dict) -> dict[tuple, list]:
    """{group keys: [figure, low, high]} whatever order the caller gave the fields in."""
    width = len(answer["by"])
    return {tuple(sorted(zip(answer["by"], row[:width], strict=True))): row[width:] for row in answer["rows"]}


def _blind(monkeypatch) -> None:
    """Every mechanism's draw replaced by a constant, whatever its input (the calibrations and the
    intervals' widths as they are): then nothing of the records may reach an answer — figures,
    intervals, rows, notes — unless some route goes around the mechanisms."""
    from portal.analysis import privacy

    for name, constant in (("count_measurement", 7), ("sum_measurement", 12345.5), ("quantile_measurement", 321.0)):
        original = getattr(privacy, name)

        def blinded(*args, _original=original, _constant=constant, **kwargs):
            return privacy.Calibrated(lambda _input, value=_constant: value, _original(*args, **kwargs).scale)

        monkeypatch.setattr(privacy, name, blinded)


# ---------------------------------------------------------------------------------------------
# The public's kept answers: the same cells in another spelling, or asked at once
# ---------------------------------------------------------------------------------------------

SAME_COUNT = ["by=sex,district", "by=%20district%20,%20sex%20", "by=district,sex,", "by=,district,sex",
              "by=district,sex&stat=count&measure=", "by=district,sex&stat=%20count%20", "by=district%2Csex"]
SAME_MEAN = ["by=sex,district&stat=mean&measure=age", "by=district,sex&stat=mean&measure=%20age%20",
             "by=%20sex,district&stat=%20mean&measure=age%20"]
OTHER_SPELLINGS = ["by=District,sex", "by=district,SEX", "by=district,sex,district", "by=district,sex&stat=Count",
                   "by=district,sex&stat=mean&measure=Age", "by=district,sex&stat=count&measure=age",
                   "by=district,sex&stat=sum&measure=age", "by=district,sex,age"]


@pytest.fixture(scope="module")
def public_app(tmp_path_factory):
    return _app(tmp_path_factory.mktemp("spellings"), TARGET, RATELIMIT_ENABLED=False)


def test_held_a_question_in_another_spelling_gets_the_kept_answer_or_a_400(public_app):
    """Held: a count and a mean by two fields, then the same cells asked in every other spelling
    the parser accepts (the fields' order, blanks around fields and stat and measure, a trailing
    or leading comma, an empty measure, an encoded comma): each gets the kept figures, spends 0
    and leaves the ε figures as they were. Spellings that are not the same question (case, a
    field twice, a measure with a count, another statistic, a third field) are 400s that spend
    nothing. So no second draw of a question can be had to average."""
    first = _get(public_app, "by=district,sex")
    mean = _get(public_app, "by=district,sex&stat=mean&measure=age")
    assert first.status_code == mean.status_code == 200, (first.get_json(), mean.get_json())
    spent = _public_epsilon(public_app)
    assert spent == [(pytest.approx(2 * EPSILON), 2)]
    for asked, kept in [(q, first.get_json()) for q in SAME_COUNT] + [(q, mean.get_json()) for q in SAME_MEAN]:
        again = _get(public_app, asked)
        assert again.status_code == 200, (asked, again.get_json())
        body = again.get_json()
        assert _figures(body) == _figures(kept), asked
        assert body["epsilon"] == {**mean.get_json()["epsilon"], "spent": 0}, asked
    for asked in OTHER_SPELLINGS:
        refused = _get(public_app, asked)
        assert refused.status_code == 400, (asked, refused.get_json())
    assert _public_epsilon(public_app) == spent, "nothing but the two questions was paid for"


def test_held_one_question_asked_at_once_is_drawn_once(public_app):
    """Held: six callers ask one new question at the same time (threads of one process, the
    per-dataset hold): one draw is paid for and kept, and all six read the same figures."""
    before = (sum(queries for _, queries in _public_epsilon(public_app)), _kept(public_app))
    answers: list = [None] * 6

    def ask(at: int) -> None:
        answers[at] = _get(public_app, "by=sex" if at % 2 else "by=%20sex", address=f"198.51.100.{at}")

    threads = [threading.Thread(target=ask, args=(at,)) for at in range(len(answers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(a.status_code == 200 for a in answers), [a.get_json() for a in answers]
    assert len({json.dumps(sorted(_figures(a.get_json()).items())) for a in answers}) == 1
    assert sorted(a.get_json()["epsilon"]["spent"] for a in answers) == [0] * 5 + [EPSILON]
    assert (sum(queries for _, queries in _public_epsilon(public_app)), _kept(public_app)) == \
        (before[0] + 1, before[1] + 1)


def _kept(app) -> int:
    with app.app_context(), session_scope(app) as session:
        return len(session.scalars(select(PublicAnswer)).all())


def test_found_fixed_a_refused_question_was_charged_at_each_asking(tmp_path):
    """Found: a question the broker refuses for a rule of its own — here `too-many-groups`, on a
    dataset allowing 4 groups asked for district by sex (8) — was charged the public's ε at each
    asking and kept nothing: 0.1, 0.2, 0.3 after three requests, so one anonymous visitor could
    spend the public's ε of every day and version (5 in all by default) in fifty requests that
    answer nothing, leaving no public aggregate of the dataset to anyone (availability; the
    refusal itself says nothing of the records). Fixed: the refusal is kept like an answer (it
    follows from the question and the dictionary), so asking again, in any spelling, is refused
    again free."""
    app = _app(tmp_path, TARGET, {**DISCLOSURE, "max_groups": 4}, RATELIMIT_ENABLED=False)
    answers = [_get(app, query) for query in ("by=district,sex", "by=district,sex", "by=sex,district")]
    assert [(a.status_code, a.get_json()["code"]) for a in answers] == [(400, "refused-too-many-groups")] * 3
    assert "spent" not in answers[0].get_json()["detail"].split(":")[0]
    assert all("without spending anything" in a.get_json()["detail"] for a in answers[1:])
    assert _public_epsilon(app) == [(pytest.approx(EPSILON), 1)], "the first asking only"
    assert _get(app, "by=district").status_code == 200, "another question is answered"


# ---------------------------------------------------------------------------------------------
# The public's answers in two worlds: everything but the figures, up to and past the 429
# ---------------------------------------------------------------------------------------------

STORY = ["by=district,sex", "by=sex&stat=mean&measure=age", "by=district", "by=sex,district",
         "by=sex&stat=mean&measure=age"]


def _stories(tmp_path_factory, blind: bool) -> tuple[tuple[list, list], ...]:
    """The same five requests in each world, under a public ε of 0.25 a day (two questions): two
    new questions, a third refused (429), the first two again (kept); with the statistics as
    they reached their mechanisms."""
    stories = []
    for name, last in (("target", TARGET), ("others", "")):
        app = _app(tmp_path_factory.mktemp(f"story-{name}"), last, PUBLIC_AGGREGATE_DAILY_EPSILON=0.25,
                   PUBLIC_AGGREGATE_LIFETIME_EPSILON=0.35)
        with pytest.MonkeyPatch.context() as monkeypatch:
            recorder = Queries(monkeypatch)
            if blind:
                _blind(monkeypatch)
            answers = [_get(app, query, address=f"198.51.100.{at}") for at, query in enumerate(STORY)]
        stories.append(([(a.status_code, a.get_json()) for a in answers], recorder.queries))
    return stories[0], stories[1]


@pytest.fixture(scope="module")
def public_stories(tmp_path_factory) -> tuple[tuple[list, list], ...]:
    return _stories(tmp_path_factory, blind=False)


def _but_ids(value):
    """A JSON answer without its run's ids, times and resource use (a problem's `instance` too)."""
    if isinstance(value, dict):
        return {k: _but_ids(v) for k, v in value.items() if k not in (
            "id", "session_id", "run_id", "audit_run_id", "instance", "usage", "submitted_at", "started_at",
            "finished_at", "created_at", "last_used_at", "expires_at", "budget", "grant_id")}
    if isinstance(value, list | tuple):
        return [_but_ids(item) for item in value]
    return value


def test_held_with_the_mechanisms_draws_fixed_the_public_answers_are_identical(tmp_path_factory):
    """Held: with every mechanism's draw a constant whatever its input, the five answers —
    figures, the means' and counts' interval ends, rows, notes, ε figures, the 429 — are
    identical in both worlds: the records reach a public answer only through a mechanism's input
    (which moves by one person's cap: the next test). So the interval `_low`/`_high` of a mean,
    which comes from its noisy sum's and noisy count's own intervals, says nothing the two noisy
    releases do not."""
    (target, _), (others, _) = _stories(tmp_path_factory, blind=True)
    assert [status for status, _ in target] == [200, 200, 429, 200, 200]
    assert _but_ids(target) == _but_ids(others)


def _beside_figures(status: int, body: dict) -> tuple:
    """All of an answer but its figures and its run's id (a problem as it is, but its instance)."""
    if status != 200:
        return status, {k: v for k, v in body.items() if k not in ("instance", "run_id")}
    width = len(body["by"])
    return status, {**{k: v for k, v in body.items() if k not in ("rows", "run_id")},
                    "keys": [row[:width] for row in body["rows"]]}


def test_held_the_public_s_epsilon_figures_and_its_429_are_the_same_in_both_worlds(public_stories):
    """Held: the answers' ε figures (spent, left today and in all), notes, rows and keys, the 429
    — where it comes and what it says — and the kept answers' spending nothing are the same with
    and without the target; each count's interval is its figure plus or minus a width fixed by ε."""
    (target, _), (others, _) = public_stories
    assert [_beside_figures(*answer) for answer in target] == [_beside_figures(*answer) for answer in others]
    assert [status for status, _ in target] == [200, 200, 429, 200, 200]
    assert [body["epsilon"]["spent"] for status, body in target if status == 200] == [EPSILON, EPSILON, 0, 0]
    widths = {high - figure for status, body in target + others if status == 200 and body["stat"] == "count"
              for *_, figure, _, high in body["rows"]}
    assert len(widths) == 1, widths


def test_held_a_public_mean_moves_by_a_persons_cap_under_noise_for_it(public_stories):
    """Held: the mean (its clamped total and its count, each at half the ε) and the count of the
    two paid questions move by the person's `CAP` records at most before their noise (the
    refused and kept questions reach no mechanism), with the same calibrations in both worlds."""
    (_, target_queries), (_, others_queries) = public_stories
    assert len(target_queries) == len(others_queries) == 3  # the third is refused for the budget
    for a, b in zip(target_queries[:2], others_queries[:2], strict=True):
        moved = _moved(a, b)
        assert moved and _within_one_person(moved), moved
    assert target_queries[2] == others_queries[2] == []


# ---------------------------------------------------------------------------------------------
# The ε mode through the sessions API
# ---------------------------------------------------------------------------------------------

CELLS = [
    """
    d = dataset("many-visits")
    at99 = d.filter(col("age") == 99)
    t = at99.group_by("district", "sex").agg(count().alias("n"), mean("cost").alias("m"))
    print(outcome(lambda: t.collect().rows), outcome(lambda: at99.count()))
    print(outcome(lambda: d.group_by("pid").agg(count()).collect().rows))
    print(outcome(lambda: at99.agg(quantile("cost", 0.5).alias("q")).collect().rows))
    """,
    """
    kept = at99.count()
    raise ValueError(kept)
    """,
    """
    for _ in range(12):
        print(outcome(lambda: d.filter(col("district") == "丁区").count()))
    """,
]


def _sessions(app, pages: bool = False) -> dict:
    who = Analyst(app)
    grant(app, who.email, slug=SLUG, mode=None)
    session = who.open(SLUG)
    runs = [who.run(session, PRELUDE + textwrap.dedent(code)) for code in CELLS]
    seen = {"runs": runs, "session": who.get(f"/api/v1/sessions/{session}").json}
    if pages:  # the notebook as the analyst's browser reads it, ids and times left out
        browser = _browser(app, who.email)
        for name, path in (("page", f"/notebook/{session}"), ("export", f"/notebook/{session}/export.py"),
                           ("budget", f"/notebook/{session}/budget")):
            text = browser.get(path).get_data(as_text=True).replace(session, "S")
            seen[name] = VARYING.sub("#", _without_run_ids(text, runs))
    return seen


# What differs between any two runs: ids, times, resource use, the form's CSRF token
VARYING = re.compile(r"\b[0-9a-f]{32}\b|\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?"
                     r"|(cpu_seconds[a-z_]*|wall_seconds|max_rss_bytes)\\?\": [\d.]+|csrf[-_]token\" \w+=\"[^\"]*\"")


def _without_run_ids(text: str, runs: list[dict]) -> str:
    for run in runs:
        for key in ("id", "audit_run_id"):
            if run.get(key):
                text = text.replace(run[key], "R")
    return text


@pytest.fixture(scope="module")
def session_worlds(tmp_path_factory):
    return tuple(_sessions(_app(tmp_path_factory.mktemp(f"sessions-{name}"), rows))
                 for name, rows in (("target", TARGET), ("others", "")))


def test_held_with_the_mechanisms_draws_fixed_the_epsilon_runs_are_identical(tmp_path_factory):
    """Held: the same cells over the sessions API with every mechanism's draw a constant: the
    runs — what the cells printed (figures and intervals), the error raised with a figure in it,
    notes, refusals, ε summaries —, the session's `cells[]`, and the notebook's page, export and
    budget as the analyst's browser reads them are identical in both worlds (ids, times,
    resource use and the CSRF token aside)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        _blind(monkeypatch)
        target, others = (_sessions(_app(tmp_path_factory.mktemp(f"blind-{name}"), rows), pages=True)
                          for name, rows in (("target", TARGET), ("others", "")))
    assert [run["status"] for run in target["runs"]] == ["done", "done", "done"]
    assert _but_ids(target) == _but_ids(others)


def test_held_the_epsilon_mode_over_the_sessions_api_differs_in_its_figures_only(session_worlds):
    """Held: three cells in a session of an ε-mode grant (ε 1.0 a day, 0.1 a query) — a table in
    which only the target's cell has records, a count, a refusal, a quantile; a cell that raises
    after a query, with the released figure in its error; queries until the day's ε refuses — read
    back over HTTP. With the figures masked, the runs (statuses, errors, notes, refusals and
    their `detail`, the `epsilon[]` summaries) and the session are the same in both worlds; the
    `cells[]` figures and the ε summaries unmasked too, since they count queries, not records."""
    target, others = session_worlds
    assert _released_masked(target) == _released_masked(others)
    assert target["session"]["cells"] == others["session"]["cells"]
    summaries = [[{k: v for k, v in e.items() if k != "grant_id"} for e in run["result"].get("epsilon", [])]
                 for run in target["runs"]]
    assert summaries == [[{k: v for k, v in e.items() if k != "grant_id"} for e in run["result"].get("epsilon", [])]
                         for run in others["runs"]]
    budget = target["session"]["cells"][0]
    assert budget["mode"] == "dp" and budget["epsilon_left"] == 0
    assert [r.get("detail") for r in target["runs"][2]["result"]["refused"]][-1] is None
    assert target["runs"][1]["result"]["status"] == "error"

