"""Thirty-seventh red-team round (decision 0031b): the statistical mode's budgets of decision
0030w — lifetime cells per account, the grant's day and the account's day charged together —
attacked in two worlds one record apart, through `submit_run` (the sandbox, the broker, the
ledgers).

The worlds: the visits of round 36's 300 known people and, in world A only, a target — one visit
of a woman of 99 in 丁区, the only visit at that age. What the analyst reads of the budgets —
the cells each query is charged (the run's per-query log), the refusals with their `detail`
(`person`, `lifetime`, none for the grant's own day), the `cells[]` figures `cells_left`,
`cells_lifetime`, `cells_lifetime_left` — must be the plan's alone: the same in both worlds,
query by query, through three grants of one account (the account's day spent under another
grant; a lifetime counted from what was released before it). The queries are the ones whose
cells the target moves: a table in which only the target's cell has records, its count, a
grouped mean of a sensitive value at age 99, a refusal, and the same again until each budget
runs out inside a run.

Held (a test, since no round measured these figures in two worlds): a charge is every cell the
plan could release (declared combinations times columns, one for a count, one for a refusal),
fixed before the store runs; a spent budget refuses from the three ledger rows, which only
charges move.

And the ε mode in round 36's worlds with every mechanism's draw fixed (`_blind`): a run prints
the same in both, so the records reach the analyst only through the mechanisms' inputs. The
public aggregates of an ε-mode dataset and the ε mode over the sessions API are attacked in
`test_redteam_round37_api.py`.
"""

from __future__ import annotations

import json
import textwrap

import pytest
from sqlalchemy import select

from portal.access.service import grant_access, usable_datasets
from portal.accounts.models import User
from portal.analysis.models import AnalysisQuery, AnalysisRun
from portal.analysis.runtime import AnalysisSettings
from portal.analysis.service import submit_run
from portal.auth import SYSTEM, Actor
from portal.db import session_scope
from portal.sessions.service import cell_budgets
from tests import factories
from tests.security.test_person_contributions import world_app
from tests.security.test_redteam_round23 import PRELUDE
from tests.security.test_redteam_round36 import (
    FIELDS,
    HEADER,
    ODD_TARGET,
    Queries,
    _attack,
    _known,
    _moved,
    _within_one_person,
)
from tests.security.test_redteam_round36 import _world as world_36
from tests.security.test_redteam_round37_api import _blind

SLUG = "round-37"
TARGET = "T0,P9999,丁区,女,5,false,99,48000\n"  # the only visit at 99 (the known people are 20..80)
# One table of 8 cells by 3 columns (24 cells), a count (1), a grouped mean (4 cells by 2 columns), a refusal (1).
QUERIES = """
    import json
    d = dataset("round-37")
    at99 = d.filter(col("age") == 99)

    def asked():
        return [outcome(lambda: at99.group_by("district", "sex").agg(count().alias("n")).collect().rows),
                outcome(lambda: at99.count()),
                outcome(lambda: at99.group_by("district").agg(mean("cost").alias("m")).collect().rows),
                outcome(lambda: d.group_by("pid").agg(count()).collect().rows)]
    answers = [asked() for _ in range(ROUNDS)]
    print(json.dumps([[a[:2] if isinstance(a, list) and a and a[0] == "refused" else "answered" for a in round_]
                      for round_ in answers]))
    """


def _world(root, rows: str):
    return world_app(root, SLUG, HEADER + _known() + rows, FIELDS, {"mode": "sdc"}, title_zh="第三十七轮")


@pytest.fixture(scope="module")
def worlds(tmp_path_factory):
    return (_world(tmp_path_factory.mktemp("cells-a"), TARGET), _world(tmp_path_factory.mktemp("cells-b"), ""))


def _actor(session) -> Actor:
    user = session.scalar(select(User).where(User.email == "attacker@example.org"))
    return Actor(user_id=user.id, role=user.role, department_id=user.department_id, email=user.email)


def _run(app, rounds: int) -> dict:
    """One run of `rounds` rounds of the queries; what the analyst reads of its budgets."""
    settings = AnalysisSettings.from_config(app.config)
    with app.app_context(), session_scope(app) as session:
        outcome = submit_run(session, _actor(session), code=PRELUDE + textwrap.dedent(QUERIES).replace(
            "ROUNDS", str(rounds)), datasets=[SLUG], settings=settings)
        result = outcome.result
        assert result["status"] == "ok", result
        figures = [(c.cells_daily, c.cells_left, c.cells_lifetime, c.cells_lifetime_left)
                   for c in cell_budgets(session, usable_datasets(session, _actor(session), [SLUG]), settings.epsilon)]
    return {"printed": json.loads(result["stdout"].strip().splitlines()[-1]),
            "refused": [(r["rule"], r.get("detail")) for r in result["refused"]],
            "charged": [q.get("cells_charged") for q in _queries(app, outcome.run_id)],
            "figures": figures}


