"""Every bad request to the session routes, over HTTP: a problem+json (RFC 9457) with a stable
`code` and a `type` that is this portal's page documenting it — unknown session, expired
session, code over the size limit, too many open sessions, no CPU seconds left, bad JSON, and a
grant revoked or expired while the session is open (the very next cell is refused, over the API
and from the notebook)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from portal.access import reviews
from portal.access.models import Grant
from portal.auth import SYSTEM
from portal.catalog.models import utcnow
from portal.db import budget_day_start, session_scope
from portal.sessions import worker
from portal.sessions.models import AnalysisSession, SessionRun
from tests.integration.sessions.conftest import CLINIC, grant

COUNT = "print(dataset('clinic-visits-synthetic').count())"


def assert_problem(answer, status: int, code: str, client) -> dict:
    """The answer is the documented problem `code`, and its `type` page exists."""
    assert answer.status_code == status, (code, answer.get_data(as_text=True)[:300])
    assert answer.mimetype == "application/problem+json"
    body = answer.json
    assert body["code"] == code and body["status"] == status and body["title"] and body["detail"]
    assert body["type"].endswith(f"/developers/problems/{code}")
    page = client.get("/" + body["type"].split("/", 3)[3])
    assert page.status_code == 200, f"no documentation page for problem {code}"
    return body


def test_each_bad_request_is_a_documented_problem(analyst):
    me = analyst()
    session_id = me.open()
    runs = f"/api/v1/sessions/{session_id}/runs"
    cases = [
        (me.get("/api/v1/sessions/no-such-session"), 404, "session-not-found"),
        (me.post("/api/v1/sessions/no-such-session/runs", {"code": "1"}), 404, "session-not-found"),
        (me.get("/api/v1/runs/no-such-run"), 404, "run-not-found"),
        (me.post(runs, {"code": "#" * (64 * 1024 + 1)}), 413, "code-too-large"),
        (me.client.post(runs, data='{"code": "print(1)"', headers={**me.headers, "Content-Type": "application/json"}),
         400, "bad-body"),
        (me.client.post(runs, data="print(1)", headers={**me.headers, "Content-Type": "text/plain"}), 400, "bad-body"),
        (me.post(runs, {"code": 5}), 400, "bad-body"),
        (me.post(runs, {"code": "1", "extra": True}), 400, "bad-body"),
        (me.post(runs, ["print(1)"]), 400, "bad-body"),
        (me.post("/api/v1/sessions", {"datasets": "flights"}), 400, "bad-body"),
        (me.post("/api/v1/sessions", {"datasets": [CLINIC]}), 403, "no-grant"),
        (me.post("/api/v1/sessions", {"datasets": ["no-such-dataset"]}), 404, "dataset-not-found"),
        (me.get("/api/v1/runs/x?wait=31"), 400, "bad-parameter"),
        (me.post("/api/v1/sessions", {"datasets": ["x" * (me.app.config["MAX_CONTENT_LENGTH"] + 1)]}), 413,
         "too-large"),
    ]
    for answer, status, code in cases:
        assert_problem(answer, status, code, me.client)
    assert me.get(f"/api/v1/sessions/{session_id}").json["runs"] == []


def test_limits_are_documented_problems(analyst):
    me = analyst()
    opened = [me.open() for _ in range(3)]
    assert_problem(me.post("/api/v1/sessions", {"datasets": []}), 409, "too-many-sessions", me.client)

    with session_scope(me.app) as db:  # the day's CPU seconds used up by an earlier cell
        owner = db.get(AnalysisSession, opened[0])
        db.add(SessionRun(id=f"cpu-{opened[0]}"[:32], session_id=opened[0], user_id=owner.user_id, index=0,
                          code="x", status="done", submitted_at=utcnow(), started_at=utcnow(), finished_at=utcnow(),
                          cpu_seconds=600.0))
        db.execute(update(AnalysisSession).where(AnalysisSession.id == opened[1])
                   .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.commit()
    spent = assert_problem(me.post(f"/api/v1/sessions/{opened[0]}/runs", {"code": "1"}), 429, "cpu-budget-exhausted",
                           me.client)
    assert "00:00 UTC" in spent["detail"]
    assert 0 < int(me.post(f"/api/v1/sessions/{opened[0]}/runs", {"code": "1"}).headers["Retry-After"]) <= 86401
    assert_problem(me.post(f"/api/v1/sessions/{opened[1]}/runs", {"code": "1"}), 404, "session-expired", me.client)
    me.delete(f"/api/v1/sessions/{opened[2]}")
    assert_problem(me.post(f"/api/v1/sessions/{opened[2]}/runs", {"code": "1"}), 409, "session-closed", me.client)


@pytest.mark.parametrize("how", ["revoked", "expired"])
def test_a_grant_ended_during_a_session_refuses_the_next_cell_at_once(analyst, how):
    me = analyst()
    grant_id = grant(me.app, me.email)
    session_id = me.open(CLINIC)
    assert me.run(session_id, COUNT)["result"]["status"] == "ok"
    _end(me.app, grant_id, how)
    refused = assert_problem(me.post(f"/api/v1/sessions/{session_id}/runs", {"code": COUNT}), 403, "no-grant",
                             me.client)
    assert CLINIC in refused["detail"] and "revoked or has expired" in refused["detail"]
    session = me.get(f"/api/v1/sessions/{session_id}").json
    assert len(session["runs"]) == 1, "the refused cell was not queued"


def test_a_grant_ended_in_the_notebook_is_refused_with_its_message(sessions_app, login_as):
    client = login_as("developer", app=sessions_app)
    grant_id = grant(sessions_app, client.email)
    token = client.get("/notebook/api/sessions").headers["X-CSRFToken"]
    session_id = client.post("/notebook/api/sessions", json={"datasets": [CLINIC]},
                             headers={"X-CSRFToken": token}).json["id"]
    _end(sessions_app, grant_id, "revoked")
    answer = client.post(f"/notebook/api/sessions/{session_id}/runs", json={"code": COUNT},
                         headers={"X-CSRFToken": token})
    assert_problem(answer, 403, "no-grant", client)
    page = client.get(f"/notebook/{session_id}", headers={"Accept-Language": "zh-CN"}).text
    assert "problem:no-grant" in page, "the notebook has a message of its own for this problem"


def test_a_grant_revoked_while_a_cell_waits_stops_that_cell(analyst):
    """Accepted before the revocation, run after it: the worker checks again (`no-grant`)."""
    me = analyst()
    grant_id = grant(me.app, me.email)
    session_id = me.open(CLINIC)
    with session_scope(me.app) as db:  # another worker holds the session: the cell waits
        db.execute(update(AnalysisSession).where(AnalysisSession.id == session_id)
                   .values(claimed_by="elsewhere", claimed_until=utcnow() + timedelta(minutes=5)))
        db.commit()
    run_id = me.post(f"/api/v1/sessions/{session_id}/runs", {"code": COUNT}).json["id"]
    _end(me.app, grant_id, "revoked")
    with session_scope(me.app) as db:
        db.execute(update(AnalysisSession).where(AnalysisSession.id == session_id)
                   .values(claimed_by=None, claimed_until=None))
        db.commit()
    worker.process_session(me.app, session_id, lambda _: None)
    # the in-process queue's own worker may have claimed the session first: wait for the cell
    run = me.get(f"/api/v1/runs/{run_id}?wait=30").json
    assert run["status"] == "error" and run["result"]["code"] == "no-grant" and run["audit_run_id"] is None


def test_a_key_revoked_while_a_cell_waits_stops_that_cell(analyst):
    """Sent with a key, run after the key was revoked: the worker checks the key again
    (`key-revoked`), as a new request with it would be refused. Cells sent from the signed-in
    page carry no key and are not affected; another key of the same person reads the result."""
    from portal.accounts import keys
    from tests import factories

    me = analyst()
    grant(me.app, me.email)
    session_id = me.open(CLINIC)
    _hold(me.app, session_id, held=True)
    run_id = me.post(f"/api/v1/sessions/{session_id}/runs", {"code": COUNT}).json["id"]
    with me.app.app_context(), session_scope(me.app) as db:
        keys.revoke_key(db, SYSTEM, me.key.split("_")[1])
    _hold(me.app, session_id, held=False)
    worker.process_session(me.app, session_id, lambda _: None)
    other = {"X-API-Key": factories.api_key(me.app, me.email, scopes=["sandbox:run"])}
    run = me.client.get(f"/api/v1/runs/{run_id}?wait=30", headers=other).json
    assert run["status"] == "error" and run["result"]["code"] == "key-revoked", run
    assert run["audit_run_id"] is None


def _hold(app, session_id: str, *, held: bool) -> None:
    """Another worker holds the session (a cell sent meanwhile waits), or lets it go."""
    with session_scope(app) as db:
        db.execute(update(AnalysisSession).where(AnalysisSession.id == session_id)
                   .values(claimed_by="elsewhere" if held else None,
                           claimed_until=utcnow() + timedelta(minutes=5) if held else None))
        db.commit()


def _end(app, grant_id: int, how: str) -> None:
    with app.app_context(), session_scope(app) as db:
        if how == "revoked":
            reviews.revoke_grant(db, SYSTEM, grant_id, reason="ended during the session")
        else:
            db.execute(update(Grant).where(Grant.id == grant_id).values(expires_at=utcnow() - timedelta(seconds=1)))
            db.commit()


def test_a_cell_s_cpu_seconds_count_on_the_day_it_started(analyst):
    """Like the cells and ε its queries spent: a cell started before 00:00 UTC and finished after
    it is yesterday's, and leaves today's budget whole."""
    me = analyst()
    session_id = me.open()
    day_start = budget_day_start()
    with session_scope(me.app) as db:
        owner = db.get(AnalysisSession, session_id)
        db.add(SessionRun(id=f"late-{session_id}"[:32], session_id=session_id, user_id=owner.user_id, index=0,
                          code="x", status="done", submitted_at=day_start - timedelta(seconds=5),
                          started_at=day_start - timedelta(seconds=2), finished_at=day_start + timedelta(seconds=1),
                          cpu_seconds=600.0))
        owner.next_index = 1
        db.commit()
    assert me.get(f"/api/v1/sessions/{session_id}").json["budget"]["cpu_seconds_used_today"] == 0
    assert me.post(f"/api/v1/sessions/{session_id}/runs", {"code": "1"}).status_code == 202
