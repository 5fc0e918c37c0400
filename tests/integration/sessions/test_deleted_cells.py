"""A cell deleted in the notebook is deleted on the server: another browser reopening the
session, the API's session and the `.py` export all leave it out, and `kaifang offline-run`
runs the export. The run stays readable by id (`deleted_at`) and in the stewards' audit."""

from __future__ import annotations

import json

from click.testing import CliRunner

from portal.analysis.models import AnalysisRun
from portal.cli import main
from portal.db import session_scope
from tests.integration.sessions.conftest import CLINIC, grant

KEEP = "t = dataset('clinic-visits-synthetic').group_by('district').agg(count()).collect()"
DROP = "print('deleted cell')"
LAST = "print('districts:', len(t))"


def _browser(app, login_as):
    client = login_as("developer", app=app)
    token = client.get("/notebook/api/sessions").headers["X-CSRFToken"]
    return client, {"X-CSRFToken": token}


def _run(client, headers, session_id, code):
    posted = client.post(f"/notebook/api/sessions/{session_id}/runs", json={"code": code}, headers=headers)
    assert posted.status_code == 202, posted.json
    done = client.get(posted.headers["Location"] + "?wait=30").json
    assert done["status"] == "done" and done["result"]["status"] == "ok", done
    return done["id"]


def test_a_deleted_cell_leaves_every_view_and_the_export(sessions_app, login_as, tmp_path):
    client, headers = _browser(sessions_app, login_as)
    grant(sessions_app, client.email)
    session_id = client.post("/notebook/api/sessions", json={"datasets": [CLINIC]}, headers=headers).json["id"]
    kept, dropped, last = (_run(client, headers, session_id, code) for code in (KEEP, DROP, LAST))

    assert client.delete(f"/notebook/api/runs/{dropped}").status_code == 400, "CSRF, as every write"
    assert client.delete(f"/notebook/api/runs/{dropped}", headers=headers).status_code == 204
    assert client.delete(f"/notebook/api/runs/{dropped}", headers=headers).status_code == 204  # twice is fine

    # another browser of the same person: the session's cells, the page and the export
    other = sessions_app.test_client()
    with client.session_transaction() as mine, other.session_transaction() as theirs:
        theirs["user_id"] = mine["user_id"]
    cells = other.get(f"/notebook/api/sessions/{session_id}").json["runs"]
    assert [r["id"] for r in cells] == [kept, last]
    assert DROP not in other.get(f"/notebook/{session_id}").text
    gone = other.get(f"/notebook/api/runs/{dropped}").json
    assert gone["deleted_at"] and gone["code"] == DROP
    exported = other.get(f"/notebook/{session_id}/export.py").get_data(as_text=True)
    assert KEEP in exported and LAST in exported and "deleted cell" not in exported

    with session_scope(sessions_app) as db:  # the audit keeps all three
        assert db.query(AnalysisRun).filter(AnalysisRun.run_id == gone["audit_run_id"]).count() == 1

    sample = tmp_path / f"{CLINIC}-v1-sample.zip"
    sample.write_bytes(other.get(f"/datasets/{CLINIC}/sample.zip").get_data())
    script = tmp_path / "export.py"
    script.write_text(exported, encoding="utf-8")
    result = CliRunner().invoke(main, ["offline-run", str(script), "--json", "--data", str(sample)])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["status"] == "ok" and out["stdout"] == "districts: 16\n", out


def test_deleting_is_the_owners_and_waits_for_the_run(analyst):
    from datetime import timedelta

    from sqlalchemy import update

    from portal.catalog.models import utcnow
    from portal.sessions.models import AnalysisSession

    owner, other = analyst(), analyst(role="steward")
    session_id = owner.open()
    with session_scope(owner.app) as db:  # held by another worker: the cell stays queued
        db.execute(update(AnalysisSession).where(AnalysisSession.id == session_id)
                   .values(claimed_by="elsewhere", claimed_until=utcnow() + timedelta(minutes=5)))
        db.commit()
    run_id = owner.post(f"/api/v1/sessions/{session_id}/runs", {"code": "x = 1"}).json["id"]
    pending = owner.delete(f"/api/v1/runs/{run_id}")
    assert pending.status_code == 409 and pending.json["code"] == "run-pending"
    stolen = other.delete(f"/api/v1/runs/{run_id}")
    assert stolen.status_code == 404 and stolen.json["code"] == "run-not-found"
    assert owner.delete("/api/v1/runs/no-such-run").status_code == 404
