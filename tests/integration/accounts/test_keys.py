"""API keys from the account page and the CLI: shown once, stored as a hash, scoped, revoked,
rotated, re-tiered; their calls counted per day off the request path."""

from __future__ import annotations

import re

from click.testing import CliRunner
from sqlalchemy import select

from portal.accounts.models import ApiKey, ApiKeyUsage
from portal.cli import main
from portal.db import session_scope
from tests import factories
from tests.integration.accounts.forms import post_form

KEY = re.compile(r"kf_[0-9a-f]{10}_[A-Za-z0-9_-]{30,}")


def _make_key_on_page(client, **data):
    response = post_form(client, "/account/keys", {"name": "my app", "scopes": ["catalog:read", "rows:read"], **data},
                         form_page="/account")
    assert response.status_code == 201, response.text
    return response, KEY.search(response.text).group(0)


def _rows(app, model):
    with app.app_context(), session_scope(app) as session:
        return session.scalars(select(model)).all()


def test_key_is_shown_once_and_stored_as_a_hash(app, login_as):
    client = login_as("developer")
    response, key = _make_key_on_page(client, expires_days="30")
    assert response.headers["Cache-Control"] == "no-store"
    (row,) = _rows(app, ApiKey)
    assert key not in (row.secret_hash, row.prefix) and key.split("_")[1] == row.prefix and len(row.secret_hash) == 64
    assert row.scopes == ["catalog:read", "rows:read"] and row.tier == "developer" and row.expires_at is not None
    page = client.get("/account").text
    assert key not in page and row.prefix in page
    assert "Set-Cookie" not in response.headers or key not in response.headers["Set-Cookie"]


def test_both_headers_authenticate(app, api_key):
    key = api_key(scopes=["catalog:read"])
    client = app.test_client()
    for headers in ({"Authorization": f"Bearer {key}"}, {"X-API-Key": key}):
        me = client.get("/api/v1/me", headers=headers)
        assert me.status_code == 200 and me.json["key"]["prefix"] == key.split("_")[1]
        assert me.json["key"]["scopes"] == ["catalog:read"] and me.json["key"]["limits"] == "600/minute;100000/day"


def test_me_answers_any_valid_key_and_is_documented(app, api_key):
    """The account page's first example call: any key may check itself, whatever its scopes."""
    client = app.test_client()
    me = client.get("/api/v1/me", headers={"X-API-Key": api_key(scopes=["sandbox:run"])})
    assert me.status_code == 200 and me.json["key"]["scopes"] == ["sandbox:run"]
    assert me.json["user"]["role"] == "developer"
    anonymous = client.get("/api/v1/me")
    assert anonymous.status_code == 401 and anonymous.json["code"] == "key-required"
    assert client.get("/api/v1/me?x=1", headers={"X-API-Key": api_key()}).json["code"] == "unknown-parameter"
    operation = client.get("/api/v1/openapi.json").json["paths"]["/api/v1/me"]["get"]
    assert operation["security"] == [{"ApiKey": []}, {"Bearer": []}] and "401" in operation["responses"]


def test_revoke_and_rotate_from_the_page(app, login_as):
    client = login_as("developer")
    api = app.test_client()
    _, first = _make_key_on_page(client)
    assert api.get("/api/v1/me", headers={"X-API-Key": first}).status_code == 200  # now cached
    prefix = first.split("_")[1]
    rotated = post_form(client, f"/account/keys/{prefix}/rotate", {}, form_page="/account")
    assert rotated.status_code == 201 and rotated.headers["Cache-Control"] == "no-store"
    second = KEY.search(rotated.text).group(0)
    assert api.get("/api/v1/me", headers={"X-API-Key": first}).json["code"] == "invalid-key"
    assert api.get("/api/v1/me", headers={"X-API-Key": second}).status_code == 200
    revoked = post_form(client, f"/account/keys/{second.split('_')[1]}/revoke", {}, form_page="/account")
    assert revoked.status_code == 302
    assert "revoked" in api.get("/api/v1/me", headers={"X-API-Key": second}).json["detail"]
    assert "已吊销" in client.get("/account").text


