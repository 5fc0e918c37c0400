"""Attacks on the disclosure control of conditional data, run as an analyst would run them.

Each test plays one classic attack through `kaifang sandbox-run` (the `sandbox_run` fixture:
the real pool, broker, policy, store and output rules) against the bundled synthetic clinic
visits, works out the true answer with DuckDB on the raw file, and asserts what the attacker
actually learns from the released values — not merely that something was refused. Every test
runs as its own analyst, so each has its own grant and its own daily budget of released cells.
"""

from __future__ import annotations

import json
import uuid

import duckdb
import pytest

from portal.access.service import grant_access
from portal.accounts import service as accounts
from portal.auth import SYSTEM
from portal.db import session_scope
from tests.conftest import DATASETS

pytest_plugins = ["tests.integration.analysis.conftest"]

CLINIC = "clinic-visits-synthetic"
OPEN = "china-smoking-lung-cancer"
QUASI = ("district", "age_band", "sex", "department", "visit_type")


@pytest.fixture(scope="module")
def raw():
    """The raw clinic file in DuckDB: the truth the attacker is trying to learn."""
    con = duckdb.connect()
    path = next((DATASETS / CLINIC).glob("*.csv*"))
    con.execute(f"CREATE TABLE v AS SELECT * FROM read_csv('{path}')")
    yield con
    con.close()


@pytest.fixture
def attacker(analysis_app):
    """A fresh analyst (so a fresh one-day grant and budget) for each attack."""
    email = f"attacker-{uuid.uuid4().hex[:10]}@example.org"
    with analysis_app.app_context(), session_scope(analysis_app) as session:
        accounts.create_user(session, SYSTEM, email=email, password="attacker-password", role="developer")
    return email


@pytest.fixture
def attack(sandbox_run, attacker):
    """Run analyst code over the clinic data; returns (result, last printed line as JSON)."""

    def run(code: str, *grants: str) -> tuple[dict, object]:
        result = sandbox_run(code, *(grants or (CLINIC,)), user=attacker)
        lines = (result.get("stdout") or "").strip().splitlines()
        return result, json.loads(lines[-1]) if lines else None

    return run


def target_filter(row: dict) -> str:
    """Analyst code for a predicate that singles out the records matching `row`'s values."""
    terms = [f"(col({name!r}) == {value!r})" for name, value in row.items() if name not in ("m", "d")]
    if "m" in row:
        terms += [f"(col('visit_date').dt.month() == {row['m']})", f"(col('visit_date').dt.day() == {row['d']})"]
    return " & ".join(terms)


def unique_visits(raw, n: int, where: str = "true") -> list[dict]:
    """`n` visits that are alone in their quasi-identifier combination (and `where`)."""
    keys = ", ".join(QUASI)
    rows = raw.execute(f"""SELECT {keys}, month(visit_date) AS m, day(visit_date) AS d, any_value(cost)
        FROM v GROUP BY ALL HAVING count(*) = 1 AND bool_and({where}) ORDER BY ALL LIMIT {n}""").fetchall()
    return [dict(zip((*QUASI, "m", "d", "cost"), r, strict=True)) for r in rows]


def test_a_singled_out_record_gives_no_mean_sum_or_count(attack, raw):
    target = unique_visits(raw, 1)[0]
    cost = target.pop("cost")
    result, learnt = attack(f"""
        import json
        one = dataset("clinic-visits-synthetic").filter({target_filter(target)})
        whole = one.agg(count(), mean("cost"), sum("cost"), std("cost")).collect()
        grouped = one.group_by("sex").agg(count(), mean("cost")).collect()
        try:
            n = one.count()
        except QueryRefused as refusal:
            n = refusal.rule
        print(json.dumps([whole.rows, grouped.rows, n]))
    """)
    assert result["status"] == "ok", result
    assert learnt == [[], [], "min-cell"]
    assert str(cost) not in json.dumps(result)  # the visit's cost appears nowhere in the report
    assert any("suppressed" in note for item in result["released"] for note in item["notes"])


def test_differencing_two_counts_does_not_reveal_the_one_record(attack, raw):
    """count(all) - count(all & ~target), for targets inside `all`: the true difference is 1."""
    targets = unique_visits(raw, 60, where="visit_type = '住院'")
    for t in targets:
        t.pop("cost")
    result, learnt = attack(f"""
        import json
        inpatients = dataset("clinic-visits-synthetic").filter(col("visit_type") == "住院")
        base = inpatients.count()
        print(json.dumps([base - n for n in [{", ".join(f"inpatients.filter(~({target_filter(t)})).count()" for t in targets)}]]))
    """)
    assert result["status"] == "ok", result
    differences = learnt
    print("DIFFS", sorted(differences))
    assert len(differences) == 60
    assert 1 not in differences and all(d % 5 == 0 for d in differences)
    # The same difference comes out for most targets: it carries no record's presence.
    assert differences.count(0) >= 20
    assert len(set(differences)) >= 2
