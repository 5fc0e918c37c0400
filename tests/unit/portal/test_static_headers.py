"""Security headers kept per view (decision 0021d) are exactly Talisman's own, and the session
serializer kept per app follows a change of secret key."""

from __future__ import annotations

import pytest
from flask import Response
from flask_talisman import Talisman
from itsdangerous import BadSignature

from portal.extensions import talisman
from tests.conftest import empty_app


def _talisman_own(app, path: str) -> list[tuple[str, str]]:
    with app.test_request_context(path):
        app.preprocess_request()
        response = Talisman._set_response_headers(talisman, Response("x"))
    return sorted(response.headers.items())


def test_kept_headers_are_talismans_own_for_pages_api_and_unknown_paths(tmp_path):
    app = empty_app(tmp_path / "inst", MAP_TILE_URL="https://tiles.example.org/{z}/{x}/{y}.png")
    client = app.test_client()
    for path in ("/about", "/api/v1/themes", "/no/such/page", "/about"):  # the second /about is served from the cache
        served = client.get(path)
        expected = dict(_talisman_own(app, path))
        assert {name: served.headers.get(name) for name in expected if name not in ("Content-Length", "Content-Type")} \
            == {name: value for name, value in expected.items() if name not in ("Content-Length", "Content-Type")}
        assert "https://tiles.example.org" in served.headers["Content-Security-Policy"]


def test_hsts_is_still_decided_per_request(tmp_path):
    app = empty_app(tmp_path / "inst", FORCE_HTTPS=True)
    client = app.test_client()
    assert "max-age=" in client.get("/about", base_url="https://localhost").headers["Strict-Transport-Security"]
    assert "Strict-Transport-Security" not in client.get("/about").headers  # the redirect to HTTPS


def test_a_new_app_gets_its_own_headers(tmp_path):
    first = empty_app(tmp_path / "one", MAP_TILE_URL="https://one.example.org/{z}/{x}/{y}.png")
    assert "https://one.example.org" in first.test_client().get("/about").headers["Content-Security-Policy"]
    second = empty_app(tmp_path / "two", MAP_TILE_URL="")
    policy = second.test_client().get("/about").headers["Content-Security-Policy"]
    assert "one.example.org" not in policy and "img-src 'self' data:;" in policy


def test_session_serializer_follows_the_secret_key(tmp_path):
    app = empty_app(tmp_path / "inst")
    interface = app.session_interface
    first = interface.get_signing_serializer(app)
    assert interface.get_signing_serializer(app) is first
    signed = first.dumps({"locale": "en"})
    app.secret_key = "another secret key of enough length"
    second = interface.get_signing_serializer(app)
    assert second is not first
    assert second.loads(second.dumps({"locale": "en"})) == {"locale": "en"}
    with pytest.raises(BadSignature):  # a cookie signed with the old key is refused
        second.loads(signed)
