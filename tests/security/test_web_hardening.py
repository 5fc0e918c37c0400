"""The web surface: security headers on every answer, a CSP that no template needs to bend (no
inline script, handler or style), the session cookie's flags, and the request-size cap."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import empty_app

TEMPLATES = Path(__file__).resolve().parents[2] / "portal" / "templates"


@pytest.mark.parametrize("path", ["/", "/login", "/register", "/datasets/nyc-flights-2013", "/api/v1/datasets",
                                  "/api/v1/nope"])
def test_security_headers(bundled_client, path):
    headers = bundled_client.get(path).headers
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "Strict-Transport-Security" not in headers  # plain HTTP, FORCE_HTTPS off


def test_templates_have_no_inline_script_or_style():
    inline = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=|\sstyle\s*=|<style", re.I)
    offenders = [f"{p.relative_to(TEMPLATES)}: {m.group(0)}" for p in TEMPLATES.rglob("*.html")
                 for m in inline.finditer(p.read_text(encoding="utf-8"))]
    assert not offenders, offenders


def test_session_cookie_flags_over_http_and_https(app):
    from tests import factories
    from tests.integration.accounts.forms import TOKEN

    email = factories.user(app, "developer")
    for base, secure in (("http://localhost", False), ("https://localhost", True)):
        client = app.test_client()
        token = TOKEN.search(client.get("/login", base_url=base).text)
        # Flask-WTF checks the Referer over HTTPS, as a browser sends it.
        response = client.post("/login", base_url=base, headers={"Referer": f"{base}/login"}, data={"email": email, "password": factories.PASSWORD,
                                                              "csrf_token": token.group(1) or token.group(2)})
        cookie = response.headers["Set-Cookie"]
        assert response.status_code == 302
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and ("Secure" in cookie) is secure


def test_secure_cookie_behind_a_trusted_https_proxy(tmp_path):
    app = empty_app(tmp_path / "inst", PROXY_TRUSTED_HOPS=1)
    response = app.test_client().get("/locale/en", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"})
    assert "Secure" in response.headers["Set-Cookie"]


def test_force_https_redirects_and_sends_hsts(tmp_path):
    app = empty_app(tmp_path / "inst", FORCE_HTTPS=True)
    client = app.test_client()
    redirect = client.get("/about")
    assert redirect.status_code in (301, 302) and redirect.headers["Location"].startswith("https://")
    assert "max-age=" in client.get("/about", base_url="https://localhost").headers["Strict-Transport-Security"]


def test_oversized_bodies_answer_413(tmp_path):
    app = empty_app(tmp_path / "inst", MAX_CONTENT_LENGTH=1000)
    client = app.test_client()
    page = client.post("/login", data={"email": "x@example.org", "password": "p" * 5000})
    assert page.status_code == 413 and page.mimetype == "text/html"
    api = client.post("/login", data={"email": "x" * 5000}, headers={"Accept": "application/json"})
    assert api.status_code == 413 and api.json["code"] == "too-large"
