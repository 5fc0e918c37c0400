"""Issue 12's routes with real objects of one developer (a grant, a notebook session with a run,
its audit record, an application), probed by every role — anonymous, the owner, another
developer, a publisher, a steward, an admin — and by keys of each scope, on an instance with a
disclosure key (so public aggregates answer). Expectations differ by role: a developer never sees
another's sessions, runs, applications or audit rows; stewards see the audit and the queues, not
anyone's notebook. The per-route matrices with made-up ids are test_authz_matrix.py and
test_api_key_matrix.py; this one is about whose object it is."""

from __future__ import annotations

import pytest

from portal.access.schemas import ApplicationDraft
from portal.accounts import service as accounts
from portal.db import session_scope
from tests import factories
from tests.integration.sessions.conftest import CLINIC, build_app, grant

ROLES = ("public", "owner", "other", "publisher", "steward", "admin")


def by_role(public, owner, other, publisher, steward, admin) -> dict[str, int]:
    return dict(zip(ROLES, (public, owner, other, publisher, steward, admin), strict=True))


OWNER_PAGE = by_role(302, 200, 404, 404, 404, 404)  # notebook pages: the owner's alone, even for stewards
OWNER_JSON = by_role(401, 200, 404, 404, 404, 404)
STEWARDS_PAGE = by_role(302, 403, 403, 403, 200, 200)  # anonymous visitors are sent to sign in first
STEWARDS = by_role(403, 403, 403, 403, 200, 200)  # the audit's CSV download
EVERYONE = by_role(200, 200, 200, 200, 200, 200)

