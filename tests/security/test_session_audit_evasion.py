"""Spreading an attack over many small runs to stay under the audit's patterns: with sessions,
every cell is a run of its own, and the patterns (`portal/analysis/patterns.py`) used to be
looked for inside one run only. A differencing attack sent one query per cell was never flagged;
each run's queries are now read together with the same person's earlier queries of the day."""

from __future__ import annotations

from sqlalchemy import select

from portal.analysis.models import AnalysisRun
from portal.db import session_scope
from tests.integration.sessions.conftest import CLINIC, Analyst, build_app, grant

BASE = f"d = dataset({CLINIC!r}).filter(col('visit_type') == '住院')\n"
PAIRS = [f"print(d.filter(~(col('age_band') == '{a}') | ~(col('sex') == '女')).count())"
         for a in ("0-14", "15-24", "25-34", "35-44", "45-54", "55-64")]


def _cells(tmp_path, codes: list[str]):
    """An analyst with a grant runs each code as a cell of one session: the app and audit ids."""
    app = build_app(tmp_path)
    analyst = Analyst(app)
    grant(app, analyst.email, cells=2000)
    session_id = analyst.open(CLINIC)
    audit_ids = []
    for code in codes:
        found = analyst.run(session_id, code)
        assert found["status"] == "done" and found["result"]["status"] == "ok", found
        audit_ids.append(found["audit_run_id"])
    return app, audit_ids


def test_a_differencing_attack_one_query_per_cell_is_flagged(tmp_path):
    app, audit_ids = _cells(tmp_path, [BASE + line for line in ["print(d.count())", *PAIRS]])
    with app.app_context(), session_scope(app) as db:
        runs = {r.run_id: r for r in db.scalars(select(AnalysisRun).where(AnalysisRun.run_id.in_(audit_ids)))}
        flagged = [i for i, run_id in enumerate(audit_ids)
                   if "near-identical-sets" in {f["flag"] for f in runs[run_id].flags}]
        assert flagged == [5], [runs[run_id].flags for run_id in audit_ids]  # the cell that made the 5th pair
        flag = next(f for f in runs[audit_ids[5]].flags if f["flag"] == "near-identical-sets")
        assert "today" in flag["detail"] and flag["queries"] == [1]


def test_an_honest_series_of_cells_is_not_flagged(tmp_path):
    app, audit_ids = _cells(tmp_path, [f"show(dataset({CLINIC!r}).group_by({key!r}).agg(count()).collect())"
                                       for key in ("district", "age_band", "sex", "visit_type", "insurance_type",
                                                   "department")])
    with app.app_context(), session_scope(app) as db:
        assert not any(db.scalars(select(AnalysisRun.flagged).where(AnalysisRun.run_id.in_(audit_ids))))
