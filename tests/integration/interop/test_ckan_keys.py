"""CKAN clients' keys: `X-CKAN-API-Key` and a bare `Authorization: <key>` are keys on the CKAN API
(the real `ckanapi` with `apikey=` sends both); a bad key there is CKAN's 403 Authorization Error
in its envelope, while /api/v1 keeps its 401 problem and its stricter headers."""

from __future__ import annotations

import pytest
from ckanapi import NotAuthorized, RemoteCKAN

from portal.accounts import keys as key_service
from portal.auth import SYSTEM
from portal.db import session_scope
from tests import factories

OPEN = "nyc-flights-2013"


@pytest.fixture(scope="module")
def made(bundled_app):
    developer = factories.user(bundled_app, "developer")
    keys = {scope: factories.api_key(bundled_app, developer, scopes=[scope]) for scope in ("catalog:read", "rows:read")}
    keys["revoked"] = factories.api_key(bundled_app, developer, scopes=["catalog:read", "rows:read"])
    with bundled_app.app_context(), session_scope(bundled_app) as session:
        key_service.revoke_key(session, SYSTEM, keys["revoked"].split("_")[1])
    return keys


def _rows(client):
    return client.action.datastore_search(resource_id=OPEN, limit=2)


@pytest.mark.parametrize("get_only", [False, True])
def test_ckanapi_with_apikey_is_a_key_holder(live_url, made, get_only):
    with RemoteCKAN(live_url, apikey=made["rows:read"], get_only=get_only) as client:
        assert len(_rows(client)["records"]) == 2
    with RemoteCKAN(live_url, apikey=made["catalog:read"], get_only=get_only) as client:
        assert OPEN in client.action.package_list()
        with pytest.raises(NotAuthorized):  # anonymous may read these rows; this key lacks rows:read
            _rows(client)
    with RemoteCKAN(live_url, get_only=get_only) as client:
        assert len(_rows(client)["records"]) == 2


@pytest.mark.parametrize("key", ["revoked", "kf_0123456789_" + "y" * 40, "not-a-key"])
def test_ckanapi_with_a_bad_key_is_not_authorized(live_url, made, key):
    with RemoteCKAN(live_url, apikey=made.get(key, key)) as client, pytest.raises(NotAuthorized) as raised:
        client.action.package_list()
    assert "Access denied" in str(raised.value)


@pytest.mark.parametrize("headers", [lambda k: {"X-CKAN-API-Key": k}, lambda k: {"Authorization": k},
                                     lambda k: {"Authorization": f"Bearer {k}"}])
def test_ckan_headers_count_against_the_key(bundled_client, made, headers):
    response = bundled_client.get("/api/3/action/package_list", headers=headers(made["catalog:read"]))
    assert response.status_code == 200 and response.json["success"] is True
    assert '"day"' in response.headers["RateLimit-Policy"]  # the key's tier, not the address's limit


def test_a_revoked_key_gets_ckans_envelope_with_403(bundled_client, made):
    response = bundled_client.get("/api/3/action/package_show?id=" + OPEN, headers={"X-CKAN-API-Key": made["revoked"]})
    assert response.status_code == 403 and response.mimetype == "application/json"
    assert response.json["success"] is False
    assert response.json["error"]["__type"] == "Authorization Error"
    assert "revoked" in response.json["error"]["message"]


@pytest.mark.parametrize("headers", [lambda k: {"X-CKAN-API-Key": k}, lambda k: {"Authorization": k}])
def test_api_v1_keeps_its_own_headers_and_problems(bundled_client, made, headers):
    ckan_style = bundled_client.get("/api/v1/me", headers=headers(made["catalog:read"]))
    if "Authorization" in headers("x"):
        assert ckan_style.status_code == 401 and ckan_style.mimetype == "application/problem+json"
    else:
        assert ckan_style.status_code == 401 and ckan_style.json["code"] == "key-required"  # not read here
    revoked = bundled_client.get("/api/v1/datasets", headers={"X-API-Key": made["revoked"]})
    assert revoked.status_code == 401 and revoked.json["code"] == "invalid-key"
