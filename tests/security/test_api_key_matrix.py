"""API route × kind of caller → status: anonymous, a key with each scope, bad, revoked and expired
keys. Every API endpoint must appear here, so a new one cannot ship without deciding its scope."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.analysis.keys import key_path
from portal.auth import SYSTEM
from portal.db import session_scope
from tests import factories

OPEN, CONDITIONAL = "nyc-flights-2013", "clinic-visits-synthetic"
CALLERS = ("anonymous", "catalog:read", "rows:read", "sandbox:run", "all-scopes", "steward-all",
           "malformed", "unknown", "revoked", "expired")
BAD = {"malformed": 401, "unknown": 401, "revoked": 401, "expired": 401}


def expect(anonymous, catalog, rows, sandbox, every) -> dict[str, int]:
    return {"anonymous": anonymous, "catalog:read": catalog, "rows:read": rows, "sandbox:run": sandbox,
            "all-scopes": every, "steward-all": every, **BAD}


def ckan(statuses: dict[str, int]) -> dict[str, int]:
    """The CKAN API answers a bad key as CKAN does: 403 Authorization Error, in its envelope."""
    return {**statuses, **dict.fromkeys(BAD, 403)}


CATALOG = expect(200, 200, 403, 403, 200)
# (endpoint, path, {caller: status})
API_MATRIX = [
    ("api.datasets", "/api/v1/datasets", CATALOG),
    ("api.dataset", f"/api/v1/datasets/{OPEN}", CATALOG),
    ("api.dataset", f"/api/v1/datasets/{CONDITIONAL}", CATALOG),
    ("api.dataset_rows", f"/api/v1/datasets/{OPEN}/rows", expect(200, 403, 200, 403, 200)),
    # Public aggregates need no key, `catalog:read` with one; without a disclosure key (this
    # instance, unless a browser test has written one: `test_key_matrix`) nothing conditional is
    # answered: 403 public-aggregates-unavailable, as for a missing scope.
    ("api.public_aggregate_api", f"/api/v1/datasets/{CONDITIONAL}/public-aggregate?by=district",
     expect(403, 403, 403, 403, 403)),
    # Conditional rows are served by no API, whatever the key: 403 rows-not-open.
    ("api.dataset_rows", f"/api/v1/datasets/{CONDITIONAL}/rows", expect(403, 403, 403, 403, 403)),
    ("api.me", "/api/v1/me", expect(401, 200, 200, 200, 200)),
    ("api.dataset_versions", f"/api/v1/datasets/{OPEN}/versions", CATALOG),
    ("api.dataset_version", f"/api/v1/datasets/{OPEN}/versions/1", CATALOG),
    ("api.dataset_version", f"/api/v1/datasets/{CONDITIONAL}/versions/1", CATALOG),
    ("api.dataset_fields", f"/api/v1/datasets/{CONDITIONAL}/fields", CATALOG),
    ("api.themes", "/api/v1/themes", CATALOG),
    ("api.theme", "/api/v1/themes/health", CATALOG),
    ("api.departments", "/api/v1/departments", CATALOG),
    ("api.department", "/api/v1/departments/us-bts", CATALOG),
    # The API's description is public to every caller with a usable key, whatever its scopes.
    ("api.openapi", "/api/v1/openapi.json", expect(200, 200, 200, 200, 200)),
    # The CKAN-compatible API asks the same scopes as its /api/v1 twins.
    ("ckan.api_version", "/api/3", ckan(expect(200, 200, 200, 200, 200))),
    ("ckan.action", "/api/3/action/package_list", ckan(CATALOG)),
    ("ckan.action", f"/api/3/action/datastore_search?resource_id={OPEN}&limit=1", ckan(expect(200, 403, 200, 403, 200))),
    ("ckan.action", f"/api/3/action/datastore_search?resource_id={CONDITIONAL}", ckan(expect(403, 403, 403, 403, 403))),
    ("ckan.action_unversioned", "/api/action/package_show?id=" + OPEN, ckan(CATALOG)),
    ("api.search", "/api/v1/search?q=flights", CATALOG),
    ("api.search_suggest", "/api/v1/search/suggest?q=tq", CATALOG),
    # Applications for conditional access act for a person: a key with sandbox:run, never anonymous.
    ("api.applications", "/api/v1/applications", expect(401, 403, 403, 200, 200)),
    ("api.create_application", "/api/v1/applications", expect(401, 403, 403, 400, 400), "POST"),  # an empty body
    ("api.application", "/api/v1/applications/999999", expect(401, 403, 403, 404, 404)),
    ("api.withdraw_application", "/api/v1/applications/999999/withdraw", expect(401, 403, 403, 404, 404), "POST"),
    # Analysis sessions (issue 12): a key with sandbox:run; nobody else's session exists.
    ("api.analysis_sessions", "/api/v1/sessions", expect(401, 403, 403, 200, 200)),
    ("api.create_analysis_session", "/api/v1/sessions", expect(401, 403, 403, 201, 201), "POST"),  # {} = no datasets
    ("api.analysis_session", "/api/v1/sessions/no-such-session", expect(401, 403, 403, 404, 404)),
    ("api.close_analysis_session", "/api/v1/sessions/no-such-session", expect(401, 403, 403, 404, 404), "DELETE"),
    ("api.create_session_run", "/api/v1/sessions/no-such-session/runs", expect(401, 403, 403, 400, 400), "POST"),
    ("api.session_run", "/api/v1/runs/no-such-run", expect(401, 403, 403, 404, 404)),
    ("api.delete_session_run", "/api/v1/runs/no-such-run", expect(401, 403, 403, 404, 404), "DELETE"),
]


@pytest.fixture(scope="module")
def keys(bundled_app):
    from portal.accounts import keys as key_service
    from portal.accounts.models import SCOPES, ApiKey

    made = {"anonymous": None, "malformed": "kf_short", "unknown": "kf_0123456789_" + "x" * 40}
    developer = factories.user(bundled_app, "developer")
    for scope in ("catalog:read", "rows:read", "sandbox:run"):
        made[scope] = factories.api_key(bundled_app, developer, scopes=[scope])
    made["all-scopes"] = factories.api_key(bundled_app, developer, scopes=SCOPES)
    made["steward-all"] = factories.api_key(bundled_app, factories.user(bundled_app, "steward"), scopes=SCOPES)
    made["revoked"] = factories.api_key(bundled_app, developer, scopes=SCOPES)
    made["expired"] = factories.api_key(bundled_app, developer, scopes=SCOPES, expires_days=1)
    with bundled_app.app_context(), session_scope(bundled_app) as session:
        key_service.revoke_key(session, SYSTEM, made["revoked"].split("_")[1])
        expired = session.query(ApiKey).filter_by(prefix=made["expired"].split("_")[1]).one()
        expired.expires_at = expired.created_at.replace(year=2000)
        session.commit()
    return made


def test_every_api_route_is_in_the_key_matrix(bundled_app):
    routes = {rule.endpoint for rule in bundled_app.url_map.iter_rules() if rule.rule.startswith("/api/")}
    covered = {row[0] for row in API_MATRIX}
    assert routes == covered, f"missing: {sorted(routes - covered)}; stale: {sorted(covered - routes)}"


@pytest.mark.parametrize("caller", CALLERS)
def test_key_matrix(bundled_app, bundled_client, keys, caller):
    headers = {"Authorization": f"Bearer {keys[caller]}"} if keys[caller] else {}
    # The app is shared by the session's test files, and a browser test writes it a disclosure
    # key (what `kaifang init` does): from then on public aggregates answer like the catalog.
    keyed = key_path(Path(bundled_app.config["INSTANCE_PATH"])).exists()
    for endpoint, path, expected, *method in API_MATRIX:
        expected = CATALOG if keyed and endpoint == "api.public_aggregate_api" else expected
        response = bundled_client.open(path, method=(method or ["GET"])[0], headers=headers,
                                       json={} if method else None)
        assert response.status_code == expected[caller], f"{caller} {path} ({endpoint}): {response.text[:200]}"
        if response.status_code >= 400 and endpoint.startswith("ckan."):
            assert response.json["success"] is False, "CKAN's envelope, as its clients expect"
        elif response.status_code >= 400:
            assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize("caller, detail", [("malformed", "not in the form"), ("unknown", "not known"),
                                            ("revoked", "revoked"), ("expired", "expired")])
def test_bad_keys_are_clear_problems(bundled_client, keys, caller, detail):
    response = bundled_client.get("/api/v1/datasets", headers={"X-API-Key": keys[caller]})
    body = response.json
    assert response.status_code == 401 and body["code"] == "invalid-key" and detail in body["detail"]
    assert body["title"] == "Invalid API key"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_wrong_scope_names_the_missing_scope(bundled_client, keys):
    response = bundled_client.get(f"/api/v1/datasets/{OPEN}/rows", headers={"X-API-Key": keys["catalog:read"]})
    assert response.status_code == 403 and response.json["code"] == "insufficient-scope"
    assert "rows:read" in response.json["detail"] and 'scope="rows:read"' in response.headers["WWW-Authenticate"]


def test_other_authorization_schemes_are_refused(bundled_client):
    response = bundled_client.get("/api/v1/datasets", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 401 and response.json["code"] == "invalid-key"


def test_session_cookie_does_not_authenticate_the_api(bundled_app, keys):
    """A signed-in browser calling /api/ is anonymous there, so no cross-site request can use the
    cookie to act through the API."""
    client = bundled_app.test_client()
    with bundled_app.app_context(), session_scope(bundled_app) as session:
        from portal.accounts import service
        user_id = service.user_by_email(session, factories.user(bundled_app, "admin")).id
    with client.session_transaction() as flask_session:
        flask_session["user_id"] = user_id
    assert client.get("/account").status_code == 200
    assert client.get("/api/v1/me").status_code == 401
    assert "Set-Cookie" not in client.get("/api/v1/datasets").headers
