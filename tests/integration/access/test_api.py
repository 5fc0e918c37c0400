"""Applications over API v1 with a `sandbox:run` key: list, create, get, withdraw; another key's
applications are 404; the OpenAPI document declares the routes."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from portal.access import reviews
from portal.access.schemas import ApprovalScope, DatasetScope
from portal.auth import SYSTEM
from portal.db import session_scope
from tests import factories

CLINIC = "clinic-visits-synthetic"
BODY = {"datasets": [CLINIC], "purpose": "mobility of care", "organisation": "Tianjin University",
        "applicant_name": "王五", "document_type": "resident", "id_number": factories.resident_id(7),
        "fields_wanted": "district", "intended_outputs": "one table", "duration_days": 30}


@pytest.fixture
def key(access_app):
    def make(scopes=("sandbox:run",), role="developer"):
        return factories.api_key(access_app, factories.user(access_app, role), scopes=scopes)
    return make


def call(client, method, path, key=None, **kwargs):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)


def test_create_list_get_withdraw(access_app, key):
    client, mine = access_app.test_client(), key()
    made = call(client, "POST", "/applications", mine, json=BODY)
    assert made.status_code == 201, made.json
    body = made.json
    assert body["state"] == "submitted" and body["datasets"] == [CLINIC] and body["due_at"]
    assert made.headers["Location"].endswith(f"/api/v1/applications/{body['id']}")
    listed = call(client, "GET", "/applications", mine).json
    assert [a["id"] for a in listed] == [body["id"]]
    one = call(client, "GET", f"/applications/{body['id']}", mine).json
    assert [(e["from_state"], e["to_state"]) for e in one["events"]] == [("", "draft"), ("draft", "submitted")]
    gone = call(client, "POST", f"/applications/{body['id']}/withdraw", mine, json={"reason": "done"})
    assert gone.status_code == 200 and gone.json["state"] == "withdrawn"
    again = call(client, "POST", f"/applications/{body['id']}/withdraw", mine, json={})
    assert again.status_code == 409 and again.mimetype == "application/problem+json"


def test_a_draft_stays_a_draft(access_app, key):
    made = call(access_app.test_client(), "POST", "/applications", key(), json={**BODY, "submit": False})
    assert made.status_code == 201 and made.json["state"] == "draft" and made.json["due_at"] is None


def test_another_keys_applications_are_not_found(access_app, key):
    client = access_app.test_client()
    made = call(client, "POST", "/applications", key(), json=BODY).json
    other = key()
    assert call(client, "GET", f"/applications/{made['id']}", other).status_code == 404
    assert call(client, "POST", f"/applications/{made['id']}/withdraw", other, json={}).status_code == 404
    assert call(client, "GET", "/applications", other).json == []


def test_times_are_utc_with_a_zone_as_the_sessions_write_them(access_app, key):
    client, mine = access_app.test_client(), key()
    made = call(client, "POST", "/applications", mine, json=BODY).json
    listed = call(client, "GET", "/applications", mine).json[0]
    one = call(client, "GET", f"/applications/{made['id']}", mine).json
    for found in (made, listed, one):
        assert found["created_at"].endswith("Z") and found["submitted_at"].endswith("Z"), found
        assert found["due_at"].endswith("Z") and found["decided_at"] is None
    assert all(e["at"].endswith("Z") for e in one["events"]) and one["events"]


def test_a_grants_times_are_utc_with_a_zone(access_app, key):
    client, mine = access_app.test_client(), key()
    made = call(client, "POST", "/applications", mine, json=BODY).json
    with access_app.app_context(), session_scope(access_app) as session:  # a steward decides on the pages
        reviews.approve_application(session, SYSTEM, made["id"], ApprovalScope(
            (DatasetScope(CLINIC),), date.today() + timedelta(days=30)))
    for found in (call(client, "GET", "/applications", mine).json[0],
                  call(client, "GET", f"/applications/{made['id']}", mine).json):
        assert found["decided_at"].endswith("Z")
        (grant,) = found["grants"]
        assert grant["created_at"].endswith("Z") and grant["expires_at"].endswith("Z") and grant["revoked_at"] is None
    gone = call(client, "POST", f"/applications/{made['id']}/withdraw", mine, json={}).json
    assert gone["grants"][0]["revoked_at"].endswith("Z")


def test_a_list_item_has_no_history_one_application_has(access_app, key):
    client, mine = access_app.test_client(), key()
    made = call(client, "POST", "/applications", mine, json=BODY).json
    assert "events" not in made and "events" not in call(client, "GET", "/applications", mine).json[0]
    assert len(call(client, "GET", f"/applications/{made['id']}", mine).json["events"]) == 2


def test_the_openapi_document_has_events_on_one_application_only(access_app):
    document = access_app.test_client().get("/api/v1/openapi.json").json
    paths, schemas = document["paths"], document["components"]["schemas"]

    def shape(operation):
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        schema = schema.get("items", schema)
        return schemas[schema["$ref"].rsplit("/", 1)[-1]]

    assert "events" not in shape(paths["/api/v1/applications"]["get"])["properties"]
    assert "events" in shape(paths["/api/v1/applications/{application_id}"]["get"])["properties"]


@pytest.mark.parametrize(("body", "status", "code"), [
    ({**BODY, "datasets": ["nyc-flights-2013"]}, 422, "invalid"),
    ({**BODY, "duration_days": 0}, 400, "bad-body"),
    ({**BODY, "surprise": 1}, 400, "bad-body"),
    ({k: v for k, v in BODY.items() if k != "purpose"}, 400, "bad-body"),
])
def test_bad_bodies_are_problems(access_app, key, body, status, code):
    answer = call(access_app.test_client(), "POST", "/applications", key(), json=body)
    assert answer.status_code == status and answer.mimetype == "application/problem+json"
    assert answer.json["code"] == code


def test_keys_without_the_scope_and_anonymous_callers_are_refused(access_app, key):
    client = access_app.test_client()
    assert call(client, "GET", "/applications").status_code == 401
    assert call(client, "POST", "/applications", json=BODY).status_code == 401
    narrow = key(scopes=("catalog:read",))
    assert call(client, "GET", "/applications", narrow).status_code == 403
    assert call(client, "POST", "/applications", narrow, json=BODY).status_code == 403


def test_the_openapi_document_declares_the_routes(access_app):
    paths = access_app.test_client().get("/api/v1/openapi.json").json["paths"]
    assert set(paths["/api/v1/applications"]) == {"get", "post"}
    post = paths["/api/v1/applications"]["post"]
    assert post["x-scope"] == "sandbox:run" and "201" in post["responses"]
    assert "purpose" in post["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert "post" in paths["/api/v1/applications/{application_id}/withdraw"]
    assert "get" in paths["/api/v1/applications/{application_id}"]
