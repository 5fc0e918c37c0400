"""An anonymous visitor to a stewards' page is sent to sign in and back, as on every sign-in-only
page (a signed-in visitor without the role still gets 403); a 403 an anonymous visitor still
meets (the audit's CSV download) offers to sign in and come back (issue 13 review: a steward who
had not signed in met a dead end)."""

from __future__ import annotations

import pytest

from tests.conftest import empty_app

PAGES = ("/steward/applications", "/steward/grants", "/audit/runs", "/audit/runs?flagged=1",
         "/audit/runs/no-such-run", "/audit/runs/no-such-run/code", "/audit/queue")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    return empty_app(tmp_path_factory.mktemp("forbidden") / "instance")


@pytest.mark.parametrize("page", PAGES)
def test_an_anonymous_visitor_to_a_stewards_page_is_sent_to_sign_in_and_back(app, page):
    answer = app.test_client().get(page)
    path, _, query = page.partition("?")
    assert answer.status_code == 302  # as /account's: /login?next=/account?
    assert answer.headers["Location"] == f"/login?next={path}?{query.replace('=', '%3D')}"


@pytest.mark.parametrize("page", PAGES)
def test_a_signed_in_visitor_without_the_role_still_gets_403(app, login_as, page):
    assert login_as("developer", app=app).get(page).status_code == 403


def test_anonymous_403_links_to_sign_in_and_back(app):
    client = app.test_client()
    page = client.get("/audit/runs.csv")
    assert page.status_code == 403
    assert 'href="/login?next=/audit/runs.csv"' in page.text
    client.get("/locale/en")
    assert "sign in first" in client.get("/audit/runs.csv").text
