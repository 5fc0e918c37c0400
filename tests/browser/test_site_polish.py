"""Issue 13's last details in Chromium at 1366 and 390 px, both languages: the home search box
shows its whole placeholder on a phone, English is set in a Latin face (a CJK face draws “quotes”
full-width), and the dataset page shows the size of each download that the browser then receives
as its Content-Length. Screenshots go to tests/artifacts/."""

from __future__ import annotations

import re

import pytest

from portal.filters import filesize
from tests.browser.conftest import shot

pytestmark = pytest.mark.browser
CJK_FACES = ("Noto Sans CJK", "PingFang", "Microsoft YaHei", "Noto Sans SC")
# The placeholder's text width in the input's own font, against the room inside the box.
PLACEHOLDER_ROOM = """e => { const s = getComputedStyle(e); const c = document.createElement('canvas').getContext('2d');
  c.font = s.fontWeight + ' ' + s.fontSize + ' ' + s.fontFamily;
  const room = e.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);
  return {text: c.measureText(e.placeholder).width, room: room}; }"""


@pytest.fixture(params=[(w, loc) for w in (1366, 390) for loc in ("zh_CN", "en")], ids=lambda p: f"{p[0]}-{p[1]}")
def visitor(request, browser, live_server):
    width, locale = request.param
    context = browser.new_context(viewport={"width": width, "height": 900 if width > 500 else 844},
                                  accept_downloads=True)
    page = context.new_page()
    page.goto(f"{live_server}/locale/{locale}")
    yield page, width, locale
    context.close()


def test_the_home_search_placeholder_is_whole_and_examples_are_links(visitor, live_server):
    page, width, locale = visitor
    page.goto(live_server + "/")
    measured = page.eval_on_selector(".hero-search input[name=q]", PLACEHOLDER_ROOM)
    assert measured["text"] <= measured["room"], measured
    examples = page.locator(".search-examples a")
    assert examples.count() == 4
    examples.filter(has_text="hangban").click()
    page.wait_for_url(re.compile(r"/search\?q=hangban"))
    assert page.locator("a[href*='/datasets/nyc-flights-2013']").count() > 0  # pinyin finds the flights
    shot(page, f"polish-home-search-{locale}-{width}")


def test_english_is_set_in_a_latin_face_and_chinese_in_a_cjk_face(visitor, live_server):
    page, width, locale = visitor
    page.goto(live_server + "/datasets/nope")
    first = page.evaluate("() => getComputedStyle(document.body).fontFamily.split(',')[0]")
    is_cjk = any(face in first for face in CJK_FACES)
    assert is_cjk == (locale == "zh_CN"), first


def test_download_sizes_on_the_page_are_what_the_browser_receives(visitor, live_server):
    page, width, locale = visitor
    slug = "world-fertility-rate"
    page.goto(f"{live_server}/datasets/{slug}")
    links = page.locator("#downloads a.button")
    shown = {}
    for i in range(links.count()):
        label = links.nth(i).inner_text()
        if "·" in label:
            fmt, size = (part.strip() for part in label.split("·"))
            shown[fmt.lower()] = size
    assert {"csv", "json", "ndjson", "parquet"} <= set(shown), shown
    for fmt in ("csv", "json"):
        response = page.request.get(f"{live_server}/datasets/{slug}/download/{fmt}")
        length = int(response.headers["content-length"])
        assert length == len(response.body())
        assert shown[fmt] == filesize(length), (fmt, shown[fmt], length)
    page.locator("#downloads").scroll_into_view_if_needed()
    shot(page, f"polish-download-sizes-{locale}-{width}")
