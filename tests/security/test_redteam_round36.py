"""Thirty-sixth red-team round (decision 0030y): the ε-budget mode attacked as an outside analyst,
in two worlds — a dataset with and without a target person — compared query by query.

The worlds: 300 known people (one to three visits each, person field `pid`, cap 5) and, in
world A only, a target. Every statistic is recorded as it reaches its mechanism (before noise,
`Queries`), so what a target moves is measured exactly, not sampled: the mechanisms are
calibrated for one person's `records_per_person` records added or removed, so the sum over a
query's cells of how far each pre-noise figure moved must stay within the cap (within cap times
the bound for sums), and everything but the noisy figures — columns, rows, group keys, notes,
refusals — must be the same in both worlds.

Found: records whose person field is empty shared one cap (`PARTITION BY` groups NULLs), so a
target without a person id displaced the records of the other person-less records it outranked:
its cell went up by k, theirs down by k, 2k records over a grouped query for a cap of 5 — a
privacy loss of up to 2ε per query. Now such records are left out of every ε-mode query (a
record nobody's cap can bound), and the `dp-person` note says so. And a level the dictionary
writes twice (`[1, 1.0]`, distinct as written, one level as matched) listed its cell twice:
released twice for one charge. Now each level is listed once.

Over HTTP (`test_redteam_round36_api.py`): the public aggregates of such a dataset count by
record, not by person (found, open).

Held: group keys are only declared (or implied: booleans, small bounded integers) levels,
whatever values — undeclared, NULL, out of bounds — the target brings; derived and computed keys
are refused from the plan; filters on values only the target has, sums, means and quantiles of
an empty selection, values outside the declared bounds.
"""

from __future__ import annotations

import json
import random
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from portal import store
from portal.access.models import EpsilonAccountTotal
from portal.accounts.models import User
from portal.analysis import private_queries
from portal.analysis.runtime import AnalysisSettings
from portal.analysis.service import submit_run
from portal.auth import Actor
from portal.db import session_scope
from tests.security.test_person_contributions import FIELDS as VISIT_FIELDS
from tests.security.test_person_contributions import LEVELS, _masked, world_app
from tests.security.test_redteam_round23 import PRELUDE

SLUG = "round-36"
# Round 0030t's visits (identifiers, district, sex, age, cost), with a grade and an insurance flag.
FIELDS = [*VISIT_FIELDS[:4],
          # the dictionary writes level 1 twice, as 1 and 1.0: distinct to the catalog's check (as text)
          {"name": "grade", "type": "integer", "constraints": {"minimum": 1, "maximum": 5, "enum": [1, 1.0, 2, 3, 4, 5]}},
          {"name": "insured", "type": "boolean"}, *VISIT_FIELDS[4:]]
HEADER = "visit_id,pid,district,sex,grade,insured,age,cost\n"
CAP = 5
EPSILON = 0.1
COST_BOUND = 50_000
# Visits of nobody: a person field left empty (a walk-in, a record the publisher could not link).
PERSONLESS = "".join(f"N{i},,甲区,男,2,true,45,{300 + 10 * i}\n" for i in range(5))
# The target without a person id: forty visits in 丁区, all of a description only it has.
NAMELESS_TARGET = "".join(f"T{i},,丁区,女,5,false,99,{1000 + 700 * i}\n" for i in range(40))
# The target with an id, bringing what no known person has: a district no level declares, empty
# keys, a grade and a cost outside the declared bounds.
ODD_TARGET = ("T0,P9999,戊区,女,5,false,99,90000\n" "T1,P9999,,,,,99,1200\n" "T2,P9999,丁区,女,9,true,99,70000\n"
              "T3,P9999,丁区,,0,,99,0\n" "T4,P9999,戊区,男,,true,99,49999\n")


