"""The queue worker's lease on a session: one worker at a time, cells in order, a dead worker's
cell marked lost (never re-run), and what stewards see of the queue."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from portal.catalog.models import utcnow
from portal.db import session_scope
from portal.sessions import worker
from portal.sessions.models import AnalysisSession, SessionRun
from portal.sessions.queue import InProcessQueue
from portal.sessions.worker import process_session
from tests.integration.sessions.conftest import Analyst, build_app


class _NoThreadsQueue(InProcessQueue):
    """The embedded queue without its worker threads: cells wait until the test processes them.
    A held lease alone is not enough, since a thread woken by the POST may run only after the
    test has let the lease go (seen under load)."""

    def _start(self) -> None:
        self._started = True


def _quiet_queue(app) -> None:
    app.extensions["kaifang.run_queue"] = _NoThreadsQueue(app)


def _hold(app, session_id: str, *, until) -> None:
    with session_scope(app) as db:
        db.execute(update(AnalysisSession).where(AnalysisSession.id == session_id)
                   .values(claimed_by="someone-else", claimed_until=until))
        db.commit()


def test_a_leased_session_is_left_to_its_holder_then_a_lost_cell_is_marked_and_the_rest_run(tmp_path):
    app = build_app(tmp_path)
    me = Analyst(app)
    session_id = me.open()
    _quiet_queue(app)
    _hold(app, session_id, until=utcnow() + timedelta(minutes=5))
    first = me.post(f"/api/v1/sessions/{session_id}/runs", {"code": "a = 1"}).json["id"]
    second = me.post(f"/api/v1/sessions/{session_id}/runs", {"code": "print(a + 1)"}).json["id"]
    notified: list[str] = []
    assert process_session(app, session_id, notified.append) == 0  # held by a live worker: left alone
    with session_scope(app) as db:  # that worker died in the middle of the first cell
        db.execute(update(SessionRun).where(SessionRun.id == first).values(status="running", started_at=utcnow()))
        db.commit()
    _hold(app, session_id, until=utcnow() - timedelta(seconds=1))
    assert process_session(app, session_id, notified.append) == 1
    lost, ran = me.get(f"/api/v1/runs/{first}").json, me.get(f"/api/v1/runs/{second}").json
    assert lost["status"] == "error" and lost["result"]["code"] == "worker-lost"
    in_chinese = me.client.get(f"/api/v1/runs/{first}", headers={**me.headers, "Accept-Language": "zh-CN"}).json
    assert in_chinese["result"]["message"] == "运行该单元格的工作进程已停止；该单元格未被重新运行"
    assert in_chinese["result"]["text"] == "the worker running this cell stopped"
    assert ran["status"] == "done" and ran["result"]["status"] == "error"  # `a` never got defined: not re-run
    assert notified == [first, second]
    with session_scope(app) as db:
        assert db.get(AnalysisSession, session_id).claimed_by is None


def test_a_worker_whose_lease_was_taken_stops_before_the_next_cell(tmp_path, monkeypatch):
    app = build_app(tmp_path)
    me = Analyst(app)
    session_id = me.open()
    _quiet_queue(app)
    first = me.post(f"/api/v1/sessions/{session_id}/runs", {"code": "a = 1"}).json["id"]
    second = me.post(f"/api/v1/sessions/{session_id}/runs", {"code": "print(a)"}).json["id"]
    run_one = worker.execute_run

    def run_then_lose_the_lease(*args, **kwargs):
        run_one(*args, **kwargs)
        _hold(app, session_id, until=utcnow() + timedelta(minutes=5))  # as if the lease had lapsed and been taken

    monkeypatch.setattr(worker, "execute_run", run_then_lose_the_lease)
    assert process_session(app, session_id, lambda run_id: None) == 1
    assert me.get(f"/api/v1/runs/{first}").json["status"] == "done"
    assert me.get(f"/api/v1/runs/{second}").json["status"] == "queued"  # left to the lease's holder
    with session_scope(app) as db:
        assert db.get(AnalysisSession, session_id).claimed_by == "someone-else"


def test_stewards_see_the_queue(tmp_path, login_as):
    app = build_app(tmp_path)
    me = Analyst(app)
    session_id = me.open()
    assert me.run(session_id, "print(1)")["status"] == "done"
    _hold(app, session_id, until=utcnow() + timedelta(minutes=5))
    me.post(f"/api/v1/sessions/{session_id}/runs", {"code": "print(2)"})
    page = login_as("steward", app=app).get("/audit/queue")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert 'class="queued">1' in text and 'class="running">0' in text and "in-process" in text
    assert "1 cells finished, 0 could not run." in text or "1 个单元格已完成" in text