def test_nobody_touches_another_accounts_key(app, login_as, api_key):
    key = api_key()
    other = login_as("developer")
    response = post_form(other, f"/account/keys/{key.split('_')[1]}/revoke", {}, form_page="/account")
    assert response.status_code == 404
    assert app.test_client().get("/api/v1/me", headers={"X-API-Key": key}).status_code == 200


def test_bad_key_forms_are_refused(login_as):
    client = login_as("developer")
    for data in ({"name": "", "scopes": "rows:read"}, {"name": "x", "scopes": "admin:all"},
                 {"name": "x", "scopes": "rows:read", "expires_days": "0"}):
        response = post_form(client, "/account/keys", data, form_page="/account")
        assert response.status_code == 400, data
        assert not KEY.search(response.text)


def test_calls_are_counted_in_batches_and_shown_per_day(app, login_as):
    client = login_as("developer")
    _, key = _make_key_on_page(client)
    api = app.test_client()
    for _ in range(5):
        assert api.get("/api/v1/datasets", headers={"X-API-Key": key}).status_code == 200
    assert api.get("/api/v1/datasets/nope", headers={"X-API-Key": key}).status_code == 404
    # Nothing was written on the request path...
    assert _rows(app, ApiKeyUsage) == [] and _rows(app, ApiKey)[0].last_used_at is None
    # ...until the buffer is flushed (by its thread, or here by the usage page).
    page = client.get("/account/usage")
    (usage,) = _rows(app, ApiKeyUsage)
    assert usage.calls == 6 and _rows(app, ApiKey)[0].last_used_at is not None
    assert page.status_code == 200 and 'data-usage="[{&#34;calls&#34;: 6' in page.text
    assert "js/usage.js" in page.text and "UTC" in client.get("/account").text


def test_buffer_flushes_on_its_own(tmp_path, api_key):
    import time

    from tests.conftest import empty_app

    app = empty_app(tmp_path / "inst", USAGE_FLUSH_SECONDS=1)
    key = api_key(app=app)
    app.test_client().get("/api/v1/datasets", headers={"X-API-Key": key})
    deadline = time.monotonic() + 30
    while not _rows(app, ApiKeyUsage) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [u.calls for u in _rows(app, ApiKeyUsage)] == [1]


def test_counts_add_up_over_flushes(app, api_key):
    key = api_key()
    buffer = app.extensions["kaifang.usage"]
    api = app.test_client()
    api.get("/api/v1/datasets", headers={"X-API-Key": key})
    assert buffer.flush() == 1
    api.get("/api/v1/datasets", headers={"X-API-Key": key})
    api.get("/api/v1/datasets", headers={"X-API-Key": key})
    assert buffer.flush() == 1 and buffer.flush() == 0
    assert [u.calls for u in _rows(app, ApiKeyUsage)] == [3]


def _cli(app, monkeypatch, *args):
    monkeypatch.setenv("KAIFANG_INSTANCE", app.instance_path)
    monkeypatch.setenv("KAIFANG_SECRET_KEY", "cli-test")
    return CliRunner().invoke(main, list(args))


def test_cli_create_revoke_and_set_tier(app, monkeypatch):
    email = factories.user(app, "developer")
    made = _cli(app, monkeypatch, "create-key", email, "--name", "etl job", "--scopes", "rows:read,catalog:read",
                "--expires", "7")
    assert made.exit_code == 0, made.output
    key = made.stdout.strip()
    assert KEY.fullmatch(key) and "never expires" not in made.stderr
    prefix = key.split("_")[1]
    assert app.test_client().get("/api/v1/me", headers={"X-API-Key": key}).json["key"]["tier"] == "developer"
    tier = _cli(app, monkeypatch, "set-tier", prefix, "partner")
    assert tier.exit_code == 0 and "partner" in tier.output
    assert _cli(app, monkeypatch, "set-tier", prefix, "gold").exit_code != 0
    assert _rows(app, ApiKey)[0].tier == "partner"
    revoked = _cli(app, monkeypatch, "revoke-key", prefix)
    assert revoked.exit_code == 0 and _rows(app, ApiKey)[0].revoked_at is not None
    assert _cli(app, monkeypatch, "create-key", email, "--name", "x", "--scopes", "root").exit_code != 0
    assert _cli(app, monkeypatch, "create-key", "nobody@example.org", "--name", "x", "--scopes", "rows:read").exit_code != 0