def _known() -> str:
    rng = random.Random(36)
    rows = []
    for i in range(300):
        district, sex, age = rng.choice(LEVELS), rng.choice(["男", "女"]), rng.randint(20, 80)
        grade, insured = rng.randint(1, 5), rng.choice(["true", "false"])
        rows += [f"K{i}-{v},P{i:04d},{district},{sex},{grade},{insured},{age},{rng.randint(50, 20000)}\n"
                 for v in range(rng.randint(1, 3))]
    return "".join(rows)


def _world(root: Path, rows: str):
    disclosure = {"mode": "dp", "epsilon_per_query": EPSILON, "person": "pid", "records_per_person": CAP}
    return world_app(root, SLUG, HEADER + _known() + rows, FIELDS, disclosure, title_zh="第三十六轮")


class Queries:
    """Each statistic of each cell as it reaches its mechanism (before noise), with its
    calibration, split by query (each broker answer starts a new list): a count's records, a
    sum's clamped total, a mean's total and count, the number of values a quantile chooses among;
    `count()` as its records."""

    def __init__(self, monkeypatch):
        self.queries: list[list[tuple]] = []
        answer, noisy, count_plan = private_queries.PrivateAnswers.answer, private_queries._noisy, store.count_plan

        def answered(broker, *args, **kwargs):
            self.queries.append([])
            return answer(broker, *args, **kwargs)

        def released(stat, cell, source, epsilon):
            value, calibrated = noisy(stat, cell, source, epsilon)
            figure = {"count": cell.records, "sum": cell.totals.get(stat.column, 0.0),
                      "mean": (cell.totals.get(stat.column, 0.0), cell.counts.get(stat.column, 0))
                      }.get(stat.func, len(cell.values.get(stat.column, [])))
            self.queries[-1].append((f"{stat.name}:{stat.func}", figure, source.records_per_person, calibrated.scale))
            return value, calibrated

        def counted(plan, tables, **kwargs):
            records, stats = count_plan(plan, tables, **kwargs)
            self.queries[-1].append(("count():count", records, None, None))
            return records, stats

        monkeypatch.setattr(private_queries.PrivateAnswers, "answer", answered)
        monkeypatch.setattr(private_queries, "_noisy", released)
        monkeypatch.setattr(store, "count_plan", counted)


def _attack(app, code: str) -> tuple[list[list[tuple]], dict, list]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        recorder = Queries(monkeypatch)
        with app.app_context(), session_scope(app) as session:
            user = session.scalar(select(User).where(User.email == "attacker@example.org"))
            actor = Actor(user_id=user.id, role=user.role, department_id=user.department_id, email=user.email)
            result = submit_run(session, actor, code=PRELUDE + textwrap.dedent(code), datasets=[SLUG],
                                settings=AnalysisSettings.from_config(app.config)).result
    assert result["status"] == "ok", result
    return recorder.queries, result, json.loads(result["stdout"].strip().splitlines()[-1])


def _seen_but_figures(result: dict, printed: list) -> dict:
    """What the analyst reads but the noisy figures: notes (interval endpoints masked to their
    width), refusals, and per answer its columns, number of rows and group keys."""
    notes = [[(n["code"], _masked(n["params"])) for n in answer["notes"] if n["code"] != "epsilon-spent"]
             for answer in result["released"]]
    refused = [(r["rule"], r["reason"]) for r in result["refused"]]
    shapes = []
    for answer in printed:
        if isinstance(answer, dict):  # a table: its columns, their types, the rows' group keys
            shapes.append((answer["columns"], answer["types"], answer["keys"]))
        else:
            shapes.append(answer if not isinstance(answer, int | float) else "figure")
    return {"notes": notes, "refused": refused, "shapes": shapes}