CASES = [
    ("notebook page", "GET", "/notebook/{session}", OWNER_PAGE),
    ("notebook export", "GET", "/notebook/{session}/export.py", OWNER_PAGE),
    ("notebook budget", "GET", "/notebook/{session}/budget", OWNER_PAGE),
    ("session json", "GET", "/notebook/api/sessions/{session}", OWNER_JSON),
    ("run json", "GET", "/notebook/api/runs/{run}", OWNER_JSON),
    ("audit run", "GET", "/audit/runs/{audit}", STEWARDS_PAGE),
    ("audit run code", "GET", "/audit/runs/{audit}/code", STEWARDS_PAGE),
    ("audit csv", "GET", "/audit/runs.csv?user={owner_email}", STEWARDS),
    ("audit list", "GET", "/audit/runs?user={owner_email}", STEWARDS_PAGE),
    ("run queue", "GET", "/audit/queue", STEWARDS_PAGE),
    ("application", "GET", "/access/applications/{application}", by_role(302, 200, 404, 404, 200, 200)),
    ("review queue", "GET", "/steward/applications", STEWARDS_PAGE),
    ("grants", "GET", "/steward/grants", STEWARDS_PAGE),
    ("public aggregate page", "GET", f"/datasets/{CLINIC}/public-aggregate?by1=district", EVERYONE),
    ("public aggregate api", "GET", f"/api/v1/datasets/{CLINIC}/public-aggregate?by=district", EVERYONE),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    app = build_app(tmp_path_factory.mktemp("issue12-matrix"))
    people = {role: factories.user(app, {"owner": "developer", "other": "developer"}.get(role, role))
              for role in ROLES[1:]}
    grant(app, people["owner"])
    owner = _client(app, people, "owner")
    token = owner.get("/notebook/api/sessions").headers["X-CSRFToken"]
    session_id = owner.post("/notebook/api/sessions", json={"datasets": [CLINIC]},
                            headers={"X-CSRFToken": token}).json["id"]
    code = "secret_marker = dataset('clinic-visits-synthetic').count()\nprint(secret_marker)"
    location = owner.post(f"/notebook/api/sessions/{session_id}/runs", json={"code": code},
                          headers={"X-CSRFToken": token}).headers["Location"]
    run = owner.get(location + "?wait=30").json
    assert run["status"] == "done" and run["audit_run_id"], run
    with app.app_context(), session_scope(app) as db:
        actor = accounts.actor_for(db, accounts.user_by_email(db, people["owner"]).id)
        made = factories.apply_for(db, actor, ApplicationDraft((CLINIC,), "matrix purpose", "org", 10), review_days=2)
    ids = {"session": session_id, "run": run["id"], "audit": run["audit_run_id"],
           "application": made.application.id, "owner_email": people["owner"]}
    return app, people, ids


def _client(app, people, role):
    client = app.test_client()
    if role != "public":
        with app.app_context(), session_scope(app) as db:
            user_id = accounts.user_by_email(db, people[role]).id
        with client.session_transaction() as flask_session:
            flask_session["user_id"] = user_id
    return client


@pytest.mark.parametrize("role", ROLES)
def test_whose_object_it_is_decides(world, role):
    app, people, ids = world
    client = _client(app, people, role)
    for name, method, path, expected in CASES:
        answer = client.open(path.format(**ids), method=method)
        assert answer.status_code == expected[role], f"{role} {method} {path} ({name}): {answer.text[:200]}"
        if answer.status_code == 404:
            assert "secret_marker" not in answer.text
        if answer.status_code >= 400 and (path.startswith(("/notebook/api/", "/api/"))):
            assert answer.mimetype == "application/problem+json"


@pytest.mark.parametrize("role", ("other", "publisher", "steward", "admin"))
def test_no_list_shows_anothers_objects(world, role):
    """Lists are filtered, not just the object pages: nobody else's session, run, application."""
    app, people, ids = world
    client = _client(app, people, role)
    sessions = client.get("/notebook/api/sessions").json
    assert all(s["id"] != ids["session"] for s in sessions)
    assert ids["session"] not in client.get("/notebook/").text
    key = factories.api_key(app, people[role], scopes=["sandbox:run"])
    api = app.test_client()
    listed = api.get("/api/v1/sessions", headers={"X-API-Key": key}).json
    assert all(s["id"] != ids["session"] for s in listed)
    assert all(a["id"] != ids["application"] for a in api.get("/api/v1/applications", headers={"X-API-Key": key}).json)
    assert api.get(f"/api/v1/runs/{ids['run']}", headers={"X-API-Key": key}).status_code == 404
    mine = client.get("/access/applications").text
    assert f"/access/applications/{ids['application']}\"" not in mine


def test_stewards_see_the_owners_run_in_the_audit(world):
    app, people, ids = world
    steward = _client(app, people, "steward")
    assert ids["audit"] in steward.get(f"/audit/runs?user={ids['owner_email']}").text
    assert ids["audit"] in steward.get(f"/audit/runs.csv?user={ids['owner_email']}").text
    assert "secret_marker" in steward.get(f"/audit/runs/{ids['audit']}/code").text


SCOPES = {"none": None, "catalog:read": ["catalog:read"], "rows:read": ["rows:read"], "sandbox:run": ["sandbox:run"]}
KEY_CASES = [  # (path, {scope: status}) with a key of the *other* developer, or none
    (f"/api/v1/datasets/{CLINIC}/public-aggregate?by=district",
     {"none": 200, "catalog:read": 200, "rows:read": 403, "sandbox:run": 403}),
    ("/api/v1/sessions/{session}", {"none": 401, "catalog:read": 403, "rows:read": 403, "sandbox:run": 404}),
    ("/api/v1/runs/{run}", {"none": 401, "catalog:read": 403, "rows:read": 403, "sandbox:run": 404}),
    ("/api/v1/applications/{application}", {"none": 401, "catalog:read": 403, "rows:read": 403, "sandbox:run": 404}),
]


@pytest.mark.parametrize("scope", SCOPES)
def test_keys_of_another_developer_by_scope(world, scope):
    app, people, ids = world
    headers = {"X-API-Key": factories.api_key(app, people["other"], scopes=SCOPES[scope])} if SCOPES[scope] else {}
    for path, expected in KEY_CASES:
        answer = app.test_client().get(path.format(**ids), headers=headers)
        assert answer.status_code == expected[scope], f"{scope} {path}: {answer.text[:200]}"
