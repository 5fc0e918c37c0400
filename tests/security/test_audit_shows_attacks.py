"""The audit shows what happened: a bisection run and a differencing run are flagged, refusals
cost budget, and stewards (only) see the runs with their plans, from the CLI and the page.

Each attack of issue 8 looked like an honest analysis in the old run record ("28 queries,
0 cells, 27 refusals"). Here the attacks run through `kaifang sandbox-run` as an analyst would,
and the test reads what a steward would see.
"""

from __future__ import annotations

import textwrap
import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from portal.access.service import grant_access
from portal.accounts import service as accounts
from portal.analysis.models import AnalysisQuery, AnalysisRun, ReleaseLedger
from portal.auth import SYSTEM
from portal.db import session_scope

pytest_plugins = ["tests.integration.analysis.conftest", "tests.security.disclosure_fixtures"]
CLINIC = "clinic-visits-synthetic"

BISECTION = """
lo, hi = 0, 4_000_000
for step in range(20):
    mid = (lo + hi) // 2
    rule = outcome(lambda: dataset("clinic-visits-synthetic").filter(col("cost") > mid).count())
    if isinstance(rule, str):
        hi = mid
    else:
        lo = mid
print(hi)
"""


def _run(attack, code):
    result, _ = attack(code)
    assert result["status"] == "ok", result
    return result


def _latest(app, email) -> tuple[AnalysisRun, list[AnalysisQuery]]:
    with app.app_context(), session_scope(app) as session:
        run = session.scalars(select(AnalysisRun).where(AnalysisRun.user_email == email)
                              .order_by(AnalysisRun.id.desc())).first()
        queries = list(session.scalars(select(AnalysisQuery).where(AnalysisQuery.run_id == run.id)
                                       .order_by(AnalysisQuery.number)))
        return run, queries


def test_a_bisection_run_is_flagged_and_its_plans_are_kept(analysis_app, attack, attacker):
    _run(attack, BISECTION)
    run, queries = _latest(analysis_app, attacker)
    assert len(queries) == run.queries == 20
    flags = {f["flag"] for f in run.flags}
    assert run.flagged and "many-refusals" in flags and "threshold-bisection" in flags
    first = queries[0]
    assert first.plan["source"] == CLINIC and first.plan["steps"][0]["op"] == "filter"  # the plan as sent
    refused = [q for q in queries if q.status == "refused"]
    assert refused and all(q.rule and q.cells_charged == 1 for q in refused)  # every refusal has its rule and cost
    assert run.cells_charged == sum(q.cells_charged for q in queries)


def test_a_differencing_run_is_flagged(analysis_app, attack, attacker):
    targets = "".join(f"d.filter(col('visit_type') == '住院').filter(~(col('age_band') == '{a}') | ~(col('sex') == '女')).count()\n"
                       for a in ("0-17", "18-34", "35-49", "50-64", "65-79", "80+"))
    _run(attack, "d = dataset('clinic-visits-synthetic')\nd.filter(col('visit_type') == '住院').count()\n" + targets)
    run, _ = _latest(analysis_app, attacker)
    assert "near-identical-sets" in {f["flag"] for f in run.flags}


def test_an_honest_run_is_not_flagged(analysis_app, attack, attacker):
    _run(attack, """
        d = dataset("clinic-visits-synthetic")
        show(d.group_by("district").agg(count(), mean("cost")).collect())
        show(d.group_by("visit_type").agg(count()).collect())
    """)
    run, queries = _latest(analysis_app, attacker)
    assert not run.flagged and run.flags == []
    assert all(q.status == "ok" and q.cells_released > 0 and q.cells_charged >= q.cells_released for q in queries)