def _moved(a: list[tuple], b: list[tuple]) -> dict[str, float]:
    """How far each statistic of one query moved between the worlds, summed over its cells (a
    mean's total and count apart)."""
    assert [(s[0], s[2], s[3]) for s in a] == [(s[0], s[2], s[3]) for s in b], "the same statistics, calibrations"
    moved: dict[str, float] = {}
    for (name, x, _, _), (_, y, _, _) in zip(a, b, strict=True):
        pairs = zip(x, y, ("total", "count"), strict=True) if isinstance(x, tuple) else [(x, y, "")]
        for one, other, part in pairs:
            moved[name + part] = moved.get(name + part, 0) + abs(one - other)
    return moved


def _within_one_person(moved: dict[str, float]) -> bool:
    """Every statistic sees one person's `CAP` records at most: so many records in a count, a
    mean's count, a quantile's values; so many bounds in a sum, a mean's total."""
    return all(shift <= (CAP * COST_BOUND if name.endswith(("sum", "total")) else CAP)
               for name, shift in moved.items())


# ---------------------------------------------------------------------------------------------
# Found: records without a person shared one cap
# ---------------------------------------------------------------------------------------------

NAMELESS = """
    import json
    d = dataset("round-36")
    answers = [outcome(lambda: d.group_by("district").agg(count().alias("n"), sum("cost").alias("s")).collect().rows),
               outcome(lambda: d.filter(col("district").is_in(["甲区", "丁区"])).count())]
    print(json.dumps(answers))
    """


@pytest.fixture(scope="module")
def nameless_worlds(tmp_path_factory):
    return (_world(tmp_path_factory.mktemp("nameless-a"), PERSONLESS + NAMELESS_TARGET),
            _world(tmp_path_factory.mktemp("nameless-b"), PERSONLESS))


def test_found_records_without_a_person_displaced_each_other_under_one_cap(nameless_worlds):
    """Found: five visits of nobody in 甲区 (known to be there) and, in world A, forty visits of
    a target whose person field is empty in 丁区. All the person-less records were one person to
    the cap: world B kept the five of 甲区, world A the five of least hash among all forty-five —
    mostly the target's — so 丁区 went up by k and 甲区 down by k, 2k records over the grouped
    query (2 × 5 = 10 under the test key) for noise calibrated for 5: twice the ε the ledger
    charged, and the two cells' difference was the attacker's statistic. Now a record with no
    person is in no ε-mode query: both worlds read the same records."""
    (queries_a, result_a, _), (queries_b, result_b, _) = (_attack(app, NAMELESS) for app in nameless_worlds)
    assert len(queries_a) == len(queries_b) == 2
    for a, b in zip(queries_a, queries_b, strict=True):
        moved = _moved(a, b)
        assert _within_one_person(moved), moved
        assert moved == {name: 0 for name in moved}, "a record without a person is read in neither world"
    person_notes = [n for n in result_a["released"][0]["notes"] if n["code"] == "dp-person"]
    assert person_notes and person_notes[0]["text"].endswith("so are records with no pid"), person_notes


# ---------------------------------------------------------------------------------------------
# Held: the shape of an answer, whatever values the target brings
# ---------------------------------------------------------------------------------------------

