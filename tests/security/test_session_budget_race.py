"""Attacks on the daily cell budget through analysis sessions over HTTP: an analyst with one grant
and a `sandbox:run` key opens several sessions (each runs on its own queue worker) and submits a
budget-sized cell in each at once. Every run used to read the grant's ledger when it started and
write what it spent when it ended, so runs that overlapped each started from the same "cells
left" and together released several budgets' worth of cells. The ledger is now charged at the
moment of each query, atomically, so overlapping runs share one budget (docs/disclosure.md,
"daily budget")."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from portal.access.models import Grant
from portal.access.service import grant_access
from portal.analysis import budget
from portal.analysis.models import EpsilonLedger, ReleaseLedger
from portal.auth import SYSTEM
from portal.catalog.models import utcnow
from portal.db import session_scope
from tests.integration.sessions.conftest import CLINIC, Analyst, build_app, grant

# 8 age bands x 2 sexes x (2 keys + 1 statistic) = 48 cells: one such question fits a budget of 60,
# two do not. The loop first keeps every run busy long enough for the runs to overlap.
QUESTION = f"""
for i in range(300000):
    pass
rows = dataset({CLINIC!r}).group_by("age_band", "sex").agg(count()).collect().rows
print(len(rows))
"""


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    return build_app(tmp_path_factory.mktemp("budget-race"), SESSION_QUEUE_THREADS=3, SANDBOX_WORKERS=3,
                     SESSION_MAX_CONCURRENT=3)


def _spent(app, grant_id: int) -> int:
    with app.app_context(), session_scope(app) as db:
        return sum(db.scalars(select(ReleaseLedger.cells).where(ReleaseLedger.grant_id == grant_id)))


def _race(analyst: Analyst, code: str) -> list[dict]:
    """The same cell in three sessions at once; their finished runs."""
    sessions = [analyst.open(CLINIC) for _ in range(3)]
    submitted = []
    for session_id in sessions:
        answer = analyst.post(f"/api/v1/sessions/{session_id}/runs", {"code": code})
        assert answer.status_code == 202, answer.json
        submitted.append(answer.json["id"])
    results = [analyst.finished(run_id) for run_id in submitted]
    assert all(r["status"] == "done" for r in results), results
    for session_id in sessions:
        analyst.delete(f"/api/v1/sessions/{session_id}")
    return results


def test_parallel_sessions_share_one_budget(app):
    analyst = Analyst(app)
    grant_id = grant(app, analyst.email, cells=60)
    results = _race(analyst, QUESTION)
    answered = [r for r in results if r["result"]["status"] == "ok"]
    refused = [r for r in results if r["result"]["status"] != "ok"]
    assert len(answered) == 1, [r["result"].get("stdout") or r["result"].get("error") for r in results]
    assert all([q["rule"] for q in r["result"]["refused"]] == ["budget"] for r in refused), refused
    assert _spent(app, grant_id) <= 60


def test_a_spent_budget_refuses_the_next_session_too(app):
    analyst = Analyst(app)
    grant_id = grant(app, analyst.email, cells=60)
    first = analyst.run(analyst.open(CLINIC), QUESTION)
    assert first["result"]["status"] == "ok", first
    analyst.delete(f"/api/v1/sessions/{first['session_id']}")
    again = analyst.run(analyst.open(CLINIC), QUESTION)
    assert again["result"]["status"] != "ok"
    assert [q["rule"] for q in again["result"]["refused"]] == ["budget"], again
    assert _spent(app, grant_id) <= 60


def test_parallel_sessions_share_one_epsilon_budget(app):
    """The same race in the ε-budget mode: a daily ε of 0.15 pays for one query of 0.1, and three
    sessions at once used to get three answers (0.3: twice the differential-privacy bound)."""
    analyst = Analyst(app)
    with app.app_context(), session_scope(app) as db:
        grant_id = grant_access(db, SYSTEM, email=analyst.email, slug=CLINIC, days=5, purpose="tests",
                                daily_cell_budget=500, disclosure_mode="dp", daily_epsilon=0.15)
    results = _race(analyst, f"""
for i in range(300000):
    pass
print(dataset({CLINIC!r}).filter(col("sex") == "女").count())
""")
    answered = [r for r in results if r["result"]["status"] == "ok"]
    assert len(answered) == 1, [r["result"].get("stdout") or r["result"].get("refused") for r in results]
    with app.app_context(), session_scope(app) as db:
        spent = sum(db.scalars(select(EpsilonLedger.epsilon).where(EpsilonLedger.grant_id == grant_id)))
    assert spent <= 0.15


def test_a_run_does_not_outlive_a_revoked_grant(app, monkeypatch):
    """A steward revokes the grant while a cell is running: the queries it sends afterwards are
    refused (`no-grant`), not answered until the run's wall clock is up. Grants used to be
    checked only when a run started, so a long cell went on releasing cells after the revocation.
    The revocation lands between the run's start and its first charge, every time: a cell that
    merely ran long raced the test's own clock (on a quiet machine the cell won)."""
    analyst = Analyst(app)
    grant_id = grant(app, analyst.email, cells=500)
    session_id = analyst.open(CLINIC)
    real_charge = budget.charge_all  # every ledger charge of a run goes through it (decision 0030w)

    def revoke_then_charge(engine, charges):
        with app.app_context(), session_scope(app) as db:
            db.execute(update(Grant).where(Grant.id == grant_id, Grant.revoked_at.is_(None)).values(revoked_at=utcnow()))
            db.commit()
        return real_charge(engine, charges)

    monkeypatch.setattr(budget, "charge_all", revoke_then_charge)
    code = f"""
out = []
for i in range(5):
    try:
        out.append(dataset({CLINIC!r}).filter(col("age_band") == "15-24").count())
    except QueryRefused as refusal:
        out.append(refusal.rule)
print(out)
"""
    run_id = analyst.post(f"/api/v1/sessions/{session_id}/runs", {"code": code}).json["id"]
    result = analyst.finished(run_id)["result"]
    assert result["status"] == "ok" and result["stdout"].strip() == str(["no-grant"] * 5), result
