"""Issue 13 looked at as a citizen would, in Chromium at 1366 and 390 px and in both languages:
every public page passes WCAG 2 A/AA (axe-core) and a contrast ratio computed from the computed
styles, has its landmarks and `lang` and does not scroll sideways (test_public_site_review_desktop.py
and _phone.py, one file per viewport); keyboard focus shows;
downloads open in the programs people use; feeds, sitemap and robots are well formed; the demo
catalog names the real publisher; a chart's axis is in the page's language. Screenshots go to
tests/artifacts/ (item 9)."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
import xml.etree.ElementTree as ET
from email import message_from_bytes, policy
from pathlib import Path

import openpyxl
import pytest

from tests.browser.citizen import LOCALES, WIDTHS, citizen_page, page_name
from tests.browser.conftest import shot

pytestmark = pytest.mark.browser
ATOM = "{http://www.w3.org/2005/Atom}"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
FOCUS = """() => { const e = document.activeElement, s = getComputedStyle(e);
  return {tag: e.tagName, text: (e.textContent || e.name || '').trim().slice(0, 30),
          outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2, shadow: s.boxShadow !== 'none'}; }"""


@pytest.fixture(params=[(w, loc) for w in WIDTHS for loc in LOCALES], ids=lambda p: f"{p[0]}-{p[1]}")
def citizen(request, browser, live_server):
    width, locale = request.param
    with citizen_page(browser, live_server, width, locale) as page:
        yield page, width, locale


def test_keyboard_focus_is_visible_through_a_dataset_page(citizen, live_server):
    page, width, locale = citizen
    page.goto(live_server + "/datasets/usgs-earthquakes-2018-week")
    unseen = []
    for _ in range(40):
        page.keyboard.press("Tab")
        focus = page.evaluate(FOCUS)
        if focus["tag"] != "BODY" and not (focus["outline"] or focus["shadow"]):
            unseen.append(focus)
    assert not unseen, unseen
    shot(page, f"review-{width}-{locale}-focus")


def test_downloads_open_in_the_programs_people_use(citizen, live_server, tmp_path):
    page, width, locale = citizen
    page.goto(live_server + "/datasets/usgs-earthquakes-2018-week")
    shot(page, f"review-{width}-{locale}-downloads")

    def fetch(link) -> Path:
        with page.expect_download() as info:
            page.locator(f".downloads a[href$='{link}']").first.click()
        target = tmp_path / info.value.suggested_filename
        info.value.save_as(target)
        return target

    book = openpyxl.load_workbook(fetch("/download/xlsx"), read_only=True)
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    assert rows[0][:2] == ("id", "time (UTC)") and len(rows) == 1 + 1707
    assert isinstance(rows[1][2], float | int)  # magnitudes are numbers, not text
    text = fetch("/download/csv?bom=1").read_bytes()
    assert text.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 only with the mark
    table = list(csv.DictReader(io.StringIO(text.decode("utf-8-sig"))))
    assert len(table) == 1707 and table[0]["time"].endswith("Z")
    records = json.loads(fetch("/download/json").read_text("utf-8"))
    assert len(records) == 1707 and records[0]["time"].endswith("Z")
    features = json.loads(fetch("/download/geojson").read_text("utf-8"))
    assert features["type"] == "FeatureCollection" and len(features["features"]) == 1707
    lon, lat = features["features"][0]["geometry"]["coordinates"]
    assert -180 <= lon <= 180 and -90 <= lat <= 90

    page.goto(live_server + "/datasets/china-township-divisions-2023")
    book = openpyxl.load_workbook(fetch("/download/xlsx"), read_only=True)
    first = next(book.worksheets[0].iter_rows(min_row=2, max_row=2, values_only=True))
    assert first[0] == "110101001" and "街道" in first[1]  # codes stay text, Chinese intact


def test_feeds_sitemap_robots_and_opengraph(citizen, live_server):
    page, width, locale = citizen
    page.goto(live_server + "/datasets/nyc-flights-2013")
    assert page.locator("meta[property='og:title']").get_attribute("content")
    feeds = page.evaluate("[...document.querySelectorAll('link[type=\"application/atom+xml\"]')].map(l => l.href)")
    assert feeds
    for url in [*feeds, f"{live_server}/feeds/datasets.atom", f"{live_server}/feeds/departments/us-bts.atom"]:
        response = page.request.get(url)
        assert response.headers["content-type"].startswith("application/atom+xml"), url
        feed = ET.fromstring(response.body())
        assert feed.tag == f"{ATOM}feed"
        for tag in ("id", "title", "updated", "author"):
            assert feed.find(f"{ATOM}{tag}") is not None, (url, tag)
        assert any(link.get("rel") == "self" for link in feed.findall(f"{ATOM}link"))
        for entry in feed.findall(f"{ATOM}entry"):
            for tag in ("id", "title", "updated", "link", "summary"):
                assert entry.find(f"{ATOM}{tag}") is not None, (url, tag)
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry.find(f"{ATOM}updated").text)
    author = ET.fromstring(page.request.get(f"{live_server}/feeds/datasets.atom").body()).find(f"{ATOM}author/{ATOM}name")
    assert ("市政府" in author.text) == (locale == "zh_CN")
    sitemap = ET.fromstring(page.request.get(f"{live_server}/sitemap.xml").body())
    urls = {u.find(f"{SITEMAP}loc").text for u in sitemap}
    assert f"{live_server}/themes" in urls and f"{live_server}/datasets/usgs-earthquakes-2018-week" in urls
    for url in list(urls)[:5]:
        assert page.request.get(url).status == 200, url
    robots = page.request.get(f"{live_server}/robots.txt").text()
    assert f"Sitemap: {live_server}/sitemap.xml" in robots
    page.goto(f"{live_server}/feeds/datasets.atom")
    shot(page, f"review-{width}-{locale}-feed")


def test_demo_catalog_names_the_real_publisher(citizen, live_server):
    page, width, locale = citizen
    page.goto(live_server + "/datasets/nyc-flights-2013")
    publisher = "美国交通统计局" if locale == "zh_CN" else "US Bureau of Transportation Statistics"
    assert page.locator(".notice-demo").is_visible()
    assert page.locator("a[href='/departments/us-bts']", has_text=publisher).first.is_visible()
    shot(page, f"review-{width}-{locale}-demo-publisher")


def test_chart_axis_units_in_the_page_language(citizen, live_server):
    page, width, locale = citizen
    page.goto(live_server + "/datasets/nyc-flights-2013")
    page.wait_for_selector("#chart-view svg")
    titles = " ".join(page.eval_on_selector_all("#chart-view .role-axis-title text", "els => els.map(e => e.textContent)"))
    if locale == "zh_CN":
        assert "分钟" in titles and "(min)" not in titles, titles
    else:
        assert "(min)" in titles, titles


def test_account_pages_fit_a_phone_and_speak_its_language(citizen, live_server, bundled_app):
    page, width, locale = citizen
    email = f"a-very-long-address-of-a-citizen-{uuid.uuid4().hex[:8]}@example.org"
    page.goto(live_server + "/register")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", "browser-password-1")
    page.fill("input[name=confirm]", "browser-password-1")
    page.locator("form.stacked button[type=submit]").click()
    mail = next(m for m in (message_from_bytes(p.read_bytes(), policy=policy.default)
                            for p in Path(bundled_app.config["MAIL_DIR"]).glob("*.eml")) if m["To"] == email)
    page.goto(re.search(r"http://\S+/confirm/\S+", mail.get_content()).group(0))
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", "browser-password-1")
    page.locator("form.stacked button[type=submit]").click()
    for path in ("/account", "/account/usage", "/access/apply?dataset=household-income-survey-synthetic"):
        page.goto(live_server + path)
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTHS[width]["width"], path
        shot(page, f"review-{width}-{locale}-{page_name(path)}")
    page.goto(live_server + "/account")
    role = page.locator(".account-facts dd").nth(1).inner_text()
    assert role == ("开发者" if locale == "zh_CN" else "Developer")
    page.goto(live_server + "/access/apply?dataset=household-income-survey-synthetic")
    label = page.locator("input[value='household-income-survey-synthetic']").locator("xpath=..").inner_text()
    assert ("城乡住户" in label) == (locale == "zh_CN") and ("Household" in label) == (locale == "en")


def test_the_map_opens_on_every_point_even_on_a_phone(citizen, live_server):
    page, width, locale = citizen
    page.goto(live_server + "/datasets/usgs-earthquakes-2018-week")
    page.wait_for_function("() => { const m = document.getElementById('map-view').kaifangMap; return m && m._loaded; }")
    bounds = page.request.get(live_server + "/datasets/usgs-earthquakes-2018-week/points.json").json()["bounds"]
    page.wait_for_timeout(300)
    inside = page.evaluate("""b => { const m = document.getElementById('map-view').kaifangMap;
        return m.getBounds().pad(0.01).contains(L.latLngBounds([b[1], b[0]], [b[3], b[2]])); }""", bounds)
    page.locator("#map-view").scroll_into_view_if_needed()
    shot(page, f"review-{width}-{locale}-map-fit")
    assert inside, "the first view of the map shows every point"