SHAPES = """
    import json
    d = dataset("round-36")

    def table(frame, keys=1):
        return {"columns": list(frame.columns), "types": list(frame.dtypes), "keys": [list(r[:keys]) for r in frame.rows]}
    answers = [
        # a text key (declared levels), with every statistic: the target's 戊区 and empty districts
        outcome(lambda: table(d.group_by("district").agg(count().alias("n"), sum("cost").alias("s"),
                              mean("cost").alias("m"), median("cost").alias("md")).collect())),
        # keys whose levels the dictionary implies: a bounded integer (grade 1..5; the target brings
        # 0, 9 and empty) and a boolean (the target brings empty)
        outcome(lambda: table(d.group_by("grade").agg(count().alias("n")).collect())),
        outcome(lambda: table(d.group_by("insured").agg(count().alias("n")).collect())),
        outcome(lambda: table(d.group_by("district", "sex").agg(count().alias("n")).collect(), 2)),
        # sorted by a noisy figure and cut: post-processing of the released rows
        outcome(lambda: table(d.group_by("district").agg(count().alias("n")).sort("n", descending=True).limit(2).collect())),
        # keys that are no declared field: a wide integer, a computed one, a truncated one, a renamed one
        outcome(lambda: d.group_by("age").agg(count()).collect().rows),
        outcome(lambda: d.with_columns((col("cost") // 10000).alias("band")).group_by("band").agg(count()).collect().rows),
        outcome(lambda: d.with_columns(col("grade").alias("g")).group_by("g").agg(count()).collect().rows),
        outcome(lambda: d.with_columns(col("sex").alias("district")).group_by("district").agg(count()).collect().rows),
        # filters on values only the target has; an empty selection's sum, mean and quantile
        outcome(lambda: d.filter(col("district") == "戊区").count()),
        outcome(lambda: d.filter(col("district").is_null() & (col("age") == 99)).count()),
        outcome(lambda: table(d.filter(col("age") == 99).agg(sum("cost").alias("s"), mean("cost").alias("m"),
                                                              quantile("cost", 0.9).alias("q")).collect(), 0)),
        outcome(lambda: table(d.filter(col("age") == 98).agg(sum("cost").alias("s"), mean("cost").alias("m"),
                                                              quantile("cost", 0.9).alias("q")).collect(), 0)),
        # values outside the declared bounds (the target's 90,000 and 70,000 of a cost bounded at 50,000)
        outcome(lambda: d.filter(col("cost") > 50000).count()),
        outcome(lambda: d.filter(col("grade") > 5).count()),
        # a statistic of a computed value (refused), of another bounded field (answered)
        outcome(lambda: d.agg(sum(col("cost") * 2).alias("s")).collect().rows),
        outcome(lambda: table(d.agg(mean("age").alias("m")).collect(), 0)),
        # the group limit, from the declared combinations (4 × 2 × 5 × 2 = 80 > 40); the person
        outcome(lambda: d.group_by("district", "sex", "grade", "insured").agg(count()).collect().rows),
        outcome(lambda: d.group_by("pid").agg(count()).collect().rows),
    ]
    print(json.dumps(answers))
    """


@pytest.fixture(scope="module")
def odd_worlds(tmp_path_factory):
    return (_world(tmp_path_factory.mktemp("odd-a"), ODD_TARGET), _world(tmp_path_factory.mktemp("odd-b"), ""))


def test_held_a_target_s_odd_values_change_no_answer_s_shape_and_move_its_figures_by_one_person(odd_worlds):
    """Held: a target with a district no level declares, empty keys, a grade and a cost outside
    the declared bounds. Nineteen queries — group keys of every kind the mode accepts (text
    levels, a bounded integer's and a boolean's implied levels, two keys), a sort and limit on a
    noisy figure, keys it refuses (a wide integer, a computed band, a renamed field, a field
    renamed over a key), filters on values only the target has, statistics of an empty and of the
    target's selection, filters past the bounds, too many groups, the person. In both worlds: the same columns, rows and keys
    (the declared combinations, all of them, in order; the sorted ones aside), notes and
    refusals; and each query's pre-noise figures moved, summed over its cells, by one person's
    five records at most."""
    (queries_a, result_a, printed_a), (queries_b, result_b, printed_b) = (_attack(app, SHAPES) for app in odd_worlds)
    seen_a, seen_b = _seen_but_figures(result_a, printed_a), _seen_but_figures(result_b, printed_b)
    sorted_at = 4  # its rows' order follows the noisy counts: keys compared as a set
    for seen in (seen_a, seen_b):
        columns, types, keys = seen["shapes"][sorted_at]
        seen["shapes"][sorted_at] = (columns, types, len(keys))
    assert seen_a == seen_b
    shapes = seen_a["shapes"]
    assert [key for key, in shapes[0][2]] == LEVELS, "the declared districts, 戊区 and empty never listed"
    assert [key for key, in shapes[1][2]] == [1, 2, 3, 4, 5] and [key for key, in shapes[2][2]] == [False, True]
    assert len(shapes[3][2]) == 8 and shapes[11][2] == shapes[12][2] == [[]]
    assert [s[:2] for s in shapes[5:9]] == [["refused", "dp-levels"]] * 4
    assert shapes[9:11] == ["figure", "figure"] and shapes[13:15] == ["figure", "figure"]
    assert shapes[15][:2] == ["refused", "dp-bounds"]
    assert [s[:2] for s in shapes[17:]] == [["refused", "too-many-groups"], ["refused", "identifier"]]
    assert len(queries_a) == len(queries_b) == len(shapes), "each query charged, refused or not"
    for index, (a, b) in enumerate(zip(queries_a, queries_b, strict=True)):
        moved = _moved(a, b)
        assert _within_one_person(moved), (index, moved)


