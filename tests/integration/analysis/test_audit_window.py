"""The person's earlier queries each run's audit compares with (`audit._earlier_queries`): the
latest queries of the day, whatever runs came between. A window of the latest *runs* would let a
few hundred `print(1)` runs push an attack's queries out of it (a shortcut tried and measured in
the twenty-second session: no faster on SQLite, which stops the ordered read at the limit)."""

from __future__ import annotations

from datetime import datetime, timedelta

from portal.accounts import service as accounts
from portal.analysis import audit
from portal.analysis.models import AnalysisQuery, AnalysisRun
from portal.db import session_scope
from tests import factories


def _run(db, user_id: int, email: str, name: str, at: datetime, plans: list[dict]) -> AnalysisRun:
    run = AnalysisRun(run_id=name, user_id=user_id, user_email=email, code_sha256="0" * 64, code_bytes=0,
                      started_at=at, queries=len(plans), status="ok")
    db.add(run)
    db.flush()
    for number, plan in enumerate(plans, start=1):
        db.add(AnalysisQuery(run_id=run.id, number=number, plan=plan, status="ok"))
    return run


def test_runs_that_asked_nothing_do_not_push_queries_out_of_the_window(analysis_app):
    email = factories.user(analysis_app, "developer")
    midnight = datetime.utcnow().replace(hour=0, minute=0, second=0, microsecond=0)  # noqa: DTZ003
    with analysis_app.app_context(), session_scope(analysis_app) as db:
        user_id = accounts.user_by_email(db, email).id
        _run(db, user_id, email, "yesterday", midnight - timedelta(seconds=5), [{"q": "yesterday"}])
        _run(db, user_id, email, "attack-1", midnight + timedelta(seconds=1), [{"q": "a1"}, {"q": "a2"}])
        _run(db, user_id, email, "attack-2", midnight + timedelta(seconds=2), [{"q": "a3"}])
        for i in range(30):  # print(1) runs: no query each
            _run(db, user_id, email, f"empty-{i}", midnight + timedelta(seconds=3, milliseconds=i), [])
        current = _run(db, user_id, email, "now", midnight + timedelta(seconds=4), [{"q": "now"}])
        db.commit()

        found = [q.plan for q in audit._earlier_queries(db, current, room=10)]
        assert found == [{"q": "a1"}, {"q": "a2"}, {"q": "a3"}]  # oldest first; not yesterday's, not this run's
        # the window holds the latest queries, cut inside a run when it must be
        assert [q.plan for q in audit._earlier_queries(db, current, room=2)] == [{"q": "a2"}, {"q": "a3"}]
