"""The map's tile setting widens the CSP by exactly its origin, and an empty setting by nothing."""

from __future__ import annotations

import pytest

from portal.extensions import CSP, content_security_policy


def test_no_tile_url_keeps_the_strict_policy():
    assert content_security_policy("") == CSP


@pytest.mark.parametrize(("url", "origin"), [
    ("https://tiles.example.org/{z}/{x}/{y}.png", "https://tiles.example.org"),
    ("https://{s}.tile.example.org/{z}/{x}/{y}.png", "https://*.tile.example.org"),
])
def test_a_tile_url_adds_only_its_origin_to_images(url, origin):
    policy = content_security_policy(url)
    assert policy["img-src"] == f"{CSP['img-src']} {origin}"
    assert {k: v for k, v in policy.items() if k != "img-src"} == {k: v for k, v in CSP.items() if k != "img-src"}


@pytest.mark.parametrize("url", ["javascript:alert(1)", "tiles/{z}/{x}/{y}.png", "data:image/png;base64,AAAA"])
def test_odd_tile_urls_add_nothing(url):
    assert content_security_policy(url) == CSP


def test_tile_settings_reach_the_map(tmp_path):
    from tests.conftest import empty_app

    app = empty_app(tmp_path / "instance", MAP_TILE_URL="https://tiles.example.org/{z}/{x}/{y}.png")
    response = app.test_client().get("/about")
    assert "https://tiles.example.org" in response.headers["Content-Security-Policy"]
