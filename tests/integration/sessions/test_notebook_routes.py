"""The same session routes for the notebook page under /notebook/api/: known by the signed-in
browser session, every write behind the CSRF token, answers and errors in JSON."""

from __future__ import annotations

from tests.integration.sessions.conftest import FLIGHTS


def _token(client) -> str:
    return client.get("/notebook/api/sessions").headers["X-CSRFToken"]


def test_a_signed_in_person_runs_cells_with_the_csrf_token(sessions_app, login_as):
    client = login_as("developer", app=sessions_app)
    token = _token(client)
    created = client.post("/notebook/api/sessions", json={"datasets": [FLIGHTS]}, headers={"X-CSRFToken": token})
    assert created.status_code == 201, created.json
    session_id = created.json["id"]
    assert created.headers["Location"] == f"/notebook/api/sessions/{session_id}"
    submitted = client.post(f"/notebook/api/sessions/{session_id}/runs", json={"code": "x = 20\nprint(x + 1)"},
                            headers={"X-CSRFToken": token})
    assert submitted.status_code == 202 and submitted.headers["Location"].startswith("/notebook/api/runs/")
    done = client.get(submitted.headers["Location"] + "?wait=30").json
    assert done["status"] == "done" and done["result"]["stdout"] == "21\n", done
    listed = client.get("/notebook/api/sessions")
    assert listed.json[0]["runs"][0]["code"] == "x = 20\nprint(x + 1)"
    assert listed.headers["Cache-Control"] == "no-store" and "X-Sandbox-CPU-Seconds-Left" in listed.headers
    assert client.delete(f"/notebook/api/sessions/{session_id}", headers={"X-CSRFToken": token}).status_code == 204


def test_writes_without_the_csrf_token_are_refused(sessions_app, login_as):
    client = login_as("developer", app=sessions_app)
    for answer in (client.post("/notebook/api/sessions", json={"datasets": []}),
                   client.post("/notebook/api/sessions", json={"datasets": []}, headers={"X-CSRFToken": "forged"})):
        assert answer.status_code == 400 and answer.mimetype == "application/problem+json"
    token = _token(client)
    session_id = client.post("/notebook/api/sessions", json={"datasets": []}, headers={"X-CSRFToken": token}).json["id"]
    assert client.delete(f"/notebook/api/sessions/{session_id}").status_code == 400
    assert client.post(f"/notebook/api/sessions/{session_id}/runs", json={"code": "1"}).status_code == 400


def test_anonymous_visitors_get_a_401_problem(sessions_app):
    client = sessions_app.test_client()
    answer = client.get("/notebook/api/sessions")
    assert answer.status_code == 401 and answer.json["code"] == "unauthorized"
    token = answer.headers["X-CSRFToken"]
    refused = client.post("/notebook/api/sessions", json={"datasets": []}, headers={"X-CSRFToken": token})
    assert refused.status_code == 401 and refused.mimetype == "application/problem+json"


def test_a_browser_session_never_reaches_the_key_api(sessions_app, login_as):
    """The cookie is not read under /api/: a signed-in browser is anonymous there."""
    client = login_as("developer", app=sessions_app)
    assert client.get("/api/v1/sessions").status_code == 401


def test_bad_input_is_a_problem_not_a_500(sessions_app, login_as):
    client = login_as("developer", app=sessions_app)
    token = _token(client)
    headers = {"X-CSRFToken": token}
    assert client.post("/notebook/api/sessions", data="not json", headers=headers).json["code"] == "bad-body"
    session_id = client.post("/notebook/api/sessions", json={"datasets": []}, headers=headers).json["id"]
    wrong = client.post(f"/notebook/api/sessions/{session_id}/runs", json={"code": 5}, headers=headers)
    assert wrong.status_code == 400 and wrong.json["code"] == "bad-body"
    extra = client.post(f"/notebook/api/sessions/{session_id}/runs", json={"code": "1", "x": 1}, headers=headers)
    assert extra.status_code == 400
    assert client.get("/notebook/api/runs/nope?wait=100").json["code"] == "bad-parameter"
    assert client.get("/notebook/api/runs/nope?later=1").json["code"] == "unknown-parameter"
    assert client.get("/notebook/api/runs/nope").json["code"] == "run-not-found"
