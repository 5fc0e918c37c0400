"""Analysis sessions, route × role and route × key scope → status. A session and its runs are
their owner's alone: every other person, whatever their role, is told they do not exist (404).
The run queue page is stewards' and admins'. Keys act only with the `sandbox:run` scope; the
notebook routes act only for a signed-in browser with the CSRF token."""

from __future__ import annotations

import pytest

from tests import factories
from tests.integration.sessions.conftest import Analyst, build_app

ROLES = ("public", "developer", "publisher", "steward", "admin")


def by_role(public, developer, publisher, steward, admin) -> dict[str, int]:
    return dict(zip(ROLES, (public, developer, publisher, steward, admin), strict=True))


PEOPLE = by_role(401, 200, 200, 200, 200)
OWN_WRITE = by_role(401, 201, 201, 201, 201)
OTHERS = by_role(401, 404, 404, 404, 404)

# (name, method, path with {other} / {other_run} / {own}, JSON body, {role: status})
CASES = [
    ("list", "GET", "/notebook/api/sessions", None, PEOPLE),
    ("create", "POST", "/notebook/api/sessions", {"datasets": []}, OWN_WRITE),
    ("read own", "GET", "/notebook/api/sessions/{own}", None, by_role(401, 200, 200, 200, 200)),
    ("run in own", "POST", "/notebook/api/sessions/{own}/runs", {"code": "x = 1"}, by_role(401, 202, 202, 202, 202)),
    ("close own", "DELETE", "/notebook/api/sessions/{own}", None, by_role(401, 204, 204, 204, 204)),
    ("read other's", "GET", "/notebook/api/sessions/{other}", None, OTHERS),
    ("close other's", "DELETE", "/notebook/api/sessions/{other}", None, OTHERS),
    ("run in other's", "POST", "/notebook/api/sessions/{other}/runs", {"code": "print(1)"}, OTHERS),
    ("read other's run", "GET", "/notebook/api/runs/{other_run}", None, OTHERS),
    ("delete other's run", "DELETE", "/notebook/api/runs/{other_run}", None, OTHERS),
    ("queue page", "GET", "/audit/queue", None, by_role(302, 403, 403, 200, 200)),  # anonymous: sign in first
]


@pytest.fixture(scope="module")
def matrix_app(tmp_path_factory):
    return build_app(tmp_path_factory.mktemp("matrix"))


@pytest.fixture(scope="module")
def others(matrix_app):
    """A session of someone else, with one run in it."""
    owner = Analyst(matrix_app)
    session_id = owner.open()
    run_id = owner.post(f"/api/v1/sessions/{session_id}/runs", {"code": "secret = 1"}).json["id"]
    return {"other": session_id, "other_run": run_id, "owner": owner}


def _browser(app, role, login_as):
    client = login_as(role, app=app)
    token = client.get("/notebook/api/sessions").headers["X-CSRFToken"]
    return client, {"X-CSRFToken": token}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("name", "method", "path", "body", "expected"), CASES, ids=[c[0] for c in CASES])
def test_browser_routes_by_role(matrix_app, others, login_as, role, name, method, path, body, expected):
    client, headers = _browser(matrix_app, role, login_as)
    own = "none"
    if "{own}" in path and role != "public":
        own = client.post("/notebook/api/sessions", json={"datasets": []}, headers=headers).json["id"]
    url = path.format(own=own, **{k: v for k, v in others.items() if k != "owner"})
    answer = client.open(url, method=method, json=body, headers=headers)
    assert answer.status_code == expected[role], (name, role, answer.get_data(as_text=True)[:300])
    if answer.status_code >= 400 and url.startswith("/notebook/api/"):
        assert answer.mimetype == "application/problem+json"
    if answer.status_code == 404:
        assert "secret" not in answer.get_data(as_text=True)


SCOPES = {"none": (), "catalog:read": ("catalog:read",), "rows:read": ("rows:read",),
          "sandbox:run": ("sandbox:run",), "all": ("catalog:read", "rows:read", "sandbox:run")}
KEY_CASES = [
    ("list", "GET", "/api/v1/sessions", None, 200),
    ("create", "POST", "/api/v1/sessions", {"datasets": []}, 201),
    ("read other's", "GET", "/api/v1/sessions/{other}", None, 404),
    ("close other's", "DELETE", "/api/v1/sessions/{other}", None, 404),
    ("run in other's", "POST", "/api/v1/sessions/{other}/runs", {"code": "print(secret)"}, 404),
    ("read other's run", "GET", "/api/v1/runs/{other_run}", None, 404),
    ("delete other's run", "DELETE", "/api/v1/runs/{other_run}", None, 404),
]


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize(("name", "method", "path", "body", "allowed"), KEY_CASES, ids=[c[0] for c in KEY_CASES])
def test_key_routes_by_scope(matrix_app, others, scope, name, method, path, body, allowed):
    email = factories.user(matrix_app, "admin")  # even an admin's key: the scope and the owner decide
    key = factories.api_key(matrix_app, email, scopes=SCOPES[scope]) if SCOPES[scope] else None
    headers = {"X-API-Key": key} if key else {}
    url = path.format(**{k: v for k, v in others.items() if k != "owner"})
    answer = matrix_app.test_client().open(url, method=method, json=body, headers=headers)
    expected = 401 if key is None else (allowed if "sandbox:run" in SCOPES[scope] else 403)
    assert answer.status_code == expected, (name, scope, answer.json)
    assert answer.mimetype == "application/problem+json" or answer.status_code < 400


def test_the_owner_still_has_everything_after_the_probes(others):
    owner = others["owner"]
    run = owner.get(f"/api/v1/runs/{others['other_run']}?wait=30").json
    assert run["status"] == "done" and run["result"]["status"] == "ok"
    assert owner.get(f"/api/v1/sessions/{others['other']}").json["status"] == "open"
