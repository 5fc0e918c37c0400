"""Attacks on the ε-budget (differential privacy) mode, run as an analyst would run them.

Each attacker holds a grant in the "dp" mode (ε 1.0 a day, 0.1 a query: the portal's defaults)
and plays through `kaifang sandbox-run`. What must hold: repeats and rewrites cannot be averaged
beyond what the budget pays for, a refused query costs like an answered one, and nothing but the
noisy numbers depends on whether a record is there.
"""

from __future__ import annotations

import pytest

from portal.access.service import grant_access
from portal.auth import SYSTEM
from portal.db import session_scope

pytest_plugins = ["tests.integration.analysis.conftest", "tests.security.disclosure_fixtures"]

CLINIC = "clinic-visits-synthetic"
QUASI = ("district", "age_band", "sex", "department", "visit_type")


@pytest.fixture
def dp_grant(analysis_app, attacker):
    with analysis_app.app_context(), session_scope(analysis_app) as session:
        grant_access(session, SYSTEM, email=attacker, slug=CLINIC, days=1, purpose="attack", disclosure_mode="dp",
                     daily_epsilon=1.0)


def single_visit(raw) -> str:
    """Analyst code for a filter matching exactly one visit (alone in its quasi-identifiers)."""
    keys = ", ".join(QUASI)
    row = raw.execute(f"SELECT {keys} FROM v GROUP BY ALL HAVING count(*) = 1 ORDER BY ALL LIMIT 1").fetchone()
    return " & ".join(f"(col({name!r}) == {value!r})" for name, value in zip(QUASI, row, strict=True))


def test_averaging_repeats_and_rewrites_is_bounded_by_the_budget(attack, dp_grant, raw):
    """Ask for a one-record count over and over, in several spellings and two runs: only ten
    answers ever come (ε 1.0 / 0.1), and their average cannot tell 1 record from 0."""
    target = single_visit(raw)
    code = f"""
        import json
        one = dataset("clinic-visits-synthetic").filter({target})
        spellings = (lambda: one.count(),
                     lambda: one.agg(count()).collect().rows[0][0],
                     lambda: one.filter(col("cost") >= 0).count(),
                     lambda: one.group_by("sex").agg(count().alias("n")).collect().rows[0][1])
        print(json.dumps([outcome(spellings[i % 4]) for i in range(12)]))
    """
    _, first = attack(code)
    result, second = attack(code)
    answers = [a for a in first + second if isinstance(a, int)]
    assert len(answers) == 10, "ε 1.0 a day at 0.1 a query: ten answers, whatever the spelling"
    assert [a for a in first + second if not isinstance(a, int)] == ["epsilon-budget"] * 14
    assert max(answers) - min(answers) >= 5, "each answer carries fresh noise of scale 10 (or 20 split)"
    assert "ε spent 1 of 1 today" in result["refused"][-1]["reason"]


def test_a_refused_query_costs_as_much_as_an_answered_one(attack, dp_grant):
    result, learnt = attack("""
        import json
        d = dataset("clinic-visits-synthetic")
        refused = [outcome(lambda: d.group_by("patient_id").agg(count()).collect()) for _ in range(5)]
        refused += [outcome(lambda: d.group_by("visit_date").agg(count()).collect()) for _ in range(5)]
        print(json.dumps(refused + [outcome(d.count)]))
    """)
    assert result["status"] == "ok", result
    assert learnt == ["identifier"] * 5 + ["dp-levels"] * 5 + ["epsilon-budget"]


def test_whether_the_target_is_there_changes_only_the_noisy_numbers(attack, dp_grant, raw):
    """Group a one-record set and an empty set by declared levels: same rows, same columns, same
    notes (but for the numbers); the counts alone differ, by noise of scale 20."""
    target = single_visit(raw)
    result, shapes = attack(f"""
        import json
        d = dataset("clinic-visits-synthetic")
        kind = lambda v: "text" if isinstance(v, str) else "int" if isinstance(v, int) else "float" if isinstance(v, float) else "?"
        out = []
        for chosen in (d.filter({target}), d.filter(col("cost") < 0)):
            t = chosen.group_by("age_band").agg(count().alias("n"), mean("cost").alias("m")).collect()
            out.append([list(t.columns), [r[0] for r in t.rows], [kind(v) for r in t.rows for v in r]])
        print(json.dumps(out))
    """)
    assert result["status"] == "ok", result
    assert shapes[0] == shapes[1]
    assert len(shapes[0][1]) == 8, "every declared age band is listed, empty or not"
    notes = [[n["text"] for n in item["notes"]] for item in result["released"]]
    strip = [[note.split(";")[0] if note.startswith("ε ") else note.split(":")[0] for note in group] for group in notes]
    assert strip[0] == strip[1]