def test_found_a_level_written_twice_was_released_twice(odd_worlds):
    """Found: a dictionary whose levels of `grade` are [1, 1.0, 2, 3, 4, 5] — distinct to the
    catalog's check, which compares them as written — listed the cell of grade 1 twice: its
    records released twice with fresh noise, each at the query's ε, for one charge. Averaging the
    two halves the noise's variance, as a second query would, free. Now a level is listed once
    (levels are compared as the mode matches them, `level_text`)."""
    queries, _, printed = _attack(odd_worlds[1], """
        import json
        print(json.dumps([d.group_by("grade").agg(count().alias("n")).collect().rows
                          for d in [dataset("round-36")]]))
        """)
    assert [row[0] for row in printed[0]] == [1, 2, 3, 4, 5]
    assert [figure for _, figure, _, _ in queries[0]] == [row for row in _grades()]


def _grades() -> list[int]:
    """The known people's visits per grade, at most five a person (each has three at most)."""
    counts = dict.fromkeys(range(1, 6), 0)
    for line in _known().splitlines():
        counts[int(line.split(",")[4])] += 1
    return list(counts.values())


def test_held_queries_of_a_run_that_fails_or_times_out_after_them_stay_charged(odd_worlds):
    """Held: two queries, then the run raises; two queries, then it spins until its wall clock
    runs out (2 s). The answers reached the analyst's code (it could have printed or kept them),
    so each query is charged as it is answered — the account's lifetime ledger holds 0.2 more
    after each run, whatever became of the run."""
    app = odd_worlds[1]
    queries = """
        d = dataset("round-36")
        kept = [d.count(), d.group_by("sex").agg(count().alias("n")).collect().rows]
        """
    before = _spent(app)
    for ending, settings in (("raise ValueError(kept)", {}), ("while True:\n    pass", {"wall_seconds": 2.0})):
        with app.app_context(), session_scope(app) as session:
            user = session.scalar(select(User).where(User.email == "attacker@example.org"))
            actor = Actor(user_id=user.id, role=user.role, department_id=user.department_id, email=user.email)
            result = submit_run(session, actor, code=textwrap.dedent(queries) + ending, datasets=[SLUG],
                                settings=replace(AnalysisSettings.from_config(app.config), **settings)).result
        assert result["status"] != "ok", result["status"]
        after = _spent(app)
        assert (round(after[0] - before[0], 9), after[1] - before[1]) == (0.2, 2), result["status"]
        before = after


def _spent(app) -> tuple[float, int]:
    """The attacker's lifetime ε on the dataset and the queries it paid for."""
    with app.app_context(), session_scope(app) as session:
        row = session.execute(select(EpsilonAccountTotal.epsilon, EpsilonAccountTotal.queries)
                              .join(User, User.id == EpsilonAccountTotal.user_id)
                              .where(User.email == "attacker@example.org")).one_or_none()
        return (float(row[0]), int(row[1])) if row else (0.0, 0)
