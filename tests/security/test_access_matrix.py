"""Conditional access, route × role → status, on a real application of one developer: the
applicant, another developer, a publisher, a steward, an admin and an anonymous visitor. A
developer never sees or changes another's application (404, as if it did not exist); decisions
are stewards' and admins'. Each case gets a fresh application, so writes do not interfere."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from portal.access import reviews
from portal.access.models import Grant
from portal.access.schemas import ApplicationDraft, ApprovalScope, DatasetScope
from portal.accounts import service as accounts
from portal.auth import SYSTEM
from portal.db import session_scope
from tests import factories

CLINIC = "clinic-visits-synthetic"
ROLES = ("public", "owner", "other", "publisher", "steward", "admin")
STEWARDS = {"steward": 302, "admin": 302}


def by_role(public, owner, other, publisher, steward, admin) -> dict[str, int]:
    return dict(zip(ROLES, (public, owner, other, publisher, steward, admin), strict=True))


def approve_data() -> dict:
    return {f"approve-{CLINIC}": "1", f"version-{CLINIC}": "1", f"all-columns-{CLINIC}": "1",
            "expires_on": (date.today() + timedelta(days=10)).isoformat(), "daily_cell_budget": "100"}


# (name, method, path with {app} / {grant}, form data, needs a grant, {role: status})
CASES = [
    ("view", "GET", "/access/applications/{app}", {}, False, by_role(302, 200, 404, 404, 200, 200)),
    ("withdraw", "POST", "/access/applications/{app}/withdraw", {}, False, by_role(302, 302, 404, 404, 404, 404)),
    ("renew-submitted", "POST", "/access/applications/{app}/renew", {}, False, by_role(302, 409, 404, 404, 404, 404)),
    ("submit-again", "POST", "/access/applications/{app}/submit", {}, False, by_role(302, 409, 404, 404, 404, 404)),
    ("approve", "POST", "/steward/applications/{app}/approve", approve_data(), False,
     by_role(404, 403, 404, 404, 302, 302)),
    ("refuse", "POST", "/steward/applications/{app}/refuse", {"reason": "no"}, False,
     by_role(403, 403, 403, 403, 302, 302)),
    ("revoke", "POST", "/steward/grants/{grant}/revoke", {"reason": "misuse"}, True,
     by_role(403, 403, 403, 403, 302, 302)),
    ("queue", "GET", "/steward/applications", {}, False, by_role(302, 403, 403, 403, 200, 200)),  # anonymous: sign in
    ("grants", "GET", "/steward/grants", {}, False, by_role(302, 403, 403, 403, 200, 200)),
    ("audit-csv", "GET", "/audit/runs.csv", {}, False, by_role(403, 403, 403, 403, 200, 200)),
    ("mine", "GET", "/access/applications", {}, False, by_role(302, 200, 200, 200, 200, 200)),
]


@pytest.fixture(scope="module")
def people(bundled_app):
    roles = {"owner": "developer", "other": "developer", "publisher": "publisher", "steward": "steward", "admin": "admin"}
    return {name: factories.user(bundled_app, role) for name, role in roles.items()}


def _application(app, owner: str, *, approved: bool) -> tuple[int, int | None]:
    with app.app_context(), session_scope(app) as session:
        actor = accounts.actor_for(session, accounts.user_by_email(session, owner).id)
        made = factories.apply_for(session, actor, ApplicationDraft((CLINIC,), "matrix purpose", "org", 10), review_days=2)
        if not approved:
            return made.application.id, None
        reviews.approve_application(session, SYSTEM, made.application.id, ApprovalScope(
            (DatasetScope(CLINIC),), date.today() + timedelta(days=5)))
        return made.application.id, session.scalar(select(Grant.id).where(Grant.application_id == made.application.id))


def _client(app, people, role):
    client = app.test_client()
    if role != "public":
        with app.app_context(), session_scope(app) as session:
            user_id = accounts.user_by_email(session, people[role]).id
        with client.session_transaction() as flask_session:
            flask_session["user_id"] = user_id
    return client


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_access_matrix(bundled_app, people, role, case):
    name, method, path, data, needs_grant, expected = case
    app_id, grant_id = _application(bundled_app, people["owner"], approved=needs_grant)
    bundled_app.config["WTF_CSRF_ENABLED"] = False  # CSRF: tests/integration/access/test_lifecycle.py
    try:
        response = _client(bundled_app, people, role).open(path.format(app=app_id, grant=grant_id), method=method,
                                                           data=data)
    finally:
        bundled_app.config["WTF_CSRF_ENABLED"] = True
    assert response.status_code == expected[role], f"{role} {method} {path} ({name}): {response.text[:300]}"


def test_no_developer_sees_anothers_application_anywhere(bundled_app, people):
    app_id, _ = _application(bundled_app, people["owner"], approved=False)
    other = _client(bundled_app, people, "other")
    mine = other.get("/access/applications").text
    assert f"/access/applications/{app_id}\"" not in mine and people["owner"] not in mine
    assert other.get(f"/access/applications/{app_id}").status_code == 404
    other_key = factories.api_key(bundled_app, people["other"], scopes=["sandbox:run"])
    api = bundled_app.test_client()
    headers = {"Authorization": f"Bearer {other_key}"}
    assert api.get(f"/api/v1/applications/{app_id}", headers=headers).status_code == 404
    assert all(a["id"] != app_id for a in api.get("/api/v1/applications", headers=headers).json)
    owner_key = factories.api_key(bundled_app, people["owner"], scopes=["sandbox:run"])
    assert api.get(f"/api/v1/applications/{app_id}", headers={"Authorization": f"Bearer {owner_key}"}).status_code == 200


def test_stewards_see_every_application_in_the_queue(bundled_app, people):
    app_id, _ = _application(bundled_app, people["owner"], approved=False)
    queue = _client(bundled_app, people, "steward").get("/steward/applications").text
    assert f"/access/applications/{app_id}\"" in queue and people["owner"] in queue