def _queries(app, run_id: str) -> list[dict]:
    """The run's per-query log as the audit keeps it."""
    with app.app_context(), session_scope(app) as session:
        run = session.scalar(select(AnalysisRun).where(AnalysisRun.run_id == run_id))
        rows = session.scalars(select(AnalysisQuery).where(AnalysisQuery.run_id == run.id)
                               .order_by(AnalysisQuery.number)).all()
        return [{"cells_charged": q.cells_charged, "status": q.status} for q in rows]


def _grant(app, days: int, daily: int, lifetime: int | None = None) -> None:
    with app.app_context(), session_scope(app) as session:
        grant_access(session, SYSTEM, email="attacker@example.org", slug=SLUG, days=days, purpose="round 37",
                     daily_cell_budget=daily, lifetime_cells=lifetime)


def _story(app) -> list[dict]:
    """Three grants of one account, the later one in force each time: 34 cells under the first
    (2,000 a day); the second's 60 a day, of which the account has spent 34 today (`person`
    after 26 more); the third's 40 over its life (`lifetime`)."""
    seen = [_run(app, 1)]
    _grant(app, days=2, daily=60)
    seen.append(_run(app, 3))
    _grant(app, days=3, daily=2000, lifetime=40)
    seen.append(_run(app, 3))
    return seen


def test_held_the_cell_budgets_charges_refusals_and_figures_are_the_plans_in_both_worlds(worlds):
    """Held: through three grants of one account, every query's charge, every refusal and its
    `detail`, what each round printed and the `cells[]` figures after each run are the same with
    and without the target, whose visit is the only record of the queries' cells."""
    story_a, story_b = (_story(app) for app in worlds)
    assert story_a == story_b
    first, second, third = story_a
    assert first["charged"] == [24, 1, 8, 1] and first["refused"] == [("identifier", None)]
    assert ("budget", "person") in second["refused"] and ("budget", "lifetime") in third["refused"]
    assert second["figures"][0][1] == 0 and third["figures"][0][3] == 0


# ---------------------------------------------------------------------------------------------
# The ε mode with its mechanisms' draws fixed: nothing of the records goes around them
# ---------------------------------------------------------------------------------------------

AROUND = """
    import json
    d = dataset("round-36")
    at99 = d.filter(col("age") == 99)

    def rows(frame):
        return frame.collect().rows
    answers = [
        # every statistic, grouped and not, of the target's selection and of everyone's
        outcome(lambda: rows(at99.group_by("district", "sex").agg(count().alias("n"), sum("cost").alias("s"),
                             mean("cost").alias("m"), quantile("cost", 0.9).alias("q")))),
        outcome(lambda: rows(d.agg(count().alias("n"), mean("age").alias("a"), median("cost").alias("md")))),
        outcome(lambda: at99.count()),
        # sorted by a released figure, cut; a filter after a computed column
        outcome(lambda: rows(d.group_by("district").agg(count().alias("n")).sort("n").limit(2))),
        outcome(lambda: rows(d.group_by("grade").agg(mean("cost").alias("m")).sort("m", descending=True))),
        outcome(lambda: rows(d.with_columns((col("cost") * 2 > 90000).alias("big")).filter(col("big"))
                             .group_by("insured").agg(count().alias("n")))),
        outcome(lambda: rows(d.select("district", "cost", "age").filter(col("age") > 98)
                             .group_by("district").agg(sum("cost").alias("s")))),
        # values only the target has, past the bounds, missing
        outcome(lambda: d.filter((col("cost") >= 50000) & col("district").is_null()).count()),
        outcome(lambda: rows(d.filter(col("grade").is_null()).agg(mean("cost").alias("m")))),
    ]
    print(json.dumps(answers))
    """


def test_held_with_the_mechanisms_draws_fixed_an_epsilon_run_is_the_same_in_both_worlds(tmp_path_factory):
    """Held: round 36's worlds (a target with a district no level declares, empty keys, a grade
    and costs outside the bounds, against none), every OpenDP draw replaced by a constant
    whatever its input: nine queries — every statistic of the target's selection and of
    everyone's, a sort by a figure and a limit, filters on computed columns and on values only
    the target has — print the same figures, intervals, rows, notes and
    refusals in both worlds; and each query's statistics move by one person's cap at most before
    their draws. Together: the records reach the analyst only through a mechanism's input."""
    printed = _blinded_in_both_worlds(tmp_path_factory, "blind", AROUND)
    assert not any(isinstance(a, list) and a[:1] == ["refused"] for a in printed), printed