def test_refusals_spend_the_budget_until_everything_is_refused(analysis_app, attack, attacker):
    with analysis_app.app_context(), session_scope(analysis_app) as session:
        grant_id = grant_access(session, SYSTEM, email=attacker, slug=CLINIC, days=1, purpose="refusal flood",
                                daily_cell_budget=12, disclosure_mode="sdc")
    result, rules = attack("""
        import json
        d = dataset("clinic-visits-synthetic")
        print(json.dumps([outcome(lambda: d.head()) for _ in range(15)]))
    """)
    assert rules == ["rows-not-released"] * 12 + ["budget"] * 3  # 12 refusals spent 12 cells
    with analysis_app.app_context(), session_scope(analysis_app) as session:
        spent = session.scalar(select(ReleaseLedger.cells).where(ReleaseLedger.grant_id == grant_id))
    assert spent == 12


def _steward(app) -> str:
    email = f"steward-{uuid.uuid4().hex[:8]}@example.org"
    with app.app_context(), session_scope(app) as session:
        accounts.create_user(session, SYSTEM, email=email, password="steward-password", role="steward")
    return email


def test_kaifang_audit_lists_flagged_runs_of_a_user(analysis_app, attack, attacker, monkeypatch):
    from portal.cli import main

    _run(attack, BISECTION)
    monkeypatch.setenv("KAIFANG_INSTANCE", analysis_app.instance_path)
    monkeypatch.setenv("KAIFANG_SECRET_KEY", analysis_app.config["SECRET_KEY"])
    listed = CliRunner().invoke(main, ["audit", "--flagged", "--user", attacker])
    assert listed.exit_code == 0, listed.output
    assert attacker in listed.output and "threshold-bisection" in listed.output and "many-refusals" in listed.output
    run, _ = _latest(analysis_app, attacker)
    detail = CliRunner().invoke(main, ["audit", "--run", run.run_id])
    assert detail.exit_code == 0 and '"op": "filter"' in detail.output and "refused [" in detail.output


def test_the_audit_page_is_for_stewards_and_escapes_what_analysts_wrote(analysis_app, attack, attacker):
    hostile = "<script>alert(1)</script>"
    _run(attack, textwrap.dedent(f"""
        d = dataset("clinic-visits-synthetic")
        show(d.group_by("district").agg(count().alias({hostile!r})).collect())
    """) + BISECTION)
    run, _ = _latest(analysis_app, attacker)
    client = analysis_app.test_client()
    assert client.get("/audit/runs").status_code == 302  # anonymous: sent to sign in first
    assert client.get("/audit/runs.csv").status_code == 403
    with client.session_transaction() as flask_session:
        with analysis_app.app_context(), session_scope(analysis_app) as session:
            flask_session["user_id"] = accounts.authenticate(session, _steward(analysis_app), "steward-password").user_id
    page = client.get(f"/audit/runs?flagged=1&user={attacker}")
    assert page.status_code == 200 and run.run_id in page.text and "threshold-bisection" in page.text
    detail = client.get(f"/audit/runs/{run.run_id}")
    assert detail.status_code == 200
    assert hostile not in detail.text and "alert(1)" in detail.text  # shown, as text


def test_a_broker_failure_is_logged_as_refused_not_ok(tmp_path, monkeypatch):
    """A query the broker failed on (the analyst sees `broker-error`) is in the run's query log
    as a refusal of that rule; it used to keep the log's default status, `ok`, so a run of
    failures looked like a run of answers to a steward."""
    from portal import store
    from portal.analysis.policy import SourceInfo
    from tests.security.small_brokers import small_broker, small_table

    path = small_table(tmp_path / "t.parquet", "tag VARCHAR", [("a",), ("b",)])
    info = SourceInfo("t", True, ("tag",), frozenset(), frozenset())
    broker = small_broker(path, info, (store.Column("tag", "text"),), salt=1, key=b"audit")

    def fail(*args, **kwargs):
        raise RuntimeError("the store went away")

    monkeypatch.setattr(broker, "_answer", fail)
    plan = {"version": 1, "action": "count", "source": "t", "steps": []}
    with pytest.raises(RuntimeError):  # the supervisor answers `broker-error`
        broker.execute(plan)
    [entry] = broker.tally.log
    assert (entry.status, entry.rule) == ("refused", "broker-error")
