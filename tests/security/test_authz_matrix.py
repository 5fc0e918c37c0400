"""Role × route → status. Every route of the app must appear here, so a new route cannot ship
without someone deciding who may use it (CKAN's coding-standards idea)."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.analysis.keys import key_path
from portal.auth import SYSTEM
from portal.db import session_scope

ROLES = ("public", "developer", "publisher", "steward", "admin")
OPEN, CONDITIONAL = "nyc-flights-2013", "clinic-visits-synthetic"
ALL_OK = dict.fromkeys(ROLES, 200)
SIGNED_IN = {"public": 302, "developer": 200, "publisher": 200, "steward": 200, "admin": 200}


def signed_in(status: int) -> dict[str, int]:
    """Anonymous visitors are sent to sign in; every signed-in role gets `status`."""
    return {"public": 302, **dict.fromkeys(ROLES[1:], status)}


def stewards_page(status: int) -> dict[str, int]:
    """A stewards' page: anonymous visitors are sent to sign in (as on every sign-in-only page),
    signed-in roles other than steward and admin get 403, those two `status`."""
    return {**dict.fromkeys(ROLES, 403), "public": 302, "steward": status, "admin": status}


# (endpoint, method, path, {role: status}); one or more rows per endpoint.
MATRIX = [
    ("static", "GET", "/static/css/kaifang.css", ALL_OK),
    ("site.home", "GET", "/", ALL_OK),
    ("site.about", "GET", "/about", ALL_OK),
    ("site.licence", "GET", "/licence", ALL_OK),
    ("site.set_locale", "GET", "/locale/en", dict.fromkeys(ROLES, 302)),
    ("catalog.dataset_list", "GET", "/datasets", ALL_OK),
    ("catalog.theme_index", "GET", "/themes", ALL_OK),
    ("catalog.theme_page", "GET", "/themes/health", ALL_OK),
    ("catalog.department_page", "GET", "/departments/us-bts", ALL_OK),
    ("catalog.dataset_page", "GET", f"/datasets/{OPEN}", ALL_OK),
    ("catalog.dataset_page", "GET", f"/datasets/{CONDITIONAL}", ALL_OK),
    # Public aggregates: for everyone, signed in or not; this instance has no disclosure key, so
    # nothing conditional is answered (403 public-aggregates-unavailable); with a key: tests/integration/analysis/test_public_aggregates.py.
    ("analysis.public_aggregate", "GET", f"/datasets/{CONDITIONAL}/public-aggregate?by1=district",
     dict.fromkeys(ROLES, 403)),
    ("api.public_aggregate_api", "GET", f"/api/v1/datasets/{CONDITIONAL}/public-aggregate?by=district",
     dict.fromkeys(ROLES, 403)),
    ("catalog.chart_data", "GET", f"/datasets/{OPEN}/chart.json?x=origin", ALL_OK),
    ("catalog.chart_data", "GET", f"/datasets/{CONDITIONAL}/chart.json?x=district", dict.fromkeys(ROLES, 403)),
    ("catalog.chart_csv", "GET", f"/datasets/{OPEN}/chart.csv?x=origin", ALL_OK),
    ("catalog.chart_csv", "GET", f"/datasets/{CONDITIONAL}/chart.csv?x=district", dict.fromkeys(ROLES, 403)),
    ("catalog.map_points", "GET", "/datasets/us-airports-faa/points.json", ALL_OK),
    ("catalog.map_points", "GET", f"/datasets/{OPEN}/points.json", dict.fromkeys(ROLES, 404)),
    ("catalog.download", "GET", "/datasets/china-smoking-lung-cancer/download/csv", ALL_OK),
    ("catalog.download", "GET", f"/datasets/{CONDITIONAL}/download/csv", dict.fromkeys(ROLES, 403)),
    ("catalog.sample", "GET", f"/datasets/{CONDITIONAL}/sample.zip", ALL_OK),
    ("catalog.sample", "GET", f"/datasets/{OPEN}/sample.zip", dict.fromkeys(ROLES, 404)),
    ("analysis.audit_runs", "GET", "/audit/runs", stewards_page(200)),
    ("analysis.audit_runs", "GET", "/audit/runs?flagged=1", stewards_page(200)),
    ("analysis.audit_run", "GET", "/audit/runs/no-such-run", stewards_page(404)),
    ("accounts.login", "GET", "/login", ALL_OK),
    ("accounts.register", "GET", "/register", ALL_OK),
    ("accounts.confirm_email", "GET", "/confirm/not-a-token", dict.fromkeys(ROLES, 422)),
    ("accounts.forgot_password", "GET", "/password/forgot", ALL_OK),
    ("accounts.reset_password", "GET", "/password/reset/not-a-token", dict.fromkeys(ROLES, 422)),
    ("accounts.account", "GET", "/account", signed_in(200)),
    ("accounts.create_key", "POST", "/account/keys", signed_in(400)),  # an empty form
    ("accounts.revoke_key", "POST", "/account/keys/0123456789/revoke", signed_in(404)),
    ("accounts.rotate_key", "POST", "/account/keys/0123456789/rotate", signed_in(404)),
    ("accounts.resend_confirmation", "POST", "/account/confirm", dict.fromkeys(ROLES, 302)),
    ("accounts.usage_page", "GET", "/account/usage", signed_in(200)),
    ("api.datasets", "GET", "/api/v1/datasets", ALL_OK),
    ("api.dataset", "GET", f"/api/v1/datasets/{CONDITIONAL}", ALL_OK),
    ("api.dataset_rows", "GET", f"/api/v1/datasets/{OPEN}/rows", ALL_OK),
    ("api.dataset_rows", "GET", f"/api/v1/datasets/{CONDITIONAL}/rows", dict.fromkeys(ROLES, 403)),
    ("api.dataset_rows", "GET", f"/api/v1/datasets/{CONDITIONAL}/rows?version=1&format=csv", dict.fromkeys(ROLES, 403)),
    ("api.dataset_versions", "GET", f"/api/v1/datasets/{CONDITIONAL}/versions", ALL_OK),
    ("api.dataset_version", "GET", f"/api/v1/datasets/{OPEN}/versions/1", ALL_OK),
    ("api.dataset_fields", "GET", f"/api/v1/datasets/{CONDITIONAL}/fields", ALL_OK),
    ("api.themes", "GET", "/api/v1/themes", ALL_OK),
    ("api.theme", "GET", "/api/v1/themes/health", ALL_OK),
    ("api.departments", "GET", "/api/v1/departments", ALL_OK),
    ("api.department", "GET", "/api/v1/departments/us-bts", ALL_OK),
    ("api.openapi", "GET", "/api/v1/openapi.json", ALL_OK),
    ("developers.index", "GET", "/developers", dict.fromkeys(ROLES, 302)),
    ("developers.api_reference", "GET", "/developers/api", ALL_OK),
    ("developers.problem_page", "GET", "/developers/problems/rows-not-open", ALL_OK),
    ("developers.problems", "GET", "/developers/problems", dict.fromkeys(ROLES, 302)),
    # CKAN-compatible Action API: reads only; conditional rows refused to everyone.
    ("ckan.api_version", "GET", "/api/3", ALL_OK),
    ("ckan.action", "GET", "/api/3/action/package_list", ALL_OK),
    ("ckan.action", "GET", f"/api/3/action/package_show?id={CONDITIONAL}", ALL_OK),
    ("ckan.action", "POST", "/api/3/action/package_search", ALL_OK),
    ("ckan.action", "GET", f"/api/3/action/datastore_search?resource_id={OPEN}&limit=1", ALL_OK),
    ("ckan.action", "GET", f"/api/3/action/datastore_search?resource_id={CONDITIONAL}", dict.fromkeys(ROLES, 403)),
    ("ckan.action", "POST", "/api/3/action/package_create", dict.fromkeys(ROLES, 400)),
    ("ckan.action_unversioned", "GET", "/api/action/status_show", ALL_OK),
    ("ckan.action_unversioned", "GET", f"/api/action/datastore_search?resource_id={CONDITIONAL}", dict.fromkeys(ROLES, 403)),
    # Harvestable catalog: public documents, the same for every caller.
    ("interop.dcat_catalog", "GET", "/catalog.jsonld", ALL_OK),
    ("interop.data_json", "GET", "/data.json", ALL_OK),
    ("interop.datapackage_json", "GET", f"/datasets/{OPEN}/datapackage.json", ALL_OK),
    ("interop.datapackage_json", "GET", f"/datasets/{CONDITIONAL}/datapackage.json", ALL_OK),
    ("interop.datapackage_json", "GET", "/datasets/no-such-dataset/datapackage.json", dict.fromkeys(ROLES, 404)),
    ("site.feed_all", "GET", "/feeds/datasets.atom", ALL_OK),
    ("site.feed_theme", "GET", "/feeds/themes/health.atom", ALL_OK),
    ("site.feed_theme", "GET", "/feeds/themes/nope.atom", dict.fromkeys(ROLES, 404)),
    ("site.feed_department", "GET", "/feeds/departments/us-bts.atom", ALL_OK),
    ("site.feed_department", "GET", "/feeds/departments/nope.atom", dict.fromkeys(ROLES, 404)),
    ("site.sitemap", "GET", "/sitemap.xml", ALL_OK),
    ("site.robots", "GET", "/robots.txt", ALL_OK),
    ("search.search_page", "GET", "/search?q=航班", ALL_OK),
    ("api.search", "GET", "/api/v1/search?q=flights&theme=transport", ALL_OK),
    ("api.search", "GET", "/api/v1/search?sort=nonsense", dict.fromkeys(ROLES, 400)),
    ("api.search_suggest", "GET", "/api/v1/search/suggest?q=tq", ALL_OK),
    # Conditional access (issue 12): applicants' pages need a sign-in; nobody learns of another's
    # application (404); stewards' pages are stewards' and admins' (the per-application matrix,
    # with a real application and another developer, is tests/security/test_access_matrix.py).
    ("access.apply", "GET", "/access/apply", signed_in(200)),
    ("access.my_applications", "GET", "/access/applications", signed_in(200)),
    ("access.application_page", "GET", "/access/applications/999999", signed_in(404)),
    ("access.submit", "POST", "/access/applications/999999/submit", signed_in(404)),
    ("access.withdraw", "POST", "/access/applications/999999/withdraw", signed_in(404)),
    ("access.renew", "POST", "/access/applications/999999/renew", signed_in(404)),
    ("access.review_queue", "GET", "/steward/applications", stewards_page(200)),
    ("access.approve", "POST", "/steward/applications/999999/approve", dict.fromkeys(ROLES, 404)),
    ("access.refuse", "POST", "/steward/applications/999999/refuse", {**dict.fromkeys(ROLES, 403), "steward": 422, "admin": 422}),
    ("access.grants_page", "GET", "/steward/grants", stewards_page(200)),
    ("access.revoke", "POST", "/steward/grants/999999/revoke", {**dict.fromkeys(ROLES, 403), "steward": 422, "admin": 422}),
    ("analysis.audit_export", "GET", "/audit/runs.csv", {**dict.fromkeys(ROLES, 403), "steward": 200, "admin": 200}),
    ("analysis.audit_run_code", "GET", "/audit/runs/no-such-run/code", stewards_page(404)),
    ("api.applications", "GET", "/api/v1/applications", dict.fromkeys(ROLES, 401)),
    ("api.create_application", "POST", "/api/v1/applications", dict.fromkeys(ROLES, 401)),
    ("api.application", "GET", "/api/v1/applications/1", dict.fromkeys(ROLES, 401)),
    ("api.withdraw_application", "POST", "/api/v1/applications/1/withdraw", dict.fromkeys(ROLES, 401)),
    # The notebook pages (issue 12 item 4): a sign-in, and another person's session is a 404 like an
    # unknown one (with a real session of another developer: tests/integration/analysis/test_notebook_pages.py).
    ("notebook.sessions_page", "GET", "/notebook/", signed_in(200)),
    ("notebook.session_page", "GET", "/notebook/no-such-session", signed_in(404)),
    ("notebook.export", "GET", "/notebook/no-such-session/export.py", signed_in(404)),
    ("notebook.budget", "GET", "/notebook/no-such-session/budget", signed_in(404)),
    # Analysis sessions (issue 12): the notebook's routes answer JSON (401 to anonymous callers,
    # 404 for a session that is not yours); the key routes never read the cookie (401). The
    # per-owner matrix with real sessions is tests/security/test_sessions_matrix.py.
    ("notebook_api.sessions", "GET", "/notebook/api/sessions", {**dict.fromkeys(ROLES, 200), "public": 401}),
    ("notebook_api.create_session", "POST", "/notebook/api/sessions", dict.fromkeys(ROLES, 400)),  # no body
    ("notebook_api.session", "GET", "/notebook/api/sessions/nope", {**dict.fromkeys(ROLES, 404), "public": 401}),
    ("notebook_api.close_session", "DELETE", "/notebook/api/sessions/nope", {**dict.fromkeys(ROLES, 404), "public": 401}),
    ("notebook_api.create_run", "POST", "/notebook/api/sessions/nope/runs", dict.fromkeys(ROLES, 400)),  # no body
    ("notebook_api.run", "GET", "/notebook/api/runs/nope", {**dict.fromkeys(ROLES, 404), "public": 401}),
    ("notebook_api.delete_run", "DELETE", "/notebook/api/runs/nope", {**dict.fromkeys(ROLES, 404), "public": 401}),
    ("sessions.run_queue", "GET", "/audit/queue", stewards_page(200)),
    ("api.analysis_sessions", "GET", "/api/v1/sessions", dict.fromkeys(ROLES, 401)),
    ("api.create_analysis_session", "POST", "/api/v1/sessions", dict.fromkeys(ROLES, 401)),
    ("api.analysis_session", "GET", "/api/v1/sessions/nope", dict.fromkeys(ROLES, 401)),
    ("api.close_analysis_session", "DELETE", "/api/v1/sessions/nope", dict.fromkeys(ROLES, 401)),
    ("api.create_session_run", "POST", "/api/v1/sessions/nope/runs", dict.fromkeys(ROLES, 401)),
    ("api.session_run", "GET", "/api/v1/runs/nope", dict.fromkeys(ROLES, 401)),
    ("api.delete_session_run", "DELETE", "/api/v1/runs/nope", dict.fromkeys(ROLES, 401)),
    # The API never reads the session cookie: a signed-in browser is anonymous there.
    ("api.me", "GET", "/api/v1/me", dict.fromkeys(ROLES, 401)),
    # Last: it ends the session of the rows above.
    ("accounts.logout", "POST", "/logout", dict.fromkeys(ROLES, 302)),
]


def test_every_route_is_in_the_matrix(bundled_app):
    routes = {rule.endpoint for rule in bundled_app.url_map.iter_rules()}
    covered = {row[0] for row in MATRIX}
    assert routes == covered, f"missing from the matrix: {sorted(routes - covered)}; stale: {sorted(covered - routes)}"


@pytest.fixture(scope="module", autouse=True)
def no_disclosure_key(bundled_app):
    """The matrix's expectations are those of an instance without a disclosure key (nothing
    conditional is answered). Browser tests that share `bundled_app` in this process write one,
    and the app keeps the settings it read: which ran first decided the public aggregate's
    status. The key is set aside for this module and put back after."""
    path = key_path(Path(bundled_app.config["INSTANCE_PATH"]))
    saved = path.read_bytes() if path.exists() else None
    path.unlink(missing_ok=True)
    bundled_app.extensions.pop("kaifang.analysis_settings", None)
    yield
    bundled_app.extensions.pop("kaifang.analysis_settings", None)
    if saved is not None:
        path.write_bytes(saved)
        path.chmod(0o600)


@pytest.fixture(scope="module")
def users(bundled_app):
    from portal.accounts import service
    from portal.accounts.models import User

    emails = {}
    with bundled_app.app_context(), session_scope(bundled_app) as session:
        for role in ROLES[1:]:
            email = f"matrix-{role}@example.org"
            if session.query(User).filter_by(email=email).first() is None:
                service.create_user(session, SYSTEM, email=email, password="matrix-password-1", role=role,
                                    department="us-bts" if role == "publisher" else None)
            emails[role] = email
    return emails


def _client(bundled_app, users, role):
    client = bundled_app.test_client()
    if role != "public":
        with bundled_app.app_context(), session_scope(bundled_app) as session:
            from portal.accounts import service
            actor = service.authenticate(session, users[role], "matrix-password-1")
        with client.session_transaction() as flask_session:
            flask_session["user_id"] = actor.user_id
    return client


@pytest.mark.parametrize("role", ROLES)
def test_matrix(bundled_app, users, role):
    bundled_app.config["WTF_CSRF_ENABLED"] = False  # logout's CSRF is tested on its own below
    client = _client(bundled_app, users, role)
    try:
        for endpoint, method, path, expected in MATRIX:
            response = client.open(path, method=method)
            response.close()
            assert response.status_code == expected[role], f"{role} {method} {path} ({endpoint})"
    finally:
        bundled_app.config["WTF_CSRF_ENABLED"] = True


def test_logout_needs_csrf(bundled_app):
    response = bundled_app.test_client().post("/logout")
    assert response.status_code == 400


def test_login_sets_session_and_rejects_wrong_password(bundled_app, users):
    bundled_app.config["WTF_CSRF_ENABLED"] = False
    try:
        client = bundled_app.test_client()
        bad = client.post("/login", data={"email": users["developer"], "password": "wrong-password-1"})
        assert bad.status_code == 200 and "邮箱或密码错误" in bad.text
        good = client.post("/login", data={"email": users["developer"], "password": "matrix-password-1"})
        assert good.status_code == 302
        assert "退出" in client.get("/").text
    finally:
        bundled_app.config["WTF_CSRF_ENABLED"] = True