def _blinded_in_both_worlds(tmp_path_factory, name: str, code: str, lookups: bool = False) -> list:
    """Run `code` blinded in round 36's two worlds (with the open lookups if `lookups`); assert
    that the analyst reads the same in both (printed answers, notes, refusals) and that each
    query's statistics moved by one person's cap at most. Returns what was printed."""
    seen = []
    for world, rows in (("target", ODD_TARGET), ("others", "")):
        app = world_36(tmp_path_factory.mktemp(f"{name}-{world}"), rows)
        if lookups:
            for slug, csv in (("districts", LOOKUP), ("doubled", DOUBLED)):
                factories.load(app, factories.dataset_folder(tmp_path_factory.mktemp(f"{slug}-{world}"), slug, csv=csv))
        with pytest.MonkeyPatch.context() as monkeypatch:
            _blind(monkeypatch)
            queries, result, printed = _attack_joined(app, code) if lookups else _attack(app, code)
        seen.append((queries, [(n["code"], n["params"]) for a in result["released"] for n in a["notes"]
                               if n["code"] != "epsilon-spent"], result["refused"], printed))
    (queries_a, *rest_a), (queries_b, *rest_b) = seen
    assert rest_a == rest_b
    for index, (a, b) in enumerate(zip(queries_a, queries_b, strict=True)):
        moved = _moved(a, b)
        assert _within_one_person(moved), (index, moved)
    return rest_a[2]


# Joined open data: a lookup of the districts (one row per name), 戊区 — the target's district,
# which no level declares — among them, and a lookup with two rows for one name.
LOOKUP = "code,name,population,founded\n" + "".join(
    f"{i},{name},{100000 * (i + 1)},2000-01-01\n" for i, name in enumerate(["甲区", "乙区", "丙区", "丁区", "戊区"]))
DOUBLED = LOOKUP + "9,丁区,1,2000-01-01\n"
JOINED = """
    import json
    d = dataset("round-36")
    lk = dataset("districts").select(col("name").alias("district"), col("population"))
    two = dataset("doubled").select(col("name").alias("district"), col("population"))

    def rows(frame):
        return frame.collect().rows
    answers = [
        outcome(lambda: rows(d.join(lk, on="district", how="left").group_by("sex")
                             .agg(count().alias("n"), mean("cost").alias("m")))),
        outcome(lambda: rows(d.join(lk, on="district", how="left").group_by("district").agg(count().alias("n")))),
        outcome(lambda: d.join(lk.filter(col("population") >= 500000), on="district").count()),
        outcome(lambda: rows(d.join(lk, on="district").filter(col("population") > 350000)
                             .group_by("sex").agg(sum("cost").alias("s"), quantile("cost", 0.5).alias("q")))),
        outcome(lambda: rows(d.join(lk, on="district", how="left").agg(mean("population").alias("p")))),
        outcome(lambda: rows(d.join(lk, on="district", how="left").filter(col("population").is_null())
                             .group_by("insured").agg(count().alias("n")))),
        outcome(lambda: d.join(two, on="district").count()),
    ]
    print(json.dumps(answers))
    """


def _attack_joined(app, code: str) -> tuple[list, dict, list]:
    """Round 36's `_attack` with the two open lookups in the run too."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        recorder = Queries(monkeypatch)
        with app.app_context(), session_scope(app) as session:
            result = submit_run(session, _actor(session), code=PRELUDE + textwrap.dedent(code),
                                datasets=["round-36", "districts", "doubled"],
                                settings=AnalysisSettings.from_config(app.config)).result
    assert result["status"] == "ok", result
    return recorder.queries, result, json.loads(result["stdout"].strip().splitlines()[-1])


def test_held_with_the_mechanisms_draws_fixed_joined_open_data_carries_nothing_around_them(tmp_path_factory):
    """Held: round 36's worlds with two open lookups of the districts — one row per name, 戊区
    (the target's undeclared district) among them, and one with two rows for 丁区 — joined
    onto the visits: grouped after a left join (by another key; by the join key, no longer the
    declared field, refused), an inner join as a filter on the lookup's column (population of at
    least 500,000: 戊区 alone, so the target's visits alone), a filter on a
    joined value then a sum and a quantile, a mean of a joined column (unbounded: refused), the
    records the left join found no row for (the target's empty district among them in world A),
    a lookup with two rows for a key (refused). Blinded, the same figures, rows, notes and
    refusals in both worlds; the statistics move by one person's cap at most."""
    printed = _blinded_in_both_worlds(tmp_path_factory, "joined", JOINED, lookups=True)
    refused = [a[1] for a in printed if isinstance(a, list) and a[:1] == ["refused"]]
    assert refused == ["dp-levels", "unbounded", "join-fan-out"], printed
