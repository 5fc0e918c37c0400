"""A first visit in Chromium follows the browser's language; the visitor's choice then wins over
it for the rest of the visit. Screenshots go to tests/artifacts/."""

from __future__ import annotations

import pytest

from tests.browser.conftest import shot

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(("browser_locale", "first", "switch", "then"), [
    ("en-US", "en", "中文", "zh-CN"),
    ("zh-CN", "zh-CN", "English", "en"),
])
def test_the_first_visit_follows_the_browser_and_the_choice_wins(browser, live_server, browser_locale, first,
                                                                 switch, then):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=browser_locale)
    page = context.new_page()
    try:
        response = page.goto(live_server + "/datasets")
        assert "Accept-Language" in response.headers.get("vary", "")
        assert page.get_attribute("html", "lang") == first
        shot(page, f"first-visit-{browser_locale}")
        page.get_by_role("link", name=switch, exact=True).click()
        page.wait_for_load_state()
        assert page.get_attribute("html", "lang") == then
        page.goto(live_server + "/about")  # the choice is kept for the visit, whatever the browser says
        assert page.get_attribute("html", "lang") == then
    finally:
        context.close()
