"""A 403 seen by an anonymous visitor offers to sign in and come back (issue 13 review: a
steward who had not signed in met a dead end)."""

from __future__ import annotations

from tests.conftest import empty_app


def test_anonymous_403_links_to_sign_in_and_back(tmp_path):
    client = empty_app(tmp_path / "instance").test_client()
    page = client.get("/steward/applications")
    assert page.status_code == 403
    assert 'href="/login?next=/steward/applications"' in page.text
    client.get("/locale/en")
    assert "sign in first" in client.get("/steward/applications").text
