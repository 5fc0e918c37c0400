"""The public site's language on a first visit follows the browser's Accept-Language; the
visitor's explicit choice (`/locale/<code>`, kept in the session cookie) wins over it; and every
answer that depends on it says `Vary: Accept-Language`, with an ETag of its own per language.
Before, only the choice counted: a first visit from an English browser was in Chinese."""

from __future__ import annotations

import pytest


def _lang(page) -> str:
    return page.text.split("<html lang=\"", 1)[1].split("\"", 1)[0]


@pytest.mark.parametrize(("asked", "lang"), [
    ("en-US,en;q=0.9", "en"),
    ("en-GB", "en"),
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
    ("zh-TW,zh;q=0.9", "zh-CN"),  # any Chinese: the site's Chinese
    ("fr-FR,fr;q=0.9,en;q=0.5", "en"),
    ("fr-FR", "zh-CN"),  # neither: the default
    (None, "zh-CN"),
])
def test_a_first_visit_follows_accept_language(bundled_app, asked, lang):
    client = bundled_app.test_client()
    page = client.get("/", headers={"Accept-Language": asked} if asked else {})
    assert page.status_code == 200 and _lang(page) == lang
    assert "Accept-Language" in page.headers.get("Vary", "")
    assert "Cookie" in page.headers.get("Vary", "")  # the explicit choice is in the cookie


def test_the_visitors_choice_wins_over_the_browser(bundled_app):
    client = bundled_app.test_client()
    english = {"Accept-Language": "en-US,en;q=0.9"}
    assert _lang(client.get("/about", headers=english)) == "en"
    client.get("/locale/zh_CN?next=/about", headers=english)
    assert _lang(client.get("/about", headers=english)) == "zh-CN"
    chinese = {"Accept-Language": "zh-CN"}
    client.get("/locale/en?next=/about", headers=chinese)
    assert _lang(client.get("/about", headers=chinese)) == "en"


def test_a_cached_answer_has_an_etag_per_language(bundled_app):
    """The Atom feed is cached (`public, max-age=300`) and revalidated by its ETag: an English
    copy must not be confirmed to a Chinese visitor, nor the other way round."""
    client = bundled_app.test_client()
    english = client.get("/feeds/datasets.atom", headers={"Accept-Language": "en"})
    chinese = client.get("/feeds/datasets.atom", headers={"Accept-Language": "zh-CN"})
    assert english.status_code == chinese.status_code == 200
    assert 'xml:lang="en"' in english.text and 'xml:lang="zh-CN"' in chinese.text
    for response in (english, chinese):
        assert "Accept-Language" in response.headers["Vary"]
    assert english.headers["ETag"] != chinese.headers["ETag"]
    again = client.get("/feeds/datasets.atom", headers={"Accept-Language": "zh-CN",
                                                         "If-None-Match": english.headers["ETag"]})
    assert again.status_code == 200 and 'xml:lang="zh-CN"' in again.text
    same = client.get("/feeds/datasets.atom", headers={"Accept-Language": "en",
                                                        "If-None-Match": english.headers["ETag"]})
    assert same.status_code == 304


def test_answers_in_one_language_for_everyone_do_not_vary(bundled_app):
    """Only what the language chose says so: data.json and the sitemap are the same for all."""
    client = bundled_app.test_client()
    for path in ("/data.json", "/sitemap.xml"):
        response = client.get(path, headers={"Accept-Language": "en"})
        assert response.status_code == 200
        assert "Accept-Language" not in response.headers.get("Vary", "")
